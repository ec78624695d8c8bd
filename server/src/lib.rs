//! Relay's server: a Socket.IO relay that delivers messages to the sockets registered
//! under a peer's uuid, and serves the web app.
//!
//! [`Server::bind`] with a [`Config`], then [`Server::run`]. `ARCHITECTURE.md` at the
//! repository root maps the modules.

pub mod clock;
mod cluster;
mod cmd;
mod compact_request;
pub mod config;
mod delivery;
mod effects;
mod encryption_check;
pub mod identity;
mod inbox;
pub mod limits;
mod local_peers;
pub mod metrics;
mod origins;
mod presence;
mod protocol;
mod relay;
pub mod server;
mod session;
pub mod store;
mod web_app;

pub use config::Config;
pub use server::{Server, StartError};
