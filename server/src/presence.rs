//! Presence on the node: writing its peers' comings and goings to the store, in order,
//! beating its heartbeat, and telling the sockets that follow a peer
//! ([`follow`]) when its presence changes.
//!
//! A peer is here from its first typed socket on this node to its last
//! ([`Changes::here`], from `crate::local_peers`); the store says whether that changed
//! what its contacts see (another node may have it too, or it hides). One task
//! ([`run`]) writes the changes a batch at a time and tells the followers, so a peer's
//! notices go out in the order its sockets came and went. Followers are the sockets in
//! the peer's presence room ([`room`]), on every node (the adapter carries the emit): a
//! socket joins only the rooms of the peers the store let it see when it asked.

use std::{sync::Arc, time::Duration};

use relay_shared::{
    PeerId, event,
    presence::{PresenceNotice, PresenceState},
};
use socketioxide::{SocketIo, adapter::Adapter, extract::SocketRef};
use tokio::sync::{mpsc, oneshot};

use crate::{
    metrics::Metrics,
    store::{Store, StoreError},
};

/// Changes written per store call, at most.
const MAX_BATCH: usize = 1024;

/// The room of the sockets following `peer`'s presence.
pub fn room(peer: PeerId) -> String {
    format!("presence:{peer}")
}

/// Whether `room` is a presence room.
fn is_presence_room(room: &str) -> bool {
    room.starts_with("presence:")
}

/// One change for the presence task.
enum Change {
    /// The first typed socket of the peer arrived here (`true`), or its last left.
    Here(PeerId, bool),
    /// The peer hides its presence (`true`) or shows it again; answered once written
    /// and told.
    Hide(PeerId, bool, oneshot::Sender<Result<(), StoreError>>),
}

/// Where the node's presence changes go, in order. Cheap to clone.
#[derive(Clone)]
pub struct Changes(mpsc::UnboundedSender<Change>);

/// What [`run`] reads.
pub struct ChangeStream(mpsc::UnboundedReceiver<Change>);

impl Changes {
    /// A new pair. Unbounded: one change per socket coming or going, which the
    /// connection limits bound.
    pub fn channel() -> (Changes, ChangeStream) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Changes(tx), ChangeStream(rx))
    }

    /// The first typed socket of `peer` arrived on this node (`true`), or its last left.
    pub fn here(&self, peer: PeerId, on: bool) {
        // The task is gone only when the node stops: nobody follows anymore.
        let _ = self.0.send(Change::Here(peer, on));
    }

    /// `peer` hides its presence (`true`) or shows it again; completes once stored and
    /// its followers were told.
    pub async fn hide(&self, peer: PeerId, hidden: bool) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Change::Hide(peer, hidden, reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Writes the node's presence changes and tells followers, in order, and beats the
/// node's heartbeat every `heartbeat`, until every [`Changes`] is gone.
pub async fn run<A: Adapter>(
    mut changes: ChangeStream,
    store: Arc<dyn Store>,
    io: SocketIo<A>,
    heartbeat: Duration,
    metrics: Arc<Metrics>,
) {
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            received = changes.0.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    return;
                }
                apply(&mut batch, store.as_ref(), &io, &metrics).await;
            }
            _ = tick.tick() => match store.heartbeat().await {
                Ok(notices) => {
                    for notice in notices {
                        tell(&io, notice, &metrics).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "could not beat the node's heartbeat"),
            },
        }
    }
}

/// Writes `batch` (emptying it): runs of comings and goings in one store call each,
/// hides one at a time, in order.
async fn apply<A: Adapter>(
    batch: &mut Vec<Change>,
    store: &dyn Store,
    io: &SocketIo<A>,
    metrics: &Metrics,
) {
    let mut run: Vec<(PeerId, bool)> = Vec::new();
    for change in batch.drain(..) {
        match change {
            Change::Here(peer, on) => run.push((peer, on)),
            Change::Hide(peer, hidden, reply) => {
                write(std::mem::take(&mut run), store, io, metrics).await;
                let result = match store.hide_presence(peer, hidden).await {
                    Ok(notice) => {
                        tell(io, notice, metrics).await;
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
        }
    }
    write(run, store, io, metrics).await;
}

/// Writes comings and goings, and tells the followers of those that changed. What
/// could not be written, the store writes again at a later heartbeat.
async fn write<A: Adapter>(
    run: Vec<(PeerId, bool)>,
    store: &dyn Store,
    io: &SocketIo<A>,
    metrics: &Metrics,
) {
    if run.is_empty() {
        return;
    }
    match store.present(run).await {
        Ok(notices) => {
            for notice in notices.into_iter().flatten() {
                tell(io, notice, metrics).await;
            }
        }
        Err(error) => tracing::warn!(%error, "could not write presence; written again later"),
    }
}

/// Tells the followers of `notice.peer`, on every node, at most once.
async fn tell<A: Adapter>(io: &SocketIo<A>, notice: PresenceNotice, metrics: &Metrics) {
    // No namespace: the node is shutting down, nobody is left to tell.
    let Some(everyone) = io.of("/") else {
        return;
    };
    if let Err(error) = everyone
        .to(room(notice.peer))
        .emit(event::PRESENCE, &notice)
        .await
    {
        metrics.adapter_errors.inc();
        tracing::debug!(%error, "a presence notice did not reach every follower");
    }
}

/// `socket`, of `viewer`, follows the presence of `peers` from now on, instead of what
/// it followed before: it joins the rooms of those the store lets it see. Returns their
/// presence, read after joining, so no change between the read and the join is missed.
/// If the store cannot answer, nothing changes.
pub async fn follow<A: Adapter>(
    socket: &SocketRef<A>,
    store: &dyn Store,
    viewer: PeerId,
    peers: Vec<PeerId>,
) -> Result<Vec<PresenceNotice>, StoreError> {
    if peers.is_empty() {
        unfollow_all(socket);
        return Ok(Vec::new());
    }
    // Read first: refused (the store is unreachable), the socket follows what it did.
    let allowed = store.presence(viewer, peers.clone()).await?;
    unfollow_all(socket);
    let shown = |notice: &PresenceNotice| notice.state != PresenceState::Unknown;
    socket.join(
        allowed
            .iter()
            .filter(|n| shown(n))
            .map(|n| room(n.peer))
            .collect::<Vec<_>>(),
    );
    let Ok(now) = store.presence(viewer, peers).await else {
        // Followed as the first read allowed; a change in between may be missed.
        return Ok(allowed);
    };
    // Hidden, blocked or forgotten meanwhile: not followed after all.
    socket.leave(
        now.iter()
            .filter(|n| !shown(n))
            .map(|n| room(n.peer))
            .collect::<Vec<_>>(),
    );
    Ok(now)
}

/// Notices may have been missed (the store was unreachable): `socket`, of `viewer`, is
/// told the presence of those it follows again, as the store has it now.
pub fn refresh<A: Adapter>(socket: &SocketRef<A>, store: &dyn Store, viewer: PeerId) {
    let followed: Vec<PeerId> = socket
        .rooms()
        .iter()
        .filter_map(|r| r.strip_prefix("presence:")?.parse().ok())
        .collect();
    if followed.is_empty() {
        return;
    }
    let (read, socket) = (store.presence(viewer, followed), socket.clone());
    tokio::spawn(async move {
        match read.await {
            Ok(notices) => {
                for notice in notices {
                    if notice.state == PresenceState::Unknown {
                        socket.leave(room(notice.peer));
                    }
                    // Lost with the socket if it is full: its client watches again.
                    let _ = socket.emit(event::PRESENCE, &notice);
                }
            }
            Err(error) => tracing::warn!(%error, "could not read followed presence again"),
        }
    });
}

/// `socket` follows nobody's presence anymore.
pub fn unfollow_all<A: Adapter>(socket: &SocketRef<A>) {
    let rooms: Vec<_> = socket
        .rooms()
        .into_iter()
        .filter(|r| is_presence_room(r))
        .collect();
    if !rooms.is_empty() {
        socket.leave(rooms);
    }
}

/// `owner` blocked `peer`: the sockets of `peer`, on every node, stop following
/// `owner`'s presence and are told it is no longer shown.
pub async fn hide_from<A: Adapter>(socket: &SocketRef<A>, owner: PeerId, peer: PeerId) {
    let sockets = socket.within(crate::protocol::room(
        peer,
        crate::protocol::Protocol::Typed,
    ));
    if let Err(error) = sockets.clone().leave(room(owner)).await {
        tracing::debug!(%error, "could not stop a blocked peer following presence");
    }
    if let Err(error) = sockets
        .emit(event::PRESENCE, &PresenceNotice::unknown(owner))
        .await
    {
        tracing::debug!(%error, "could not tell a blocked peer presence is hidden");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_rooms_are_told_apart_from_peer_rooms() {
        let peer: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        assert!(is_presence_room(&room(peer)));
        let typed = crate::protocol::room(peer, crate::protocol::Protocol::Typed);
        assert!(!is_presence_room(&typed));
    }
}
