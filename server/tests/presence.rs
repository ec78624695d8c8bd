//! Presence over TCP with a real client: told live to contacts only, on one node and
//! across the nodes of a cluster; hidden on request; ended when the node holding a
//! peer's sockets is killed; and caught up after Redis comes back from an outage. Bad
//! input for `watch_presence` and `hide_presence`.

mod fixture;

use std::time::{Duration, Instant};

use fixture::{
    Peer, ServerProcess, TestServer, new_peer, now_millis, redis::RedisServer, scrape::Scrape,
    within,
};
use relay_shared::{PeerId, event, presence::MAX_WATCHED};
use serde_json::{Value, json};

/// Registers a typed socket of `id` on `server`.
async fn typed(server: &TestServer, id: PeerId) -> Peer {
    let peer = Peer::connect(server).await;
    assert_eq!(peer.register(id).await["status"], "registered");
    peer
}

/// `watch_presence` of `peers`; returns the ack.
async fn watch(peer: &Peer, peers: &[PeerId]) -> Value {
    peer.call(event::WATCH_PRESENCE, json!({ "peers": peers }))
        .await
}

/// The state of each entry of a watch's ack.
fn states(ack: &Value) -> Vec<&str> {
    assert_eq!(ack["status"], "ok", "{ack}");
    ack["presence"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["state"].as_str().expect("a state"))
        .collect()
}

/// The next `presence` event of `peer`'s, skipping anything else, which must be about
/// `of` and in `state`; returns it.
async fn next_presence(peer: &mut Peer, of: PeerId, state: &str) -> Value {
    loop {
        let incoming = peer.next().await;
        if incoming.event == event::PRESENCE {
            assert_eq!(incoming.data["peer"], json!(of), "{incoming:?}");
            assert_eq!(incoming.data["state"], state, "{incoming:?}");
            return incoming.data;
        }
    }
}

/// Makes `a` and `b` contacts of each other: each writes to the other.
async fn exchange(a: (&Peer, PeerId), b: (&Peer, PeerId)) {
    assert_eq!(a.0.send(b.1, "hello").await["status"], "sent");
    assert_eq!(b.0.send(a.1, "hello back").await["status"], "sent");
}

/// Proves nothing else came before: `marker` sends `to` a message, which must be the
/// next event `to` gets.
async fn nothing_before_a_message(to: &mut Peer, to_id: PeerId, marker: &Peer) {
    assert_eq!(marker.send(to_id, "marker").await["status"], "sent");
    let incoming = to.next().await;
    assert_eq!(
        (incoming.event.as_str(), &incoming.data["body"]),
        (event::DELIVER, &json!("marker")),
        "{incoming:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_told_live_to_contacts_only_and_can_be_hidden() {
    let server = TestServer::start().await;
    let (alice_id, bob_id, carol_id) = (new_peer(), new_peer(), new_peer());
    let mut alice = typed(&server, alice_id).await;
    let bob = typed(&server, bob_id).await;
    let mut carol = typed(&server, carol_id).await;
    exchange((&alice, alice_id), (&bob, bob_id)).await;
    // Carol wrote to bob; bob never wrote to her.
    assert_eq!(carol.send(bob_id, "hi, stranger").await["status"], "sent");
    // Drain the messages each got.
    alice.expect(event::DELIVER).await;

    let ack = watch(&alice, &[bob_id, carol_id]).await;
    assert_eq!(states(&ack), ["online", "unknown"]);
    assert_eq!(states(&watch(&carol, &[bob_id]).await), ["unknown"]);

    // Bob goes: alice is told, with when; carol is not.
    let gone = now_millis();
    bob.disconnect().await;
    let offline = next_presence(&mut alice, bob_id, "offline").await;
    let last_seen = offline["last_seen"].as_u64().expect("a time");
    assert!(
        (gone - 1_000..=now_millis()).contains(&last_seen),
        "{offline}"
    );
    // Bob comes back.
    let bob = typed(&server, bob_id).await;
    next_presence(&mut alice, bob_id, "online").await;
    nothing_before_a_message(&mut carol, carol_id, &alice).await;

    // Bob hides: alice is told he is no longer shown, and a watch says so.
    assert_eq!(
        bob.call(event::HIDE_PRESENCE, json!({ "hidden": true }))
            .await,
        json!({"status": "ok"})
    );
    next_presence(&mut alice, bob_id, "unknown").await;
    // His comings and goings are not told, though alice's socket still follows him.
    bob.disconnect().await;
    let bob = typed(&server, bob_id).await;
    nothing_before_a_message(&mut alice, alice_id, &carol).await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["unknown"]);
    // Hiding, he sees nobody's.
    assert_eq!(states(&watch(&bob, &[alice_id]).await), ["unknown"]);
    // Shown again.
    bob.call(event::HIDE_PRESENCE, json!({ "hidden": false }))
        .await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["online"]);
    assert_eq!(states(&watch(&bob, &[alice_id]).await), ["online"]);

    // Bob blocks alice: she is told he is no longer shown, and hears nothing more.
    assert_eq!(
        bob.call(event::BLOCK, json!({ "peer": alice_id })).await,
        json!({"status": "ok"})
    );
    next_presence(&mut alice, bob_id, "unknown").await;
    bob.disconnect().await;
    nothing_before_a_message(&mut alice, alice_id, &carol).await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["unknown"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_presence_requests_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let unregistered = Peer::connect(&server).await;
    let mut seed = Peer::connect(&server).await;
    seed.init(bob_id).await;
    for peer in [&unregistered, &seed] {
        let watched = watch(peer, &[alice_id]).await;
        assert_eq!(watched["code"], "not_registered", "{watched}");
        let hidden = peer
            .call(event::HIDE_PRESENCE, json!({ "hidden": true }))
            .await;
        assert_eq!(hidden["code"], "not_registered", "{hidden}");
    }
    let alice = typed(&server, alice_id).await;
    let too_many: Vec<PeerId> = (0..=MAX_WATCHED).map(|_| new_peer()).collect();
    for (payload, code) in [
        (json!({ "peers": "x" }), "invalid_payload"),
        (json!({ "peers": too_many }), "invalid_payload"),
        (
            json!({ "peers": [bob_id, "not-a-uuid"] }),
            "invalid_peer_id",
        ),
        (json!({ "peer": bob_id }), "invalid_payload"),
        (json!(42), "invalid_payload"),
    ] {
        let reply = alice.call(event::WATCH_PRESENCE, payload.clone()).await;
        assert_eq!(reply["status"], "rejected", "{payload}: {reply}");
        assert_eq!(reply["code"], code, "{payload}: {reply}");
    }
    for payload in [json!({ "hidden": "yes" }), json!({}), json!(null)] {
        let reply = alice.call(event::HIDE_PRESENCE, payload.clone()).await;
        assert_eq!(reply["code"], "invalid_payload", "{payload}: {reply}");
    }
    // Nothing was hidden: an empty watch is fine and a real one still answers.
    assert_eq!(
        watch(&alice, &[]).await,
        json!({"status": "ok", "presence": []})
    );
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["unknown"]);
}

/// A node of a cluster as its own process, beating every 200 ms.
async fn node_process(redis: &RedisServer) -> ServerProcess {
    ServerProcess::start_with_env(&[
        ("RELAY_ADDR", "127.0.0.1:0".into()),
        ("RELAY_REDIS_URL", redis.url()),
        ("RELAY_PRESENCE_HEARTBEAT", "200ms".into()),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes_and_ends_when_a_node_is_killed() {
    let redis = RedisServer::start();
    let nodes = [
        node_process(&redis).await,
        node_process(&redis).await,
        node_process(&redis).await,
    ];
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = typed(&nodes[0].handle(), alice_id).await;
    let bob_1 = typed(&nodes[1].handle(), bob_id).await;
    exchange((&alice, alice_id), (&bob_1, bob_id)).await;
    alice.expect(event::DELIVER).await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["online"]);

    // Bob on a second node too: one of them going changes nothing.
    let bob_2 = typed(&nodes[2].handle(), bob_id).await;
    bob_1.disconnect().await;
    let carol_id = new_peer();
    let carol = typed(&nodes[0].handle(), carol_id).await;
    nothing_before_a_message(&mut alice, alice_id, &carol).await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["online"]);

    // The node holding bob's last socket dies: within four heartbeats (800 ms) and the
    // time to notice, alice hears he went, last seen no later than the kill.
    let [node_0, node_1, node_2] = nodes;
    let killed = now_millis();
    assert!(!node_2.signal("-KILL").await);
    let started = Instant::now();
    let offline = next_presence(&mut alice, bob_id, "offline").await;
    let took = started.elapsed();
    let last_seen = offline["last_seen"].as_u64().expect("a time");
    assert!(
        last_seen <= killed + 50,
        "last seen {last_seen}, killed {killed}"
    );
    assert!(took < Duration::from_secs(3), "offline after {took:?}");
    drop(bob_2);
    // Bob comes back on a live node.
    let _bob = typed(&node_1.handle(), bob_id).await;
    next_presence(&mut alice, bob_id, "online").await;
    drop(node_0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_catches_up_once_redis_is_back() {
    let mut redis = RedisServer::start();
    let node = |redis: &RedisServer| {
        let url = redis.url();
        TestServer::start_with(move |c| {
            c.redis_url = Some(url);
            c.presence_heartbeat = Duration::from_millis(200);
        })
    };
    let nodes = [node(&redis).await, node(&redis).await];
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = typed(&nodes[0], alice_id).await;
    let bob = typed(&nodes[1], bob_id).await;
    exchange((&alice, alice_id), (&bob, bob_id)).await;
    alice.expect(event::DELIVER).await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["online"]);

    // Redis goes away; bob leaves meanwhile. Nobody can be told, and a watch says so.
    redis.kill();
    bob.disconnect().await;
    let refused = watch(&alice, &[bob_id]).await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    // Bob's node could not write that he went (its client retries for a while first).
    within("bob's node to fail writing his presence", async {
        while Scrape::of(&nodes[1])
            .await
            .value("relay_store_errors_total", &[("op", "present")])
            < 1.0
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // Back: bob's node writes what it could not, and alice hears he went.
    redis.restart();
    within("alice to hear bob went, after the outage", async {
        loop {
            let incoming = alice.next().await;
            if incoming.event == event::PRESENCE && incoming.data["state"] == "offline" {
                return;
            }
        }
    })
    .await;
    assert_eq!(states(&watch(&alice, &[bob_id]).await), ["offline"]);
}
