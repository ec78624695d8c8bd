//! Relay's wire protocol, defined once for the server and every client.
//!
//! Two protocols share one Socket.IO namespace (`/`):
//! - the **seed protocol** of the 2017 blog post: [`event::INIT`] with a uuid string,
//!   [`event::MESSAGE`] with `"<uuid>|<text>"`, delivered as `message(<text>)`;
//! - the **typed protocol**: [`event::REGISTER`] with the id's secret, [`event::SEND`]
//!   with an ack carrying a [`reply::SendReply`], [`event::DELIVER`] carrying an
//!   [`message::Envelope`], [`event::RECEIVED`] to confirm, [`event::RECEIPT`] for the
//!   sender.
//!
//! This crate does no I/O and compiles for native targets and `wasm32`. With the `client`
//! feature it also holds [`socketio`], a Socket.IO client core that drivers give I/O to,
//! and [`crypto`], a device's end-to-end encryption (Olm) whose messages travel as an
//! [`encrypted::Encrypted`] body.
//! With `proptest`, [`strategies`] generates valid, almost valid and mutated payloads
//! and frames for property tests. `docs/protocol.md` shows one example frame per event.

#[cfg(feature = "client")]
pub mod crypto;
pub mod device;
pub mod encrypted;
pub mod error;
pub mod event;
pub mod keys;
pub mod message;
#[cfg(feature = "client")]
pub mod messenger;
pub mod peer_id;
pub mod presence;
pub mod reply;
pub mod secret;
pub mod seed;
#[cfg(feature = "client")]
pub mod socketio;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use error::{ErrorCode, Rejection};
pub use message::{Envelope, MessageId, Receipt, Received, RegisterRequest, SendRequest};
pub use peer_id::PeerId;
pub use reply::{RegisterReply, SendReply};
pub use secret::Secret;
