//! Publishing this device's keys to the key directory: its device keys once, a stock of
//! one-time keys kept topped up, and a fallback key replaced once a session used it.

use serde::{Deserialize, Serialize};
use vodozemac::Curve25519PublicKey;

use super::{Crypto, wire};
use crate::keys::{
    Curve25519Key, KeyKind, MAX_ONE_TIME_KEYS, MAX_ONE_TIME_KEYS_PER_UPLOAD, OneTimeKey,
    PublishKeysRequest,
};

/// How many one-time keys a device keeps in the directory.
pub const ONE_TIME_KEY_STOCK: u32 = 50;

/// Below this many one-time keys in the directory, the stock is topped up.
pub const ONE_TIME_KEY_LOW: u32 = 25;

/// What the directory has of this device's keys, as far as this device knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Publishing {
    /// Whether the directory took the device keys.
    device_keys: bool,
    /// Whether it took a stock of one-time keys once.
    one_time_keys: bool,
    /// The public half of the newest fallback key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallback: Option<Curve25519Key>,
    /// Whether a session started from that fallback key: time for a new one.
    #[serde(default)]
    fallback_used: bool,
}

impl Publishing {
    /// Notes that a session started from `one_time_key`: if it is the fallback key, it
    /// is replaced at the next publish.
    pub(super) fn started_from(&mut self, one_time_key: Curve25519PublicKey) {
        if self
            .fallback
            .as_ref()
            .is_some_and(|fallback| fallback.as_str() == one_time_key.to_base64())
        {
            self.fallback_used = true;
        }
    }
}

/// How many of the one-time keys made before and not yet published (`pending`) go in
/// the next request, and how many new ones to make: the directory is topped up to
/// [`ONE_TIME_KEY_STOCK`] once it keeps fewer than [`ONE_TIME_KEY_LOW`], and never pushed
/// over [`MAX_ONE_TIME_KEYS`] nor sent more than [`MAX_ONE_TIME_KEYS_PER_UPLOAD`] at once.
/// Unknown (`kept` none), the directory is taken to keep none if no stock was ever
/// published, and otherwise left as it is (no new keys: its count is needed to know).
fn one_time_keys_plan(kept: Option<u32>, pending: usize, stocked: bool) -> (usize, usize) {
    let kept = match kept {
        Some(kept) => kept,
        None if !stocked => 0,
        None => return (pending.min(MAX_ONE_TIME_KEYS_PER_UPLOAD), 0),
    };
    let room = usize::try_from(MAX_ONE_TIME_KEYS.saturating_sub(kept))
        .unwrap_or(usize::MAX)
        .min(MAX_ONE_TIME_KEYS_PER_UPLOAD);
    let send = pending.min(room);
    if kept >= ONE_TIME_KEY_LOW {
        return (send, 0);
    }
    let wanted = usize::try_from(ONE_TIME_KEY_STOCK - kept).unwrap_or(usize::MAX);
    (send, wanted.saturating_sub(send).min(room - send))
}

impl Crypto {
    /// What to publish, given how many one-time keys the directory says it keeps for
    /// this device (`None` when unknown, as before the first publish): the device keys,
    /// one-time keys to top the stock up (made now, or made before and not yet
    /// published), and a fallback key when there is none yet or a session used it. None
    /// if there is nothing to publish. Send it with [`crate::event::PUBLISH_KEYS`], and
    /// call [`Crypto::published`] once the directory took it.
    ///
    /// Worth calling after a decrypt that started a session (a one-time or the
    /// fallback key was used).
    pub fn publish_request(&mut self, kept: Option<u32>) -> Option<PublishKeysRequest> {
        let unpublished = self.account.one_time_keys();
        let (send, make) =
            one_time_keys_plan(kept, unpublished.len(), self.publishing.one_time_keys);
        if make > 0 {
            self.account.generate_one_time_keys(make);
        }
        let fallback_pending = !self.account.fallback_key().is_empty();
        if !fallback_pending
            && (self.publishing.fallback.is_none() || self.publishing.fallback_used)
        {
            self.account.generate_fallback_key();
            self.publishing.fallback = self
                .account
                .fallback_key()
                .values()
                .next()
                .map(|key| wire(key.to_base64()));
            self.publishing.fallback_used = false;
        }

        let mut one_time: Vec<_> = self.account.one_time_keys().into_iter().collect();
        one_time.sort_unstable_by_key(|(key_id, _)| *key_id);
        let one_time_keys: Vec<OneTimeKey> = one_time
            .into_iter()
            .take(send + make)
            .map(|(key_id, key)| self.signed_key(KeyKind::OneTime, key_id, key))
            .collect();
        let fallback_key = self
            .account
            .fallback_key()
            .into_iter()
            .next()
            .map(|(key_id, key)| self.signed_key(KeyKind::Fallback, key_id, key));
        if one_time_keys.is_empty() && fallback_key.is_none() && self.publishing.device_keys {
            return None;
        }
        Some(PublishKeysRequest {
            device_keys: self.device_keys(),
            one_time_keys,
            fallback_key,
        })
    }

    /// Notes that the directory took the last [`Crypto::publish_request`]: its keys are
    /// not sent again.
    pub fn published(&mut self) {
        self.account.mark_keys_as_published();
        self.publishing.device_keys = true;
        self.publishing.one_time_keys = true;
    }

    /// A one-time or fallback key, signed by this device.
    fn signed_key(
        &self,
        kind: KeyKind,
        key_id: vodozemac::KeyId,
        key: Curve25519PublicKey,
    ) -> OneTimeKey {
        let key_id = wire(key_id.to_base64());
        let key = wire(key.to_base64());
        let text = OneTimeKey::signed_text(
            kind,
            self.id,
            self.device,
            &self.ed25519_key(),
            &key_id,
            &key,
        );
        OneTimeKey {
            signature: wire(self.account.sign(text).to_base64()),
            key_id,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{device::DeviceId, peer_id::PeerId};

    #[test]
    fn the_stock_is_topped_up_within_the_bounds() {
        // Never published: a full stock.
        assert_eq!(one_time_keys_plan(None, 0, false), (0, 50));
        assert_eq!(one_time_keys_plan(Some(0), 0, false), (0, 50));
        // Made before, not published: sent again, no more made.
        assert_eq!(one_time_keys_plan(None, 50, false), (50, 0));
        assert_eq!(one_time_keys_plan(Some(0), 20, true), (20, 30));
        // Unknown count after a stock was published: nothing new.
        assert_eq!(one_time_keys_plan(None, 0, true), (0, 0));
        assert_eq!(one_time_keys_plan(None, 3, true), (3, 0));
        // Topped up below the low mark only.
        assert_eq!(one_time_keys_plan(Some(25), 0, true), (0, 0));
        assert_eq!(one_time_keys_plan(Some(24), 0, true), (0, 26));
        assert_eq!(one_time_keys_plan(Some(60), 0, true), (0, 0));
        // Never over the directory's bound.
        assert_eq!(one_time_keys_plan(Some(90), 50, true), (10, 0));
        assert_eq!(one_time_keys_plan(Some(100), 5, true), (0, 0));
        assert_eq!(one_time_keys_plan(Some(u32::MAX), 5, true), (0, 0));
    }

    #[test]
    fn a_device_publishes_its_keys_once_and_tops_up_its_stock() {
        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let device = DeviceId::new(1).unwrap();
        let mut crypto = Crypto::new(id, device);

        let first = crypto.publish_request(None).unwrap();
        first.verify(id, device).unwrap();
        assert_eq!(first.device_keys, crypto.device_keys());
        assert_eq!(first.one_time_keys.len(), 50);
        let fallback = first.fallback_key.clone().unwrap();
        // Not taken yet: the same keys again.
        assert_eq!(crypto.publish_request(None).unwrap(), first);
        crypto.published();
        assert_eq!(crypto.publish_request(None), None);
        assert_eq!(crypto.publish_request(Some(30)), None);

        let top_up = crypto.publish_request(Some(10)).unwrap();
        top_up.verify(id, device).unwrap();
        assert_eq!(top_up.one_time_keys.len(), 40);
        assert_eq!(top_up.fallback_key, None);
        assert!(
            top_up
                .one_time_keys
                .iter()
                .all(|k| first.one_time_keys.iter().all(|f| f.key_id != k.key_id))
        );
        crypto.published();

        // A session started from the fallback key: a new one is published.
        let used = vodozemac::Curve25519PublicKey::from_base64(fallback.key.as_str()).unwrap();
        crypto.publishing.started_from(used);
        let rotated = crypto.publish_request(Some(50)).unwrap();
        rotated.verify(id, device).unwrap();
        assert!(rotated.one_time_keys.is_empty());
        let new_fallback = rotated.fallback_key.unwrap();
        assert_ne!(new_fallback.key, fallback.key);
        assert_ne!(new_fallback.key_id, fallback.key_id);
        crypto.published();
        assert_eq!(crypto.publish_request(Some(50)), None);
    }
}
