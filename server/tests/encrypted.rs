//! End-to-end encrypted messages over TCP: Alice's device publishes its keys, claims
//! Bob's, encrypts with the real Olm core and sends `{"to", "id", "encrypted"}`; Bob's
//! device gets a `deliver` with the same `encrypted` and decrypts it, online or after
//! being offline. The server's files never hold the text. Bad input (a body and an
//! encrypted body, neither, a malformed or oversized `encrypted`) is refused, and
//! nothing of it is kept.

mod fixture;

use std::path::Path;

use fixture::{Peer, TestServer, new_peer};
use relay_shared::{
    Envelope, MessageId, PeerId, SendReply,
    crypto::{Crypto, Plaintext},
    device::DeviceId,
    encrypted::Encrypted,
    event,
    keys::{ClaimKeysReply, KeysReply},
};
use serde_json::{Value, json};

/// Registers a typed socket of `id` (its first device).
async fn registered(server: &TestServer, id: PeerId) -> Peer {
    let peer = Peer::connect(server).await;
    let ack = peer.register(id).await;
    assert_eq!(ack["status"], "registered", "{ack}");
    peer
}

/// Publishes what `crypto` has to publish from its registered socket.
async fn publish(socket: &Peer, crypto: &mut Crypto) {
    let request = crypto.publish_request(None).expect("keys to publish");
    let ack = socket
        .call(
            event::PUBLISH_KEYS,
            serde_json::to_value(&request).expect("serializable"),
        )
        .await;
    assert_eq!(ack["status"], "ok", "{ack}");
    crypto.published();
}

/// Makes `me` know `id`'s devices and keys, as the server lists them.
async fn learn(socket: &Peer, me: &mut Crypto, id: PeerId) {
    let listed = socket.call(event::KEYS, json!({ "id": id })).await;
    let KeysReply::Ok { devices, .. } = serde_json::from_value(listed).expect("a keys reply")
    else {
        panic!("keys refused");
    };
    me.learn(id, &devices).expect("valid keys");
}

/// Makes `me` ready to write to `id`: learns `id`'s keys from the server and starts a
/// session with each of its devices.
async fn connect(socket: &Peer, me: &mut Crypto, id: PeerId) {
    learn(socket, me, id).await;
    let missing = me.missing_sessions(id);
    let claimed = socket
        .call(event::CLAIM_KEYS, json!({ "id": id, "devices": missing }))
        .await;
    let ClaimKeysReply::Ok { keys, .. } = serde_json::from_value(claimed).expect("a claim reply")
    else {
        panic!("claim refused");
    };
    me.add_claimed(id, &keys).expect("valid claimed keys");
}

/// `text` from `sender` to `to` as message `id`, encrypted for `to`'s devices.
fn encrypt(sender: &mut Crypto, to: PeerId, id: MessageId, text: &str) -> Encrypted {
    let plaintext = Plaintext {
        from: sender.id(),
        to,
        id,
        text: text.into(),
    };
    let recipients = [(to, sender.known_devices(to))];
    sender
        .encrypt(&plaintext, &recipients)
        .expect("a session with every device")
}

fn message_id() -> MessageId {
    MessageId::from_uuid(uuid::Uuid::new_v4())
}

/// Sends an encrypted message and checks it was stored.
async fn send_encrypted(socket: &Peer, to: PeerId, id: MessageId, encrypted: &Encrypted) {
    let ack = socket
        .call(
            event::SEND,
            json!({ "to": to, "id": id, "encrypted": encrypted }),
        )
        .await;
    let reply: SendReply = serde_json::from_value(ack.clone()).expect("a send reply");
    assert!(matches!(reply, SendReply::Sent { .. }), "{ack}");
}

/// The next `deliver`, which must carry `encrypted`.
async fn delivered(socket: &mut Peer) -> Envelope {
    let data = socket.expect(event::DELIVER).await;
    let envelope: Envelope = serde_json::from_value(data.clone()).expect("an envelope");
    assert_eq!(envelope.body, "", "{data}");
    assert!(envelope.encrypted.is_some(), "{data}");
    envelope
}

/// Whether any file under `dir` (the database, its WAL, whatever else) holds `needle`.
fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir)
        .expect("a readable directory")
        .any(|entry| {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files_contain(&path, needle)
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                bytes.windows(needle.len()).any(|window| window == needle)
            }
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_message_reaches_its_recipient_online_or_later_and_the_server_cannot_read_it()
{
    let data = tempfile::tempdir().expect("a data directory");
    let dir = data.path().to_owned();
    let server = TestServer::start_with(|config| config.data_dir = dir).await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut alice_crypto = Crypto::new(alice, DeviceId::FIRST);
    let mut bob_crypto = Crypto::new(bob, DeviceId::FIRST);
    let a = registered(&server, alice).await;
    let mut b = registered(&server, bob).await;
    publish(&a, &mut alice_crypto).await;
    publish(&b, &mut bob_crypto).await;
    connect(&a, &mut alice_crypto, bob).await;
    learn(&b, &mut bob_crypto, alice).await;

    // Bob online.
    let online_text = "meet me at the old mill at nine";
    let id = message_id();
    let encrypted = encrypt(&mut alice_crypto, bob, id, online_text);
    send_encrypted(&a, bob, id, &encrypted).await;
    let envelope = delivered(&mut b).await;
    assert_eq!((envelope.id, envelope.from, envelope.to), (id, alice, bob));
    assert_eq!(envelope.encrypted.as_ref(), Some(&encrypted));
    let opened = bob_crypto
        .decrypt(alice, bob, id, &encrypted)
        .expect("bob decrypts it");
    assert_eq!(opened.text, online_text);

    // Bob offline: the message is stored, then delivered when he registers again.
    b.disconnect().await;
    let offline_text = "bring the blue folder, not the red one";
    let later = message_id();
    let stored = encrypt(&mut alice_crypto, bob, later, offline_text);
    send_encrypted(&a, bob, later, &stored).await;
    let mut b = Peer::connect(&server).await;
    let ack = b.register(bob).await;
    assert_eq!(ack["status"], "registered", "{ack}");
    // The first message was never confirmed: it comes again, then the new one.
    let again = delivered(&mut b).await;
    assert_eq!(again.id, id);
    let envelope = delivered(&mut b).await;
    assert_eq!(envelope.id, later);
    let opened = bob_crypto
        .decrypt(
            alice,
            bob,
            later,
            envelope.encrypted.as_ref().expect("encrypted"),
        )
        .expect("bob decrypts what waited");
    assert_eq!(opened.text, offline_text);

    // A plain message, left waiting too, so that the search below can find something.
    let plain_text = "this one is plain text for everyone";
    let ack = a.send(bob, plain_text).await;
    assert_eq!(ack["status"], "sent", "{ack}");
    let plain = b.expect(event::DELIVER).await;
    assert_eq!(plain["body"], plain_text);
    assert!(plain.get("encrypted").is_none(), "{plain}");

    assert!(
        files_contain(data.path(), plain_text.as_bytes()),
        "the plain message is in the server's files"
    );
    assert!(
        files_contain(data.path(), stored.ciphertexts[0].body.as_bytes()),
        "the ciphertext waiting for bob is in the server's files"
    );
    for text in [online_text, offline_text] {
        assert!(
            !files_contain(data.path(), text.as_bytes()),
            "the server's files hold {text:?}"
        );
    }
    server.stop().await;
}

/// An `encrypted` that passes the shape check, with `count` ciphertexts of
/// `body_bytes` base64 characters each, for devices of `peers`.
fn encrypted_json(peers: &[PeerId], count: usize, body_bytes: usize) -> Value {
    let sender_key = Crypto::new(new_peer(), DeviceId::FIRST).curve25519_key();
    let ciphertexts: Vec<Value> = (0..count)
        .map(|n| {
            json!({
                "peer": peers[n / 5],
                "device": n % 5,
                "kind": 1,
                "body": "A".repeat(body_bytes),
            })
        })
        .collect();
    json!({ "sender_device": 0, "sender_key": sender_key, "ciphertexts": ciphertexts })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_encrypted_sends_are_refused_and_nothing_is_kept() {
    let server = TestServer::start_with(|config| config.max_body_bytes = 1000).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    let a = registered(&server, alice).await;
    let peers = [bob, alice, carol];
    let good = encrypted_json(&peers, 1, 8);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut value = good.clone();
        edit(&mut value);
        value
    };
    let cases = [
        (
            "both a body and encrypted",
            json!({ "to": bob, "body": "hi", "encrypted": good }),
            "invalid_payload",
        ),
        ("neither", json!({ "to": bob }), "invalid_payload"),
        (
            "bad base64",
            json!({ "to": bob, "encrypted": with(&|v| v["ciphertexts"][0]["body"] = json!("not base64!")) }),
            "invalid_payload",
        ),
        (
            "kind 7",
            json!({ "to": bob, "encrypted": with(&|v| v["ciphertexts"][0]["kind"] = json!(7)) }),
            "invalid_payload",
        ),
        (
            "a device twice",
            json!({ "to": bob, "encrypted": with(&|v| {
                let first = v["ciphertexts"][0].clone();
                v["ciphertexts"].as_array_mut().expect("a list").push(first);
            }) }),
            "invalid_payload",
        ),
        (
            "too many ciphertexts",
            json!({ "to": bob, "encrypted": encrypted_json(&peers, 11, 4) }),
            "invalid_payload",
        ),
        (
            "a sender key that is no key",
            json!({ "to": bob, "encrypted": with(&|v| v["sender_key"] = json!("abc")) }),
            "invalid_payload",
        ),
        (
            "encrypted JSON over the body limit",
            json!({ "to": bob, "encrypted": encrypted_json(&peers, 2, 600) }),
            "body_too_large",
        ),
    ];
    for (what, payload, code) in cases {
        let ack = a.call(event::SEND, payload).await;
        assert_eq!(ack["status"], "rejected", "{what}: {ack}");
        assert_eq!(ack["code"], code, "{what}: {ack}");
        assert!(
            ack["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {ack}"
        );
    }
    // A body "" with a well-formed encrypted one is fine.
    let ack = a
        .call(
            event::SEND,
            json!({ "to": bob, "body": "", "encrypted": good }),
        )
        .await;
    assert_eq!(ack["status"], "sent", "{ack}");
    let ack = a.send(bob, "plain").await;
    assert_eq!(ack["status"], "sent", "{ack}");

    // Bob gets the two accepted ones and nothing else.
    let mut b = registered(&server, bob).await;
    let first = b.expect(event::DELIVER).await;
    assert_eq!(first["encrypted"], good, "{first}");
    assert_eq!(first["body"], "", "{first}");
    let second = b.expect(event::DELIVER).await;
    assert_eq!(second["body"], "plain", "{second}");
}
