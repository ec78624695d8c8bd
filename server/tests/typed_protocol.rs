//! Relay's typed protocol: `register`, `send` with an ack, `deliver(envelope)`; and how
//! it meets the seed protocol.

mod fixture;

use fixture::{Peer, RawSocket, TestServer, new_peer, now_millis};
use relay_shared::{Envelope, SendReply, event};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_is_acknowledged() {
    let server = TestServer::start().await;
    let alice = new_peer();
    let a = Peer::connect(&server).await;
    assert_eq!(
        a.register(alice).await,
        json!({"status": "registered", "id": alice, "device": 0})
    );
    // Registering again under the same id changes nothing and is acknowledged the same.
    assert_eq!(
        a.register(alice).await,
        json!({"status": "registered", "id": alice, "device": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_stored_then_arrives_as_an_envelope() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    a.register(alice).await;
    b.register(bob).await;

    let before = now_millis();
    let reply: SendReply = serde_json::from_value(a.send(bob, "hello").await).unwrap();
    let SendReply::Sent { id, seq, sent_at } = reply else {
        panic!("unexpected reply {reply:?}");
    };
    let envelope: Envelope = serde_json::from_value(b.expect(event::DELIVER).await).unwrap();
    assert_eq!(
        (envelope.id, envelope.seq, envelope.sent_at),
        (id, seq, sent_at)
    );
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
        (reply["status"].as_str(), reply["id"].as_str()),
        (Some("sent"), Some(id.as_str()))
    );
    assert_eq!(b.expect(event::DELIVER).await["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_receives() {
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
    assert_eq!(reply["status"], "sent");
    for tab in &mut tabs {
        assert_eq!(tab.expect(event::DELIVER).await["body"], "to all tabs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_peer_not_connected_waits_for_it() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    a.register(alice).await;
    let reply = a.send(bob, "are you there?").await;
    assert_eq!(reply["status"], "sent", "{reply}");
    // Bob comes later and finds it.
    let mut b = Peer::connect(&server).await;
    b.register(bob).await;
    let envelope = b.expect(event::DELIVER).await;
    assert_eq!(
        (envelope["from"].clone(), envelope["body"].clone()),
        (json!(alice), json!("are you there?"))
    );
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
    assert_eq!(reply["status"], "sent", "{reply}");
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
    assert_eq!(reply["status"], "sent", "{reply}");
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

/// An id used through the seed protocol (unclaimed) is claimed by a typed registration:
/// the seed socket using it is disconnected, and cannot come back under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_an_id_disconnects_its_seed_sockets() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut squatter = RawSocket::connect(&server).await;
    squatter.send(&format!("420[\"init\",\"{bob}\"]")).await;
    assert!(
        squatter
            .recv()
            .await
            .expect("init ack")
            .contains("registered")
    );

    let owner = Peer::connect(&server).await;
    assert_eq!(owner.register(bob).await["status"], "registered");
    squatter.expect_closed().await;

    let again = Peer::connect(&server).await;
    let reply = again.call(event::INIT, json!(bob.to_string())).await;
    assert_eq!(reply["code"], "forbidden", "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_recipients_typed_sockets_at_once_and_is_never_stored() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    let mut b1 = Peer::connect(&server).await;
    let mut b2 = Peer::connect(&server).await;
    a.register(alice).await;
    b1.register(bob).await;
    b2.register(bob).await;

    assert_eq!(
        a.call(event::TYPING, json!({ "to": bob })).await,
        json!({"status": "ok"})
    );
    for b in [&mut b1, &mut b2] {
        assert_eq!(b.expect(event::TYPING).await, json!({ "from": alice }));
    }
    // Never stored: a socket of Bob's that comes later gets what was sent, not the typing.
    a.send(bob, "stored").await;
    let mut later = Peer::connect(&server).await;
    later.register(bob).await;
    let first: Envelope = serde_json::from_value(later.expect(event::DELIVER).await).unwrap();
    assert_eq!(first.body, "stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_needs_a_typed_registration_and_a_valid_recipient() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let a = Peer::connect(&server).await;
    let mut seed = Peer::connect(&server).await;
    let code = |reply: serde_json::Value| reply["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        code(a.call(event::TYPING, json!({ "to": bob })).await),
        "not_registered"
    );
    seed.init(new_peer()).await;
    assert_eq!(
        code(seed.call(event::TYPING, json!({ "to": bob })).await),
        "not_registered",
        "the seed protocol has no typing"
    );
    a.register(alice).await;
    assert_eq!(
        code(a.call(event::TYPING, json!({ "to": "bob" })).await),
        "invalid_peer_id"
    );
    for bad in [json!(42), json!({}), json!({ "to": 7 }), json!("bob")] {
        assert_eq!(
            code(a.call(event::TYPING, bad.clone()).await),
            "invalid_payload",
            "{bad}"
        );
    }
    // Still fine after all that.
    assert_eq!(
        a.call(event::TYPING, json!({ "to": bob })).await,
        json!({"status": "ok"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_needs_a_typed_registration_and_a_well_formed_list() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let id = "0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c";
    let b = Peer::connect(&server).await;
    let mut seed = Peer::connect(&server).await;
    let code = |reply: serde_json::Value| reply["code"].as_str().unwrap_or_default().to_owned();
    let read = json!({ "from": alice, "ids": [id] });
    assert_eq!(
        code(b.call(event::READ, read.clone()).await),
        "not_registered"
    );
    seed.init(new_peer()).await;
    assert_eq!(
        code(seed.call(event::READ, read.clone()).await),
        "not_registered",
        "the seed protocol has no receipts"
    );
    b.register(bob).await;
    assert_eq!(
        code(
            b.call(event::READ, json!({ "from": "alice", "ids": [id] }))
                .await
        ),
        "invalid_peer_id"
    );
    assert_eq!(
        code(
            b.call(event::READ, json!({ "from": alice, "ids": ["x"] }))
                .await
        ),
        "invalid_message_id"
    );
    let too_many = vec![id; 1025];
    for bad in [
        json!(42),
        json!({}),
        json!({ "from": alice }),
        json!({ "from": alice, "ids": [] }),
        json!({ "from": alice, "ids": too_many }),
        json!({ "from": alice, "ids": id }),
    ] {
        let shown = bad.to_string().chars().take(80).collect::<String>();
        assert_eq!(
            code(b.call(event::READ, bad).await),
            "invalid_payload",
            "{shown}"
        );
    }
    // Still fine after all that.
    assert_eq!(b.call(event::READ, read).await, json!({"status": "ok"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_blocked_peer_sends_reaches_the_one_who_blocked_it() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let typed = Peer::connect(&server).await;
    let mut seed = Peer::connect(&server).await;
    let mut b = Peer::connect(&server).await;
    typed.register(alice).await;
    b.register(bob).await;
    assert_eq!(
        b.call(event::BLOCK, json!({ "peer": alice })).await,
        json!({"status": "ok"})
    );
    // The seed protocol from the same id (another, unclaimed one would be another id).
    let seed_id = new_peer();
    seed.init(seed_id).await;
    assert_eq!(
        b.call(event::BLOCK, json!({ "peer": seed_id })).await,
        json!({"status": "ok"})
    );

    // Alice's typed message: answered `sent` as any other, delivered nowhere.
    let reply: SendReply = serde_json::from_value(typed.send(bob, "let me in").await).unwrap();
    assert!(matches!(reply, SendReply::Sent { .. }), "{reply:?}");
    // Her typing and the seed socket's message: nowhere either (the seed sender, asking,
    // hears what it would of someone not there).
    typed.call(event::TYPING, json!({ "to": bob })).await;
    let counted = seed
        .call(event::MESSAGE, json!(format!("{bob}|psst")))
        .await;
    assert_eq!(counted["status"], "offline", "{counted}");

    // Unblocked: what comes from then on arrives; what came before is gone.
    assert_eq!(
        b.call(event::UNBLOCK, json!({ "peer": alice })).await,
        json!({"status": "ok"})
    );
    typed.send(bob, "sorry").await;
    let next: Envelope = serde_json::from_value(b.expect(event::DELIVER).await).unwrap();
    assert_eq!((next.from, next.body.as_str()), (alice, "sorry"));
    // And a socket of Bob's registering later finds only that one.
    let mut later = Peer::connect(&server).await;
    later.register(bob).await;
    let first: Envelope = serde_json::from_value(later.expect(event::DELIVER).await).unwrap();
    assert_eq!(first.body, "sorry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_needs_a_typed_registration_and_a_peer_id() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let b = Peer::connect(&server).await;
    let code = |reply: serde_json::Value| reply["code"].as_str().unwrap_or_default().to_owned();
    let request = json!({ "peer": new_peer() });
    for event in [event::BLOCK, event::UNBLOCK] {
        assert_eq!(code(b.call(event, request.clone()).await), "not_registered");
    }
    b.register(bob).await;
    for event in [event::BLOCK, event::UNBLOCK] {
        assert_eq!(
            code(b.call(event, json!({ "peer": "alice" })).await),
            "invalid_peer_id"
        );
        for bad in [json!(42), json!({}), json!({ "peer": 7 }), json!("alice")] {
            assert_eq!(
                code(b.call(event, bad.clone()).await),
                "invalid_payload",
                "{event} {bad}"
            );
        }
        assert_eq!(
            b.call(event, request.clone()).await,
            json!({"status": "ok"})
        );
    }
}
