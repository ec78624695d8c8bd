//! [`LocalPeers`]: which peers have sockets registered on this node, and in which
//! protocol, so that the node watches them in the store (and only them), skips the
//! rooms nobody here is in, and can send their sessions what waits again when notices
//! were missed; and whom each of them blocks, so that nothing relayed live (seed
//! messages, typing) from a blocked peer reaches their sockets here. It also says when a
//! peer's first typed socket here arrives and its last leaves: its presence.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError, Weak},
};

use futures_util::future::BoxFuture;
use relay_shared::{PeerId, device::DeviceId};

use crate::{
    presence::Changes,
    protocol::{Protocol, Registration, Short},
    store::{Store, StoreError},
};

/// A socket's session, as the registry knows it.
pub trait Member: Send + Sync + 'static {
    /// Notices of this member's peer may have been lost: send it what waits again.
    fn resync(self: Arc<Self>);

    /// This member's device was unlinked: it speaks for the peer no more.
    fn unlinked(self: Arc<Self>);
}

/// In which protocols a peer has sockets on this node.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Here {
    /// Some registered in the typed protocol.
    pub typed: bool,
    /// Some registered in the seed protocol.
    pub seed: bool,
}

/// A peer registered here: its sessions, each with its registration, and whom it blocks.
#[derive(Default)]
struct Entry {
    members: Vec<(Registration, Weak<dyn Member>)>,
    blocked: HashSet<PeerId>,
}

impl Entry {
    fn typed(&self) -> usize {
        self.members
            .iter()
            .filter(|(r, _)| r.protocol == Protocol::Typed)
            .count()
    }

    fn here(&self) -> Here {
        Here {
            typed: self
                .members
                .iter()
                .any(|(r, _)| r.protocol == Protocol::Typed),
            seed: self
                .members
                .iter()
                .any(|(r, _)| r.protocol == Protocol::Seed),
        }
    }
}

type Peers = Arc<Mutex<HashMap<PeerId, Entry>>>;

/// The peers registered on this node, each with its sessions.
pub struct LocalPeers {
    store: Arc<dyn Store>,
    peers: Peers,
    presence: Changes,
}

impl LocalPeers {
    /// An empty registry watching peers in `store`, telling `presence` of their first
    /// typed sockets and their last.
    pub fn new(store: Arc<dyn Store>, presence: Changes) -> Self {
        Self {
            store,
            peers: Peers::default(),
            presence,
        }
    }

    /// `member` now speaks for `registration.id`. The returned future completes once
    /// the node watches the peer and knows whom it blocks (at once if another session
    /// here already did).
    pub fn enter(
        &self,
        registration: Registration,
        member: Weak<dyn Member>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let peer = registration.id;
        let mut peers = lock(&self.peers);
        let entry = peers.entry(peer).or_default();
        entry.members.push((registration, member));
        // Called under the lock, so watches and unwatches of one peer reach the store in
        // the order its first and last sessions came and went.
        let watch = (entry.members.len() == 1).then(|| self.store.watch(peer));
        // Only a typed registration can block (a seed one never has a list): its first
        // here reads the list, after the watch is in effect, so a change after the read
        // is noticed.
        let first_typed = registration.protocol == Protocol::Typed && entry.typed() == 1;
        if first_typed {
            // Under the lock: a peer's comings and goings are told in the order they
            // happened.
            self.presence.here(peer, true);
        }
        let blocks = first_typed.then(|| (self.store.clone(), self.peers.clone()));
        Box::pin(async move {
            if let Some(watch) = watch {
                watch.await?;
            }
            if let Some((store, registry)) = blocks {
                let blocked = store.blocked(peer).await?;
                if let Some(entry) = lock(&registry).get_mut(&peer) {
                    entry.blocked.extend(blocked);
                }
            }
            Ok(())
        })
    }

    /// A notice from the store: `owner` blocked `peer` (`on`) or unblocked it.
    pub fn blocked(&self, owner: PeerId, peer: PeerId, on: bool) {
        if let Some(entry) = lock(&self.peers).get_mut(&owner) {
            if on {
                entry.blocked.insert(peer);
            } else {
                entry.blocked.remove(&peer);
            }
        }
    }

    /// A notice from the store: `device` of `id` was unlinked. Its sessions here are
    /// told (they disconnect their sockets).
    pub fn unlinked(&self, id: PeerId, device: DeviceId) {
        let members: Vec<Arc<dyn Member>> = lock(&self.peers)
            .get(&id)
            .map(|entry| {
                entry
                    .members
                    .iter()
                    .filter(|(r, _)| r.device == Some(device))
                    .filter_map(|(_, member)| member.upgrade())
                    .collect()
            })
            .unwrap_or_default();
        for member in members {
            member.unlinked();
        }
    }

    /// `member` no longer speaks for `peer`; the last to leave stops the watch.
    pub fn leave(&self, peer: PeerId, member: &Weak<dyn Member>) {
        let mut peers = lock(&self.peers);
        let Some(entry) = peers.get_mut(&peer) else {
            return;
        };
        let typed_before = entry.typed();
        entry
            .members
            .retain(|(_, m)| !Weak::ptr_eq(m, member) && m.strong_count() > 0);
        if typed_before > 0 && entry.typed() == 0 {
            self.presence.here(peer, false);
        }
        if entry.members.is_empty() {
            peers.remove(&peer);
            let unwatch = self.store.unwatch(peer);
            tokio::spawn(async move {
                if let Err(error) = unwatch.await {
                    tracing::warn!(%error, peer = %Short(peer), "could not stop watching a peer");
                }
            });
        }
    }

    /// In which protocols sockets here are registered under `peer`: whether its rooms
    /// here have anyone to emit to. One lookup for both, as every relayed message asks.
    pub fn here(&self, peer: PeerId) -> Here {
        lock(&self.peers)
            .get(&peer)
            .map_or_else(Here::default, Entry::here)
    }

    /// Where `from`'s message to `to`, relayed live, goes on this node: as
    /// [`here`](Self::here), and nowhere if `to` blocks `from`. One lookup.
    pub fn here_from(&self, to: PeerId, from: PeerId) -> Here {
        lock(&self.peers)
            .get(&to)
            .filter(|entry| !entry.blocked.contains(&from))
            .map_or_else(Here::default, Entry::here)
    }

    /// Whether `to`, registered here, blocks `from` (a peer not registered here: not
    /// known here, so `false`).
    pub fn blocks(&self, to: PeerId, from: PeerId) -> bool {
        lock(&self.peers)
            .get(&to)
            .is_some_and(|entry| entry.blocked.contains(&from))
    }

    /// Asks every session here to send what waits again, and reads again whom each peer
    /// here blocks (notices of blocks may have been missed too).
    pub fn resync(&self) {
        let owners: Vec<PeerId> = lock(&self.peers).keys().copied().collect();
        for owner in owners {
            let (read, registry) = (self.store.blocked(owner), self.peers.clone());
            tokio::spawn(async move {
                match read.await {
                    Ok(blocked) => {
                        if let Some(entry) = lock(&registry).get_mut(&owner) {
                            entry.blocked = blocked.into_iter().collect();
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not read again whom a peer blocks"),
                }
            });
        }
        let members: Vec<Arc<dyn Member>> = lock(&self.peers)
            .values()
            .flat_map(|entry| &entry.members)
            .filter_map(|(_, member)| member.upgrade())
            .collect();
        for member in members {
            member.resync();
        }
    }

    /// How many peers have sockets here.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Whether no peer has a socket here.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(peers: &Peers) -> std::sync::MutexGuard<'_, HashMap<PeerId, Entry>> {
    peers.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;
    use crate::{
        clock::ManualClock,
        store::{Durability, Notices, Settings, SqliteStore},
    };

    /// A real SQLite store in `dir`.
    fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let (notices, _) = Notices::channel(16);
        let store = SqliteStore::open(
            dir.path(),
            Settings {
                max_queue: 10,
                max_queue_per_sender: u32::MAX,
                max_queue_per_stranger: u32::MAX,
                ttl: Duration::from_secs(60),
                heartbeat: Duration::from_secs(5),
            },
            Durability::Normal,
            Arc::new(ManualClock::new(0)),
            notices,
        )
        .unwrap();
        Arc::new(store)
    }

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Member for Counter {
        fn resync(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }

        fn unlinked(self: Arc<Self>) {
            self.0.fetch_add(100, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_peer_counts_while_one_of_its_sessions_is_here_and_each_is_resynced() {
        let dir = tempfile::tempdir().unwrap();
        let peers = LocalPeers::new(store(&dir), Changes::channel().0);
        let peer: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let (a, b) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        let (wa, wb): (Weak<dyn Member>, Weak<dyn Member>) = (
            Arc::downgrade(&a) as Weak<dyn Member>,
            Arc::downgrade(&b) as Weak<dyn Member>,
        );
        let typed = Registration::typed(Speaker::first(peer));
        peers.enter(typed, wa.clone()).await.unwrap();
        assert_eq!(
            peers.here(peer),
            Here {
                typed: true,
                seed: false
            }
        );
        peers
            .enter(Registration::seed(typed.id), wb.clone())
            .await
            .unwrap();
        assert!(peers.here(peer).seed);
        assert_eq!(peers.len(), 1);
        peers.resync();
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 1)
        );

        peers.leave(peer, &wa);
        assert_eq!(peers.len(), 1, "b is still here");
        assert!(!peers.here(peer).typed);
        peers.resync();
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 2)
        );
        peers.leave(peer, &wb);
        assert!(peers.is_empty());
    }

    #[tokio::test]
    async fn a_typed_peer_here_brings_whom_it_blocks_and_hears_of_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let [bob, alice, carol]: [PeerId; 3] = [
            "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e".parse().unwrap(),
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap(),
            "0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c".parse().unwrap(),
        ];
        assert!(store.block(bob, alice, true).await.unwrap());
        let peers = LocalPeers::new(store, Changes::channel().0);
        let member = Arc::new(Counter::default());
        let weak = Arc::downgrade(&member) as Weak<dyn Member>;
        let typed = Registration::typed(Speaker::first(bob));
        peers.enter(typed, weak).await.unwrap();
        assert!(peers.blocks(bob, alice), "read from the store on entering");
        assert_eq!(peers.here_from(bob, alice), Here::default());
        assert!(peers.here_from(bob, carol).typed);
        // A notice of a change, from any node.
        peers.blocked(bob, carol, true);
        peers.blocked(bob, alice, false);
        assert!(peers.blocks(bob, carol) && !peers.blocks(bob, alice));
        // Someone not here: not known here.
        assert!(!peers.blocks(alice, bob));
    }
}
