//! Relay's server: a Socket.IO relay that delivers messages to the sockets registered
//! under a peer's uuid, and serves the web app.
//!
//! [`Server::bind`] with a [`Config`], then [`Server::run`]. `ARCHITECTURE.md` at the
//! repository root maps the modules.

mod command;
mod compact_request;
pub mod config;
pub mod identity;
mod inbox;
mod relay;
pub mod server;
mod session;
pub mod store;

pub use config::Config;
pub use server::{Server, StartError};
