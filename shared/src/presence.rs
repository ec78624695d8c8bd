//! Presence: whether a peer is online, or when it was last seen, as its contacts see it.
//!
//! A client asks for the peers it wants to follow ([`WatchPresenceRequest`], answered
//! with each one's [`PresenceNotice`]) and then hears of their changes live (a
//! [`PresenceNotice`] each). A peer's presence is shown only to those it has written to,
//! and to nobody while it hides it ([`HidePresenceRequest`]); one who hides sees nobody's.
//! What may not be shown is [`PresenceState::Unknown`], whatever the reason, so the
//! answer says nothing more than that.

use serde::{Deserialize, Serialize};

use crate::{
    error::{ErrorCode, Rejection},
    peer_id::{PeerId, parse_peer_id},
};

/// The most peers one [`WatchPresenceRequest`] may name.
pub const MAX_WATCHED: usize = 100;

/// Where a peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// Some socket of it is registered, on some node.
    Online,
    /// None is; `last_seen` says since when, if known.
    Offline,
    /// Not to be shown: it never wrote to the one asking, hides its presence, blocks the
    /// one asking, or the one asking hides its own.
    Unknown,
}

/// One peer's presence, as a client is told it: in the answer to a watch, and live, as
/// the payload of [`crate::event::PRESENCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceNotice {
    /// Whose.
    pub peer: PeerId,
    /// Where it stands.
    pub state: PresenceState,
    /// When it was last seen, ms since the Unix epoch: only when offline, and known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
}

impl PresenceNotice {
    /// `peer` not to be shown.
    pub fn unknown(peer: PeerId) -> Self {
        Self {
            peer,
            state: PresenceState::Unknown,
            last_seen: None,
        }
    }
}

/// Payload of [`crate::event::WATCH_PRESENCE`]: the peers whose presence this socket
/// follows from now on, instead of those it followed before (none: it follows nobody's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchPresenceRequest {
    /// At most [`MAX_WATCHED`].
    pub peers: Vec<PeerId>,
}

/// A [`WatchPresenceRequest`] as received, before its fields are validated.
#[derive(Debug, Deserialize)]
pub struct RawWatchPresence {
    peers: Vec<String>,
}

impl RawWatchPresence {
    /// Validates the fields: at most [`MAX_WATCHED`] peer ids.
    pub fn check(self) -> Result<WatchPresenceRequest, Rejection> {
        if self.peers.len() > MAX_WATCHED {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!("at most {MAX_WATCHED} peers per watch"),
            ));
        }
        let mut peers = Vec::with_capacity(self.peers.len());
        for peer in &self.peers {
            let peer = parse_peer_id(peer)?;
            // At most MAX_WATCHED: a quadratic check is cheaper than a set.
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        Ok(WatchPresenceRequest { peers })
    }
}

/// The ack of [`crate::event::WATCH_PRESENCE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WatchPresenceReply {
    /// Followed from now on: each one's presence now, in the order asked.
    Ok {
        /// One per peer asked for.
        presence: Vec<PresenceNotice>,
    },
    /// Nothing changed.
    Rejected(Rejection),
}

/// Payload of [`crate::event::HIDE_PRESENCE`]: whether this person hides its presence
/// from everyone (and so sees nobody's), from now on, on every device. Kept by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HidePresenceRequest {
    /// Hidden (`true`) or shown to contacts again.
    pub hidden: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    #[test]
    fn a_notice_carries_last_seen_only_when_known() {
        let peer: PeerId = ALICE.parse().unwrap();
        let offline = PresenceNotice {
            peer,
            state: PresenceState::Offline,
            last_seen: Some(1_700_000_000_000),
        };
        assert_eq!(
            serde_json::to_value(offline).unwrap(),
            serde_json::json!({"peer": ALICE, "state": "offline", "last_seen": 1_700_000_000_000u64})
        );
        assert_eq!(
            serde_json::to_value(PresenceNotice::unknown(peer)).unwrap(),
            serde_json::json!({"peer": ALICE, "state": "unknown"})
        );
        let ok = WatchPresenceReply::Ok {
            presence: vec![offline],
        };
        let json = serde_json::to_value(&ok).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(
            serde_json::from_value::<WatchPresenceReply>(json).unwrap(),
            ok
        );
    }

    #[test]
    fn a_watch_names_at_most_the_bound_of_valid_ids_once_each() {
        let raw = |peers: Vec<String>| RawWatchPresence { peers }.check();
        let twice = raw(vec![ALICE.into(), ALICE.into()]).unwrap();
        assert_eq!(twice.peers.len(), 1);
        assert_eq!(raw(vec![]).unwrap().peers, vec![]);
        let bad = raw(vec!["bob".into()]).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidPeerId);
        let many = raw(vec![ALICE.into(); MAX_WATCHED + 1]).unwrap_err();
        assert_eq!(many.code, ErrorCode::InvalidPayload);
    }
}
