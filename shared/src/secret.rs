//! [`Secret`]: what proves that a peer id (and one of its devices) is one's own.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};

/// The proof that a peer id is one's own: a random string created with the id and kept
/// by its client. The server keeps only a hash of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Secret(String);

impl Secret {
    /// The shortest secret accepted, in characters.
    pub const MIN_LEN: usize = 16;
    /// The longest secret accepted, in characters.
    pub const MAX_LEN: usize = 256;

    /// The secret's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) || !s.is_ascii() {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!(
                    "a secret is {} to {} ASCII characters",
                    Self::MIN_LEN,
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Secret {
    type Error = Rejection;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Secret> for String {
    fn from(secret: Secret) -> Self {
        secret.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never in logs.
        f.write_str("Secret(…)")
    }
}
