//! End-to-end encrypted messages over TCP: Alice's device publishes its keys, claims
//! Bob's, encrypts with the real Olm core and sends `{"to", "id", "encrypted"}`; Bob's
//! device gets a `deliver` with the same `encrypted` and decrypts it, online or after
//! being offline. The server's files never hold the text. Bad input (a body and an
//! encrypted body, neither, a malformed or oversized `encrypted`) is refused, and
//! nothing of it is kept.

mod fixture;

use fixture::{Peer, TestServer, files_contain, new_peer, redis::RedisServer};
use relay_shared::{
    Envelope, MessageId, PeerId, SendReply,
    crypto::{Crypto, Plaintext},
    device::DeviceId,
    encrypted::Encrypted,
    event,
    keys::{ClaimKeysReply, Curve25519Key, KeysReply},
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

/// The next `deliver` (past notices of devices and the like), which must carry
/// `encrypted`.
async fn delivered(socket: &mut Peer) -> Envelope {
    let data = socket.next_of(event::DELIVER).await;
    let envelope: Envelope = serde_json::from_value(data.clone()).expect("an envelope");
    assert_eq!(envelope.body, "", "{data}");
    assert!(envelope.encrypted.is_some(), "{data}");
    envelope
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

/// An `encrypted` from `sender_key` that passes the shape check, with `count`
/// ciphertexts of `body_bytes` base64 characters each, for devices of `peers`.
fn encrypted_json(
    sender_key: &Curve25519Key,
    recipient_key: &Curve25519Key,
    peers: &[PeerId],
    count: usize,
    body_bytes: usize,
) -> Value {
    let ciphertexts: Vec<Value> = (0..count)
        .map(|n| {
            json!({
                "peer": peers[n / 5],
                "device": n % 5,
                "key": recipient_key,
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
    let mut alice_crypto = Crypto::new(alice, DeviceId::FIRST);
    publish(&a, &mut alice_crypto).await;
    let mut b = registered(&server, bob).await;
    let mut bob_crypto = Crypto::new(bob, DeviceId::FIRST);
    publish(&b, &mut bob_crypto).await;
    let key = alice_crypto.curve25519_key();
    let bob_key = bob_crypto.curve25519_key();
    let peers = [bob, alice, carol];
    let good = encrypted_json(&key, &bob_key, &peers, 1, 8);
    let someone_else = Crypto::new(new_peer(), DeviceId::FIRST).curve25519_key();
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
            json!({ "to": bob, "encrypted": encrypted_json(&key, &bob_key, &peers, 11, 4) }),
            "invalid_payload",
        ),
        (
            "a sender key that is no key",
            json!({ "to": bob, "encrypted": with(&|v| v["sender_key"] = json!("abc")) }),
            "invalid_payload",
        ),
        (
            "another device's sender key",
            json!({ "to": bob, "encrypted": with(&|v| v["sender_key"] = json!(someone_else)) }),
            "invalid_payload",
        ),
        (
            "encrypted as another device of the sender",
            json!({ "to": bob, "encrypted": with(&|v| v["sender_device"] = json!(1)) }),
            "invalid_payload",
        ),
        (
            "a ciphertext for a third person",
            json!({ "to": bob, "encrypted": with(&|v| v["ciphertexts"][0]["peer"] = json!(carol)) }),
            "invalid_payload",
        ),
        (
            "not for the recipient's device that has keys",
            json!({ "to": bob, "encrypted": with(&|v| v["ciphertexts"][0]["device"] = json!(2)) }),
            "devices_changed",
        ),
        (
            "for keys bob's device no longer has",
            json!({ "to": bob, "encrypted": with(&|v| v["ciphertexts"][0]["key"] = json!(someone_else)) }),
            "devices_changed",
        ),
        (
            "to someone with no keys",
            json!({ "to": carol, "encrypted": with(&|v| v["ciphertexts"][0]["peer"] = json!(carol)) }),
            "devices_changed",
        ),
        (
            "encrypted JSON over the body limit",
            json!({ "to": bob, "encrypted": encrypted_json(&key, &bob_key, &peers, 2, 600) }),
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
    let first = b.expect(event::DELIVER).await;
    assert_eq!(first["encrypted"], good, "{first}");
    assert_eq!(first["body"], "", "{first}");
    let second = b.expect(event::DELIVER).await;
    assert_eq!(second["body"], "plain", "{second}");
}

/// Sends `encrypted` and returns the refusal's code, or "sent".
async fn send_status(socket: &Peer, to: PeerId, id: MessageId, encrypted: &Encrypted) -> String {
    let ack = socket
        .call(
            event::SEND,
            json!({ "to": to, "id": id, "encrypted": encrypted }),
        )
        .await;
    match ack["status"].as_str() {
        Some("sent") => "sent".into(),
        _ => ack["code"].as_str().unwrap_or("no code").into(),
    }
}

/// `text` from `sender` to `to` as message `id`, encrypted for `to`'s devices and the
/// sender's own others, as far as `sender` knows them.
fn encrypt_for_all(sender: &mut Crypto, to: PeerId, id: MessageId, text: &str) -> Encrypted {
    let me = sender.id();
    let plaintext = Plaintext {
        from: me,
        to,
        id,
        text: text.into(),
    };
    let mine: Vec<DeviceId> = sender
        .known_devices(me)
        .into_iter()
        .filter(|d| *d != sender.device())
        .collect();
    let recipients = [(to, sender.known_devices(to)), (me, mine)];
    sender
        .encrypt(&plaintext, &recipients)
        .expect("a session with every device")
}

/// The `Crypto` of `device` of `id`, sharing the person's identity key `identity`.
fn device_crypto(id: PeerId, device: u64, identity: &vodozemac::Ed25519SecretKey) -> Crypto {
    let device = DeviceId::new(u8::try_from(device).expect("a small number")).expect("a device");
    let identity = vodozemac::Ed25519SecretKey::from_slice(&identity.to_bytes());
    Crypto::with_identity(id, device, identity)
}

/// The SQLite store checks an encrypted message in the step that appends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_message_must_be_for_every_device_with_keys_now() {
    for_every_device_with_keys_now(TestServer::start().await).await;
}

/// On Redis, `send` checks it against the directory before the append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_message_must_be_for_every_device_with_keys_now_on_redis() {
    let redis = RedisServer::start();
    for_every_device_with_keys_now(
        TestServer::start_with(|c| c.redis_url = Some(redis.url())).await,
    )
    .await;
}

async fn for_every_device_with_keys_now(server: TestServer) {
    let (alice, bob) = (new_peer(), new_peer());
    let (alice_identity, bob_identity) = (
        vodozemac::Ed25519SecretKey::new(),
        vodozemac::Ed25519SecretKey::new(),
    );
    let a0 = registered(&server, alice).await;
    let mut a0_crypto = device_crypto(alice, 0, &alice_identity);
    publish(&a0, &mut a0_crypto).await;
    let mut b0 = registered(&server, bob).await;
    let mut b0_crypto = device_crypto(bob, 0, &bob_identity);
    publish(&b0, &mut b0_crypto).await;
    connect(&a0, &mut a0_crypto, bob).await;

    // Bob links a second device after Alice learned his keys: her message, for his
    // first device only, is refused until she learns them again.
    let (mut b1, device) = b0
        .link_new_device(&server, bob, "bob-laptop-secret-000")
        .await;
    let mut b1_crypto = device_crypto(bob, device, &bob_identity);
    publish(&b1, &mut b1_crypto).await;
    let id = message_id();
    let stale = encrypt_for_all(&mut a0_crypto, bob, id, "hello both of you");
    assert_eq!(send_status(&a0, bob, id, &stale).await, "devices_changed");
    connect(&a0, &mut a0_crypto, bob).await;
    let fresh = encrypt_for_all(&mut a0_crypto, bob, id, "hello both of you");
    assert_eq!(send_status(&a0, bob, id, &fresh).await, "sent");
    for (socket, crypto) in [(&mut b0, &mut b0_crypto), (&mut b1, &mut b1_crypto)] {
        let envelope = delivered(socket).await;
        assert_eq!(envelope.id, id);
        learn(socket, crypto, alice).await;
        let opened = crypto
            .decrypt(
                alice,
                bob,
                id,
                envelope.encrypted.as_ref().expect("encrypted"),
            )
            .expect("each of bob's devices reads it");
        assert_eq!(opened.text, "hello both of you");
    }

    // Alice links a second device: her next message must be for it too.
    let (mut a1, device) = a0
        .link_new_device(&server, alice, "alice-laptop-secret-0")
        .await;
    let mut a1_crypto = device_crypto(alice, device, &alice_identity);
    publish(&a1, &mut a1_crypto).await;
    let id = message_id();
    let stale = encrypt_for_all(&mut a0_crypto, bob, id, "from my phone");
    assert_eq!(send_status(&a0, bob, id, &stale).await, "devices_changed");
    connect(&a0, &mut a0_crypto, alice).await;
    let fresh = encrypt_for_all(&mut a0_crypto, bob, id, "from my phone");
    assert_eq!(send_status(&a0, bob, id, &fresh).await, "sent");
    let copy = delivered(&mut a1).await;
    assert_eq!((copy.id, copy.to), (id, bob));
    learn(&a1, &mut a1_crypto, alice).await;
    let opened = a1_crypto
        .decrypt(alice, bob, id, copy.encrypted.as_ref().expect("encrypted"))
        .expect("alice's other device reads her copy");
    assert_eq!(opened.text, "from my phone");

    // Bob unlinks his second device: a message still for it is refused too.
    let ack = b0.call(event::UNLINK, json!({ "device": 1 })).await;
    assert_eq!(ack["status"], "ok", "{ack}");
    let id = message_id();
    let stale = encrypt_for_all(&mut a0_crypto, bob, id, "are you still there?");
    assert_eq!(send_status(&a0, bob, id, &stale).await, "devices_changed");
    learn(&a0, &mut a0_crypto, bob).await;
    let fresh = encrypt_for_all(&mut a0_crypto, bob, id, "are you still there?");
    assert_eq!(fresh.devices(bob).len(), 1);
    assert_eq!(send_status(&a0, bob, id, &fresh).await, "sent");
    server.stop().await;
}
