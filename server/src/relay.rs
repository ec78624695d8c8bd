//! [`Relay`]: what every command runs against: the [`Store`], the [`Clock`] and the
//! [`Limits`], shared by every socket of a node (as mini-redis's commands run against its
//! `Db`).
//!
//! It holds no socket and does no I/O of its own besides the store: the commands in
//! [`crate::cmd`] decide, against it, what a session must do, and return it as
//! [`Effects`](crate::effects::Effects).

use std::sync::Arc;

use relay_shared::{
    ErrorCode, PeerId, Rejection,
    error::{MAX_QUOTED_CHARS, shortened},
    message::DEFAULT_MAX_BODY_BYTES,
};

use crate::{
    clock::Clock,
    protocol::Protocol,
    store::{Store, StoreError},
};

/// Limits applied to what clients send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message body, in bytes of UTF-8.
    pub max_body_bytes: usize,
    /// Events one socket may have waiting for their turn (and, separately, work waiting
    /// for the store).
    pub max_pending_events: usize,
    /// Stored messages (or receipts) sent to a socket at a time; the next page goes once
    /// the client confirms the last of these.
    pub backlog_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending_events: crate::config::Config::DEFAULT_MAX_PENDING_EVENTS,
            backlog_page: 128,
        }
    }
}

/// The relay service: the store, the clock and the limits every command needs.
pub struct Relay {
    limits: Limits,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Relay {
    /// A relay applying `limits`, keeping messages in `store`, reading the time from
    /// `clock` (the store's own).
    pub fn new(limits: Limits, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            limits,
            store,
            clock,
        }
    }

    /// The limits applied to clients.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store, shared.
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The time now, ms since the Unix epoch.
    pub fn now_millis(&self) -> u64 {
        self.clock.now_millis()
    }

    /// Drops what waited longer than the TTL, a bounded batch at a time until nothing
    /// is left; returns how many.
    pub async fn expire(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            match self.store.expire().await? {
                0 => return Ok(total),
                removed => total += removed,
            }
        }
    }
}

/// The rejection of a registration of an id someone else owns.
pub fn forbidden(id: PeerId) -> Rejection {
    Rejection::new(
        ErrorCode::Forbidden,
        format!("{id} belongs to someone else: register with its secret, or use your own id"),
    )
}

/// The rejection of anything the store failed at; the client may try again.
pub fn unavailable(error: &StoreError) -> Rejection {
    tracing::error!(%error, "store failure");
    Rejection::new(
        ErrorCode::Unavailable,
        "the server cannot reach its message store right now; try again",
    )
}

/// The rejection of an event that needs a registration in `protocol` first.
pub fn not_registered(protocol: Protocol) -> Rejection {
    let hint = match protocol {
        Protocol::Seed => "emit init with your uuid first",
        Protocol::Typed => "emit register with your peer id and its secret first",
    };
    Rejection::new(
        ErrorCode::NotRegistered,
        format!("this socket is not registered: {hint}"),
    )
}

/// The rejection of a payload of the wrong type or shape for `event`.
pub fn invalid_payload(
    event: &str,
    expected: &str,
    error: &socketioxide::ParserError,
) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidPayload,
        // serde quotes the value it could not take: bound what of it goes back.
        format!(
            "{event} expects {expected}: {}",
            shortened(&error.to_string(), 2 * MAX_QUOTED_CHARS)
        ),
    )
}
