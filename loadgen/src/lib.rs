//! Relay's load generator: benchmark scenarios driven through our own Socket.IO client
//! (the shared core with its native driver), against Relay or any Socket.IO relay that
//! speaks the seed protocol. `cargo xtask bench` runs them side by side; each scenario
//! reports as JSON. [`crypto`] needs no server: what end-to-end encryption costs a client.

pub mod abuse;
pub mod backlog;
pub mod connections;
pub mod crypto;
pub mod pairs;
pub mod stats;
