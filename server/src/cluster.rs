//! Cluster mode: the Socket.IO adapter that carries room broadcasts (seed messages,
//! disconnecting a claimed id's seed sockets, counting a recipient's sockets) between
//! the nodes sharing one Redis.
//!
//! It is socketioxide's Redis adapter (`socketioxide-redis`) over a driver of ours,
//! [`LinkDriver`], on the node's [`RedisLink`]: the adapter's own drivers do not
//! reconnect, ours does (and subscribes again), and shares the connection with the
//! store. The adapter is lossy by design (a full channel drops): only the seed
//! protocol, which promises at most once, relies on it; stored messages and receipts
//! travel as the store's notices (see `crate::delivery`).

use socketioxide::adapter::Emitter;
use socketioxide_redis::{
    CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr,
    drivers::{Driver, MessageStream},
};
use tokio::sync::mpsc;

use crate::{
    delivery::NodeAdapter,
    store::{ChannelMessage, RedisLink},
};

/// socketioxide's Redis adapter on our driver.
pub type ClusterAdapter = CustomRedisAdapter<Emitter, LinkDriver>;

impl NodeAdapter for ClusterAdapter {
    const SPANS_NODES: bool = true;
}

/// The adapter's state: its driver and its settings.
pub fn adapter(link: RedisLink) -> RedisAdapterCtr<LinkDriver> {
    RedisAdapterCtr::new_with_driver(
        LinkDriver(link),
        RedisAdapterConfig::new()
            .with_prefix("relay-socket.io")
            // Room broadcasts arrive through this buffer: room for bursts of seed
            // messages from the other nodes.
            .with_stream_buffer(16 * 1024),
    )
}

/// The adapter's pub/sub over the node's Redis link.
#[derive(Clone)]
pub struct LinkDriver(RedisLink);

impl Driver for LinkDriver {
    type Error = redis::RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.0.publish(&chan, &val).await
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChannelMessage>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.0.subscribe(&chan, Some(tx)).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.0.unsubscribe(&chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        self.0.subscribers(chan).await
    }
}
