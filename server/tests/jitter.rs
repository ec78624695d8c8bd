//! Delivery under jitter: peers exchange messages while their connections are cut at
//! random and the server is killed and restarted once. Every message is shown exactly
//! once, and each sender's messages are stored in the order sent. Bounded: a fixed
//! number of messages and cuts, and a deadline.

mod fixture;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use fixture::{ServerProcess, TestServer, native_peer, new_peer};
use relay_shared::{MessageId, PeerId, messenger::Update};
use tokio::sync::mpsc;

const PEERS: usize = 5;
const MESSAGES_PER_PEER: usize = 40;
const CUTS: usize = 30;
const DEADLINE: Duration = Duration::from_secs(60);

enum Command {
    Send(PeerId, String),
    Cut,
}

/// What every peer received: (recipient, sender, id) → (times shown, seq, body).
type Ledger = Arc<Mutex<HashMap<(PeerId, PeerId, MessageId), (usize, u64, String)>>>;

/// A small deterministic generator, so a failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Drives one peer: its updates into the ledger, the test's commands into it.
async fn run_peer(
    server: TestServer,
    me: PeerId,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ledger: Ledger,
) {
    let mut peer = native_peer(&server, me);
    loop {
        tokio::select! {
            update = peer.next_update() => match update {
                Some(Update::Received(envelope)) => {
                    let mut ledger = ledger.lock().expect("ledger");
                    let entry = ledger
                        .entry((me, envelope.from, envelope.id))
                        .or_insert((0, envelope.seq, envelope.body.clone()));
                    entry.0 += 1;
                }
                Some(_) => {}
                None => return,
            },
            command = commands.recv() => match command {
                Some(Command::Send(to, body)) => {
                    peer.send(to, body);
                }
                Some(Command::Cut) => peer.cut(),
                None => return,
            },
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_shown_exactly_once_through_cuts_and_a_crash() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = Some(ServerProcess::start(data.path(), 0).await);
    let addr = server.as_ref().map(|s| s.addr).expect("started");
    let ids: Vec<PeerId> = (0..PEERS).map(|_| new_peer()).collect();
    let ledger: Ledger = Arc::default();
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for &id in &ids {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        tasks.push(tokio::spawn(run_peer(
            TestServer::attach(addr),
            id,
            rx,
            ledger.clone(),
        )));
    }

    // Sends, cuts and one crash, interleaved at random.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut sent: Vec<(PeerId, PeerId, String)> = Vec::new();
    let total = PEERS * MESSAGES_PER_PEER;
    let crash_at = total / 2;
    let mut cuts = 0;
    for n in 0..total {
        let from = n % PEERS;
        let to = (from + 1 + rng.below(PEERS - 1)) % PEERS;
        let body = format!("{from}->{to} #{n}");
        senders[from]
            .send(Command::Send(ids[to], body.clone()))
            .expect("peer running");
        sent.push((ids[from], ids[to], body));
        if cuts < CUTS && rng.below(total / CUTS) == 0 {
            senders[rng.below(PEERS)]
                .send(Command::Cut)
                .expect("peer running");
            cuts += 1;
        }
        if n == crash_at {
            let killed = server.take().expect("running");
            assert!(!killed.signal("-KILL").await);
            server = Some(ServerProcess::start(data.path(), addr.port()).await);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Wait for everything to arrive, within the deadline.
    let everything_arrived = || {
        let ledger = ledger.lock().expect("ledger");
        let bodies: std::collections::HashSet<&String> =
            ledger.values().map(|(_, _, b)| b).collect();
        sent.iter().all(|(_, _, body)| bodies.contains(body))
    };
    let started = tokio::time::Instant::now();
    while !everything_arrived() && started.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let ledger = ledger.lock().expect("ledger").clone();
    let delivered = sent
        .iter()
        .filter(|(_, _, body)| ledger.values().any(|(_, _, b)| b == body))
        .count();
    println!(
        "delivery ratio: {delivered}/{} = {:.1}% ({cuts} cuts, 1 server crash)",
        sent.len(),
        100.0 * delivered as f64 / sent.len() as f64
    );
    assert_eq!(delivered, sent.len(), "every message arrived");
    for ((to, from, id), (shown, ..)) in &ledger {
        assert_eq!(*shown, 1, "{from} -> {to} {id} shown {shown} times");
    }
    assert_eq!(ledger.len(), sent.len(), "nothing else arrived");
    // Each sender's messages to each recipient were stored in the order sent.
    for from in &ids {
        for to in &ids {
            let mut by_seq: Vec<(u64, usize)> = ledger
                .iter()
                .filter(|((r, s, _), _)| r == to && s == from)
                .map(|(_, (_, seq, body))| {
                    (
                        *seq,
                        body.rsplit('#')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .expect("numbered"),
                    )
                })
                .collect();
            by_seq.sort_unstable();
            let order: Vec<usize> = by_seq.iter().map(|(_, n)| *n).collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "{from} -> {to}: {order:?}"
            );
        }
    }

    drop(senders);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}
