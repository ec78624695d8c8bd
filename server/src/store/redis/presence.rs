//! [`Beacon`]: a node's presence bookkeeping on Redis: which of its peers it said are
//! here, its heartbeat, and the ending of dead nodes' presence.
//!
//! Keys besides each peer's `relay:{P}:presence` (see `relay.lua`):
//! - `relay:nodes`, a sorted set: every live node, scored by its last heartbeat (ms);
//! - `relay:node:{<node>}:peers`, a set: the peers that node said it has sockets of,
//!   written before it says so in their keys and cleared after it unsays it, so a dead
//!   node's peers can be found and ended by another.
//!
//! Presence calls go straight to the link, not through the store's queue: they are not
//! ordered against messages, and each [`Beacon::present`] waits for the one before (the
//! node makes them one batch at a time).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use redis::{RedisResult, Value};
use relay_shared::{
    PeerId,
    presence::{PresenceNotice, PresenceState},
};

use super::{Origin, fcall, key, parse, unreadable};
use crate::{
    clock::Clock,
    store::{Settings, StoreError},
};

use super::link::RedisLink;

/// The sorted set of live nodes.
const NODES: &str = "relay:nodes";

/// A node's presence bookkeeping. See the [module docs](self).
pub(super) struct Beacon {
    link: RedisLink,
    node: Origin,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// The peers this node says it has typed sockets of.
    here: Mutex<HashSet<PeerId>>,
    /// A presence write failed: what Redis holds of this node's peers may be wrong until
    /// the next heartbeat writes it all again.
    dirty: AtomicBool,
    /// Whether this node has beaten before (a first heartbeat adds it to the live set).
    beaten: AtomicBool,
}

impl Beacon {
    pub(super) fn new(
        link: RedisLink,
        node: Origin,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            link,
            node,
            clock,
            settings,
            here: Mutex::new(HashSet::new()),
            dirty: AtomicBool::new(false),
            beaten: AtomicBool::new(false),
        }
    }

    /// This node's set of peers.
    fn peers_key(node: &str) -> String {
        format!("relay:node:{{{node}}}:peers")
    }

    /// See [`Store::present`](crate::store::Store::present).
    pub(super) async fn present(
        &self,
        changes: Vec<(PeerId, bool)>,
    ) -> Result<Vec<Option<PresenceNotice>>, StoreError> {
        {
            let mut here = self.here.lock().unwrap_or_else(PoisonError::into_inner);
            for &(peer, on) in &changes {
                if on {
                    here.insert(peer);
                } else {
                    here.remove(&peer);
                }
            }
        }
        let result = self
            .write(&self.node.to_string(), &changes, self.clock.now_millis())
            .await;
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }

    /// Writes the presence changes of `node`'s peers: the node's set first for those
    /// arriving, their keys, the node's set last for those leaving.
    async fn write(
        &self,
        node: &str,
        changes: &[(PeerId, bool)],
        at: u64,
    ) -> Result<Vec<Option<PresenceNotice>>, StoreError> {
        let set = Self::peers_key(node);
        let (arriving, leaving): (Vec<_>, Vec<_>) = changes.iter().partition(|(_, on)| *on);
        self.update_set("SADD", &set, &arriving).await?;
        let commands = changes
            .iter()
            .map(|&(peer, on)| {
                let mut cmd = fcall("relay_present", peer, &["presence"]);
                cmd.arg(node).arg(if on { "1" } else { "0" }).arg(at);
                (peer, cmd)
            })
            .collect();
        let results = self.link.run(commands).await;
        let mut notices = Vec::with_capacity(changes.len());
        let mut failed = None;
        for (&(peer, _), result) in changes.iter().zip(results) {
            match parse::<Vec<String>>(result) {
                Ok(fields) if fields.is_empty() => notices.push(None),
                Ok(fields) => notices.push(Some(notice(peer, &fields)?)),
                Err(error) => {
                    notices.push(None);
                    failed = Some(error);
                }
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        self.update_set("SREM", &set, &leaving).await?;
        Ok(notices)
    }

    /// `SADD` or `SREM` (`command`) of `peers` on the node's `set`; nothing if none.
    async fn update_set(
        &self,
        command: &str,
        set: &str,
        peers: &[&(PeerId, bool)],
    ) -> Result<(), StoreError> {
        if peers.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd(command);
        cmd.arg(set);
        for (peer, _) in peers {
            cmd.arg(peer.to_string());
        }
        self.link
            .query::<Value>(&cmd)
            .await
            .map(|_| ())
            .map_err(StoreError::backend)
    }

    /// See [`Store::presence`](crate::store::Store::presence).
    pub(super) async fn presence(
        &self,
        viewer: PeerId,
        peers: Vec<PeerId>,
    ) -> Result<Vec<PresenceNotice>, StoreError> {
        let mut hides = redis::cmd("HEXISTS");
        hides.arg(key(viewer, "presence")).arg("hidden");
        let mut commands = vec![(viewer, hides)];
        for &peer in &peers {
            let mut cmd = fcall("relay_presence", peer, &["presence", "wrote", "blocked"]);
            cmd.arg(viewer.to_string());
            commands.push((peer, cmd));
        }
        let mut results = self.link.run(commands).await.into_iter();
        let viewer_hides = results.next().map_or(Ok(false), parse::<bool>)?;
        peers
            .into_iter()
            .zip(results)
            .map(|(peer, result)| {
                if viewer_hides {
                    return Ok(PresenceNotice::unknown(peer));
                }
                notice(peer, &parse::<Vec<String>>(result)?)
            })
            .collect()
    }

    /// See [`Store::hide_presence`](crate::store::Store::hide_presence).
    pub(super) async fn hide(
        &self,
        peer: PeerId,
        hidden: bool,
    ) -> Result<PresenceNotice, StoreError> {
        let mut cmd = fcall("relay_hide_presence", peer, &["presence"]);
        cmd.arg(if hidden { "1" } else { "0" });
        let fields: Vec<String> = self.link.query(&cmd).await.map_err(StoreError::backend)?;
        notice(peer, &fields)
    }

    /// See [`Store::heartbeat`](crate::store::Store::heartbeat): beats, ends the
    /// presence of nodes silent too long, and writes this node's again if it must.
    pub(super) async fn heartbeat(&self) -> Result<Vec<PresenceNotice>, StoreError> {
        let now = self.clock.now_millis();
        let me = self.node.to_string();
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(NODES).arg(now).arg(&me);
        let added: i64 = self.link.query(&zadd).await.map_err(StoreError::backend)?;
        // Added again after the first beat: another node took this one for dead and
        // ended its peers' presence.
        let forgotten = added == 1 && self.beaten.swap(true, Ordering::AcqRel);
        let mut notices = Vec::new();
        let mut dead = redis::cmd("ZRANGEBYSCORE");
        dead.arg(NODES)
            .arg("-inf")
            .arg(now.saturating_sub(self.settings.dead_after_millis()))
            .arg("WITHSCORES");
        let dead: Vec<(String, f64)> = self.link.query(&dead).await.map_err(StoreError::backend)?;
        for (node, last_beat) in dead {
            if node != me {
                // A node that stopped cleanly left 0: its peers were here until about now.
                let last_seen = match last_beat as u64 {
                    0 => now,
                    beat => beat,
                };
                notices.extend(self.end(&node, last_seen).await?);
            }
        }
        if forgotten || self.dirty.swap(false, Ordering::AcqRel) {
            match self.write_again(&me, now).await {
                Ok(again) => notices.extend(again),
                Err(error) => {
                    self.dirty.store(true, Ordering::Release);
                    return Err(error);
                }
            }
        }
        Ok(notices)
    }

    /// Ends the presence of the dead `node`'s peers, as of its last heartbeat, then
    /// forgets it. Another node doing the same at once changes nothing twice: each
    /// peer's change is made (and reported) by one of them.
    async fn end(&self, node: &str, last_beat: u64) -> Result<Vec<PresenceNotice>, StoreError> {
        let set = Self::peers_key(node);
        let peers: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(&set))
            .await
            .map_err(StoreError::backend)?;
        let changes: Vec<(PeerId, bool)> = peers
            .iter()
            .filter_map(|p| p.parse().ok())
            .map(|peer| (peer, false))
            .collect();
        tracing::warn!(%node, peers = changes.len(), "a node stopped beating: ending its peers' presence");
        let notices = self.write(node, &changes, last_beat).await?;
        self.link
            .query::<Value>(redis::cmd("DEL").arg(&set))
            .await
            .map_err(StoreError::backend)?;
        self.link
            .query::<Value>(redis::cmd("ZREM").arg(NODES).arg(node))
            .await
            .map_err(StoreError::backend)?;
        Ok(notices.into_iter().flatten().collect())
    }

    /// Writes this node's peers again, as they are now: those it had said are here and
    /// are gone leave, those here arrive (again, if another node ended them).
    async fn write_again(&self, me: &str, now: u64) -> Result<Vec<PresenceNotice>, StoreError> {
        let said: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(Self::peers_key(me)))
            .await
            .map_err(StoreError::backend)?;
        let here = self
            .here
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut changes: Vec<(PeerId, bool)> = said
            .iter()
            .filter_map(|p| p.parse().ok())
            .filter(|peer| !here.contains(peer))
            .map(|peer| (peer, false))
            .collect();
        changes.extend(here.into_iter().map(|peer| (peer, true)));
        tracing::info!(peers = changes.len(), "writing this node's presence again");
        let notices = self.write(me, &changes, now).await?;
        Ok(notices.into_iter().flatten().collect())
    }

    /// On a clean stop: marks this node as long silent, so the next heartbeat of another
    /// ends its peers' presence at once.
    pub(super) async fn stop(&self) -> RedisResult<()> {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(NODES).arg(0).arg(self.node.to_string());
        self.link.query::<Value>(&zadd).await.map(|_| ())
    }
}

/// A presence function's reply `{state, last seen}` as a notice.
fn notice(peer: PeerId, fields: &[String]) -> Result<PresenceNotice, StoreError> {
    let [state, seen] = fields else {
        return Err(unreadable("a presence"));
    };
    let state = match state.as_str() {
        "online" => PresenceState::Online,
        "offline" => PresenceState::Offline,
        "unknown" => PresenceState::Unknown,
        _ => return Err(unreadable("a presence state")),
    };
    Ok(PresenceNotice {
        peer,
        state,
        last_seen: (state == PresenceState::Offline)
            .then(|| seen.parse().ok())
            .flatten(),
    })
}
