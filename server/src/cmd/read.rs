//! `read({from, ids})`, typed protocol: the socket's peer has seen these messages of
//! `from`'s. Each becomes a read receipt for `from` (a `receipt` with `read_at`), kept
//! until `from` confirms it, like a delivery receipt, however long `from` stays away.
//! Counts against the socket's message rate: the ids are not checked against what was
//! sent (a receipt for a message `from` never sent is ignored by its client), so a
//! flood of them is bounded there.
//!
//! Two steps, like `received`: [`Read::record`] queues the store's write at once, and
//! [`Reading::finish`] completes it in the socket's ordered queue of work waiting for the
//! store, so a `received` and then a `read` of the same messages are written in that
//! order.

use futures_util::future::BoxFuture;
use relay_shared::{
    MessageId, PeerId, Rejection,
    message::{RawRead, ReadRequest},
};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::{Protocol, Registration, typed_id},
    relay::{Relay, invalid_payload, not_registered, unavailable},
    store::StoreError,
};

/// A decoded `read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Who sent the messages.
    pub from: PeerId,
    /// Which, by the sender's ids.
    pub ids: Vec<MessageId>,
}

/// A read being written.
pub struct Reading {
    write: BoxFuture<'static, Result<(), StoreError>>,
}

impl Read {
    /// Decodes the payload `{"from": "<uuid>", "ids": ["<uuid>"…]}`.
    pub fn decode(payload: Result<RawRead, ParserError>) -> Result<Self, Rejection> {
        let ReadRequest { from, ids } = payload
            .map_err(|e| {
                invalid_payload("read", "{\"from\": \"<uuid>\", \"ids\": [\"<uuid>\"…]}", &e)
            })?
            .check()?;
        Ok(Self { from, ids })
    }

    /// Who read them, given the socket's registration: its typed id, or the refusal to
    /// carry out instead.
    pub fn reader(registration: Option<Registration>) -> Result<PeerId, Effects> {
        typed_id(registration).ok_or_else(|| {
            vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))]
        })
    }

    /// Queues the store's write for `me`, which the store takes in call order.
    pub fn record(self, relay: &Relay, me: PeerId) -> Reading {
        Reading {
            write: relay.store().read(me, self.from, self.ids),
        }
    }
}

impl Reading {
    /// Waits until the write is durable, and answers.
    pub async fn finish(self) -> Effects {
        let reply = match self.write.await {
            Ok(()) => Reply::Confirmed,
            Err(error) => Reply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(reply)]
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use relay_shared::device::DeviceId;
    use relay_shared::{ErrorCode, Receipt, SendReply};

    use super::*;
    use crate::{
        clock::Clock as _,
        cmd::{
            Backlogs, Confirm, Send,
            testing::{ALICE, BOB, TestRelay, parser_error, peer},
        },
        store::{Notice, ReceiptFor},
    };

    fn raw(json: serde_json::Value) -> RawRead {
        serde_json::from_value(json).expect("the raw shape")
    }

    #[test]
    fn decoding_checks_the_sender_and_the_ids() {
        let id = "0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c";
        let read = Read::decode(Ok(raw(serde_json::json!({"from": ALICE, "ids": [id]}))));
        assert_eq!(
            read,
            Ok(Read {
                from: peer(ALICE),
                ids: vec![id.parse().unwrap()]
            })
        );
        let code = |json| Read::decode(Ok(raw(json))).unwrap_err().code;
        assert_eq!(
            code(serde_json::json!({"from": "alice", "ids": [id]})),
            ErrorCode::InvalidPeerId
        );
        assert_eq!(
            code(serde_json::json!({"from": ALICE, "ids": ["x"]})),
            ErrorCode::InvalidMessageId
        );
        assert_eq!(
            Read::decode(Err(parser_error())).unwrap_err().code,
            ErrorCode::InvalidPayload
        );
    }

    #[test]
    fn reading_needs_a_typed_registration() {
        let seed = Registration::seed(peer(ALICE));
        for registration in [None, Some(seed)] {
            let Err(effects) = Read::reader(registration) else {
                panic!("read without a typed registration");
            };
            assert!(matches!(
                &effects[..],
                [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered
            ));
        }
    }

    #[tokio::test]
    async fn a_read_message_turns_its_delivery_receipt_into_a_read_receipt() {
        let mut t = TestRelay::new();
        let send = Send {
            to: peer(BOB),
            body: "hi".into(),
            id: None,
            encrypted: None,
        };
        let effects = send
            .store(
                &t.relay,
                Speaker::first(peer(ALICE)),
                &crate::cmd::SendOrder::default(),
            )
            .finish()
            .await;
        let [Effect::Reply(Reply::Send(SendReply::Sent { id, seq, .. }))] = effects[..] else {
            panic!("{effects:?}");
        };
        assert!(matches!(t.notices.next().await, Some(Notice::Message(_))));

        // Bob reads it before confirming it: too early, nothing to say yet.
        let read = Read {
            from: peer(ALICE),
            ids: vec![id],
        };
        let effects = read.clone().record(&t.relay, peer(BOB)).finish().await;
        assert_eq!(effects, [Effect::Reply(Reply::Confirmed)]);

        t.clock.advance(100);
        let delivered_at = t.clock.now_millis();
        let confirm = Confirm {
            received: relay_shared::Received {
                messages: vec![seq],
                receipts: vec![],
            },
        };
        confirm
            .record(&t.relay, Speaker::first(peer(BOB)))
            .finish(&t.relay, &mut Backlogs::default())
            .await;
        assert!(matches!(
            t.notices.next().await,
            Some(Notice::Receipt(ReceiptFor {
                receipt: Receipt { read_at: None, .. },
                ..
            }))
        ));

        t.clock.advance(5_000);
        let effects = read.clone().record(&t.relay, peer(BOB)).finish().await;
        assert_eq!(effects, [Effect::Reply(Reply::Confirmed)]);
        let Some(Notice::Receipt(ReceiptFor { sender, receipt })) = t.notices.next().await else {
            panic!("no read receipt");
        };
        assert_eq!(sender, peer(ALICE));
        assert_eq!(
            (
                receipt.id,
                receipt.to,
                receipt.delivered_at,
                receipt.read_at
            ),
            (id, peer(BOB), delivered_at, Some(t.clock.now_millis()))
        );
        // What waits for Alice, however late she comes: the read receipt alone.
        assert_eq!(
            t.relay
                .store()
                .receipts(peer(ALICE), DeviceId::FIRST, 0, 10)
                .await
                .unwrap(),
            [receipt]
        );
        // Read again: already waiting, nothing new.
        read.record(&t.relay, peer(BOB)).finish().await;
        assert_eq!(
            t.relay
                .store()
                .receipts(peer(ALICE), DeviceId::FIRST, 0, 10)
                .await
                .unwrap(),
            [receipt]
        );
    }
}
