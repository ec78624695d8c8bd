//! Nothing lost: typed messages are stored before the sender hears `sent`, wait for an
//! offline recipient, come in order when it registers, stay until its client confirms
//! them, and end as receipts for their sender, however late.

mod fixture;

use std::time::Duration;

use fixture::{
    Peer as RawPeer, RawSocket, TestServer, native_peer, new_peer, secret_of, until, within,
};
use relay_native_client::Peer;
use relay_shared::{
    Envelope, MessageId,
    messenger::{Status, Update},
};
use serde_json::json;

/// Sends `count` numbered messages from `peer` to `to` and waits until each is stored.
async fn send_numbered(peer: &mut Peer, to: relay_shared::PeerId, count: usize) -> Vec<MessageId> {
    let ids: Vec<MessageId> = (0..count).map(|i| peer.send(to, i.to_string())).collect();
    let mut stored = 0;
    until(peer, "every message stored", |update| {
        if let Update::Status {
            status: Status::Sent { .. },
            ..
        } = update
        {
            stored += 1;
        }
        (stored == count).then_some(())
    })
    .await;
    ids
}

/// Drives `peer` until it has received `count` messages; returns their bodies in
/// arrival order.
async fn receive(peer: &mut Peer, count: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    until(peer, &format!("{count} messages"), |update| {
        if let Update::Received(envelope) = update {
            bodies.push(envelope.body);
        }
        (bodies.len() == count).then_some(())
    })
    .await;
    // The confirmations go out as the peer is driven; it will not be for a while.
    peer.flush().await;
    bodies
}

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|i| i.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_recipient_gets_everything_in_order_and_the_sender_hears_of_it() {
    let server = TestServer::start().await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    let ids = send_numbered(&mut alice, bob_id, 50).await;

    let mut bob = native_peer(&server, bob_id);
    assert_eq!(receive(&mut bob, 50).await, numbered(50));

    // Bob's client confirmed them: alice, online, gets a receipt for each.
    let mut delivered = Vec::new();
    until(&mut alice, "50 receipts", |update| {
        if let Update::Status {
            id,
            status: Status::Delivered { .. },
            ..
        } = update
        {
            delivered.push(id);
        }
        (delivered.len() == 50).then_some(())
    })
    .await;
    delivered.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(delivered, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_comes_page_after_page_as_it_is_confirmed() {
    // 300 from one sender: more than a stranger's share of a queue by default.
    let server = TestServer::start_with(|c| c.max_queue_per_stranger = 300).await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    send_numbered(&mut alice, bob_id, 300).await;
    let mut bob = native_peer(&server, bob_id);
    assert_eq!(receive(&mut bob, 300).await, numbered(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_waits_for_a_sender_who_went_away() {
    let server = TestServer::start().await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    let [id] = send_numbered(&mut alice, bob_id, 1).await[..] else {
        unreachable!()
    };
    drop(alice);

    let mut bob = native_peer(&server, bob_id);
    receive(&mut bob, 1).await;

    // Alice comes back later (a new connection, the same id and secret).
    let mut alice = native_peer(&server, alice_id);
    let receipt = until(&mut alice, "the receipt", |update| match update {
        Update::Status {
            id: got,
            status: Status::Delivered { at },
            ..
        } => Some((got, at)),
        _ => None,
    })
    .await;
    assert_eq!(receipt.0, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_receipt_waits_for_a_sender_who_went_away() {
    let server = TestServer::start().await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    let ids = send_numbered(&mut alice, bob_id, 2).await;
    drop(alice);

    let mut bob = native_peer(&server, bob_id);
    receive(&mut bob, 2).await;
    // Bob sees the first only.
    bob.read(vec![(alice_id, ids[0])]);
    bob.flush().await;

    // Alice, back much later: the first read, the second delivered; each once.
    let mut alice = native_peer(&server, alice_id);
    let mut statuses = std::collections::HashMap::new();
    until(&mut alice, "both receipts", |update| {
        if let Update::Status { id, status, .. } = update {
            statuses.insert(id, status);
        }
        (matches!(statuses.get(&ids[0]), Some(Status::Read { .. }))
            && matches!(statuses.get(&ids[1]), Some(Status::Delivered { .. })))
        .then_some(())
    })
    .await;
    // Confirmed by Alice's client: the next visit gets none of them again. Her socket's
    // work finishes in the order its events came, so once a later send is stored her
    // confirmations are too (twice: a receipt may come again while the first is stored,
    // live and from the store, and be confirmed after it).
    let elsewhere = new_peer();
    for _ in 0..2 {
        alice.flush().await;
        send_numbered(&mut alice, elsewhere, 1).await;
    }
    drop(alice);
    let mut visit = RawPeer::connect(&server).await;
    visit.register(alice_id).await;
    send_numbered(&mut bob, alice_id, 1).await;
    assert_eq!(
        visit.expect("deliver").await["body"],
        "0",
        "no receipt came again before it"
    );
}

/// Until the recipient's client confirms a message, every connection gets it again;
/// once confirmed, never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stays_until_confirmed_and_not_after() {
    let server = TestServer::start().await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    send_numbered(&mut alice, bob_id, 1).await;

    // A client that does not confirm (rust_socketio, no `received`) gets it on each visit.
    for _ in 0..2 {
        let mut unconfirming = RawPeer::connect(&server).await;
        unconfirming.register(bob_id).await;
        assert_eq!(unconfirming.expect("deliver").await["body"], "0");
        unconfirming.disconnect().await;
    }
    // Ours confirms it...
    let mut bob = native_peer(&server, bob_id);
    assert_eq!(receive(&mut bob, 1).await, ["0"]);
    until(&mut alice, "the receipt", |u| {
        matches!(
            u,
            Update::Status {
                status: Status::Delivered { .. },
                ..
            }
        )
        .then_some(())
    })
    .await;
    drop(bob);
    // ...and the next visit finds nothing waiting: the first delivery is a new message.
    let mut visit = RawPeer::connect(&server).await;
    visit.register(bob_id).await;
    let new = send_numbered(&mut alice, bob_id, 1).await;
    let first: Envelope = serde_json::from_value(visit.expect("deliver").await).unwrap();
    assert_eq!(first.id, new[0], "the new message, not the confirmed one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_twice_with_one_id_is_stored_once() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = RawPeer::connect(&server).await;
    a.register(alice).await;
    let id = uuid::Uuid::new_v4().to_string();
    let first = a
        .call("send", json!({"to": bob, "body": "once", "id": id}))
        .await;
    let again = a
        .call("send", json!({"to": bob, "body": "once", "id": id}))
        .await;
    assert_eq!(first["status"], "sent");
    assert_eq!(
        (first["seq"].clone(), first["sent_at"].clone()),
        (again["seq"].clone(), again["sent_at"].clone())
    );

    let mut b = native_peer(&server, bob);
    assert_eq!(receive(&mut b, 1).await, ["once"]);
    // Nothing else waited: the next delivery is a later message.
    a.call("send", json!({"to": bob, "body": "later"})).await;
    assert_eq!(receive(&mut b, 1).await, ["later"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_clearly_and_frees_up_once_confirmed() {
    let server = TestServer::start_with(|c| c.max_queue = 3).await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    send_numbered(&mut alice, bob_id, 3).await;
    let refused = alice.send(bob_id, "one too many".into());
    let reason = until(&mut alice, "the refusal", |update| match update {
        Update::Status {
            id,
            status: Status::Failed(reason),
            ..
        } if id == refused => Some(reason.message),
        _ => None,
    })
    .await;
    assert!(reason.contains("3 messages waiting"), "{reason}");

    let mut bob = native_peer(&server, bob_id);
    receive(&mut bob, 3).await;
    until(&mut alice, "3 receipts", {
        let mut n = 0;
        move |u| {
            n += usize::from(matches!(
                u,
                Update::Status {
                    status: Status::Delivered { .. },
                    ..
                }
            ));
            (n == 3).then_some(())
        }
    })
    .await;
    send_numbered(&mut alice, bob_id, 1).await;
}

/// A message nobody comes for is dropped after the TTL. (The store's own tests check the
/// expiry itself; this checks the server runs it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclaimed_message_expires() {
    let server = TestServer::start_with(|c| c.message_ttl = Duration::from_millis(200)).await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    send_numbered(&mut alice, bob_id, 1).await;
    // Visit until the message is gone: the first delivery then is the marker sent after
    // registering. Bounded: 50 visits, 100 ms apart.
    for visit in 0..50 {
        let mut bob = RawSocket::connect(&server).await;
        bob.send(&format!(
            "420[\"register\",{{\"id\":\"{bob_id}\",\"secret\":\"{}\"}}]",
            secret_of(bob_id)
        ))
        .await;
        bob.send(&format!(
            "421[\"send\",{{\"to\":\"{bob_id}\",\"body\":\"marker\"}}]"
        ))
        .await;
        let first = within("a delivery", async {
            loop {
                let frame = bob.recv().await.expect("open");
                if frame.starts_with("42[\"deliver\"") {
                    return frame;
                }
            }
        })
        .await;
        if first.contains("\"marker\"") {
            println!("expired before visit {visit}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the message did not expire");
}
