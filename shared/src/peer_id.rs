//! [`PeerId`]: the uuid a peer is known and addressed by.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{ErrorCode, MAX_QUOTED_CHARS, Rejection, shortened};

/// A peer's identity: a uuid in its canonical hyphenated form
/// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, any case), never the nil uuid.
///
/// It displays and serializes in lowercase, so `ABC…` and `abc…` address the same peer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(Uuid);

/// Why a string is not a [`PeerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerIdError {
    /// Not a hyphenated uuid.
    #[error("peer id must be a uuid like 3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71")]
    Malformed,
    /// The nil uuid addresses nobody.
    #[error("peer id must not be the nil uuid")]
    Nil,
}

impl PeerId {
    /// Wraps a uuid, refusing the nil uuid.
    pub fn from_uuid(uuid: Uuid) -> Result<Self, PeerIdError> {
        if uuid.is_nil() {
            Err(PeerIdError::Nil)
        } else {
            Ok(Self(uuid))
        }
    }

    /// The underlying uuid.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_uuid(parse_hyphenated(s).ok_or(PeerIdError::Malformed)?)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses the canonical hyphenated uuid form only.
///
/// `Uuid::try_parse` also takes the simple, braced and urn forms; ids are exchanged by
/// copy and paste, so only the one form people see is accepted.
pub(crate) fn parse_hyphenated(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// Parses a peer id received from a client, as a [`Rejection`] on failure.
pub fn parse_peer_id(s: &str) -> Result<PeerId, Rejection> {
    s.parse().map_err(|e| {
        let got = shortened(s, MAX_QUOTED_CHARS);
        Rejection::new(ErrorCode::InvalidPeerId, format!("{e}, got {got:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_canonical_form_in_any_case_and_prints_lowercase() {
        let id: PeerId = "3F2B8C1E-9D4A-4C7B-8E21-5A6F0D9C4B71".parse().unwrap();
        assert_eq!(id.to_string(), "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71");
        assert_eq!(
            id,
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71"
                .parse::<PeerId>()
                .unwrap()
        );
    }

    #[test]
    fn refuses_other_forms_and_garbage() {
        for bad in [
            "",
            "bob",
            "3f2b8c1e9d4a4c7b8e215a6f0d9c4b71",
            "{3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71}",
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b7z",
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b711",
            "é2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",
        ] {
            assert_eq!(
                bad.parse::<PeerId>(),
                Err(PeerIdError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            "00000000-0000-0000-0000-000000000000".parse::<PeerId>(),
            Err(PeerIdError::Nil)
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: PeerId = serde_json::from_str("\"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\""
        );
        assert!(serde_json::from_str::<PeerId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<PeerId>("42").is_err());
    }
}
