//! [`Plaintext`]: what one ciphertext holds once decrypted.

use serde::{Deserialize, Serialize};

use crate::{message::MessageId, peer_id::PeerId};

/// The inside of an encrypted message: the text, and the sender, recipient and id the
/// sender gave it, so that the recipient can check the envelope the server delivered it
/// in (a server cannot replay it under another id, or to someone else). Encrypted as
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plaintext {
    /// The sender.
    pub from: PeerId,
    /// The recipient.
    pub to: PeerId,
    /// The message's id.
    pub id: MessageId,
    /// The text.
    pub text: String,
}

impl Plaintext {
    /// Its JSON, what gets encrypted.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads it back from decrypted JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whether it names this sender, recipient and id.
    pub fn matches(&self, from: PeerId, to: PeerId, id: MessageId) -> bool {
        self.from == from && self.to == to && self.id == id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_json_with_its_envelope_fields() {
        let alice: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        let id: MessageId = "00000000-0000-4000-9000-000000000001".parse().unwrap();
        let plaintext = Plaintext {
            from: alice,
            to: bob,
            id,
            text: "hi \"you\"".into(),
        };
        let json = plaintext.to_json().unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json).unwrap(),
            serde_json::json!({"from": alice, "to": bob, "id": id, "text": "hi \"you\""})
        );
        assert_eq!(Plaintext::from_json(&json).unwrap(), plaintext);
        assert!(plaintext.matches(alice, bob, id));
        assert!(!plaintext.matches(bob, alice, id));
        let other: MessageId = "00000000-0000-4000-9000-000000000002".parse().unwrap();
        assert!(!plaintext.matches(alice, bob, other));
        assert!(Plaintext::from_json(br#"{"from":"x"}"#).is_err());
    }
}
