//! The key directory: the public keys each device publishes so that others can open
//! end-to-end encrypted (Olm) sessions with it, and the events that publish, list and
//! claim them.
//!
//! A device has two long-term keys of its own (a Curve25519 key for Olm, an Ed25519 key
//! that signs), both signed by the Ed25519 key, and carries its person's **identity**
//! key (Ed25519, the same on all of a person's devices), which signs the device's keys
//! too: what two people compare as a safety number. For others to start a session with
//! it, a device also publishes a stock of one-time keys (each used by one session, then
//! gone) and one fallback key (used when the one-time keys ran out, until replaced).
//!
//! Every signature covers the id and the device as well as the key, so a server cannot
//! hand one device's keys out as another's. The server checks every signature before it
//! keeps anything ([`PublishKeysRequest::verify`]); clients check them again when they
//! use the keys ([`DeviceKeys::verify`], [`ClaimedKey::verify`]), since a server need
//! not be honest.
//!
//! Keys and signatures are unpadded standard base64, as vodozemac writes them.

use std::fmt;

use serde::{Deserialize, Serialize};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature};

use crate::{
    device::DeviceId,
    error::{ErrorCode, Rejection},
    peer_id::{PeerId, parse_peer_id},
};

/// The most one-time keys one [`PublishKeysRequest`] may carry.
pub const MAX_ONE_TIME_KEYS_PER_UPLOAD: usize = 50;

/// The most one-time keys the directory keeps for one device: a publish that would go
/// above it is refused, changing nothing.
pub const MAX_ONE_TIME_KEYS: u32 = 100;

/// The longest key id accepted, in characters (vodozemac's are 11).
pub const MAX_KEY_ID_CHARS: usize = 16;

/// Defines a newtype over a string checked when made (and so when deserialized).
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Rejection;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                let check: fn(&str) -> bool = $check;
                if check(&text) {
                    Ok(Self(text))
                } else {
                    Err(Rejection::new(ErrorCode::InvalidPayload, $what))
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A Curve25519 public key: 32 bytes, 43 base64 characters.
    Curve25519Key,
    |text| text.len() == 43 && Curve25519PublicKey::from_base64(text).is_ok(),
    "a Curve25519 key is 32 bytes in unpadded base64 (43 characters)"
);

checked_string!(
    /// An Ed25519 public key: 32 bytes, 43 base64 characters, a point on the curve.
    Ed25519Key,
    |text| text.len() == 43 && Ed25519PublicKey::from_base64(text).is_ok(),
    "an Ed25519 key is 32 bytes in unpadded base64 (43 characters)"
);

checked_string!(
    /// An Ed25519 signature: 64 bytes, 86 base64 characters.
    Signature,
    |text| text.len() == 86 && Ed25519Signature::from_base64(text).is_ok(),
    "a signature is 64 bytes in unpadded base64 (86 characters)"
);

checked_string!(
    /// A one-time or fallback key's id, unique among its device's keys.
    KeyId,
    |text| {
        (1..=MAX_KEY_ID_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    },
    "a key id is 1 to 16 base64 characters"
);

impl Ed25519Key {
    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        let (Ok(key), Ok(signature)) = (
            Ed25519PublicKey::from_base64(&self.0),
            Ed25519Signature::from_base64(&signature.0),
        ) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// Why keys were not taken: which signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The device's own signature over its keys.
    #[error("the device keys' signature does not verify with their Ed25519 key")]
    DeviceSignature,
    /// The identity key's signature over the device's keys.
    #[error("the identity signature does not verify with the identity key")]
    IdentitySignature,
    /// A one-time key's signature (its index in the list).
    #[error("one_time_keys[{0}]: the signature does not verify with the device's Ed25519 key")]
    OneTimeSignature(usize),
    /// The fallback key's signature.
    #[error("fallback_key: the signature does not verify with the device's Ed25519 key")]
    FallbackSignature,
}

/// A device's long-term public keys, signed by the device and by its person's identity
/// key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The device's Olm identity key.
    pub curve25519: Curve25519Key,
    /// The device's signing key.
    pub ed25519: Ed25519Key,
    /// `ed25519`'s signature over [`DeviceKeys::signed_text`].
    pub signature: Signature,
    /// The person's identity key, the same on each of their devices.
    pub identity: Ed25519Key,
    /// `identity`'s signature over [`DeviceKeys::identity_text`].
    pub identity_signature: Signature,
}

impl DeviceKeys {
    /// What the device signs: its id, its number and both its keys.
    pub fn signed_text(
        id: PeerId,
        device: DeviceId,
        curve25519: &Curve25519Key,
        ed25519: &Ed25519Key,
    ) -> String {
        format!("relay.device_keys.v1\n{id}\n{device}\n{curve25519}\n{ed25519}")
    }

    /// What the identity key signs: the same, under another label.
    pub fn identity_text(
        id: PeerId,
        device: DeviceId,
        curve25519: &Curve25519Key,
        ed25519: &Ed25519Key,
    ) -> String {
        format!("relay.identity.v1\n{id}\n{device}\n{curve25519}\n{ed25519}")
    }

    /// Checks both signatures for `device` of `id`.
    pub fn verify(&self, id: PeerId, device: DeviceId) -> Result<(), KeyError> {
        let signed = Self::signed_text(id, device, &self.curve25519, &self.ed25519);
        if !self.ed25519.verifies(signed.as_bytes(), &self.signature) {
            return Err(KeyError::DeviceSignature);
        }
        let vouched = Self::identity_text(id, device, &self.curve25519, &self.ed25519);
        if !self
            .identity
            .verifies(vouched.as_bytes(), &self.identity_signature)
        {
            return Err(KeyError::IdentitySignature);
        }
        Ok(())
    }
}

/// Which kind of key a [`OneTimeKey`] is: the label its signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Used by one session, then gone.
    OneTime,
    /// Used when no one-time key is left, until the device replaces it.
    Fallback,
}

/// A one-time (or fallback) Curve25519 key, signed by its device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeKey {
    /// Its id among the device's keys.
    pub key_id: KeyId,
    /// The key.
    pub key: Curve25519Key,
    /// The device's Ed25519 signature over [`OneTimeKey::signed_text`].
    pub signature: Signature,
}

impl OneTimeKey {
    /// What the device signs: the kind, its id, its number, its signing key, the key's
    /// id and the key.
    pub fn signed_text(
        kind: KeyKind,
        id: PeerId,
        device: DeviceId,
        ed25519: &Ed25519Key,
        key_id: &KeyId,
        key: &Curve25519Key,
    ) -> String {
        let label = match kind {
            KeyKind::OneTime => "relay.one_time_key.v1",
            KeyKind::Fallback => "relay.fallback_key.v1",
        };
        format!("{label}\n{id}\n{device}\n{ed25519}\n{key_id}\n{key}")
    }

    /// Whether the signature is `ed25519`'s (of `device` of `id`) for a key of `kind`.
    pub fn verifies(
        &self,
        kind: KeyKind,
        id: PeerId,
        device: DeviceId,
        ed25519: &Ed25519Key,
    ) -> bool {
        let signed = Self::signed_text(kind, id, device, ed25519, &self.key_id, &self.key);
        ed25519.verifies(signed.as_bytes(), &self.signature)
    }
}

/// Payload of [`crate::event::PUBLISH_KEYS`], from a registered socket: this device's
/// keys, one-time keys to add to its stock, and a fallback key to replace the one kept.
/// Publishing other device keys than those kept replaces them and drops the one-time keys
/// and the fallback key kept with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishKeysRequest {
    /// The device's keys.
    pub device_keys: DeviceKeys,
    /// One-time keys to add (at most [`MAX_ONE_TIME_KEYS_PER_UPLOAD`]); one whose id is
    /// already kept is skipped.
    #[serde(default)]
    pub one_time_keys: Vec<OneTimeKey>,
    /// A fallback key to keep instead of the one kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_key: Option<OneTimeKey>,
}

impl PublishKeysRequest {
    /// Checks the request for `device` of `id`: the number of one-time keys, their ids
    /// distinct, and every signature.
    pub fn verify(&self, id: PeerId, device: DeviceId) -> Result<(), Rejection> {
        if self.one_time_keys.len() > MAX_ONE_TIME_KEYS_PER_UPLOAD {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!(
                    "{} one-time keys; at most {MAX_ONE_TIME_KEYS_PER_UPLOAD} at a time",
                    self.one_time_keys.len()
                ),
            ));
        }
        let mut ids: Vec<&KeyId> = self.one_time_keys.iter().map(|k| &k.key_id).collect();
        ids.sort_unstable_by_key(|k| k.as_str());
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                "two one-time keys have the same key_id",
            ));
        }
        self.check_signatures(id, device)
            .map_err(|error| Rejection::new(ErrorCode::InvalidPayload, error.to_string()))
    }

    fn check_signatures(&self, id: PeerId, device: DeviceId) -> Result<(), KeyError> {
        self.device_keys.verify(id, device)?;
        let ed25519 = &self.device_keys.ed25519;
        if let Some(index) = self
            .one_time_keys
            .iter()
            .position(|k| !k.verifies(KeyKind::OneTime, id, device, ed25519))
        {
            return Err(KeyError::OneTimeSignature(index));
        }
        match &self.fallback_key {
            Some(k) if !k.verifies(KeyKind::Fallback, id, device, ed25519) => {
                Err(KeyError::FallbackSignature)
            }
            _ => Ok(()),
        }
    }
}

/// The ack of [`crate::event::PUBLISH_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PublishKeysReply {
    /// Kept.
    Ok {
        /// How many one-time keys the directory now keeps for this device: publish more
        /// when it runs low.
        one_time_keys: u32,
    },
    /// Nothing was changed.
    Rejected(Rejection),
}

/// Payload of [`crate::event::KEYS`] and [`crate::event::CLAIM_KEYS`] before its
/// fields are validated.
#[derive(Debug, Deserialize)]
pub struct RawKeysRequest {
    id: String,
    #[serde(default)]
    devices: Vec<DeviceId>,
}

/// Payload of [`crate::event::KEYS`] (`devices` unused) and [`crate::event::CLAIM_KEYS`]:
/// whose keys, and, to claim, for which of their devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysRequest {
    /// The person.
    pub id: PeerId,
    /// Their devices to claim a one-time key of (each at most once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceId>,
}

impl RawKeysRequest {
    /// Validates the id; the devices, given, are each named once.
    pub fn check(self) -> Result<KeysRequest, Rejection> {
        let id = parse_peer_id(&self.id)?;
        let mut devices = self.devices;
        devices.sort_unstable();
        devices.dedup();
        Ok(KeysRequest { id, devices })
    }
}

/// One device's published keys, as [`crate::event::KEYS`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeysEntry {
    /// Which device.
    pub device: DeviceId,
    /// Its keys; none if it never published any (it cannot read encrypted messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<DeviceKeys>,
}

/// The ack of [`crate::event::KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KeysReply {
    /// Every device of `id`, in order (none if nobody owns it).
    Ok {
        /// Whose.
        id: PeerId,
        /// Each device.
        devices: Vec<DeviceKeysEntry>,
    },
    /// Nothing to list.
    Rejected(Rejection),
}

/// A key claimed for one device: what a session with it starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKey {
    /// Which device.
    pub device: DeviceId,
    /// Its long-term keys.
    pub device_keys: DeviceKeys,
    /// A one-time key, no longer handed to anyone else, or the fallback key if none was
    /// left (see `fallback`); none if the device has neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_key: Option<OneTimeKey>,
    /// Whether `one_time_key` is the fallback key.
    #[serde(default)]
    pub fallback: bool,
}

impl ClaimedKey {
    /// Checks every signature for `id`.
    pub fn verify(&self, id: PeerId) -> Result<(), KeyError> {
        self.device_keys.verify(id, self.device)?;
        let kind = if self.fallback {
            KeyKind::Fallback
        } else {
            KeyKind::OneTime
        };
        match &self.one_time_key {
            Some(k) if !k.verifies(kind, id, self.device, &self.device_keys.ed25519) => {
                Err(if self.fallback {
                    KeyError::FallbackSignature
                } else {
                    KeyError::OneTimeSignature(0)
                })
            }
            _ => Ok(()),
        }
    }
}

/// The ack of [`crate::event::CLAIM_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClaimKeysReply {
    /// One key for each device asked for that published keys, in order.
    Ok {
        /// Whose.
        id: PeerId,
        /// Each device's.
        keys: Vec<ClaimedKey>,
    },
    /// Nothing was claimed.
    Rejected(Rejection),
}

#[cfg(test)]
mod tests {
    use vodozemac::Ed25519SecretKey;

    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    fn alice() -> PeerId {
        ALICE.parse().unwrap()
    }

    fn curve(seed: u8) -> Curve25519Key {
        let key = Curve25519PublicKey::from_bytes([seed; 32]);
        key.to_base64().try_into().unwrap()
    }

    struct Signer(Ed25519SecretKey);

    impl Signer {
        fn new() -> Self {
            Self(Ed25519SecretKey::new())
        }
        fn key(&self) -> Ed25519Key {
            self.0.public_key().to_base64().try_into().unwrap()
        }
        fn sign(&self, text: &str) -> Signature {
            self.0.sign(text.as_bytes()).to_base64().try_into().unwrap()
        }
    }

    fn device_keys(device: DeviceId, me: &Signer, person: &Signer) -> DeviceKeys {
        let curve25519 = curve(9);
        let ed25519 = me.key();
        DeviceKeys {
            signature: me.sign(&DeviceKeys::signed_text(
                alice(),
                device,
                &curve25519,
                &ed25519,
            )),
            identity: person.key(),
            identity_signature: person.sign(&DeviceKeys::identity_text(
                alice(),
                device,
                &curve25519,
                &ed25519,
            )),
            curve25519,
            ed25519,
        }
    }

    fn one_time(kind: KeyKind, device: DeviceId, me: &Signer, n: u8) -> OneTimeKey {
        let key_id: KeyId = format!("k{n}").try_into().unwrap();
        let key = curve(n);
        OneTimeKey {
            signature: me.sign(&OneTimeKey::signed_text(
                kind,
                alice(),
                device,
                &me.key(),
                &key_id,
                &key,
            )),
            key_id,
            key,
        }
    }

    #[test]
    fn keys_and_signatures_are_checked_when_read() {
        let ok = format!("\"{}\"", curve(1));
        assert!(serde_json::from_str::<Curve25519Key>(&ok).is_ok());
        for bad in [
            "\"\"",
            "\"abc\"",
            "\"!!!\"",
            "7",
            &format!("\"{}=\"", curve(1)),
        ] {
            assert!(serde_json::from_str::<Curve25519Key>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Signature>(&ok).is_err());
        assert!(serde_json::from_str::<KeyId>("\"AAAAAAAAAAA\"").is_ok());
        assert!(serde_json::from_str::<KeyId>("\"a b\"").is_err());
        assert!(serde_json::from_str::<KeyId>(&format!("\"{}\"", "a".repeat(17))).is_err());
    }

    #[test]
    fn a_publish_verifies_only_for_its_own_id_and_device() {
        let (me, person) = (Signer::new(), Signer::new());
        let first = DeviceId::FIRST;
        let request = PublishKeysRequest {
            device_keys: device_keys(first, &me, &person),
            one_time_keys: (1..=3)
                .map(|n| one_time(KeyKind::OneTime, first, &me, n))
                .collect(),
            fallback_key: Some(one_time(KeyKind::Fallback, first, &me, 7)),
        };
        request.verify(alice(), first).unwrap();
        let second = DeviceId::new(1).unwrap();
        assert_eq!(
            request.check_signatures(alice(), second),
            Err(KeyError::DeviceSignature)
        );
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        assert_eq!(
            request.check_signatures(bob, first),
            Err(KeyError::DeviceSignature)
        );

        let mut forged = request.clone();
        forged.device_keys.identity = Signer::new().key();
        assert_eq!(
            forged.check_signatures(alice(), first),
            Err(KeyError::IdentitySignature)
        );
        let mut swapped = request.clone();
        swapped.one_time_keys[2].key = curve(200);
        assert_eq!(
            swapped.check_signatures(alice(), first),
            Err(KeyError::OneTimeSignature(2))
        );
        let mut relabelled = request.clone();
        relabelled.fallback_key = Some(one_time(KeyKind::OneTime, first, &me, 7));
        assert_eq!(
            relabelled.check_signatures(alice(), first),
            Err(KeyError::FallbackSignature)
        );
        let rejection = swapped.verify(alice(), first).unwrap_err();
        assert_eq!(rejection.code, ErrorCode::InvalidPayload);
        assert!(rejection.message.contains("one_time_keys[2]"));
    }

    #[test]
    fn a_publish_is_bounded_and_its_key_ids_distinct() {
        let (me, person) = (Signer::new(), Signer::new());
        let first = DeviceId::FIRST;
        let mut request = PublishKeysRequest {
            device_keys: device_keys(first, &me, &person),
            one_time_keys: vec![one_time(KeyKind::OneTime, first, &me, 1); 2],
            fallback_key: None,
        };
        assert!(
            request
                .verify(alice(), first)
                .unwrap_err()
                .message
                .contains("same key_id")
        );
        let count = u8::try_from(MAX_ONE_TIME_KEYS_PER_UPLOAD).unwrap() + 1;
        request.one_time_keys = (1..=count)
            .map(|n| one_time(KeyKind::OneTime, first, &me, n))
            .collect();
        assert!(
            request
                .verify(alice(), first)
                .unwrap_err()
                .message
                .contains("at most")
        );
    }

    #[test]
    fn a_claimed_fallback_key_verifies_as_one() {
        let (me, person) = (Signer::new(), Signer::new());
        let device = DeviceId::new(2).unwrap();
        let claimed = ClaimedKey {
            device,
            device_keys: device_keys(device, &me, &person),
            one_time_key: Some(one_time(KeyKind::Fallback, device, &me, 3)),
            fallback: true,
        };
        claimed.verify(alice()).unwrap();
        let not_fallback = ClaimedKey {
            fallback: false,
            ..claimed.clone()
        };
        assert_eq!(
            not_fallback.verify(alice()),
            Err(KeyError::OneTimeSignature(0))
        );
        let json = serde_json::to_value(ClaimKeysReply::Ok {
            id: alice(),
            keys: vec![claimed],
        })
        .unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["keys"][0]["fallback"], true);
    }

    #[test]
    fn a_keys_request_names_each_device_once() {
        let raw: RawKeysRequest =
            serde_json::from_value(serde_json::json!({"id": ALICE, "devices": [2, 0, 2]})).unwrap();
        assert_eq!(
            raw.check().unwrap().devices,
            [DeviceId::FIRST, DeviceId::new(2).unwrap()]
        );
        let bad: RawKeysRequest = serde_json::from_value(serde_json::json!({"id": "x"})).unwrap();
        assert_eq!(bad.check().unwrap_err().code, ErrorCode::InvalidPeerId);
        assert!(
            serde_json::from_value::<RawKeysRequest>(
                serde_json::json!({"id": ALICE, "devices": [9]})
            )
            .is_err()
        );
    }
}
