//! `received({messages, receipts})`, typed protocol: the client has kept these messages
//! and receipts. The messages stop waiting and become receipts for their senders (the
//! store's notices carry them there); the receipts are forgotten; and if the
//! confirmation ends a page of what waited, the next page goes out.
//!
//! Two steps, like `send`: [`Confirm::record`] queues the store's writes at once, so the
//! socket's next events need not wait for them, and [`Recording::finish`] completes them
//! in the socket's ordered queue of work waiting for the store.

use futures_util::future::BoxFuture;
use relay_shared::{ErrorCode, Received, Rejection};
use socketioxide::ParserError;

use crate::{
    cmd::backlog::Backlogs,
    effects::{Effect, Effects, Reply},
    protocol::{Protocol, Registration, Speaker, typed_speaker},
    relay::{Relay, invalid_payload, not_registered},
    store::StoreError,
};

/// A decoded `received`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// What the client holds.
    pub received: Received,
}

/// A confirmation being written.
pub struct Recording {
    me: Speaker,
    received: Received,
    delivered: Option<BoxFuture<'static, Result<(), StoreError>>>,
    forgotten: Option<BoxFuture<'static, Result<(), StoreError>>>,
}

impl Confirm {
    /// Decodes the payload `{"messages": [<seq>…], "receipts": [<seq>…]}`.
    pub fn decode(payload: Result<Received, ParserError>) -> Result<Self, Rejection> {
        let received = payload
            .map_err(|e| {
                invalid_payload(
                    "received",
                    "{\"messages\": [<seq>…], \"receipts\": [<seq>…]}",
                    &e,
                )
            })?
            .check()?;
        Ok(Self { received })
    }

    /// Whose confirmation this is, given the socket's registration: its typed id and
    /// device, or the refusal to carry out instead.
    pub fn recipient(registration: Option<Registration>) -> Result<Speaker, Effects> {
        typed_speaker(registration).ok_or_else(|| {
            vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))]
        })
    }

    /// Queues the store's writes for `me`, which the store takes in call order.
    pub fn record(self, relay: &Relay, me: Speaker) -> Recording {
        let received = self.received;
        let messages: Vec<u64> = received
            .messages
            .iter()
            .copied()
            .filter(|&s| s > 0)
            .collect();
        Recording {
            me,
            delivered: (!messages.is_empty())
                .then(|| relay.store().delivered(me.id, me.device, messages)),
            forgotten: (!received.receipts.is_empty()).then(|| {
                relay
                    .store()
                    .forget_receipts(me.id, me.device, received.receipts.clone())
            }),
            received,
        }
    }
}

impl Recording {
    /// Waits until the writes are durable, answers, and sends the next page of what waits
    /// if this confirmation ends one.
    pub async fn finish(self, relay: &Relay, backlogs: &mut Backlogs) -> Effects {
        let Self {
            me,
            received,
            delivered,
            forgotten,
        } = self;
        for write in [delivered, forgotten].into_iter().flatten() {
            if let Err(error) = write.await {
                tracing::error!(%error, "could not record a confirmation");
                return vec![Effect::Reply(Reply::Rejected(Rejection::new(
                    ErrorCode::Unavailable,
                    "the server could not record this; send it again",
                )))];
            }
        }
        let mut effects = vec![Effect::Reply(Reply::Confirmed)];
        effects.extend(backlogs.confirmed(relay, me, &received).await);
        effects
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use relay_shared::device::DeviceId;
    use relay_shared::{Receipt, SendReply};

    use super::*;
    use crate::clock::Clock as _;
    use crate::{
        cmd::{
            Send,
            testing::{ALICE, BOB, TestRelay, peer},
        },
        store::{Notice, ReceiptFor},
    };

    #[tokio::test]
    async fn a_confirmed_message_becomes_a_receipt_for_its_sender() {
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

        t.clock.advance(250);
        let confirm = Confirm {
            received: Received {
                messages: vec![seq],
                receipts: vec![],
            },
        };
        // Only its recipient can confirm it.
        let mut backlogs = Backlogs::default();
        let effects = confirm
            .clone()
            .record(&t.relay, Speaker::first(peer(ALICE)))
            .finish(&t.relay, &mut backlogs)
            .await;
        assert_eq!(effects, [Effect::Reply(Reply::Confirmed)]);
        let effects = confirm
            .record(&t.relay, Speaker::first(peer(BOB)))
            .finish(&t.relay, &mut backlogs)
            .await;
        assert_eq!(effects, [Effect::Reply(Reply::Confirmed)]);
        let receipt = Receipt {
            id,
            to: peer(BOB),
            delivered_at: t.clock.now_millis(),
            read_at: None,
            seq,
        };
        assert_eq!(
            t.notices.next().await,
            Some(Notice::Receipt(ReceiptFor {
                sender: peer(ALICE),
                receipt
            }))
        );
        assert_eq!(
            t.relay
                .store()
                .receipts(peer(ALICE), DeviceId::FIRST, 0, 10)
                .await
                .unwrap(),
            [receipt]
        );
    }

    #[tokio::test]
    async fn confirming_needs_a_typed_registration() {
        let Err(effects) = Confirm::recipient(None) else {
            panic!("recorded without a registration");
        };
        assert!(matches!(
            &effects[..],
            [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered
        ));
    }
}
