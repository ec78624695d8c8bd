//! [`Server`]: binds the listener, builds the HTTP and Socket.IO service, and serves it
//! until told to stop.

use std::{
    convert::Infallible,
    future::{Future, ready},
    io,
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::{Router, routing::get, serve::ListenerExt};
use socketioxide::{
    ParserConfig, SocketIo, extract::SocketRef, handler::ConnectHandler, layer::SocketIoLayer,
};
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceBuilder;
use tower_http::{compression::CompressionLayer, services::ServeDir, trace::TraceLayer};

use crate::{
    clock::{Clock, SystemClock},
    config::Config,
    delivery,
    local_peers::LocalPeers,
    relay::{Limits, Relay},
    session::{self, Node, SocketHandle},
    store::{NoticeStream, Notices, Settings, SqliteStore, Store, StoreError},
};

/// Notices (stored messages, receipts) that may wait for the node to put them into its
/// sockets.
const NOTICE_BACKLOG: usize = 64 * 1024;

/// How long connections get to close after a shutdown signal before the server stops
/// waiting for them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        source: io::Error,
    },
    /// The message store could not be opened.
    #[error("cannot open the message store in {dir}: {source}")]
    Store {
        /// The data directory.
        dir: std::path::PathBuf,
        /// Why.
        source: StoreError,
    },
}

/// A bound Relay server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    router: Router,
    io: SocketIo,
    node: Arc<Node>,
    notices: NoticeStream,
    message_ttl: Duration,
}

impl Server {
    /// Binds `config.addr` and builds the service. Nothing is accepted until
    /// [`run`](Server::run).
    pub async fn bind(config: &Config) -> Result<Self, StartError> {
        let listener =
            listen(config.addr, config.backlog).map_err(|source| StartError::Listen {
                addr: config.addr,
                source,
            })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (notice_tx, notices) = Notices::channel(NOTICE_BACKLOG);
        let settings = Settings {
            max_queue: config.max_queue,
            ttl: config.message_ttl,
        };
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(
                &config.data_dir,
                settings,
                config.durability,
                clock.clone(),
                notice_tx,
            )
            .map_err(|source| StartError::Store {
                dir: config.data_dir.clone(),
                source,
            })?,
        );
        let node = Arc::new(Node {
            relay: Relay::new(
                Limits {
                    max_body_bytes: config.max_body_bytes,
                    max_pending_events: config.max_pending_events,
                    ..Limits::default()
                },
                store.clone(),
                clock,
            ),
            peers: Arc::new(LocalPeers::new(store)),
        });
        let (socket_io, io) = socket_io(config, node.clone());
        if !config.static_dir.join("index.html").is_file() {
            tracing::warn!(
                dir = %config.static_dir.display(),
                "no web app to serve (index.html not found); build it with `cargo xtask run`"
            );
        }
        Ok(Self {
            router: router(config, socket_io),
            listener,
            io,
            node,
            notices,
            message_ttl: config.message_ttl,
        })
    }

    /// The address the server listens on (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` completes, then disconnects every socket and waits up to
    /// a few seconds for connections to close.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self {
            listener,
            router,
            io,
            node,
            notices,
            message_ttl,
        } = self;
        let dispatcher = tokio::spawn(delivery::dispatch(notices, io.clone(), node.peers.clone()));
        let sweeper = tokio::spawn(sweep(node, message_ttl));
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting sockets");
            let _ = stopping_tx.send(());
            io.close().await;
        });
        let serve = std::pin::pin!(serve.into_future());
        let result = tokio::select! {
            result = serve => result,
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway");
                Ok(())
            }
        };
        sweeper.abort();
        dispatcher.abort();
        result
    }
}

/// Drops, now and then, what waited longer than the TTL.
async fn sweep(node: Arc<Node>, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match node.relay.expire().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired messages dropped"),
            Err(error) => tracing::error!(%error, "could not drop expired messages"),
        }
    }
}

/// A listening socket with a backlog of `backlog` and `SO_REUSEADDR`, so a restarted
/// server can bind its port again at once.
fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// The Socket.IO layer and its handle, with every client-facing limit set from `config`.
fn socket_io(config: &Config, node: Arc<Node>) -> (SocketIoLayer, SocketIo) {
    let max_frame = config.max_frame_bytes();
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(config.socket_buffer)
        .ws_read_buffer_size(config.ws_read_buffer)
        .max_payload(u64::try_from(max_frame).unwrap_or(u64::MAX))
        .ws_max_message_size(max_frame)
        .ws_max_frame_size(max_frame)
        .with_parser(
            // Relay carries no binary attachments; bound what a client can make it hold.
            ParserConfig::common()
                .max_incoming_binaries(1)
                .max_incoming_binary_buf_size(max_frame)
                .packet_completion_timeout(Duration::from_secs(10)),
        )
        .build_layer();
    io.ns(
        "/",
        on_connect.with(move |socket: SocketRef, handle: SocketHandle<_>| {
            session::attach(&socket, handle, node.clone());
            ready(Ok::<(), Infallible>(()))
        }),
    );
    (layer, io)
}

async fn on_connect(socket: SocketRef) {
    tracing::debug!(sid = %socket.id, transport = ?socket.transport_type(), "connected");
}

/// The HTTP service: Socket.IO at `/socket.io`, `GET /healthz`, and the web app at `/`.
fn router(config: &Config, socket_io: SocketIoLayer) -> Router {
    let web_app = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .service(ServeDir::new(&config.static_dir));
    Router::new()
        .route("/healthz", get(healthz))
        .fallback_service(web_app)
        .layer(TraceLayer::new_for_http())
        .layer(socket_io)
        // Outermost, so that what socketioxide keeps of a request is compact.
        .layer(axum::middleware::map_request(compact_request))
}

async fn compact_request(request: axum::extract::Request) -> axum::extract::Request {
    crate::compact_request::compact(request)
}

/// 200 once the server accepts connections: it is only routed once everything it
/// depends on is up.
async fn healthz() -> &'static str {
    "ok"
}
