//! The per-client limits, each with its answer, over TCP with real clients: messages per
//! socket and per peer id (`rate_limited`, with when to retry), connections per address
//! (a connect error), connections opened per second (a wait, then 429), registrations
//! per address per minute, sockets that never register, sockets sending on and on over
//! their rate (cut).
//! A well-behaved client under a limit still gets every message through, once, in order.

mod fixture;

use std::time::Duration;

use fixture::{
    Peer, RawSocket, TestServer, native_peer, new_peer, scrape::Scrape, secret_of, until, within,
};
use relay_shared::{
    event,
    messenger::{Status, Update},
};
use serde_json::{Value, json};

fn send(to: relay_shared::PeerId, body: &str, id: uuid::Uuid) -> Value {
    json!({ "to": to, "body": body, "id": id })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_over_its_rate_is_told_when_to_retry_and_its_order_is_kept() {
    let server = TestServer::start_with(|c| {
        c.socket_rate = 20;
        c.peer_rate = 0;
    })
    .await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let alice = Peer::connect(&server).await;
    alice.register(alice_id).await;
    // The burst (twice the rate) goes through; then a refusal that says when to retry.
    let mut refused = None;
    for n in 0..100 {
        let id = uuid::Uuid::new_v4();
        let reply = alice
            .call(event::SEND, send(bob_id, &n.to_string(), id))
            .await;
        if reply["status"] == "rejected" {
            refused = Some((id, n, reply));
            break;
        }
        assert_eq!(reply["status"], "sent", "{reply}");
    }
    let (refused_id, n, reply) = refused.expect("refused before 100");
    assert!(n >= 40, "the burst of 2 × 20 went through first ({n})");
    assert_eq!(reply["code"], "rate_limited", "{reply}");
    let wait = reply["retry_after_ms"].as_u64().expect("when to retry");
    assert!((1..=1000).contains(&wait), "{wait} ms");

    // Even once a token is back, a later message does not overtake the refused one.
    tokio::time::sleep(Duration::from_millis(wait + 60)).await;
    let later = alice
        .call(event::SEND, send(bob_id, "later", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(later["code"], "rate_limited", "{later}");
    let again = alice
        .call(event::SEND, send(bob_id, &n.to_string(), refused_id))
        .await;
    assert_eq!(
        again["status"], "sent",
        "the refused one, sent again: {again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_under_the_limit_gets_everything_through_once_in_order() {
    const COUNT: usize = 300;
    let server = TestServer::start_with(|c| {
        c.socket_rate = 100;
        c.max_queue_per_stranger = 1000;
    })
    .await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&server, alice_id);
    for i in 0..COUNT {
        alice.send(bob_id, i.to_string());
    }
    let mut stored = 0;
    until(&mut alice, "everything stored", |u| {
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
    let mut bob = native_peer(&server, bob_id);
    let mut bodies = Vec::new();
    until(&mut bob, "everything", |u| {
        if let Update::Received(envelope) = u {
            bodies.push(envelope.body.parse::<usize>().expect("numbered"));
        }
        (bodies.len() == COUNT).then_some(())
    })
    .await;
    assert_eq!(bodies, (0..COUNT).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sockets_of_one_id_share_its_rate() {
    let server = TestServer::start_with(|c| {
        c.socket_rate = 0;
        c.peer_rate = 10;
    })
    .await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let (tab1, tab2) = (Peer::connect(&server).await, Peer::connect(&server).await);
    tab1.register(alice_id).await;
    tab2.register(alice_id).await;
    let mut sent = 0;
    for n in 0..40 {
        let tab = if n % 2 == 0 { &tab1 } else { &tab2 };
        let reply = tab
            .call(event::SEND, send(bob_id, "x", uuid::Uuid::new_v4()))
            .await;
        if reply["status"] == "sent" {
            sent += 1;
        } else {
            assert_eq!(reply["code"], "rate_limited", "{reply}");
            break;
        }
    }
    assert!(
        (20..30).contains(&sent),
        "a burst of 2 × 10 for both tabs together: {sent}"
    );
    // Another id is not affected.
    let carol = Peer::connect(&server).await;
    carol.register(new_peer()).await;
    assert_eq!(carol.send(bob_id, "hi").await["status"], "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_with_too_many_connections_hears_why() {
    let server = TestServer::start_with(|c| c.connections_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(RawSocket::connect(&server).await);
    }
    let mut fourth = RawSocket::open(&server).await;
    fourth.send("40").await;
    let refused = fourth.recv().await.expect("an answer");
    assert!(refused.starts_with("44"), "a connect error: {refused}");
    assert!(refused.contains("too many connections"), "{refused}");
    // One goes away: there is room again.
    drop(open.pop());
    within("a place to free", async {
        loop {
            let mut again = RawSocket::open(&server).await;
            again.send("40").await;
            if again.recv().await.is_some_and(|f| f.starts_with("40")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_opening_connections_too_fast_waits_its_turn() {
    let server = TestServer::start_with(|c| {
        c.connection_rate = 1;
        c.connections_per_ip = 4;
    })
    .await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    // The burst (twice the rate) goes at once.
    let _open = [
        RawSocket::connect(&server).await,
        RawSocket::connect(&server).await,
    ];
    // The next ones wait for their turn, and count as connections meanwhile.
    let third = tokio::spawn(tokio_tungstenite::connect_async(url.clone()));
    let fourth = tokio::spawn(tokio_tungstenite::connect_async(url.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished() || !fourth.is_finished(),
        "one waits its turn"
    );
    let fifth = within("a refusal", tokio_tungstenite::connect_async(url)).await;
    match fifth {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("over the address's connections, refused: {other:?}"),
    }
    for waiting in [third, fourth] {
        let turn = within("its turn", waiting).await;
        assert!(matches!(turn, Ok(Ok(_))), "{turn:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_sending_on_and_on_over_its_rate_is_cut() {
    let server = TestServer::start_with(|c| {
        c.socket_rate = 20;
        c.peer_rate = 0;
    })
    .await;
    let peer = Peer::connect(&server).await;
    let mut flooder = RawSocket::connect(&server).await;
    let me = new_peer();
    flooder.send(&format!("42{}", json!(["init", me]))).await;
    // Seed messages ask for no answer: it never hears it is over its rate, and goes on.
    let frame = format!("42{}", json!(["message", format!("{}|flood", new_peer())]));
    for _ in 0..2_500 {
        flooder.send_unchecked(&frame).await;
    }
    within("the flooder to be cut", flooder.expect_closed()).await;
    let scrape = Scrape::of(&server).await;
    assert_eq!(scrape.value("relay_flooders_cut_total", &[]), 1.0);
    // Its address may not come straight back...
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    match within("a refusal", tokio_tungstenite::connect_async(url)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let retry: f64 = response.headers()["retry-after"]
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("seconds");
            assert!((1.0..=10.0).contains(&retry), "{retry}");
        }
        other => panic!("the flooder's address, refused for a while: {other:?}"),
    }
    // ...and sockets already open are not concerned.
    assert_eq!(peer.register(new_peer()).await["status"], "registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_per_address_are_limited() {
    let server = TestServer::start_with(|c| c.registrations_per_minute = 3).await;
    let peer = Peer::connect(&server).await;
    for _ in 0..3 {
        assert_eq!(peer.register(new_peer()).await["status"], "registered");
    }
    let refused = peer.register(new_peer()).await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert!(
        refused["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 1000)
    );
    let seed = Peer::connect(&server).await;
    let reply = seed.call(event::INIT, json!(new_peer())).await;
    assert_eq!(reply["code"], "rate_limited", "init counts too: {reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_registers_is_closed() {
    let server = TestServer::start_with(|c| c.register_timeout = Duration::from_millis(300)).await;
    let mut idle = RawSocket::connect(&server).await;
    let mut registered = RawSocket::connect(&server).await;
    let id = new_peer();
    registered
        .send(&format!(
            "420[\"register\",{{\"id\":\"{id}\",\"secret\":\"{}\"}}]",
            secret_of(id)
        ))
        .await;
    assert!(registered.recv().await.expect("ack").starts_with("430["));
    within("the idle socket to be closed", idle.expect_closed()).await;
    // The registered one is still served.
    registered.send("421[\"received\",{}]").await;
    assert!(registered.recv().await.expect("ack").starts_with("431["));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_filling_its_share_does_not_lock_others_out() {
    let server = TestServer::start_with(|c| {
        c.max_queue = 100;
        c.max_queue_per_sender = 20;
        c.max_queue_per_stranger = 5;
    })
    .await;
    let (bob_id, flooder_id, friend_id) = (new_peer(), new_peer(), new_peer());
    // Bob has written to his friend once; then he is away.
    let bob = Peer::connect(&server).await;
    bob.register(bob_id).await;
    assert_eq!(bob.send(friend_id, "see you").await["status"], "sent");
    bob.disconnect().await;

    let flooder = Peer::connect(&server).await;
    flooder.register(flooder_id).await;
    for n in 0..5 {
        assert_eq!(
            flooder.send(bob_id, &format!("spam {n}")).await["status"],
            "sent"
        );
    }
    let refused = flooder.send(bob_id, "spam 5").await;
    assert_eq!(refused["code"], "queue_full", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("one sender")),
        "{refused}"
    );
    // Bob's friend still gets through, up to a contact's share.
    let friend = Peer::connect(&server).await;
    friend.register(friend_id).await;
    for n in 0..20 {
        assert_eq!(
            friend.send(bob_id, &format!("hi {n}")).await["status"],
            "sent"
        );
    }
    assert_eq!(friend.send(bob_id, "hi 20").await["code"], "queue_full");

    // Bob comes back to both, everything stored delivered.
    let mut bob = native_peer(&server, bob_id);
    let mut from_friend = 0;
    let mut from_flooder = 0;
    until(&mut bob, "what waited", |u| {
        if let Update::Received(envelope) = u {
            if envelope.from == friend_id {
                from_friend += 1;
            } else {
                from_flooder += 1;
            }
        }
        (from_friend + from_flooder == 25).then_some(())
    })
    .await;
    assert_eq!((from_friend, from_flooder), (20, 5));
}
