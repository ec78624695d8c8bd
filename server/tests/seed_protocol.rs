//! The seed's protocol, as its clients use it: `init(uuid)`, `message("uuid|text")`,
//! received as `message(text)`.

mod fixture;

use fixture::{Peer, TestServer, new_peer};
use relay_shared::event;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_client_needs_no_ack_to_register() {
    let server = TestServer::start().await;
    let me = new_peer();
    let mut peer = Peer::connect(&server).await;
    // Exactly what the seed's clients do: init, then send, with no ack anywhere. The
    // socket's events are handled in order, so the message to self finds it registered.
    peer.emit(event::INIT, json!(me.to_string())).await;
    peer.seed_send(me, "echo").await;
    assert_eq!(peer.expect(event::MESSAGE).await, json!("echo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_the_registered_peer_as_text_alone() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut a = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    a.init(alice).await;
    b.init(bob).await;

    a.seed_send(bob, "hello bob").await;
    assert_eq!(b.expect(event::MESSAGE).await, json!("hello bob"));
    b.seed_send(alice, "hi alice").await;
    assert_eq!(a.expect(event::MESSAGE).await, json!("hi alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_is_everything_after_the_first_bar() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut b = Peer::connect(&server).await;
    b.init(bob).await;
    let mut a = Peer::connect(&server).await;
    a.init(new_peer()).await;

    a.seed_send(bob, "a|b|c").await;
    assert_eq!(b.expect(event::MESSAGE).await, json!("a|b|c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_of_a_peer_receives() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut tab = Peer::connect(&server).await;
        tab.init(bob).await;
        tabs.push(tab);
    }
    let mut a = Peer::connect(&server).await;
    a.init(new_peer()).await;

    a.seed_send(bob, "to every tab").await;
    for tab in &mut tabs {
        assert_eq!(tab.expect(event::MESSAGE).await, json!("to every tab"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_peer_receives_without_the_old_socket() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut first = Peer::connect(&server).await;
    first.init(bob).await;
    first.disconnect().await;
    let mut second = Peer::connect(&server).await;
    second.init(bob).await;
    let mut a = Peer::connect(&server).await;
    a.init(new_peer()).await;

    a.seed_send(bob, "after reconnect").await;
    assert_eq!(
        second.expect(event::MESSAGE).await,
        json!("after reconnect")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_uuid_nobody_registered_is_offline() {
    let server = TestServer::start().await;
    let mut a = Peer::connect(&server).await;
    a.init(new_peer()).await;

    // Without an ack, as the seed's clients send: nothing comes back, nothing breaks.
    a.seed_send(new_peer(), "into the void").await;
    // With an ack, the sender learns the outcome.
    let reply = a
        .call(
            event::MESSAGE,
            json!(format!("{}|anyone there?", new_peer())),
        )
        .await;
    assert_eq!(reply["status"], "offline", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_again_moves_the_socket_to_the_new_uuid() {
    let server = TestServer::start().await;
    let (old, new) = (new_peer(), new_peer());
    let mut b = Peer::connect(&server).await;
    b.init(old).await;
    b.init(new).await;
    let mut a = Peer::connect(&server).await;
    a.init(new_peer()).await;

    // One sender's messages arrive in order: if the old uuid still reached b, "old"
    // would come first.
    a.seed_send(old, "old").await;
    a.seed_send(new, "new").await;
    assert_eq!(b.expect(event::MESSAGE).await, json!("new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_with_an_ack_gets_a_reply() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let a = Peer::connect(&server).await;
    let reply = a.call(event::INIT, json!(bob.to_string())).await;
    assert_eq!(reply, json!({"status": "registered", "id": bob}));
}
