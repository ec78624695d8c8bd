//! No reordering, no loss: one sender's messages to one recipient arrive in the order
//! sent, also at full load, and an event emitted the moment a socket is connected is
//! handled. Both fail on a plain socketioxide server, which spawns a task per event and
//! registers handlers after telling the client it is connected.

mod fixture;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use fixture::{Peer, RawSocket, TestServer, new_peer, within};
use futures_util::FutureExt;
use relay_shared::{PeerId, event, seed::SeedMessage};
use serde_json::json;
use tokio::sync::Notify;

/// Sender/receiver pairs sending at once.
const PAIRS: usize = 16;
/// Messages per pair.
const MESSAGES: usize = 1_500;
/// Messages a sender may have in flight (sent, not yet received), well under the
/// server's per-socket buffer.
const WINDOW: usize = 256;

#[derive(Clone, Copy)]
enum Shape {
    Seed,
    Typed,
}

/// Runs [`PAIRS`] pairs at full speed in `shape`; each receiver checks it got
/// 0..[`MESSAGES`] in order.
async fn pairs_at_full_load(shape: Shape) {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for _ in 0..PAIRS {
        let (from, to) = (new_peer(), new_peer());
        let mut sender = Peer::connect(&server).await;
        let mut receiver = Peer::connect(&server).await;
        match shape {
            Shape::Seed => {
                sender.init(from).await;
                receiver.init(to).await;
            }
            Shape::Typed => {
                sender.register(from).await;
                receiver.register(to).await;
            }
        }
        let received = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(Notify::new());
        tasks.push(tokio::spawn(send_all(
            sender,
            to,
            shape,
            received.clone(),
            progress.clone(),
        )));
        tasks.push(tokio::spawn(async move {
            for expected in 0..MESSAGES {
                let body = match shape {
                    Shape::Seed => receiver.expect(event::MESSAGE).await,
                    Shape::Typed => receiver.expect(event::DELIVER).await["body"].clone(),
                };
                assert_eq!(body, json!(expected.to_string()), "out of order or lost");
                received.store(expected + 1, Ordering::Release);
                progress.notify_one();
            }
        }));
    }
    for task in tasks {
        within("a pair to finish", task).await.expect("pair task");
    }
}

async fn send_all(
    sender: Peer,
    to: PeerId,
    shape: Shape,
    received: Arc<AtomicUsize>,
    progress: Arc<Notify>,
) {
    for i in 0..MESSAGES {
        while i - received.load(Ordering::Acquire) >= WINDOW {
            within("the receiver to catch up", progress.notified()).await;
        }
        let text = i.to_string();
        match shape {
            Shape::Seed => sender.seed_send(to, &text).await,
            Shape::Typed => {
                sender
                    .emit(event::SEND, json!({"to": to, "body": text}))
                    .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_messages_keep_their_order_at_full_load() {
    pairs_at_full_load(Shape::Seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_messages_keep_their_order_at_full_load() {
    pairs_at_full_load(Shape::Typed).await;
}

/// With rust_socketio: emitting from the connect callback, the earliest a client can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_emitted_in_the_connect_callback_are_handled() {
    const CLIENTS: usize = 300;
    let server = Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let me = new_peer();
            let mut peer = Peer::connect_then(&server, move |client| {
                async move {
                    client
                        .emit(event::INIT, json!(me.to_string()))
                        .await
                        .expect("emit init");
                    client
                        .emit(event::MESSAGE, json!(SeedMessage::encode(me, "echo")))
                        .await
                        .expect("emit message");
                }
                .boxed()
            })
            .await;
            assert_eq!(peer.expect(event::MESSAGE).await, json!("echo"));
            peer.disconnect().await;
        }));
    }
    for task in tasks {
        within("a client", task).await.expect("client task");
    }
}

/// At the frame level, many times over: the `init` and a message to self go out the
/// instant the namespace connect packet arrives. A lost `init` (or `message`) means no
/// echo. A plain socketioxide server lost about 5 in 10,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_events_after_connect_are_never_lost() {
    const CONNECTIONS: usize = 10_000;
    const CONCURRENCY: usize = 8;
    let server = Arc::new(TestServer::start().await);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (server, next) = (server.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < CONNECTIONS {
                    let me = new_peer();
                    let mut socket = RawSocket::open(&server).await;
                    socket.send("40").await;
                    let connected = socket.recv().await.expect("connect packet");
                    assert!(connected.starts_with("40{"), "{connected:?}");
                    socket.send(&format!("42[\"init\",\"{me}\"]")).await;
                    socket.send(&format!("42[\"message\",\"{me}|echo\"]")).await;
                    let echo = socket.recv().await;
                    assert_eq!(echo.as_deref(), Some("42[\"message\",\"echo\"]"));
                }
            })
        })
        .collect();
    for worker in workers {
        tokio::time::timeout(std::time::Duration::from_secs(120), worker)
            .await
            .expect("hammer finishes within 2 minutes")
            .expect("worker");
    }
}
