//! A clean shutdown: on SIGTERM the server stops accepting, lets what its store was
//! given become durable, disconnects its clients and exits by itself within a bound,
//! while a client is sending. Every message acknowledged before is kept; every one not
//! acknowledged is sent again by its client once a server is back; each arrives once.

mod fixture;

use std::{collections::HashSet, time::Instant};

use fixture::{ServerProcess, native_peer, new_peer, until};
use relay_shared::messenger::{Status, Update};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_sending_loses_nothing_and_exits_promptly() {
    const COUNT: usize = 400;
    let data = tempfile::tempdir().expect("data dir");
    // One sender, 400 messages for one recipient: past a stranger's default share.
    let env = |port: u16| {
        vec![
            ("RELAY_ADDR", format!("127.0.0.1:{port}")),
            ("RELAY_DATA_DIR", data.path().display().to_string()),
            ("RELAY_MAX_QUEUE_PER_STRANGER", COUNT.to_string()),
        ]
    };
    let server = ServerProcess::start_with_env(&env(0)).await;
    let port = server.addr.port();
    let (alice_id, bob_id) = (new_peer(), new_peer());

    let mut bob = native_peer(&server.handle(), bob_id);
    until(&mut bob, "bob registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    drop(bob);

    // Alice sends; once some are acknowledged, and more are on their way, SIGTERM.
    let mut alice = native_peer(&server.handle(), alice_id);
    let ids: Vec<_> = (0..COUNT)
        .map(|i| alice.send(bob_id, i.to_string()))
        .collect();
    let mut acknowledged = HashSet::new();
    until(&mut alice, "the first 50 stored", |u| {
        if let Update::Status {
            id,
            status: Status::Sent { .. },
            ..
        } = u
        {
            acknowledged.insert(id);
        }
        (acknowledged.len() >= 50).then_some(())
    })
    .await;
    let stopping = Instant::now();
    assert!(
        server.signal("-TERM").await,
        "exits by itself, successfully"
    );
    let took = stopping.elapsed();
    println!(
        "shutdown took {took:?}; {} of {COUNT} acknowledged before",
        acknowledged.len()
    );
    assert!(took.as_secs() < 8, "within the shutdown bound: {took:?}");

    // A server is back; alice reconnects by herself and sends what was not acknowledged.
    let server = ServerProcess::start_with_env(&env(port)).await;
    until(&mut alice, "everything stored", |u| {
        if let Update::Status {
            id,
            status: Status::Sent { .. },
            ..
        } = u
        {
            acknowledged.insert(id);
        }
        (acknowledged.len() == COUNT).then_some(())
    })
    .await;
    assert_eq!(alice.unsent(), 0);

    let mut bob = native_peer(&server.handle(), bob_id);
    let mut received = Vec::new();
    until(&mut bob, "every message", |u| {
        if let Update::Received(envelope) = u {
            received.push((envelope.id, envelope.body));
        }
        (received.len() == COUNT).then_some(())
    })
    .await;
    let got: HashSet<_> = received.iter().map(|(id, _)| *id).collect();
    assert_eq!(got, ids.iter().copied().collect(), "each message, once");
    let bodies: Vec<usize> = received
        .iter()
        .map(|(_, b)| b.parse().expect("numbered"))
        .collect();
    assert_eq!(bodies, (0..COUNT).collect::<Vec<_>>(), "in the order sent");
}
