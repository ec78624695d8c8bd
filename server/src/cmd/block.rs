//! `block({peer})` and `unblock({peer})`, typed protocol: from now on nothing `peer`
//! sends reaches the socket's peer, or it does again. The store drops `peer`'s typed
//! messages to it (answered to `peer` as stored, so it learns nothing), and every node
//! where the peer has sockets hears of the change and stops relaying `peer`'s seed
//! messages and typing to them. At most [`MAX_BLOCKED`] blocked ids per person. Counts
//! against the socket's message rate.

use relay_shared::{
    ErrorCode, PeerId, Rejection,
    message::{MAX_BLOCKED, RawBlock},
};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::{Registration, typed_id},
    relay::{Relay, invalid_payload, not_registered, unavailable},
};

/// A decoded `block` (`on`) or `unblock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Whom.
    pub peer: PeerId,
    /// Block, or unblock.
    pub on: bool,
}

impl Block {
    /// Decodes the payload `{"peer": "<uuid>"}` of `block` (`on`) or `unblock`.
    pub fn decode(payload: Result<RawBlock, ParserError>, on: bool) -> Result<Self, Rejection> {
        let event = if on { "block" } else { "unblock" };
        let request = payload
            .map_err(|e| invalid_payload(event, "{\"peer\": \"<uuid>\"}", &e))?
            .check()?;
        Ok(Self {
            peer: request.peer,
            on,
        })
    }

    /// Records it for the socket's typed id, durably, and answers.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        let Some(owner) = typed_id(registration) else {
            return vec![Effect::Reply(Reply::Rejected(not_registered(
                crate::protocol::Protocol::Typed,
            )))];
        };
        let reply = match relay.store().block(owner, self.peer, self.on).await {
            Ok(true) if self.on => {
                // Nor does the blocked peer see the owner's presence anymore.
                return vec![
                    Effect::HideFrom {
                        owner,
                        peer: self.peer,
                    },
                    Effect::Reply(Reply::Confirmed),
                ];
            }
            Ok(true) => Reply::Confirmed,
            Ok(false) => Reply::Rejected(Rejection::new(
                ErrorCode::LimitReached,
                format!("at most {MAX_BLOCKED} ids can be blocked; unblock some first"),
            )),
            Err(error) => Reply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(reply)]
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::SendReply;
    use relay_shared::device::DeviceId;

    use super::*;
    use crate::{
        cmd::{
            Send,
            testing::{ALICE, BOB, TestRelay, parser_error, peer},
        },
        protocol::Speaker,
        store::Notice,
    };

    #[test]
    fn decoding_checks_the_peer() {
        let raw = |peer: &str| -> RawBlock {
            serde_json::from_value(serde_json::json!({ "peer": peer })).unwrap()
        };
        assert_eq!(
            Block::decode(Ok(raw(BOB)), true),
            Ok(Block {
                peer: peer(BOB),
                on: true
            })
        );
        assert_eq!(
            Block::decode(Ok(raw("bob")), false).unwrap_err().code,
            ErrorCode::InvalidPeerId
        );
        assert_eq!(
            Block::decode(Err(parser_error()), true).unwrap_err().code,
            ErrorCode::InvalidPayload
        );
    }

    #[tokio::test]
    async fn a_blocked_senders_message_is_answered_as_stored_and_kept_nowhere() {
        let mut t = TestRelay::new();
        let bob = Registration::typed(Speaker::first(peer(BOB)));
        let block = Block {
            peer: peer(ALICE),
            on: true,
        };
        assert_eq!(
            block.apply(&t.relay, Some(bob)).await,
            [
                Effect::HideFrom {
                    owner: peer(BOB),
                    peer: peer(ALICE)
                },
                Effect::Reply(Reply::Confirmed)
            ]
        );
        assert_eq!(
            t.notices.next().await,
            Some(Notice::Blocked {
                owner: peer(BOB),
                peer: peer(ALICE),
                on: true
            })
        );
        let send = |body: &str| Send {
            to: peer(BOB),
            body: body.into(),
            id: None,
            encrypted: None,
        };
        let effects = send("let me in")
            .store(
                &t.relay,
                Speaker::first(peer(ALICE)),
                &crate::cmd::SendOrder::default(),
            )
            .finish()
            .await;
        assert!(
            matches!(
                effects[..],
                [Effect::Reply(Reply::Send(SendReply::Sent { .. }))]
            ),
            "{effects:?}"
        );
        assert!(
            t.relay
                .store()
                .waiting(peer(BOB), DeviceId::FIRST, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // Unblocked: what comes after is stored again.
        let unblock = Block { on: false, ..block };
        unblock.apply(&t.relay, Some(bob)).await;
        send("sorry")
            .store(
                &t.relay,
                Speaker::first(peer(ALICE)),
                &crate::cmd::SendOrder::default(),
            )
            .finish()
            .await;
        let waiting = t
            .relay
            .store()
            .waiting(peer(BOB), DeviceId::FIRST, 0, 10)
            .await
            .unwrap();
        assert_eq!(
            waiting.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
            ["sorry"]
        );
        // Only a typed registration can block.
        let effects = block.apply(&t.relay, None).await;
        assert!(
            matches!(&effects[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered)
        );
    }
}
