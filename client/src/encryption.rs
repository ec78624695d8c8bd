//! [`Encryption`]: what a conversation shows of end-to-end encryption, as this device's
//! crypto last learned it: whether messages to the peer are encrypted, the safety number
//! to compare with them, and a change of their identity key waiting for the person.
//! Kept with the conversation, so every tab shows it (only the tab holding the device's
//! crypto learns it) and it shows at once on the next visit.

use serde::{Deserialize, Serialize};

/// A conversation's end-to-end encryption, as shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Encryption {
    /// Whether messages to the peer are end-to-end encrypted: `None` until learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// The peer's identity key changed, and the person has not accepted the new one:
    /// nothing goes to them, nor is read from them, until they do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_changed: bool,
    /// The safety number the two people compare (60 digits in groups of five).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_number: Option<String>,
    /// What this person's QR code carries for the peer to scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_qr: Option<String>,
}

impl Encryption {
    /// The name used in the page (`data-state`): `on`, `off`, or `unknown`.
    pub fn state(&self) -> &'static str {
        match self.on {
            Some(true) => "on",
            Some(false) => "off",
            None => "unknown",
        }
    }

    /// What the person reads of it, in a few words.
    pub fn label(&self) -> &'static str {
        match self.on {
            Some(true) => "End-to-end encrypted",
            Some(false) => "Not encrypted",
            None => "Checking encryption…",
        }
    }
}

/// How an incoming message came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sealing {
    /// As it was written (or nothing is known: what was kept before encryption).
    #[default]
    Plain,
    /// End-to-end encrypted, and decrypted here.
    Encrypted,
    /// End-to-end encrypted, and it could not be decrypted here: shown as such, never as
    /// text.
    Undecryptable,
}

impl Sealing {
    /// Whether it came as written.
    pub fn is_plain(&self) -> bool {
        *self == Self::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_reads_what_was_kept_before_it_and_names_its_states() {
        let old: Encryption = serde_json::from_str("{}").unwrap();
        assert_eq!(old, Encryption::default());
        assert_eq!(old.state(), "unknown");
        let on = Encryption {
            on: Some(true),
            ..Encryption::default()
        };
        assert_eq!(on.state(), "on");
        assert_eq!(serde_json::to_string(&on).unwrap(), r#"{"on":true}"#);
        assert_eq!(
            serde_json::from_str::<Sealing>(r#""undecryptable""#).unwrap(),
            Sealing::Undecryptable
        );
    }
}
