//! [`Store`]: where messages wait for their recipient, where receipts wait for their
//! sender, and who owns which peer id.
//!
//! The relay talks to it only through this trait. Two implementations meet the same
//! contract (and run the same test suite, `server/tests/store_contract.rs`): the embedded
//! [`SqliteStore`], one file for one node, and [`RedisStore`], shared by the nodes of a
//! cluster.
//!
//! Contract, for every implementation:
//! - operations take effect in the order their methods are *called* (not awaited): a
//!   read called after an append sees it. An operation that fails had no effect;
//! - a write's future completes once the write is durable;
//! - [`Store::append`] is idempotent on the sender and message id (for one recipient);
//! - at most `max_queue` undelivered messages wait per recipient, and of those at most
//!   `max_queue_per_sender` from one sender the recipient has written to, or
//!   `max_queue_per_stranger` from one it never has: no sender can fill a recipient's
//!   queue for the others;
//! - a message from a sender its recipient blocks is answered as stored (a fresh `seq`,
//!   the time) and kept nowhere, noticed to no one;
//! - `seq`s of one recipient's messages increase in the order they were stored, as do
//!   those of one sender's receipts;
//! - after [`Store::expire`], nothing accepted more than the TTL ago is returned or
//!   counted against a queue (a store may drop such things earlier, lazily);
//! - once a message is durable, or a confirmation turned it into a receipt, the store
//!   sends a [`Notice`] to every node that [watches](Store::watch) its recipient (or
//!   sender), this one included; the node puts it into its sockets. Notices are not
//!   durable: when some may have been lost, [`Notice::Missed`] says so, and what waits is
//!   read from the store again;
//! - devices: an id has one to [`MAX_DEVICES`](relay_shared::device::MAX_DEVICES)
//!   devices, each its own secret. The first [`Store::claim`] makes the first; a one-time
//!   code ([`Store::link_code`]) links one more ([`Store::link`]); [`Store::unlink`]
//!   removes one, never the last. A message waits until every device its recipient had
//!   when it was stored confirmed it ([`Store::delivered`]); the first confirmation makes
//!   its receipt, which waits until every device its sender had then took it
//!   ([`Store::forget_receipts`]). A typed message is also kept for its sender's other
//!   devices (not when one writes to oneself), noticed as [`Notice::Sent`] and listed by
//!   [`Store::waiting`] among theirs, in `seq` order. An unlinked device's share of all
//!   of this is dropped; a linked one gets what is stored from then on. Any change to
//!   an id's devices is a [`Notice::Devices`];
//! - keys: each device keeps its public keys for end-to-end encryption
//!   ([`Store::publish_keys`]): its long-term keys, at most
//!   [`MAX_ONE_TIME_KEYS`](relay_shared::keys::MAX_ONE_TIME_KEYS) one-time keys and one
//!   fallback key. [`Store::claim_keys`] hands each one-time key out once, oldest
//!   first, then the fallback key, every time. Other long-term keys replace the kept ones
//!   and drop what was kept with them; unlinking a device drops all of its keys. The
//!   store keeps keys as given: the caller checked their signatures;
//! - presence: a peer is online while some node says it has a typed socket of the
//!   peer ([`Store::present`]) and that node is alive. A node is alive while it calls
//!   [`Store::heartbeat`] every [`Settings::heartbeat`]; one silent for
//!   [`DEAD_AFTER_BEATS`] of them is taken for dead by the next heartbeat of another,
//!   which ends the presence of its peers (last seen: its last heartbeat). So a node's
//!   death ends its peers' presence within `DEAD_AFTER_BEATS + 1` heartbeats.

mod kept_keys;
mod metered;
mod notices;
mod redis;
mod sqlite;

use std::time::Duration;

use futures_util::future::BoxFuture;
use relay_shared::{
    Envelope, MessageId, PeerId, Receipt, Rejection,
    device::{DeviceId, DeviceInfo},
    encrypted::Encrypted,
    keys::{ClaimedKey, DeviceKeysEntry, PublishKeysRequest},
    presence::PresenceNotice,
};

pub use metered::Metered;
pub use notices::{Notice, NoticeStream, Notices};
pub use redis::{ChannelMessage, RedisLink, RedisStore, RedisTopology};
pub use sqlite::{Durability, SqliteStore};

use crate::identity::SecretHash;

/// What every store is told when opened.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Undelivered messages that may wait for one recipient.
    pub max_queue: u32,
    /// Of those, how many one sender may have waiting, if the recipient has written to
    /// it (a contact).
    pub max_queue_per_sender: u32,
    /// And if the recipient never has (a stranger, or a sender flooding a known id).
    pub max_queue_per_stranger: u32,
    /// How long a message waits for its recipient, and a receipt for its sender.
    pub ttl: Duration,
    /// How often each node says it is alive ([`Store::heartbeat`]).
    pub heartbeat: Duration,
}

/// Heartbeats a node may miss before another takes it for dead.
pub const DEAD_AFTER_BEATS: u32 = 3;

impl Settings {
    /// The TTL in milliseconds.
    pub fn ttl_millis(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// How long a node may stay silent before it is taken for dead, in milliseconds.
    pub fn dead_after_millis(&self) -> u64 {
        u64::try_from((self.heartbeat * DEAD_AFTER_BEATS).as_millis()).unwrap_or(u64::MAX)
    }
}

/// A message to keep until its recipient's client confirms it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The sender's id for it.
    pub id: MessageId,
    /// The sender.
    pub from: PeerId,
    /// The recipient.
    pub to: PeerId,
    /// The text; "" when [`Self::encrypted`].
    pub body: String,
    /// The text end-to-end encrypted, kept and handed on as given (the store cannot
    /// read it).
    pub encrypted: Option<Encrypted>,
    /// The sender's device it came from: the sender's other devices get a copy.
    pub device: DeviceId,
}

/// A stored message's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its `seq`.
    pub seq: u64,
    /// When it was first accepted, ms since the Unix epoch (an earlier time if this was a
    /// resend).
    pub sent_at: u64,
    /// Whether it was already stored (a resend of the same id by the same sender).
    pub duplicate: bool,
}

/// What claiming a peer id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had it: it is now the secret's, its first device.
    Claimed(DeviceId),
    /// The secret is this device of it.
    Verified(DeviceId),
    /// The secret is none of its devices'.
    Refused,
}

/// What linking a device with a one-time code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    /// The secret is now this device of the id (or already was: the same request again).
    Linked(DeviceId),
    /// The code is not the id's current one, was used, or expired.
    Refused,
    /// The id already has [`MAX_DEVICES`](relay_shared::device::MAX_DEVICES) devices.
    Full,
}

/// What unlinking a device found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// It is gone.
    Unlinked,
    /// The id has no such device.
    Unknown,
    /// It is the id's last device, which stays.
    Last,
}

/// What publishing a device's keys found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Kept: now this many one-time keys wait for the device.
    Kept(u32),
    /// The one-time keys kept and given would be more than
    /// [`MAX_ONE_TIME_KEYS`](relay_shared::keys::MAX_ONE_TIME_KEYS): nothing changed.
    Full,
    /// The id has no such device (it was unlinked): nothing changed.
    Unknown,
}

/// A receipt for the sender of a message its recipient confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptFor {
    /// Who sent the message.
    pub sender: PeerId,
    /// The receipt.
    pub receipt: Receipt,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(#[from] Box<dyn std::error::Error + Send + Sync>),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A backend failure from any error.
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(error.into())
    }
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The recipient already has `limit` messages waiting.
    #[error("the recipient has {limit} messages waiting")]
    QueueFull {
        /// The bound.
        limit: u32,
    },
    /// The sender already has `limit` messages waiting for this recipient: its share.
    #[error("the sender has {limit} messages waiting for the recipient")]
    ShareFull {
        /// The sender's share.
        limit: u32,
    },
    /// The message is end-to-end encrypted for other devices or keys than the key
    /// directory lists now (checked by stores that [`Store::checks_encrypted`]).
    #[error("{}", .0.message)]
    Refused(Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where messages wait and identities are kept. See the [module docs](self) for the
/// contract.
pub trait Store: Send + Sync + 'static {
    /// Claims `id` for `secret` if nobody has (its first device), or finds which of its
    /// devices `secret` is.
    fn claim(
        &self,
        id: PeerId,
        secret: SecretHash,
    ) -> BoxFuture<'static, Result<Claim, StoreError>>;

    /// From now on, until `expires_at` (ms since the Unix epoch), the code whose hash is
    /// `code` links one more device to `id`, once; any earlier code of `id` stops working.
    fn link_code(
        &self,
        id: PeerId,
        code: SecretHash,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Makes `secret` a device of `id` (named `name`) if `code` is its current code, not
    /// expired; the code is used up. The same secret linking again with the same code
    /// finds its device. Watchers of `id` get a [`Notice::Devices`].
    fn link(
        &self,
        id: PeerId,
        code: SecretHash,
        secret: SecretHash,
        name: Option<String>,
    ) -> BoxFuture<'static, Result<Linked, StoreError>>;

    /// `id`'s devices, in order.
    fn devices(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceInfo>, StoreError>>;

    /// Removes `device` of `id`, unless it is the last: its secret registers nothing from
    /// then on and nothing waits for it any more. Watchers of `id` get a
    /// [`Notice::Devices`] naming it.
    fn unlink(
        &self,
        id: PeerId,
        device: DeviceId,
    ) -> BoxFuture<'static, Result<Unlinked, StoreError>>;

    /// Keeps `keys` for `device` of `id`: its long-term keys (replacing others, with
    /// what was kept with them), the one-time keys whose ids are not kept yet, the
    /// fallback key if given.
    fn publish_keys(
        &self,
        id: PeerId,
        device: DeviceId,
        keys: PublishKeysRequest,
    ) -> BoxFuture<'static, Result<Published, StoreError>>;

    /// Each device of `id`, in order, with the long-term keys it published.
    fn keys(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceKeysEntry>, StoreError>>;

    /// For each of `devices` (ascending, distinct) of `id` that published keys, its
    /// oldest one-time key, no longer kept, or its fallback key if none is left.
    fn claim_keys(
        &self,
        id: PeerId,
        devices: Vec<DeviceId>,
    ) -> BoxFuture<'static, Result<Vec<ClaimedKey>, StoreError>>;

    /// Whether someone owns `id`.
    fn is_claimed(&self, id: PeerId) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Stores `message` durably, stamped with the time, or finds it already stored.
    /// Either way, while it waits, its recipient's watchers get a [`Notice::Message`].
    /// The sender becomes a contact of the recipient's: the recipient's messages to it
    /// get the larger share.
    fn append(&self, message: NewMessage) -> BoxFuture<'static, Result<Appended, AppendError>>;

    /// Whether [`Self::append`] checks an encrypted message against the key directory
    /// itself ([`crate::encryption_check::covers`]), in the step that stores it, and
    /// refuses it with [`AppendError::Refused`]. Where it does not, `send` checks it
    /// first, and holds that socket's later sends until it has.
    fn checks_encrypted(&self) -> bool {
        false
    }

    /// `device` of `recipient` holds the messages `seqs` (its own and those it sent from
    /// another device): they stop waiting for it. The first confirmation of a message
    /// makes its receipt, whose sender's watchers get a [`Notice::Receipt`].
    fn delivered(
        &self,
        recipient: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// `reader` has read the messages `ids` of `sender`'s: each becomes a read receipt
    /// for `sender` (`read_at` now; a delivery receipt not yet handed over is replaced by
    /// it), whose watchers get a [`Notice::Receipt`] each. The ids are not checked
    /// against what was sent (a receipt for a message `sender` never sent `reader` is
    /// ignored by its client); one still waiting for `reader`'s confirmation may be
    /// skipped (clients confirm what they got before they report it read).
    fn read(
        &self,
        reader: PeerId,
        sender: PeerId,
        ids: Vec<MessageId>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// `owner` blocks `peer` (`on`) or no longer does: from then on [`Store::append`]
    /// drops what `peer` sends `owner`, and the watchers of `owner` get a
    /// [`Notice::Blocked`]. Returns `false`, changing nothing, if `owner` already blocks
    /// [`MAX_BLOCKED`](relay_shared::message::MAX_BLOCKED) others. Never expires.
    fn block(
        &self,
        owner: PeerId,
        peer: PeerId,
        on: bool,
    ) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// The peers `owner` blocks.
    fn blocked(&self, owner: PeerId) -> BoxFuture<'static, Result<Vec<PeerId>, StoreError>>;

    /// Whether `owner` blocks `peer`.
    fn blocks(&self, owner: PeerId, peer: PeerId) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Presence changes of this node's peers, in the order they happened: each
    /// `(peer, on)` says the first typed socket of `peer` arrived on this node (`on`) or
    /// its last one here left. Returns, for each, the peer's presence as its contacts
    /// now see it, if that changed (`None` if it did not, say another node has it too,
    /// or while the peer hides it).
    fn present(
        &self,
        changes: Vec<(PeerId, bool)>,
    ) -> BoxFuture<'static, Result<Vec<Option<PresenceNotice>>, StoreError>>;

    /// The presence of each of `peers`, in order, as `viewer` may see it: `unknown`
    /// unless the peer has written to `viewer`, does not block it, and neither of them
    /// hides its presence.
    fn presence(
        &self,
        viewer: PeerId,
        peers: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>>;

    /// `peer` hides its presence (`hidden`) or shows it to its contacts again; returns
    /// what they see now (`unknown` while hidden). Never expires.
    fn hide_presence(
        &self,
        peer: PeerId,
        hidden: bool,
    ) -> BoxFuture<'static, Result<PresenceNotice, StoreError>>;

    /// This node is alive; called every [`Settings::heartbeat`]. Returns the presence
    /// changes it made: the peers of nodes found dead, now offline (last seen at their
    /// node's last heartbeat), and this node's own, written again after they could not
    /// be (the store was unreachable, or others took this node for dead).
    fn heartbeat(&self) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>>;

    /// `device` of `sender` holds the receipts `seqs`: they stop waiting for it.
    fn forget_receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Messages waiting for `device` of `recipient` (for it, and those it sent from its
    /// other devices) with a `seq` above `after`, oldest first, at most `limit`.
    fn waiting(
        &self,
        recipient: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Envelope>, StoreError>>;

    /// Receipts waiting for `device` of `sender` with a `seq` above `after`, oldest first,
    /// at most `limit`.
    fn receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Receipt>, StoreError>>;

    /// Hands `envelope`, which is not kept, to the other nodes watching its recipient as
    /// a [`Notice::Message`]: at most once, now (the seed protocol across nodes). This
    /// node's own sockets are the caller's to serve: no notice comes back for them.
    fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<(), StoreError>>;

    /// From now on, send this node the notices of `peer` (its messages and receipts).
    /// Completes once in effect: whatever is stored after that is noticed.
    fn watch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Stop sending this node the notices of `peer`.
    fn unwatch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Drops some of what waited longer than the TTL; returns how many. The server calls
    /// it now and then, until it returns 0.
    fn expire(&self) -> BoxFuture<'static, Result<u64, StoreError>>;

    /// Completes once every operation called before is durable (or failed), and stops
    /// the store: operations called after fail with [`StoreError::Closed`]. For a clean
    /// shutdown.
    fn close(&self) -> BoxFuture<'static, Result<(), StoreError>>;
}
