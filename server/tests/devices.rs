//! Several devices per person over TCP with a real client: a second device linked with a
//! one-time code gets everything sent to the id, also while it was offline, and what the
//! first one sent; receipts reach both; an unlinked device is cut and gets nothing more.
//! On one node (SQLite) and across two nodes sharing Redis. Bad input for every new
//! event.

mod fixture;

use fixture::{Peer, ServerProcess, TestServer, new_peer, redis::RedisServer, secret_of};
use relay_shared::{PeerId, event};
use serde_json::{Value, json};

const SECOND_SECRET: &str = "second-device-secret-0000";

/// Registers a typed socket of `id` with its test secret (its first device).
async fn first_device(server: &TestServer, id: PeerId) -> Peer {
    let peer = Peer::connect(server).await;
    let ack = peer.register(id).await;
    assert_eq!(ack["status"], "registered", "{ack}");
    assert_eq!(ack["device"], 0);
    peer
}

/// Links a new socket to `id` as a second device, with a code `first` asks for.
async fn link_second(server: &TestServer, first: &Peer, id: PeerId) -> Peer {
    let (second, device) = first.link_new_device(server, id, SECOND_SECRET).await;
    assert_eq!(device, 1);
    second
}

/// The second device coming back: a new socket registering with its own secret.
async fn second_again(server: &TestServer, id: PeerId) -> (Peer, Value) {
    let peer = Peer::connect(server).await;
    let ack = peer
        .call(event::REGISTER, json!({"id": id, "secret": SECOND_SECRET}))
        .await;
    (peer, ack)
}

/// The next `deliver` (skipping anything else); confirms it.
async fn delivered(peer: &mut Peer) -> Value {
    let data = peer.next_of(event::DELIVER).await;
    let ack = peer
        .call(
            event::RECEIVED,
            json!({"messages": [data["seq"].clone()], "receipts": []}),
        )
        .await;
    assert_eq!(ack["status"], "ok");
    data
}

fn bodies(envelopes: &[Value]) -> Vec<&str> {
    envelopes
        .iter()
        .map(|e| e["body"].as_str().expect("a body"))
        .collect()
}

/// Everything the issue asks of two devices, between `a_node` (alice's first device and
/// bob) and `b_node` (alice's second device).
async fn two_devices(a_node: &TestServer, b_node: &TestServer) {
    let (alice, bob) = (new_peer(), new_peer());
    let mut phone = first_device(a_node, alice).await;
    let mut laptop = link_second(b_node, &phone, alice).await;
    let devices = phone.next_of(event::DEVICES).await;
    assert_eq!(devices["status"], "ok");
    assert_eq!(devices["devices"][1]["name"], "Laptop");
    let mut bob_socket = first_device(a_node, bob).await;

    // Live: both devices get it.
    assert_eq!(bob_socket.send(alice, "one").await["status"], "sent");
    assert_eq!(delivered(&mut phone).await["body"], "one");
    assert_eq!(delivered(&mut laptop).await["body"], "one");
    // bob hears of it once, from whichever confirmed first.
    assert_eq!(bob_socket.next_of(event::RECEIPT).await["to"], json!(alice));

    // The laptop offline: what comes waits for it.
    laptop.disconnect().await;
    for body in ["two", "three"] {
        assert_eq!(bob_socket.send(alice, body).await["status"], "sent");
        assert_eq!(delivered(&mut phone).await["body"], body);
    }
    let (mut laptop, ack) = second_again(b_node, alice).await;
    assert_eq!(ack["device"], 1, "{ack}");
    let back = [delivered(&mut laptop).await, delivered(&mut laptop).await];
    assert_eq!(bodies(&back), ["two", "three"], "in order, once each");

    // What the phone sends shows on the laptop, as alice's own; both get its receipt.
    assert_eq!(phone.send(bob, "from the phone").await["status"], "sent");
    let own = delivered(&mut laptop).await;
    assert_eq!(
        (&own["from"], &own["to"], &own["body"]),
        (&json!(alice), &json!(bob), &json!("from the phone"))
    );
    assert_eq!(delivered(&mut bob_socket).await["id"], own["id"]);
    for device in [&mut phone, &mut laptop] {
        let receipt = device.next_of(event::RECEIPT).await;
        assert_eq!(receipt["id"], own["id"]);
        let seq = receipt["seq"].clone();
        let ack = device
            .call(event::RECEIVED, json!({"messages": [], "receipts": [seq]}))
            .await;
        assert_eq!(ack["status"], "ok");
    }

    // The phone unlinks the laptop: it hears so, is cut, and its secret is worth nothing.
    let ack = phone.call(event::UNLINK, json!({"device": 1})).await;
    assert_eq!(ack, json!({"status": "ok"}));
    let devices = laptop.next_of(event::DEVICES).await;
    assert_eq!(devices["devices"].as_array().map(Vec::len), Some(1));
    let (_, ack) = second_again(b_node, alice).await;
    assert_eq!(ack["status"], "rejected");
    assert_eq!(ack["code"], "forbidden");
    assert_eq!(bob_socket.send(alice, "four").await["status"], "sent");
    assert_eq!(delivered(&mut phone).await["body"], "four");
    // Nor can the old link code bring it back.
    let relinked = Peer::connect(b_node).await;
    let ack = relinked
        .call(
            event::LINK,
            json!({"id": alice, "code": "x".repeat(43), "secret": SECOND_SECRET}),
        )
        .await;
    assert_eq!(ack["code"], "forbidden", "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_get_everything_and_an_unlinked_one_nothing_more() {
    let server = TestServer::start().await;
    two_devices(&server, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_on_two_nodes_sharing_redis() {
    let redis = RedisServer::start();
    let a = ServerProcess::node_of(&redis).await;
    let b = ServerProcess::node_of(&redis).await;
    two_devices(&a.handle(), &b.handle()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_device_events_get_clear_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = new_peer();
    let unregistered = Peer::connect(&server).await;
    for (name, data) in [
        (event::LINK_CODE, json!({})),
        (event::DEVICES, json!({})),
        (event::UNLINK, json!({"device": 0})),
    ] {
        let ack = unregistered.call(name, data).await;
        assert_eq!(ack["code"], "not_registered", "{name}: {ack}");
    }
    let phone = first_device(&server, alice).await;
    for (data, code) in [
        (json!(42), "invalid_payload"),
        (
            json!({"id": alice, "secret": secret_of(alice)}),
            "invalid_payload",
        ),
        (
            json!({"id": "nope", "code": "c".repeat(43), "secret": SECOND_SECRET}),
            "invalid_peer_id",
        ),
        (
            json!({"id": alice, "code": "short", "secret": SECOND_SECRET}),
            "invalid_payload",
        ),
        (
            json!({"id": alice, "code": "c".repeat(43), "secret": SECOND_SECRET, "name": "x".repeat(65)}),
            "invalid_payload",
        ),
        (
            json!({"id": alice, "code": "c".repeat(43), "secret": SECOND_SECRET}),
            "forbidden",
        ),
    ] {
        let ack = Peer::connect(&server).await.call(event::LINK, data).await;
        assert_eq!(ack["code"], code, "{ack}");
    }
    for data in [json!({"device": 9}), json!({"device": "1"}), json!("x")] {
        let ack = phone.call(event::UNLINK, data).await;
        assert_eq!(ack["code"], "invalid_payload", "{ack}");
    }
    // The last device stays; so does everything.
    let ack = phone.call(event::UNLINK, json!({"device": 0})).await;
    assert_eq!(ack["code"], "invalid_payload", "{ack}");
    let ack = phone.call(event::DEVICES, json!({})).await;
    assert_eq!(ack["status"], "ok");
    assert_eq!(ack["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(phone.register(alice).await["status"], "registered");
}
