//! [`Drafts`]: what was typed and not yet sent, one per conversation, so that text
//! written for one peer stays with that peer and is never sent to another. Plain data,
//! kept in `localStorage`.

use std::collections::BTreeMap;

use relay_shared::PeerId;
use serde::{Deserialize, Serialize};

/// The drafts, by peer; text typed before any peer was chosen is "unaddressed".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drafts {
    #[serde(default)]
    unaddressed: String,
    #[serde(default)]
    by_peer: BTreeMap<PeerId, String>,
}

impl Drafts {
    /// The draft for `peer` (`None`: no peer chosen yet).
    pub fn get(&self, peer: Option<PeerId>) -> &str {
        match peer {
            None => &self.unaddressed,
            Some(peer) => self.by_peer.get(&peer).map_or("", String::as_str),
        }
    }

    /// Replaces the draft for `peer`; an empty one is forgotten.
    pub fn set(&mut self, peer: Option<PeerId>, text: String) {
        match peer {
            None => self.unaddressed = text,
            Some(peer) if text.is_empty() => {
                self.by_peer.remove(&peer);
            }
            Some(peer) => {
                self.by_peer.insert(peer, text);
            }
        }
    }

    /// A conversation with `peer` opened from none: text typed before choosing the peer
    /// goes to it, unless it has a draft of its own.
    pub fn address(&mut self, peer: PeerId) {
        if !self.unaddressed.is_empty() && self.get(Some(peer)).is_empty() {
            let text = std::mem::take(&mut self.unaddressed);
            self.by_peer.insert(peer, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ids::*;

    #[test]
    fn each_conversation_keeps_its_own_draft() {
        let mut d = Drafts::default();
        d.set(Some(peer(1)), "for one".into());
        d.set(Some(peer(2)), "for two".into());
        assert_eq!(d.get(Some(peer(1))), "for one");
        assert_eq!(d.get(Some(peer(2))), "for two");
        assert_eq!(d.get(Some(peer(3))), "");
        d.set(Some(peer(1)), String::new());
        assert_eq!(d.get(Some(peer(1))), "");
        assert_eq!(d.by_peer.len(), 1, "an emptied draft is forgotten");
    }

    #[test]
    fn text_typed_before_the_peer_goes_to_the_first_peer_chosen() {
        let mut d = Drafts::default();
        d.set(None, "hello".into());
        d.set(Some(peer(2)), "already here".into());
        d.address(peer(2));
        assert_eq!(d.get(Some(peer(2))), "already here", "its own draft wins");
        assert_eq!(d.get(None), "hello");
        d.address(peer(1));
        assert_eq!(d.get(Some(peer(1))), "hello");
        assert_eq!(d.get(None), "");
    }

    #[test]
    fn drafts_survive_a_round_trip_through_json() {
        let mut d = Drafts::default();
        d.set(None, "unaddressed".into());
        d.set(Some(peer(1)), "multi\nline ✓".into());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Drafts>(&json).unwrap(), d);
        assert_eq!(
            serde_json::from_str::<Drafts>("{}").unwrap(),
            Drafts::default()
        );
    }
}
