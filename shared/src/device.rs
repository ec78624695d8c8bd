//! Devices: one person's id used from several browsers or devices, each with its own
//! secret.
//!
//! The first secret to register an id is its first device. A registered device asks for
//! a one-time code ([`crate::event::LINK_CODE`], answered with a [`LinkCode`]), which it
//! shows as a QR code and as a link carrying the code in the URL's fragment. The new
//! device makes its own secret and sends it with the code ([`crate::event::LINK`], a
//! [`LinkRequest`]): from then on it is a device of the id, answered like a
//! registration. The code works once, for a few minutes. Each device receives
//! everything sent to the id (a message waits until every device confirmed it, or its
//! TTL passed) and what the person sent from the others; any device can unlink any,
//! itself included ([`crate::event::UNLINK`]), but not the last one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    error::{ErrorCode, Rejection},
    peer_id::{PeerId, parse_peer_id},
    secret::Secret,
};

/// The most devices one id may have: the first and four linked ones.
pub const MAX_DEVICES: u8 = 5;

/// The longest device name accepted, in bytes.
pub const MAX_DEVICE_NAME_BYTES: usize = 64;

/// Which of an id's devices: a number below [`MAX_DEVICES`], given when the device is
/// claimed or linked and free again once it is unlinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct DeviceId(u8);

impl DeviceId {
    /// The first device of an id: the secret that claimed it.
    pub const FIRST: Self = Self(0);

    /// The device numbered `n`, if below [`MAX_DEVICES`].
    pub fn new(n: u8) -> Option<Self> {
        (n < MAX_DEVICES).then_some(Self(n))
    }

    /// Its number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Its bit in a set of devices ([`DeviceSet`]).
    pub fn bit(self) -> u8 {
        1 << self.0
    }

    /// Every device number, in order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..MAX_DEVICES).map(Self)
    }
}

impl TryFrom<u8> for DeviceId {
    type Error = Rejection;

    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n).ok_or_else(|| {
            Rejection::new(
                ErrorCode::InvalidPayload,
                format!("a device is a number below {MAX_DEVICES}"),
            )
        })
    }
}

impl From<DeviceId> for u8 {
    fn from(device: DeviceId) -> Self {
        device.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of one id's devices, one bit each: what a stored message or receipt still
/// waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeviceSet(u8);

impl DeviceSet {
    /// No device.
    pub const EMPTY: Self = Self(0);

    /// The set with these bits (those of no device dropped).
    pub fn from_bits(bits: u8) -> Self {
        Self(bits & ((1 << MAX_DEVICES) - 1))
    }

    /// Its bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether it holds `device`.
    pub fn contains(self, device: DeviceId) -> bool {
        self.0 & device.bit() != 0
    }

    /// With `device`.
    pub fn with(self, device: DeviceId) -> Self {
        Self(self.0 | device.bit())
    }

    /// Without `device`.
    pub fn without(self, device: DeviceId) -> Self {
        Self(self.0 & !device.bit())
    }

    /// Whether it holds no device.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many devices it holds.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The lowest device number it does not hold, if any is left.
    pub fn first_free(self) -> Option<DeviceId> {
        DeviceId::all().find(|d| !self.contains(*d))
    }

    /// Its devices, in order.
    pub fn iter(self) -> impl Iterator<Item = DeviceId> {
        DeviceId::all().filter(move |d| self.contains(*d))
    }
}

impl FromIterator<DeviceId> for DeviceSet {
    fn from_iter<I: IntoIterator<Item = DeviceId>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

/// One of an id's devices, as [`crate::event::DEVICES`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Which.
    pub device: DeviceId,
    /// The name it was linked with ("Firefox on Linux"), if any; the first device has
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was claimed or linked, ms since the Unix epoch.
    pub linked_at: u64,
}

/// The ack of [`crate::event::LINK_CODE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkCodeReply {
    /// A fresh code (any code asked for before no longer works).
    Ok(LinkCode),
    /// No code was made.
    Rejected(Rejection),
}

/// A one-time code that links one new device to the id, once, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCode {
    /// The code: 43 URL-safe base64 characters (256 random bits).
    pub code: String,
    /// When it stops working, ms since the Unix epoch.
    pub expires_at: u64,
}

/// Payload of [`crate::event::LINK`]: become a device of `id` with the one-time `code`
/// one of its devices asked for, proving it from now on with `secret`, this device's own
/// (never another device's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequest {
    /// The id to become a device of.
    pub id: PeerId,
    /// The one-time code.
    pub code: Secret,
    /// This device's new secret.
    pub secret: Secret,
    /// A name the person will recognise it by in the list of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A [`LinkRequest`] as received, before its fields are validated.
#[derive(Debug, Deserialize)]
pub struct RawLink {
    id: String,
    code: String,
    secret: String,
    #[serde(default)]
    name: Option<String>,
}

impl RawLink {
    /// Validates the fields: a uuid, a code and a secret of a secret's length, a name of
    /// at most [`MAX_DEVICE_NAME_BYTES`] without control characters.
    pub fn check(self) -> Result<LinkRequest, Rejection> {
        let id = parse_peer_id(&self.id)?;
        let name = self
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if let Some(name) = &name
            && (name.len() > MAX_DEVICE_NAME_BYTES || name.chars().any(char::is_control))
        {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!(
                    "a device name is at most {MAX_DEVICE_NAME_BYTES} bytes, without control characters"
                ),
            ));
        }
        Ok(LinkRequest {
            id,
            code: self.code.parse()?,
            secret: self.secret.parse()?,
            name,
        })
    }
}

/// Payload of [`crate::event::UNLINK`]: which device of this id to unlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlinkRequest {
    /// The device.
    pub device: DeviceId,
}

/// The ack of [`crate::event::DEVICES`], and the payload of that event when the server
/// tells a registered socket that its id's devices changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DevicesReply {
    /// The id's devices, in order.
    Ok {
        /// Each device.
        devices: Vec<DeviceInfo>,
    },
    /// Nothing to list.
    Rejected(Rejection),
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    #[test]
    fn a_device_is_a_small_number_and_a_set_holds_them_by_bit() {
        assert!(DeviceId::new(MAX_DEVICES).is_none());
        assert!(serde_json::from_str::<DeviceId>("5").is_err());
        let second: DeviceId = serde_json::from_str("1").unwrap();
        assert_eq!(serde_json::to_string(&second).unwrap(), "1");
        let set: DeviceSet = [DeviceId::FIRST, second].into_iter().collect();
        assert_eq!(set.bits(), 0b11);
        assert_eq!(set.first_free(), DeviceId::new(2));
        assert_eq!(
            set.without(DeviceId::FIRST).iter().collect::<Vec<_>>(),
            [second]
        );
        assert!(DeviceSet::from_bits(0xff).first_free().is_none());
        assert_eq!(DeviceSet::from_bits(0xff).len(), usize::from(MAX_DEVICES));
    }

    #[test]
    fn a_link_request_is_checked_field_by_field() {
        let raw = |name: Option<&str>| RawLink {
            id: ALICE.into(),
            code: "c".repeat(43),
            secret: "s".repeat(32),
            name: name.map(Into::into),
        };
        let ok = raw(Some("  Firefox on Linux ")).check().unwrap();
        assert_eq!(ok.name.as_deref(), Some("Firefox on Linux"));
        assert_eq!(raw(Some("   ")).check().unwrap().name, None);
        let long = "x".repeat(MAX_DEVICE_NAME_BYTES + 1);
        assert_eq!(
            raw(Some(&long)).check().unwrap_err().code,
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            raw(Some("a\nb")).check().unwrap_err().code,
            ErrorCode::InvalidPayload
        );
        let mut short_code = raw(None);
        short_code.code = "abc".into();
        assert_eq!(
            short_code.check().unwrap_err().code,
            ErrorCode::InvalidPayload
        );
        let mut bad_id = raw(None);
        bad_id.id = "bob".into();
        assert_eq!(bad_id.check().unwrap_err().code, ErrorCode::InvalidPeerId);
    }

    #[test]
    fn replies_have_a_status_tag() {
        let code = LinkCodeReply::Ok(LinkCode {
            code: "c".repeat(43),
            expires_at: 7,
        });
        let json = serde_json::to_value(&code).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["expires_at"], 7);
        let devices = DevicesReply::Ok {
            devices: vec![DeviceInfo {
                device: DeviceId::FIRST,
                name: None,
                linked_at: 1,
            }],
        };
        assert_eq!(
            serde_json::to_value(&devices).unwrap(),
            serde_json::json!({"status": "ok", "devices": [{"device": 0, "linked_at": 1}]})
        );
    }
}
