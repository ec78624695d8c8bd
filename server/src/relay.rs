//! [`Relay`]: what registering, sending and confirming do. Shared by every socket.
//!
//! Each peer id has two Socket.IO rooms, one per [`Protocol`], because a broadcast sends
//! one packet to a whole room and the two protocols deliver in different shapes: seed
//! sockets get `message(text)`, typed sockets get `deliver(envelope)`. Rooms, not a map
//! of socket ids, so every tab of a peer receives, a reconnect needs no bookkeeping, and
//! socketioxide's Redis adapter can carry the same broadcasts across nodes.
//!
//! Typed messages go through the [`Store`]: stored before the sender hears `sent`,
//! delivered live after that, and kept until the recipient's client confirms them
//! (`received`), at which point the sender gets a receipt. Seed messages only go to the
//! sockets connected at the time, as in the seed.

use std::{
    any::TypeId,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use futures_util::future::BoxFuture;
use relay_shared::{
    Envelope, ErrorCode, MessageId, PeerId, Received, RegisterReply, Rejection, Secret, SendReply,
    event, message::DEFAULT_MAX_BODY_BYTES,
};
use socketioxide::{
    BroadcastError, SendError, SocketError,
    adapter::{Adapter, LocalAdapter},
    extract::SocketRef,
};
use uuid::Uuid;

use crate::{
    command::Protocol,
    identity::SecretHash,
    store::{AppendError, Appended, Claim, NewMessage, ReceiptFor, Store, StoreError},
};

/// Limits applied to what clients send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message body, in bytes of UTF-8.
    pub max_body_bytes: usize,
    /// Events one socket may have waiting for their turn (and, separately, typed sends
    /// waiting for the store).
    pub max_pending_events: usize,
    /// Stored messages sent to a registering socket at a time; the next batch goes once
    /// the client confirms the last of these.
    pub backlog_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending_events: crate::Config::DEFAULT_MAX_PENDING_EVENTS,
            backlog_page: 128,
        }
    }
}

/// Under which id, and in which protocol, a socket is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The peer id.
    pub id: PeerId,
    /// The protocol it registered in.
    pub protocol: Protocol,
}

impl Registration {
    fn room(&self) -> String {
        room(self.id, self.protocol)
    }
}

/// The name of the room of `id`'s sockets registered in `protocol`.
fn room(id: PeerId, protocol: Protocol) -> String {
    match protocol {
        Protocol::Seed => format!("seed:{id}"),
        Protocol::Typed => format!("peer:{id}"),
    }
}

/// A message to relay, as the sender's socket handed it over.
#[derive(Debug)]
pub struct Outgoing {
    /// The recipient.
    pub to: PeerId,
    /// The text.
    pub body: String,
    /// The sender's id for it, if any.
    pub id: Option<MessageId>,
}

/// A typed message on its way into the store.
pub struct Appending {
    /// The message, its `seq` still to come.
    pub envelope: Envelope,
    /// Completes once it is durable.
    pub commit: BoxFuture<'static, Result<Appended, AppendError>>,
}

/// A `received` being recorded: its store writes, queued.
pub struct Recording {
    delivered: Option<BoxFuture<'static, Result<Vec<ReceiptFor>, StoreError>>>,
    forgotten: Option<BoxFuture<'static, Result<(), StoreError>>>,
}

/// The relay service: registration, delivery, confirmation.
pub struct Relay {
    limits: Limits,
    store: Arc<dyn Store>,
}

impl Relay {
    /// A relay applying `limits`, keeping messages in `store`.
    pub fn new(limits: Limits, store: Arc<dyn Store>) -> Self {
        Self { limits, store }
    }

    /// The limits applied to clients.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Seed protocol: registers `socket` under `id` unless someone owns `id`.
    pub async fn init<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        current: &mut Option<Registration>,
        id: PeerId,
    ) -> RegisterReply {
        match self.store.is_claimed(id).await {
            Ok(false) => {}
            Ok(true) => return RegisterReply::Rejected(forbidden(id)),
            Err(error) => return RegisterReply::Rejected(unavailable(&error)),
        }
        move_to(
            socket,
            current,
            Registration {
                id,
                protocol: Protocol::Seed,
            },
        );
        RegisterReply::Registered { id }
    }

    /// Typed protocol: registers `socket` under `id` if `secret` owns it, claiming it if
    /// nobody does. A first claim disconnects the seed sockets that were using `id`.
    pub async fn register<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        current: &mut Option<Registration>,
        id: PeerId,
        secret: &Secret,
    ) -> RegisterReply {
        let claim = match self.store.claim(id, SecretHash::of(secret)).await {
            Ok(Claim::Refused) => return RegisterReply::Rejected(forbidden(id)),
            Ok(claim) => claim,
            Err(error) => return RegisterReply::Rejected(unavailable(&error)),
        };
        move_to(
            socket,
            current,
            Registration {
                id,
                protocol: Protocol::Typed,
            },
        );
        if claim == Claim::Claimed {
            // Whoever used the id through the seed protocol before it was claimed is not
            // its owner: they must not read what comes for it from now on.
            if let Err(error) = socket.within(room(id, Protocol::Seed)).disconnect().await {
                tracing::warn!(%error, peer = %id, "could not disconnect the seed sockets of a claimed id");
            }
            tracing::info!(peer = %id, "id claimed");
        }
        RegisterReply::Registered { id }
    }

    /// Seed protocol: relays `message` from `from` to the sockets registered under its
    /// recipient now. `count` asks for the number of sockets reached, which the reply
    /// reports.
    pub async fn send_live<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        from: PeerId,
        message: Outgoing,
        count: bool,
    ) -> SendReply {
        let envelope = envelope(from, message);
        let id = envelope.id;
        let reached = if count {
            socket
                .within(room(envelope.to, Protocol::Typed))
                .within(room(envelope.to, Protocol::Seed))
                .sockets()
                .len()
        } else {
            0
        };
        let failed = self.broadcast(socket, &envelope).await;
        if count && reached == 0 {
            return SendReply::Offline { id };
        }
        let sockets = u32::try_from(reached.saturating_sub(failed)).unwrap_or(u32::MAX);
        SendReply::Delivered { id, sockets }
    }

    /// Typed protocol: starts storing `message` from `from`. The store takes it in call
    /// order; deliver it with [`deliver_stored`](Self::deliver_stored) once committed.
    pub fn append(&self, from: PeerId, message: Outgoing) -> Appending {
        let envelope = envelope(from, message);
        let commit = self.store.append(NewMessage {
            id: envelope.id,
            from,
            to: envelope.to,
            body: envelope.body.clone(),
            sent_at: envelope.sent_at,
        });
        Appending { envelope, commit }
    }

    /// Delivers a stored message to the sockets connected under its recipient, and says
    /// so to the sender.
    pub async fn deliver_stored<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        mut envelope: Envelope,
        stored: Result<Appended, AppendError>,
    ) -> SendReply {
        match stored {
            Ok(appended) => {
                envelope.seq = appended.seq;
                envelope.sent_at = appended.sent_at;
                // A resend is delivered again too: after a crash the first delivery may
                // never have happened. Clients drop what they already have.
                self.broadcast(socket, &envelope).await;
                SendReply::Sent {
                    id: envelope.id,
                    seq: appended.seq,
                    sent_at: appended.sent_at,
                }
            }
            Err(AppendError::QueueFull { limit }) => SendReply::Rejected(Rejection::new(
                ErrorCode::QueueFull,
                format!(
                    "{} already has {limit} messages waiting; try again later",
                    envelope.to
                ),
            )),
            Err(AppendError::Store(error)) => SendReply::Rejected(unavailable(&error)),
        }
    }

    /// `me`'s client holds what `received` lists: queues the store's writes (the
    /// messages stop waiting, the receipts are forgotten) and returns at once, so that
    /// the socket's next events need not wait for them. [`Relay::finish_received`]
    /// completes it.
    pub fn record_received(&self, me: PeerId, received: &Received) -> Recording {
        let messages = received
            .messages
            .iter()
            .copied()
            .filter(|&s| s > 0)
            .collect::<Vec<_>>();
        Recording {
            delivered: (!messages.is_empty())
                .then(|| self.store.delivered(me, messages, now_millis())),
            forgotten: (!received.receipts.is_empty())
                .then(|| self.store.forget_receipts(me, received.receipts.clone())),
        }
    }

    /// Waits until `recording` is durable, then pushes the receipts it produced to the
    /// senders' sockets.
    pub async fn finish_received<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        recording: Recording,
    ) -> Result<(), StoreError> {
        if let Some(delivered) = recording.delivered {
            for notice in delivered.await? {
                let to_sender = socket.within(room(notice.sender, Protocol::Typed));
                if let Err(error) = to_sender.emit(event::RECEIPT, &notice.receipt).await {
                    tracing::debug!(%error, "receipt not pushed; it waits in the store");
                }
            }
        }
        if let Some(forgotten) = recording.forgotten {
            forgotten.await?;
        }
        Ok(())
    }

    /// Sends `socket` the messages waiting for `me` after `after`, at most a page; returns
    /// the last `seq` sent and whether a full page went (so more may wait).
    pub async fn send_waiting<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        me: PeerId,
        after: u64,
    ) -> Result<Option<(u64, bool)>, StoreError> {
        let page = self
            .store
            .waiting(me, after, self.limits.backlog_page)
            .await?;
        Ok(self.emit_page(socket, event::DELIVER, &page, |e| e.seq))
    }

    /// Sends `socket` the receipts waiting for `me` after `after`, at most a page; like
    /// [`send_waiting`](Self::send_waiting).
    pub async fn send_receipts<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        me: PeerId,
        after: u64,
    ) -> Result<Option<(u64, bool)>, StoreError> {
        let page = self
            .store
            .receipts(me, after, self.limits.backlog_page)
            .await?;
        Ok(self.emit_page(socket, event::RECEIPT, &page, |r| r.seq))
    }

    /// Emits each item of a page from the store as `event`; returns the last `seq` and
    /// whether the page was full. What is not sent stays stored for the next connection.
    fn emit_page<A: Adapter, T: serde::Serialize>(
        &self,
        socket: &SocketRef<A>,
        event: &str,
        page: &[T],
        seq: impl Fn(&T) -> u64,
    ) -> Option<(u64, bool)> {
        for item in page {
            if let Err(error) = socket.emit(event, item) {
                tracing::debug!(%error, event, "not sent; it waits for the next connection");
            }
        }
        page.last()
            .map(|last| (seq(last), page.len() == self.limits.backlog_page))
    }

    /// Broadcasts to every socket of the recipient, each in its protocol's shape; returns
    /// how many sockets it did not reach.
    async fn broadcast<A: Adapter>(&self, socket: &SocketRef<A>, envelope: &Envelope) -> usize {
        // Encoding is most of a broadcast's cost: skip a room with nobody in it. Only
        // a single-node adapter can tell: `sockets` sees this node's sockets alone.
        let typed_room = room(envelope.to, Protocol::Typed);
        let seed_room = room(envelope.to, Protocol::Seed);
        let nobody =
            |room: &String| single_node::<A>() && socket.within(room.clone()).sockets().is_empty();
        let typed = if nobody(&typed_room) {
            Ok(())
        } else {
            socket
                .within(typed_room.clone())
                .emit(event::DELIVER, envelope)
                .await
        };
        if let Err(BroadcastError::Socket(errors)) = &typed
            && errors
                .iter()
                .any(|e| matches!(e, SocketError::InternalChannelFull))
        {
            // Some typed socket is too far behind to take it. The broadcast does not say
            // which: try each again (the others get a duplicate, which clients drop) and
            // disconnect the ones still full, so their clients come back for what is
            // stored instead of missing it.
            for recipient in socket.within(typed_room).sockets() {
                if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                    recipient.emit(event::DELIVER, envelope)
                {
                    crate::session::cut_slow_consumer(&recipient);
                }
            }
        }
        let seed = if nobody(&seed_room) {
            Ok(())
        } else {
            socket
                .within(seed_room)
                .emit(event::MESSAGE, &envelope.body)
                .await
        };
        failures(typed) + failures(seed)
    }
}

/// Whether adapter `A` keeps every socket on this node, so that a room empty here is
/// empty everywhere.
fn single_node<A: Adapter>() -> bool {
    TypeId::of::<A>() == TypeId::of::<LocalAdapter>()
}

/// Moves `socket` to `next`'s room, out of its current registration's: a socket speaks
/// for one peer at a time.
fn move_to<A: Adapter>(
    socket: &SocketRef<A>,
    current: &mut Option<Registration>,
    next: Registration,
) {
    if *current == Some(next) {
        return;
    }
    if let Some(previous) = current.take() {
        socket.leave(previous.room());
    }
    socket.join(next.room());
    *current = Some(next);
    tracing::debug!(sid = %socket.id, peer = %next.id, protocol = ?next.protocol, "registered");
}

/// The envelope of a message from `from`, accepted now; `seq` 0 until stored.
fn envelope(from: PeerId, message: Outgoing) -> Envelope {
    Envelope {
        id: message
            .id
            .unwrap_or_else(|| MessageId::from_uuid(Uuid::new_v4())),
        from,
        to: message.to,
        body: message.body,
        sent_at: now_millis(),
        seq: 0,
    }
}

fn forbidden(id: PeerId) -> Rejection {
    Rejection::new(
        ErrorCode::Forbidden,
        format!("{id} belongs to someone else: register with its secret, or use your own id"),
    )
}

fn unavailable(error: &StoreError) -> Rejection {
    tracing::error!(%error, "store failure");
    Rejection::new(
        ErrorCode::Unavailable,
        "the server cannot reach its message store right now; try again",
    )
}

/// How many sockets a broadcast did not reach. Those were closing, or their outgoing
/// buffer was full (a reader far behind).
fn failures(result: Result<(), BroadcastError>) -> usize {
    match result {
        Ok(()) => 0,
        Err(BroadcastError::Socket(errors)) => {
            tracing::debug!(?errors, "broadcast did not reach every socket");
            errors.len()
        }
        Err(error) => {
            tracing::warn!(%error, "broadcast failed");
            0
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
