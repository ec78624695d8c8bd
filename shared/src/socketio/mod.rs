//! A Socket.IO client core without I/O (feature `client`), used by the web app in the
//! browser, by native programs (tests, the load generator) and fuzzed alone.
//!
//! It speaks Engine.IO v4 over the WebSocket transport only (the handshake, answering
//! pings, noticing a silent server) and Socket.IO v5 (the namespace connect, events,
//! acks with a timeout each), buffers emits while not connected, and reconnects with
//! socket.io-client's exponential backoff and jitter. Socket.IO packets are encoded and
//! decoded with `socketioxide-parser-common`, the server's own codec; the Engine.IO
//! framing around them (one digit of packet type) is read and written here.
//!
//! [`Client`] is the state machine; a driver gives it a transport and a clock.

mod backoff;
mod client;
mod payload;

pub use backoff::{Backoff, ReconnectPolicy};
pub use client::{
    AckFailure, AckId, Client, ClientConfig, ConnectionState, DisconnectReason, EmitError, Event,
    Incoming, Output, PING_GRACE,
};
pub use payload::{DecodeError, Payload};
