//! No reordering, no loss: one sender's messages to one recipient arrive in the order
//! sent, also at full load, and an event emitted the moment a socket is connected is
//! handled. Both fail on a plain socketioxide server, which spawns a task per event and
//! registers handlers after telling the client it is connected.

mod fixture;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use fixture::{
    Peer, RawSocket, TestServer,
    load::{Shape, pairs_at_full_load},
    new_peer, within,
};
use futures_util::FutureExt;
use relay_shared::{event, seed::SeedMessage};
use serde_json::json;

/// Sender/receiver pairs sending at once.
const PAIRS: usize = 16;
/// Messages per pair.
const MESSAGES: usize = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_messages_keep_their_order_at_full_load() {
    let server = TestServer::start_with(relay_server::Config::lift_limits).await;
    pairs_at_full_load(&server, &server, Shape::Seed, PAIRS, MESSAGES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_messages_keep_their_order_at_full_load() {
    let server = TestServer::start_with(relay_server::Config::lift_limits).await;
    pairs_at_full_load(&server, &server, Shape::Typed, PAIRS, MESSAGES).await;
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
    // Ten thousand registrations from one address: past the per-address limit.
    let server = Arc::new(TestServer::start_with(relay_server::Config::lift_limits).await);
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
