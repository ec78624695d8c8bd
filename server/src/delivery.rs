//! Delivery: putting messages and receipts into the sockets that should get them.
//!
//! - **Stored messages and receipts** reach sockets through the store's [`Notice`]s:
//!   [`dispatch`] reads them and emits to this node's sockets only. With SQLite every
//!   notice is this node's; with Redis each node gets the notices of the peers it
//!   watches, whichever node stored them. So a message acknowledged `sent` reaches its
//!   recipient on any node, even if the sender's node dies right after the ack.
//! - **Seed messages** are not stored: [`broadcast`] hands them to the recipient's rooms
//!   through the Socket.IO adapter, which crosses nodes in a cluster (at most once, as
//!   in the seed).
//!
//! A socket too far behind to take a packet is disconnected ([`cut_slow_consumer`])
//! rather than silently skipped: its client reconnects and gets what is stored.

use std::{sync::Arc, time::Duration};

use relay_shared::{
    Envelope, ErrorCode, PeerId, Rejection, SendReply, device::DevicesReply, event,
    message::TypingNotice,
};
use socketioxide::{
    BroadcastError, SendError, SocketError, SocketIo,
    adapter::{Adapter, LocalAdapter},
    extract::SocketRef,
    operators::BroadcastOperators,
};

use crate::{
    local_peers::{Here, LocalPeers},
    metrics::Metrics,
    protocol::{Protocol, room},
    store::{Notice, NoticeStream, Store},
};

/// What Relay needs to know of a Socket.IO adapter: whether rooms span nodes.
pub trait NodeAdapter: Adapter {
    /// Whether other nodes have sockets in the same rooms (a cluster), so that a room
    /// empty here may not be empty.
    const SPANS_NODES: bool;
}

impl NodeAdapter for LocalAdapter {
    const SPANS_NODES: bool = false;
}

/// Puts the store's notices into this node's sockets until the store stops.
pub async fn dispatch<A: NodeAdapter>(
    mut notices: NoticeStream,
    io: SocketIo<A>,
    peers: Arc<LocalPeers>,
    metrics: Arc<Metrics>,
) {
    let Some(here) = io.of("/").map(BroadcastOperators::local) else {
        tracing::error!("no default namespace: nothing to deliver to");
        return;
    };
    while let Some(notice) = notices.next().await {
        match notice {
            Notice::Message(envelope) => {
                deliver_here(&here, &peers, &envelope, &metrics).await;
            }
            Notice::Receipt(notice) => {
                if peers.here(notice.sender).typed {
                    let typed = here.clone().within(room(notice.sender, Protocol::Typed));
                    emit_here(typed, event::RECEIPT, &notice.receipt, &metrics).await;
                    metrics.receipts_delivered.inc();
                }
            }
            Notice::Sent(envelope) => {
                // A message one device of its sender sent: for the others.
                if peers.here(envelope.from).typed {
                    let typed = here.clone().within(room(envelope.from, Protocol::Typed));
                    emit_here(typed, event::DELIVER, &envelope, &metrics).await;
                }
            }
            Notice::Devices {
                id,
                devices,
                unlinked,
            } => {
                if peers.here(id).typed {
                    let typed = here.clone().within(room(id, Protocol::Typed));
                    let list = DevicesReply::Ok { devices };
                    emit_here(typed, event::DEVICES, &list, &metrics).await;
                }
                if let Some(device) = unlinked {
                    peers.unlinked(id, device);
                }
            }
            Notice::Blocked { owner, peer, on } => peers.blocked(owner, peer, on),
            Notice::Missed => {
                tracing::warn!("notices may have been missed: sending what waits again");
                metrics.notices_missed.inc();
                peers.resync();
            }
        }
    }
}

/// Seed protocol: hands `envelope` to every socket registered under its recipient now,
/// each in its protocol's shape: on this node directly and, in a cluster, on the other
/// nodes through the store's channel of the recipient, as a notice (only the nodes where
/// the recipient has sockets hear of it). With `report` (the sender asked for an answer), says how
/// many sockets it reached (in a cluster that asks every node); in a cluster while
/// Redis is unreachable, only this node's sockets get it, and such a sender hears
/// `unavailable`.
pub async fn broadcast<A: NodeAdapter>(
    socket: &SocketRef<A>,
    store: &dyn Store,
    peers: &LocalPeers,
    metrics: &Metrics,
    envelope: Envelope,
    report: bool,
) -> SendReply {
    let id = envelope.id;
    let to = envelope.to;
    let reached = if report && peers.blocks(to, envelope.from) {
        // Nothing reaches someone who blocks the sender: as if nobody were there.
        Some(0)
    } else if report {
        let rooms = [room(to, Protocol::Typed), room(to, Protocol::Seed)];
        count(socket, rooms, metrics).await
    } else {
        Some(0)
    };
    // This node's sockets get it straight away, in the order the sender's events came.
    let failed = deliver_here(&socket.local(), peers, &envelope, metrics).await;
    if A::SPANS_NODES {
        // The other nodes' through Redis (the store drops this node's own when Redis
        // hands it back). Queued now, in the order the socket's events came; waited for
        // only when the sender asked for an answer, so a sender's next message need not
        // wait on Redis.
        let published = store.publish(envelope);
        if !report {
            return SendReply::Delivered { id, sockets: 0 };
        }
        if let Err(error) = published.await {
            tracing::warn!(%error, "could not relay a message to the other nodes");
            return SendReply::Rejected(Rejection::new(
                ErrorCode::Unavailable,
                "the server cannot reach the other nodes right now; try again",
            ));
        }
    }
    match reached {
        Some(0) if report => SendReply::Offline { id },
        Some(reached) => SendReply::Delivered {
            id,
            sockets: u32::try_from(reached.saturating_sub(failed)).unwrap_or(u32::MAX),
        },
        None => SendReply::Delivered { id, sockets: 0 },
    }
}

/// Tells `to`'s typed sockets, on every node (through the adapter: at most once), that
/// `from` is typing. Not the typing socket itself, when one types to oneself; not at all
/// when `to` blocks `from` (known here if `to` is registered here, else, in a cluster,
/// asked of the store; if the store cannot say, not passed on).
pub async fn typing<A: NodeAdapter>(
    socket: &SocketRef<A>,
    peers: &LocalPeers,
    store: &dyn Store,
    from: PeerId,
    to: PeerId,
    metrics: &Metrics,
) {
    if peers.blocks(to, from) {
        return;
    }
    if A::SPANS_NODES && !peers.here(to).typed && !matches!(store.blocks(to, from).await, Ok(false))
    {
        return;
    }
    let notice = TypingNotice { from };
    if let Err(error) = socket
        .to(room(to, Protocol::Typed))
        .emit(event::TYPING, &notice)
        .await
    {
        metrics.adapter_errors.inc();
        tracing::debug!(%error, "a typing notice was not passed on");
    }
}

/// Hands `envelope` to its recipient's sockets on this node (`here`: the node's local
/// operators), each in its protocol's shape, and counts it; returns how many sockets it
/// did not reach.
async fn deliver_here<A: Adapter>(
    here: &BroadcastOperators<A>,
    peers: &LocalPeers,
    envelope: &Envelope,
    metrics: &Metrics,
) -> usize {
    let to = envelope.to;
    // Relayed live (the seed protocol): not to someone who blocks the sender. (A stored
    // message from a blocked sender is never stored.)
    let Here { typed, seed } = if envelope.seq == 0 {
        peers.here_from(to, envelope.from)
    } else {
        peers.here(to)
    };
    let mut failed = 0;
    if typed {
        let room = here.clone().within(room(to, Protocol::Typed));
        failed += emit_here(room, event::DELIVER, envelope, metrics).await;
    }
    // A seed client cannot decrypt: an end-to-end encrypted message is not for it.
    let seed = seed && envelope.encrypted.is_none();
    if seed {
        let room = here.clone().within(room(to, Protocol::Seed));
        failed += emit_here(room, event::MESSAGE, &envelope.body, metrics).await;
    }
    if typed || seed {
        // Seed messages (`seq` 0) are relayed, not stored.
        metrics.message(if envelope.seq == 0 {
            "relayed"
        } else {
            "delivered"
        });
    }
    failed
}

/// Emits to the sockets of a room on this node, cutting those too far behind to take
/// it; returns how many it did not reach.
async fn emit_here<A: Adapter, T: serde::Serialize + ?Sized>(
    here: BroadcastOperators<A>,
    event: &str,
    data: &T,
    metrics: &Metrics,
) -> usize {
    match here.clone().emit(event, data).await {
        Ok(()) => 0,
        Err(error) => {
            if full(&error) {
                // The broadcast does not say which socket was full: try each again (the
                // others get a duplicate, which clients drop) and cut the ones still
                // full, so their clients come back for what is stored.
                for socket in here.sockets() {
                    if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                        socket.emit(event, data)
                    {
                        cut_slow_consumer(&socket, metrics);
                    }
                }
            }
            failures(Err(error), metrics)
        }
    }
}

/// How many sockets are in `rooms`, on every node; `None` if some node did not answer.
async fn count<A: NodeAdapter>(
    socket: &SocketRef<A>,
    rooms: [String; 2],
    metrics: &Metrics,
) -> Option<usize> {
    if !A::SPANS_NODES {
        return Some(socket.local().within(rooms).sockets().len());
    }
    match socket.within(rooms).fetch_sockets().await {
        Ok(sockets) => Some(sockets.len()),
        Err(error) => {
            metrics.adapter_errors.inc();
            tracing::warn!(%error, "could not count the recipient's sockets on other nodes");
            None
        }
    }
}

/// Whether a broadcast failed because a socket's outgoing buffer was full.
fn full(error: &BroadcastError) -> bool {
    matches!(error, BroadcastError::Socket(errors)
        if errors.iter().any(|e| matches!(e, SocketError::InternalChannelFull)))
}

/// How many sockets a broadcast did not reach. Those were closing, or their outgoing
/// buffer was full (a reader far behind).
fn failures(result: Result<(), BroadcastError>, metrics: &Metrics) -> usize {
    match result {
        Ok(()) => 0,
        Err(BroadcastError::Socket(errors)) => {
            tracing::debug!(?errors, "broadcast did not reach every socket");
            errors.len()
        }
        Err(error) => {
            metrics.adapter_errors.inc();
            tracing::warn!(%error, "broadcast failed");
            0
        }
    }
}

/// Disconnects a socket whose outgoing buffer is full: rather than drop what it was
/// promised, let its client notice, reconnect, and get what is stored.
///
/// socketioxide's disconnect sends a packet first, which needs room in that same buffer:
/// it is retried while the buffer drains, for a bounded time. A client that reads
/// nothing at all cannot answer pings either, and Engine.IO's heartbeat closes it.
pub fn cut_slow_consumer<A: Adapter>(socket: &SocketRef<A>, metrics: &Metrics) {
    const TRIES: u32 = 250;
    metrics.slow_consumers_cut.inc();
    const EVERY: Duration = Duration::from_millis(20);
    tracing::warn!(sid = %socket.id, "socket too far behind in reading; disconnecting it");
    let socket = socket.clone();
    tokio::spawn(async move {
        for _ in 0..TRIES {
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) => tokio::time::sleep(EVERY).await,
                Ok(()) | Err(_) => return,
            }
        }
    });
}
