//! The key directory of end-to-end encryption over TCP with a real client: a device
//! publishes its keys, another person lists and claims them (each one-time key once,
//! then the fallback key), on one node (SQLite) and across two nodes sharing Redis. Bad
//! input for every new event: forged signatures, keys for another id or device,
//! oversized lists, malformed payloads; none of it kept.

mod fixture;

use fixture::{Peer, ServerProcess, TestServer, keys::KeyMaker, new_peer, redis::RedisServer};
use relay_shared::{
    PeerId,
    device::DeviceId,
    event,
    keys::{ClaimKeysReply, KeyKind, KeysReply, MAX_ONE_TIME_KEYS, MAX_ONE_TIME_KEYS_PER_UPLOAD},
};
use serde_json::{Value, json};

/// Registers a typed socket of `id` (its first device).
async fn registered(server: &TestServer, id: PeerId) -> Peer {
    let peer = Peer::connect(server).await;
    let ack = peer.register(id).await;
    assert_eq!(ack["status"], "registered", "{ack}");
    peer
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serializable")
}

/// `bob` on `b_node` claims what `alice` published on `a_node`.
async fn publish_and_claim(a_node: &TestServer, b_node: &TestServer) {
    let (alice, bob) = (new_peer(), new_peer());
    let phone = registered(a_node, alice).await;
    let mut keys = KeyMaker::new(alice, DeviceId::FIRST);
    let published = keys.publish(3, true);
    let ack = phone.call(event::PUBLISH_KEYS, to_json(&published)).await;
    assert_eq!(ack, json!({"status": "ok", "one_time_keys": 3}));

    let bob_socket = registered(b_node, bob).await;
    let listed = bob_socket.call(event::KEYS, json!({"id": alice})).await;
    let listed: KeysReply = serde_json::from_value(listed).expect("a keys reply");
    let KeysReply::Ok { id, devices } = listed else {
        panic!("{listed:?}");
    };
    assert_eq!(id, alice);
    assert_eq!(devices.len(), 1);
    let device_keys = devices[0].keys.clone().expect("published");
    assert_eq!(device_keys, keys.device_keys());
    device_keys
        .verify(alice, DeviceId::FIRST)
        .expect("signatures hold");

    let mut claimed_ids = Vec::new();
    for _ in 0..5 {
        let reply = bob_socket
            .call(event::CLAIM_KEYS, json!({"id": alice, "devices": [0]}))
            .await;
        let reply: ClaimKeysReply = serde_json::from_value(reply).expect("a claim reply");
        let ClaimKeysReply::Ok { keys: claimed, .. } = reply else {
            panic!("{reply:?}");
        };
        let [key] = &claimed[..] else {
            panic!("{claimed:?}");
        };
        key.verify(alice)
            .expect("the claimed key is alice's device's");
        let one_time = key.one_time_key.as_ref().expect("a key");
        claimed_ids.push((one_time.key_id.to_string(), key.fallback));
    }
    let fallback = published
        .fallback_key
        .expect("published")
        .key_id
        .to_string();
    let expected = [
        (published.one_time_keys[0].key_id.to_string(), false),
        (published.one_time_keys[1].key_id.to_string(), false),
        (published.one_time_keys[2].key_id.to_string(), false),
        (fallback.clone(), true),
        (fallback, true),
    ];
    assert_eq!(
        claimed_ids, expected,
        "each one-time key once, then the fallback"
    );

    // The phone tops its stock up; the next claim gets a fresh one-time key.
    let more = keys.publish(2, false);
    let ack = phone.call(event::PUBLISH_KEYS, to_json(&more)).await;
    assert_eq!(ack["one_time_keys"], 2, "{ack}");
    let reply = bob_socket
        .call(
            event::CLAIM_KEYS,
            json!({"id": alice, "devices": [0, 0, 3]}),
        )
        .await;
    assert_eq!(reply["keys"].as_array().map(Vec::len), Some(1), "{reply}");
    assert_eq!(reply["keys"][0]["fallback"], false);
    assert_eq!(
        reply["keys"][0]["one_time_key"]["key_id"],
        json!(more.one_time_keys[0].key_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_publishes_its_keys_and_others_claim_each_once() {
    let server = TestServer::start().await;
    publish_and_claim(&server, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_published_on_one_node_are_claimed_on_another() {
    let redis = RedisServer::start();
    let a = ServerProcess::node_of(&redis).await;
    let b = ServerProcess::node_of(&redis).await;
    publish_and_claim(&a.handle(), &b.handle()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_events_get_clear_errors_and_change_nothing() {
    let server = TestServer::start().await;
    let (alice, mallory) = (new_peer(), new_peer());
    let unregistered = Peer::connect(&server).await;
    let mut keys = KeyMaker::new(alice, DeviceId::FIRST);
    for (name, data) in [
        (event::PUBLISH_KEYS, to_json(&keys.publish(1, false))),
        (event::KEYS, json!({"id": alice})),
        (event::CLAIM_KEYS, json!({"id": alice, "devices": [0]})),
    ] {
        let ack = unregistered.call(name, data).await;
        assert_eq!(ack["code"], "not_registered", "{name}: {ack}");
    }

    let phone = registered(&server, alice).await;
    let attacker = registered(&server, mallory).await;
    let good = keys.publish(2, true);
    let mut swapped = good.clone();
    swapped.one_time_keys[1].key = fixture::keys::curve25519();
    let mut relabelled = good.clone();
    relabelled.fallback_key = Some(keys.key(KeyKind::OneTime));
    let mut foreign_identity = good.clone();
    foreign_identity.device_keys.identity =
        KeyMaker::new(alice, DeviceId::FIRST).device_keys().identity;
    let second_device = KeyMaker::new(alice, DeviceId::new(1).expect("a device")).publish(1, false);
    let mut too_many = KeyMaker::new(alice, DeviceId::FIRST);
    let too_many = too_many.publish(MAX_ONE_TIME_KEYS_PER_UPLOAD + 1, false);
    let mut duplicated = good.clone();
    duplicated.one_time_keys[1] = duplicated.one_time_keys[0].clone();
    let mut bad_key = to_json(&good);
    bad_key["device_keys"]["curve25519"] = json!("not base64!");
    let mut short_signature = to_json(&good);
    short_signature["one_time_keys"][0]["signature"] = json!("AAAA");
    let mut long_key_id = to_json(&good);
    long_key_id["one_time_keys"][0]["key_id"] = json!("k".repeat(17));
    for (what, data, says) in [
        ("a number", json!(42), "publish_keys"),
        (
            "no device keys",
            json!({"one_time_keys": []}),
            "device_keys",
        ),
        (
            "a one-time key swapped",
            to_json(&swapped),
            "one_time_keys[1]",
        ),
        (
            "a one-time key as fallback",
            to_json(&relabelled),
            "fallback_key",
        ),
        ("another identity", to_json(&foreign_identity), "identity"),
        (
            "another device's keys",
            to_json(&second_device),
            "device keys",
        ),
        ("too many at once", to_json(&too_many), "at most"),
        ("a key id twice", to_json(&duplicated), "same key_id"),
        ("a key not in base64", bad_key, "Curve25519"),
        ("a short signature", short_signature, "signature"),
        ("a long key id", long_key_id, "key id"),
    ] {
        let ack = phone.call(event::PUBLISH_KEYS, data).await;
        assert_eq!(ack["code"], "invalid_payload", "{what}: {ack}");
        let message = ack["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
    }
    // Alice's keys published by someone else's socket: signed for alice, not for mallory.
    let ack = attacker.call(event::PUBLISH_KEYS, to_json(&good)).await;
    assert_eq!(ack["code"], "invalid_payload", "{ack}");
    let listed = attacker.call(event::KEYS, json!({"id": alice})).await;
    assert_eq!(
        listed,
        json!({"status": "ok", "id": alice, "devices": [{"device": 0}]}),
        "nothing kept"
    );

    for (name, data, code) in [
        (event::KEYS, json!("alice"), "invalid_payload"),
        (event::KEYS, json!({"id": "nope"}), "invalid_peer_id"),
        (
            event::CLAIM_KEYS,
            json!({"id": alice, "devices": [9]}),
            "invalid_payload",
        ),
        (
            event::CLAIM_KEYS,
            json!({"id": alice, "devices": "all"}),
            "invalid_payload",
        ),
    ] {
        let ack = attacker.call(name, data).await;
        assert_eq!(ack["code"], code, "{name}: {ack}");
    }

    // The stock is bounded: a publish above it is refused and changes nothing.
    for _ in 0..MAX_ONE_TIME_KEYS / 50 {
        let ack = phone
            .call(event::PUBLISH_KEYS, to_json(&keys.publish(50, false)))
            .await;
        assert_eq!(ack["status"], "ok", "{ack}");
    }
    let ack = phone
        .call(event::PUBLISH_KEYS, to_json(&keys.publish(1, false)))
        .await;
    assert_eq!(ack["code"], "limit_reached", "{ack}");
    let ack = phone
        .call(event::PUBLISH_KEYS, to_json(&keys.publish(0, false)))
        .await;
    assert_eq!(
        ack,
        json!({"status": "ok", "one_time_keys": MAX_ONE_TIME_KEYS})
    );

    // The server still serves everyone.
    let listed = attacker.call(event::KEYS, json!({"id": alice})).await;
    assert_eq!(listed["devices"][0]["keys"], to_json(&keys.device_keys()));
}
