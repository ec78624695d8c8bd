//! `watch_presence({peers})` and `hide_presence({hidden})`, typed protocol.
//!
//! A watch makes the socket follow the presence of up to
//! [`MAX_WATCHED`](relay_shared::presence::MAX_WATCHED) peers, instead of those before,
//! and answers with each one's presence now: `unknown` for those it may not see (they
//! never wrote to it, block it, hide theirs, or it hides its own), whose changes it is
//! then not told. A hide is kept by the store, told to the peer's followers at once, and
//! applies to every device of the person. Both count against the socket's message rate,
//! so presence cannot be probed at volume.

use relay_shared::{
    PeerId, Rejection,
    presence::{HidePresenceRequest, RawWatchPresence},
};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::{Protocol, Registration, typed_id},
    relay::{invalid_payload, not_registered},
};

/// A decoded `watch_presence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPresence {
    /// The peers to follow, once each, in the order asked.
    pub peers: Vec<PeerId>,
}

impl WatchPresence {
    /// Decodes the payload `{"peers": ["<uuid>", …]}`.
    pub fn decode(payload: Result<RawWatchPresence, ParserError>) -> Result<Self, Rejection> {
        let request = payload
            .map_err(|e| invalid_payload("watch_presence", "{\"peers\": [\"<uuid>\", …]}", &e))?
            .check()?;
        Ok(Self {
            peers: request.peers,
        })
    }

    /// What to do, given the socket's registration: follow from its typed id.
    pub fn apply(self, registration: Option<Registration>) -> Effects {
        match typed_id(registration) {
            Some(viewer) => vec![Effect::Follow {
                viewer,
                peers: self.peers,
            }],
            None => vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))],
        }
    }
}

/// A decoded `hide_presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidePresence {
    /// Hidden from now on, or shown again.
    pub hidden: bool,
}

impl HidePresence {
    /// Decodes the payload `{"hidden": true|false}`.
    pub fn decode(payload: Result<HidePresenceRequest, ParserError>) -> Result<Self, Rejection> {
        let request =
            payload.map_err(|e| invalid_payload("hide_presence", "{\"hidden\": true}", &e))?;
        Ok(Self {
            hidden: request.hidden,
        })
    }

    /// What to do, given the socket's registration: hide its typed id's presence.
    pub fn apply(self, registration: Option<Registration>) -> Effects {
        match typed_id(registration) {
            Some(peer) => vec![Effect::HidePresence {
                peer,
                hidden: self.hidden,
            }],
            None => vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use relay_shared::ErrorCode;

    use super::*;
    use crate::cmd::testing::{ALICE, BOB, parser_error, peer};

    #[test]
    fn decoding_checks_every_peer_and_the_shape() {
        let raw = |json: serde_json::Value| -> RawWatchPresence {
            serde_json::from_value(json).expect("the raw shape")
        };
        let watch = WatchPresence::decode(Ok(raw(serde_json::json!({"peers": [BOB, ALICE, BOB]}))));
        assert_eq!(
            watch,
            Ok(WatchPresence {
                peers: vec![peer(BOB), peer(ALICE)]
            })
        );
        let bad = WatchPresence::decode(Ok(raw(serde_json::json!({"peers": [BOB, "x"]}))));
        assert_eq!(bad.unwrap_err().code, ErrorCode::InvalidPeerId);
        let bad = WatchPresence::decode(Err(parser_error())).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidPayload);
        let bad = HidePresence::decode(Err(parser_error())).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidPayload);
    }

    #[test]
    fn only_a_typed_registration_may_watch_or_hide() {
        let typed = Registration::typed(Speaker::first(peer(ALICE)));
        let watch = WatchPresence {
            peers: vec![peer(BOB)],
        };
        assert_eq!(
            watch.clone().apply(Some(typed)),
            [Effect::Follow {
                viewer: peer(ALICE),
                peers: vec![peer(BOB)]
            }]
        );
        let hide = HidePresence { hidden: true };
        assert_eq!(
            hide.apply(Some(typed)),
            [Effect::HidePresence {
                peer: peer(ALICE),
                hidden: true
            }]
        );
        let seed = Some(Registration::seed(typed.id));
        for registration in [None, seed] {
            for effects in [watch.clone().apply(registration), hide.apply(registration)] {
                assert!(
                    matches!(&effects[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered),
                    "{effects:?}"
                );
            }
        }
    }
}
