//! [`CryptoError`]: every way the crypto core refuses keys, a message or a pickle.

use crate::{device::DeviceId, encrypted::MAX_CIPHERTEXTS, keys::KeyError, peer_id::PeerId};

/// Why keys, a message or a pickle were refused. Nothing was changed unless the variant
/// says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A device's keys are not signed as they must be: the directory (or someone in the
    /// way) altered them. None of the list was learned.
    #[error("device {device} of {id}: {error}")]
    BadSignature {
        /// Whose device.
        id: PeerId,
        /// Which device.
        device: DeviceId,
        /// Which signature failed.
        error: KeyError,
    },
    /// A list names one device twice with different keys. None of it was learned.
    #[error("device {device} of {id} is listed twice with different keys")]
    DuplicateDevice {
        /// Whose device.
        id: PeerId,
        /// Which device.
        device: DeviceId,
    },
    /// A person's devices carry different identity keys. None of the list was learned.
    #[error("the devices of {id} carry different identity keys")]
    MixedIdentities {
        /// Whose devices.
        id: PeerId,
    },
    /// The person's identity key is not the one pinned and has not been accepted
    /// ([`super::Crypto::accept_identity`]): nothing is encrypted to or decrypted from
    /// them until then.
    #[error(
        "the identity key of {id} changed: compare safety numbers and accept it before \
         writing to or reading from them"
    )]
    IdentityChanged {
        /// Whose.
        id: PeerId,
    },
    /// No keys of the person were learned ([`super::Crypto::learn`]).
    #[error("no keys of {id} were learned")]
    UnknownPeer {
        /// Whose.
        id: PeerId,
    },
    /// A claimed key came with other device keys than those learned for the device (or
    /// for a device not learned at all): learn the person's keys again.
    #[error("device {device} of {id}: the claimed keys are not those learned for it")]
    KeysMismatch {
        /// Whose device.
        id: PeerId,
        /// Which device.
        device: DeviceId,
    },
    /// A claimed key carries no one-time or fallback key: no session can start.
    #[error("device {device} of {id} has no one-time or fallback key left")]
    NoOneTimeKey {
        /// Whose device.
        id: PeerId,
        /// Which device.
        device: DeviceId,
    },
    /// Olm could not start a session from the claimed key (an insecure key).
    #[error("no session could start with device {device} of {id}: {reason}")]
    Session {
        /// Whose device.
        id: PeerId,
        /// Which device.
        device: DeviceId,
        /// What Olm said.
        reason: String,
    },
    /// These devices have no session (or no learned keys): claim keys for them first.
    /// Nothing was encrypted.
    #[error("no session with {}", list(devices))]
    NoSession {
        /// Each device without a session, as (person, device).
        devices: Vec<(PeerId, DeviceId)>,
    },
    /// The list of devices to encrypt for is empty (this device itself left aside).
    #[error("no device to encrypt for")]
    NoRecipients,
    /// More devices to encrypt for than an [`crate::encrypted::Encrypted`] may carry.
    #[error("{count} devices to encrypt for; at most {MAX_CIPHERTEXTS}")]
    TooManyRecipients {
        /// How many were listed.
        count: usize,
    },
    /// The plaintext says it is from someone else than this device's person.
    #[error("this device encrypts messages from {me}, not from {from}")]
    NotFromMe {
        /// This device's person.
        me: PeerId,
        /// Whom the plaintext names.
        from: PeerId,
    },
    /// The message carries no ciphertext for this device.
    #[error("the message was not encrypted for this device")]
    NotForThisDevice,
    /// The sender's device is not known with the key it says it encrypted with: fetch
    /// the sender's keys ([`crate::event::KEYS`]), learn them and try again.
    #[error(
        "device {device} of {from} is not known with the key it encrypted with: learn \
         {from}'s keys and try again"
    )]
    UnknownSender {
        /// The sender.
        from: PeerId,
        /// The sender's device.
        device: DeviceId,
    },
    /// The ciphertext (or the plaintext inside) cannot be read as one.
    #[error("malformed message: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// No session could decrypt the ciphertext: altered, already decrypted once, or
    /// from a session that is gone.
    #[error("the message from device {device} of {from} could not be decrypted: {reason}")]
    Decrypt {
        /// The sender.
        from: PeerId,
        /// The sender's device.
        device: DeviceId,
        /// What Olm said.
        reason: String,
    },
    /// The decrypted message names another sender, recipient or id than the envelope it
    /// came in: a server replaying a ciphertext under another id, or to someone else.
    #[error("the decrypted message does not match its envelope (sender, recipient or id)")]
    EnvelopeMismatch,
    /// A pickle could not be restored.
    #[error("the stored keys cannot be restored: {reason}")]
    Pickle {
        /// What is wrong.
        reason: String,
    },
}

fn list(devices: &[(PeerId, DeviceId)]) -> String {
    devices
        .iter()
        .map(|(id, device)| format!("device {device} of {id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_session_names_each_device() {
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        let error = CryptoError::NoSession {
            devices: vec![(bob, DeviceId::FIRST), (bob, DeviceId::new(3).unwrap())],
        };
        assert_eq!(
            error.to_string(),
            format!("no session with device 0 of {bob}, device 3 of {bob}")
        );
    }
}
