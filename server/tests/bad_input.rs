//! Bad input gets a clear answer where the client asked for one, changes nothing, and
//! never takes the server down.

mod fixture;

use std::collections::HashSet;

use fixture::{Peer, RawSocket, TestServer, new_peer, within};
use futures_util::{SinkExt, StreamExt};
use relay_shared::{event, message::DEFAULT_MAX_BODY_BYTES};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Asserts `reply` is a rejection with `code` and a message for people.
fn assert_rejected(reply: &Value, code: &str) {
    assert_eq!(reply["status"], "rejected", "{reply}");
    assert_eq!(reply["code"], code, "{reply}");
    assert!(
        reply["message"].as_str().is_some_and(|m| m.len() > 10),
        "no readable message: {reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_init_payloads_are_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let peer = Peer::connect(&server).await;
    for (payload, code) in [
        (json!(42), "invalid_payload"),
        (json!({"id": new_peer()}), "invalid_payload"),
        (json!(null), "invalid_payload"),
        (json!("bob"), "invalid_peer_id"),
        (
            json!("00000000-0000-0000-0000-000000000000"),
            "invalid_peer_id",
        ),
        (json!(format!("{{{}}}", new_peer())), "invalid_peer_id"),
    ] {
        let reply = peer.call(event::INIT, payload.clone()).await;
        assert_rejected(&reply, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_register_payloads_are_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let peer = Peer::connect(&server).await;
    let id = new_peer();
    for (payload, code) in [
        (json!(id.to_string()), "invalid_payload"),
        (json!({}), "invalid_payload"),
        (
            json!({"id": 7, "secret": "0123456789abcdef"}),
            "invalid_payload",
        ),
        (
            json!({"id": "not-a-uuid", "secret": "0123456789abcdef"}),
            "invalid_peer_id",
        ),
        (json!({"id": id}), "invalid_payload"),
        (json!({"id": id, "secret": "too short"}), "invalid_payload"),
        (
            json!({"id": id, "secret": "x".repeat(300)}),
            "invalid_payload",
        ),
        (
            json!({"id": id, "secret": 12345678901234567_u64}),
            "invalid_payload",
        ),
    ] {
        let reply = peer.call(event::REGISTER, payload.clone()).await;
        assert_rejected(&reply, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seed_messages_are_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let mut peer = Peer::connect(&server).await;
    let bob = new_peer();
    let reply = peer
        .call(event::MESSAGE, json!(format!("{bob}|too early")))
        .await;
    assert_rejected(&reply, "not_registered");

    peer.init(new_peer()).await;
    let too_large = "x".repeat(DEFAULT_MAX_BODY_BYTES + 1);
    for (payload, code) in [
        (json!(42), "invalid_payload"),
        (json!(["a", "b"]), "invalid_payload"),
        (json!("no bar at all"), "invalid_payload"),
        (json!("bob|hi"), "invalid_peer_id"),
        (json!(format!("{bob}|")), "empty_body"),
        (json!(format!("{bob}|   ")), "empty_body"),
        (json!(format!("{bob}|{too_large}")), "body_too_large"),
    ] {
        let reply = peer.call(event::MESSAGE, payload).await;
        assert_rejected(&reply, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sends_are_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let peer = Peer::connect(&server).await;
    let bob = new_peer();
    assert_rejected(&peer.send(bob, "too early").await, "not_registered");

    peer.register(new_peer()).await;
    let too_large = "é".repeat(DEFAULT_MAX_BODY_BYTES / 2 + 1);
    for (payload, code) in [
        (json!("hello"), "invalid_payload"),
        (json!({"to": bob}), "invalid_payload"),
        (json!({"to": bob, "body": 5}), "invalid_payload"),
        (json!({"to": "bob", "body": "hi"}), "invalid_peer_id"),
        (json!({"to": bob, "body": ""}), "empty_body"),
        (json!({"to": bob, "body": "\n\t "}), "empty_body"),
        (json!({"to": bob, "body": too_large}), "body_too_large"),
        (
            json!({"to": bob, "body": "hi", "id": "nope"}),
            "invalid_message_id",
        ),
    ] {
        let reply = peer.call(event::SEND, payload).await;
        assert_rejected(&reply, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_exactly_at_the_limit_is_accepted() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut b = Peer::connect(&server).await;
    b.register(bob).await;
    let a = Peer::connect(&server).await;
    a.register(new_peer()).await;
    let body = "x".repeat(DEFAULT_MAX_BODY_BYTES);
    assert_eq!(a.send(bob, &body).await["status"], "sent");
    assert_eq!(b.expect(event::DELIVER).await["body"], json!(body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_is_configurable() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 8).await;
    let bob = new_peer();
    let a = Peer::connect(&server).await;
    a.register(new_peer()).await;
    assert_eq!(a.send(bob, "12345678").await["status"], "sent");
    assert_rejected(&a.send(bob, "123456789").await, "body_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_confirmations_are_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let peer = Peer::connect(&server).await;
    assert_rejected(
        &peer.call(event::RECEIVED, json!({"messages": [1]})).await,
        "not_registered",
    );
    peer.register(new_peer()).await;
    for payload in [
        json!("1,2,3"),
        json!({"messages": "1"}),
        json!({"messages": [-1]}),
        json!({"messages": ["a"]}),
        json!({"receipts": vec![1; 1025]}),
    ] {
        assert_rejected(
            &peer.call(event::RECEIVED, payload).await,
            "invalid_payload",
        );
    }
    // Confirming what does not exist, or is not one's own, is harmless.
    assert_eq!(
        peer.call(
            event::RECEIVED,
            json!({"messages": [12345], "receipts": [6789]})
        )
        .await,
        json!({"status": "ok"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_is_rejected_in_the_ack() {
    let server = TestServer::start().await;
    let peer = Peer::connect(&server).await;
    let reply = peer.call("subscribe", json!({"all": true})).await;
    assert_rejected(&reply, "unknown_event");
    assert!(reply["message"].as_str().unwrap().contains("subscribe"));
}

/// Without an ack, bad input is dropped: the recipient sees none of it, the sender's
/// registration stands, and what follows is handled normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_ack_bad_input_is_dropped_and_changes_nothing() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut a = Peer::connect(&server).await;
    a.register(alice).await;
    let mut b = Peer::connect(&server).await;
    b.init(bob).await;

    for (name, payload) in [
        (event::INIT, json!(42)),
        (event::INIT, json!("not-a-uuid")),
        (event::REGISTER, json!({"id": "nope"})),
        (event::MESSAGE, json!(format!("{bob}|"))),
        (event::MESSAGE, json!("garbage")),
        (event::SEND, json!({"to": bob, "body": ""})),
        (event::SEND, json!({"to": bob})),
        (event::TYPING, json!({"to": "bob"})),
        (event::TYPING, json!(42)),
        (event::WATCH_PRESENCE, json!({"peers": ["bob"]})),
        (event::HIDE_PRESENCE, json!({"hidden": "yes"})),
        ("no such event", json!("x")),
    ] {
        a.emit(name, payload).await;
    }
    // Still registered as alice, and b has received nothing before this.
    let reply = a.send(bob, "after the garbage").await;
    assert_eq!(reply["status"], "sent", "{reply}");
    assert_eq!(b.expect(event::MESSAGE).await, json!("after the garbage"));
    b.seed_send(alice, "still alice?").await;
    assert_eq!(a.expect(event::DELIVER).await["body"], "still alice?");
}

/// Frames that are not valid Engine.IO / Socket.IO close their own connection (the
/// protocol has no error packet for them) and nothing else: the server stays up and
/// other clients carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_only_their_connection() {
    let server = TestServer::start().await;
    let bob = new_peer();
    let mut b = Peer::connect(&server).await;
    b.register(bob).await;
    let a = Peer::connect(&server).await;
    a.register(new_peer()).await;

    let oversized = format!("42[\"send\",\"{}\"]", "x".repeat(200 * 1024));
    for frame in [
        "42[",
        "42[\"send\",{\"to\":",
        "4x",
        "x",
        "",
        "42{\"not\":\"an array\"}",
        "42[1,2,3]",
        "452-[\"send\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
        &oversized,
    ] {
        let mut raw = RawSocket::connect(&server).await;
        raw.send_unchecked(frame).await;
        raw.expect_closed().await;
        assert_eq!(a.send(bob, "still fine").await["status"], "sent");
        assert_eq!(b.expect(event::DELIVER).await["body"], "still fine");
    }

    let mut raw = RawSocket::connect(&server).await;
    raw.send_binary(vec![0xff, 0x00, 0x13]).await;
    raw.expect_closed().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".into()));
}

/// A burst far past the per-socket bounds. Each event gets an answer, handled or refused
/// (`overloaded`, `rate_limited`, or `queue_full` once its share is full), unless the flooder falls so far behind in reading its answers that
/// the server disconnects it: never a silent drop. What was stored reaches the recipient
/// complete and in order, and the server carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_answered_or_cut_off() {
    const BURST: usize = 3_000;
    let server = TestServer::start_with(|c| c.max_pending_events = 8).await;
    let bob = new_peer();
    let mut b = Peer::connect(&server).await;
    b.register(bob).await;
    let mut a = RawSocket::connect(&server).await;
    let alice = new_peer();
    a.send(&format!(
        "420[\"register\",{{\"id\":\"{alice}\",\"secret\":\"{}\"}}]",
        fixture::secret_of(alice)
    ))
    .await;
    assert!(a.recv().await.expect("register ack").starts_with("430["));

    // One burst, written as fast as the connection carries it while the answers are read.
    let (mut sink, mut stream) = a.into_inner().split();
    let writer = tokio::spawn(async move {
        for i in 1..=BURST {
            let frame = format!("42{i}[\"send\",{{\"to\":\"{bob}\",\"body\":\"{i}\"}}]");
            if sink.send(Message::text(frame)).await.is_err() {
                break; // cut off
            }
        }
    });
    let (mut stored, mut refused, mut cut_off) = (Vec::new(), HashSet::new(), false);
    while stored.len() + refused.len() < BURST {
        let frame = within("an answer or the close", async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) if text.starts_with("43") => return Some(text),
                    // "41": the server disconnected the socket from the namespace.
                    Some(Ok(Message::Text(text))) if text.as_str() == "41" => return None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        let Some(ack) = frame else {
            cut_off = true;
            break;
        };
        let (id, body) = ack
            .strip_prefix("43")
            .and_then(|rest| rest.split_once('['))
            .expect("an ack frame");
        let id = id.parse::<usize>().unwrap();
        let reply: Value = serde_json::from_str(&format!("[{body}")).unwrap();
        match reply[0]["status"].as_str() {
            Some("sent") => stored.push(id),
            Some("rejected")
                if ["overloaded", "rate_limited", "queue_full"]
                    .contains(&reply[0]["code"].as_str().unwrap_or_default()) =>
            {
                refused.insert(id);
            }
            _ => panic!("unexpected reply {reply}"),
        }
    }
    within("the writer", writer).await.expect("writer");
    println!(
        "flood of {BURST}: {} stored, {} refused, cut off: {cut_off}",
        stored.len(),
        refused.len()
    );
    assert!(!stored.is_empty(), "some got through");

    // Bob gets everything acknowledged as stored, in the order sent, and nothing refused.
    // (A flooder cut off may not have read the acks of what was stored last: Bob gets
    // those too.)
    let mut missing: HashSet<usize> = stored.iter().copied().collect();
    let mut last = 0;
    while !missing.is_empty() {
        let n = b.expect(event::DELIVER).await["body"]
            .as_str()
            .unwrap()
            .parse::<usize>()
            .unwrap();
        assert!(n > last, "{n} after {last}: out of send order");
        assert!(!refused.contains(&n), "{n} was refused, yet delivered");
        missing.remove(&n);
        last = n;
    }
    assert_eq!(server.get("/healthz").await, (200, "ok".into()));
}
