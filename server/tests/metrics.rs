//! `GET /metrics`: parsed by a Prometheus text parser, and checked against the traffic
//! the test sent.

mod fixture;

use fixture::{Peer, TestServer, native_peer, new_peer, scrape::Scrape, until, within};
use relay_shared::{
    event,
    messenger::{Status, Update},
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_was_sent() {
    const MESSAGES: usize = 25;
    let server = TestServer::start().await;
    let (alice_id, bob_id, carol_id) = (new_peer(), new_peer(), new_peer());
    let mut bob = native_peer(&server, bob_id);
    until(&mut bob, "bob registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    let mut alice = native_peer(&server, alice_id);
    for n in 0..MESSAGES {
        alice.send(bob_id, n.to_string());
    }
    let mut stored = 0;
    until(&mut alice, "stored", |u| {
        stored += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Sent { .. },
                ..
            }
        ));
        (stored == MESSAGES).then_some(())
    })
    .await;
    let mut received = 0;
    until(&mut bob, "received", |u| {
        received += usize::from(matches!(u, Update::Received(_)));
        (received == MESSAGES).then_some(())
    })
    .await;
    bob.flush().await;
    let mut delivered = 0;
    until(&mut alice, "receipts", |u| {
        delivered += usize::from(matches!(
            u,
            Update::Status {
                status: Status::Delivered { .. },
                ..
            }
        ));
        (delivered == MESSAGES).then_some(())
    })
    .await;
    // A refusal, a bad payload, and the seed protocol.
    let thief = Peer::connect(&server).await;
    let refused = thief
        .call(
            event::REGISTER,
            json!({ "id": alice_id, "secret": "not-the-right-one" }),
        )
        .await;
    assert_eq!(refused["code"], "forbidden");
    let bad = thief.call(event::SEND, json!({ "to": 42 })).await;
    assert_eq!(bad["code"], "invalid_payload");
    let mut carol = Peer::connect(&server).await;
    carol.init(carol_id).await;
    carol.seed_send(carol_id, "echo").await;
    assert_eq!(carol.expect(event::MESSAGE).await, json!("echo"));

    let scrape = within("the figures to settle", async {
        loop {
            let scrape = Scrape::of(&server).await;
            if scrape.value("relay_store_pending_operations", &[]) == 0.0 {
                return scrape;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let n = MESSAGES as f64;
    let events = |event: &str, outcome: &str| {
        scrape.value(
            "relay_events_total",
            &[("event", event), ("outcome", outcome)],
        )
    };
    assert_eq!(events("send", "ok"), n);
    assert_eq!(events("register", "ok"), 2.0);
    assert_eq!(events("register", "forbidden"), 1.0);
    assert_eq!(events("send", "invalid_payload"), 1.0);
    assert_eq!(events("init", "ok"), 1.0);
    assert_eq!(events("message", "ok"), 1.0);
    assert!(events("received", "ok") >= 1.0);
    let messages = |kind: &str| scrape.value("relay_messages_total", &[("kind", kind)]);
    assert_eq!(messages("stored"), n);
    assert_eq!(messages("delivered"), n);
    assert_eq!(messages("confirmed"), n);
    assert_eq!(messages("relayed"), 1.0);
    assert_eq!(scrape.value("relay_receipts_delivered_total", &[]), n);
    assert_eq!(
        scrape.value("relay_rejections_total", &[("code", "forbidden")]),
        1.0
    );
    assert_eq!(
        scrape.value("relay_sockets", &[("transport", "websocket")]),
        4.0,
        "alice, bob, the thief, carol"
    );
    assert_eq!(
        scrape.value("relay_registered_sockets", &[("protocol", "typed")]),
        2.0
    );
    assert_eq!(
        scrape.value("relay_registered_sockets", &[("protocol", "seed")]),
        1.0
    );
    let appends = scrape.observations("relay_store_operation_seconds", &[("op", "append")]);
    assert_eq!(appends, Some(n), "every append timed");

    drop((alice, bob));
    thief.disconnect().await;
    carol.disconnect().await;
    let after = within("the sockets to be counted out", async {
        loop {
            let scrape = Scrape::of(&server).await;
            if scrape.value("relay_sockets", &[("transport", "websocket")]) == 0.0 {
                return scrape;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        after.value("relay_registered_sockets", &[("protocol", "typed")]),
        0.0
    );
}
