//! Relay's client for native programs: the sans-IO Socket.IO core of
//! [`relay_shared::socketio`], driven by tokio and tokio-tungstenite ([`Connection`]),
//! and a peer of the typed protocol on top of it ([`Peer`]).
//!
//! Neither has a task of its own: `next_event` / `next_update` do the I/O (connecting,
//! writing what was emitted, reading, keeping time), so drive them continuously. One
//! task per connection is enough, even for thousands.

mod connection;
mod peer;

pub use connection::{CallError, ConnectError, Connection};
pub use peer::Peer;
