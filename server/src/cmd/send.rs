//! `send({to, body, id?})`, typed protocol: store a message until its recipient's client
//! confirms it. Acknowledged `sent` once durable; delivered by the store's notice of it
//! (`crate::delivery`), on whichever node the recipient's sockets are.
//!
//! An end-to-end encrypted message must be encrypted for exactly the devices that
//! publish keys now, the recipient's and the sender's others
//! ([`crate::encryption_check`]), or it is refused as `devices_changed` and the sender
//! learns their keys again: no device misses a message because its sender had not heard
//! of it yet, and none that was unlinked gets one. The SQLite store checks it in the
//! step that appends it; on Redis it is checked here first ([`check_devices`]).
//!
//! Two steps, so that one socket's messages are stored in the order sent while its next
//! events are already being handled: [`Send::store`] queues the append at once, in
//! arrival order, and [`Storing::finish`] waits for it in a second ordered queue.

use std::sync::{Mutex, PoisonError};

use futures_util::{FutureExt, future::BoxFuture};
use relay_shared::{
    ErrorCode, MessageId, PeerId, Rejection, SendReply, encrypted::Encrypted, message::RawSend,
};
use socketioxide::ParserError;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::{
    effects::{Effect, Effects, Reply},
    encryption_check,
    protocol::{Protocol, Registration, Speaker, typed_speaker},
    relay::{Relay, invalid_payload, not_registered, unavailable},
    store::{AppendError, Appended, NewMessage, Store},
};

/// A decoded `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The recipient.
    pub to: PeerId,
    /// The text; "" when [`Self::encrypted`].
    pub body: String,
    /// The sender's id for it, kept across resends; made up when absent.
    pub id: Option<MessageId>,
    /// The text end-to-end encrypted, which the server keeps and passes on unread.
    pub encrypted: Option<Encrypted>,
}

/// Why a message was not stored.
#[derive(Debug)]
enum NotStored {
    /// Its check against the key directory refused it.
    Refused(Rejection),
    /// The store did not take it.
    Append(AppendError),
}

/// A message on its way into the store.
pub struct Storing {
    id: MessageId,
    to: PeerId,
    commit: BoxFuture<'static, Result<Appended, NotStored>>,
}

impl Send {
    /// Decodes the payload `{"to": "<uuid>", "body": "<text>", "id"?: "<uuid>"}`, or
    /// `{"to": "<uuid>", "encrypted": {…}, "id"?: "<uuid>"}`.
    pub fn decode(
        payload: Result<RawSend, ParserError>,
        max_body_bytes: usize,
    ) -> Result<Self, Rejection> {
        let request = payload
            .map_err(|e| {
                invalid_payload(
                    "send",
                    "{\"to\": \"<uuid>\", \"body\" or \"encrypted\": …, \"id\"?: \"<uuid>\"}",
                    &e,
                )
            })?
            .check(max_body_bytes)?;
        Ok(Self {
            to: request.to,
            body: request.body,
            id: request.id,
            encrypted: request.encrypted,
        })
    }

    /// Who sends, given the socket's registration: its typed id and device, or the
    /// refusal to carry out instead.
    pub fn sender(registration: Option<Registration>) -> Result<Speaker, Effects> {
        typed_speaker(registration).ok_or_else(|| {
            vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))]
        })
    }

    /// Queues the message from `from` in the store, which takes it in call order; an
    /// encrypted one, where the store does not check it itself, once checked against the
    /// key directory ([`SendOrder`] keeps the socket's order meanwhile).
    pub fn store(self, relay: &Relay, from: Speaker, order: &SendOrder) -> Storing {
        let id = self
            .id
            .unwrap_or_else(|| MessageId::from_uuid(Uuid::new_v4()));
        let to = self.to;
        let message = NewMessage {
            id,
            from: from.id,
            to,
            body: self.body,
            encrypted: self.encrypted,
            device: from.device,
        };
        let mut gate = order.gate.lock().unwrap_or_else(PoisonError::into_inner);
        let before = gate.take().and_then(|mut before| match before.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => Some(before),
            _ => None,
        });
        if before.is_none() && (message.encrypted.is_none() || relay.store().checks_encrypted()) {
            // Nothing ahead waits, nothing to check first: queued now.
            let commit = relay.store().append(message);
            return Storing {
                id,
                to,
                commit: async move { commit.await.map_err(NotStored::Append) }.boxed(),
            };
        }
        let (queued, next) = oneshot::channel();
        *gate = Some(next);
        Storing::behind(id, relay, message, from, before, queued)
    }
}

/// One socket's sends, queued into the store in the order they came. A plain one with
/// nothing waiting ahead of it is queued at once; an encrypted one waits for its check
/// against the key directory (which runs at once, beside the others), and whatever the
/// socket sends meanwhile is queued behind it, by a task, as soon as it is.
#[derive(Debug, Default)]
pub struct SendOrder {
    /// Resolves once the socket's last send that could not be queued at once is.
    gate: Mutex<Option<oneshot::Receiver<()>>>,
}

/// Checks `encrypted`, from `from` to `to`, against the key directory as read now, for a
/// store that does not check it itself.
async fn check_devices(
    store: &dyn Store,
    from: Speaker,
    to: PeerId,
    encrypted: &Encrypted,
) -> Result<(), Rejection> {
    let (theirs, mine) = if to == from.id {
        (None, store.keys(from.id).await)
    } else {
        let (theirs, mine) = futures_util::future::join(store.keys(to), store.keys(from.id)).await;
        (Some(theirs), mine)
    };
    let mine = encryption_check::published(&mine.map_err(|error| unavailable(&error))?);
    let theirs = theirs
        .transpose()
        .map_err(|error| unavailable(&error))?
        .map(|listed| encryption_check::published(&listed));
    encryption_check::covers(
        encrypted,
        from.id,
        from.device,
        to,
        theirs.as_deref(),
        &mine,
    )
}

impl Storing {
    /// `message` from `from`, queued by a task once `before` is queued and, if it is
    /// encrypted, its check (which starts at once, beside what is ahead) passed; the
    /// task says so on `queued`.
    fn behind(
        id: MessageId,
        relay: &Relay,
        message: NewMessage,
        from: Speaker,
        before: Option<oneshot::Receiver<()>>,
        queued: oneshot::Sender<()>,
    ) -> Self {
        let to = message.to;
        let store = relay.shared_store();
        let task = tokio::spawn(async move {
            let checked = match &message.encrypted {
                Some(encrypted) if !store.checks_encrypted() => {
                    check_devices(&*store, from, to, encrypted).await
                }
                _ => Ok(()),
            };
            if let Some(before) = before {
                // Resolved or dropped, either way it is queued (or never will be).
                let _ = before.await;
            }
            let commit = checked.map(|()| store.append(message));
            let _ = queued.send(());
            match commit {
                Ok(commit) => commit.await.map_err(NotStored::Append),
                Err(rejection) => Err(NotStored::Refused(rejection)),
            }
        });
        Self {
            id,
            to,
            commit: async move {
                task.await.unwrap_or_else(|_| {
                    Err(NotStored::Refused(Rejection::new(
                        ErrorCode::Unavailable,
                        "the message could not be stored; send it again",
                    )))
                })
            }
            .boxed(),
        }
    }

    /// Waits until the message is durable and says so to the sender.
    pub async fn finish(self) -> Effects {
        let Self { id, to, commit } = self;
        let reply = match commit.await {
            Ok(appended) => SendReply::Sent {
                id,
                seq: appended.seq,
                sent_at: appended.sent_at,
            },
            Err(
                NotStored::Refused(rejection) | NotStored::Append(AppendError::Refused(rejection)),
            ) => SendReply::Rejected(rejection),
            Err(NotStored::Append(AppendError::QueueFull { limit })) => {
                SendReply::Rejected(Rejection::new(
                    ErrorCode::QueueFull,
                    format!("{to} already has {limit} messages waiting; try again later"),
                ))
            }
            Err(NotStored::Append(AppendError::ShareFull { limit })) => {
                SendReply::Rejected(Rejection::new(
                    ErrorCode::QueueFull,
                    format!(
                        "you already have {limit} messages waiting for {to}, as many as one sender may; try again once some are read"
                    ),
                ))
            }
            Err(NotStored::Append(AppendError::Store(error))) => {
                SendReply::Rejected(unavailable(&error))
            }
        };
        vec![Effect::Reply(Reply::Send(reply))]
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use relay_shared::device::DeviceId;
    use relay_shared::{Envelope, ErrorCode};

    use super::*;
    use crate::clock::Clock as _;
    use crate::{
        cmd::testing::{ALICE, BOB, TestRelay, peer},
        store::Notice,
    };

    fn stored(n: u8, t: &TestRelay) -> Storing {
        send(n).store(&t.relay, Speaker::first(peer(ALICE)), &SendOrder::default())
    }

    fn send(n: u8) -> Send {
        Send {
            to: peer(BOB),
            body: format!("message {n}"),
            id: Some(MessageId::from_uuid(Uuid::from_u128(u128::from(n) + 1))),
            encrypted: None,
        }
    }

    fn rejected(effects: &Effects) -> ErrorCode {
        match &effects[..] {
            [Effect::Reply(Reply::Send(SendReply::Rejected(r)))]
            | [Effect::Reply(Reply::Rejected(r))] => r.code,
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[tokio::test]
    async fn sends_behind_an_encrypted_one_being_checked_keep_their_order() {
        let t = TestRelay::new();
        let order = SendOrder::default();
        let alice = Speaker::first(peer(ALICE));
        let key = vodozemac::Curve25519PublicKey::from_bytes([3; 32])
            .to_base64()
            .try_into()
            .unwrap();
        // From a device that published no keys: refused once checked.
        let encrypted = Send {
            body: String::new(),
            encrypted: Some(Encrypted {
                sender_device: DeviceId::FIRST,
                sender_key: key,
                ciphertexts: Vec::new(),
            }),
            ..send(1)
        };
        let storing = [
            encrypted.store(&t.relay, alice, &order),
            send(2).store(&t.relay, alice, &order),
            send(3).store(&t.relay, alice, &order),
        ];
        let mut seqs = Vec::new();
        for (n, storing) in storing.into_iter().enumerate() {
            let effects = storing.finish().await;
            match &effects[..] {
                [Effect::Reply(Reply::Send(SendReply::Sent { seq, .. }))] => seqs.push(*seq),
                _ if n == 0 => assert_eq!(rejected(&effects), ErrorCode::InvalidPayload),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seqs.len(), 2);
        assert!(seqs[0] < seqs[1], "{seqs:?}");
        // With nothing waiting any more, the next is queued at once, after them.
        let effects = send(4).store(&t.relay, alice, &order).finish().await;
        let [Effect::Reply(Reply::Send(SendReply::Sent { seq, .. }))] = effects[..] else {
            panic!("{effects:?}");
        };
        assert!(seq > seqs[1]);
    }

    #[tokio::test]
    async fn a_message_is_acknowledged_once_stored_and_noticed_for_its_recipient() {
        let mut t = TestRelay::new();
        let effects = stored(1, &t).finish().await;
        let [Effect::Reply(Reply::Send(SendReply::Sent { seq, sent_at, .. }))] = effects[..] else {
            panic!("{effects:?}");
        };
        assert_eq!(sent_at, t.clock.now_millis());
        assert_eq!(
            t.notices.next().await,
            Some(Notice::Message(Envelope {
                id: MessageId::from_uuid(Uuid::from_u128(2)),
                from: peer(ALICE),
                to: peer(BOB),
                body: "message 1".into(),
                encrypted: None,
                sent_at,
                seq,
            }))
        );
    }

    #[tokio::test]
    async fn only_a_typed_registration_sends() {
        let t = TestRelay::new();
        let seed = Some(Registration::seed(peer(ALICE)));
        for from in [None, seed] {
            let Err(effects) = Send::sender(from) else {
                panic!("sent without a typed registration");
            };
            assert_eq!(rejected(&effects), ErrorCode::NotRegistered);
        }
        let typed = Registration::typed(Speaker::first(peer(ALICE)));
        assert_eq!(
            Send::sender(Some(typed)).ok(),
            Some(Speaker::first(peer(ALICE)))
        );
        assert!(
            t.relay
                .store()
                .waiting(peer(BOB), DeviceId::FIRST, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_resend_keeps_its_place() {
        let t = TestRelay::with_max_queue(2);
        let first = stored(1, &t).finish().await;
        stored(2, &t).finish().await;
        let full = stored(3, &t).finish().await;
        assert_eq!(rejected(&full), ErrorCode::QueueFull);
        let again = stored(1, &t).finish().await;
        assert_eq!(again, first, "the same seq and time as the first time");
    }

    #[tokio::test]
    async fn what_waited_past_the_ttl_is_dropped_and_frees_its_place() {
        let t = TestRelay::with_max_queue(2);
        stored(1, &t).finish().await;
        t.clock.advance(TestRelay::TTL.as_millis() as u64 / 2);
        stored(2, &t).finish().await;
        assert_eq!(
            t.relay.expire().await.unwrap(),
            0,
            "nothing is old enough yet"
        );

        t.clock.advance(TestRelay::TTL.as_millis() as u64 / 2 + 1);
        assert_eq!(t.relay.expire().await.unwrap(), 1);
        let left = t
            .relay
            .store()
            .waiting(peer(BOB), DeviceId::FIRST, 0, 10)
            .await
            .unwrap();
        assert_eq!(
            left.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
            ["message 2"]
        );
        let third = stored(3, &t).finish().await;
        assert!(
            matches!(
                &third[..],
                [Effect::Reply(Reply::Send(SendReply::Sent { .. }))]
            ),
            "{third:?}"
        );
    }
}
