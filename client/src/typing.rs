//! Typing, both ways, as plain data: [`Typists`], the peers typing to this browser, each
//! shown for [`SHOWN_FOR_MS`] after their last notice (so it goes by itself when they
//! stop, or their socket goes); [`Throttle`], how often this browser tells a peer it is
//! typing. Never kept.

use std::collections::HashMap;

use relay_shared::PeerId;

/// How long a peer shows as typing after its last notice, in ms.
pub const SHOWN_FOR_MS: u64 = 5_000;

/// At most how often a peer is told this browser is typing to it, in ms: often enough
/// that its [`SHOWN_FOR_MS`] does not run out while typing goes on.
pub const SEND_EVERY_MS: u64 = 3_000;

/// The peers typing to this browser, and until when each shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typists {
    until: HashMap<PeerId, u64>,
}

impl Typists {
    /// `peer` said it is typing, at `now` (ms).
    pub fn heard(&mut self, peer: PeerId, now: u64) {
        self.until.insert(peer, now + SHOWN_FOR_MS);
    }

    /// `peer` is done: its message came.
    pub fn stopped(&mut self, peer: PeerId) -> bool {
        self.until.remove(&peer).is_some()
    }

    /// Forgets those whose time ran out by `now`; returns whether any did.
    pub fn expire(&mut self, now: u64) -> bool {
        let before = self.until.len();
        self.until.retain(|_, until| *until > now);
        self.until.len() != before
    }

    /// Whether `peer` is typing (as of the last [`expire`](Self::expire)).
    pub fn is_typing(&self, peer: PeerId) -> bool {
        self.until.contains_key(&peer)
    }
}

/// When each peer was last told this browser is typing to it.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    last: HashMap<PeerId, u64>,
}

impl Throttle {
    /// Whether to tell `peer` now (`now` in ms); if so, noted as told.
    pub fn due(&mut self, peer: PeerId, now: u64) -> bool {
        match self.last.get(&peer) {
            Some(&last) if now < last + SEND_EVERY_MS => false,
            _ => {
                self.last.insert(peer, now);
                true
            }
        }
    }

    /// A message went to `peer`: the next keystroke tells it again at once.
    pub fn sent(&mut self, peer: PeerId) {
        self.last.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ids::peer;

    #[test]
    fn a_typist_shows_until_its_time_runs_out_or_its_message_comes() {
        let mut t = Typists::default();
        t.heard(peer(1), 1_000);
        t.heard(peer(2), 2_000);
        assert!(t.is_typing(peer(1)) && t.is_typing(peer(2)));
        assert!(!t.expire(5_999));
        assert!(t.expire(6_000), "peer 1's five seconds are over");
        assert!(!t.is_typing(peer(1)));
        // Heard again: shown again, for five more seconds.
        t.heard(peer(2), 6_500);
        assert!(!t.expire(11_000));
        assert!(t.stopped(peer(2)));
        assert!(!t.stopped(peer(2)));
        assert_eq!(t, Typists::default());
    }

    #[test]
    fn a_peer_is_told_at_most_every_three_seconds_and_again_after_a_message() {
        let mut throttle = Throttle::default();
        assert!(throttle.due(peer(1), 0));
        assert!(!throttle.due(peer(1), 2_999));
        assert!(throttle.due(peer(2), 100), "each peer on its own");
        assert!(throttle.due(peer(1), 3_000));
        throttle.sent(peer(1));
        assert!(throttle.due(peer(1), 3_001));
    }
}
