//! [`Config`]: every setting of the server, from flags or their `RELAY_*` environment twins.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use relay_shared::message::DEFAULT_MAX_BODY_BYTES;

use crate::store::Durability;

/// The server's configuration. Each flag has an environment variable; a flag wins over
/// its variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "relay-server",
    version,
    about = "Relay: a real-time peer-to-peer message relay"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "RELAY_ADDR", default_value = Config::DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Directory of the built web app (trunk's `dist/`), served at `/`.
    #[arg(long, env = "RELAY_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Directory for the server's data: the message store, an SQLite file.
    #[arg(long, env = "RELAY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Messages that may wait for one recipient; past that, senders get `queue_full`.
    #[arg(long, env = "RELAY_MAX_QUEUE", default_value_t = Config::DEFAULT_MAX_QUEUE)]
    pub max_queue: u32,

    /// Of those, how many one sender may have waiting for a recipient who has written to
    /// it: no one sender fills another's queue. Past that, that sender gets `queue_full`.
    #[arg(long, env = "RELAY_MAX_QUEUE_PER_SENDER", default_value_t = Config::DEFAULT_MAX_QUEUE_PER_SENDER)]
    pub max_queue_per_sender: u32,

    /// And for a recipient who never has (a stranger: ids are cheap to mint).
    #[arg(long, env = "RELAY_MAX_QUEUE_PER_STRANGER", default_value_t = Config::DEFAULT_MAX_QUEUE_PER_STRANGER)]
    pub max_queue_per_stranger: u32,

    /// How long a message waits for its recipient (and a receipt for its sender) before it
    /// is dropped: `7d`, `12h`, `90s`.
    #[arg(long, env = "RELAY_MESSAGE_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    pub message_ttl: Duration,

    /// `full`: fsync at every commit, so a confirmed message survives a power cut;
    /// `normal`: it survives the server being killed, not the machine losing power.
    #[arg(long, env = "RELAY_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,

    /// Largest message body accepted, in bytes of UTF-8.
    #[arg(long, env = "RELAY_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Events one socket may have waiting for their turn; past that they are refused
    /// with `overloaded`.
    #[arg(long, env = "RELAY_MAX_PENDING_EVENTS", default_value_t = Config::DEFAULT_MAX_PENDING_EVENTS)]
    pub max_pending_events: usize,

    /// Outgoing packets buffered per socket for a slow reader; past that, packets to
    /// that socket are not delivered.
    #[arg(long, env = "RELAY_SOCKET_BUFFER", default_value_t = Config::DEFAULT_SOCKET_BUFFER)]
    pub socket_buffer: usize,

    /// Bytes each WebSocket reads at once. Relay's frames are small: a larger buffer
    /// reads bursts in fewer calls but costs its size in memory on every connection,
    /// idle or not.
    #[arg(long, env = "RELAY_WS_READ_BUFFER", default_value_t = Config::DEFAULT_WS_READ_BUFFER)]
    pub ws_read_buffer: usize,

    /// Length of the queue of connections waiting to be accepted.
    #[arg(long, env = "RELAY_BACKLOG", default_value_t = Config::DEFAULT_BACKLOG)]
    pub backlog: u32,

    /// Messages one socket may send per second, on average (bursts of twice that); past
    /// that, `rate_limited`. 0: no limit.
    #[arg(long, env = "RELAY_SOCKET_RATE", default_value_t = Config::DEFAULT_SOCKET_RATE)]
    pub socket_rate: u32,

    /// Messages the sockets of one peer id may send per second together, on this node.
    /// 0: no limit.
    #[arg(long, env = "RELAY_PEER_RATE", default_value_t = Config::DEFAULT_PEER_RATE)]
    pub peer_rate: u32,

    /// Connections open at once from one client address. 0: no limit.
    #[arg(long, env = "RELAY_CONNECTIONS_PER_IP", default_value_t = Config::DEFAULT_CONNECTIONS_PER_IP)]
    pub connections_per_ip: u32,

    /// New connections one client address may open per second (bursts of twice that);
    /// more wait their turn, up to 10 s, then are refused with 429. 0: no limit.
    #[arg(long, env = "RELAY_CONNECTION_RATE", default_value_t = Config::DEFAULT_CONNECTION_RATE)]
    pub connection_rate: u32,

    /// Registrations (`register`, `init`) from one client address per minute. 0: no limit.
    #[arg(long, env = "RELAY_REGISTRATIONS_PER_MINUTE", default_value_t = Config::DEFAULT_REGISTRATIONS_PER_MINUTE)]
    pub registrations_per_minute: u32,

    /// How long a socket may stay connected without registering before it is closed.
    #[arg(long, env = "RELAY_REGISTER_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub register_timeout: Duration,

    /// How often the node tells the store it is alive. A node silent for three of them
    /// is taken for dead by another, which ends its peers' presence (cluster mode).
    #[arg(long, env = "RELAY_PRESENCE_HEARTBEAT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub presence_heartbeat: Duration,

    /// Addresses of the proxies (HAProxy) whose `X-Forwarded-For` header names the
    /// client, for the per-address limits; comma-separated.
    #[arg(long, env = "RELAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Web origins (`scheme://host[:port]`, comma-separated; `*` for any) whose pages may
    /// open a socket, besides the server's own. Clients that are not browsers send no
    /// origin and are always let in.
    #[arg(long, env = "RELAY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Cluster mode: the Redis shared by the nodes (`redis://host:port`,
    /// `redis+unix:///path/to/socket`; a Redis Cluster is found out by itself). Messages,
    /// identities and rooms then live there, and `--data-dir` is unused.
    #[arg(long, env = "RELAY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Log filter, in `tracing_subscriber::EnvFilter` syntax (`info`, `relay_server=debug`).
    #[arg(long, env = "RELAY_LOG", default_value = "info")]
    pub log: String,

    /// `text` for people, `json` (one object per line) for log shippers.
    #[arg(long, env = "RELAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// Default listening address.
    pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
    /// Default bound of each socket's queue of waiting events.
    pub const DEFAULT_MAX_PENDING_EVENTS: usize = 256;
    /// Default per-socket outgoing buffer, in packets.
    pub const DEFAULT_SOCKET_BUFFER: usize = 1024;
    /// Default WebSocket read buffer, in bytes (socketioxide's is 4 KiB).
    pub const DEFAULT_WS_READ_BUFFER: usize = 1024;
    /// Default bound of each recipient's queue of waiting messages.
    pub const DEFAULT_MAX_QUEUE: u32 = 10_000;
    /// Default share of one sender in a recipient's queue, for a contact.
    pub const DEFAULT_MAX_QUEUE_PER_SENDER: u32 = 1000;
    /// Default share of one sender in a recipient's queue, for a stranger.
    pub const DEFAULT_MAX_QUEUE_PER_STRANGER: u32 = 100;
    /// Default time a message waits for its recipient.
    pub const DEFAULT_MESSAGE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
    /// Default messages per second per socket.
    pub const DEFAULT_SOCKET_RATE: u32 = 100;
    /// Default messages per second per peer id.
    pub const DEFAULT_PEER_RATE: u32 = 200;
    /// Default connections per client address.
    pub const DEFAULT_CONNECTIONS_PER_IP: u32 = 1000;
    /// Default new connections per client address per second.
    pub const DEFAULT_CONNECTION_RATE: u32 = 50;
    /// Default registrations per client address per minute.
    pub const DEFAULT_REGISTRATIONS_PER_MINUTE: u32 = 600;
    /// Default time a socket may stay unregistered.
    pub const DEFAULT_REGISTER_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default listen backlog (tokio's own default, 128, drops connections when a few
    /// hundred clients connect at once).
    pub const DEFAULT_BACKLOG: u32 = 1024;

    /// The limits that keep one client from hurting others.
    pub fn rate_limits(&self) -> crate::limits::RateLimits {
        crate::limits::RateLimits {
            socket_rate: self.socket_rate,
            peer_rate: self.peer_rate,
            connections_per_ip: self.connections_per_ip,
            connection_rate: self.connection_rate,
            registrations_per_minute: self.registrations_per_minute,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// Turns every per-client rate and count limit off: for benchmarks of capacity, and
    /// tests that push one socket as hard as it goes.
    pub fn lift_limits(&mut self) {
        self.max_queue_per_sender = self.max_queue;
        self.max_queue_per_stranger = self.max_queue;
        self.socket_rate = 0;
        self.peer_rate = 0;
        self.connections_per_ip = 0;
        self.connection_rate = 0;
        self.registrations_per_minute = 0;
    }

    /// The largest Engine.IO frame or polling body accepted: room for a body at the limit
    /// even when JSON escaping doubles it. A larger frame closes its connection.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_body_bytes
            .saturating_mul(2)
            .saturating_add(16 * 1024)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: Self::DEFAULT_ADDR
                .parse()
                .expect("the default address parses"),
            static_dir: "dist".into(),
            data_dir: "data".into(),
            max_queue: Self::DEFAULT_MAX_QUEUE,
            max_queue_per_sender: Self::DEFAULT_MAX_QUEUE_PER_SENDER,
            max_queue_per_stranger: Self::DEFAULT_MAX_QUEUE_PER_STRANGER,
            message_ttl: Self::DEFAULT_MESSAGE_TTL,
            durability: Durability::Full,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pending_events: Self::DEFAULT_MAX_PENDING_EVENTS,
            socket_buffer: Self::DEFAULT_SOCKET_BUFFER,
            ws_read_buffer: Self::DEFAULT_WS_READ_BUFFER,
            backlog: Self::DEFAULT_BACKLOG,
            socket_rate: Self::DEFAULT_SOCKET_RATE,
            peer_rate: Self::DEFAULT_PEER_RATE,
            connections_per_ip: Self::DEFAULT_CONNECTIONS_PER_IP,
            connection_rate: Self::DEFAULT_CONNECTION_RATE,
            registrations_per_minute: Self::DEFAULT_REGISTRATIONS_PER_MINUTE,
            register_timeout: Self::DEFAULT_REGISTER_TIMEOUT,
            presence_heartbeat: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            redis_url: None,
            log: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_default_matches_the_flags_defaults() {
        let parsed = Config::try_parse_from(["relay-server"]).unwrap();
        let default = Config::default();
        // Environment variables may be set where the tests run; compare what they cannot
        // reach through `Default`.
        if std::env::vars().all(|(k, _)| !k.starts_with("RELAY_")) {
            assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        }
    }

    #[test]
    fn flags_parse() {
        let c = Config::try_parse_from([
            "relay-server",
            "--addr",
            "127.0.0.1:0",
            "--max-body-bytes",
            "10",
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 0);
        assert_eq!(c.max_body_bytes, 10);
        assert_eq!(c.max_frame_bytes(), 20 + 16 * 1024);
    }
}
