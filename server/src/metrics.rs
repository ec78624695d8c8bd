//! [`Metrics`]: what a node counts, served at `GET /metrics` in the Prometheus text
//! format (OpenMetrics), through `prometheus-client`: each node has its own registry, no
//! process-global state (several servers run in one test process).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{FutureExt, future::BoxFuture};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Labels `event` and `outcome` (`ok`, or the error code it was refused with).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The event's name (`unknown` for names the server does not handle).
    pub event: &'static str,
    /// `ok` or an error code.
    pub outcome: &'static str,
}

/// One label, `kind`, `transport`, `protocol`, `code` or `op`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    /// The value.
    pub kind: &'static str,
}

/// The label of a store operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Op {
    /// The operation (`append`, `delivered`, …).
    pub op: &'static str,
}

/// The label of an error code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Code {
    /// The code, as on the wire.
    pub code: &'static str,
}

/// The label of a transport.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Transport {
    /// `websocket` or `polling` (as the socket connected; polling may upgrade later).
    pub transport: &'static str,
}

/// The label of a protocol.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Protocol {
    /// `seed` or `typed`.
    pub protocol: &'static str,
}

/// A node's metrics.
pub struct Metrics {
    registry: Registry,
    /// Sockets connected, by transport.
    pub sockets: Family<Transport, Gauge>,
    /// Sockets registered, by protocol.
    pub registered: Family<Protocol, Gauge>,
    /// Events handled, by name and outcome.
    pub events: Family<EventLabels, Counter>,
    /// Refusals, by error code.
    pub rejections: Family<Code, Counter>,
    /// Messages: `relayed` (seed, live), `stored`, `delivered` (handed to a socket of
    /// this node), `confirmed` (by their recipient's client), `expired`.
    pub messages: Family<Kind, Counter>,
    /// Receipts handed to a socket of this node.
    pub receipts_delivered: Counter,
    /// How long store operations take, from the call to the answer.
    pub store_seconds: Family<Op, Histogram>,
    /// Store operations called and not answered yet.
    pub store_pending: Gauge,
    /// Store operations that failed, by operation.
    pub store_errors: Family<Op, Counter>,
    /// Sockets disconnected for reading too slowly.
    pub slow_consumers_cut: Counter,
    /// Sockets disconnected for sending on and on over their rate.
    pub flooders_cut: Counter,
    /// Times the store said notices were missed (the link to Redis dropped, or this node
    /// fell behind), and sessions read what waits again.
    pub notices_missed: Counter,
    /// Requests to the other nodes through the adapter (in a cluster, over Redis) that
    /// failed: counting a recipient's sockets, broadcasting.
    pub adapter_errors: Counter,
    /// The counters nearly every event bumps, looked up once.
    hot: Hot,
}

/// The counters bumped for nearly every event, resolved when the metrics are made: a
/// family's lookup takes a lock and hashes the labels, which showed at full load. Each
/// is the family's own counter (a counter is a shared handle), so what is exported is
/// the same.
struct Hot {
    /// `events{event, outcome="ok"}` of each event the server handles.
    ok: Vec<(&'static str, Counter)>,
    /// `messages{kind}` of the kinds counted per message.
    messages: Vec<(&'static str, Counter)>,
}

impl Hot {
    fn resolve(events: &Family<EventLabels, Counter>, messages: &Family<Kind, Counter>) -> Self {
        use relay_shared::event::{INIT, MESSAGE, READ, RECEIVED, REGISTER, SEND, TYPING};
        let handled = [INIT, MESSAGE, REGISTER, SEND, RECEIVED, READ, TYPING];
        Self {
            ok: handled
                .into_iter()
                .map(|event| {
                    let labels = EventLabels {
                        event,
                        outcome: "ok",
                    };
                    (event, events.get_or_create(&labels).clone())
                })
                .collect(),
            messages: ["relayed", "stored", "delivered"]
                .into_iter()
                .map(|kind| (kind, messages.get_or_create(&Kind { kind }).clone()))
                .collect(),
        }
    }
}

/// The counter of `key` among `resolved`.
fn find<'a>(resolved: &'a [(&'static str, Counter)], key: &str) -> Option<&'a Counter> {
    resolved.iter().find(|(k, _)| *k == key).map(|(_, c)| c)
}

impl Metrics {
    /// A node's metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("relay");
        let (events, messages) = (Family::default(), Family::default());
        let hot = Hot::resolve(&events, &messages);
        let metrics = Self {
            sockets: Family::default(),
            registered: Family::default(),
            events,
            rejections: Family::default(),
            messages,
            receipts_delivered: Counter::default(),
            store_seconds: Family::new_with_constructor(|| {
                // 50 µs to about 3 s.
                Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
            }),
            store_pending: Gauge::default(),
            store_errors: Family::default(),
            slow_consumers_cut: Counter::default(),
            flooders_cut: Counter::default(),
            notices_missed: Counter::default(),
            adapter_errors: Counter::default(),
            registry: Registry::default(),
            hot,
        };
        registry.register(
            "sockets",
            "Sockets connected, by transport",
            metrics.sockets.clone(),
        );
        registry.register(
            "registered_sockets",
            "Sockets registered under a peer id, by protocol",
            metrics.registered.clone(),
        );
        registry.register(
            "events",
            "Events handled, by name and outcome",
            metrics.events.clone(),
        );
        registry.register(
            "rejections",
            "Events refused, by error code",
            metrics.rejections.clone(),
        );
        registry.register(
            "messages",
            "Messages relayed live, stored, delivered to a socket here, confirmed, expired",
            metrics.messages.clone(),
        );
        registry.register(
            "receipts_delivered",
            "Receipts handed to a socket here",
            metrics.receipts_delivered.clone(),
        );
        registry.register(
            "store_operation_seconds",
            "Time from a store operation's call to its answer",
            metrics.store_seconds.clone(),
        );
        registry.register(
            "store_pending_operations",
            "Store operations called and not answered yet",
            metrics.store_pending.clone(),
        );
        registry.register(
            "store_errors",
            "Store operations that failed, by operation",
            metrics.store_errors.clone(),
        );
        registry.register(
            "slow_consumers_cut",
            "Sockets disconnected for reading too slowly",
            metrics.slow_consumers_cut.clone(),
        );
        registry.register(
            "flooders_cut",
            "Sockets disconnected for sending on and on over their rate",
            metrics.flooders_cut.clone(),
        );
        registry.register(
            "notices_missed",
            "Times notices may have been missed (the link to Redis dropped) and sessions read what waits again",
            metrics.notices_missed.clone(),
        );
        registry.register(
            "adapter_errors",
            "Requests to the other nodes through the Socket.IO adapter that failed",
            metrics.adapter_errors.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// The metrics in the text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "could not encode the metrics");
        }
        out
    }

    /// Counts a message of `kind`.
    pub fn message(&self, kind: &'static str) {
        match find(&self.hot.messages, kind) {
            Some(counter) => counter.inc(),
            None => self.messages.get_or_create(&Kind { kind }).inc(),
        };
    }

    /// Counts an event handled, with its outcome: `ok` or the code it was refused with
    /// (which is counted among the rejections too).
    pub fn event(&self, event: &'static str, outcome: Result<(), &'static str>) {
        match outcome {
            Ok(()) => match find(&self.hot.ok, event) {
                Some(counter) => counter.inc(),
                None => self
                    .events
                    .get_or_create(&EventLabels {
                        event,
                        outcome: "ok",
                    })
                    .inc(),
            },
            Err(code) => {
                self.rejections.get_or_create(&Code { code }).inc();
                self.events
                    .get_or_create(&EventLabels {
                        event,
                        outcome: code,
                    })
                    .inc()
            }
        };
    }

    /// Times the store operation `op`: its answer, as `future` completes.
    pub fn store_op<T: Send + 'static, E: Send + 'static>(
        self: &Arc<Self>,
        op: &'static str,
        future: BoxFuture<'static, Result<T, E>>,
    ) -> BoxFuture<'static, Result<T, E>> {
        let timer = StoreTimer::start(self.clone(), op);
        async move {
            let result = future.await;
            timer.finish(result.is_ok());
            result
        }
        .boxed()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A store operation being timed: pending until finished (or dropped unfinished).
struct StoreTimer {
    metrics: Arc<Metrics>,
    op: &'static str,
    started: Instant,
}

impl StoreTimer {
    fn start(metrics: Arc<Metrics>, op: &'static str) -> Self {
        metrics.store_pending.inc();
        Self {
            metrics,
            op,
            started: Instant::now(),
        }
    }

    fn finish(self, ok: bool) {
        let took: Duration = self.started.elapsed();
        self.metrics
            .store_seconds
            .get_or_create(&Op { op: self.op })
            .observe(took.as_secs_f64());
        if !ok {
            self.metrics
                .store_errors
                .get_or_create(&Op { op: self.op })
                .inc();
        }
    }
}

impl Drop for StoreTimer {
    fn drop(&mut self) {
        self.metrics.store_pending.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_histograms_and_gauges_render() {
        let metrics = Arc::new(Metrics::new());
        metrics
            .events
            .get_or_create(&EventLabels {
                event: "send",
                outcome: "ok",
            })
            .inc();
        metrics.message("stored");
        let answer: Result<u8, ()> = metrics.store_op("append", async { Ok(1) }.boxed()).await;
        assert_eq!(answer, Ok(1));
        let failed: Result<u8, ()> = metrics.store_op("append", async { Err(()) }.boxed()).await;
        assert!(failed.is_err());
        let text = metrics.render();
        assert!(
            text.contains(r#"relay_events_total{event="send",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"relay_messages_total{kind="stored"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"relay_store_operation_seconds_count{op="append"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"relay_store_errors_total{op="append"} 1"#),
            "{text}"
        );
        assert!(text.contains("relay_store_pending_operations 0"), "{text}");
    }

    #[tokio::test]
    async fn the_dashboard_queries_only_metrics_a_node_exports() {
        // Every family with a sample (those with labels render only once they have one).
        let metrics = Arc::new(Metrics::new());
        let label = "x";
        metrics
            .sockets
            .get_or_create(&Transport { transport: label })
            .inc();
        metrics
            .registered
            .get_or_create(&Protocol { protocol: label })
            .inc();
        metrics
            .events
            .get_or_create(&EventLabels {
                event: label,
                outcome: label,
            })
            .inc();
        metrics
            .rejections
            .get_or_create(&Code { code: label })
            .inc();
        metrics.message(label);
        let _: Result<(), ()> = metrics.store_op(label, async { Err(()) }.boxed()).await;
        let text = metrics.render();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        let exported = |name: &str| {
            families.iter().any(|family| {
                name.strip_prefix(family).is_some_and(|suffix| {
                    ["", "_total", "_bucket", "_sum", "_count"].contains(&suffix)
                })
            })
        };
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let mut queried = Vec::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let mut rest = target["expr"].as_str().expect("an expression");
                while let Some(at) = rest.find("relay_") {
                    let name: String = rest[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    rest = &rest[at + name.len()..];
                    queried.push(name);
                }
            }
        }
        assert!(queried.len() >= 10, "{queried:?}");
        for name in &queried {
            assert!(
                exported(name),
                "the dashboard queries {name}, which no node exports"
            );
        }
    }
}
