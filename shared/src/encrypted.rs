//! [`Encrypted`]: an end-to-end encrypted message body as it travels, one Olm
//! ciphertext for each device that may read it.
//!
//! The sender's client encrypts the text (with its id, the recipient's id and the
//! message's id, see `crypto::Plaintext` in clients) once per device: each of the
//! recipient's devices and each of the sender's own other devices. The server cannot
//! read any of it; it only checks the shape ([`Encrypted::check`]) and hands each device
//! the whole body, from which the device picks its own ciphertext
//! ([`Encrypted::for_device`]).

use serde::{Deserialize, Serialize};

use crate::{
    device::{DeviceId, DeviceSet, MAX_DEVICES},
    error::{ErrorCode, Rejection},
    keys::Curve25519Key,
    peer_id::PeerId,
};

/// The most ciphertexts one [`Encrypted`] may carry: every device of the recipient and
/// of the sender.
pub const MAX_CIPHERTEXTS: usize = 2 * MAX_DEVICES as usize;

/// [`Ciphertext::kind`] of a pre-key message: it can start a session.
pub const PRE_KEY: u8 = 0;

/// [`Ciphertext::kind`] of a normal message, in an established session.
pub const NORMAL: u8 = 1;

/// An encrypted message body: who encrypted it, and one ciphertext per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encrypted {
    /// The sender's device that encrypted it.
    pub sender_device: DeviceId,
    /// That device's Curve25519 (Olm identity) key, which its sessions are bound to.
    pub sender_key: Curve25519Key,
    /// One ciphertext per device that may read the message.
    pub ciphertexts: Vec<Ciphertext>,
}

/// The message encrypted for one device, in the Olm session between the sender's device
/// and it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ciphertext {
    /// Whose device.
    pub peer: PeerId,
    /// Which device of theirs.
    pub device: DeviceId,
    /// That device's Curve25519 key, as the sender knew it: the server refuses a message
    /// encrypted for keys the device has since replaced.
    pub key: Curve25519Key,
    /// [`PRE_KEY`] or [`NORMAL`]: the message type of vodozemac's `OlmMessage::to_parts`.
    pub kind: u8,
    /// The Olm message, in unpadded standard base64.
    pub body: String,
}

impl Encrypted {
    /// The ciphertext for `device` of `peer`, if the message was encrypted for it.
    pub fn for_device(&self, peer: PeerId, device: DeviceId) -> Option<&Ciphertext> {
        self.ciphertexts
            .iter()
            .find(|c| c.peer == peer && c.device == device)
    }

    /// Which devices of `peer` the message was encrypted for.
    pub fn devices(&self, peer: PeerId) -> DeviceSet {
        self.ciphertexts
            .iter()
            .filter(|c| c.peer == peer)
            .map(|c| c.device)
            .collect()
    }

    /// Checks the shape: at most [`MAX_CIPHERTEXTS`] ciphertexts, no device twice, each
    /// of a known kind with a non-empty body in unpadded base64.
    pub fn check(&self) -> Result<(), Rejection> {
        let invalid = |message: String| Rejection::new(ErrorCode::InvalidPayload, message);
        if self.ciphertexts.len() > MAX_CIPHERTEXTS {
            return Err(invalid(format!(
                "{} ciphertexts; at most {MAX_CIPHERTEXTS}",
                self.ciphertexts.len()
            )));
        }
        for (index, ciphertext) in self.ciphertexts.iter().enumerate() {
            let (peer, device) = (ciphertext.peer, ciphertext.device);
            if self.ciphertexts[..index]
                .iter()
                .any(|c| c.peer == peer && c.device == device)
            {
                return Err(invalid(format!(
                    "ciphertexts[{index}]: device {device} of {peer} has two ciphertexts"
                )));
            }
            if ciphertext.kind != PRE_KEY && ciphertext.kind != NORMAL {
                return Err(invalid(format!(
                    "ciphertexts[{index}]: kind is {PRE_KEY} (pre-key) or {NORMAL} (normal), got {}",
                    ciphertext.kind
                )));
            }
            if ciphertext.body.is_empty()
                || ciphertext.body.contains('=')
                || vodozemac::base64_decode(&ciphertext.body).is_err()
            {
                return Err(invalid(format!(
                    "ciphertexts[{index}]: the body is non-empty unpadded base64"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
    const BOB: &str = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";

    fn peer(id: &str) -> PeerId {
        id.parse().unwrap()
    }

    fn device(n: u8) -> DeviceId {
        DeviceId::new(n).unwrap()
    }

    fn key() -> Curve25519Key {
        vodozemac::Curve25519PublicKey::from_bytes([7; 32])
            .to_base64()
            .try_into()
            .unwrap()
    }

    fn ciphertext(id: &str, n: u8) -> Ciphertext {
        Ciphertext {
            peer: peer(id),
            device: device(n),
            key: key(),
            kind: NORMAL,
            body: vodozemac::base64_encode([n; 20]),
        }
    }

    fn encrypted(ciphertexts: Vec<Ciphertext>) -> Encrypted {
        Encrypted {
            sender_device: DeviceId::FIRST,
            sender_key: key(),
            ciphertexts,
        }
    }

    #[test]
    fn each_device_finds_its_own_ciphertext() {
        let message = encrypted(vec![
            ciphertext(BOB, 0),
            ciphertext(BOB, 3),
            ciphertext(ALICE, 1),
        ]);
        message.check().unwrap();
        assert_eq!(
            message.for_device(peer(BOB), device(3)),
            Some(&message.ciphertexts[1])
        );
        assert_eq!(message.for_device(peer(BOB), device(1)), None);
        assert_eq!(
            message.for_device(peer(ALICE), device(1)).unwrap().body,
            vodozemac::base64_encode([1; 20])
        );
        assert_eq!(message.devices(peer(BOB)).bits(), 0b1001);
        assert_eq!(message.devices(peer(ALICE)).bits(), 0b10);
    }

    #[test]
    fn the_wire_form_has_snake_case_fields() {
        let message = encrypted(vec![ciphertext(BOB, 2)]);
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "sender_device": 0,
                "sender_key": key().to_string(),
                "ciphertexts": [{
                    "peer": BOB,
                    "device": 2,
                    "key": key().to_string(),
                    "kind": 1,
                    "body": vodozemac::base64_encode([2; 20]),
                }],
            })
        );
        assert_eq!(serde_json::from_value::<Encrypted>(json).unwrap(), message);
        let bad_key = serde_json::json!({
            "sender_device": 0, "sender_key": "abc", "ciphertexts": []
        });
        assert!(serde_json::from_value::<Encrypted>(bad_key).is_err());
        let bad_device = serde_json::json!({
            "sender_device": 9, "sender_key": key().to_string(), "ciphertexts": []
        });
        assert!(serde_json::from_value::<Encrypted>(bad_device).is_err());
    }

    #[test]
    fn check_bounds_the_count_and_refuses_a_device_twice() {
        let all: Vec<Ciphertext> = (0..MAX_DEVICES)
            .flat_map(|n| [ciphertext(ALICE, n), ciphertext(BOB, n)])
            .collect();
        assert_eq!(all.len(), MAX_CIPHERTEXTS);
        encrypted(all.clone()).check().unwrap();

        let third: PeerId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".parse().unwrap();
        let mut too_many = all;
        too_many.push(Ciphertext {
            peer: third,
            ..ciphertext(BOB, 0)
        });
        let rejection = encrypted(too_many).check().unwrap_err();
        assert_eq!(rejection.code, ErrorCode::InvalidPayload);
        assert!(rejection.message.contains("at most 10"), "{rejection}");

        let twice = encrypted(vec![
            ciphertext(BOB, 1),
            ciphertext(ALICE, 1),
            ciphertext(BOB, 1),
        ]);
        let rejection = twice.check().unwrap_err();
        assert_eq!(rejection.code, ErrorCode::InvalidPayload);
        assert!(
            rejection.message.starts_with("ciphertexts[2]: device 1 of"),
            "{rejection}"
        );
    }

    #[test]
    fn check_refuses_unknown_kinds_and_bodies_that_are_not_base64() {
        let with = |kind: u8, body: &str| {
            encrypted(vec![
                ciphertext(BOB, 0),
                Ciphertext {
                    kind,
                    body: body.into(),
                    ..ciphertext(BOB, 1)
                },
            ])
            .check()
        };
        with(PRE_KEY, "AwgAEiA").unwrap();
        let kind = with(2, "AwgAEiA").unwrap_err();
        assert!(kind.message.contains("ciphertexts[1]: kind"), "{kind}");
        for body in ["", "not base64!", "AwgAEiA=", "A"] {
            let rejection = with(NORMAL, body).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::InvalidPayload);
            assert!(
                rejection.message.contains("ciphertexts[1]: the body"),
                "{body:?}"
            );
        }
    }
}
