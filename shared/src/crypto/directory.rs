//! [`Directory`]: the keys of each peer device learned from the key directory, checked
//! before they are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CryptoError;
use crate::{
    device::DeviceId,
    keys::{DeviceKeys, DeviceKeysEntry, Ed25519Key},
    peer_id::PeerId,
};

/// One learned device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Learned {
    /// Whose.
    peer: PeerId,
    /// Which of their devices.
    device: DeviceId,
    /// Its keys, signatures checked.
    keys: DeviceKeys,
}

/// The devices of each person, with their checked keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Learned>", into = "Vec<Learned>")]
pub(super) struct Directory(BTreeMap<PeerId, BTreeMap<DeviceId, DeviceKeys>>);

/// A person's devices with keys, checked, and the identity key they all carry (none if
/// no device has keys).
pub(super) type Checked = (BTreeMap<DeviceId, DeviceKeys>, Option<Ed25519Key>);

impl Directory {
    /// Checks `id`'s devices as the key directory lists them: every signature, no device
    /// twice with different keys, one identity key for all. Devices without keys are
    /// left out.
    pub(super) fn check(id: PeerId, entries: &[DeviceKeysEntry]) -> Result<Checked, CryptoError> {
        let mut devices = BTreeMap::new();
        let mut identity: Option<&Ed25519Key> = None;
        for entry in entries {
            let Some(keys) = &entry.keys else { continue };
            let device = entry.device;
            keys.verify(id, device)
                .map_err(|error| CryptoError::BadSignature { id, device, error })?;
            match identity {
                Some(identity) if *identity != keys.identity => {
                    return Err(CryptoError::MixedIdentities { id });
                }
                _ => identity = Some(&keys.identity),
            }
            if let Some(before) = devices.insert(device, keys.clone())
                && before != *keys
            {
                return Err(CryptoError::DuplicateDevice { id, device });
            }
        }
        Ok((devices, identity.cloned()))
    }

    /// Replaces what is known of `id`'s devices; returns those whose Olm key changed or
    /// that are gone (their sessions are no longer of use).
    pub(super) fn replace(
        &mut self,
        id: PeerId,
        devices: BTreeMap<DeviceId, DeviceKeys>,
    ) -> Vec<DeviceId> {
        let before = self.0.remove(&id).unwrap_or_default();
        let stale = before
            .iter()
            .filter(|(device, keys)| {
                devices
                    .get(device)
                    .is_none_or(|now| now.curve25519 != keys.curve25519)
            })
            .map(|(device, _)| *device)
            .collect();
        if !devices.is_empty() {
            self.0.insert(id, devices);
        }
        stale
    }

    /// The keys learned for `device` of `id`.
    pub(super) fn get(&self, id: PeerId, device: DeviceId) -> Option<&DeviceKeys> {
        self.0.get(&id)?.get(&device)
    }

    /// `id`'s devices learned with keys, in order.
    pub(super) fn devices(&self, id: PeerId) -> impl Iterator<Item = (DeviceId, &DeviceKeys)> {
        self.0
            .get(&id)
            .into_iter()
            .flat_map(|devices| devices.iter().map(|(device, keys)| (*device, keys)))
    }
}

impl From<Vec<Learned>> for Directory {
    fn from(learned: Vec<Learned>) -> Self {
        let mut directory = Self::default();
        for Learned { peer, device, keys } in learned {
            directory.0.entry(peer).or_default().insert(device, keys);
        }
        directory
    }
}

impl From<Directory> for Vec<Learned> {
    fn from(directory: Directory) -> Self {
        directory
            .0
            .into_iter()
            .flat_map(|(peer, devices)| {
                devices
                    .into_iter()
                    .map(move |(device, keys)| Learned { peer, device, keys })
            })
            .collect()
    }
}
