//! Whether an end-to-end encrypted message is encrypted for exactly the devices the key
//! directory lists now: the recipient's, and the sender's others, each for the key it
//! publishes. The server reads no ciphertext; it only compares who and which key each
//! one is for. Checked by the store in the step that appends the message where it can
//! ([`crate::store::Store::checks_encrypted`]), otherwise by `send` before the append.

use relay_shared::{
    ErrorCode, PeerId, Rejection,
    device::{DeviceId, DeviceSet},
    encrypted::Encrypted,
    keys::{Curve25519Key, DeviceKeysEntry},
};

/// A linked device that publishes keys, with the Olm identity key it publishes now: what
/// the check needs of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The device.
    pub device: DeviceId,
    /// Its Curve25519 key.
    pub key: Curve25519Key,
}

/// The devices among `listed` (the directory's full entries) that publish keys.
pub fn published(listed: &[DeviceKeysEntry]) -> Vec<Published> {
    listed
        .iter()
        .filter_map(|entry| {
            Some(Published {
                device: entry.device,
                key: entry.keys.as_ref()?.curve25519.clone(),
            })
        })
        .collect()
}

/// The devices of `listed`.
fn keyed(listed: &[Published]) -> DeviceSet {
    listed.iter().map(|entry| entry.device).collect()
}

/// Whether `encrypted`, sent by `from` from its `device` to `to`, comes from the sending
/// device as the directory knows it and is encrypted for exactly the devices that
/// publish keys: `theirs` (the recipient's; `None` for a note to oneself) and `mine`
/// (the sender's, but the sending device). The refusal says what differs.
pub fn covers(
    encrypted: &Encrypted,
    from: PeerId,
    device: DeviceId,
    to: PeerId,
    theirs: Option<&[Published]>,
    mine: &[Published],
) -> Result<(), Rejection> {
    let invalid = |message: String| Rejection::new(ErrorCode::InvalidPayload, message);
    if encrypted.sender_device != device {
        return Err(invalid(format!(
            "encrypted as device {} but sent from device {}",
            encrypted.sender_device, device
        )));
    }
    let own_key = mine
        .iter()
        .find(|entry| entry.device == device)
        .map(|entry| &entry.key);
    match own_key {
        None => {
            return Err(invalid(
                "this device has published no keys: publish them before sending encrypted".into(),
            ));
        }
        Some(key) if *key != encrypted.sender_key => {
            return Err(invalid(
                "sender_key is not the key this device published".into(),
            ));
        }
        Some(_) => {}
    }
    if let Some(c) = encrypted
        .ciphertexts
        .iter()
        .find(|c| c.peer != to && c.peer != from)
    {
        return Err(invalid(format!(
            "a ciphertext for {}, who is neither the sender nor the recipient",
            c.peer
        )));
    }
    let mut wanted = vec![(from, keyed(mine).without(device))];
    if let Some(theirs) = theirs {
        let devices = keyed(theirs);
        if devices.is_empty() {
            return Err(Rejection::new(
                ErrorCode::DevicesChanged,
                format!("{to} has no device that publishes keys: send it plain"),
            ));
        }
        wanted.push((to, devices));
    }
    for (peer, devices) in wanted {
        let given = encrypted.devices(peer);
        if given != devices {
            let list = |set: DeviceSet| {
                set.iter()
                    .map(|d: DeviceId| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let missing = DeviceSet::from_bits(devices.bits() & !given.bits());
            let extra = DeviceSet::from_bits(given.bits() & !devices.bits());
            return Err(Rejection::new(
                ErrorCode::DevicesChanged,
                format!(
                    "not encrypted for the devices of {peer} that have keys now: missing [{}], not to be there [{}]; learn their keys again",
                    list(missing),
                    list(extra)
                ),
            ));
        }
    }
    // Encrypted for the keys each device publishes now, not ones it replaced.
    for c in &encrypted.ciphertexts {
        let listed = if c.peer == from {
            mine
        } else {
            theirs.unwrap_or(mine)
        };
        let current = listed
            .iter()
            .find(|entry| entry.device == c.device)
            .is_some_and(|entry| entry.key == c.key);
        if !current {
            return Err(Rejection::new(
                ErrorCode::DevicesChanged,
                format!(
                    "device {} of {} has new keys; learn their keys again",
                    c.device, c.peer
                ),
            ));
        }
    }
    Ok(())
}
