//! [`RedisStore`]: the store shared by the nodes of a cluster, on Redis (one server or a
//! Redis Cluster).
//!
//! Every operation is one Redis call on the keys of one peer, behind its hash tag
//! (`relay:{<peer id>}:…`), so each is atomic (a Redis Function, `relay.lua`, or a single
//! command) and a Redis Cluster can spread peers over its masters. Operations queue in
//! the order they are called; one task sends them as pipelines, so under load many go
//! per round trip (and, with `appendfsync always`, per fsync), and Redis applies them in
//! that order.
//!
//! Confirming messages is the one operation spanning peers (the recipient's messages
//! become their senders' receipts). It runs in steps, each atomic on one peer: the
//! messages move to the recipient's outbox; each sender's receipts are added (for every
//! confirmation of a batch at once, one round trip); the outbox is cleared with the next
//! pipeline. A node dying between steps leaves the outbox, which the recipient's next
//! confirmation hands over again (a receipt may then come twice; clients do not mind).
//! So the receipts a confirmation makes for other peers are in place when its future
//! completes, not before operations called after it on those peers.
//!
//! A typed message is kept for its sender's other devices the same way: the append, on
//! the recipient's keys, reads the sender's devices beside it in the same round trip; if
//! it stored the message (or took it as a resend, or dropped it for a block, which the
//! sender must not learn) and the sender has other devices, the copy is made, on the
//! sender's keys, with the next pipeline, and the append's future completes once it is
//! (failing if it could not be, so the client sends again: both steps take a resend
//! for the same). One device, the common case, costs one more read and no more round
//! trips.
//!
//! Functions publish what they store on the peer's channel `relay:{<peer id>}:live`
//! (and [`Store::publish`] what is relayed without being kept); each node subscribes to
//! the channels of the peers it [watches](Store::watch), and turns what comes into
//! [`Notice`]s. A dropped connection means messages published
//! meanwhile are gone: once Redis answers again, [`Notice::Missed`].

mod keys;
mod link;
mod presence;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::{FutureExt, future::BoxFuture};
use redis::{FromRedisValue, RedisResult, Value};
use relay_shared::{
    Envelope, MessageId, PeerId, Receipt,
    device::{DeviceId, DeviceInfo, DeviceSet},
    encrypted::Encrypted,
    keys::{ClaimedKey, DeviceKeysEntry, PublishKeysRequest},
    presence::PresenceNotice,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use link::{ChannelMessage, RedisLink, RedisTopology};
use presence::Beacon;

use super::{
    AppendError, Appended, Claim, Linked, NewMessage, Notice, Notices, Published, ReceiptFor,
    Settings, Store, StoreError, Unlinked,
};
use crate::{clock::Clock, identity::SecretHash};

/// The function library, loaded (again) whenever Redis lacks it.
const LIBRARY: &str = include_str!("relay.lua");
/// Operations sent per pipeline, at most.
const MAX_BATCH: usize = 1024;
/// Messages or receipts per page read, at most (whatever the caller asks).
const MAX_PAGE: usize = 1024;
/// How long an outbox entry (a receipt not yet handed to its sender) may sit before a
/// later confirmation takes it for one its node failed to finish.
const STALE_HANDOVER: Duration = Duration::from_secs(10);

/// The Redis store. Cheap to share: operations are messages to its task.
pub struct RedisStore {
    ops: mpsc::UnboundedSender<Op>,
    /// Presence, straight on the link.
    beacon: Arc<Beacon>,
}

type Reply<T, E = StoreError> = oneshot::Sender<Result<T, E>>;

/// One operation for the store's task.
enum Op {
    Claim(PeerId, SecretHash, Reply<Claim>),
    /// id, code, expires_at.
    LinkCode(PeerId, SecretHash, u64, Reply<()>),
    /// id, code, secret, name.
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
    IsClaimed(PeerId, Reply<bool>),
    Append(NewMessage, Reply<Appended, AppendError>),
    Delivered(PeerId, DeviceId, Vec<u64>, Reply<()>),
    /// reader, sender, ids.
    Read(PeerId, PeerId, Vec<MessageId>, Reply<()>),
    /// owner, peer, on.
    Block(PeerId, PeerId, bool, Reply<bool>),
    Blocked(PeerId, Reply<Vec<PeerId>>),
    Blocks(PeerId, PeerId, Reply<bool>),
    ForgetReceipts(PeerId, DeviceId, Vec<u64>, Reply<()>),
    Waiting(PeerId, DeviceId, u64, usize, Reply<Vec<Envelope>>),
    Receipts(PeerId, DeviceId, u64, usize, Reply<Vec<Receipt>>),
    Publish(Envelope, Reply<()>),
    Watch(PeerId, Reply<()>),
    Unwatch(PeerId, Reply<()>),
    /// Everything before is sent and answered: stop.
    Close(Reply<()>),
}

impl RedisStore {
    /// Connects to the Redis at `url`, loads Relay's functions, and starts the store's
    /// task. Also returns the link, for the Socket.IO adapter to share.
    pub async fn open(
        url: &str,
        settings: Settings,
        clock: Arc<dyn Clock>,
        notices: Notices,
    ) -> Result<(Self, RedisLink), StoreError> {
        let link = RedisLink::connect(url).await.map_err(StoreError::backend)?;
        load_library(&link).await.map_err(StoreError::backend)?;
        let origin = Origin::new();
        {
            let notices = notices.clone();
            link.on_live(move |payload| match decode_notice(payload, origin) {
                Some(Live::Notice(notice)) => notices.send(notice),
                // Relayed by this node: its sockets had it before it was published.
                Some(Live::Own) => {}
                None => tracing::warn!("unreadable notice on a live channel"),
            });
        }
        {
            // One watcher at a time, however many times the connection drops meanwhile.
            let waiting = Arc::new(AtomicBool::new(false));
            let link_again = link.clone();
            link.on_disconnect(move || {
                if !waiting.swap(true, Ordering::AcqRel) {
                    let (link, notices, waiting) =
                        (link_again.clone(), notices.clone(), waiting.clone());
                    tokio::spawn(async move {
                        report_missed_once_back(link, notices).await;
                        waiting.store(false, Ordering::Release);
                    });
                }
            });
        }
        let (ops, rx) = mpsc::unbounded_channel();
        let beacon = Arc::new(Beacon::new(link.clone(), origin, clock.clone(), settings));
        tokio::spawn(
            Runner {
                link: link.clone(),
                origin,
                clock,
                settings,
                cleanup: Vec::new(),
                handovers: Vec::new(),
                copies: Vec::new(),
                noted: std::collections::HashSet::new(),
            }
            .run(rx),
        );
        Ok((Self { ops, beacon }, link))
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

/// Waits until Redis answers again (the connection then subscribed again to what it
/// was), then says notices were missed.
async fn report_missed_once_back(link: RedisLink, notices: Notices) {
    const EVERY: Duration = Duration::from_millis(200);
    // An hour of trying; by then the node has other troubles.
    for _ in 0..18_000 {
        tokio::time::sleep(EVERY).await;
        if link.query::<Value>(&redis::cmd("PING")).await.is_ok() {
            if let Err(error) = load_library(&link).await {
                tracing::warn!(%error, "could not load the store's functions");
            }
            tracing::info!("connection to Redis back");
            notices.missed();
            return;
        }
    }
}

/// Loads (or replaces) Relay's functions, on every master of a cluster.
async fn load_library(link: &RedisLink) -> RedisResult<()> {
    link.query::<Value>(
        redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(LIBRARY),
    )
    .await
    .map(|_| ())
}

/// The store's task: sends operations in the order they were called.
struct Runner {
    link: RedisLink,
    /// This node, in what it relays.
    origin: Origin,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// Outbox entries handed over, to clear with the next pipeline.
    cleanup: Vec<(PeerId, redis::Cmd)>,
    /// Confirmations whose receipts go to their senders with the next pipeline.
    handovers: Vec<Handover>,
    /// Appends whose copies go to their senders' other devices with the next pipeline.
    copies: Vec<PendingCopy>,
    /// (writer, reader) pairs this node noted as contacts lately.
    noted: std::collections::HashSet<(PeerId, PeerId)>,
}

impl Runner {
    async fn run(mut self, mut ops: mpsc::UnboundedReceiver<Op>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            if self.idle() {
                if ops.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    return;
                }
            } else {
                // Work is riding along: take what is queued, without waiting for more.
                while batch.len() < MAX_BATCH
                    && let Ok(op) = ops.try_recv()
                {
                    batch.push(op);
                }
            }
            let mut run = Vec::new();
            for op in batch.drain(..) {
                match op {
                    Op::Watch(peer, reply) => {
                        self.pipeline(std::mem::take(&mut run)).await;
                        let result = self.link.subscribe(&channel(peer), None).await;
                        let _ = reply.send(result.map_err(StoreError::backend));
                    }
                    Op::Unwatch(peer, reply) => {
                        self.pipeline(std::mem::take(&mut run)).await;
                        let result = self.link.unsubscribe(&channel(peer)).await;
                        let _ = reply.send(result.map_err(StoreError::backend));
                    }
                    Op::Close(reply) => {
                        self.pipeline(std::mem::take(&mut run)).await;
                        // The confirmations of that last pipeline hand their receipts
                        // over, the appends make their copies, and the outboxes are
                        // cleared.
                        while !self.idle() {
                            self.pipeline(Vec::new()).await;
                        }
                        let _ = reply.send(Ok(()));
                        return;
                    }
                    op => run.push(op),
                }
            }
            self.pipeline(run).await;
        }
    }

    /// Whether no step of an earlier operation waits for the next pipeline.
    fn idle(&self) -> bool {
        self.cleanup.is_empty() && self.handovers.is_empty() && self.copies.is_empty()
    }

    /// Sends `ops` in one round trip, with the cleanup, the handovers and the copies
    /// waiting, then answers each (a confirmation once its receipts are handed over, an
    /// append that needs a copy once it is made: with the next).
    async fn pipeline(&mut self, ops: Vec<Op>) {
        if ops.is_empty() && self.idle() {
            return;
        }
        let now = self.clock.now_millis();
        let cutoff = now.saturating_sub(self.settings.ttl_millis());
        let cleanup = std::mem::take(&mut self.cleanup);
        let cleaned = cleanup.len();
        let mut commands = cleanup;
        let handing = Handing::new(std::mem::take(&mut self.handovers));
        commands.extend(handing.commands(self, now, cutoff));
        let handed = handing.senders.len();
        let copies = std::mem::take(&mut self.copies);
        commands.extend(copies.iter().map(|c| (c.sender, c.command.clone())));
        let mut probed = Vec::with_capacity(ops.len());
        for op in &ops {
            commands.push(self.command(op, now, cutoff));
            let probe = probe(op);
            probed.push(probe.is_some());
            commands.extend(probe);
        }
        let notes = self.contacts_to_note(&ops);
        commands.extend(notes);
        let mut results = self.link.run(commands).await.into_iter();
        for result in results.by_ref().take(cleaned) {
            if let Err(error) = result {
                tracing::warn!(%error, "could not clear a confirmed outbox; it goes again");
            }
        }
        let handover_results: Vec<_> = results.by_ref().take(handed).collect();
        handing.answer(handover_results, &mut self.cleanup);
        let mut reload = false;
        for (copy, result) in copies.into_iter().zip(results.by_ref()) {
            let answer = match result {
                Ok(_) => Ok(copy.appended),
                Err(error) => {
                    reload |= missing_function(&error);
                    tracing::warn!(%error, "could not keep a message for its sender's devices");
                    Err(StoreError::backend(error).into())
                }
            };
            let _ = copy.reply.send(answer);
        }
        for (op, probed) in ops.into_iter().zip(probed) {
            let Some(result) = results.next() else { break };
            let probe = if probed { results.next() } else { None };
            if let Err(error) = &result {
                reload |= missing_function(error);
            }
            self.answer(op, result, probe, now);
        }
        for note in results {
            if let Err(error) = note {
                tracing::debug!(%error, "could not note a contact");
            }
        }
        if reload {
            tracing::warn!(
                "Redis lacks Relay's functions (restarted without persistence?): loading them"
            );
            if let Err(error) = load_library(&self.link).await {
                tracing::error!(%error, "could not load the store's functions");
            }
        }
    }

    /// For the appends of `ops` whose sender this node has not yet noted as a contact of
    /// the recipient's: the commands that note it (a hint for the shares of the
    /// recipient's queue, in the sender's keys, so not in the append's atomic step).
    fn contacts_to_note(&mut self, ops: &[Op]) -> Vec<(PeerId, redis::Cmd)> {
        const REMEMBERED: usize = 100_000;
        let mut notes = Vec::new();
        for op in ops {
            let Op::Append(m, _) = op else { continue };
            if self.noted.len() >= REMEMBERED {
                self.noted.clear();
            }
            if self.noted.insert((m.from, m.to)) {
                let mut cmd = fcall("relay_wrote", m.from, &["wrote"]);
                cmd.arg(m.to.to_string()).arg(self.settings.ttl_millis());
                notes.push((m.from, cmd));
            }
        }
        notes
    }

    /// The Redis command of one operation, and the peer whose keys it touches.
    fn command(&self, op: &Op, now: u64, cutoff: u64) -> (PeerId, redis::Cmd) {
        let ttl = self.settings.ttl_millis();
        let peer = match op {
            Op::Claim(id, ..)
            | Op::LinkCode(id, ..)
            | Op::Link(id, ..)
            | Op::Devices(id, _)
            | Op::Unlink(id, ..)
            | Op::PublishKeys(id, ..)
            | Op::Keys(id, _)
            | Op::ClaimKeys(id, ..)
            | Op::IsClaimed(id, _) => *id,
            Op::Append(m, _) => m.to,
            Op::Read(_, sender, ..) => *sender,
            Op::Block(owner, ..) | Op::Blocked(owner, _) | Op::Blocks(owner, ..) => *owner,
            Op::Publish(envelope, _) => envelope.to,
            Op::Waiting(peer, ..)
            | Op::Delivered(peer, ..)
            | Op::ForgetReceipts(peer, ..)
            | Op::Receipts(peer, ..)
            | Op::Watch(peer, _)
            | Op::Unwatch(peer, _) => *peer,
            Op::Close(_) => unreachable!("a close is not pipelined"),
        };
        let command = match op {
            Op::Claim(id, hash, _) => {
                let mut cmd = fcall("relay_claim", *id, &["devices", "owner"]);
                cmd.arg(hash.as_bytes().as_slice()).arg(now);
                cmd
            }
            Op::LinkCode(id, code, expires_at, _) => {
                let mut value = format!("{expires_at}\n").into_bytes();
                value.extend_from_slice(code.as_bytes());
                let mut cmd = redis::cmd("SET");
                cmd.arg(key(*id, "code"))
                    .arg(value)
                    .arg("PX")
                    .arg(expires_at.saturating_sub(now).max(1));
                cmd
            }
            Op::Link(id, code, secret, name, _) => {
                let mut cmd = fcall("relay_link", *id, &["devices", "owner", "code"]);
                let name = name
                    .as_ref()
                    .and_then(|name| serde_json::to_string(name).ok())
                    .unwrap_or_default();
                cmd.arg(code.as_bytes().as_slice())
                    .arg(secret.as_bytes().as_slice())
                    .arg(name)
                    .arg(now)
                    .arg(id.to_string())
                    .arg(channel(*id))
                    .arg(self.link.publish_command());
                cmd
            }
            Op::Devices(id, _) => {
                let mut cmd = fcall("relay_devices", *id, &["devices", "owner"]);
                cmd.arg(now);
                cmd
            }
            Op::Unlink(id, device, _) => {
                let [otk, order] = keys::one_time_names(*device);
                let mut cmd = fcall(
                    "relay_unlink",
                    *id,
                    &[
                        "devices", "owner", "inbox", "ids", "waits", "receipts", "rwaits", "keys",
                        "fallback", &otk, &order,
                    ],
                );
                cmd.arg(device.get())
                    .arg(now)
                    .arg(id.to_string())
                    .arg(channel(*id))
                    .arg(self.link.publish_command());
                cmd
            }
            Op::PublishKeys(id, device, published, _) => {
                keys::publish_command(*id, *device, published, now)
            }
            Op::Keys(id, _) => keys::keys_command(*id, now),
            Op::ClaimKeys(id, devices, _) => keys::claim_command(*id, devices, now),
            Op::IsClaimed(id, _) => {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(key(*id, "devices")).arg(key(*id, "owner"));
                cmd
            }
            Op::Append(m, _) => {
                let mut cmd = fcall(
                    "relay_append",
                    m.to,
                    &["inbox", "ids", "wrote", "blocked", "devices", "waits"],
                );
                cmd.arg(format!("{}:{}", m.from, m.id))
                    .arg(stored_json(m))
                    .arg(now)
                    .arg(cutoff)
                    .arg(self.settings.max_queue)
                    .arg(ttl)
                    .arg(channel(m.to))
                    .arg(self.link.publish_command())
                    .arg(m.from.to_string())
                    .arg(self.settings.max_queue_per_sender)
                    .arg(self.settings.max_queue_per_stranger);
                cmd
            }
            Op::Waiting(peer, device, after, limit, _) => {
                let mut cmd = fcall("relay_waiting", *peer, &["inbox", "ids", "waits"]);
                cmd.arg(after)
                    .arg((*limit).min(MAX_PAGE))
                    .arg(cutoff)
                    .arg(device.get());
                cmd
            }
            Op::Delivered(peer, device, seqs, _) => {
                let mut cmd = fcall("relay_deliver", *peer, &["inbox", "ids", "outbox", "waits"]);
                cmd.arg(peer.to_string())
                    .arg(now)
                    .arg(cutoff)
                    .arg(ttl)
                    .arg(now.saturating_sub(STALE_HANDOVER.as_millis() as u64))
                    .arg(device.get())
                    .arg(seqs);
                cmd
            }
            Op::Read(reader, sender, ids, _) => {
                // Straight to the sender's receipts: no state of the reader's changes.
                let mut cmd = receipt_add(*sender, now, cutoff, ttl, self.link.publish_command());
                for id in ids {
                    cmd.arg(format!(
                        r#"{{"id":"{id}","to":"{reader}","delivered_at":{now},"read_at":{now}}}"#
                    ));
                }
                cmd
            }
            Op::Block(owner, peer, on, _) => {
                let mut cmd = fcall("relay_block", *owner, &["blocked"]);
                cmd.arg(owner.to_string())
                    .arg(peer.to_string())
                    .arg(if *on { "1" } else { "0" })
                    .arg(relay_shared::message::MAX_BLOCKED)
                    .arg(channel(*owner))
                    .arg(self.link.publish_command());
                cmd
            }
            Op::Blocked(owner, _) => fcall("relay_blocked", *owner, &["blocked"]),
            Op::Blocks(owner, peer, _) => {
                let mut cmd = redis::cmd("SISMEMBER");
                cmd.arg(key(*owner, "blocked")).arg(peer.to_string());
                cmd
            }
            Op::ForgetReceipts(peer, device, seqs, _) => {
                let mut cmd = fcall("relay_receipts_forget", *peer, &["receipts", "rwaits"]);
                cmd.arg(device.get()).arg(seqs);
                cmd
            }
            Op::Receipts(peer, device, after, limit, _) => {
                let mut cmd = fcall("relay_receipts", *peer, &["receipts", "rwaits"]);
                cmd.arg(after)
                    .arg((*limit).min(MAX_PAGE))
                    .arg(cutoff)
                    .arg(device.get());
                cmd
            }
            Op::Publish(envelope, _) => {
                let mut cmd = redis::cmd(self.link.publish_command());
                let mut payload = format!("L{}\n", self.origin);
                payload.push_str(&serde_json::to_string(envelope).unwrap_or_default());
                cmd.arg(channel(envelope.to)).arg(payload);
                cmd
            }
            Op::Watch(..) | Op::Unwatch(..) | Op::Close(_) => {
                unreachable!("subscriptions and closes are not pipelined")
            }
        };
        (peer, command)
    }

    /// Answers `op` from its command's result (and an append's from its probe of the
    /// sender's devices); a confirmation is answered once its receipts are handed over,
    /// and an append that needs a copy once it is made: those wait for the next pipeline.
    fn answer(
        &mut self,
        op: Op,
        result: RedisResult<Value>,
        probe: Option<RedisResult<Value>>,
        now: u64,
    ) {
        match op {
            Op::Claim(_, hash, reply) => {
                let _ = reply.send(parse::<Vec<Value>>(result).and_then(|v| claim_of(v, &hash)));
            }
            Op::LinkCode(.., reply) => {
                let _ = reply.send(result.map(|_| ()).map_err(StoreError::backend));
            }
            Op::Link(.., reply) => {
                let linked = parse::<Vec<String>>(result).and_then(|fields| {
                    match fields.as_slice() {
                        [linked, device] if linked == "linked" => device
                            .parse()
                            .ok()
                            .and_then(DeviceId::new)
                            .map(Linked::Linked),
                        [refused] if refused == "refused" => Some(Linked::Refused),
                        [full] if full == "full" => Some(Linked::Full),
                        _ => None,
                    }
                    .ok_or_else(|| unreadable("a link's reply"))
                });
                let _ = reply.send(linked);
            }
            Op::Devices(_, reply) => {
                let devices = members(result).and_then(|members| {
                    members
                        .iter()
                        .map(|m| serde_json::from_str(m).ok())
                        .collect::<Option<Vec<DeviceInfo>>>()
                        .ok_or_else(|| unreadable("a device"))
                });
                let _ = reply.send(devices);
            }
            Op::Unlink(.., reply) => {
                let unlinked = parse::<String>(result).and_then(|r| match r.as_str() {
                    "unlinked" => Ok(Unlinked::Unlinked),
                    "unknown" => Ok(Unlinked::Unknown),
                    "last" => Ok(Unlinked::Last),
                    _ => Err(unreadable("an unlink's reply")),
                });
                let _ = reply.send(unlinked);
            }
            Op::PublishKeys(.., reply) => {
                let _ = reply.send(keys::published(result));
            }
            Op::Keys(_, reply) => {
                let _ = reply.send(keys::entries(result));
            }
            Op::ClaimKeys(.., reply) => {
                let _ = reply.send(keys::claimed(result));
            }
            Op::IsClaimed(_, reply) => {
                let _ = reply.send(parse::<i64>(result).map(|keys| keys > 0));
            }
            Op::Append(m, reply) => {
                let appended = self.appended(result);
                match appended {
                    Ok(appended) if needs_copy(&m, probe) => self.copies.push(PendingCopy {
                        sender: m.from,
                        command: self.copy_command(&m, appended.sent_at, now),
                        appended,
                        reply,
                    }),
                    appended => {
                        let _ = reply.send(appended);
                    }
                }
            }
            Op::Waiting(.., reply) => {
                let page = members(result).and_then(|members| {
                    members
                        .iter()
                        .map(|m| decode_message(m))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| unreadable("a stored message"))
                });
                let _ = reply.send(page);
            }
            Op::Receipts(.., reply) => {
                let page = members(result).and_then(|members| {
                    members
                        .iter()
                        .map(|m| decode_receipt(m))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| unreadable("a stored receipt"))
                });
                let _ = reply.send(page);
            }
            Op::Block(.., reply) => {
                let _ = reply.send(parse::<i64>(result).map(|done| done == 1));
            }
            Op::Blocks(.., reply) => {
                let _ = reply.send(parse::<bool>(result));
            }
            Op::Blocked(_, reply) => {
                let peers = members(result).and_then(|members| {
                    members
                        .iter()
                        .map(|m| m.parse().ok())
                        .collect::<Option<Vec<PeerId>>>()
                        .ok_or_else(|| unreadable("a blocked peer"))
                });
                let _ = reply.send(peers);
            }
            Op::ForgetReceipts(.., reply) | Op::Read(.., reply) => {
                let _ = reply.send(result.map(|_| ()).map_err(StoreError::backend));
            }
            Op::Delivered(recipient, _, _, reply) => match parse::<Vec<String>>(result) {
                Ok(outbox) => self.handovers.push(Handover {
                    recipient,
                    outbox,
                    reply,
                }),
                Err(error) => {
                    let _ = reply.send(Err(error));
                }
            },
            Op::Publish(_, reply)
            | Op::Watch(_, reply)
            | Op::Unwatch(_, reply)
            | Op::Close(reply) => {
                let _ = reply.send(result.map(|_| ()).map_err(StoreError::backend));
            }
        }
    }

    /// An append's reply.
    fn appended(&self, result: RedisResult<Value>) -> Result<Appended, AppendError> {
        let fields = parse::<Vec<String>>(result)?;
        match fields.as_slice() {
            [full, limit] if full == "full" => Err(AppendError::QueueFull {
                limit: limit.parse().unwrap_or(self.settings.max_queue),
            }),
            [share, limit] if share == "share" => Err(AppendError::ShareFull {
                limit: limit
                    .parse()
                    .unwrap_or(self.settings.max_queue_per_stranger),
            }),
            [seq, sent_at, duplicate] => match (seq.parse(), sent_at.parse()) {
                (Ok(seq), Ok(sent_at)) => Ok(Appended {
                    seq,
                    sent_at,
                    duplicate: duplicate == "1",
                }),
                _ => Err(unreadable("an append's reply").into()),
            },
            _ => Err(unreadable("an append's reply").into()),
        }
    }

    /// `relay_copy` of `m`, accepted at `sent_at`, for its sender's other devices.
    fn copy_command(&self, m: &NewMessage, sent_at: u64, now: u64) -> redis::Cmd {
        let mut cmd = fcall("relay_copy", m.from, &["inbox", "ids", "devices", "waits"]);
        cmd.arg(format!(">{}:{}", m.to, m.id))
            .arg(stored_json(m))
            .arg(sent_at)
            .arg(now)
            .arg(self.settings.ttl_millis())
            .arg(channel(m.from))
            .arg(self.link.publish_command())
            .arg(m.device.get());
        cmd
    }
}

/// For an append to another peer: the read of its sender's devices, beside it in the
/// same round trip, which says whether a copy is to be kept for others.
fn probe(op: &Op) -> Option<(PeerId, redis::Cmd)> {
    let Op::Append(m, _) = op else { return None };
    if m.from == m.to {
        return None;
    }
    let mut cmd = redis::cmd("HGET");
    cmd.arg(key(m.from, "devices")).arg("set");
    Some((m.from, cmd))
}

/// Whether the sender of `m` has devices besides the one it came from, as `probe` found
/// (if it could not tell, the copy step finds out).
fn needs_copy(m: &NewMessage, probe: Option<RedisResult<Value>>) -> bool {
    let Some(probe) = probe else { return false };
    match parse::<Option<u8>>(probe) {
        // An id without devices claimed before them: device 0 alone.
        Ok(set) => !DeviceSet::from_bits(set.unwrap_or(1))
            .without(m.device)
            .is_empty(),
        Err(_) => true,
    }
}

/// What a claim found, from `relay_claim`'s reply: `["claimed", device]`, or each
/// device with its secret's hash, compared here in constant time.
fn claim_of(reply: Vec<Value>, hash: &SecretHash) -> Result<Claim, StoreError> {
    let device = |value: &Value| {
        redis::from_redis_value_ref::<u8>(value)
            .ok()
            .and_then(DeviceId::new)
            .ok_or_else(|| unreadable("a device"))
    };
    if let [first, device_of] = reply.as_slice()
        && redis::from_redis_value_ref::<String>(first).is_ok_and(|f| f == "claimed")
    {
        return Ok(Claim::Claimed(device(device_of)?));
    }
    let mut found = Claim::Refused;
    for pair in reply.chunks(2) {
        let [number, stored] = pair else {
            return Err(unreadable("a claim's reply"));
        };
        let stored: Vec<u8> = redis::from_redis_value_ref(stored).map_err(StoreError::backend)?;
        let stored = <[u8; 32]>::try_from(stored.as_slice())
            .map_err(|_| unreadable("a secret hash of the wrong length"))?;
        if SecretHash::from_bytes(stored).matches(hash) {
            found = Claim::Verified(device(number)?);
        }
    }
    Ok(found)
}

/// An append whose copy for its sender's other devices is made with the next pipeline.
struct PendingCopy {
    sender: PeerId,
    command: redis::Cmd,
    appended: Appended,
    reply: Reply<Appended, AppendError>,
}

/// A confirmation whose receipts are still to be handed to their senders.
struct Handover {
    recipient: PeerId,
    /// The outbox entries to hand over, flat: seq, "sender\njson", …
    outbox: Vec<String>,
    reply: Reply<()>,
}

/// The receipts of a batch of confirmations, grouped by sender: one call per sender.
struct Handing {
    confirmed: Vec<Handover>,
    /// sender -> its receipts, each with where it came from (recipient, outbox seq).
    senders: BTreeMap<PeerId, Vec<(PeerId, String, String)>>,
}

impl Handing {
    fn new(confirmed: Vec<Handover>) -> Self {
        let mut senders: BTreeMap<PeerId, Vec<(PeerId, String, String)>> = BTreeMap::new();
        // Two confirmations of one recipient in a batch both return its whole outbox.
        let mut seen = std::collections::HashSet::new();
        for handover in &confirmed {
            for entry in handover.outbox.chunks(2) {
                let [seq, value] = entry else { continue };
                if !seen.insert((handover.recipient, seq.as_str())) {
                    continue;
                }
                let Some((sender, json)) = value.split_once('\n') else {
                    continue;
                };
                let Ok(sender) = sender.parse::<PeerId>() else {
                    continue;
                };
                senders.entry(sender).or_default().push((
                    handover.recipient,
                    seq.clone(),
                    json.to_owned(),
                ));
            }
        }
        Self { confirmed, senders }
    }

    /// One `relay_receipt_add` per sender.
    fn commands(
        &self,
        runner: &Runner,
        now: u64,
        cutoff: u64,
    ) -> impl Iterator<Item = (PeerId, redis::Cmd)> {
        let (ttl, publish) = (runner.settings.ttl_millis(), runner.link.publish_command());
        self.senders.iter().map(move |(sender, receipts)| {
            let mut cmd = receipt_add(*sender, now, cutoff, ttl, publish);
            for (_, _, json) in receipts {
                cmd.arg(json);
            }
            (*sender, cmd)
        })
    }

    /// Answers the confirmations from the senders' `results`; queues the clearing of
    /// what was handed over.
    fn answer(self, results: Vec<RedisResult<Value>>, cleanup: &mut Vec<(PeerId, redis::Cmd)>) {
        // recipient -> the outbox entries handed over, and whether any failed.
        let mut done: BTreeMap<PeerId, (Vec<String>, bool)> = BTreeMap::new();
        for (receipts, result) in self.senders.into_values().zip(results) {
            if let Err(error) = &result {
                tracing::warn!(%error, "could not hand receipts to their sender; they go again");
            }
            for (recipient, seq, _) in receipts {
                let (seqs, failed) = done.entry(recipient).or_default();
                match result {
                    Ok(_) => seqs.push(seq),
                    Err(_) => *failed = true,
                }
            }
        }
        for handover in self.confirmed {
            let failed = done
                .get(&handover.recipient)
                .is_some_and(|(_, failed)| *failed);
            let _ = handover.reply.send(if failed {
                Err(StoreError::backend(
                    "some receipts could not be handed to their senders",
                ))
            } else {
                Ok(())
            });
        }
        for (recipient, (seqs, _)) in done {
            if !seqs.is_empty() {
                let mut cmd = fcall("relay_outbox_done", recipient, &["outbox"]);
                cmd.arg(seqs);
                cleanup.push((recipient, cmd));
            }
        }
    }
}

/// Whether Redis refused a call because it lacks Relay's functions.
fn missing_function(error: &redis::RedisError) -> bool {
    error.to_string().contains("Function not found")
}

/// The key `relay:{<peer>}:<name>`: every key of a peer in the same hash slot.
fn key(peer: PeerId, name: &str) -> String {
    format!("relay:{{{peer}}}:{name}")
}

/// The channel where what is stored for `peer` is published.
fn channel(peer: PeerId) -> String {
    key(peer, "live")
}

/// `relay_receipt_add` for `sender`, before its receipts' JSON (one argument each).
fn receipt_add(sender: PeerId, now: u64, cutoff: u64, ttl: u64, publish: &str) -> redis::Cmd {
    let mut cmd = fcall(
        "relay_receipt_add",
        sender,
        &["receipts", "meta", "devices", "rwaits"],
    );
    cmd.arg(sender.to_string())
        .arg(now)
        .arg(cutoff)
        .arg(ttl)
        .arg(channel(sender))
        .arg(publish);
    cmd
}

/// `FCALL function` on the keys `names` of `peer`.
fn fcall(function: &str, peer: PeerId, names: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(function).arg(names.len());
    for name in names {
        cmd.arg(key(peer, name));
    }
    cmd
}

/// A reply read as `T`.
fn parse<T: FromRedisValue>(result: RedisResult<Value>) -> Result<T, StoreError> {
    let value = result.map_err(StoreError::backend)?;
    redis::from_redis_value(value).map_err(StoreError::backend)
}

/// A list of members, from a function's reply.
fn members(result: RedisResult<Value>) -> Result<Vec<String>, StoreError> {
    parse(result)
}

fn unreadable(what: &str) -> StoreError {
    StoreError::backend(format!("unreadable {what} in Redis"))
}

/// The JSON a message is kept as (for its recipient, or copied for its sender).
fn stored_json(m: &NewMessage) -> String {
    serde_json::to_string(&StoredMessage {
        id: m.id,
        from: m.from,
        to: m.to,
        body: std::borrow::Cow::Borrowed(&m.body),
        encrypted: m.encrypted.as_ref().map(std::borrow::Cow::Borrowed),
    })
    .unwrap_or_default()
}

/// What a stored message keeps besides its seq and time.
#[derive(Serialize, Deserialize)]
struct StoredMessage<'a> {
    id: MessageId,
    from: PeerId,
    to: PeerId,
    #[serde(borrow)]
    body: std::borrow::Cow<'a, str>,
    /// Absent for a plain message (and in what versions before encryption stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted: Option<std::borrow::Cow<'a, Encrypted>>,
}

/// What a stored receipt keeps besides its seq.
#[derive(Deserialize)]
struct StoredReceipt {
    id: MessageId,
    to: PeerId,
    delivered_at: u64,
    #[serde(default)]
    read_at: Option<u64>,
}

/// An inbox member `"<seq>\n<sent_at>\n<sender>:<id>\n<json>"` (or, a copy of one its
/// owner sent, `"<seq>\n<sent_at>\n><recipient>:<id>\n<json>"`).
fn decode_message(member: &str) -> Option<Envelope> {
    let mut parts = member.splitn(4, '\n');
    let seq = parts.next()?.parse().ok()?;
    let sent_at = parts.next()?.parse().ok()?;
    let _dedup = parts.next()?;
    let stored: StoredMessage<'_> = serde_json::from_str(parts.next()?).ok()?;
    Some(Envelope {
        id: stored.id,
        from: stored.from,
        to: stored.to,
        body: stored.body.into_owned(),
        encrypted: stored.encrypted.map(std::borrow::Cow::into_owned),
        sent_at,
        seq,
    })
}

/// A receipts member `"<seq>\n<json>"`.
fn decode_receipt(member: &str) -> Option<Receipt> {
    let (seq, json) = member.split_once('\n')?;
    let stored: StoredReceipt = serde_json::from_str(json).ok()?;
    Some(Receipt {
        id: stored.id,
        to: stored.to,
        delivered_at: stored.delivered_at,
        read_at: stored.read_at,
        seq: seq.parse().ok()?,
    })
}

/// Which node published a relayed message: a random number each store picks when it
/// opens, so that a node can tell its own relays when Redis hands them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin(u64);

impl Origin {
    fn new() -> Self {
        Self(uuid::Uuid::new_v4().as_u64_pair().0)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a live channel brought.
#[derive(Debug, PartialEq, Eq)]
enum Live {
    /// Something for this node's sockets.
    Notice(Notice),
    /// A message this node relayed itself.
    Own,
}

/// A payload of a live channel: `"S" + inbox member`, `"C" + inbox member` (a copy of a
/// message sent), `"R<sender>\n" + receipts member`, `"B<owner>\n<peer>\n<1|0>"` (a
/// block), `"V<id>\n<device unlinked, or nothing>\n<JSON array of devices>"`, or
/// `"L<origin>\n" + envelope` (relayed, not stored, by the node `origin`).
fn decode_notice(payload: &[u8], own: Origin) -> Option<Live> {
    let text = std::str::from_utf8(payload).ok()?;
    let notice = match text.split_at_checked(1)? {
        ("L", rest) => {
            let (origin, json) = rest.split_once('\n')?;
            if u64::from_str_radix(origin, 16).ok()? == own.0 {
                return Some(Live::Own);
            }
            Notice::Message(serde_json::from_str(json).ok()?)
        }
        ("S", member) => Notice::Message(decode_message(member)?),
        ("C", member) => Notice::Sent(decode_message(member)?),
        ("V", rest) => {
            let mut fields = rest.splitn(3, '\n');
            let id = fields.next()?.parse().ok()?;
            let unlinked = match fields.next()? {
                "" => None,
                device => Some(DeviceId::new(device.parse().ok()?)?),
            };
            Notice::Devices {
                id,
                devices: serde_json::from_str(fields.next()?).ok()?,
                unlinked,
            }
        }
        ("B", rest) => {
            let mut fields = rest.splitn(3, '\n');
            Notice::Blocked {
                owner: fields.next()?.parse().ok()?,
                peer: fields.next()?.parse().ok()?,
                on: fields.next()? == "1",
            }
        }
        ("R", rest) => {
            let (sender, member) = rest.split_once('\n')?;
            Notice::Receipt(ReceiptFor {
                sender: sender.parse().ok()?,
                receipt: decode_receipt(member)?,
            })
        }
        _ => return None,
    };
    Some(Live::Notice(notice))
}

impl Store for RedisStore {
    fn claim(
        &self,
        id: PeerId,
        secret: SecretHash,
    ) -> BoxFuture<'static, Result<Claim, StoreError>> {
        self.call(|reply| Op::Claim(id, secret, reply))
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

    fn is_claimed(&self, id: PeerId) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.call(|reply| Op::IsClaimed(id, reply))
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
        self.call(|reply| Op::Publish(envelope, reply))
    }

    fn watch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::Watch(peer, reply))
    }

    fn unwatch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        self.call(|reply| Op::Unwatch(peer, reply))
    }

    fn present(
        &self,
        changes: Vec<(PeerId, bool)>,
    ) -> BoxFuture<'static, Result<Vec<Option<PresenceNotice>>, StoreError>> {
        let beacon = self.beacon.clone();
        async move { beacon.present(changes).await }.boxed()
    }

    fn presence(
        &self,
        viewer: PeerId,
        peers: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        let beacon = self.beacon.clone();
        async move { beacon.presence(viewer, peers).await }.boxed()
    }

    fn hide_presence(
        &self,
        peer: PeerId,
        hidden: bool,
    ) -> BoxFuture<'static, Result<PresenceNotice, StoreError>> {
        let beacon = self.beacon.clone();
        async move { beacon.hide(peer, hidden).await }.boxed()
    }

    fn heartbeat(&self) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        let beacon = self.beacon.clone();
        async move { beacon.heartbeat().await }.boxed()
    }

    fn expire(&self) -> BoxFuture<'static, Result<u64, StoreError>> {
        // Every function drops what expired in the keys it touches, and keys untouched
        // for the TTL expire in Redis itself.
        futures_util::future::ready(Ok(0)).boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let (closed, beacon) = (self.call(Op::Close), self.beacon.clone());
        async move {
            // Whatever sockets are left: another node ends their presence at its next
            // heartbeat rather than after the time a dead node gets.
            if let Err(error) = beacon.stop().await {
                tracing::warn!(%error, "could not mark this node as stopped");
            }
            closed.await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_notices_read_back() {
        let member = "1843200000000001\n1800000000000\n3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71:0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\n{\"id\":\"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\",\"from\":\"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\",\"to\":\"b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e\",\"body\":\"two\\nlines\"}";
        let envelope = decode_message(member).unwrap();
        assert_eq!(
            (envelope.seq, envelope.sent_at, envelope.body.as_str()),
            (1_843_200_000_000_001, 1_800_000_000_000, "two\nlines")
        );
        assert_eq!(
            decode_notice(format!("S{member}").as_bytes(), Origin(1)),
            Some(Live::Notice(Notice::Message(envelope)))
        );
        let receipt = "7\n{\"id\":\"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\",\"to\":\"b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e\",\"delivered_at\":5}";
        let notice = decode_notice(
            format!("R3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\n{receipt}").as_bytes(),
            Origin(1),
        );
        assert!(
            matches!(
                notice,
                Some(Live::Notice(Notice::Receipt(ReceiptFor {
                    receipt: Receipt {
                        seq: 7,
                        delivered_at: 5,
                        ..
                    },
                    ..
                })))
            ),
            "{notice:?}"
        );
        let relayed = "{\"id\":\"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\",\"from\":\"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\",\"to\":\"b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e\",\"body\":\"hi\",\"sent_at\":5}";
        let (mine, theirs) = (Origin(0xab), Origin(0xcd));
        let payload = format!("L{mine}\n{relayed}");
        assert_eq!(decode_notice(payload.as_bytes(), mine), Some(Live::Own));
        assert!(
            matches!(decode_notice(payload.as_bytes(), theirs), Some(Live::Notice(Notice::Message(e))) if e.body == "hi"),
            "another node's relay is a notice"
        );
        let (owner, peer) = (
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",
            "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e",
        );
        assert_eq!(
            decode_notice(format!("B{owner}\n{peer}\n1").as_bytes(), Origin(1)),
            Some(Live::Notice(Notice::Blocked {
                owner: owner.parse().unwrap(),
                peer: peer.parse().unwrap(),
                on: true
            }))
        );
        assert_eq!(decode_notice(b"X", Origin(1)), None);
        assert_eq!(decode_notice(b"Sgarbage", Origin(1)), None);
    }

    #[test]
    fn copies_and_device_changes_read_back_as_notices() {
        let copy = "1843200000000002\n1800000000000\n>b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e:0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\n{\"id\":\"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c\",\"from\":\"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71\",\"to\":\"b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e\",\"body\":\"hi\"}";
        let sent = decode_message(copy).unwrap();
        assert_eq!(
            (sent.seq, sent.from.to_string().as_str(), sent.body.as_str()),
            (
                1_843_200_000_000_002,
                "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",
                "hi"
            )
        );
        assert_eq!(
            decode_notice(format!("C{copy}").as_bytes(), Origin(1)),
            Some(Live::Notice(Notice::Sent(sent)))
        );

        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let devices =
            r#"[{"device":0,"linked_at":5},{"device":2,"name":"Phone \"x\"","linked_at":7}]"#;
        let expected = vec![
            DeviceInfo {
                device: DeviceId::FIRST,
                name: None,
                linked_at: 5,
            },
            DeviceInfo {
                device: DeviceId::new(2).unwrap(),
                name: Some("Phone \"x\"".into()),
                linked_at: 7,
            },
        ];
        assert_eq!(
            decode_notice(format!("V{id}\n\n{devices}").as_bytes(), Origin(1)),
            Some(Live::Notice(Notice::Devices {
                id,
                devices: expected.clone(),
                unlinked: None
            }))
        );
        assert_eq!(
            decode_notice(format!("V{id}\n1\n{devices}").as_bytes(), Origin(1)),
            Some(Live::Notice(Notice::Devices {
                id,
                devices: expected,
                unlinked: DeviceId::new(1)
            }))
        );
        assert_eq!(
            decode_notice(format!("V{id}\n7\n[]").as_bytes(), Origin(1)),
            None,
            "no such device"
        );
        assert_eq!(
            decode_notice(format!("V{id}\n").as_bytes(), Origin(1)),
            None
        );
    }

    #[test]
    fn a_claim_finds_the_device_whose_secret_matches() {
        let (one, two) = (
            SecretHash::from_bytes([1; 32]),
            SecretHash::from_bytes([2; 32]),
        );
        let bulk = |bytes: &[u8]| Value::BulkString(bytes.to_vec());
        assert_eq!(
            claim_of(vec![bulk(b"claimed"), bulk(b"0")], &one).unwrap(),
            Claim::Claimed(DeviceId::FIRST)
        );
        let devices = vec![bulk(b"0"), bulk(&[1; 32]), bulk(b"3"), bulk(&[2; 32])];
        assert_eq!(
            claim_of(devices.clone(), &two).unwrap(),
            Claim::Verified(DeviceId::new(3).unwrap())
        );
        assert_eq!(
            claim_of(devices, &SecretHash::from_bytes([9; 32])).unwrap(),
            Claim::Refused
        );
        assert!(claim_of(vec![bulk(b"0"), bulk(b"short")], &one).is_err());
    }

    #[test]
    fn a_copy_is_made_only_for_a_sender_with_other_devices() {
        let (alice, bob): (PeerId, PeerId) = (
            "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap(),
            "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e".parse().unwrap(),
        );
        let m = |device: u8, to: PeerId| NewMessage {
            id: MessageId::from_uuid(uuid::Uuid::from_u128(1)),
            from: alice,
            to,
            body: "hi".into(),
            encrypted: None,
            device: DeviceId::new(device).unwrap(),
        };
        let set = |bits: Option<i64>| Some(Ok(bits.map_or(Value::Nil, Value::Int)));
        let append = |m: NewMessage| Op::Append(m, oneshot::channel().0);
        assert!(probe(&append(m(0, alice))).is_none(), "not to oneself");
        assert!(probe(&append(m(0, bob))).is_some());
        assert!(
            !needs_copy(&m(0, bob), set(None)),
            "one device, claimed before devices"
        );
        assert!(!needs_copy(&m(0, bob), set(Some(0b1))));
        assert!(!needs_copy(&m(2, bob), set(Some(0b100))));
        assert!(needs_copy(&m(0, bob), set(Some(0b101))));
        assert!(needs_copy(
            &m(0, bob),
            Some(Err(redis::RedisError::from((redis::ErrorKind::Io, "gone"))))
        ));
        assert!(!needs_copy(&m(0, bob), None));
    }

    #[test]
    fn every_key_of_a_peer_shares_its_hash_tag() {
        let peer: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        assert_eq!(
            key(peer, "inbox"),
            "relay:{3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71}:inbox"
        );
        assert!(channel(peer).starts_with(link::LIVE_PREFIX));
    }
}
