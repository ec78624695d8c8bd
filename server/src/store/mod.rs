//! [`Store`]: where messages wait for their recipient, and who owns which peer id.
//!
//! The relay talks to it only through this trait, so that the embedded SQLite store
//! ([`SqliteStore`]) can be replaced by one shared between nodes (Redis) without touching
//! the relay.
//!
//! Contract, for every implementation:
//! - operations take effect in the order their methods are *called* (not awaited): a
//!   read called after an append sees it;
//! - a write's future completes once the write is durable;
//! - [`Store::append`] is idempotent on the sender and message id;
//! - at most `max_queue` undelivered messages wait per recipient.

mod sqlite;

use futures_util::future::BoxFuture;
use relay_shared::{Envelope, MessageId, PeerId, Receipt};

pub use sqlite::{Durability, SqliteStore};

use crate::identity::SecretHash;

/// A message to keep until its recipient's client confirms it.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The sender's id for it.
    pub id: MessageId,
    /// The sender.
    pub from: PeerId,
    /// The recipient.
    pub to: PeerId,
    /// The text.
    pub body: String,
    /// When the server accepted it, ms since the Unix epoch.
    pub sent_at: u64,
}

/// A stored message's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its `seq`.
    pub seq: u64,
    /// When it was first accepted (an earlier time if this was a resend).
    pub sent_at: u64,
    /// Whether it was already stored (a resend of the same id by the same sender).
    pub duplicate: bool,
}

/// What claiming a peer id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had it: it is now the secret's.
    Claimed,
    /// It was already this secret's.
    Verified,
    /// Another secret owns it.
    Refused,
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

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The recipient already has `limit` messages waiting.
    #[error("the recipient has {limit} messages waiting")]
    QueueFull {
        /// The bound.
        limit: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where messages wait and identities are kept. See the [module docs](self) for the
/// contract.
pub trait Store: Send + Sync + 'static {
    /// Claims `id` for `secret` if nobody has, or checks that `secret` owns it.
    fn claim(
        &self,
        id: PeerId,
        secret: SecretHash,
    ) -> BoxFuture<'static, Result<Claim, StoreError>>;

    /// Whether someone owns `id`.
    fn is_claimed(&self, id: PeerId) -> BoxFuture<'static, Result<bool, StoreError>>;

    /// Stores `message` durably, or finds it already stored.
    fn append(&self, message: NewMessage) -> BoxFuture<'static, Result<Appended, AppendError>>;

    /// `recipient`'s client holds the messages `seqs`: they stop waiting, and become
    /// receipts for their senders, which are returned.
    fn delivered(
        &self,
        recipient: PeerId,
        seqs: Vec<u64>,
        at: u64,
    ) -> BoxFuture<'static, Result<Vec<ReceiptFor>, StoreError>>;

    /// `sender`'s client holds the receipts of its messages `seqs`: forget them.
    fn forget_receipts(
        &self,
        sender: PeerId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Messages waiting for `recipient` with a `seq` above `after`, oldest first, at most
    /// `limit`.
    fn waiting(
        &self,
        recipient: PeerId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Envelope>, StoreError>>;

    /// Receipts waiting for `sender` with a `seq` above `after`, oldest first, at most
    /// `limit`.
    fn receipts(
        &self,
        sender: PeerId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Receipt>, StoreError>>;

    /// Forgets messages and receipts accepted before `cutoff` (ms since the Unix epoch);
    /// returns how many.
    fn expire(&self, cutoff: u64) -> BoxFuture<'static, Result<u64, StoreError>>;
}
