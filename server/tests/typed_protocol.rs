//! Relay's typed protocol: `register`, `send` with an ack, `deliver(envelope)`; and how
//! it meets the seed protocol.

mod fixture;

use fixture::{Peer, TestServer, new_peer};
use relay_shared::{Envelope, SendReply, event};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_is_acknowledged() {
    let server = TestServer::start().await;
    let alice = new_peer();
    let a = Peer::connect(&server).await;
    assert_eq!(
        a.register(alice).await,
        json!({"status": "registered", "id": alice})
    );
    // Registering again under the same id changes nothing and is acknowledged the same.
    assert_eq!(
        a.register(alice).await,
        json!({"status": "registered", "id": alice})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_arrives_as_an_envelope_and_the_ack_counts_sockets() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    a.register(alice).await;
    b.register(bob).await;

    let before = now_millis();
    let reply: SendReply = serde_json::from_value(a.send(bob, "hello").await).unwrap();
    let SendReply::Delivered { id, sockets: 1 } = reply else {
        panic!("unexpected reply {reply:?}");
    };
    let envelope: Envelope = serde_json::from_value(b.expect(event::DELIVER).await).unwrap();
    assert_eq!(envelope.id, id);
    assert_eq!(envelope.from, alice);
    assert_eq!(envelope.to, bob);
    assert_eq!(envelope.body, "hello");
    assert!(
        (before..=now_millis()).contains(&envelope.sent_at),
        "{envelope:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_senders_message_id_is_kept() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    a.register(alice).await;
    b.register(bob).await;

    let id = uuid::Uuid::new_v4().to_string();
    let reply = a
        .call(event::SEND, json!({"to": bob, "body": "with id", "id": id}))
        .await;
    assert_eq!(
        reply,
        json!({"status": "delivered", "id": id, "sockets": 1})
    );
    assert_eq!(b.expect(event::DELIVER).await["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_receives_and_is_counted() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    a.register(alice).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        let tab = Peer::connect(&server).await;
        tab.register(bob).await;
        tabs.push(tab);
    }

    let reply = a.send(bob, "to all tabs").await;
    assert_eq!(reply["status"], "delivered");
    assert_eq!(reply["sockets"], 3);
    for tab in &mut tabs {
        assert_eq!(tab.expect(event::DELIVER).await["body"], "to all tabs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_an_unknown_peer_is_offline() {
    let server = TestServer::start().await;
    let a = Peer::connect(&server).await;
    a.register(new_peer()).await;
    let reply = a.send(new_peer(), "anyone?").await;
    assert_eq!(reply["status"], "offline", "{reply}");
    assert!(reply["id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_can_message_itself_in_every_tab() {
    let server = TestServer::start().await;
    let me = new_peer();
    let mut one = Peer::connect(&server).await;
    let mut two = Peer::connect(&server).await;
    one.register(me).await;
    two.register(me).await;
    let reply = one.send(me, "note to self").await;
    assert_eq!(reply["sockets"], 2, "{reply}");
    assert_eq!(one.expect(event::DELIVER).await["body"], "note to self");
    assert_eq!(two.expect(event::DELIVER).await["body"], "note to self");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_socket_receives_typed_messages_as_text_alone() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    a.register(alice).await;
    let mut b = Peer::connect(&server).await;
    b.init(bob).await;

    let reply = a.send(bob, "plain text please").await;
    assert_eq!(reply["sockets"], 1, "{reply}");
    assert_eq!(b.expect(event::MESSAGE).await, json!("plain text please"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_socket_receives_seed_messages_as_envelopes() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut a = Peer::connect(&server).await;
    a.init(alice).await;
    let mut b = Peer::connect(&server).await;
    b.register(bob).await;

    a.seed_send(bob, "from the seed side").await;
    let envelope: Envelope = serde_json::from_value(b.expect(event::DELIVER).await).unwrap();
    assert_eq!(envelope.from, alice);
    assert_eq!(envelope.body, "from the seed side");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_seed_and_typed_tabs_gets_each_in_its_shape() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    a.register(alice).await;
    let mut seed_tab = Peer::connect(&server).await;
    seed_tab.init(bob).await;
    let mut typed_tab = Peer::connect(&server).await;
    typed_tab.register(bob).await;

    assert_eq!(a.send(bob, "both").await["sockets"], 2);
    assert_eq!(seed_tab.expect(event::MESSAGE).await, json!("both"));
    assert_eq!(typed_tab.expect(event::DELIVER).await["body"], "both");
}

fn now_millis() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits in u64")
}
