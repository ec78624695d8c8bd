//! Several nodes sharing one redis-server: peers on different nodes reach each other in
//! both protocols (read receipts too), every tab on every node receives (typing too),
//! one sender's messages keep their order, an id claimed from two nodes at once has one
//! owner, receipts and stored messages cross nodes even when the sender's node dies
//! right after the ack, and a slow reader on a remote node is cut as on the local one.

mod fixture;

use fixture::{
    Peer, RawSocket, ServerProcess, TestServer,
    load::{Shape, pairs_at_full_load},
    native_peer, new_peer,
    redis::{RedisCluster, RedisServer},
    secret_of, until, within,
};
use relay_shared::{
    event,
    messenger::{Status, Update},
};
use serde_json::json;

/// `count` nodes in this process on the Redis at `redis`, without the per-client
/// limits (the load tests push single sockets as hard as they go).
async fn nodes(redis: &RedisServer, count: usize) -> Vec<TestServer> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(
            TestServer::start_with(|c| {
                c.redis_url = Some(redis.url());
                c.lift_limits();
            })
            .await,
        );
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_different_nodes_reach_each_other_in_both_protocols() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3).await;

    // Typed, both ways, with receipts coming back across nodes.
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut alice = native_peer(&nodes[0], alice_id);
    let mut bob = native_peer(&nodes[1], bob_id);
    until(&mut bob, "bob registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    let hello = alice.send(bob_id, "hello from node 0".into());
    until(&mut alice, "alice's message stored", |u| {
        matches!(u, Update::Status { id, status: Status::Sent { .. }, .. } if id == hello)
            .then_some(())
    })
    .await;
    let got = until(&mut bob, "bob's message", |u| match u {
        Update::Received(envelope) => Some(envelope),
        _ => None,
    })
    .await;
    assert_eq!(
        (got.from, got.body.as_str()),
        (alice_id, "hello from node 0")
    );
    bob.flush().await;
    until(&mut alice, "alice's receipt", |u| {
        matches!(u, Update::Status { id, status: Status::Delivered { .. }, .. } if id == hello)
            .then_some(())
    })
    .await;
    // Bob reads it: the read receipt crosses nodes too.
    bob.read(vec![(alice_id, hello)]);
    bob.flush().await;
    until(&mut alice, "alice's read receipt", |u| {
        matches!(u, Update::Status { id, status: Status::Read { .. }, .. } if id == hello)
            .then_some(())
    })
    .await;
    let back = bob.send(alice_id, "and back from node 1".into());
    until(&mut bob, "bob's reply stored", |u| {
        matches!(u, Update::Status { id, status: Status::Sent { .. }, .. } if id == back)
            .then_some(())
    })
    .await;
    let back = until(&mut alice, "alice's reply", |u| match u {
        Update::Received(envelope) => Some(envelope.body),
        _ => None,
    })
    .await;
    assert_eq!(back, "and back from node 1");

    // Seed, both ways between nodes 0 and 2, and across protocols.
    let (carol_id, dave_id) = (new_peer(), new_peer());
    let mut carol = Peer::connect(&nodes[0]).await;
    carol.init(carol_id).await;
    let mut dave = Peer::connect(&nodes[2]).await;
    dave.init(dave_id).await;
    carol.seed_send(dave_id, "seed to node 2").await;
    assert_eq!(dave.expect(event::MESSAGE).await, json!("seed to node 2"));
    dave.seed_send(carol_id, "seed to node 0").await;
    assert_eq!(carol.expect(event::MESSAGE).await, json!("seed to node 0"));
    let typed = alice.send(dave_id, "typed to a seed socket on node 2".into());
    until(&mut alice, "the typed message stored", |u| {
        matches!(u, Update::Status { id, status: Status::Sent { .. }, .. } if id == typed)
            .then_some(())
    })
    .await;
    assert_eq!(
        dave.expect(event::MESSAGE).await,
        json!("typed to a seed socket on node 2")
    );
    let mut bob_tab = Peer::connect(&nodes[1]).await;
    assert_eq!(bob_tab.register(bob_id).await["status"], "registered");
    carol
        .seed_send(bob_id, "seed to a typed socket on node 1")
        .await;
    // (Bob's tabs also get the receipt of his reply: every tab receives.)
    let envelope = loop {
        let incoming = bob_tab.next().await;
        if incoming.event != event::RECEIPT {
            assert_eq!(incoming.event, event::DELIVER, "{incoming:?}");
            break incoming.data;
        }
    };
    assert_eq!(
        (&envelope["from"], &envelope["body"], &envelope["seq"]),
        (
            &json!(carol_id),
            &json!("seed to a typed socket on node 1"),
            &json!(0)
        )
    );

    // Counting the recipient's sockets asks every node.
    let reply = carol
        .call(event::MESSAGE, json!(format!("{dave_id}|counted")))
        .await;
    assert_eq!(
        (&reply["status"], &reply["sockets"]),
        (&json!("delivered"), &json!(1))
    );
    assert_eq!(dave.expect(event::MESSAGE).await, json!("counted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_on_every_node_receives_messages_and_typing() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3).await;
    let (alice_id, bob_id, dave_id) = (new_peer(), new_peer(), new_peer());
    let mut bob_tabs = Vec::new();
    let mut dave_tabs = Vec::new();
    for node in &nodes {
        let tab = Peer::connect(node).await;
        assert_eq!(tab.register(bob_id).await["status"], "registered");
        bob_tabs.push(tab);
        let mut tab = Peer::connect(node).await;
        tab.init(dave_id).await;
        dave_tabs.push(tab);
    }
    let alice = Peer::connect(&nodes[0]).await;
    alice.register(alice_id).await;
    assert_eq!(alice.send(bob_id, "to every tab").await["status"], "sent");
    for tab in &mut bob_tabs {
        assert_eq!(tab.expect(event::DELIVER).await["body"], "to every tab");
    }
    alice.seed_send(dave_id, "seed to every tab").await;
    alice.seed_send(dave_id, "and once").await;
    for tab in &mut dave_tabs {
        assert_eq!(tab.expect(event::MESSAGE).await, json!("seed to every tab"));
        // Once: the tab on the sender's node gets no second copy back through Redis.
        assert_eq!(tab.expect(event::MESSAGE).await, json!("and once"));
    }
    // Typing, never stored, crosses nodes too, once to each tab.
    assert_eq!(
        alice.call(event::TYPING, json!({ "to": bob_id })).await,
        json!({"status": "ok"})
    );
    assert_eq!(alice.send(bob_id, "after typing").await["status"], "sent");
    for tab in &mut bob_tabs {
        // Each by its own path between nodes, so in either order; the typing once.
        let mut next_two = [tab.next().await, tab.next().await];
        next_two.sort_by(|a, b| a.event.cmp(&b.event));
        let [delivered, typing] = next_two;
        assert_eq!(delivered.event, event::DELIVER);
        assert_eq!(delivered.data["body"], "after typing");
        assert_eq!(typing.event, event::TYPING);
        assert_eq!(typing.data, json!({ "from": alice_id }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_senders_messages_keep_their_order_across_nodes_at_full_load() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 2).await;
    pairs_at_full_load(&nodes[0], &nodes[1], Shape::Typed, 8, 1_000).await;
    pairs_at_full_load(&nodes[0], &nodes[1], Shape::Seed, 8, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_claimed_from_two_nodes_at_once_has_one_owner() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 2).await;
    for round in 0..20 {
        let id = new_peer();
        let (a, b) = (
            Peer::connect(&nodes[0]).await,
            Peer::connect(&nodes[1]).await,
        );
        let (first, second) = tokio::join!(
            a.call(
                event::REGISTER,
                json!({ "id": id, "secret": format!("first-secret-{round:08}") })
            ),
            b.call(
                event::REGISTER,
                json!({ "id": id, "secret": format!("second-secret-{round:08}") })
            ),
        );
        let mut outcomes = [
            first["status"].as_str().map(str::to_owned),
            second["status"].as_str().map(str::to_owned),
        ];
        outcomes.sort();
        assert_eq!(
            outcomes,
            [Some("registered".into()), Some("rejected".into())],
            "round {round}: {first} / {second}"
        );
    }
}

/// A message acknowledged `sent` was published by Redis with its commit: the sender's
/// node dying the moment after the ack changes nothing for its recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_arrives_though_the_senders_node_dies_right_after_the_ack() {
    let redis = RedisServer::start();
    let receiving = TestServer::start_with(|c| c.redis_url = Some(redis.url())).await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut bob = Peer::connect(&receiving).await;
    assert_eq!(bob.register(bob_id).await["status"], "registered");
    for round in 0..5 {
        let sending = ServerProcess::start_with_env(&[
            ("RELAY_ADDR", "127.0.0.1:0".into()),
            ("RELAY_REDIS_URL", redis.url()),
        ])
        .await;
        let mut alice = RawSocket::connect(&sending.handle()).await;
        alice
            .send(&format!(
                "420[\"register\",{{\"id\":\"{alice_id}\",\"secret\":\"{}\"}}]",
                secret_of(alice_id)
            ))
            .await;
        assert!(
            alice
                .recv()
                .await
                .expect("register ack")
                .starts_with("430[")
        );
        alice
            .send(&format!(
                "421[\"send\",{{\"to\":\"{bob_id}\",\"body\":\"round {round}\"}}]"
            ))
            .await;
        let ack = alice.recv().await.expect("send ack");
        assert!(ack.contains("\"status\":\"sent\""), "{ack}");
        assert!(!sending.signal("-KILL").await, "killed");
        assert_eq!(
            bob.expect(event::DELIVER).await["body"],
            json!(format!("round {round}"))
        );
    }
}

/// A reader too far behind is disconnected, on whichever node it is, rather than
/// silently skipped; what was stored for it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_on_a_remote_node_is_cut_off() {
    let redis = RedisServer::start();
    let sending = TestServer::start_with(|c| {
        c.redis_url = Some(redis.url());
        c.lift_limits();
    })
    .await;
    let receiving = TestServer::start_with(|c| {
        c.redis_url = Some(redis.url());
        c.socket_buffer = 16;
        c.max_queue = 100_000;
    })
    .await;
    let (alice_id, bob_id) = (new_peer(), new_peer());
    let mut bob = RawSocket::connect(&receiving).await;
    bob.send(&format!(
        "420[\"register\",{{\"id\":\"{bob_id}\",\"secret\":\"{}\"}}]",
        secret_of(bob_id)
    ))
    .await;
    assert!(bob.recv().await.expect("register ack").starts_with("430["));

    // Bob reads nothing more while alice sends far more than his socket's buffer holds.
    let mut alice = native_peer(&sending, alice_id);
    let body = "x".repeat(32 * 1024);
    for _ in 0..400 {
        alice.send(bob_id, body.clone());
    }
    let mut stored = 0;
    until(&mut alice, "400 stored", |u| {
        stored += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Sent { .. },
                ..
            }
        ));
        (stored == 400).then_some(())
    })
    .await;
    within("bob to be cut off", bob.expect_closed()).await;
    // Nothing was lost: it all waits for his next connection (on a node whose buffer
    // holds a page of what waits).
    let mut bob = native_peer(&sending, bob_id);
    let mut received = 0;
    until(&mut bob, "everything stored for bob", |u| {
        received += usize::from(matches!(u, Update::Received(_)));
        (received == 400).then_some(())
    })
    .await;
}

/// Nodes on a Redis Cluster: keys and channels spread over three masters by hash slot,
/// pub/sub sharded; both protocols still cross nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_a_redis_cluster_reach_each_other() {
    let redis = RedisCluster::start();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(TestServer::start_with(|c| c.redis_url = Some(redis.url())).await);
    }
    let (alice_id, bob_id, carol_id, dave_id) = (new_peer(), new_peer(), new_peer(), new_peer());
    let alice = Peer::connect(&nodes[0]).await;
    assert_eq!(alice.register(alice_id).await["status"], "registered");
    let mut bob = Peer::connect(&nodes[1]).await;
    assert_eq!(bob.register(bob_id).await["status"], "registered");
    for n in 0..20 {
        let reply = alice.send(bob_id, &format!("typed {n}")).await;
        assert_eq!(reply["status"], "sent", "{reply}");
    }
    // A message may come twice (live, and in the backlog read right after the
    // registration, when it was stored in between): as clients do, each once, by id.
    let mut seen = std::collections::HashSet::new();
    let mut bodies = Vec::new();
    while bodies.len() < 20 {
        let envelope = bob.expect(event::DELIVER).await;
        if seen.insert(envelope["id"].to_string()) {
            bodies.push(envelope["body"].clone());
        }
    }
    let sent: Vec<_> = (0..20).map(|n| json!(format!("typed {n}"))).collect();
    assert_eq!(bodies, sent, "in order");
    let mut carol = Peer::connect(&nodes[0]).await;
    carol.init(carol_id).await;
    let mut dave = Peer::connect(&nodes[1]).await;
    dave.init(dave_id).await;
    carol.seed_send(dave_id, "seed across").await;
    assert_eq!(dave.expect(event::MESSAGE).await, json!("seed across"));
    dave.seed_send(carol_id, "and back").await;
    assert_eq!(carol.expect(event::MESSAGE).await, json!("and back"));
    // A claim is seen from the other node.
    let thief = Peer::connect(&nodes[1]).await;
    let reply = thief
        .call(
            event::REGISTER,
            json!({ "id": alice_id, "secret": "not-alices-secret-0000" }),
        )
        .await;
    assert_eq!(reply["code"], "forbidden", "{reply}");
}

/// A block made through one node holds on every node: Bob's tabs on two nodes get
/// nothing from the blocked seed socket on a third, nor its typed messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_on_one_node_holds_on_every_node() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3).await;
    let (bob, carol, dave) = (new_peer(), new_peer(), new_peer());
    let mut carol_seed = Peer::connect(&nodes[0]).await;
    carol_seed.init(carol).await;
    let dave_typed = Peer::connect(&nodes[0]).await;
    dave_typed.register(dave).await;
    let bob_1 = Peer::connect(&nodes[1]).await;
    let mut bob_2 = Peer::connect(&nodes[2]).await;
    bob_1.register(bob).await;
    bob_2.register(bob).await;
    for blocked in [carol, dave] {
        assert_eq!(
            bob_1.call(event::BLOCK, json!({ "peer": blocked })).await,
            json!({"status": "ok"})
        );
    }
    // The notice of the block reaches node 2 through Redis: give it a moment, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        carol_seed.seed_send(bob, "blocked?").await;
        dave_typed.call(event::TYPING, json!({ "to": bob })).await;
        dave_typed.send(bob, "typed, blocked").await;
        // A marker from someone not blocked: if the blocked ones got through, they come
        // before it.
        let marker = new_peer();
        let mut other = Peer::connect(&nodes[0]).await;
        other.init(marker).await;
        other.seed_send(bob, "marker").await;
        let incoming = bob_2.next().await;
        if incoming.data["body"] == "marker" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 still delivers what Bob blocked: {incoming:?}"
        );
        // Drain what came before the marker.
        while bob_2.next().await.data["body"] != "marker" {}
    }
}
