//! [`Crypto`]: one device's end-to-end encryption, without I/O (feature `client`): its
//! Olm account, its person's identity key, the keys it learned of other devices, the
//! identity key it trusts for each person, and its Olm sessions with each peer device.
//! The web app and native clients give it what the server sends and send what it
//! returns.
//!
//! The flow, for a device:
//! 1. [`Crypto::publish_request`] → [`crate::event::PUBLISH_KEYS`], then
//!    [`Crypto::published`] once the server took it (and again when the stock of
//!    one-time keys runs low).
//! 2. Before writing to someone: [`crate::event::KEYS`] → [`Crypto::learn`] (which pins
//!    their identity key on first use, see [`Trust`]), then for
//!    [`Crypto::missing_sessions`] [`crate::event::CLAIM_KEYS`] → [`Crypto::add_claimed`].
//!    The same for one's own id, to copy one's messages to one's other devices.
//! 3. [`Crypto::encrypt`] a [`Plaintext`] for each device; the recipient's devices
//!    [`Crypto::decrypt`] it (after learning the sender's keys if it says
//!    [`CryptoError::UnknownSender`]).
//!
//! Every call that takes `&mut self` and succeeds changes secret state (a ratchet
//! turned, a one-time key used): store [`Crypto::pickle`] after it, or a message may no
//! longer decrypt after a restart. The pickle holds every secret key of the device and
//! its person; keep it where only this device's user can read it.

mod cost;
mod directory;
mod error;
mod identity_secret;
mod pickle;
mod pins;
mod plaintext;
mod publishing;
mod safety_number;
mod sessions;

use std::fmt;

use vodozemac::{
    Curve25519PublicKey, Ed25519SecretKey,
    olm::{Account, AccountPickle, OlmMessage, SessionConfig},
};

pub use self::{
    cost::{COST_TEXT, CryptoCost, measure_cost},
    error::CryptoError,
    identity_secret::IdentitySecret,
    pickle::CryptoPickle,
    pins::Trust,
    plaintext::Plaintext,
    publishing::{ONE_TIME_KEY_LOW, ONE_TIME_KEY_STOCK},
    safety_number::{
        SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_VERSION, safety_number, safety_qr_payload,
    },
    sessions::MAX_SESSIONS_PER_DEVICE,
};
use self::{directory::Directory, pins::PinState, publishing::Publishing, sessions::Sessions};
use crate::{
    device::DeviceId,
    encrypted::{Ciphertext, Encrypted, MAX_CIPHERTEXTS, NORMAL, PRE_KEY},
    error::Rejection,
    keys::{ClaimedKey, Curve25519Key, DeviceKeys, DeviceKeysEntry, Ed25519Key},
    message::MessageId,
    peer_id::PeerId,
};

/// One device's end-to-end encryption state; see the [module](self).
pub struct Crypto {
    /// This device's person.
    id: PeerId,
    /// This device.
    device: DeviceId,
    /// Its Olm account: its own keys and its unused one-time keys.
    account: Account,
    /// The person's identity key, the same on all their devices.
    identity: Ed25519SecretKey,
    /// What the key directory has of its keys.
    publishing: Publishing,
    /// The keys of peer devices, checked.
    directory: Directory,
    /// The identity key trusted for each person.
    pins: pins::Pins,
    /// Its sessions with peer devices.
    sessions: Sessions,
    /// Sessions started by a peer's pre-key message since this was made or restored,
    /// each with one of this device's one-time (or its fallback) keys.
    inbound_started: u64,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("id", &self.id)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// A key or signature vodozemac wrote, as its wire type (always accepted: vodozemac
/// writes them in the unpadded base64 the wire types check for).
fn wire<T: TryFrom<String, Error = Rejection>>(text: String) -> T {
    T::try_from(text).expect("vodozemac writes keys and signatures in unpadded base64")
}

/// A checked wire key, as vodozemac's.
fn curve25519(key: &Curve25519Key) -> Result<Curve25519PublicKey, CryptoError> {
    Curve25519PublicKey::from_base64(key.as_str()).map_err(|error| CryptoError::Malformed {
        reason: error.to_string(),
    })
}

impl Crypto {
    /// A new device of a new person: a fresh Olm account and a fresh identity key.
    pub fn new(id: PeerId, device: DeviceId) -> Self {
        Self::with_identity(id, device, Ed25519SecretKey::new())
    }

    /// A new device of a person whose identity key it was given (a linked device).
    pub fn with_identity(id: PeerId, device: DeviceId, identity: Ed25519SecretKey) -> Self {
        let mut crypto = Self {
            id,
            device,
            account: Account::new(),
            identity,
            publishing: Publishing::default(),
            directory: Directory::default(),
            pins: pins::Pins::default(),
            sessions: Sessions::default(),
            inbound_started: 0,
        };
        crypto.pins.pin(id, crypto.identity_key());
        crypto
    }

    /// A new device of a person, linked by a device that gave it their `identity` key.
    pub fn linked(id: PeerId, device: DeviceId, identity: IdentitySecret) -> Self {
        Self::with_identity(id, device, identity.0)
    }

    /// The person's identity key, secret half: to give a device being linked, and
    /// nothing else.
    pub fn identity_secret(&self) -> IdentitySecret {
        IdentitySecret(Ed25519SecretKey::from_slice(&self.identity.to_bytes()))
    }

    /// How many sessions peers started with this device (each using up one of its
    /// one-time keys, or its fallback key) since it was made or restored: when it grows,
    /// the directory's stock of one-time keys shrank.
    pub fn inbound_sessions_started(&self) -> u64 {
        self.inbound_started
    }

    /// This device's person.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// This device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The person's identity key: what their safety numbers are made of.
    pub fn identity_key(&self) -> Ed25519Key {
        wire(self.identity.public_key().to_base64())
    }

    /// This device's Olm (Curve25519) key, the `sender_key` of what it encrypts.
    pub fn curve25519_key(&self) -> Curve25519Key {
        wire(self.account.curve25519_key().to_base64())
    }

    /// This device's signing key.
    fn ed25519_key(&self) -> Ed25519Key {
        wire(self.account.ed25519_key().to_base64())
    }

    /// This device's keys, signed by itself and by the identity key.
    pub fn device_keys(&self) -> DeviceKeys {
        let (curve25519, ed25519) = (self.curve25519_key(), self.ed25519_key());
        let signed = DeviceKeys::signed_text(self.id, self.device, &curve25519, &ed25519);
        let vouched = DeviceKeys::identity_text(self.id, self.device, &curve25519, &ed25519);
        DeviceKeys {
            signature: wire(self.account.sign(signed).to_base64()),
            identity: self.identity_key(),
            identity_signature: wire(self.identity.sign(vouched.as_bytes()).to_base64()),
            curve25519,
            ed25519,
        }
    }

    /// Learns `id`'s devices as the key directory lists them ([`crate::event::KEYS`]):
    /// checks every signature and that all carry one identity key (else nothing is
    /// learned), pins that key on first use, and replaces what was known of their
    /// devices (sessions with a device whose Olm key changed, or that is gone, are
    /// dropped). A changed identity key is not trusted until [`Crypto::accept_identity`].
    pub fn learn(&mut self, id: PeerId, devices: &[DeviceKeysEntry]) -> Result<Trust, CryptoError> {
        let (mut devices, identity) = Directory::check(id, devices)?;
        if id == self.id {
            devices.remove(&self.device);
        }
        let trust = match &identity {
            None => Trust::NoKeys,
            Some(identity) => self.pins.see(id, identity),
        };
        for device in self.directory.replace(id, devices) {
            self.sessions.forget(id, device);
        }
        Ok(trust)
    }

    /// Trusts `id`'s changed identity key from now on (after the person compared safety
    /// numbers): the key now trusted, or none if no change waited. One's own identity
    /// never changes this way.
    pub fn accept_identity(&mut self, id: PeerId) -> Option<Ed25519Key> {
        if id == self.id {
            return None;
        }
        self.pins.accept(id)
    }

    /// The identity key `id`'s devices carry as last learned (the new one while a change
    /// waits): what to compute their safety number with, see [`safety_number`].
    pub fn peer_identity(&self, id: PeerId) -> Option<Ed25519Key> {
        self.directory
            .devices(id)
            .map(|(_, keys)| keys.identity.clone())
            .next()
            .or_else(|| self.pins.pinned(id).cloned())
    }

    /// The safety number with `id`, from the identity key their devices carry (see
    /// [`Crypto::peer_identity`]).
    pub fn safety_number_with(&self, id: PeerId) -> Option<String> {
        let theirs = self.peer_identity(id)?;
        Some(safety_number(self.id, &self.identity_key(), id, &theirs))
    }

    /// What this person's QR code carries for `id` to scan (see [`safety_qr_payload`]),
    /// from the identity key their devices carry.
    pub fn safety_qr_with(&self, id: PeerId) -> Option<String> {
        let theirs = self.peer_identity(id)?;
        Some(safety_qr_payload(
            self.id,
            &self.identity_key(),
            id,
            &theirs,
        ))
    }

    /// The key trusted for `id`, as an error if there is none.
    fn trusted(&self, id: PeerId) -> Result<&Ed25519Key, CryptoError> {
        self.pins.trusted(id).map_err(|state| match state {
            PinState::Unknown => CryptoError::UnknownPeer { id },
            PinState::Changed => CryptoError::IdentityChanged { id },
        })
    }

    /// `id`'s devices learned with keys under the trusted identity key, this device
    /// left aside: those to encrypt for.
    pub fn known_devices(&self, id: PeerId) -> Vec<DeviceId> {
        let Ok(trusted) = self.trusted(id) else {
            return Vec::new();
        };
        self.directory
            .devices(id)
            .filter(|(device, keys)| {
                (id, *device) != (self.id, self.device) && keys.identity == *trusted
            })
            .map(|(device, _)| device)
            .collect()
    }

    /// `id`'s devices learned with trusted keys but without a session: those to claim a
    /// key of ([`crate::event::CLAIM_KEYS`]) and give to [`Crypto::add_claimed`].
    pub fn missing_sessions(&self, id: PeerId) -> Vec<DeviceId> {
        self.known_devices(id)
            .into_iter()
            .filter(|device| !self.sessions.has(id, *device))
            .collect()
    }

    /// Starts a session with each device of `id` a key was claimed for: checks every
    /// signature and that the device keys are those learned, under the trusted identity
    /// key (else no session starts), then starts one from its one-time (or fallback) key,
    /// the newest with that device. A key of this device itself is passed over.
    pub fn add_claimed(&mut self, id: PeerId, claimed: &[ClaimedKey]) -> Result<(), CryptoError> {
        let trusted = self.trusted(id)?.clone();
        let mut starts = Vec::with_capacity(claimed.len());
        for key in claimed {
            let device = key.device;
            if (id, device) == (self.id, self.device) {
                continue;
            }
            key.verify(id)
                .map_err(|error| CryptoError::BadSignature { id, device, error })?;
            if self.directory.get(id, device) != Some(&key.device_keys) {
                return Err(CryptoError::KeysMismatch { id, device });
            }
            if key.device_keys.identity != trusted {
                return Err(CryptoError::IdentityChanged { id });
            }
            let one_time = key
                .one_time_key
                .as_ref()
                .ok_or(CryptoError::NoOneTimeKey { id, device })?;
            starts.push((
                device,
                curve25519(&key.device_keys.curve25519)?,
                curve25519(&one_time.key)?,
            ));
        }
        for (device, identity_key, one_time_key) in starts {
            let session = self
                .account
                .create_outbound_session(SessionConfig::version_1(), identity_key, one_time_key)
                .map_err(|error| CryptoError::Session {
                    id,
                    device,
                    reason: error.to_string(),
                })?;
            self.sessions.add(id, device, session);
        }
        Ok(())
    }

    /// Encrypts `message` (from this device's person) once for each listed device, in
    /// the newest session with it: the recipient's devices and this person's other
    /// devices, as the caller lists them ([`Crypto::known_devices`]); this device itself
    /// is passed over. Fails, encrypting nothing, if a person's identity key is not
    /// trusted or a device has no session ([`CryptoError::NoSession`] names them all).
    pub fn encrypt(
        &mut self,
        message: &Plaintext,
        recipients: &[(PeerId, Vec<DeviceId>)],
    ) -> Result<Encrypted, CryptoError> {
        if message.from != self.id {
            return Err(CryptoError::NotFromMe {
                me: self.id,
                from: message.from,
            });
        }
        let mut ready = Vec::new();
        let mut missing = Vec::new();
        for (id, devices) in recipients {
            let trusted = self.trusted(*id)?;
            for device in devices {
                let target = (*id, *device);
                if target == (self.id, self.device)
                    || ready.contains(&target)
                    || missing.contains(&target)
                {
                    continue;
                }
                let learned = self
                    .directory
                    .get(*id, *device)
                    .is_some_and(|keys| keys.identity == *trusted);
                if learned && self.sessions.has(*id, *device) {
                    ready.push(target);
                } else {
                    missing.push(target);
                }
            }
        }
        if !missing.is_empty() {
            return Err(CryptoError::NoSession { devices: missing });
        }
        if ready.is_empty() {
            return Err(CryptoError::NoRecipients);
        }
        if ready.len() > MAX_CIPHERTEXTS {
            return Err(CryptoError::TooManyRecipients { count: ready.len() });
        }
        let json = message.to_json().map_err(|error| CryptoError::Malformed {
            reason: error.to_string(),
        })?;
        let mut ciphertexts = Vec::with_capacity(ready.len());
        for (peer, device) in ready {
            let Some(session) = self.sessions.newest(peer, device) else {
                return Err(CryptoError::NoSession {
                    devices: vec![(peer, device)],
                });
            };
            let olm = session
                .encrypt(&json)
                .map_err(|error| CryptoError::Session {
                    id: peer,
                    device,
                    reason: error.to_string(),
                })?;
            let (kind, body) = match &olm {
                OlmMessage::PreKey(m) => (PRE_KEY, m.to_bytes()),
                OlmMessage::Normal(m) => (NORMAL, m.to_bytes()),
            };
            let Some(key) = self
                .directory
                .get(peer, device)
                .map(|keys| keys.curve25519.clone())
            else {
                return Err(CryptoError::NoSession {
                    devices: vec![(peer, device)],
                });
            };
            ciphertexts.push(Ciphertext {
                peer,
                device,
                key,
                kind,
                body: vodozemac::base64_encode(body),
            });
        }
        Ok(Encrypted {
            sender_device: self.device,
            sender_key: self.curve25519_key(),
            ciphertexts,
        })
    }

    /// Decrypts this device's ciphertext of a message the server delivered as `id`,
    /// from `from` to `to` (one's own message from another device comes from one's own
    /// id). The sender's device must be known with the key it encrypted with
    /// ([`CryptoError::UnknownSender`] otherwise: learn `from`'s keys and try again) and
    /// under the identity key trusted for `from`; the plaintext must name the same
    /// sender, recipient and id ([`CryptoError::EnvelopeMismatch`]). A pre-key message
    /// that no session knows starts one (using up a one-time key). A message decrypts
    /// once: keep what it gave, and pass a message delivered again over by its id.
    pub fn decrypt(
        &mut self,
        from: PeerId,
        to: PeerId,
        id: MessageId,
        encrypted: &Encrypted,
    ) -> Result<Plaintext, CryptoError> {
        let ciphertext = encrypted
            .for_device(self.id, self.device)
            .filter(|c| c.key == self.curve25519_key())
            .ok_or(CryptoError::NotForThisDevice)?;
        let device = encrypted.sender_device;
        let sender = self
            .directory
            .get(from, device)
            .filter(|keys| keys.curve25519 == encrypted.sender_key)
            .ok_or(CryptoError::UnknownSender { from, device })?;
        if sender.identity != *self.trusted(from)? {
            return Err(CryptoError::IdentityChanged { id: from });
        }
        let sender_key = curve25519(&sender.curve25519)?;
        let malformed = |reason: String| CryptoError::Malformed { reason };
        let bytes = vodozemac::base64_decode(&ciphertext.body)
            .map_err(|error| malformed(format!("the body is not base64: {error}")))?;
        let message = OlmMessage::from_parts(usize::from(ciphertext.kind), &bytes)
            .map_err(|error| malformed(error.to_string()))?;
        // A message refused after it decrypted (it names another envelope) leaves
        // everything as it was: the genuine delivery must still decrypt.
        let sessions_before = self.sessions.snapshot(from, device);
        let publishing_before = self.publishing.clone();
        let (json, account_before) = self.open(from, device, sender_key, &message)?;
        let plaintext = Plaintext::from_json(&json)
            .map_err(|error| malformed(format!("the plaintext is not one: {error}")))
            .and_then(|plaintext| {
                if plaintext.matches(from, to, id) {
                    Ok(plaintext)
                } else {
                    Err(CryptoError::EnvelopeMismatch)
                }
            });
        if plaintext.is_err() {
            self.sessions.restore(from, device, sessions_before);
            self.publishing = publishing_before;
            if let Some(account) = account_before {
                self.account = Account::from_pickle(account);
            }
        }
        plaintext
    }

    /// Decrypts an Olm message from `device` of `from` (whose key is `sender_key`), in
    /// a session with it or, for a pre-key message no session knows, in a new one; with
    /// the account as it was before, if a new session used up a one-time key. Olm
    /// changes nothing when it fails.
    fn open(
        &mut self,
        from: PeerId,
        device: DeviceId,
        sender_key: Curve25519PublicKey,
        message: &OlmMessage,
    ) -> Result<(Vec<u8>, Option<AccountPickle>), CryptoError> {
        let failed = |reason: String| CryptoError::Decrypt {
            from,
            device,
            reason,
        };
        let OlmMessage::PreKey(pre_key) = message else {
            let json = self
                .sessions
                .decrypt(from, device, message)
                .map_err(failed)?;
            return Ok((json, None));
        };
        if pre_key.identity_key() != sender_key {
            return Err(CryptoError::UnknownSender { from, device });
        }
        if let Some(result) =
            self.sessions
                .decrypt_in(from, device, pre_key.session_keys(), message)
        {
            return Ok((result.map_err(failed)?, None));
        }
        let before = self.account.pickle();
        let created = self
            .account
            .create_inbound_session(SessionConfig::version_1(), sender_key, pre_key)
            .map_err(|error| failed(error.to_string()))?;
        self.publishing.started_from(pre_key.one_time_key());
        self.sessions.add(from, device, created.session);
        self.inbound_started += 1;
        Ok((created.plaintext, Some(before)))
    }
}

/// A fresh Ed25519 public key, for the tests of this module's parts.
#[cfg(test)]
fn fresh_ed25519_key() -> Ed25519Key {
    vodozemac::Ed25519SecretKey::new()
        .public_key()
        .to_base64()
        .try_into()
        .expect("a valid key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, OneTimeKey};

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
    const BOB: &str = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";

    fn alice() -> PeerId {
        ALICE.parse().unwrap()
    }

    fn bob() -> PeerId {
        BOB.parse().unwrap()
    }

    fn entries(devices: &[&Crypto]) -> Vec<DeviceKeysEntry> {
        devices
            .iter()
            .map(|c| DeviceKeysEntry {
                device: c.device(),
                keys: Some(c.device_keys()),
            })
            .collect()
    }

    /// A copy of `crypto`'s identity key, for another device of its person.
    fn identity_of(crypto: &Crypto) -> Ed25519SecretKey {
        Ed25519SecretKey::from_slice(&crypto.identity.to_bytes())
    }

    /// A key claimed from the first publish of `crypto`.
    fn claim(crypto: &mut Crypto) -> ClaimedKey {
        let request = crypto.publish_request(None).unwrap();
        crypto.published();
        ClaimedKey {
            device: crypto.device(),
            device_keys: request.device_keys,
            one_time_key: request.one_time_keys.into_iter().next(),
            fallback: false,
        }
    }

    #[test]
    fn device_keys_verify_for_their_own_id_and_device_only() {
        let crypto = Crypto::new(alice(), DeviceId::new(2).unwrap());
        let keys = crypto.device_keys();
        keys.verify(alice(), DeviceId::new(2).unwrap()).unwrap();
        assert_eq!(keys.identity, crypto.identity_key());
        assert_eq!(keys.curve25519, crypto.curve25519_key());
        assert!(keys.verify(alice(), DeviceId::FIRST).is_err());
        assert!(keys.verify(bob(), DeviceId::new(2).unwrap()).is_err());

        let identity = Ed25519SecretKey::new();
        let public: Ed25519Key = wire(identity.public_key().to_base64());
        let linked = Crypto::with_identity(alice(), DeviceId::new(1).unwrap(), identity);
        assert_eq!(linked.identity_key(), public);
        assert_eq!(linked.device_keys().identity, public);
        assert_ne!(linked.curve25519_key(), crypto.curve25519_key());
    }

    #[test]
    fn learning_refuses_forged_or_mixed_keys_and_learns_nothing_then() {
        let mut me = Crypto::new(alice(), DeviceId::FIRST);
        let bob0 = Crypto::new(bob(), DeviceId::FIRST);
        let bob1 = Crypto::with_identity(bob(), DeviceId::new(1).unwrap(), identity_of(&bob0));
        let stranger = Crypto::new(bob(), DeviceId::new(2).unwrap());

        let mut forged = entries(&[&bob0, &bob1]);
        forged[1].device = DeviceId::new(3).unwrap();
        assert_eq!(
            me.learn(bob(), &forged),
            Err(CryptoError::BadSignature {
                id: bob(),
                device: DeviceId::new(3).unwrap(),
                error: crate::keys::KeyError::DeviceSignature,
            })
        );
        assert_eq!(
            me.learn(bob(), &entries(&[&bob0, &stranger])),
            Err(CryptoError::MixedIdentities { id: bob() })
        );
        let bob0_again = Crypto::with_identity(bob(), DeviceId::FIRST, identity_of(&bob0));
        let twice = entries(&[&bob0, &bob1, &bob0_again]);
        assert_eq!(
            me.learn(bob(), &twice),
            Err(CryptoError::DuplicateDevice {
                id: bob(),
                device: DeviceId::FIRST
            })
        );
        assert!(me.known_devices(bob()).is_empty());
        assert_eq!(me.peer_identity(bob()), None);

        let mut with_keyless = entries(&[&bob0, &bob1]);
        with_keyless.push(DeviceKeysEntry {
            device: DeviceId::new(4).unwrap(),
            keys: None,
        });
        assert_eq!(me.learn(bob(), &with_keyless), Ok(Trust::New));
        assert_eq!(
            me.known_devices(bob()),
            [DeviceId::FIRST, DeviceId::new(1).unwrap()]
        );
        assert_eq!(me.missing_sessions(bob()), me.known_devices(bob()));
        assert_eq!(me.peer_identity(bob()), Some(bob0.identity_key()));
        assert_eq!(me.learn(bob(), &entries(&[&bob1])), Ok(Trust::Same));
        assert_eq!(me.known_devices(bob()), [DeviceId::new(1).unwrap()]);
        assert_eq!(
            me.learn(
                bob(),
                &[DeviceKeysEntry {
                    device: DeviceId::FIRST,
                    keys: None
                }]
            ),
            Ok(Trust::NoKeys)
        );
        assert!(me.known_devices(bob()).is_empty());
    }

    #[test]
    fn ones_own_device_is_never_a_recipient_and_ones_identity_is_pinned() {
        let mut me = Crypto::new(alice(), DeviceId::FIRST);
        let other = Crypto::with_identity(alice(), DeviceId::new(1).unwrap(), identity_of(&me));
        assert_eq!(me.learn(alice(), &entries(&[&me, &other])), Ok(Trust::Same));
        assert_eq!(me.known_devices(alice()), [DeviceId::new(1).unwrap()]);

        let impostor = Crypto::new(alice(), DeviceId::new(2).unwrap());
        assert!(matches!(
            me.learn(alice(), &entries(&[&impostor])),
            Ok(Trust::Changed { .. })
        ));
        assert_eq!(me.accept_identity(alice()), None);
        assert!(me.known_devices(alice()).is_empty());
    }

    #[test]
    fn a_claimed_key_must_be_signed_and_match_what_was_learned() {
        let mut me = Crypto::new(alice(), DeviceId::FIRST);
        let mut bob0 = Crypto::new(bob(), DeviceId::FIRST);
        let claimed = claim(&mut bob0);
        assert_eq!(
            me.add_claimed(bob(), std::slice::from_ref(&claimed)),
            Err(CryptoError::UnknownPeer { id: bob() })
        );
        me.learn(bob(), &entries(&[&bob0])).unwrap();

        let mut forged = claimed.clone();
        let other = Crypto::new(bob(), DeviceId::FIRST);
        let ed25519 = other.ed25519_key();
        let key_id = forged.one_time_key.as_ref().unwrap().key_id.clone();
        forged.one_time_key = Some(OneTimeKey {
            key: other.curve25519_key(),
            signature: wire(
                other
                    .account
                    .sign(OneTimeKey::signed_text(
                        KeyKind::OneTime,
                        bob(),
                        DeviceId::FIRST,
                        &ed25519,
                        &key_id,
                        &other.curve25519_key(),
                    ))
                    .to_base64(),
            ),
            key_id,
        });
        assert!(matches!(
            me.add_claimed(bob(), &[forged]),
            Err(CryptoError::BadSignature { .. })
        ));
        let elsewhere = claim(&mut Crypto::new(bob(), DeviceId::FIRST));
        assert_eq!(
            me.add_claimed(bob(), &[elsewhere]),
            Err(CryptoError::KeysMismatch {
                id: bob(),
                device: DeviceId::FIRST
            })
        );
        let none = ClaimedKey {
            one_time_key: None,
            ..claimed.clone()
        };
        assert_eq!(
            me.add_claimed(bob(), &[none]),
            Err(CryptoError::NoOneTimeKey {
                id: bob(),
                device: DeviceId::FIRST
            })
        );
        assert_eq!(me.missing_sessions(bob()), [DeviceId::FIRST]);
        me.add_claimed(bob(), &[claimed]).unwrap();
        assert!(me.missing_sessions(bob()).is_empty());
    }
}
