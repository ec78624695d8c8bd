//! Sender/receiver pairs: each sender sends numbered, time-stamped messages to its
//! receiver, either as fast as a bounded window of unanswered messages allows, or at a
//! fixed rate. Counts what arrives in the measured window, what is lost, what arrives out
//! of order, and how long each message took.

use std::time::Duration;

use anyhow::Context;
use relay_native_client::{Connection, Peer};
use relay_shared::{
    PeerId, Secret,
    crypto::Crypto,
    device::DeviceId,
    event,
    messenger::Update,
    seed::SeedMessage,
    socketio::{ClientConfig, Event},
};
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};

use crate::stats::{Clock, Latencies, Latency, body, parse_body};

/// Which protocol the pairs speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `init` and `message("uuid|text")`: what the seed server speaks.
    Seed,
    /// `register`, `send` (stored, acknowledged), `deliver`, `received`: Relay's own.
    Typed,
    /// The typed protocol, each message end-to-end encrypted (Olm) by the sender's
    /// messenger and decrypted by the receiver's: what encryption costs the whole path.
    Encrypted,
}

/// A pairs run.
#[derive(Debug, Clone)]
pub struct Pairs {
    /// The server, `http://host:port`: the senders' (and the receivers', unless
    /// `receivers_url` says otherwise).
    pub url: String,
    /// Where the receivers connect, when not to `url`: another node of a cluster.
    pub receivers_url: Option<String>,
    /// How many sender/receiver pairs.
    pub pairs: usize,
    /// Messages a sender may have unanswered at once.
    pub window: u64,
    /// Messages per second over all pairs; `None` for as fast as the window allows.
    pub rate: Option<f64>,
    /// The protocol.
    pub protocol: Protocol,
    /// Sending before measuring.
    pub warmup: Duration,
    /// Measuring.
    pub duration: Duration,
    /// After sending stops, how long to wait for what is still on its way.
    pub drain: Duration,
}

/// What a pairs run found.
#[derive(Debug, Clone, Serialize)]
pub struct PairsReport {
    /// Messages delivered per second in the measured window.
    pub delivered_per_sec: f64,
    /// Messages sent, in all.
    pub sent: u64,
    /// Distinct messages received, in all.
    pub received: u64,
    /// Sent and never received.
    pub lost: u64,
    /// Received after a later message of the same pair.
    pub out_of_order: u64,
    /// Received more than once.
    pub duplicates: u64,
    /// Send to receive, in the measured window.
    pub latency: Latency,
}

/// Runs the pairs and reports.
pub async fn run(config: Pairs) -> anyhow::Result<PairsReport> {
    let clock = Clock::start();
    let mut links = Vec::with_capacity(config.pairs);
    for _ in 0..config.pairs {
        let receivers = config.receivers_url.as_deref().unwrap_or(&config.url);
        links.push(Link::connect(&config.url, receivers, config.protocol).await?);
    }
    let start = Instant::now() + config.warmup;
    let end = start + config.duration;
    let deadline = end + config.drain;
    let interval = config
        .rate
        .map(|rate| Duration::from_secs_f64(config.pairs as f64 / rate));
    let tasks: Vec<_> = links
        .into_iter()
        .map(|link| {
            tokio::spawn(drive(
                link,
                Timeline {
                    start,
                    end,
                    deadline,
                },
                config.window,
                interval,
                clock,
            ))
        })
        .collect();
    let mut total = PairCounts::default();
    for task in tasks {
        total.merge(task.await.context("pair task")?);
    }
    Ok(PairsReport {
        delivered_per_sec: total.in_window as f64 / config.duration.as_secs_f64(),
        sent: total.sent,
        received: total.received,
        lost: total.sent.saturating_sub(total.received),
        out_of_order: total.out_of_order,
        duplicates: total.duplicates,
        latency: total.latencies.summary(),
    })
}

#[derive(Clone, Copy)]
struct Timeline {
    start: Instant,
    end: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct PairCounts {
    sent: u64,
    received: u64,
    in_window: u64,
    out_of_order: u64,
    duplicates: u64,
    latencies: Latencies,
}

impl PairCounts {
    fn merge(&mut self, other: Self) {
        self.sent += other.sent;
        self.received += other.received;
        self.in_window += other.in_window;
        self.out_of_order += other.out_of_order;
        self.duplicates += other.duplicates;
        self.latencies.merge(&other.latencies);
    }
}

/// One pair's loop: keep the window full (or the pace), take what arrives.
async fn drive(
    mut link: Link,
    timeline: Timeline,
    window: u64,
    interval: Option<Duration>,
    clock: Clock,
) -> PairCounts {
    let mut counts = PairCounts::default();
    let mut next_seq = 0u64;
    let mut expected = 0u64;
    // One timer for the whole run, moved from the end of sending to the deadline once.
    let wake = tokio::time::sleep_until(timeline.end);
    tokio::pin!(wake);
    let mut waking_at_end = true;
    let mut ticker = interval.map(|every| {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        ticker
    });
    loop {
        let now = Instant::now();
        if now >= timeline.deadline {
            break;
        }
        let sending = now < timeline.end;
        let in_flight = next_seq - counts.received;
        if !sending && in_flight == 0 {
            break;
        }
        // Full load: top the window up in batches, so that writes go out together.
        if sending && ticker.is_none() && in_flight <= window / 2 {
            while next_seq - counts.received < window {
                link.send(next_seq, clock.stamp());
                next_seq += 1;
            }
        }
        if !sending && waking_at_end {
            wake.as_mut().reset(timeline.deadline);
            waking_at_end = false;
        }
        tokio::select! {
            arrived = link.next() => {
                let Some((seq, stamp)) = arrived else { break };
                let now = Instant::now();
                if seq < expected {
                    counts.duplicates += 1;
                    continue;
                }
                if seq > expected {
                    counts.out_of_order += 1;
                }
                expected = seq + 1;
                counts.received += 1;
                if (timeline.start..timeline.end).contains(&now) {
                    counts.in_window += 1;
                    counts.latencies.record(clock.since(stamp));
                }
            }
            _ = async {
                match &mut ticker {
                    Some(ticker) => ticker.tick().await,
                    None => std::future::pending().await,
                }
            }, if sending && ticker.is_some() => {
                if next_seq - counts.received < window {
                    link.send(next_seq, clock.stamp());
                    next_seq += 1;
                }
            }
            () = &mut wake => {}
        }
    }
    counts.sent = next_seq;
    counts
}

/// A sender and its receiver, connected and registered.
enum Link {
    Seed {
        sender: Box<Connection>,
        receiver: Box<Connection>,
        to: PeerId,
    },
    Typed {
        sender: Box<Peer>,
        receiver: Box<Peer>,
        to: PeerId,
        /// Messages must come encrypted (a plain one counts as lost).
        encrypted: bool,
    },
}

impl Link {
    async fn connect(url: &str, receivers: &str, protocol: Protocol) -> anyhow::Result<Self> {
        let to = new_id();
        match protocol {
            Protocol::Seed => {
                let config = ClientConfig::default();
                let mut receiver = Connection::connect(receivers, config.clone()).await?;
                let mut sender = Connection::connect(url, config).await?;
                receiver.emit(event::INIT, &to.to_string())?;
                sender.emit(event::INIT, &new_id().to_string())?;
                // The seed server never acknowledges init: a message to itself, once back,
                // says the receiver is registered.
                receiver.emit(event::MESSAGE, &SeedMessage::encode(to, "ready"))?;
                loop {
                    match tokio::time::timeout(Duration::from_secs(10), receiver.next_event())
                        .await
                        .context("the receiver to register")?
                    {
                        Some(Event::Message(m)) if m.event == event::MESSAGE => break,
                        Some(_) => {}
                        None => anyhow::bail!("the receiver's connection closed"),
                    }
                }
                Ok(Self::Seed {
                    sender: Box::new(sender),
                    receiver: Box::new(receiver),
                    to,
                })
            }
            Protocol::Typed => {
                let mut receiver = Box::new(typed_peer(receivers, to));
                let mut sender = Box::new(typed_peer(url, new_id()));
                for peer in [&mut receiver, &mut sender] {
                    registered(peer).await?;
                }
                Ok(Self::Typed {
                    sender,
                    receiver,
                    to,
                    encrypted: false,
                })
            }
            Protocol::Encrypted => {
                let from = new_id();
                let mut receiver = Box::new(encrypting_peer(receivers, to));
                let mut sender = Box::new(encrypting_peer(url, from));
                // The receiver's keys are published before the sender asks for them.
                for peer in [&mut receiver, &mut sender] {
                    published(peer).await?;
                }
                Ok(Self::Typed {
                    sender,
                    receiver,
                    to,
                    encrypted: true,
                })
            }
        }
    }

    fn send(&mut self, seq: u64, stamp: u64) {
        let text = body(seq, stamp);
        match self {
            Self::Seed { sender, to, .. } => {
                let _ = sender.emit(event::MESSAGE, &SeedMessage::encode(*to, &text));
            }
            Self::Typed { sender, to, .. } => {
                sender.send(*to, text);
            }
        }
    }

    /// The next message the receiver got, as (seq, stamp); `None` if a side closed.
    /// Cancel-safe, like the connections under it.
    async fn next(&mut self) -> Option<(u64, u64)> {
        loop {
            match self {
                Self::Seed {
                    sender, receiver, ..
                } => tokio::select! {
                    event = receiver.next_event() => match event? {
                        Event::Message(m) if m.event == event::MESSAGE => {
                            if let Some(parsed) = m.payload.decode::<String>().ok().as_deref().and_then(parse_body) {
                                return Some(parsed);
                            }
                        }
                        _ => {}
                    },
                    event = sender.next_event() => { event?; }
                },
                Self::Typed {
                    sender,
                    receiver,
                    encrypted,
                    ..
                } => tokio::select! {
                    update = receiver.next_update() => {
                        if let Update::Received(envelope) = update?
                            && envelope.encrypted.is_some() == *encrypted
                            && let Some(parsed) = parse_body(&envelope.body)
                        {
                            return Some(parsed);
                        }
                    }
                    update = sender.next_update() => { update?; }
                },
            }
        }
    }
}

/// A typed peer for `id`, with a fresh secret.
pub fn typed_peer(url: &str, id: PeerId) -> Peer {
    let secret: Secret = format!("loadgen-{}", uuid::Uuid::new_v4().simple())
        .parse()
        .expect("a valid secret");
    Peer::new(url, ClientConfig::default(), id, secret)
}

/// A typed peer for `id` that encrypts end to end as its first device.
pub fn encrypting_peer(url: &str, id: PeerId) -> Peer {
    typed_peer(url, id).configured(|m| m.with_crypto(Crypto::new(id, DeviceId::FIRST)))
}

/// Drives `peer` until its keys are published (it registered first).
pub async fn published(peer: &mut Peer) -> anyhow::Result<()> {
    until(peer, |u| matches!(u, Update::KeysPublished))
        .await
        .context("publishing keys")
}

/// Drives `peer` until it is registered.
pub async fn registered(peer: &mut Peer) -> anyhow::Result<()> {
    until(peer, |u| matches!(u, Update::Registered))
        .await
        .context("registering")
}

/// Drives `peer` until an update is `wanted`, within 10 s; a refused registration or a
/// closed connection ends it.
async fn until(peer: &mut Peer, wanted: impl Fn(&Update) -> bool) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match peer.next_update().await {
                Some(update) if wanted(&update) => return Ok(()),
                Some(Update::Refused(r)) => anyhow::bail!("registration refused: {}", r.message),
                Some(_) => {}
                None => anyhow::bail!("the connection closed"),
            }
        }
    })
    .await?
}

/// A fresh random peer id.
pub fn new_id() -> PeerId {
    PeerId::from_uuid(uuid::Uuid::new_v4()).expect("v4 uuids are not nil")
}
