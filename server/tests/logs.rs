//! What the server logs: one JSON object per line with `--log-format json`, and, at info
//! level and above, never a client's secret, a message body or a whole peer id, whatever
//! the clients do (register, send, confirm, use the seed protocol, get refused).

mod fixture;

use fixture::{Peer, ServerProcess, native_peer, new_peer, secret_of, until};
use relay_shared::{
    event,
    messenger::{Status, Update},
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_without_secrets_bodies_or_peer_ids() {
    let data = tempfile::tempdir().expect("data dir");
    let server = ServerProcess::start_logging(&[
        ("RELAY_ADDR", "127.0.0.1:0".into()),
        ("RELAY_DATA_DIR", data.path().display().to_string()),
        ("RELAY_LOG", "info".into()),
        ("RELAY_LOG_FORMAT", "json".into()),
    ])
    .await;
    let (alice_id, bob_id, carol_id) = (new_peer(), new_peer(), new_peer());
    let body = "a very private body 7f3a";
    let mut alice = native_peer(&server.handle(), alice_id);
    let mut bob = native_peer(&server.handle(), bob_id);
    until(&mut bob, "bob registered", |u| {
        (u == Update::Registered).then_some(())
    })
    .await;
    let sent = alice.send(bob_id, body.into());
    until(&mut alice, "stored", |u| {
        matches!(u, Update::Status { id, status: Status::Sent { .. }, .. } if id == sent)
            .then_some(())
    })
    .await;
    until(&mut bob, "the message", |u| {
        matches!(u, Update::Received(_)).then_some(())
    })
    .await;
    bob.flush().await;
    until(&mut alice, "the receipt", |u| {
        matches!(u, Update::Status { id, status: Status::Delivered { .. }, .. } if id == sent)
            .then_some(())
    })
    .await;
    // Refusals, the seed protocol, a bad payload.
    let thief = Peer::connect(&server.handle()).await;
    let refused = thief
        .call(
            event::REGISTER,
            json!({ "id": alice_id, "secret": "the thief's own secret" }),
        )
        .await;
    assert_eq!(refused["code"], "forbidden");
    let mut carol = Peer::connect(&server.handle()).await;
    carol.init(carol_id).await;
    carol.seed_send(carol_id, body).await;
    assert_eq!(carol.expect(event::MESSAGE).await, json!(body));
    let bad = carol
        .call(event::SEND, json!({ "to": bob_id, "body": body, "id": 42 }))
        .await;
    assert_eq!(bad["status"], "rejected");
    drop((alice, bob, thief, carol));

    let logs = server.logs.clone();
    assert!(server.signal("-TERM").await, "exits cleanly");
    let logs = logs.lock().expect("logs").clone();
    assert!(
        logs.iter().any(|l| l.contains("id claimed")),
        "the claims are logged: {logs:#?}"
    );
    for line in &logs {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        for secret in [
            alice_id.to_string(),
            bob_id.to_string(),
            carol_id.to_string(),
            secret_of(alice_id),
            secret_of(bob_id),
            "the thief's own secret".into(),
            body.into(),
        ] {
            assert!(!line.contains(&secret), "{secret:?} logged: {line}");
        }
    }
}
