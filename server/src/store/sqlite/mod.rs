//! [`SqliteStore`]: the embedded store, one SQLite file in the data directory.
//!
//! One thread owns the connection. Operations queue up in the order they are called and
//! are applied in batches, each batch one transaction: one commit (one fsync) for many
//! messages under load, and no waiting when idle. Replies and [`Notice`]s go out only
//! after the commit, so a completed append is on disk. Reads run in the same queue, so
//! they see every operation called before them.
//!
//! One node, so every notice is this node's: [`Store::watch`] has nothing to do.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    thread,
};

use futures_util::{FutureExt, future::BoxFuture};
use relay_shared::{
    Envelope, MessageId, PeerId, Receipt, Rejection,
    device::{DeviceId, DeviceInfo, DeviceSet},
    encrypted::Encrypted,
    keys::{ClaimedKey, DeviceKeysEntry, PublishKeysRequest},
    presence::{PresenceNotice, PresenceState},
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    AppendError, Appended, Claim, Linked, NewMessage, Notice, Notices, Published, ReceiptFor,
    Settings, Store, StoreError, Unlinked,
};
use crate::{clock::Clock, encryption_check, identity::SecretHash};

mod devices;
mod keys;

/// Operations applied per transaction, at most.
const MAX_BATCH: usize = 4096;
/// Rows [`Store::expire`] removes per call, at most, so it never holds the writer long.
const MAX_EXPIRED_PER_CALL: usize = 10_000;

/// How hard each commit works to survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// fsync at every commit: a confirmed message survives a power cut.
    Full,
    /// fsync at checkpoints only: a confirmed message survives the server being killed,
    /// not the machine losing power.
    Normal,
}

/// The SQLite store. Cheap to share: operations are messages to its writer thread.
pub struct SqliteStore {
    ops: mpsc::Sender<Op>,
    notices: Notices,
}

impl SqliteStore {
    /// The file name in the data directory.
    pub const FILE: &str = "relay.sqlite3";

    /// Opens (creating if needed) the store in `dir`, reading the time from `clock` and
    /// sending what it commits to `notices`.
    pub fn open(
        dir: &Path,
        settings: Settings,
        durability: Durability,
        clock: Arc<dyn Clock>,
        notices: Notices,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join(Self::FILE);
        let conn = Connection::open(&path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )
        .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(32);
        // `rarray(?)`: a list of `seq`s bound as one parameter.
        rusqlite::vtab::array::load_module(&conn).map_err(backend)?;
        let tx = conn.unchecked_transaction().map_err(backend)?;
        tx.execute_batch(TABLES).map_err(backend)?;
        migrate(&tx).map_err(backend)?;
        tx.execute_batch(INDEXES).map_err(backend)?;
        tx.commit().map_err(backend)?;
        // Whoever was online when the node stopped without a goodbye (a crash) was last
        // seen at its last heartbeat.
        conn.execute(
            "UPDATE presence SET online = 0,
                 last_seen = COALESCE((SELECT at FROM heartbeat WHERE id = 1), last_seen)
             WHERE online = 1",
            [],
        )
        .map_err(backend)?;
        let mut writer = Writer {
            conn,
            devices: Devices::default(),
            queues: Queues::default(),
            contacts: HashSet::new(),
            unflushed: HashMap::new(),
            blocks: Blocks::new(),
            settings,
            path,
            clock,
            notices: notices.clone(),
        };
        writer.load_devices().map_err(backend)?;
        writer.load_counts().map_err(backend)?;
        writer.load_contacts().map_err(backend)?;
        writer.load_blocks().map_err(backend)?;
        let (ops, rx) = mpsc::channel();
        thread::Builder::new()
            .name("relay-store".into())
            .spawn(move || writer.run(&rx))
            .map_err(backend)?;
        Ok(Self { ops, notices })
    }

    /// Queues `op` now, in call order, and returns the future of its reply.
    fn call<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        op: impl FnOnce(Reply<T, E>) -> Op,
    ) -> BoxFuture<'static, Result<T, E>> {
        let (reply, response) = oneshot::channel();
        let sent = self.ops.send(op(reply));
        async move {
            sent.map_err(|_| StoreError::Closed)?;
            response.await.map_err(|_| StoreError::Closed)?
        }
        .boxed()
    }
}

const TABLES: &str = "
-- Each device of a peer id: the hash of its secret. Device 0 is the secret that claimed
-- the id; the others were linked with a one-time code.
CREATE TABLE IF NOT EXISTS devices (
    peer BLOB NOT NULL,
    device INTEGER NOT NULL,
    secret_hash BLOB NOT NULL,
    name TEXT,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (peer, device)
) WITHOUT ROWID;

-- Each device's public keys for end-to-end encryption, as published (JSON), and its
-- fallback key, handed out when no one-time key is left.
CREATE TABLE IF NOT EXISTS device_keys (
    peer BLOB NOT NULL,
    device INTEGER NOT NULL,
    keys TEXT NOT NULL,
    fallback TEXT,
    PRIMARY KEY (peer, device)
) WITHOUT ROWID;

-- A device's one-time keys (JSON), each handed out once, oldest (lowest n) first.
CREATE TABLE IF NOT EXISTS one_time_keys (
    n INTEGER PRIMARY KEY,
    peer BLOB NOT NULL,
    device INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (peer, device, key_id)
);

-- The one-time code that links one more device to a peer id, while it lasts.
CREATE TABLE IF NOT EXISTS link_codes (
    peer BLOB PRIMARY KEY,
    code_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A row is a message waiting for its recipient's devices (`waits`, one bit each) and for
-- its sender's other devices (`copies`). The first confirmation makes it the receipt
-- for its sender (delivered_at set), which waits for the sender's devices
-- (`receipt_waits`). Once the recipient read it, the read receipt (read_at set), with a
-- new seq (sent_at then is when it was read if the row was made for it). An end-to-end
-- encrypted message keeps an empty body and the JSON of its `Encrypted` in `encrypted`
-- (NULL for a plain one). Body and ciphertexts go once no device waits for the message;
-- the row once nothing waits for it.
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender BLOB NOT NULL,
    id BLOB NOT NULL,
    recipient BLOB NOT NULL,
    body TEXT,
    sent_at INTEGER NOT NULL,
    delivered_at INTEGER,
    read_at INTEGER,
    waits INTEGER NOT NULL DEFAULT 1,
    copies INTEGER NOT NULL DEFAULT 0,
    receipt_waits INTEGER NOT NULL DEFAULT 1,
    encrypted TEXT
);

-- `writer` has sent `reader` a message: `writer` is a contact of `reader`'s, whose
-- messages to `writer` then get the larger share of `writer`'s queue.
-- `owner` blocks `peer`: what `peer` sends `owner` is dropped.
CREATE TABLE IF NOT EXISTS blocks (
    owner BLOB NOT NULL,
    peer BLOB NOT NULL,
    PRIMARY KEY (owner, peer)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS contacts (
    writer BLOB NOT NULL,
    reader BLOB NOT NULL,
    PRIMARY KEY (writer, reader)
) WITHOUT ROWID;

-- A peer's presence: whether a typed socket of it is registered, when its last one
-- left, and whether it hides this from its contacts (never expires).
CREATE TABLE IF NOT EXISTS presence (
    peer BLOB PRIMARY KEY,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    hidden INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The node's last heartbeat: after a crash, when those it had online were last seen.
CREATE TABLE IF NOT EXISTS heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
";

/// Created after [`migrate`], which adds the columns some of them cover.
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sender ON messages (sender, id);
CREATE INDEX IF NOT EXISTS waiting_for_devices ON messages (recipient, seq) WHERE waits != 0;
CREATE INDEX IF NOT EXISTS copies_by_sender ON messages (sender, seq) WHERE copies != 0;
CREATE INDEX IF NOT EXISTS receipts_by_sender ON messages (sender, seq)
    WHERE delivered_at IS NOT NULL;
";

/// Brings a store written by an earlier version up to this schema, keeping every row.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_read_at: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'read_at'")?
        .exists([])?;
    if !has_read_at {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN read_at INTEGER")?;
    }
    let has_waits: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'waits'")?
        .exists([])?;
    if !has_waits {
        // Before devices, an id had one: device 0. A confirmed message waited no more.
        conn.execute_batch(
            "ALTER TABLE messages ADD COLUMN waits INTEGER NOT NULL DEFAULT 1;
             ALTER TABLE messages ADD COLUMN copies INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE messages ADD COLUMN receipt_waits INTEGER NOT NULL DEFAULT 1;
             UPDATE messages SET waits = 0 WHERE delivered_at IS NOT NULL;
             DROP INDEX IF EXISTS waiting_by_recipient;",
        )?;
    }
    let has_encrypted: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'encrypted'")?
        .exists([])?;
    if !has_encrypted {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN encrypted TEXT")?;
    }
    let has_peers: bool = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'peers'")?
        .exists([])?;
    if has_peers {
        // Each owner's secret becomes its id's first device.
        conn.execute_batch(
            "INSERT INTO devices (peer, device, secret_hash, linked_at)
                 SELECT id, 0, secret_hash, claimed_at FROM peers WHERE true
                 ON CONFLICT DO NOTHING;
             DROP TABLE peers;",
        )?;
    }
    Ok(())
}

type Reply<T, E = StoreError> = oneshot::Sender<Result<T, E>>;

/// One operation for the writer.
enum Op {
    Claim(PeerId, SecretHash, Reply<Claim>),
    IsClaimed(PeerId, Reply<bool>),
    /// id, code hash, expires at.
    LinkCode(PeerId, SecretHash, u64, Reply<()>),
    /// id, code hash, secret hash, name.
    Link(
        PeerId,
        SecretHash,
        SecretHash,
        Option<String>,
        Reply<Linked>,
    ),
    Devices(PeerId, Reply<Vec<DeviceInfo>>),
    Unlink(PeerId, DeviceId, Reply<Unlinked>),
    PublishKeys(PeerId, DeviceId, Box<PublishKeysRequest>, Reply<Published>),
    Keys(PeerId, Reply<Vec<DeviceKeysEntry>>),
    ClaimKeys(PeerId, Vec<DeviceId>, Reply<Vec<ClaimedKey>>),
    Append(NewMessage, Reply<Appended, AppendError>),
    Delivered(PeerId, DeviceId, Vec<u64>, Reply<()>),
    Read(PeerId, PeerId, Vec<MessageId>, Reply<()>),
    Block(PeerId, PeerId, bool, Reply<bool>),
    Blocked(PeerId, Reply<Vec<PeerId>>),
    Blocks(PeerId, PeerId, Reply<bool>),
    ForgetReceipts(PeerId, DeviceId, Vec<u64>, Reply<()>),
    Waiting(PeerId, DeviceId, u64, usize, Reply<Vec<Envelope>>),
    Receipts(PeerId, DeviceId, u64, usize, Reply<Vec<Receipt>>),
    Present(Vec<(PeerId, bool)>, Reply<Vec<Option<PresenceNotice>>>),
    /// viewer, peers.
    Presence(PeerId, Vec<PeerId>, Reply<Vec<PresenceNotice>>),
    HidePresence(PeerId, bool, Reply<PresenceNotice>),
    Heartbeat(Reply<Vec<PresenceNotice>>),
    Expire(Reply<u64>),
    /// Everything before is applied: stop.
    Close(Reply<()>),
}

/// An append's result, before it is known whether the batch commits.
/// An append's result, before it is known whether the batch commits.
enum AppendOutcome {
    Stored(Appended),
    Refused(AppendRefusal),
}

/// Why an append was not stored, as its batch decided.
enum AppendRefusal {
    QueueFull(u32),
    ShareFull(u32),
    /// Encrypted for other devices or keys than the directory lists.
    Keys(Rejection),
}

/// A reply held until its batch commits.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;

fn completion<T: Send + 'static>(reply: Reply<T>, result: rusqlite::Result<T>) -> Completion {
    Box::new(move |commit_error| {
        let result = match (result, commit_error) {
            (Ok(value), None) => Ok(value),
            (Err(e), _) => Err(backend(e)),
            (Ok(_), Some(e)) => Err(backend(format!("commit failed: {e}"))),
        };
        let _ = reply.send(result);
    })
}

/// Who blocks whom: owner → the peers it blocks.
type Blocks = HashMap<PeerId, HashSet<PeerId>>;

/// Each claimed id's devices, and the ids whose rows may wait for some of their devices
/// and not others: those that have had more than one since the store opened (or had
/// such rows then). Only their confirmations need the statements for several devices.
#[derive(Default)]
struct Devices {
    sets: HashMap<PeerId, DeviceSet>,
    several: HashSet<PeerId>,
}

/// Undelivered messages per recipient, and per recipient and sender: the queue bounds.
#[derive(Default)]
struct Queues {
    total: HashMap<PeerId, u32>,
    from: HashMap<(PeerId, PeerId), u32>,
}

impl Queues {
    fn total(&self, recipient: PeerId) -> u32 {
        self.total.get(&recipient).copied().unwrap_or(0)
    }

    fn from(&self, recipient: PeerId, sender: PeerId) -> u32 {
        self.from.get(&(recipient, sender)).copied().unwrap_or(0)
    }

    fn add(&mut self, recipient: PeerId, sender: PeerId) {
        *self.total.entry(recipient).or_default() += 1;
        *self.from.entry((recipient, sender)).or_default() += 1;
    }

    fn remove(&mut self, recipient: PeerId, sender: PeerId) {
        fn down<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
            if let Some(count) = map.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(&key);
                }
            }
        }
        down(&mut self.total, recipient);
        down(&mut self.from, (recipient, sender));
    }
}

struct Writer {
    conn: Connection,
    /// Each claimed id's devices.
    devices: Devices,
    /// Undelivered messages per recipient and sender, to enforce the queue bounds.
    queues: Queues,
    /// Who has written to whom: (writer, reader).
    contacts: HashSet<(PeerId, PeerId)>,
    /// Who blocks whom: owner → peers.
    blocks: Blocks,
    /// Presence changes not written yet: written with the next heartbeat (or the
    /// close), so a coming or going costs no commit of its own. A crash loses at most a
    /// heartbeat's worth, and those online are then last seen at the last heartbeat.
    unflushed: HashMap<PeerId, PresenceRow>,
    settings: Settings,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    notices: Notices,
}

impl Writer {
    fn run(&mut self, ops: &mpsc::Receiver<Op>) {
        while let Ok(first) = ops.recv() {
            let mut batch = vec![first];
            batch.extend(ops.try_iter().take(MAX_BATCH - 1));
            // A close ends the batch, and the writer once the batch is applied.
            let close = batch
                .iter()
                .position(|op| matches!(op, Op::Close(_)))
                .map(|at| {
                    let rest = batch.split_off(at);
                    rest.into_iter().next()
                });
            self.apply(batch);
            if let Some(Some(close)) = close {
                // Its own transaction: what presence was not written yet.
                self.apply(vec![close]);
                // Whatever came after the close fails: the receiver goes with the thread.
                return;
            }
        }
    }

    fn apply(&mut self, ops: Vec<Op>) {
        let mut done: Vec<Completion> = Vec::with_capacity(ops.len());
        let mut queues = std::mem::take(&mut self.queues);
        let mut contacts = std::mem::take(&mut self.contacts);
        let mut unflushed = std::mem::take(&mut self.unflushed);
        let mut blocks = std::mem::take(&mut self.blocks);
        let mut devices = std::mem::take(&mut self.devices);
        let mut noticed = Vec::new();
        let commit = match self.conn.transaction() {
            Ok(tx) => {
                let mut batch = Batch {
                    tx: &tx,
                    queues: &mut queues,
                    contacts: &mut contacts,
                    unflushed: &mut unflushed,
                    blocks: &mut blocks,
                    devices: &mut devices,
                    settings: self.settings,
                    now: self.clock.now_millis(),
                    noticed: &mut noticed,
                };
                for op in ops {
                    done.push(batch.apply(op));
                }
                tx.commit()
            }
            Err(e) => {
                for op in ops {
                    done.push(fail(op));
                }
                Err(e)
            }
        };
        self.queues = queues;
        self.contacts = contacts;
        self.unflushed = unflushed;
        self.blocks = blocks;
        self.devices = devices;
        let commit_error = commit.err().map(|e| e.to_string());
        if let Some(error) = &commit_error {
            tracing::error!(path = %self.path.display(), %error, "store commit failed");
            if let Err(error) = self
                .load_devices()
                .and_then(|()| self.load_counts())
                .and_then(|()| self.load_contacts())
                .and_then(|()| self.load_blocks())
            {
                tracing::error!(%error, "cannot reload the devices, queue counts, contacts and blocks");
            }
        }
        for complete in done {
            complete(commit_error.as_deref());
        }
        // After the replies: a sender hears `sent` no later than its recipient gets the
        // message, so what a socket has waiting for the store stays within its bound.
        if commit_error.is_none() {
            for notice in noticed {
                self.notices.send_blocking(notice);
            }
        }
    }

    fn load_counts(&mut self) -> rusqlite::Result<()> {
        let mut statement = self.conn.prepare(
            "SELECT recipient, sender, COUNT(*) FROM messages WHERE waits != 0
             GROUP BY recipient, sender",
        )?;
        let mut queues = Queues::default();
        for row in statement.query_map([], |row| {
            Ok((
                peer(row.get(0)?)?,
                peer(row.get(1)?)?,
                row.get::<_, u32>(2)?,
            ))
        })? {
            let (recipient, sender, count) = row?;
            *queues.total.entry(recipient).or_default() += count;
            queues.from.insert((recipient, sender), count);
        }
        self.queues = queues;
        Ok(())
    }

    fn load_blocks(&mut self) -> rusqlite::Result<()> {
        let mut statement = self.conn.prepare("SELECT owner, peer FROM blocks")?;
        let mut blocks = Blocks::new();
        for row in statement.query_map([], |row| Ok((peer(row.get(0)?)?, peer(row.get(1)?)?)))? {
            let (owner, blocked) = row?;
            blocks.entry(owner).or_default().insert(blocked);
        }
        self.blocks = blocks;
        Ok(())
    }

    fn load_contacts(&mut self) -> rusqlite::Result<()> {
        let mut statement = self.conn.prepare("SELECT writer, reader FROM contacts")?;
        self.contacts = statement
            .query_map([], |row| Ok((peer(row.get(0)?)?, peer(row.get(1)?)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(())
    }
}

/// One transaction's worth of operations, and what they will notice once it commits.
struct Batch<'a> {
    tx: &'a Transaction<'a>,
    queues: &'a mut Queues,
    contacts: &'a mut HashSet<(PeerId, PeerId)>,
    /// Presence changes not written yet.
    unflushed: &'a mut HashMap<PeerId, PresenceRow>,
    blocks: &'a mut Blocks,
    devices: &'a mut Devices,
    settings: Settings,
    /// The time of the whole batch.
    now: u64,
    noticed: &'a mut Vec<Notice>,
}

impl Batch<'_> {
    /// Applies one operation inside the batch's transaction.
    fn apply(&mut self, op: Op) -> Completion {
        match op {
            Op::Claim(id, hash, reply) => completion(reply, self.claim(id, hash)),
            Op::IsClaimed(id, reply) => completion(reply, Ok(self.devices.sets.contains_key(&id))),
            Op::LinkCode(id, code, expires_at, reply) => {
                completion(reply, self.link_code(id, code, expires_at))
            }
            Op::Link(id, code, secret, name, reply) => {
                completion(reply, self.link(id, code, secret, name))
            }
            Op::Devices(id, reply) => completion(reply, self.devices_of(id)),
            Op::Unlink(id, device, reply) => completion(reply, self.unlink(id, device)),
            Op::PublishKeys(id, device, keys, reply) => {
                completion(reply, self.publish_keys(id, device, *keys))
            }
            Op::Keys(id, reply) => completion(reply, self.keys_of(id)),
            Op::ClaimKeys(id, devices, reply) => completion(reply, self.claim_keys(id, &devices)),
            Op::Append(message, reply) => {
                let outcome = self.append(message);
                Box::new(move |commit_error| {
                    let result = match (outcome, commit_error) {
                        (Ok(AppendOutcome::Stored(appended)), None) => Ok(appended),
                        (Ok(AppendOutcome::Refused(AppendRefusal::QueueFull(limit))), _) => {
                            Err(AppendError::QueueFull { limit })
                        }
                        (Ok(AppendOutcome::Refused(AppendRefusal::ShareFull(limit))), _) => {
                            Err(AppendError::ShareFull { limit })
                        }
                        (Ok(AppendOutcome::Refused(AppendRefusal::Keys(rejection))), _) => {
                            Err(AppendError::Refused(rejection))
                        }
                        (Err(e), _) => Err(AppendError::Store(backend(e))),
                        (Ok(_), Some(e)) => Err(backend(format!("commit failed: {e}")).into()),
                    };
                    let _ = reply.send(result);
                })
            }
            Op::Delivered(recipient, device, seqs, reply) => {
                completion(reply, self.delivered(recipient, device, &seqs))
            }
            Op::Read(reader, sender, ids, reply) => {
                completion(reply, self.read(reader, sender, &ids))
            }
            Op::Block(owner, peer, on, reply) => completion(reply, self.block(owner, peer, on)),
            Op::Blocks(owner, peer, reply) => completion(
                reply,
                Ok(self.blocks.get(&owner).is_some_and(|p| p.contains(&peer))),
            ),
            Op::Blocked(owner, reply) => completion(
                reply,
                Ok(self
                    .blocks
                    .get(&owner)
                    .map(|peers| peers.iter().copied().collect())
                    .unwrap_or_default()),
            ),
            Op::ForgetReceipts(sender, device, seqs, reply) => {
                completion(reply, self.forget_receipts(sender, device, &seqs))
            }
            Op::Waiting(recipient, device, after, limit, reply) => {
                completion(reply, self.waiting(recipient, device, after, limit))
            }
            Op::Receipts(sender, device, after, limit, reply) => {
                completion(reply, self.receipts(sender, device, after, limit))
            }
            Op::Present(changes, reply) => completion(reply, self.present(&changes)),
            Op::Presence(viewer, peers, reply) => {
                completion(reply, self.presence_of(viewer, &peers))
            }
            Op::HidePresence(peer, hidden, reply) => {
                completion(reply, self.hide_presence(peer, hidden))
            }
            Op::Heartbeat(reply) => completion(
                reply,
                self.flush_presence()
                    .and_then(|()| {
                        self.tx.prepare_cached(
                            "INSERT INTO heartbeat (id, at) VALUES (1, ?1)
                             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                        )
                    })
                    .and_then(|mut s| s.execute([self.now]))
                    // One node: no other to find dead.
                    .map(|_| Vec::new()),
            ),
            Op::Expire(reply) => completion(reply, self.expire()),
            Op::Close(reply) => completion(reply, self.flush_presence()),
        }
    }

    /// `(online, last_seen, hidden)` of `peer`, if it has a row.
    fn presence_row(&self, peer: PeerId) -> rusqlite::Result<Option<PresenceRow>> {
        if let Some(row) = self.unflushed.get(&peer) {
            return Ok(Some(*row));
        }
        self.tx
            .prepare_cached("SELECT online, last_seen, hidden FROM presence WHERE peer = ?1")?
            .query_row([peer.as_uuid().as_bytes()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
    }

    fn present(
        &mut self,
        changes: &[(PeerId, bool)],
    ) -> rusqlite::Result<Vec<Option<PresenceNotice>>> {
        let mut out = Vec::with_capacity(changes.len());
        for &(peer, on) in changes {
            let (online, seen_before, hidden) =
                self.presence_row(peer)?.unwrap_or((false, None, false));
            if online == on {
                out.push(None);
                continue;
            }
            let last_seen = (!on).then_some(self.now);
            self.unflushed
                .insert(peer, (on, last_seen.or(seen_before), hidden));
            out.push((!hidden).then_some(PresenceNotice {
                peer,
                state: if on {
                    PresenceState::Online
                } else {
                    PresenceState::Offline
                },
                last_seen,
            }));
        }
        Ok(out)
    }

    fn presence_of(
        &self,
        viewer: PeerId,
        peers: &[PeerId],
    ) -> rusqlite::Result<Vec<PresenceNotice>> {
        let viewer_hides = self
            .presence_row(viewer)?
            .is_some_and(|(_, _, hidden)| hidden);
        peers
            .iter()
            .map(|&peer| {
                let allowed = !viewer_hides
                    && self.contacts.contains(&(peer, viewer))
                    && !self.blocks.get(&peer).is_some_and(|b| b.contains(&viewer));
                if !allowed {
                    return Ok(PresenceNotice::unknown(peer));
                }
                Ok(shown(peer, self.presence_row(peer)?))
            })
            .collect()
    }

    fn hide_presence(&mut self, peer: PeerId, hidden: bool) -> rusqlite::Result<PresenceNotice> {
        // A choice: written now, with what was not yet.
        let (online, last_seen, _) = self.presence_row(peer)?.unwrap_or((false, None, false));
        self.write_presence(peer, (online, last_seen, hidden))?;
        self.unflushed.remove(&peer);
        Ok(shown(peer, Some((online, last_seen, hidden))))
    }

    /// Writes the presence changes not written yet.
    fn flush_presence(&mut self) -> rusqlite::Result<()> {
        for (peer, row) in std::mem::take(self.unflushed) {
            self.write_presence(peer, row)?;
        }
        Ok(())
    }

    fn write_presence(
        &self,
        peer: PeerId,
        (online, last_seen, hidden): PresenceRow,
    ) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO presence (peer, online, last_seen, hidden) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (peer) DO UPDATE SET online = excluded.online,
                     last_seen = excluded.last_seen, hidden = excluded.hidden",
            )?
            .execute(params![
                peer.as_uuid().as_bytes(),
                online,
                last_seen,
                hidden
            ])?;
        Ok(())
    }

    fn append(&mut self, m: NewMessage) -> rusqlite::Result<AppendOutcome> {
        // Against the directory as this batch has it: a key published just before counts.
        if let Some(encrypted) = &m.encrypted {
            let mine = self.published_keys(m.from)?;
            let theirs = if m.to == m.from {
                None
            } else {
                Some(self.published_keys(m.to)?)
            };
            if let Err(rejection) = encryption_check::covers(
                encrypted,
                m.from,
                m.device,
                m.to,
                theirs.as_deref(),
                &mine,
            ) {
                return Ok(AppendOutcome::Refused(AppendRefusal::Keys(rejection)));
            }
        }
        // The sender's other devices get a copy; one writing to oneself gets the message.
        let copies = if m.from == m.to {
            DeviceSet::EMPTY
        } else {
            self.devices_set(m.from).without(m.device)
        };
        if self
            .blocks
            .get(&m.to)
            .is_some_and(|peers| peers.contains(&m.from))
        {
            return self.drop_blocked(&m, copies).map(AppendOutcome::Stored);
        }
        if let Some(refusal) = self.refusal(&m) {
            // A resend of a stored message is not a new one: it never counts against the
            // bounds.
            return Ok(self
                .resend(&m)?
                .map_or(AppendOutcome::Refused(refusal), AppendOutcome::Stored));
        }
        let waits = self.recipients(m.to);
        let seq: Option<u64> = self
            .tx
            .prepare_cached(
                "INSERT INTO messages (sender, id, recipient, body, sent_at, waits, copies, receipt_waits, encrypted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)
                 ON CONFLICT (sender, id) DO NOTHING RETURNING seq",
            )?
            .query_row(
                params![
                    m.from.as_uuid().as_bytes(),
                    m.id.as_uuid().as_bytes(),
                    m.to.as_uuid().as_bytes(),
                    m.body,
                    self.now,
                    waits.bits(),
                    copies.bits(),
                    encrypted_json(m.encrypted.as_ref())?,
                ],
                |row| row.get(0),
            )
            .optional()?;
        let Some(seq) = seq else {
            return self
                .resend(&m)?
                .map(AppendOutcome::Stored)
                .ok_or(rusqlite::Error::QueryReturnedNoRows);
        };
        self.queues.add(m.to, m.from);
        if self.contacts.insert((m.from, m.to)) {
            self.tx
                .prepare_cached(
                    "INSERT INTO contacts (writer, reader) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    m.from.as_uuid().as_bytes(),
                    m.to.as_uuid().as_bytes()
                ])?;
        }
        let envelope = Envelope {
            id: m.id,
            from: m.from,
            to: m.to,
            body: m.body,
            encrypted: m.encrypted,
            sent_at: self.now,
            seq,
        };
        if !copies.is_empty() {
            self.noticed.push(Notice::Sent(envelope.clone()));
        }
        self.noticed.push(Notice::Message(envelope));
        Ok(AppendOutcome::Stored(Appended {
            seq,
            sent_at: self.now,
            duplicate: false,
        }))
    }

    /// A message from a blocked sender: answered like a stored one (it takes a `seq`),
    /// kept only for the sender's other devices (`copies`), noticed to no one else.
    fn drop_blocked(&mut self, m: &NewMessage, copies: DeviceSet) -> rusqlite::Result<Appended> {
        if !copies.is_empty() {
            if let Some(found) = self.resend(m)? {
                return Ok(found);
            }
            let seq: u64 = self
                .tx
                .prepare_cached(
                    "INSERT INTO messages (sender, id, recipient, body, sent_at, waits, copies, receipt_waits, encrypted)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 0, ?7) RETURNING seq",
                )?
                .query_row(
                    params![
                        m.from.as_uuid().as_bytes(),
                        m.id.as_uuid().as_bytes(),
                        m.to.as_uuid().as_bytes(),
                        m.body,
                        self.now,
                        copies.bits(),
                        encrypted_json(m.encrypted.as_ref())?,
                    ],
                    |row| row.get(0),
                )?;
            self.noticed.push(Notice::Sent(Envelope {
                id: m.id,
                from: m.from,
                to: m.to,
                body: m.body.clone(),
                encrypted: m.encrypted.clone(),
                sent_at: self.now,
                seq,
            }));
            return Ok(Appended {
                seq,
                sent_at: self.now,
                duplicate: false,
            });
        }
        let seq = self.fresh_seq()?;
        Ok(Appended {
            seq,
            sent_at: self.now,
            duplicate: false,
        })
    }

    /// A `seq` no row has, above every one given so far.
    fn fresh_seq(&mut self) -> rusqlite::Result<u64> {
        let seq: u64 = self
            .tx
            .prepare_cached(
                "INSERT INTO messages (sender, id, recipient, sent_at, waits, receipt_waits)
                 VALUES (?1, ?2, ?1, ?3, 0, 0) RETURNING seq",
            )?
            .query_row(
                params![Uuid::nil().as_bytes(), Uuid::new_v4().as_bytes(), self.now],
                |row| row.get(0),
            )?;
        self.tx
            .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
            .execute([seq])?;
        Ok(seq)
    }

    /// The stored copy of a message sent again, noticed again to whichever devices still
    /// wait for it.
    fn resend(&mut self, m: &NewMessage) -> rusqlite::Result<Option<Appended>> {
        // seq, sent_at, body, waits, copies, encrypted
        type Found = (u64, u64, Option<String>, u8, u8, Option<Encrypted>);
        let found: Option<Found> = self
            .tx
            .prepare_cached(
                "SELECT seq, sent_at, body, waits, copies, encrypted FROM messages
                 WHERE sender = ?1 AND id = ?2",
            )?
            .query_row(
                params![m.from.as_uuid().as_bytes(), m.id.as_uuid().as_bytes()],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        encrypted(row.get(5)?)?,
                    ))
                },
            )
            .optional()?;
        let Some((seq, sent_at, body, waits, copies, encrypted)) = found else {
            return Ok(None);
        };
        if let Some(body) = body {
            // Still waiting: the first delivery may never have happened (a crash right
            // after the commit), so it goes out again. Clients drop what they have.
            let envelope = Envelope {
                id: m.id,
                from: m.from,
                to: m.to,
                body,
                encrypted,
                sent_at,
                seq,
            };
            if copies != 0 {
                self.noticed.push(Notice::Sent(envelope.clone()));
            }
            if waits != 0 {
                self.noticed.push(Notice::Message(envelope));
            }
        }
        Ok(Some(Appended {
            seq,
            sent_at,
            duplicate: true,
        }))
    }

    /// `device` of `recipient` holds `seqs`: messages for it, and copies of what it sent
    /// from another device.
    fn delivered(
        &mut self,
        recipient: PeerId,
        device: DeviceId,
        seqs: &[u64],
    ) -> rusqlite::Result<()> {
        let at = self.now;
        let key = recipient.as_uuid().as_bytes();
        let bit = device.bit();
        // First confirmations: each makes its receipt, waiting for every device of the
        // sender (not only the one that sent it: the others show the status too).
        // One statement for the whole list: a `received` confirms many at once.
        let mut firsts = self
            .tx
            .prepare_cached(
                "UPDATE messages SET delivered_at = ?1, waits = waits & ~?4, receipt_waits = 1,
                     body = CASE WHEN waits & ~?4 = 0 AND copies = 0 THEN NULL ELSE body END,
                     encrypted = CASE WHEN waits & ~?4 = 0 AND copies = 0 THEN NULL ELSE encrypted END
                 WHERE seq IN rarray(?2) AND recipient = ?3 AND waits != 0 AND waits & ?4 != 0
                     AND delivered_at IS NULL
                 RETURNING seq, sender, id, waits",
            )?
            .query_map(params![at, seq_array(seqs), key, bit], |row| {
                Ok((
                    ReceiptFor {
                        sender: peer(row.get(1)?)?,
                        receipt: Receipt {
                            id: message_id(row.get(2)?)?,
                            to: recipient,
                            delivered_at: at,
                            read_at: None,
                            seq: row.get(0)?,
                        },
                    },
                    row.get::<_, u8>(3)? == 0,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // RETURNING comes in no promised order; receipts go out in the order sent.
        firsts.sort_unstable_by_key(|(r, _)| r.receipt.seq);
        for (receipt, done) in &firsts {
            if *done {
                self.queues.remove(recipient, receipt.sender);
            }
            // Written above for device 0, the one device of nearly every sender.
            let senders = self.recipients(receipt.sender);
            if senders != DeviceSet::EMPTY.with(DeviceId::FIRST) {
                self.tx
                    .prepare_cached("UPDATE messages SET receipt_waits = ?1 WHERE seq = ?2")?
                    .execute(params![senders.bits(), receipt.receipt.seq])?;
            }
        }
        self.noticed
            .extend(firsts.into_iter().map(|(r, _)| Notice::Receipt(r)));
        if !self.has_several(recipient) {
            // One device, ever: no later confirmations, no copies.
            return Ok(());
        }
        // Later confirmations, by the recipient's other devices.
        let emptied = self
            .tx
            .prepare_cached(
                "UPDATE messages SET waits = waits & ~?3,
                     body = CASE WHEN waits & ~?3 = 0 AND copies = 0 THEN NULL ELSE body END,
                     encrypted = CASE WHEN waits & ~?3 = 0 AND copies = 0 THEN NULL ELSE encrypted END
                 WHERE seq IN rarray(?1) AND recipient = ?2 AND waits != 0 AND waits & ?3 != 0
                 RETURNING sender, waits",
            )?
            .query_map(params![seq_array(seqs), key, bit], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, u8>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (sender, waits) in emptied {
            if waits == 0 {
                self.queues.remove(recipient, peer(sender)?);
            }
        }
        // Copies of what this id sent from its other devices.
        self.tx
            .prepare_cached(
                "UPDATE messages SET copies = copies & ~?3,
                     body = CASE WHEN waits = 0 AND copies & ~?3 = 0 THEN NULL ELSE body END,
                     encrypted = CASE WHEN waits = 0 AND copies & ~?3 = 0 THEN NULL ELSE encrypted END
                 WHERE seq IN rarray(?1) AND sender = ?2 AND copies != 0 AND copies & ?3 != 0",
            )?
            .execute(params![seq_array(seqs), key, bit])?;
        self.tx
            .prepare_cached(
                "DELETE FROM messages WHERE seq IN rarray(?1) AND waits = 0 AND copies = 0
                     AND (delivered_at IS NULL OR receipt_waits = 0)",
            )?
            .execute([seq_array(seqs)])?;
        Ok(())
    }

    fn read(&mut self, reader: PeerId, sender: PeerId, ids: &[MessageId]) -> rusqlite::Result<()> {
        let receipt_waits = self.recipients(sender).bits();
        for &id in ids {
            let key = params![sender.as_uuid().as_bytes(), id.as_uuid().as_bytes()];
            // seq, recipient, delivered_at, read_at
            type Found = (u64, Vec<u8>, Option<u64>, Option<u64>);
            let found: Option<Found> = self
                .tx
                .prepare_cached(
                    "SELECT seq, recipient, delivered_at, read_at
                     FROM messages WHERE sender = ?1 AND id = ?2",
                )?
                .query_row(key, |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()?;
            let (seq, delivered_at) = match found {
                None => {
                    let seq: u64 = self
                        .tx
                        .prepare_cached(
                            "INSERT INTO messages (sender, id, recipient, sent_at, delivered_at,
                                 read_at, waits, receipt_waits)
                             VALUES (?1, ?2, ?3, ?4, ?4, ?4, 0, ?5) RETURNING seq",
                        )?
                        .query_row(
                            params![
                                sender.as_uuid().as_bytes(),
                                id.as_uuid().as_bytes(),
                                reader.as_uuid().as_bytes(),
                                self.now,
                                receipt_waits
                            ],
                            |row| row.get(0),
                        )?;
                    (seq, self.now)
                }
                // Another peer's message, one not confirmed yet, or one already read:
                // nothing to add.
                Some((old, recipient, delivered_at, read_at)) => {
                    if recipient != reader.as_uuid().as_bytes() || read_at.is_some() {
                        continue;
                    }
                    let Some(delivered_at) = delivered_at else {
                        continue;
                    };
                    // The read receipt replaces the delivery receipt under a new seq, so
                    // that a device confirming the delivery receipt late cannot take it
                    // for the read one. Whatever else the row still waits for stays.
                    let seq = self.fresh_seq()?;
                    self.tx
                        .prepare_cached(
                            "UPDATE messages SET seq = ?1, read_at = ?2, receipt_waits = ?3
                             WHERE seq = ?4",
                        )?
                        .execute(params![seq, self.now, receipt_waits, old])?;
                    (seq, delivered_at)
                }
            };
            self.noticed.push(Notice::Receipt(ReceiptFor {
                sender,
                receipt: Receipt {
                    id,
                    to: reader,
                    delivered_at,
                    read_at: Some(self.now),
                    seq,
                },
            }));
        }
        Ok(())
    }

    fn forget_receipts(
        &mut self,
        sender: PeerId,
        device: DeviceId,
        seqs: &[u64],
    ) -> rusqlite::Result<()> {
        let key = sender.as_uuid().as_bytes();
        // The last device the receipt waited for, and nothing else waits: the row goes.
        self.tx
            .prepare_cached(
                "DELETE FROM messages
                 WHERE seq IN rarray(?1) AND sender = ?2 AND delivered_at IS NOT NULL
                     AND receipt_waits & ~?3 = 0 AND waits = 0 AND copies = 0",
            )?
            .execute(params![seq_array(seqs), key, device.bit()])?;
        if !self.has_several(sender) {
            return Ok(());
        }
        self.tx
            .prepare_cached(
                "UPDATE messages SET receipt_waits = receipt_waits & ~?3
                 WHERE seq IN rarray(?1) AND sender = ?2 AND delivered_at IS NOT NULL
                     AND receipt_waits & ?3 != 0",
            )?
            .execute(params![seq_array(seqs), key, device.bit()])?;
        Ok(())
    }

    fn waiting(
        &mut self,
        recipient: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> rusqlite::Result<Vec<Envelope>> {
        self.tx
            .prepare_cached(
                "SELECT seq, sender, id, recipient, body, sent_at, encrypted FROM messages
                 WHERE recipient = ?1 AND waits != 0 AND waits & ?2 != 0 AND seq > ?3
                 UNION ALL
                 SELECT seq, sender, id, recipient, body, sent_at, encrypted FROM messages
                 WHERE sender = ?1 AND copies != 0 AND copies & ?2 != 0 AND seq > ?3
                 ORDER BY seq LIMIT ?4",
            )?
            .query_map(
                params![recipient.as_uuid().as_bytes(), device.bit(), after, limit],
                |row| {
                    Ok(Envelope {
                        seq: row.get(0)?,
                        from: peer(row.get(1)?)?,
                        id: message_id(row.get(2)?)?,
                        to: peer(row.get(3)?)?,
                        body: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        encrypted: encrypted(row.get(6)?)?,
                        sent_at: row.get(5)?,
                    })
                },
            )?
            .collect()
    }

    fn receipts(
        &mut self,
        sender: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> rusqlite::Result<Vec<Receipt>> {
        self.tx
            .prepare_cached(
                "SELECT seq, id, recipient, delivered_at, read_at FROM messages
                 WHERE sender = ?1 AND delivered_at IS NOT NULL AND receipt_waits & ?2 != 0
                     AND seq > ?3
                 ORDER BY seq LIMIT ?4",
            )?
            .query_map(
                params![sender.as_uuid().as_bytes(), device.bit(), after, limit],
                |row| {
                    Ok(Receipt {
                        seq: row.get(0)?,
                        id: message_id(row.get(1)?)?,
                        to: peer(row.get(2)?)?,
                        delivered_at: row.get(3)?,
                        read_at: row.get(4)?,
                    })
                },
            )?
            .collect()
    }

    fn block(&mut self, owner: PeerId, peer: PeerId, on: bool) -> rusqlite::Result<bool> {
        let key = params![owner.as_uuid().as_bytes(), peer.as_uuid().as_bytes()];
        let peers = self.blocks.entry(owner).or_default();
        if on {
            if !peers.contains(&peer) && peers.len() >= relay_shared::message::MAX_BLOCKED {
                return Ok(false);
            }
            self.tx
                .prepare_cached(
                    "INSERT INTO blocks (owner, peer) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(key)?;
            peers.insert(peer);
        } else {
            self.tx
                .prepare_cached("DELETE FROM blocks WHERE owner = ?1 AND peer = ?2")?
                .execute(key)?;
            peers.remove(&peer);
            if peers.is_empty() {
                self.blocks.remove(&owner);
            }
        }
        self.noticed.push(Notice::Blocked { owner, peer, on });
        Ok(true)
    }

    /// Why a new message from `m.from` to `m.to` cannot wait, if it cannot: the
    /// recipient's queue is full, or the sender's share of it.
    fn refusal(&self, m: &NewMessage) -> Option<AppendRefusal> {
        let settings = &self.settings;
        if self.queues.total(m.to) >= settings.max_queue {
            return Some(AppendRefusal::QueueFull(settings.max_queue));
        }
        let share = if self.contacts.contains(&(m.to, m.from)) {
            settings.max_queue_per_sender
        } else {
            settings.max_queue_per_stranger
        };
        (self.queues.from(m.to, m.from) >= share).then_some(AppendRefusal::ShareFull(share))
    }

    /// Removes rows accepted more than the TTL ago. Rows are in `seq` order, which is the
    /// order they were accepted in, so the expired ones are at the head: no index on time
    /// needed.
    fn expire(&mut self) -> rusqlite::Result<u64> {
        let cutoff = self.now.saturating_sub(self.settings.ttl_millis());
        // seq, sent_at, recipient, sender, still waiting
        type Row = (u64, u64, Vec<u8>, Vec<u8>, bool);
        let head: Vec<Row> = self
            .tx
            .prepare_cached(
                "SELECT seq, sent_at, recipient, sender, waits != 0 FROM messages
                 ORDER BY seq LIMIT ?1",
            )?
            .query_map([MAX_EXPIRED_PER_CALL], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut removed = 0;
        let mut delete = self
            .tx
            .prepare_cached("DELETE FROM messages WHERE seq = ?1")?;
        for (seq, sent_at, recipient, sender, waiting) in head {
            if sent_at >= cutoff {
                break;
            }
            delete.execute([seq])?;
            removed += 1;
            if waiting {
                self.queues.remove(peer(recipient)?, peer(sender)?);
            }
        }
        Ok(removed)
    }
}

/// The reply for an operation whose batch could not even start.
fn fail(op: Op) -> Completion {
    fn closed<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        reply: Reply<T, E>,
    ) -> Completion {
        Box::new(move |_| {
            let _ = reply.send(Err(backend("cannot start a transaction").into()));
        })
    }
    match op {
        Op::Claim(.., r) => closed(r),
        Op::IsClaimed(_, r) => closed(r),
        Op::LinkCode(.., r) => closed(r),
        Op::Link(.., r) => closed(r),
        Op::Devices(_, r) => closed(r),
        Op::Unlink(.., r) => closed(r),
        Op::PublishKeys(.., r) => closed(r),
        Op::Keys(_, r) => closed(r),
        Op::ClaimKeys(.., r) => closed(r),
        Op::Append(_, r) => closed(r),
        Op::Delivered(.., r) => closed(r),
        Op::Read(.., r) => closed(r),
        Op::Block(.., r) => closed(r),
        Op::Blocked(_, r) => closed(r),
        Op::Blocks(.., r) => closed(r),
        Op::ForgetReceipts(.., r) => closed(r),
        Op::Waiting(.., r) => closed(r),
        Op::Receipts(.., r) => closed(r),
        Op::Present(_, r) => closed(r),
        Op::Presence(.., r) => closed(r),
        Op::HidePresence(.., r) => closed(r),
        Op::Heartbeat(r) => closed(r),
        Op::Expire(r) => closed(r),
        Op::Close(r) => closed(r),
    }
}

/// `seqs` as the value of an `rarray(?)` parameter. A `seq` past `i64::MAX` names no
/// row (SQLite's rowids are `i64`), so it is left out.
/// A peer's presence as kept: `(online, last_seen, hidden)`.
type PresenceRow = (bool, Option<u64>, bool);

/// What a peer's contacts see of its presence row.
fn shown(peer: PeerId, row: Option<PresenceRow>) -> PresenceNotice {
    match row {
        Some((_, _, true)) => PresenceNotice::unknown(peer),
        Some((true, ..)) => PresenceNotice {
            peer,
            state: PresenceState::Online,
            last_seen: None,
        },
        Some((false, last_seen, false)) => PresenceNotice {
            peer,
            state: PresenceState::Offline,
            last_seen,
        },
        None => PresenceNotice {
            peer,
            state: PresenceState::Offline,
            last_seen: None,
        },
    }
}

fn seq_array(seqs: &[u64]) -> std::rc::Rc<Vec<rusqlite::types::Value>> {
    std::rc::Rc::new(
        seqs.iter()
            .filter_map(|&seq| i64::try_from(seq).ok())
            .map(rusqlite::types::Value::Integer)
            .collect(),
    )
}

fn peer(bytes: Vec<u8>) -> rusqlite::Result<PeerId> {
    Uuid::from_slice(&bytes)
        .ok()
        .and_then(|u| PeerId::from_uuid(u).ok())
        .ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Blob,
                "peer id".into(),
            )
        })
}

fn message_id(bytes: Vec<u8>) -> rusqlite::Result<MessageId> {
    Uuid::from_slice(&bytes)
        .map(MessageId::from_uuid)
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
        })
}

/// The column `encrypted` of a message: the JSON of its [`Encrypted`], NULL for a plain one.
fn encrypted_json(encrypted: Option<&Encrypted>) -> rusqlite::Result<Option<String>> {
    encrypted
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// An [`Encrypted`] read back from its column: one that cannot be read fails the read,
/// like any other unreadable column, rather than turning into a plain empty message.
fn encrypted(json: Option<String>) -> rusqlite::Result<Option<Encrypted>> {
    json.map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Backend(error.into())
}

impl Store for SqliteStore {
    fn claim(
        &self,
        id: PeerId,
        secret: SecretHash,
    ) -> BoxFuture<'static, Result<Claim, StoreError>> {
        self.call(|reply| Op::Claim(id, secret, reply))
    }

    fn is_claimed(&self, id: PeerId) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.call(|reply| Op::IsClaimed(id, reply))
    }

    fn link_code(
        &self,
        id: PeerId,
        code: SecretHash,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::LinkCode(id, code, expires_at, reply))
    }

    fn link(
        &self,
        id: PeerId,
        code: SecretHash,
        secret: SecretHash,
        name: Option<String>,
    ) -> BoxFuture<'static, Result<Linked, StoreError>> {
        self.call(|reply| Op::Link(id, code, secret, name, reply))
    }

    fn devices(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceInfo>, StoreError>> {
        self.call(|reply| Op::Devices(id, reply))
    }

    fn unlink(
        &self,
        id: PeerId,
        device: DeviceId,
    ) -> BoxFuture<'static, Result<Unlinked, StoreError>> {
        self.call(|reply| Op::Unlink(id, device, reply))
    }

    fn publish_keys(
        &self,
        id: PeerId,
        device: DeviceId,
        keys: PublishKeysRequest,
    ) -> BoxFuture<'static, Result<Published, StoreError>> {
        self.call(|reply| Op::PublishKeys(id, device, Box::new(keys), reply))
    }

    fn keys(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceKeysEntry>, StoreError>> {
        self.call(|reply| Op::Keys(id, reply))
    }

    fn claim_keys(
        &self,
        id: PeerId,
        devices: Vec<DeviceId>,
    ) -> BoxFuture<'static, Result<Vec<ClaimedKey>, StoreError>> {
        self.call(|reply| Op::ClaimKeys(id, devices, reply))
    }

    fn checks_encrypted(&self) -> bool {
        true
    }

    fn append(&self, message: NewMessage) -> BoxFuture<'static, Result<Appended, AppendError>> {
        self.call(|reply| Op::Append(message, reply))
    }

    fn delivered(
        &self,
        recipient: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::Delivered(recipient, device, seqs, reply))
    }

    fn read(
        &self,
        reader: PeerId,
        sender: PeerId,
        ids: Vec<MessageId>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::Read(reader, sender, ids, reply))
    }

    fn block(
        &self,
        owner: PeerId,
        peer: PeerId,
        on: bool,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.call(|reply| Op::Block(owner, peer, on, reply))
    }

    fn blocked(&self, owner: PeerId) -> BoxFuture<'static, Result<Vec<PeerId>, StoreError>> {
        self.call(|reply| Op::Blocked(owner, reply))
    }

    fn blocks(&self, owner: PeerId, peer: PeerId) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.call(|reply| Op::Blocks(owner, peer, reply))
    }

    fn forget_receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::ForgetReceipts(sender, device, seqs, reply))
    }

    fn waiting(
        &self,
        recipient: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Envelope>, StoreError>> {
        self.call(|reply| Op::Waiting(recipient, device, after, limit, reply))
    }

    fn receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Receipt>, StoreError>> {
        self.call(|reply| Op::Receipts(sender, device, after, limit, reply))
    }

    fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<(), StoreError>> {
        // One node: straight to its own notices, past the writer.
        self.notices.send(Notice::Message(envelope));
        futures_util::future::ready(Ok(())).boxed()
    }

    fn watch(&self, _peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        // Every notice of a single node is its own.
        futures_util::future::ready(Ok(())).boxed()
    }

    fn unwatch(&self, _peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        futures_util::future::ready(Ok(())).boxed()
    }

    fn present(
        &self,
        changes: Vec<(PeerId, bool)>,
    ) -> BoxFuture<'static, Result<Vec<Option<PresenceNotice>>, StoreError>> {
        self.call(|reply| Op::Present(changes, reply))
    }

    fn presence(
        &self,
        viewer: PeerId,
        peers: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        self.call(|reply| Op::Presence(viewer, peers, reply))
    }

    fn hide_presence(
        &self,
        peer: PeerId,
        hidden: bool,
    ) -> BoxFuture<'static, Result<PresenceNotice, StoreError>> {
        self.call(|reply| Op::HidePresence(peer, hidden, reply))
    }

    fn heartbeat(&self) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        self.call(Op::Heartbeat)
    }

    fn expire(&self) -> BoxFuture<'static, Result<u64, StoreError>> {
        self.call(Op::Expire)
    }

    fn close(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(Op::Close)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use relay_shared::Secret;

    use super::*;
    use crate::clock::ManualClock;

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        open_with(dir, Arc::new(ManualClock::new(1_000)))
    }

    fn open_with(dir: &tempfile::TempDir, clock: Arc<ManualClock>) -> SqliteStore {
        let (notices, _) = Notices::channel(16);
        SqliteStore::open(
            dir.path(),
            Settings {
                max_queue: 2,
                max_queue_per_sender: 2,
                max_queue_per_stranger: 2,
                ttl: Duration::from_secs(60),
                heartbeat: Duration::from_secs(5),
            },
            Durability::Normal,
            clock,
            notices,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn presence_is_written_at_heartbeats_and_a_crash_leaves_the_last_as_last_seen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let (alice, bob, carol) = (peer(1), peer(2), peer(3));
        let offline = |peer, at| PresenceNotice {
            peer,
            state: PresenceState::Offline,
            last_seen: Some(at),
        };
        {
            let store = open_with(&dir, clock.clone());
            for writer in [bob, carol] {
                let mut m = message(u8::try_from(writer.as_uuid().as_u128() % 200).unwrap());
                (m.from, m.to) = (writer, alice);
                store.append(m).await.unwrap();
            }
            store
                .present(vec![(bob, true), (carol, true)])
                .await
                .unwrap();
            store.heartbeat().await.unwrap();
            clock.advance(500);
            // Not written before the crash: carol is taken as here until the heartbeat.
            store.present(vec![(carol, false)]).await.unwrap();
            // A choice is written at once.
            store.hide_presence(alice, true).await.unwrap();
            // Dropped without a close: as a crash.
        }
        let store = open_with(&dir, clock.clone());
        let both = store.presence(alice, vec![bob, carol]);
        assert!(
            both.await
                .unwrap()
                .iter()
                .all(|n| n.state == PresenceState::Unknown),
            "alice still hides"
        );
        store.hide_presence(alice, false).await.unwrap();
        assert_eq!(
            store.presence(alice, vec![bob, carol]).await.unwrap(),
            [offline(bob, 1_000), offline(carol, 1_000)]
        );
        // A clean close writes what was not yet.
        store.present(vec![(bob, true)]).await.unwrap();
        clock.advance(700);
        store.present(vec![(bob, false)]).await.unwrap();
        store.close().await.unwrap();
        let store = open_with(&dir, clock);
        assert_eq!(
            store.presence(alice, vec![bob]).await.unwrap(),
            [offline(bob, 2_200)]
        );
    }

    fn peer(n: u8) -> PeerId {
        format!("00000000-0000-4000-8000-0000000000{n:02x}")
            .parse()
            .unwrap()
    }

    const D0: DeviceId = DeviceId::FIRST;

    fn message(n: u8) -> NewMessage {
        NewMessage {
            id: format!("00000000-0000-4000-9000-0000000000{n:02x}")
                .parse()
                .unwrap(),
            from: peer(1),
            to: peer(2),
            body: format!("message {n}"),
            encrypted: None,
            device: D0,
        }
    }

    /// The rest of the contract is in `server/tests/store_contract.rs`, shared with Redis.
    #[tokio::test]
    async fn everything_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let hash = SecretHash::of(&"secret-one-000000".parse::<Secret>().unwrap());
        {
            let store = open(&dir);
            store.claim(peer(1), hash).await.unwrap();
            store.append(message(1)).await.unwrap();
            store.append(message(2)).await.unwrap();
        }
        let store = open(&dir);
        assert_eq!(
            store.claim(peer(1), hash).await.unwrap(),
            Claim::Verified(D0)
        );
        assert_eq!(store.waiting(peer(2), D0, 0, 10).await.unwrap().len(), 2);
        assert!(
            matches!(
                store.append(message(3)).await,
                Err(AppendError::QueueFull { .. })
            ),
            "the queue counts are rebuilt from the file"
        );
    }

    #[tokio::test]
    async fn a_file_from_before_read_receipts_and_devices_opens_with_every_row_and_owner() {
        let dir = tempfile::tempdir().unwrap();
        let owner = SecretHash::of(&"secret-one-000000".parse::<Secret>().unwrap());
        {
            // The schema of the version before read receipts, with a waiting message, a
            // receipt and an owner in it.
            let conn = Connection::open(dir.path().join(SqliteStore::FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE peers (
                    id BLOB PRIMARY KEY, secret_hash BLOB NOT NULL, claimed_at INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 CREATE TABLE messages (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, sender BLOB NOT NULL,
                    id BLOB NOT NULL, recipient BLOB NOT NULL, body TEXT,
                    sent_at INTEGER NOT NULL, delivered_at INTEGER);
                 CREATE UNIQUE INDEX messages_by_sender ON messages (sender, id);
                 CREATE INDEX waiting_by_recipient ON messages (recipient, seq)
                     WHERE delivered_at IS NULL;",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO peers (id, secret_hash, claimed_at) VALUES (?1, ?2, 100)",
                params![peer(2).as_uuid().as_bytes(), owner.as_bytes()],
            )
            .unwrap();
            for (n, body, delivered_at) in [(1, Some("waiting"), None), (2, None, Some(900))] {
                let m = message(n);
                conn.execute(
                    "INSERT INTO messages (sender, id, recipient, body, sent_at, delivered_at)
                     VALUES (?1, ?2, ?3, ?4, 500, ?5)",
                    params![
                        m.from.as_uuid().as_bytes(),
                        m.id.as_uuid().as_bytes(),
                        m.to.as_uuid().as_bytes(),
                        body,
                        delivered_at
                    ],
                )
                .unwrap();
            }
        }
        let store = open(&dir);
        // The owner is the id's first device.
        assert_eq!(
            store.claim(peer(2), owner).await.unwrap(),
            Claim::Verified(D0)
        );
        let devices = store.devices(peer(2)).await.unwrap();
        assert_eq!((devices.len(), devices[0].linked_at), (1, 100));
        let waiting = store.waiting(peer(2), D0, 0, 10).await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].body, "waiting");
        let receipts = store.receipts(peer(1), D0, 0, 10).await.unwrap();
        assert_eq!(
            (receipts.len(), receipts[0].read_at),
            (1, None),
            "{receipts:?}"
        );
        // And the receipt can become a read one.
        store
            .read(peer(2), peer(1), vec![message(2).id])
            .await
            .unwrap();
        let receipts = store.receipts(peer(1), D0, 0, 10).await.unwrap();
        assert_eq!(
            (
                receipts.len(),
                receipts[0].delivered_at,
                receipts[0].read_at
            ),
            (1, 900, Some(1_000))
        );
    }

    #[test]
    fn seqs_past_what_sqlite_can_hold_name_no_row() {
        assert_eq!(seq_array(&[1, u64::MAX, 3]).len(), 2);
    }
}
