//! End-to-end encryption from device to device, with no I/O: Alice and Bob, two devices
//! each, publish their keys to a pretend key directory, learn each other's, claim keys,
//! and write to each other and to their own other devices.

use std::collections::{BTreeMap, VecDeque};

use relay_shared::{
    MessageId, PeerId,
    crypto::{Crypto, CryptoError, Plaintext, Trust, safety_number},
    device::DeviceId,
    encrypted::{Encrypted, NORMAL, PRE_KEY},
    keys::{
        ClaimedKey, DeviceKeys, DeviceKeysEntry, MAX_ONE_TIME_KEYS, MAX_ONE_TIME_KEYS_PER_UPLOAD,
        OneTimeKey,
    },
};
use vodozemac::Ed25519SecretKey;

const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
const BOB: &str = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";

fn alice() -> PeerId {
    ALICE.parse().expect("a valid peer id")
}

fn bob() -> PeerId {
    BOB.parse().expect("a valid peer id")
}

fn peer(n: u32) -> PeerId {
    format!("00000000-0000-4000-8000-{n:012x}")
        .parse()
        .expect("a valid peer id")
}

fn message_id(n: u32) -> MessageId {
    format!("00000000-0000-4000-9000-{n:012x}")
        .parse()
        .expect("a valid message id")
}

fn device(n: u8) -> DeviceId {
    DeviceId::new(n).expect("a device number")
}

/// `count` devices of one new person, sharing one identity key.
fn person(id: PeerId, count: u8) -> Vec<Crypto> {
    let identity = Ed25519SecretKey::new();
    (0..count)
        .map(|n| {
            let copy = Ed25519SecretKey::from_slice(&identity.to_bytes());
            Crypto::with_identity(id, device(n), copy)
        })
        .collect()
}

/// What the directory keeps of one device.
struct Published {
    device_keys: DeviceKeys,
    one_time_keys: VecDeque<OneTimeKey>,
    fallback_key: Option<OneTimeKey>,
}

/// A pretend key directory, keeping what the server keeps, by its rules.
#[derive(Default)]
struct Directory(BTreeMap<(PeerId, DeviceId), Published>);

impl Directory {
    /// How many one-time keys it keeps for a device, if it knows it.
    fn kept(&self, crypto: &Crypto) -> Option<u32> {
        self.0
            .get(&(crypto.id(), crypto.device()))
            .map(|p| u32::try_from(p.one_time_keys.len()).expect("a small count"))
    }

    /// Publishes what the device has to publish, checked as the server checks it.
    fn publish(&mut self, crypto: &mut Crypto) {
        let kept = self.kept(crypto);
        let Some(request) = crypto.publish_request(kept) else {
            return;
        };
        let (id, device) = (crypto.id(), crypto.device());
        request
            .verify(id, device)
            .expect("a publish the server accepts");
        assert!(request.one_time_keys.len() <= MAX_ONE_TIME_KEYS_PER_UPLOAD);
        let published = self.0.entry((id, device)).or_insert_with(|| Published {
            device_keys: request.device_keys.clone(),
            one_time_keys: VecDeque::new(),
            fallback_key: None,
        });
        if published.device_keys != request.device_keys {
            *published = Published {
                device_keys: request.device_keys.clone(),
                one_time_keys: VecDeque::new(),
                fallback_key: None,
            };
        }
        for key in request.one_time_keys {
            if published
                .one_time_keys
                .iter()
                .all(|k| k.key_id != key.key_id)
            {
                published.one_time_keys.push_back(key);
            }
        }
        assert!(published.one_time_keys.len() <= MAX_ONE_TIME_KEYS as usize);
        if let Some(fallback) = request.fallback_key {
            published.fallback_key = Some(fallback);
        }
        crypto.published();
    }

    /// `id`'s devices and their keys, as the `keys` event lists them.
    fn keys(&self, id: PeerId) -> Vec<DeviceKeysEntry> {
        self.0
            .iter()
            .filter(|((owner, _), _)| *owner == id)
            .map(|((_, device), published)| DeviceKeysEntry {
                device: *device,
                keys: Some(published.device_keys.clone()),
            })
            .collect()
    }

    /// One key for each device: a one-time key, given out once, or else the fallback
    /// key.
    fn claim(&mut self, id: PeerId, devices: &[DeviceId]) -> Vec<ClaimedKey> {
        devices
            .iter()
            .filter_map(|device| {
                let published = self.0.get_mut(&(id, *device))?;
                let (one_time_key, fallback) = match published.one_time_keys.pop_front() {
                    Some(key) => (Some(key), false),
                    None => (published.fallback_key.clone(), true),
                };
                Some(ClaimedKey {
                    device: *device,
                    device_keys: published.device_keys.clone(),
                    one_time_key,
                    fallback,
                })
            })
            .collect()
    }

    /// Makes `me` ready to write to `id`: learns their keys and starts a session with
    /// each device that has none.
    fn connect(&mut self, me: &mut Crypto, id: PeerId) -> Trust {
        let trust = me.learn(id, &self.keys(id)).expect("valid keys");
        let missing = me.missing_sessions(id);
        let claimed = self.claim(id, &missing);
        me.add_claimed(id, &claimed).expect("valid claimed keys");
        trust
    }
}

/// A message from `sender` to `to`, for every known device of `to` and of the sender.
fn send(sender: &mut Crypto, to: PeerId, n: u32, text: &str) -> Encrypted {
    let me = sender.id();
    let plaintext = Plaintext {
        from: me,
        to,
        id: message_id(n),
        text: text.into(),
    };
    let mut recipients = vec![(to, sender.known_devices(to))];
    if to != me {
        recipients.push((me, sender.known_devices(me)));
    }
    sender
        .encrypt(&plaintext, &recipients)
        .expect("sessions with every device")
}

/// What `reader` decrypts of message `n` from `from` to `to`.
fn read(reader: &mut Crypto, from: PeerId, to: PeerId, n: u32, encrypted: &Encrypted) -> String {
    reader
        .decrypt(from, to, message_id(n), encrypted)
        .expect("a message that decrypts")
        .text
}

fn kind(encrypted: &Encrypted, id: PeerId, device: DeviceId) -> u8 {
    encrypted
        .for_device(id, device)
        .expect("a ciphertext for the device")
        .kind
}

/// Alice's and Bob's devices, published, each having learned everyone's keys.
struct World {
    directory: Directory,
    alice: Vec<Crypto>,
    bob: Vec<Crypto>,
}

impl World {
    fn new() -> Self {
        let mut directory = Directory::default();
        let mut alice = person(alice(), 2);
        let mut bob = person(bob(), 2);
        for crypto in alice.iter_mut().chain(bob.iter_mut()) {
            directory.publish(crypto);
        }
        for crypto in alice.iter_mut().chain(bob.iter_mut()) {
            for id in [self::alice(), self::bob()] {
                crypto.learn(id, &directory.keys(id)).expect("valid keys");
            }
        }
        Self {
            directory,
            alice,
            bob,
        }
    }

    /// Every device starts a session with every other device.
    fn connect_all(&mut self) {
        for crypto in self.alice.iter_mut().chain(self.bob.iter_mut()) {
            for id in [alice(), bob()] {
                self.directory.connect(crypto, id);
            }
        }
    }
}

#[test]
fn every_device_publishes_keys_the_directory_accepts() {
    let world = World::new();
    for crypto in world.alice.iter().chain(world.bob.iter()) {
        assert_eq!(world.directory.kept(crypto), Some(50));
        let published = &world.directory.0[&(crypto.id(), crypto.device())];
        assert_eq!(published.device_keys, crypto.device_keys());
        assert!(published.fallback_key.is_some());
    }
    // Both of Alice's devices vouch with one identity key, Bob's with another.
    assert_eq!(
        world.alice[0].identity_key(),
        world.alice[1].device_keys().identity
    );
    assert_ne!(world.alice[0].identity_key(), world.bob[0].identity_key());
}

#[test]
fn a_conversation_reaches_every_device_and_replies_turn_pre_key_messages_normal() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    for id in [b, a] {
        w.directory.connect(&mut w.alice[0], id);
    }
    let hello = send(&mut w.alice[0], b, 1, "hello Bob");
    assert_eq!(hello.ciphertexts.len(), 3);
    assert_eq!(hello.devices(b).bits(), 0b11);
    assert_eq!(hello.devices(a).bits(), 0b10);
    assert_eq!(hello.sender_device, device(0));
    assert_eq!(hello.sender_key, w.alice[0].curve25519_key());
    hello.check().expect("a well-formed body");
    assert!(hello.ciphertexts.iter().all(|c| c.kind == PRE_KEY));
    // The ciphertexts differ per device: each is its own session's.
    assert_ne!(hello.ciphertexts[0].body, hello.ciphertexts[1].body);

    assert_eq!(read(&mut w.bob[0], a, b, 1, &hello), "hello Bob");
    assert_eq!(read(&mut w.bob[1], a, b, 1, &hello), "hello Bob");
    // Alice's other device gets her own message.
    assert_eq!(read(&mut w.alice[1], a, b, 1, &hello), "hello Bob");

    // Bob's first device answers Alice's two devices and copies his other one.
    for id in [a, b] {
        w.directory.connect(&mut w.bob[0], id);
    }
    let reply = send(&mut w.bob[0], a, 2, "hi Alice");
    assert_eq!(kind(&reply, a, device(0)), NORMAL);
    assert_eq!(kind(&reply, a, device(1)), PRE_KEY);
    assert_eq!(kind(&reply, b, device(1)), PRE_KEY);
    assert_eq!(read(&mut w.alice[0], b, a, 2, &reply), "hi Alice");
    assert_eq!(read(&mut w.alice[1], b, a, 2, &reply), "hi Alice");
    assert_eq!(read(&mut w.bob[1], b, a, 2, &reply), "hi Alice");

    // Alice's session with Bob's first device is established now; not yet with his
    // second, which has not answered.
    let again = send(&mut w.alice[0], b, 3, "how are you?");
    assert_eq!(kind(&again, b, device(0)), NORMAL);
    assert_eq!(kind(&again, b, device(1)), PRE_KEY);
    assert_eq!(read(&mut w.bob[0], a, b, 3, &again), "how are you?");
    assert_eq!(read(&mut w.bob[1], a, b, 3, &again), "how are you?");
    assert_eq!(read(&mut w.alice[1], a, b, 3, &again), "how are you?");

    // Bob's second device answers too, from the session Alice started.
    for id in [a, b] {
        w.directory.connect(&mut w.bob[1], id);
    }
    let fine = send(&mut w.bob[1], a, 4, "fine");
    assert_eq!(kind(&fine, a, device(0)), NORMAL);
    assert_eq!(read(&mut w.alice[0], b, a, 4, &fine), "fine");
    assert_eq!(read(&mut w.alice[1], b, a, 4, &fine), "fine");
    assert_eq!(read(&mut w.bob[0], b, a, 4, &fine), "fine");
    let last = send(&mut w.alice[0], b, 5, "good");
    assert!(
        last.ciphertexts
            .iter()
            .filter(|c| c.peer == b)
            .all(|c| c.kind == NORMAL)
    );
    assert_eq!(read(&mut w.bob[1], a, b, 5, &last), "good");
}

#[test]
fn messages_decrypt_in_any_order() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.connect_all();
    let sent: Vec<Encrypted> = (1..=6)
        .map(|n| send(&mut w.alice[0], b, n, &format!("message {n}")))
        .collect();
    assert!(sent.iter().all(|m| kind(m, b, device(0)) == PRE_KEY));
    for n in [4, 1, 6, 2, 3, 5] {
        let text = read(&mut w.bob[0], a, b, n, &sent[n as usize - 1]);
        assert_eq!(text, format!("message {n}"));
    }
    // Each decrypts once.
    assert!(matches!(
        w.bob[0].decrypt(a, b, message_id(2), &sent[1]),
        Err(CryptoError::Decrypt { from, device: d, .. }) if from == a && d == device(0)
    ));

    // Normal messages, once Bob answered, in any order too.
    let reply = send(&mut w.bob[0], a, 100, "got them");
    assert_eq!(read(&mut w.alice[0], b, a, 100, &reply), "got them");
    let later: Vec<Encrypted> = (7..=10)
        .map(|n| send(&mut w.alice[0], b, n, &format!("message {n}")))
        .collect();
    assert!(later.iter().all(|m| kind(m, b, device(0)) == NORMAL));
    for n in [10, 8, 7, 9] {
        let text = read(&mut w.bob[0], a, b, n, &later[n as usize - 7]);
        assert_eq!(text, format!("message {n}"));
    }
}

#[test]
fn one_time_keys_are_used_once_then_the_fallback_key_is() {
    let mut directory = Directory::default();
    let mut bob = person(bob(), 1).remove(0);
    directory.publish(&mut bob);
    let fallback = directory.0[&(bob.id(), bob.device())]
        .fallback_key
        .clone()
        .expect("a fallback key");

    let mut one_time_keys = Vec::new();
    for n in 0..52 {
        let mut writer = person(peer(n + 1), 1).remove(0);
        directory.publish(&mut writer);
        bob.learn(writer.id(), &directory.keys(writer.id()))
            .expect("valid keys");
        writer
            .learn(bob.id(), &directory.keys(bob.id()))
            .expect("valid keys");
        let claimed = directory.claim(bob.id(), &[device(0)]);
        let key = claimed[0].one_time_key.clone().expect("a key");
        assert_eq!(claimed[0].fallback, n >= 50, "claim {n}");
        if n < 50 {
            assert!(
                !one_time_keys.contains(&key),
                "one-time key {n} given twice"
            );
            one_time_keys.push(key);
        } else {
            assert_eq!(key, fallback);
        }
        writer.add_claimed(bob.id(), &claimed).expect("a session");
        let message = send(&mut writer, bob.id(), n, &format!("from {n}"));
        assert_eq!(
            read(&mut bob, writer.id(), self::bob(), n, &message),
            format!("from {n}")
        );
    }
    assert_eq!(directory.kept(&bob), Some(0));

    // The fallback key was used: Bob tops his stock up and replaces it.
    directory.publish(&mut bob);
    assert_eq!(directory.kept(&bob), Some(50));
    let new_fallback = directory.0[&(bob.id(), bob.device())]
        .fallback_key
        .clone()
        .expect("a fallback key");
    assert_ne!(new_fallback.key, fallback.key);
    // The old fallback key still opens a session claimed before the change.
    let mut late = person(peer(999), 1).remove(0);
    directory.publish(&mut late);
    bob.learn(late.id(), &directory.keys(late.id()))
        .expect("valid keys");
    late.learn(bob.id(), &directory.keys(bob.id()))
        .expect("valid keys");
    let stale = ClaimedKey {
        device: device(0),
        device_keys: bob.device_keys(),
        one_time_key: Some(fallback),
        fallback: true,
    };
    late.add_claimed(bob.id(), &[stale]).expect("a session");
    let message = send(&mut late, bob.id(), 999, "late");
    assert_eq!(
        read(&mut bob, late.id(), self::bob(), 999, &message),
        "late"
    );
}

#[test]
fn a_pickled_conversation_goes_on_after_a_restart() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.connect_all();
    let first = send(&mut w.alice[0], b, 1, "one");
    assert_eq!(read(&mut w.bob[0], a, b, 1, &first), "one");
    let reply = send(&mut w.bob[0], a, 2, "two");
    let in_flight = send(&mut w.bob[0], a, 3, "three");

    let restart = |crypto: &Crypto| {
        let json = serde_json::to_string(&crypto.pickle()).expect("a pickle serializes");
        Crypto::from_pickle(serde_json::from_str(&json).expect("a pickle deserializes"))
            .expect("a pickle restores")
    };
    let mut alice0 = restart(&w.alice[0]);
    let mut bob0 = restart(&w.bob[0]);
    assert_eq!(alice0.device_keys(), w.alice[0].device_keys());
    assert_eq!(alice0.known_devices(b), [device(0), device(1)]);
    assert_eq!(alice0.known_devices(a), [device(1)]);
    assert!(alice0.missing_sessions(b).is_empty());

    assert_eq!(read(&mut alice0, b, a, 3, &in_flight), "three");
    assert_eq!(read(&mut alice0, b, a, 2, &reply), "two");
    let answer = send(&mut alice0, b, 4, "four");
    assert_eq!(kind(&answer, b, device(0)), NORMAL);
    assert_eq!(read(&mut bob0, a, b, 4, &answer), "four");
    let more = send(&mut bob0, a, 5, "five");
    assert_eq!(read(&mut alice0, b, a, 5, &more), "five");
    // Nothing left to publish that was published before.
    assert!(alice0.publish_request(Some(50)).is_none());
}

#[test]
fn a_tampered_ciphertext_is_refused_and_changes_nothing() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.connect_all();
    let hello = send(&mut w.alice[0], b, 1, "hello");

    for position in [0.5, 0.99] {
        let mut tampered = hello.clone();
        let ciphertext = &mut tampered.ciphertexts[0];
        assert_eq!((ciphertext.peer, ciphertext.device), (b, device(0)));
        let mut bytes = vodozemac::base64_decode(&ciphertext.body).expect("base64");
        let at = (bytes.len() as f64 * position) as usize;
        bytes[at] ^= 0x01;
        ciphertext.body = vodozemac::base64_encode(&bytes);
        let refused = w.bob[0].decrypt(a, b, message_id(1), &tampered);
        assert!(
            matches!(
                refused,
                Err(CryptoError::Decrypt { .. } | CryptoError::Malformed { .. })
            ),
            "{refused:?}"
        );
    }
    let mut not_base64 = hello.clone();
    not_base64.ciphertexts[0].body = "!!".into();
    assert!(matches!(
        w.bob[0].decrypt(a, b, message_id(1), &not_base64),
        Err(CryptoError::Malformed { .. })
    ));
    // The one-time key was not used up by the tampered copies.
    assert_eq!(read(&mut w.bob[0], a, b, 1, &hello), "hello");

    // In an established session too.
    let reply = send(&mut w.bob[0], a, 2, "reply");
    let mut tampered = reply.clone();
    let ciphertext = &mut tampered.ciphertexts[0];
    assert_eq!(ciphertext.kind, NORMAL);
    let mut bytes = vodozemac::base64_decode(&ciphertext.body).expect("base64");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    ciphertext.body = vodozemac::base64_encode(&bytes);
    assert!(matches!(
        w.alice[0].decrypt(b, a, message_id(2), &tampered),
        Err(CryptoError::Decrypt { .. })
    ));
    assert_eq!(read(&mut w.alice[0], b, a, 2, &reply), "reply");
}

#[test]
fn a_ciphertext_replayed_under_another_envelope_is_refused() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.connect_all();
    let first = send(&mut w.alice[0], b, 1, "pay 10");
    let second = send(&mut w.alice[0], b, 2, "pay 20");
    assert_eq!(read(&mut w.bob[0], a, b, 1, &first), "pay 10");
    // The server replays the second under the first one's id, or under a new one.
    assert_eq!(
        w.bob[0].decrypt(a, b, message_id(1), &second),
        Err(CryptoError::EnvelopeMismatch)
    );
    assert_eq!(
        w.bob[1].decrypt(a, b, message_id(3), &second),
        Err(CryptoError::EnvelopeMismatch)
    );
    // As if to someone else (Bob's copy delivered as Alice's note to herself).
    assert_eq!(
        w.bob[1].decrypt(a, a, message_id(2), &first),
        Err(CryptoError::EnvelopeMismatch)
    );
    // Refused, they changed nothing: the genuine deliveries still decrypt.
    assert_eq!(read(&mut w.bob[1], a, b, 1, &first), "pay 10");
    assert_eq!(read(&mut w.bob[1], a, b, 2, &second), "pay 20");
    assert_eq!(read(&mut w.bob[0], a, b, 2, &second), "pay 20");
    assert_eq!(read(&mut w.alice[1], a, b, 2, &second), "pay 20");
}

#[test]
fn a_ciphertext_for_another_device_is_refused() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.alice[0]
        .learn(b, &w.directory.keys(b))
        .expect("valid keys");
    let claimed = w.directory.claim(b, &[device(0)]);
    w.alice[0].add_claimed(b, &claimed).expect("a session");
    let plaintext = Plaintext {
        from: a,
        to: b,
        id: message_id(1),
        text: "for your first device".into(),
    };
    let only_first = w.alice[0]
        .encrypt(&plaintext, &[(b, vec![device(0)])])
        .expect("a session with it");
    assert_eq!(
        w.bob[1].decrypt(a, b, message_id(1), &only_first),
        Err(CryptoError::NotForThisDevice)
    );
    // Relabelled for the second device, it is still for the first one's key; with the
    // second one's key too, it does not decrypt there either.
    let mut relabelled = only_first.clone();
    relabelled.ciphertexts[0].device = device(1);
    assert_eq!(
        w.bob[1].decrypt(a, b, message_id(1), &relabelled),
        Err(CryptoError::NotForThisDevice)
    );
    relabelled.ciphertexts[0].key = w.bob[1].curve25519_key();
    assert!(matches!(
        w.bob[1].decrypt(a, b, message_id(1), &relabelled),
        Err(CryptoError::Decrypt { .. })
    ));
    assert_eq!(
        read(&mut w.bob[0], a, b, 1, &only_first),
        "for your first device"
    );
}

#[test]
fn an_unknown_sender_device_is_reported_until_its_keys_are_learned() {
    let mut directory = Directory::default();
    let (a, b) = (alice(), bob());
    let mut alice = person(a, 2);
    let mut bob = person(b, 1).remove(0);
    directory.publish(&mut alice[0]);
    directory.publish(&mut bob);
    bob.learn(a, &directory.keys(a)).expect("valid keys");

    // Alice links her second device after Bob learned her keys.
    directory.publish(&mut alice[1]);
    directory.connect(&mut alice[1], b);
    let hello = send(&mut alice[1], b, 1, "from my new phone");
    assert_eq!(
        bob.decrypt(a, b, message_id(1), &hello),
        Err(CryptoError::UnknownSender {
            from: a,
            device: device(1)
        })
    );
    // Another device's key given as the sender's: just as unknown.
    let mut wrong_key = hello.clone();
    wrong_key.sender_device = device(0);
    assert_eq!(
        bob.decrypt(a, b, message_id(1), &wrong_key),
        Err(CryptoError::UnknownSender {
            from: a,
            device: device(0)
        })
    );
    assert_eq!(bob.learn(a, &directory.keys(a)), Ok(Trust::Same));
    assert_eq!(read(&mut bob, a, b, 1, &hello), "from my new phone");
}

#[test]
fn a_changed_identity_is_not_trusted_until_accepted() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    w.connect_all();
    let before = w.alice[0].safety_number_with(b).expect("Bob's key");
    let was = w.bob[0].identity_key();

    // Bob lost his data and starts over on his first device, with a new identity.
    let mut new_bob = person(b, 1).remove(0);
    w.directory.publish(&mut new_bob);
    w.directory.0.remove(&(b, device(1)));
    let now = new_bob.identity_key();
    assert_eq!(
        w.alice[0].learn(b, &w.directory.keys(b)),
        Ok(Trust::Changed {
            was: was.clone(),
            now: now.clone()
        })
    );
    let plaintext = Plaintext {
        from: a,
        to: b,
        id: message_id(1),
        text: "still you?".into(),
    };
    assert_eq!(
        w.alice[0].encrypt(&plaintext, &[(b, vec![device(0)])]),
        Err(CryptoError::IdentityChanged { id: b })
    );
    assert!(w.alice[0].missing_sessions(b).is_empty());
    let claimed = w.directory.claim(b, &[device(0)]);
    assert_eq!(
        w.alice[0].add_claimed(b, &claimed),
        Err(CryptoError::IdentityChanged { id: b })
    );
    // Nor is what the new key writes read.
    new_bob.learn(a, &w.directory.keys(a)).expect("valid keys");
    w.directory.connect(&mut new_bob, a);
    let from_new = send(&mut new_bob, a, 2, "it's me, Bob");
    assert_eq!(
        w.alice[0].decrypt(b, a, message_id(2), &from_new),
        Err(CryptoError::IdentityChanged { id: b })
    );
    // Learning the same change again keeps it waiting.
    assert!(matches!(
        w.alice[0].learn(b, &w.directory.keys(b)),
        Ok(Trust::Changed { .. })
    ));

    // The safety number to compare is the new key's.
    let after = w.alice[0].safety_number_with(b).expect("Bob's key");
    assert_ne!(after, before);
    assert_eq!(after, new_bob.safety_number_with(a).expect("Alice's key"));

    assert_eq!(w.alice[0].accept_identity(b), Some(now));
    assert_eq!(w.alice[0].learn(b, &w.directory.keys(b)), Ok(Trust::Same));
    assert_eq!(read(&mut w.alice[0], b, a, 2, &from_new), "it's me, Bob");
    let answer = w.alice[0]
        .encrypt(&plaintext, &[(b, vec![device(0)])])
        .expect("trusted now");
    assert_eq!(read(&mut new_bob, a, b, 1, &answer), "still you?");
}

#[test]
fn encrypting_needs_a_session_with_every_listed_device() {
    let mut w = World::new();
    let (a, b) = (alice(), bob());
    let claimed = w.directory.claim(b, &[device(1)]);
    w.alice[0].add_claimed(b, &claimed).expect("a session");
    let plaintext = Plaintext {
        from: a,
        to: b,
        id: message_id(1),
        text: "hi".into(),
    };
    assert_eq!(
        w.alice[0].encrypt(
            &plaintext,
            &[(b, vec![device(0), device(1)]), (a, vec![device(1)])]
        ),
        Err(CryptoError::NoSession {
            devices: vec![(b, device(0)), (a, device(1))]
        })
    );
    // A device never learned has no session either.
    assert_eq!(
        w.alice[0].encrypt(&plaintext, &[(b, vec![device(4)])]),
        Err(CryptoError::NoSession {
            devices: vec![(b, device(4))]
        })
    );
    // Oneself is passed over, leaving nobody.
    assert_eq!(
        w.alice[0].encrypt(&plaintext, &[(a, vec![device(0)])]),
        Err(CryptoError::NoRecipients)
    );
    assert_eq!(
        w.alice[0].encrypt(&plaintext, &[(peer(7), vec![device(0)])]),
        Err(CryptoError::UnknownPeer { id: peer(7) })
    );
    let forged = Plaintext {
        from: b,
        ..plaintext.clone()
    };
    assert_eq!(
        w.alice[0].encrypt(&forged, &[(b, vec![device(1)])]),
        Err(CryptoError::NotFromMe { me: a, from: b })
    );
    let ok = w.alice[0]
        .encrypt(
            &plaintext,
            &[(b, vec![device(1), device(1)]), (a, vec![device(0)])],
        )
        .expect("one session is enough");
    assert_eq!(ok.ciphertexts.len(), 1);
    assert_eq!(read(&mut w.bob[1], a, b, 1, &ok), "hi");
}

#[test]
fn safety_numbers_agree_and_change_with_either_identity() {
    let w = World::new();
    let (a, b) = (alice(), bob());
    let from_alice = w.alice[0].safety_number_with(b).expect("Bob's key");
    let from_bob = w.bob[1].safety_number_with(a).expect("Alice's key");
    assert_eq!(from_alice, from_bob);
    assert_eq!(from_alice.chars().filter(char::is_ascii_digit).count(), 60);
    assert_eq!(from_alice.split(' ').count(), 12);
    assert_eq!(
        from_alice,
        safety_number(a, &w.alice[1].identity_key(), b, &w.bob[0].identity_key())
    );
    let new_alice = person(a, 1).remove(0);
    let new_bob = person(b, 1).remove(0);
    let alice_changed = safety_number(a, &new_alice.identity_key(), b, &w.bob[0].identity_key());
    let bob_changed = safety_number(a, &w.alice[0].identity_key(), b, &new_bob.identity_key());
    assert_ne!(alice_changed, from_alice);
    assert_ne!(bob_changed, from_alice);
    assert_ne!(alice_changed, bob_changed);
}
