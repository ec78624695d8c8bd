//! [`Server`]: binds the listener, builds the HTTP and Socket.IO service, and serves it
//! until told to stop.

use std::{
    future::{Future, ready},
    io,
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::{Router, routing::get, serve::ListenerExt};
use socketioxide::{
    ParserConfig, SocketIo, adapter::LocalAdapter, extract::SocketRef, handler::ConnectHandler,
    layer::SocketIoLayer,
};
use socketioxide_core::adapter::DefinedAdapter;
use tokio::{
    net::{TcpListener, TcpSocket},
    task::JoinHandle,
};
use tower_http::trace::TraceLayer;

use crate::{
    clock::{Clock, SystemClock},
    cluster::{self, ClusterAdapter},
    config::Config,
    delivery::{self, NodeAdapter},
    limits::{self, Limiter},
    local_peers::LocalPeers,
    metrics::Metrics,
    origins::{self, Origins},
    presence::{self, ChangeStream, Changes},
    relay::{Limits, Relay},
    session::{self, Node, SocketHandle},
    store::{Metered, NoticeStream, Notices, RedisStore, Settings, SqliteStore, Store, StoreError},
    web_app,
};

/// Notices (stored messages, receipts) that may wait for the node to put them into its
/// sockets.
const NOTICE_BACKLOG: usize = 64 * 1024;

/// How long connections get to close after a shutdown signal before the server stops
/// waiting for them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The shortest presence heartbeat taken: below it, a node would mostly beat.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

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
    /// Redis, for cluster mode, could not be reached or set up.
    #[error("cannot use Redis at {url}: {source}")]
    Redis {
        /// `--redis-url`.
        url: String,
        /// Why.
        source: StoreError,
    },
}

/// A bound Relay server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    router: Router,
    io: Io,
    node: Arc<Node>,
    notices: NoticeStream,
    presence_changes: ChangeStream,
    heartbeat: Duration,
    message_ttl: Duration,
}

/// The Socket.IO handle, with the adapter of the deployment.
enum Io {
    /// One node: rooms live in this process.
    Single(SocketIo<LocalAdapter>),
    /// A node of a cluster: rooms span the nodes sharing one Redis.
    Cluster(SocketIo<ClusterAdapter>),
}

impl Server {
    /// Binds `config.addr` and builds the service: with `config.redis_url`, a node of a
    /// cluster on that Redis; otherwise a single node with its SQLite file. Nothing is
    /// accepted until [`run`](Server::run).
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
            max_queue_per_sender: config.max_queue_per_sender,
            max_queue_per_stranger: config.max_queue_per_stranger,
            ttl: config.message_ttl,
            heartbeat: config.presence_heartbeat.max(MIN_HEARTBEAT),
        };
        let (store, link): (Arc<dyn Store>, _) = match &config.redis_url {
            Some(url) => {
                let (store, link) = RedisStore::open(url, settings, clock.clone(), notice_tx)
                    .await
                    .map_err(|source| StartError::Redis {
                        url: url.clone(),
                        source,
                    })?;
                tracing::info!(topology = ?link.topology(), "cluster mode: store and rooms on Redis");
                (Arc::new(store), Some(link))
            }
            None => {
                let store = SqliteStore::open(
                    &config.data_dir,
                    settings,
                    config.durability,
                    clock.clone(),
                    notice_tx,
                )
                .map_err(|source| StartError::Store {
                    dir: config.data_dir.clone(),
                    source,
                })?;
                (Arc::new(store), None)
            }
        };
        let metrics = Arc::new(Metrics::new());
        let store: Arc<dyn Store> = Arc::new(Metered::new(store, metrics.clone()));
        let (presence, presence_changes) = Changes::channel();
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
            peers: Arc::new(LocalPeers::new(store, presence.clone())),
            limiter: Arc::new(Limiter::new(config.rate_limits())),
            register_timeout: config.register_timeout,
            metrics,
            presence,
        });
        let (router, io) = match link {
            None => {
                let (layer, io) = socket_io(config).build_layer();
                attach_sessions(&io, node.clone());
                (router(config, layer, &node), Io::Single(io))
            }
            Some(link) => {
                let url = config.redis_url.clone().unwrap_or_default();
                let (layer, io) = socket_io(config)
                    .with_adapter::<ClusterAdapter>(cluster::adapter(link))
                    .build_layer();
                attach_sessions(&io, node.clone())
                    .await
                    .map_err(|source| StartError::Redis {
                        url,
                        source: StoreError::backend(source.to_string()),
                    })?;
                (router(config, layer, &node), Io::Cluster(io))
            }
        };
        if !config.static_dir.join("index.html").is_file() {
            tracing::warn!(
                dir = %config.static_dir.display(),
                "no web app to serve (index.html not found); build it with `cargo xtask run`"
            );
        }
        Ok(Self {
            router,
            listener,
            io,
            node,
            notices,
            presence_changes,
            heartbeat: settings.heartbeat,
            message_ttl: config.message_ttl,
        })
    }

    /// The address the server listens on (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` completes; then stops accepting, disconnects every socket
    /// (their clients reconnect, to another node if there is one), waits up to a few
    /// seconds for connections to close, lets the store finish what it was given, and
    /// returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Self {
            listener,
            router,
            io,
            node,
            notices,
            presence_changes,
            heartbeat,
            message_ttl,
        } = self;
        let background = Background {
            notices,
            presence_changes,
            heartbeat,
        };
        let [dispatcher, presence] = match &io {
            Io::Single(io) => background.spawn(io, &node),
            Io::Cluster(io) => background.spawn(io, &node),
        };
        let sweeper = tokio::spawn(sweep(node.clone(), message_ttl));
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: disconnecting sockets");
            let _ = stopping_tx.send(());
            match io {
                Io::Single(io) => io.close().await,
                Io::Cluster(io) => io.close().await,
            }
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
        presence.abort();
        // Every socket is gone: what they left in the store's queue becomes durable
        // (its acks could not be sent; the clients send those messages again, stored
        // once), and the store stops.
        match tokio::time::timeout(SHUTDOWN_GRACE, node.relay.store().close()).await {
            Ok(Ok(())) => tracing::info!("store closed"),
            Ok(Err(error)) => tracing::error!(%error, "the store could not finish"),
            Err(_) => tracing::error!("the store did not finish within {SHUTDOWN_GRACE:?}"),
        }
        result
    }
}

/// What a node runs beside its sockets, whatever its adapter.
struct Background {
    notices: NoticeStream,
    presence_changes: ChangeStream,
    heartbeat: Duration,
}

impl Background {
    /// Spawns the dispatch of the store's notices and the presence task.
    fn spawn<A: NodeAdapter>(self, io: &SocketIo<A>, node: &Node) -> [JoinHandle<()>; 2] {
        let metrics = node.metrics.clone();
        [
            tokio::spawn(delivery::dispatch(
                self.notices,
                io.clone(),
                node.peers.clone(),
                metrics.clone(),
            )),
            tokio::spawn(presence::run(
                self.presence_changes,
                node.relay.shared_store(),
                io.clone(),
                self.heartbeat,
                metrics,
            )),
        ]
    }
}

/// Drops, now and then, what waited longer than the TTL.
async fn sweep(node: Arc<Node>, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        node.limiter.forget_quiet();
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

/// The Socket.IO service's builder, with every client-facing limit set from `config`.
fn socket_io(config: &Config) -> socketioxide::SocketIoBuilder {
    let max_frame = config.max_frame_bytes();
    SocketIo::builder()
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
}

/// Gives every socket of the default namespace its session; completes once the
/// namespace is ready (in a cluster, once its adapter is subscribed on Redis).
fn attach_sessions<A: NodeAdapter + DefinedAdapter>(
    io: &SocketIo<A>,
    node: Arc<Node>,
) -> A::InitRes {
    io.ns(
        "/",
        on_connect.with(move |socket: SocketRef<A>, handle: SocketHandle<A>| {
            ready(session::attach(&socket, handle, node.clone()))
        }),
    )
}

async fn on_connect<A: NodeAdapter>(socket: SocketRef<A>) {
    tracing::debug!(sid = %socket.id, transport = ?socket.transport_type(), "connected");
}

/// The HTTP service: Socket.IO at `/socket.io`, `GET /healthz`, `GET /metrics`, and the
/// web app at `/`.
fn router<A: NodeAdapter>(config: &Config, socket_io: SocketIoLayer<A>, node: &Node) -> Router {
    let metrics = node.metrics.clone();
    let web_app = web_app::service(&config.static_dir);
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                }
            }),
        )
        .fallback_service(web_app)
        .layer(TraceLayer::new_for_http())
        .layer(socket_io)
        .layer(axum::middleware::from_fn_with_state(
            Origins::new(&config.allowed_origins),
            origins::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            node.limiter.clone(),
            limits::pace_connections,
        ))
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
