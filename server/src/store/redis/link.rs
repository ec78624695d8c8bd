//! [`RedisLink`]: a node's one connection to Redis (a single server or a Redis Cluster),
//! shared by the store's commands, its notices and the Socket.IO adapter's pub/sub.
//!
//! It reconnects by itself and subscribes again to what it was subscribed to (RESP3
//! pushes, through redis-rs's `ConnectionManager` or cluster connection). Pushed
//! messages are routed by channel: the store's `relay:{<peer>}:live` channels to the
//! store, the adapter's channels to the adapter. A lost connection is reported, since
//! whatever was published meanwhile is gone.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use redis::{
    AsyncConnectionConfig, Cmd, FromRedisValue, IntoConnectionInfo, Pipeline, ProtocolVersion,
    PushInfo, PushKind, RedisResult, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
};
use relay_shared::PeerId;
use tokio::sync::mpsc;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Redis may take to answer, before the command fails (`unavailable`).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The prefix of the store's channels; everything else is the adapter's.
pub(super) const LIVE_PREFIX: &str = "relay:{";

/// A single Redis, or a Redis Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server (with replicas or not): plain pub/sub.
    Single,
    /// A Redis Cluster: keys spread over masters by hash slot, sharded pub/sub.
    Cluster,
}

/// A message received on a channel: the channel and the payload.
pub type ChannelMessage = (String, Vec<u8>);

/// What is done with the store's pushes.
type LiveHandler = Arc<dyn Fn(&[u8]) + Send + Sync>;
/// What is done when the connection drops.
type DisconnectHandler = Arc<dyn Fn() + Send + Sync>;

/// Where pushed messages go.
#[derive(Default)]
struct Routes {
    channels: RwLock<HashMap<String, mpsc::Sender<ChannelMessage>>>,
    live: RwLock<Option<LiveHandler>>,
    disconnected: RwLock<Option<DisconnectHandler>>,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A node's connection to Redis. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisLink {
    connection: Connection,
    routes: Arc<Routes>,
}

impl RedisLink {
    /// Connects to the Redis at `url` (`redis://host:port`, `redis+unix:///path`),
    /// finding out whether it is a cluster. RESP3 is used whatever the URL says.
    pub async fn connect(url: &str) -> RedisResult<Self> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let routes = Arc::new(Routes::default());
        let push = {
            let routes = routes.clone();
            move |push: PushInfo| {
                routes.route(push);
                Ok::<(), std::convert::Infallible>(())
            }
        };
        let connection = match topology_of(info.clone()).await? {
            RedisTopology::Single => {
                let config = ConnectionManagerConfig::new()
                    .set_push_sender(push)
                    .set_automatic_resubscription()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1))
                    .set_pipeline_buffer_size(4096);
                let client = redis::Client::open(info)?;
                Connection::Single(ConnectionManager::new_with_config(client, config).await?)
            }
            RedisTopology::Cluster => {
                let client = ClusterClientBuilder::new([info])
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(push)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(2)
                    .build()?;
                Connection::Cluster(client.get_async_connection().await?)
            }
        };
        Ok(Self { connection, routes })
    }

    /// Whether this is a single Redis or a cluster.
    pub fn topology(&self) -> RedisTopology {
        match self.connection {
            Connection::Single(_) => RedisTopology::Single,
            Connection::Cluster(_) => RedisTopology::Cluster,
        }
    }

    /// Runs `commands`, each on the keys of the peer beside it, in one round trip: one
    /// result per command, in order (a failed command does not fail the others). A
    /// Redis Cluster takes a pipeline on one hash slot only, so there each peer's
    /// commands go as a pipeline of their own, all at once: commands on different
    /// peers touch different keys, so their relative order changes nothing.
    pub async fn run(&self, commands: Vec<(PeerId, Cmd)>) -> Vec<RedisResult<Value>> {
        match self.connection.clone() {
            Connection::Single(mut c) => {
                let count = commands.len();
                let mut pipeline = Pipeline::with_capacity(count);
                for (_, command) in commands {
                    pipeline.add_command(command);
                }
                one_result_each(pipeline.ignore_errors().query_async(&mut c).await, count)
            }
            Connection::Cluster(c) => {
                let mut by_peer: HashMap<PeerId, (Vec<usize>, Pipeline)> = HashMap::new();
                let count = commands.len();
                for (index, (peer, command)) in commands.into_iter().enumerate() {
                    let (indices, pipeline) = by_peer.entry(peer).or_default();
                    indices.push(index);
                    pipeline.add_command(command);
                }
                let runs = by_peer.into_values().map(|(indices, mut pipeline)| {
                    let mut c = c.clone();
                    async move {
                        let results = pipeline.ignore_errors().query_async(&mut c).await;
                        (one_result_each(results, indices.len()), indices)
                    }
                });
                let mut ordered: Vec<Option<RedisResult<Value>>> =
                    std::iter::repeat_with(|| None).take(count).collect();
                for (results, indices) in futures_util::future::join_all(runs).await {
                    for (result, index) in results.into_iter().zip(indices) {
                        ordered[index] = Some(result);
                    }
                }
                ordered
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(failure("no reply"))))
                    .collect()
            }
        }
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> RedisResult<T> {
        match self.connection.clone() {
            Connection::Single(mut c) => command.query_async(&mut c).await,
            Connection::Cluster(mut c) => command.query_async(&mut c).await,
        }
    }

    /// The publish command of this topology: `SPUBLISH` in a cluster, where a channel
    /// lives on the node of its hash slot, `PUBLISH` otherwise.
    pub fn publish_command(&self) -> &'static str {
        match self.topology() {
            RedisTopology::Single => "PUBLISH",
            RedisTopology::Cluster => "SPUBLISH",
        }
    }

    /// Publishes `payload` on `channel`.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> RedisResult<()> {
        self.query::<Value>(redis::cmd(self.publish_command()).arg(channel).arg(payload))
            .await
            .map(|_| ())
    }

    /// Subscribes to `channel`. Its messages go to `messages` when given (the
    /// adapter's), to the live handler otherwise (the store's).
    pub async fn subscribe(
        &self,
        channel: &str,
        messages: Option<mpsc::Sender<ChannelMessage>>,
    ) -> RedisResult<()> {
        if let Some(messages) = messages {
            self.routes
                .channels
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(channel.to_owned(), messages);
        }
        match self.connection.clone() {
            Connection::Single(mut c) => c.subscribe(channel).await,
            Connection::Cluster(mut c) => c.ssubscribe(channel).await,
        }
    }

    /// Unsubscribes from `channel`.
    pub async fn unsubscribe(&self, channel: &str) -> RedisResult<()> {
        self.routes
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(channel);
        match self.connection.clone() {
            Connection::Single(mut c) => c.unsubscribe(channel).await,
            Connection::Cluster(mut c) => c.sunsubscribe(channel).await,
        }
    }

    /// How many connections (nodes) are subscribed to `channel`.
    pub async fn subscribers(&self, channel: &str) -> RedisResult<u16> {
        let subcommand = match self.topology() {
            RedisTopology::Single => "NUMSUB",
            RedisTopology::Cluster => "SHARDNUMSUB",
        };
        let (_, count): (String, u16) = self
            .query(redis::cmd("PUBSUB").arg(subcommand).arg(channel))
            .await?;
        Ok(count)
    }

    /// Sends what is published on the store's channels to `handler`.
    pub(super) fn on_live(&self, handler: impl Fn(&[u8]) + Send + Sync + 'static) {
        *self
            .routes
            .live
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
    }

    /// Calls `handler` whenever the connection drops.
    pub(super) fn on_disconnect(&self, handler: impl Fn() + Send + Sync + 'static) {
        *self
            .routes
            .disconnected
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(handler));
    }
}

impl Routes {
    /// Routes a push from Redis. Runs on the connection's task: it never waits.
    fn route(&self, push: PushInfo) {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                let (Ok(channel), Ok(payload)) = (
                    String::from_redis_value(channel),
                    Vec::<u8>::from_redis_value(payload),
                ) else {
                    tracing::warn!("unreadable message from Redis");
                    return;
                };
                if channel.starts_with(LIVE_PREFIX) {
                    let live = self
                        .live
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    if let Some(live) = live {
                        live(&payload);
                    }
                    return;
                }
                let channels = self.channels.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(tx) = channels.get(&channel)
                    && tx.try_send((channel, payload)).is_err()
                {
                    tracing::warn!(
                        "the Socket.IO adapter is behind: a message from another node was dropped"
                    );
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("connection to Redis lost; reconnecting");
                let handler = self
                    .disconnected
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                if let Some(handler) = handler {
                    handler();
                }
            }
            _ => {}
        }
    }
}

/// A pipeline's results, one per command: each command fails with the pipeline.
fn one_result_each(
    results: RedisResult<Vec<RedisResult<Value>>>,
    count: usize,
) -> Vec<RedisResult<Value>> {
    match results {
        Ok(results) if results.len() == count => results,
        Ok(_) => (0..count)
            .map(|_| {
                Err(failure(
                    "Redis answered a pipeline with the wrong number of replies",
                ))
            })
            .collect(),
        Err(error) => {
            let why = error.to_string();
            (0..count).map(|_| Err(failure(&why))).collect()
        }
    }
}

/// An error of the link itself.
fn failure(why: &str) -> redis::RedisError {
    std::io::Error::other(why.to_owned()).into()
}

/// Whether the Redis at `info` is a cluster node.
async fn topology_of(info: redis::ConnectionInfo) -> RedisResult<RedisTopology> {
    let client = redis::Client::open(info)?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut connection)
        .await?;
    Ok(if info.contains("cluster_enabled:1") {
        RedisTopology::Cluster
    } else {
        RedisTopology::Single
    })
}
