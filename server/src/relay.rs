//! [`Relay`]: what registering and sending do. Shared by every socket of the server.
//!
//! Each peer id has two Socket.IO rooms, one per [`Protocol`], because a broadcast sends
//! one packet to a whole room and the two protocols deliver in different shapes: seed
//! sockets get `message(text)`, typed sockets get `deliver(envelope)`. Rooms, not a map
//! of socket ids, so every tab of a peer receives, a reconnect needs no bookkeeping, and
//! socketioxide's Redis adapter can carry the same broadcasts across nodes.

use std::time::{SystemTime, UNIX_EPOCH};

use relay_shared::{
    Envelope, MessageId, PeerId, RegisterReply, SendReply, event, message::DEFAULT_MAX_BODY_BYTES,
};
use socketioxide::{BroadcastError, adapter::Adapter, extract::SocketRef};
use uuid::Uuid;

use crate::command::Protocol;

/// Limits applied to what clients send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message body, in bytes of UTF-8.
    pub max_body_bytes: usize,
    /// Events one socket may have waiting for their turn.
    pub max_pending_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending_events: crate::Config::DEFAULT_MAX_PENDING_EVENTS,
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

/// The relay service: registration and delivery.
#[derive(Debug, Default)]
pub struct Relay {
    limits: Limits,
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

impl Relay {
    /// A relay applying `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits applied to clients.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Registers `socket` as `next`, moving it out of the rooms of its `current`
    /// registration, if any: a socket speaks for one peer at a time.
    pub fn register<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        current: &mut Option<Registration>,
        next: Registration,
    ) -> RegisterReply {
        if *current != Some(next) {
            if let Some(previous) = current.take() {
                socket.leave(previous.room());
            }
            socket.join(next.room());
            *current = Some(next);
            tracing::debug!(sid = %socket.id, peer = %next.id, protocol = ?next.protocol, "registered");
        }
        RegisterReply::Registered { id: next.id }
    }

    /// Relays `message` from `from` to every socket registered under its recipient, in
    /// the shape each socket registered for. `count` asks for the number of sockets
    /// reached, which the reply reports; without it the reply says `delivered` with 0.
    pub async fn send<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        from: PeerId,
        message: Outgoing,
        count: bool,
    ) -> SendReply {
        let envelope = Envelope {
            id: message
                .id
                .unwrap_or_else(|| MessageId::from_uuid(Uuid::new_v4())),
            from,
            to: message.to,
            body: message.body,
            sent_at: now_millis(),
        };
        let id = envelope.id;
        let typed = room(envelope.to, Protocol::Typed);
        let seed = room(envelope.to, Protocol::Seed);
        let reached = if count {
            socket
                .within(typed.clone())
                .within(seed.clone())
                .sockets()
                .len()
        } else {
            0
        };
        let failed = failures(socket.within(typed).emit(event::DELIVER, &envelope).await)
            + failures(
                socket
                    .within(seed)
                    .emit(event::MESSAGE, &envelope.body)
                    .await,
            );
        if count && reached == 0 {
            return SendReply::Offline { id };
        }
        let sockets = u32::try_from(reached.saturating_sub(failed)).unwrap_or(u32::MAX);
        SendReply::Delivered { id, sockets }
    }
}

/// How many sockets a broadcast did not reach. Those were closing, or their outgoing
/// buffer was full (a reader far behind); the seed protocol drops for them too.
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

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
