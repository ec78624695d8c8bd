//! Faults in a cluster: a node killed mid-traffic behind HAProxy, and Redis killed and
//! restarted. Nothing acknowledged is lost, nodes reconnect by themselves, and while
//! Redis is gone clients hear `unavailable`, never `sent`.

mod fixture;

use std::time::Duration;

use fixture::{
    Peer, ServerProcess, TestServer, haproxy::HaProxy, jitter::exchange_through_cuts_and_a_crash,
    native_peer, new_peer, redis::RedisServer, scrape::Scrape, until, within,
};
use relay_shared::{
    PeerId, event,
    messenger::{Status, Update},
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_traffic_behind_haproxy_loses_nothing() {
    let redis = RedisServer::start();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(ServerProcess::node_of(&redis).await);
    }
    let proxy = HaProxy::start([nodes[0].addr, nodes[1].addr, nodes[2].addr]);
    let mut doomed = nodes.pop();
    exchange_through_cuts_and_a_crash(proxy.addr, "1 of 3 nodes killed", || async {
        let doomed = doomed.take().expect("running");
        assert!(!doomed.signal("-KILL").await);
    })
    .await;
}

/// Sends `body` with `peer` until the reply is not `unavailable` (Redis is back, and
/// the node with it), within a deadline; returns that reply.
async fn send_once_back(peer: &Peer, to: PeerId, body: &str) -> Value {
    within("the node to reach Redis again", async {
        loop {
            let reply = peer.send(to, body).await;
            if reply["code"] != "unavailable" {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_loses_nothing_acknowledged() {
    const STORED: usize = 100;
    let mut redis = RedisServer::start();
    let node = |redis: &RedisServer| {
        let url = redis.url();
        TestServer::start_with(move |c| c.redis_url = Some(url))
    };
    let nodes = [node(&redis).await, node(&redis).await];
    let (alice_id, bob_id, carol_id, dave_id) = (new_peer(), new_peer(), new_peer(), new_peer());

    // Bob has been here (his id is claimed) and is gone; dave stays connected on node 1.
    let mut bob = native_peer(&nodes[1], bob_id);
    until(&mut bob, "bob registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    drop(bob);
    let mut dave = Peer::connect(&nodes[1]).await;
    assert_eq!(dave.register(dave_id).await["status"], "registered");

    // Alice stores 100 messages for bob, each acknowledged.
    let mut alice = native_peer(&nodes[0], alice_id);
    for i in 0..STORED {
        alice.send(bob_id, i.to_string());
    }
    let mut stored = 0;
    until(&mut alice, "100 stored", |u| {
        stored += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Sent { .. },
                ..
            }
        ));
        (stored == STORED).then_some(())
    })
    .await;
    let carol = Peer::connect(&nodes[0]).await;
    assert_eq!(carol.register(carol_id).await["status"], "registered");

    redis.kill();
    // Nothing can be stored: the sender hears it, and nothing is acknowledged.
    for attempt in 0..3 {
        let reply = carol
            .send(bob_id, &format!("during the outage {attempt}"))
            .await;
        assert_eq!(
            (&reply["status"], &reply["code"]),
            (&json!("rejected"), &json!("unavailable")),
            "{reply}"
        );
    }
    let seed = carol
        .call(
            event::MESSAGE,
            json!(format!("{dave_id}|seed during the outage")),
        )
        .await;
    assert_eq!(seed["code"], "unavailable", "{seed}");
    // The operator sees it: every refused append is an error of the store, and the
    // seed sender's answer needed the other nodes, which could not be asked.
    let scrape = Scrape::of(&nodes[0]).await;
    assert!(
        scrape.value("relay_store_errors_total", &[("op", "append")]) >= 3.0,
        "{:?}",
        scrape.0.samples
    );
    assert_eq!(
        scrape.value("relay_rejections_total", &[("code", "unavailable")]),
        4.0
    );
    assert!(scrape.value("relay_adapter_errors_total", &[]) >= 1.0);

    redis.restart();
    // The nodes reconnect by themselves.
    let after = send_once_back(&carol, bob_id, "after the outage").await;
    assert_eq!(after["status"], "sent", "{after}");
    // Dave, connected all along on the other node, gets new messages live again.
    assert_eq!(carol.send(dave_id, "live again").await["status"], "sent");
    assert_eq!(dave.expect(event::DELIVER).await["body"], "live again");

    // Bob comes back: every acknowledged message, once, in order; nothing refused.
    let mut bob = native_peer(&nodes[1], bob_id);
    let mut received = Vec::new();
    until(&mut bob, "everything acknowledged", |u| {
        if let Update::Received(envelope) = u {
            received.push(envelope.body);
        }
        (received.len() == STORED + 1).then_some(())
    })
    .await;
    let mut expected: Vec<String> = (0..STORED).map(|i| i.to_string()).collect();
    expected.push("after the outage".into());
    let mut got = received.clone();
    got.sort_by_key(|b| {
        if b.starts_with("after") {
            usize::MAX
        } else {
            b.parse().unwrap_or(0)
        }
    });
    assert_eq!(got, expected, "{received:?}");
    let alices: Vec<&String> = received
        .iter()
        .filter(|b| !b.starts_with("after"))
        .collect();
    assert!(
        alices
            .windows(2)
            .all(|w| w[0].parse::<usize>().ok() < w[1].parse().ok()),
        "alice's messages in the order sent: {alices:?}"
    );
    bob.flush().await;
    // Alice, connected all along, hears each was delivered.
    let mut delivered = 0;
    until(&mut alice, "100 receipts", |u| {
        delivered += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Delivered { .. },
                ..
            }
        ));
        (delivered == STORED).then_some(())
    })
    .await;
}
