//! A crash loses nothing stored: the server is killed with SIGKILL while messages wait,
//! and after a restart the recipient gets every one, once, in order.

mod fixture;

use fixture::{ServerProcess, native_peer, new_peer, until};
use relay_shared::messenger::{Status, Update};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_waiting_survive_a_sigkill() {
    const COUNT: usize = 100;
    let data = tempfile::tempdir().expect("data dir");
    let server = ServerProcess::start(data.path(), 0).await;
    let port = server.addr.port();
    let (alice_id, bob_id) = (new_peer(), new_peer());

    // Alice has been here once (her id is claimed), and is gone.
    let mut alice = native_peer(&server.handle(), alice_id);
    until(&mut alice, "alice registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    drop(alice);

    // Bob sends her 100 messages; each is acknowledged as stored.
    let mut bob = native_peer(&server.handle(), bob_id);
    for i in 0..COUNT {
        bob.send(alice_id, format!("{i}"));
    }
    let mut stored = 0;
    until(&mut bob, "100 stored", |u| {
        stored += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Sent { .. },
                ..
            }
        ));
        (stored == COUNT).then_some(())
    })
    .await;

    assert!(!server.signal("-KILL").await, "killed, not exited");
    let server = ServerProcess::start(data.path(), port).await;

    let mut alice = native_peer(&server.handle(), alice_id);
    let mut received = Vec::new();
    until(&mut alice, "100 messages after the restart", |u| {
        if let Update::Received(envelope) = u {
            received.push(envelope.body);
        }
        (received.len() == COUNT).then_some(())
    })
    .await;
    let expected: Vec<String> = (0..COUNT).map(|i| i.to_string()).collect();
    assert_eq!(received, expected, "all of them, once each, in order");
    alice.flush().await;

    // Bob reconnected by himself and hears that each was delivered.
    let mut delivered = 0;
    until(&mut bob, "100 receipts", |u| {
        delivered += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Delivered { .. },
                ..
            }
        ));
        (delivered == COUNT).then_some(())
    })
    .await;
}
