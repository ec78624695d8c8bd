//! Two people with two devices each, every device encrypting end to end through the
//! messenger (our native client): each device reads every message once and in order,
//! its own sent from the other device included; a device linked after the other side
//! learned the keys gets the next message all the same (the server says the devices
//! changed, the sender learns them again); one device offline for part of it gets what
//! it missed, with its crypto state restored from its pickle; the server's files never
//! hold a text. A person without keys is written to in plain text.

mod fixture;

use fixture::{TestServer, files_contain, native_peer, new_peer, until};
use relay_native_client::Peer;
use relay_shared::{
    MessageId, PeerId,
    crypto::Crypto,
    device::DeviceId,
    messenger::{Messenger, Status, Update},
};

/// A device's crypto core, sharing the person's identity key `identity`.
fn crypto(id: PeerId, device: u8, identity: &vodozemac::Ed25519SecretKey) -> Crypto {
    let identity = vodozemac::Ed25519SecretKey::from_slice(&identity.to_bytes());
    Crypto::with_identity(id, DeviceId::new(device).expect("a device"), identity)
}

/// Drives `peer` until its keys are published.
async fn published(peer: &mut Peer) {
    until(peer, "the keys published", |update| {
        matches!(update, Update::KeysPublished).then_some(())
    })
    .await;
}

/// The first device of `id`, encrypting, its keys published.
async fn first_device(
    server: &TestServer,
    id: PeerId,
    identity: &vodozemac::Ed25519SecretKey,
) -> Peer {
    let mut peer = native_peer(server, id).configured(|m| m.with_crypto(crypto(id, 0, identity)));
    published(&mut peer).await;
    peer
}

/// A second device of `id`, linked with a code `first` asks for, encrypting.
async fn second_device(
    server: &TestServer,
    first: &mut Peer,
    id: PeerId,
    identity: &vodozemac::Ed25519SecretKey,
) -> Peer {
    let mut second = linked_device(server, first, id, |m| m).await;
    second.encrypt_with(crypto(id, 1, identity));
    published(&mut second).await;
    second
}

/// A second device of `id`, linked with a code `first` asks for, its messenger
/// configured with `configure`.
async fn linked_device(
    server: &TestServer,
    first: &mut Peer,
    id: PeerId,
    configure: impl FnOnce(Messenger) -> Messenger,
) -> Peer {
    assert!(first.request_link_code());
    let code = until(first, "a link code", |update| match update {
        Update::LinkCode(code) => Some(code.expect("a code").code),
        _ => None,
    })
    .await;
    let secret = format!("second-device-of-{id}");
    let mut second = Peer::new(
        &server.url(),
        fixture::fast_reconnect(),
        id,
        secret.parse().expect("a secret"),
    )
    .configured(|m| configure(m.linking(code.parse().expect("a code"), Some("Laptop".into()))));
    until(&mut second, "linked", |update| {
        matches!(update, Update::Linked).then_some(())
    })
    .await;
    second
}

/// A device with what it read so far.
struct Device {
    peer: Peer,
    /// What it read, in order: received, or its own from another device as "me: …".
    read: Vec<String>,
}

impl Device {
    fn new(peer: Peer) -> Self {
        Self {
            peer,
            read: Vec::new(),
        }
    }

    /// Notes a message read in `update`, which must have come encrypted.
    fn note(read: &mut Vec<String>, update: &Update) {
        match update {
            Update::Received(envelope) => {
                assert!(envelope.encrypted.is_some(), "came plain: {envelope:?}");
                read.push(envelope.body.clone());
            }
            Update::Outgoing(envelope) => {
                assert!(envelope.encrypted.is_some(), "came plain: {envelope:?}");
                read.push(format!("me: {}", envelope.body));
            }
            Update::Undecryptable { reason, .. } => panic!("not decrypted: {reason}"),
            _ => {}
        }
    }

    /// Sends `text` to `to`, driving the device until the server stored it; returns
    /// the message's id.
    async fn send(&mut self, to: PeerId, text: &str) -> MessageId {
        let id = self.peer.send(to, text.into());
        let read = &mut self.read;
        until(&mut self.peer, &format!("{text:?} stored"), |update| {
            Self::note(read, &update);
            match update {
                Update::Status {
                    id: sent,
                    status: Status::Sent { .. },
                    ..
                } if sent == id => Some(()),
                Update::Status {
                    id: failed,
                    status: Status::Failed(rejection),
                    ..
                } if failed == id => panic!("{text:?} failed: {rejection}"),
                _ => None,
            }
        })
        .await;
        self.peer.flush().await;
        id
    }

    /// Drives the device until the recipient's client confirmed the message `id`.
    async fn delivered(&mut self, id: MessageId) {
        until(
            &mut self.peer,
            "the delivery receipt",
            |update| match update {
                Update::Status {
                    id: confirmed,
                    status: Status::Delivered { .. } | Status::Read { .. },
                    ..
                } if confirmed == id => Some(()),
                _ => None,
            },
        )
        .await;
    }

    /// Drives the device until it has read `count` messages in all; returns them.
    async fn read(&mut self, count: usize) -> &[String] {
        let read = &mut self.read;
        if read.len() < count {
            until(&mut self.peer, &format!("{count} messages"), |update| {
                Self::note(read, &update);
                (read.len() >= count).then_some(())
            })
            .await;
        }
        self.peer.flush().await;
        &self.read
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_with_two_devices_each_read_everything_encrypted() {
    let data = tempfile::tempdir().expect("a data directory");
    let dir = data.path().to_owned();
    let server = TestServer::start_with(|config| config.data_dir = dir).await;
    let (alice, bob) = (new_peer(), new_peer());
    let (alice_identity, bob_identity) = (
        vodozemac::Ed25519SecretKey::new(),
        vodozemac::Ed25519SecretKey::new(),
    );
    let mut a0 = Device::new(first_device(&server, alice, &alice_identity).await);
    let mut b0 = Device::new(first_device(&server, bob, &bob_identity).await);

    a0.send(bob, "first, to your phone").await;
    assert_eq!(a0.peer.encryption(bob), Some(true));
    assert_eq!(b0.read(1).await, ["first, to your phone"]);

    // Both link a second device after the first message: the next ones reach them too.
    let mut b1 = Device::new(second_device(&server, &mut b0.peer, bob, &bob_identity).await);
    let mut a1 = Device::new(second_device(&server, &mut a0.peer, alice, &alice_identity).await);
    a0.send(bob, "second, to both of yours").await;
    b1.send(alice, "a reply from my laptop").await;

    // Bob's phone goes away; Alice writes on; it comes back with its state as kept.
    let pickle = b0.peer.crypto().expect("encrypting").pickle();
    let before = b0.read.clone();
    drop(b0);
    a1.send(bob, "third, from my laptop, while your phone is off")
        .await;
    let restored = Crypto::from_pickle(pickle).expect("the pickle restores");
    let mut b0 = Device::new(native_peer(&server, bob).configured(|m| m.with_crypto(restored)));
    b0.read = before;

    assert_eq!(
        b0.read(4).await,
        [
            "first, to your phone",
            "second, to both of yours",
            "me: a reply from my laptop",
            "third, from my laptop, while your phone is off",
        ]
    );
    assert_eq!(
        b1.read(2).await,
        [
            "second, to both of yours",
            "third, from my laptop, while your phone is off",
        ]
    );
    assert_eq!(
        a0.read(2).await,
        [
            "a reply from my laptop",
            "me: third, from my laptop, while your phone is off",
        ]
    );
    assert_eq!(
        a1.read(2).await,
        ["me: second, to both of yours", "a reply from my laptop"]
    );
    // Nothing more comes to anyone: each read every message once.
    for device in [&mut a0, &mut a1, &mut b0, &mut b1] {
        let quiet = tokio::time::Instant::now() + std::time::Duration::from_millis(300);
        while let Ok(Some(update)) = tokio::time::timeout_at(quiet, device.peer.next_update()).await
        {
            Device::note(&mut device.read, &update);
        }
    }
    assert_eq!(
        (a0.read.len(), a1.read.len(), b0.read.len(), b1.read.len()),
        (2, 2, 4, 2)
    );

    for text in [
        "first, to your phone",
        "second, to both of yours",
        "a reply from my laptop",
        "third, from my laptop, while your phone is off",
    ] {
        assert!(
            !files_contain(data.path(), text.as_bytes()),
            "the server's files hold {text:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_without_keys_is_written_to_in_plain_text() {
    let server = TestServer::start().await;
    let (alice, carol) = (new_peer(), new_peer());
    let mut a0 =
        Device::new(first_device(&server, alice, &vodozemac::Ed25519SecretKey::new()).await);
    let mut carol_peer = native_peer(&server, carol);
    until(&mut carol_peer, "registered", |update| {
        matches!(update, Update::Registered).then_some(())
    })
    .await;
    a0.send(carol, "plain, as carol cannot decrypt").await;
    assert_eq!(a0.peer.encryption(carol), Some(false));
    let got = until(&mut carol_peer, "the message", |update| match update {
        Update::Received(envelope) => Some(envelope),
        _ => None,
    })
    .await;
    assert_eq!(got.body, "plain, as carol cannot decrypt");
    assert!(got.encrypted.is_none());
    // And carol's plain answer reaches alice's encrypting device.
    carol_peer.send(alice, "plain back".into());
    carol_peer.flush().await;
    let back = until(&mut a0.peer, "carol's answer", |update| match update {
        Update::Received(envelope) => Some(envelope),
        _ => None,
    })
    .await;
    assert_eq!(back.body, "plain back");
    assert!(back.encrypted.is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_goes_to_a_replaced_identity_key_until_it_is_accepted() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut a0 =
        Device::new(first_device(&server, alice, &vodozemac::Ed25519SecretKey::new()).await);
    let mut b0 = Device::new(first_device(&server, bob, &vodozemac::Ed25519SecretKey::new()).await);
    let before = a0.send(bob, "before").await;
    assert_eq!(b0.read(1).await, ["before"]);
    // Bob's phone confirmed it before it goes: else the server hands it again to his
    // new install, which cannot read what was encrypted for the old one.
    a0.delivered(before).await;

    // Bob starts over on his device with a new identity key (a reinstall, or someone
    // else holding his secret): Alice's next message waits for her to accept it.
    // What he writes with his new key waits, unread, until she accepts it too.
    drop(b0);
    let mut b0 = Device::new(first_device(&server, bob, &vodozemac::Ed25519SecretKey::new()).await);
    b0.send(alice, "from my new key").await;
    let id = a0.peer.send(bob, "after".into());
    until(&mut a0.peer, "the key change", |update| match update {
        Update::KeyChanged(peer) if peer == bob => Some(()),
        Update::Status { id: sent, .. } if sent == id => panic!("sent before accepting"),
        Update::Received(_) | Update::Undecryptable { .. } => {
            panic!("read before accepting: {update:?}")
        }
        _ => None,
    })
    .await;
    assert_eq!(a0.peer.unsent(), 1);
    a0.peer.accept_identity(bob);
    let (mut sent, mut read) = (false, Vec::new());
    until(&mut a0.peer, "sent and read once accepted", |update| {
        Device::note(&mut read, &update);
        if matches!(update, Update::Status { id: s, status: Status::Sent { .. }, .. } if s == id) {
            sent = true;
        }
        (sent && !read.is_empty()).then_some(())
    })
    .await;
    assert_eq!(read, ["from my new key"]);
    a0.peer.flush().await;
    assert_eq!(b0.read(1).await, ["after"]);
    server.stop().await;
}

/// A device with no crypto state starts its person's identity key if it is the first of
/// their devices to encrypt; one linked after it, not given that key, makes none of its
/// own (the person's devices would disagree, and nobody could write to them
/// encrypted). An instance of a device that leaves its crypto to another (a second tab
/// of the browser) neither reads nor confirms what comes encrypted: the other does.
#[tokio::test]
async fn only_a_first_device_makes_an_identity_and_a_second_tab_leaves_encrypted_ones_alone() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    let mut a0 = native_peer(&server, alice).configured(Messenger::encrypt_if_first);
    published(&mut a0).await;
    assert_eq!(a0.crypto().expect("encrypting").id(), alice);
    let mut tab = native_peer(&server, alice).configured(Messenger::decrypted_elsewhere);
    until(&mut tab, "the tab registered", |update| {
        matches!(update, Update::Registered).then_some(())
    })
    .await;
    let mut laptop = linked_device(&server, &mut a0, alice, Messenger::encrypt_if_first).await;
    until(
        &mut laptop,
        "told another device has the identity",
        |update| match update {
            Update::IdentityElsewhere => Some(()),
            Update::KeysPublished => panic!("a second identity key was published"),
            _ => None,
        },
    )
    .await;
    assert!(laptop.crypto().is_none());

    let mut b0 = Device::new(first_device(&server, bob, &vodozemac::Ed25519SecretKey::new()).await);
    b0.send(alice, "for the device's crypto only").await;
    let mut a0 = Device::new(a0);
    assert_eq!(a0.read(1).await, ["for the device's crypto only"]);
    Device::new(native_peer(&server, carol))
        .send(alice, "plain, after it")
        .await;
    until(&mut tab, "carol's plain message", |update| match update {
        Update::Received(envelope) if envelope.from == carol => Some(()),
        Update::Received(_) | Update::Undecryptable { .. } => {
            panic!("the tab read what its device's crypto is for: {update:?}")
        }
        _ => None,
    })
    .await;
    server.stop().await;
}
