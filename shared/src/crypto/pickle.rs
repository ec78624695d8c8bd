//! [`CryptoPickle`]: a [`Crypto`] as stored between runs.

use std::fmt;

use serde::{Deserialize, Serialize};
use vodozemac::{
    Ed25519SecretKey,
    olm::{Account, AccountPickle},
};

use super::{
    Crypto, CryptoError,
    directory::Directory,
    pins::Pins,
    publishing::Publishing,
    sessions::{DeviceSessions, Sessions},
};
use crate::{device::DeviceId, peer_id::PeerId};

/// The version of the pickle's layout.
const VERSION: u32 = 1;

/// Everything a [`Crypto`] holds, serializable: its Olm account and sessions, the
/// identity key, the keys learned and pinned, what was published.
///
/// **It holds secret keys**: the device's and its person's identity key. Store it
/// where only this device's user can read it (the web app keeps it in IndexedDB), and
/// after every change ([`Crypto`] says which calls change it).
#[derive(Serialize, Deserialize)]
pub struct CryptoPickle {
    version: u32,
    id: PeerId,
    device: DeviceId,
    /// The identity key's secret, unpadded base64.
    identity: String,
    account: AccountPickle,
    publishing: Publishing,
    pins: Pins,
    directory: Directory,
    sessions: Vec<DeviceSessions>,
}

impl fmt::Debug for CryptoPickle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        f.debug_struct("CryptoPickle")
            .field("id", &self.id)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Its whole state, to store; see [`CryptoPickle`].
    pub fn pickle(&self) -> CryptoPickle {
        CryptoPickle {
            version: VERSION,
            id: self.id,
            device: self.device,
            identity: self.identity.to_base64(),
            account: self.account.pickle(),
            publishing: self.publishing.clone(),
            pins: self.pins.clone(),
            directory: self.directory.clone(),
            sessions: self.sessions.pickle(),
        }
    }

    /// Restores a [`Crypto`] from its pickle.
    pub fn from_pickle(pickle: CryptoPickle) -> Result<Self, CryptoError> {
        if pickle.version != VERSION {
            return Err(CryptoError::Pickle {
                reason: format!("version {}, expected {VERSION}", pickle.version),
            });
        }
        let bytes: [u8; Ed25519SecretKey::LENGTH] = vodozemac::base64_decode(&pickle.identity)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CryptoError::Pickle {
                reason: "the identity key is not 32 bytes in base64".into(),
            })?;
        let mut crypto = Self {
            id: pickle.id,
            device: pickle.device,
            account: Account::from_pickle(pickle.account),
            identity: Ed25519SecretKey::from_slice(&bytes),
            publishing: pickle.publishing,
            directory: pickle.directory,
            pins: pickle.pins,
            sessions: Sessions::from_pickle(pickle.sessions),
            inbound_started: 0,
        };
        // One's own identity is trusted whatever was stored.
        crypto.pins.pin(crypto.id, crypto.identity_key());
        Ok(crypto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pickle_restores_the_same_keys_and_refuses_a_bad_identity() {
        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let mut crypto = Crypto::new(id, DeviceId::new(1).unwrap());
        let request = crypto.publish_request(None).unwrap();
        let json = serde_json::to_string(&crypto.pickle()).unwrap();
        assert!(!format!("{:?}", crypto.pickle()).contains(&crypto.identity.to_base64()));

        let mut restored = Crypto::from_pickle(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(restored.id(), id);
        assert_eq!(restored.device(), DeviceId::new(1).unwrap());
        assert_eq!(restored.device_keys(), crypto.device_keys());
        // Still unpublished: the same request.
        assert_eq!(restored.publish_request(None).unwrap(), request);

        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["identity"] = "AAAA".into();
        let bad = Crypto::from_pickle(serde_json::from_value(value.clone()).unwrap());
        assert!(matches!(bad, Err(CryptoError::Pickle { .. })));
        value["identity"] = serde_json::Value::String(format!("{}A", crypto.identity.to_base64()));
        let long = Crypto::from_pickle(serde_json::from_value(value.clone()).unwrap());
        assert!(matches!(long, Err(CryptoError::Pickle { .. })));
        value["version"] = 2.into();
        let newer = Crypto::from_pickle(serde_json::from_value(value).unwrap());
        assert!(matches!(newer, Err(CryptoError::Pickle { .. })));
    }
}
