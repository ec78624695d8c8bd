//! [`Pins`]: trust on first use of each person's identity key, and [`Trust`], what
//! learning a person's keys found.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{keys::Ed25519Key, peer_id::PeerId};

/// What a person's identity key is, compared with the one pinned for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// None of their devices published keys: nothing to pin, nothing to encrypt to.
    NoKeys,
    /// First seen: pinned now.
    New,
    /// The key pinned.
    Same,
    /// Another key than the one pinned. It is not used (nothing is encrypted to or
    /// decrypted from them) until accepted, after comparing safety numbers.
    Changed {
        /// The key pinned.
        was: Ed25519Key,
        /// The key they now carry.
        now: Ed25519Key,
    },
}

/// One person's pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pin {
    /// The person.
    peer: PeerId,
    /// The identity key trusted.
    key: Ed25519Key,
    /// Another key seen since and not accepted yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changed_to: Option<Ed25519Key>,
}

/// The identity key pinned for each person, and changes waiting to be accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Pin>", into = "Vec<Pin>")]
pub(super) struct Pins(BTreeMap<PeerId, Pin>);

impl Pins {
    /// Pins `key` for `id` without asking (one's own identity).
    pub(super) fn pin(&mut self, id: PeerId, key: Ed25519Key) {
        self.0.insert(
            id,
            Pin {
                peer: id,
                key,
                changed_to: None,
            },
        );
    }

    /// Compares `key`, now carried by `id`'s devices, with the pin, pinning it on first
    /// use and remembering a change until it is accepted.
    pub(super) fn see(&mut self, id: PeerId, key: &Ed25519Key) -> Trust {
        let Some(pin) = self.0.get_mut(&id) else {
            self.pin(id, key.clone());
            return Trust::New;
        };
        if pin.key == *key {
            pin.changed_to = None;
            Trust::Same
        } else {
            pin.changed_to = Some(key.clone());
            Trust::Changed {
                was: pin.key.clone(),
                now: key.clone(),
            }
        }
    }

    /// Trusts `id`'s changed key from now on: the key now pinned, if a change waited.
    pub(super) fn accept(&mut self, id: PeerId) -> Option<Ed25519Key> {
        let pin = self.0.get_mut(&id)?;
        let key = pin.changed_to.take()?;
        pin.key = key.clone();
        Some(key)
    }

    /// The key trusted for `id`, unless none is pinned or a change waits.
    pub(super) fn trusted(&self, id: PeerId) -> Result<&Ed25519Key, PinState> {
        match self.0.get(&id) {
            None => Err(PinState::Unknown),
            Some(pin) if pin.changed_to.is_some() => Err(PinState::Changed),
            Some(pin) => Ok(&pin.key),
        }
    }

    /// The key pinned for `id`, trusted or not.
    pub(super) fn pinned(&self, id: PeerId) -> Option<&Ed25519Key> {
        self.0.get(&id).map(|pin| &pin.key)
    }
}

/// Why no key is trusted for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PinState {
    /// None was ever pinned.
    Unknown,
    /// A change waits to be accepted.
    Changed,
}

impl From<Vec<Pin>> for Pins {
    fn from(pins: Vec<Pin>) -> Self {
        Self(pins.into_iter().map(|pin| (pin.peer, pin)).collect())
    }
}

impl From<Pins> for Vec<Pin> {
    fn from(pins: Pins) -> Self {
        pins.0.into_values().collect()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::crypto::fresh_ed25519_key as key;

    #[test]
    fn a_key_is_pinned_on_first_use_and_a_change_waits_for_acceptance() {
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        let (first, second) = (key(), key());
        let mut pins = Pins::default();
        assert_eq!(pins.trusted(bob), Err(PinState::Unknown));
        assert_eq!(pins.see(bob, &first), Trust::New);
        assert_eq!(pins.see(bob, &first), Trust::Same);
        assert_eq!(pins.trusted(bob), Ok(&first));

        let changed = Trust::Changed {
            was: first.clone(),
            now: second.clone(),
        };
        assert_eq!(pins.see(bob, &second), changed);
        assert_eq!(pins.trusted(bob), Err(PinState::Changed));
        assert_eq!(pins.pinned(bob), Some(&first));
        // Seen again, still not accepted.
        assert_eq!(pins.see(bob, &second), changed);
        assert_eq!(pins.accept(bob), Some(second.clone()));
        assert_eq!(pins.trusted(bob), Ok(&second));
        assert_eq!(pins.accept(bob), None);
        assert_eq!(pins.see(bob, &second), Trust::Same);
    }

    #[test]
    fn a_change_undone_before_acceptance_is_forgotten_and_pins_survive_serde() {
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        let (first, second) = (key(), key());
        let mut pins = Pins::default();
        pins.see(bob, &first);
        pins.see(bob, &second);
        let json = serde_json::to_string(&pins).unwrap();
        let restored: Pins = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, pins);
        assert_eq!(restored.trusted(bob), Err(PinState::Changed));

        assert_eq!(pins.see(bob, &first), Trust::Same);
        assert_eq!(pins.trusted(bob), Ok(&first));
        assert_eq!(pins.accept(bob), None);
    }
}
