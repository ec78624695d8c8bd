//! The [`Store`] contract, one suite run against every backend: an SQLite file, one
//! redis-server, and a Redis Cluster of three masters, each a real process started by
//! the test. Each case opens a fresh store (with its own clock and limits) on the
//! backend and uses fresh peer ids.

#![allow(clippy::unwrap_used)] // the contract cases are test code called by the tests below

mod fixture;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use fixture::{
    keys::KeyMaker,
    new_peer,
    redis::{RedisCluster, RedisServer},
    within,
};
use relay_server::{
    clock::{Clock, ManualClock},
    identity::SecretHash,
    store::{
        AppendError, Claim, Durability, Linked, NewMessage, Notice, NoticeStream, Notices,
        Published, ReceiptFor, RedisStore, Settings, SqliteStore, Store, Unlinked,
    },
};
use relay_shared::{
    ErrorCode, MessageId, PeerId, Secret,
    device::{DeviceId, MAX_DEVICES},
    encrypted::{Ciphertext, Encrypted, NORMAL, PRE_KEY},
    keys::{ClaimedKey, DeviceKeysEntry, MAX_ONE_TIME_KEYS},
    presence::{PresenceNotice, PresenceState},
};

/// The first device of every id.
const D0: DeviceId = DeviceId::FIRST;

/// The TTL every case's store is opened with.
const TTL: Duration = Duration::from_secs(3600);
const TTL_MS: u64 = 3_600_000;
/// The presence heartbeat every case's store is opened with.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A store under test, with what the case needs around it.
struct Opened {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    notices: NoticeStream,
}

/// Opens a fresh store of one backend with these settings.
type Open = Box<dyn Fn(Settings) -> Pin<Box<dyn Future<Output = Opened>>>>;

fn message(from: PeerId, to: PeerId, n: u32) -> NewMessage {
    NewMessage {
        id: MessageId::from_uuid(uuid::Uuid::new_v4()),
        from,
        to,
        body: format!("message {n}"),
        encrypted: None,
        device: D0,
    }
}

fn hash(secret: &str) -> SecretHash {
    SecretHash::of(&secret.parse::<Secret>().expect("a secret"))
}

/// The next notice, but for those of changes to devices (linking in a case's setup).
async fn next_notice(notices: &mut NoticeStream) -> Notice {
    loop {
        match next_any_notice(notices).await {
            Notice::Devices { .. } => {}
            other => return other,
        }
    }
}

async fn next_any_notice(notices: &mut NoticeStream) -> Notice {
    within("a notice", notices.next())
        .await
        .expect("the store is open")
}

async fn claims(open: &Open) {
    let Opened { store, .. } = open(settings(10)).await;
    let id = new_peer();
    assert!(!store.is_claimed(id).await.unwrap());
    let (one, two) = (hash("secret-one-000000"), hash("secret-two-000000"));
    assert_eq!(store.claim(id, one).await.unwrap(), Claim::Claimed(D0));
    assert_eq!(store.claim(id, one).await.unwrap(), Claim::Verified(D0));
    assert_eq!(store.claim(id, two).await.unwrap(), Claim::Refused);
    assert!(store.is_claimed(id).await.unwrap());
    assert!(!store.is_claimed(new_peer()).await.unwrap());
}

async fn appends_are_ordered_idempotent_and_paged(open: &Open) {
    let Opened { store, clock, .. } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut sent = Vec::new();
    for n in 0..5 {
        let m = message(alice, bob, n);
        let appended = store.append(m.clone()).await.unwrap();
        assert!(!appended.duplicate);
        assert_eq!(appended.sent_at, clock.now_millis());
        sent.push((m, appended));
    }
    let seqs: Vec<u64> = sent.iter().map(|(_, a)| a.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    clock.advance(10);
    let again = store.append(sent[3].0.clone()).await.unwrap();
    assert_eq!(
        (again.seq, again.sent_at, again.duplicate),
        (sent[3].1.seq, sent[3].1.sent_at, true),
        "a resend is the first one"
    );

    let first = store.waiting(bob, D0, 0, 3).await.unwrap();
    let bodies: Vec<&str> = first.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, ["message 0", "message 1", "message 2"]);
    assert_eq!(
        (first[0].from, first[0].to, first[0].id),
        (alice, bob, sent[0].0.id)
    );
    assert_eq!(first[0].seq, seqs[0]);
    let rest = store.waiting(bob, D0, first[2].seq, 3).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(store.waiting(alice, D0, 0, 10).await.unwrap().is_empty());
}

async fn operations_see_those_called_before_them(open: &Open) {
    let Opened { store, .. } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    // Not awaited before the read is called: still seen, the queue keeps call order.
    let append = store.append(message(alice, bob, 1));
    let waiting = store.waiting(bob, D0, 0, 10);
    let (append, waiting) = tokio::join!(append, waiting);
    assert_eq!(waiting.unwrap()[0].seq, append.unwrap().seq);

    let hash = hash("secret-one-000000");
    let claim = store.claim(alice, hash);
    let claimed = store.is_claimed(alice);
    let (claim, claimed) = tokio::join!(claim, claimed);
    assert_eq!(claim.unwrap(), Claim::Claimed(D0));
    assert!(claimed.unwrap());
}

async fn confirming_turns_messages_into_receipts_for_their_senders(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(100)).await;
    let (alice, bob, carol, dave) = (new_peer(), new_peer(), new_peer(), new_peer());
    for peer in [alice, bob, carol, dave] {
        store.watch(peer).await.unwrap();
    }
    let to_bob_1 = message(alice, bob, 1);
    let a = store.append(to_bob_1.clone()).await.unwrap().seq;
    let b = store.append(message(carol, bob, 2)).await.unwrap().seq;
    let other = store.append(message(alice, dave, 3)).await.unwrap().seq;
    for _ in 0..3 {
        assert!(matches!(
            next_notice(&mut notices).await,
            Notice::Message(_)
        ));
    }

    clock.advance(100);
    // Only the recipient can confirm; unknown seqs are ignored.
    store
        .delivered(bob, D0, vec![a, b, other, 999])
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for _ in 0..2 {
        match next_notice(&mut notices).await {
            Notice::Receipt(receipt) => receipts.push(receipt),
            other => panic!("a receipt, not {other:?}"),
        }
    }
    receipts.sort_by_key(|r| r.sender == carol);
    let ReceiptFor { sender, receipt } = receipts[0];
    assert_eq!(sender, alice);
    assert_eq!(
        (receipt.id, receipt.to, receipt.delivered_at),
        (to_bob_1.id, bob, clock.now_millis())
    );
    assert_eq!(receipts[1].sender, carol);

    assert!(store.waiting(bob, D0, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.waiting(dave, D0, 0, 10).await.unwrap().len(), 1);
    // A second confirmation changes nothing.
    store.delivered(bob, D0, vec![a]).await.unwrap();

    let kept = store.receipts(alice, D0, 0, 10).await.unwrap();
    assert_eq!(kept, [receipt], "the receipt waits for its sender");
    assert_eq!(store.receipts(carol, D0, 0, 10).await.unwrap().len(), 1);
    // Someone else cannot forget alice's receipts (a seq names one of the sender's own).
    store
        .forget_receipts(dave, D0, vec![receipt.seq])
        .await
        .unwrap();
    assert_eq!(store.receipts(alice, D0, 0, 10).await.unwrap().len(), 1);
    store
        .forget_receipts(alice, D0, vec![receipt.seq])
        .await
        .unwrap();
    assert!(store.receipts(alice, D0, 0, 10).await.unwrap().is_empty());
}

async fn reading_makes_read_receipts_that_wait_for_their_sender(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(100)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    store.watch(alice).await.unwrap();
    store.watch(bob).await.unwrap();
    let m = message(alice, bob, 1);
    let seq = store.append(m.clone()).await.unwrap().seq;
    assert!(matches!(
        next_notice(&mut notices).await,
        Notice::Message(_)
    ));
    clock.advance(100);
    store.delivered(bob, D0, vec![seq]).await.unwrap();
    let Notice::Receipt(delivered) = next_notice(&mut notices).await else {
        panic!("a delivery receipt");
    };
    assert_eq!(delivered.receipt.read_at, None);

    clock.advance(5_000);
    let read_at = clock.now_millis();
    store.read(bob, alice, vec![m.id]).await.unwrap();
    let Notice::Receipt(ReceiptFor { sender, receipt }) = next_notice(&mut notices).await else {
        panic!("a read receipt");
    };
    assert_eq!(sender, alice);
    assert_eq!(
        (receipt.id, receipt.to, receipt.read_at),
        (m.id, bob, Some(read_at))
    );
    assert!(receipt.delivered_at <= read_at);
    assert!(
        receipt.seq > delivered.receipt.seq,
        "it comes after the delivery receipt"
    );
    // It waits for alice like a delivery receipt (which it may replace), last.
    let kept = store.receipts(alice, D0, 0, 10).await.unwrap();
    assert_eq!(kept.last(), Some(&receipt));
    // Carol's receipts are hers: alice's read does not reach them.
    assert!(store.receipts(carol, D0, 0, 10).await.unwrap().is_empty());
    let seqs = kept.iter().map(|r| r.seq).collect();
    store.forget_receipts(alice, D0, seqs).await.unwrap();
    assert!(store.receipts(alice, D0, 0, 10).await.unwrap().is_empty());
}

async fn a_blocked_senders_messages_are_answered_and_kept_nowhere(open: &Open) {
    let Opened {
        store, mut notices, ..
    } = open(settings(100)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    store.watch(bob).await.unwrap();
    assert!(store.block(bob, alice, true).await.unwrap());
    assert_eq!(
        next_notice(&mut notices).await,
        Notice::Blocked {
            owner: bob,
            peer: alice,
            on: true
        }
    );
    assert_eq!(store.blocked(bob).await.unwrap(), [alice]);
    assert!(
        store.blocked(alice).await.unwrap().is_empty(),
        "bob's list is his"
    );

    // Answered like any other, with a seq in bob's order; kept nowhere, noticed to no one.
    let dropped = store.append(message(alice, bob, 1)).await.unwrap();
    let kept = store.append(message(carol, bob, 2)).await.unwrap();
    assert!(!dropped.duplicate);
    assert!(kept.seq > dropped.seq);
    let Notice::Message(first) = next_notice(&mut notices).await else {
        panic!("a message notice");
    };
    assert_eq!(first.from, carol, "nothing noticed of alice's");
    let waiting = store.waiting(bob, D0, 0, 10).await.unwrap();
    assert_eq!(waiting.iter().map(|e| e.from).collect::<Vec<_>>(), [carol]);

    // Unblocked: from then on, kept and noticed again.
    assert!(store.block(bob, alice, false).await.unwrap());
    assert!(matches!(
        next_notice(&mut notices).await,
        Notice::Blocked { on: false, .. }
    ));
    assert!(store.blocked(bob).await.unwrap().is_empty());
    store.append(message(alice, bob, 3)).await.unwrap();
    assert_eq!(store.waiting(bob, D0, 0, 10).await.unwrap().len(), 2);
}

fn online(peer: PeerId) -> PresenceNotice {
    PresenceNotice {
        peer,
        state: PresenceState::Online,
        last_seen: None,
    }
}

fn offline(peer: PeerId, last_seen: Option<u64>) -> PresenceNotice {
    PresenceNotice {
        peer,
        state: PresenceState::Offline,
        last_seen,
    }
}

async fn presence_follows_comings_and_goings_and_is_shown_to_contacts_only(open: &Open) {
    let Opened { store, clock, .. } = open(settings(10)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    let seen = |viewer: PeerId, peer: PeerId| {
        let read = store.presence(viewer, vec![peer]);
        async move { read.await.unwrap().remove(0) }
    };
    // Bob wrote to alice: she may see his presence; carol may not, nor he hers.
    store.append(message(bob, alice, 1)).await.unwrap();
    assert_eq!(seen(alice, bob).await, offline(bob, None));
    assert_eq!(seen(carol, bob).await, PresenceNotice::unknown(bob));
    assert_eq!(seen(bob, alice).await, PresenceNotice::unknown(alice));

    // Comings and goings: each change reported once.
    assert_eq!(
        store
            .present(vec![(bob, true), (carol, true)])
            .await
            .unwrap(),
        [Some(online(bob)), Some(online(carol))]
    );
    assert_eq!(store.present(vec![(bob, true)]).await.unwrap(), [None]);
    assert_eq!(seen(alice, bob).await, online(bob));
    clock.advance(1_000);
    let left = clock.now_millis();
    assert_eq!(
        store.present(vec![(bob, false)]).await.unwrap(),
        [Some(offline(bob, Some(left)))]
    );
    assert_eq!(seen(alice, bob).await, offline(bob, Some(left)));
    // Several at once, in order.
    let both = store.presence(alice, vec![carol, bob]).await.unwrap();
    assert_eq!(
        both,
        [PresenceNotice::unknown(carol), offline(bob, Some(left))]
    );

    // Hidden: shown to nobody, and changes not reported, until shown again.
    assert_eq!(
        store.hide_presence(bob, true).await.unwrap(),
        PresenceNotice::unknown(bob)
    );
    assert_eq!(store.present(vec![(bob, true)]).await.unwrap(), [None]);
    assert_eq!(seen(alice, bob).await, PresenceNotice::unknown(bob));
    assert_eq!(store.hide_presence(bob, false).await.unwrap(), online(bob));
    assert_eq!(seen(alice, bob).await, online(bob));
    // One who hides sees nobody's.
    store.hide_presence(alice, true).await.unwrap();
    assert_eq!(seen(alice, bob).await, PresenceNotice::unknown(bob));
    store.hide_presence(alice, false).await.unwrap();
    assert_eq!(seen(alice, bob).await, online(bob));
    // Nor is it shown to someone blocked.
    assert!(store.block(bob, alice, true).await.unwrap());
    assert_eq!(seen(alice, bob).await, PresenceNotice::unknown(bob));
}

async fn a_resend_of_a_waiting_message_is_noticed_again(open: &Open) {
    let Opened {
        store, mut notices, ..
    } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    store.watch(bob).await.unwrap();
    let m = message(alice, bob, 1);
    store.append(m.clone()).await.unwrap();
    let Notice::Message(first) = next_notice(&mut notices).await else {
        panic!("a stored notice");
    };
    assert_eq!((first.id, first.body.as_str()), (m.id, "message 1"));
    // Its first delivery may never have happened (a crash right after the commit).
    store.append(m.clone()).await.unwrap();
    assert_eq!(next_notice(&mut notices).await, Notice::Message(first));
}

async fn each_recipient_has_a_bounded_queue(open: &Open) {
    let Opened { store, .. } = open(settings(2)).await;
    let (alice, bob, eve) = (new_peer(), new_peer(), new_peer());
    let first = message(alice, bob, 1);
    let first_seq = store.append(first.clone()).await.unwrap().seq;
    store.append(message(alice, bob, 2)).await.unwrap();
    assert!(matches!(
        store.append(message(alice, bob, 3)).await,
        Err(AppendError::QueueFull { limit: 2 })
    ));
    // A resend of a stored message is not refused, and other recipients are fine.
    assert!(store.append(first).await.unwrap().duplicate);
    store.append(message(alice, eve, 4)).await.unwrap();
    // Confirming frees a place.
    store.delivered(bob, D0, vec![first_seq]).await.unwrap();
    store.append(message(alice, bob, 3)).await.unwrap();
}

async fn each_sender_has_a_share_of_a_recipients_queue(open: &Open) {
    let Opened { store, .. } = open(Settings {
        max_queue: 10,
        max_queue_per_sender: 4,
        max_queue_per_stranger: 2,
        ttl: TTL,
        heartbeat: HEARTBEAT,
    })
    .await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    // Bob has never written to alice: a stranger's share.
    let first = store.append(message(alice, bob, 1)).await.unwrap().seq;
    store.append(message(alice, bob, 2)).await.unwrap();
    assert!(matches!(
        store.append(message(alice, bob, 3)).await,
        Err(AppendError::ShareFull { limit: 2 })
    ));
    // Others still get through.
    store.append(message(carol, bob, 4)).await.unwrap();
    // Once bob writes to alice, she is a contact: the larger share.
    store.append(message(bob, alice, 5)).await.unwrap();
    store.append(message(alice, bob, 6)).await.unwrap();
    store.append(message(alice, bob, 7)).await.unwrap();
    assert!(matches!(
        store.append(message(alice, bob, 8)).await,
        Err(AppendError::ShareFull { limit: 4 })
    ));
    // What bob confirms frees alice's share.
    store.delivered(bob, D0, vec![first]).await.unwrap();
    store.append(message(alice, bob, 9)).await.unwrap();
}

async fn what_waited_past_the_ttl_is_dropped(open: &Open) {
    let Opened { store, clock, .. } = open(settings(2)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    store.append(message(alice, bob, 1)).await.unwrap();
    let confirmed = store.append(message(alice, carol, 2)).await.unwrap().seq;
    store.delivered(carol, D0, vec![confirmed]).await.unwrap();
    clock.advance(TTL_MS / 2);
    store.append(message(alice, bob, 2)).await.unwrap();
    store.expire().await.unwrap();
    assert_eq!(store.waiting(bob, D0, 0, 10).await.unwrap().len(), 2);
    assert_eq!(store.receipts(alice, D0, 0, 10).await.unwrap().len(), 1);

    clock.advance(TTL_MS / 2 + 1);
    while store.expire().await.unwrap() > 0 {}
    let left = store.waiting(bob, D0, 0, 10).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
        ["message 2"],
        "the first message is older than the TTL"
    );
    assert!(
        store.receipts(alice, D0, 0, 10).await.unwrap().is_empty(),
        "so is the receipt"
    );
    // Its place is free again.
    store.append(message(alice, bob, 3)).await.unwrap();
}

async fn closing_finishes_what_was_called_before(open: &Open) {
    let Opened { store, .. } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    let appends: Vec<_> = (0..50)
        .map(|n| store.append(message(alice, bob, n)))
        .collect();
    let close = store.close();
    let after = store.append(message(alice, bob, 99));
    close.await.unwrap();
    for append in appends {
        append.await.expect("called before the close: done");
    }
    assert!(after.await.is_err(), "called after the close: refused");
}

fn device(n: u8) -> DeviceId {
    DeviceId::new(n).unwrap()
}

/// Links one more device, of `secret`, to `id` with a fresh code.
async fn link_one(store: &Arc<dyn Store>, clock: &ManualClock, id: PeerId, secret: &str) -> Linked {
    let code = hash(&format!("{secret} code-0000000"));
    store
        .link_code(id, code, clock.now_millis() + 60_000)
        .await
        .unwrap();
    store.link(id, code, hash(secret), None).await.unwrap()
}

/// Claims `id` and links `more` devices to it (each secret `"<id> device <n>"`).
async fn with_devices(store: &Arc<dyn Store>, clock: &ManualClock, id: PeerId, more: u8) {
    store
        .claim(id, hash(&format!("{id} device 0")))
        .await
        .unwrap();
    for n in 1..=more {
        let linked = link_one(store, clock, id, &format!("{id} device {n}")).await;
        assert_eq!(linked, Linked::Linked(device(n)));
    }
}

async fn devices_are_claimed_linked_listed_and_unlinked(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(10)).await;
    let id = new_peer();
    store.watch(id).await.unwrap();
    let first = hash("first-device-secret");
    assert_eq!(store.claim(id, first).await.unwrap(), Claim::Claimed(D0));
    let code = hash("one-time-code-000000");
    let laptop = hash("laptop-secret-000000");
    // No code yet, then a wrong one: refused.
    assert_eq!(
        store.link(id, code, laptop, None).await.unwrap(),
        Linked::Refused
    );
    store
        .link_code(id, code, clock.now_millis() + 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .link(id, hash("wrong-code-00000000"), laptop, None)
            .await
            .unwrap(),
        Linked::Refused
    );
    assert_eq!(
        store
            .link(id, code, laptop, Some("Laptop".into()))
            .await
            .unwrap(),
        Linked::Linked(device(1))
    );
    let Notice::Devices {
        id: whose,
        devices,
        unlinked,
    } = next_any_notice(&mut notices).await
    else {
        panic!("a devices notice");
    };
    assert_eq!((whose, unlinked), (id, None));
    assert_eq!(
        devices
            .iter()
            .map(|d| (d.device, d.name.as_deref()))
            .collect::<Vec<_>>(),
        [(D0, None), (device(1), Some("Laptop"))]
    );
    assert_eq!(store.devices(id).await.unwrap(), devices);
    // The same device again finds itself; the used code links nobody else.
    assert_eq!(
        store.link(id, code, laptop, None).await.unwrap(),
        Linked::Linked(device(1))
    );
    assert_eq!(
        store
            .link(id, code, hash("phone-secret-000000"), None)
            .await
            .unwrap(),
        Linked::Refused
    );
    assert_eq!(
        store.claim(id, laptop).await.unwrap(),
        Claim::Verified(device(1))
    );
    assert_eq!(store.claim(id, first).await.unwrap(), Claim::Verified(D0));
    // An expired code links nobody.
    let late = hash("late-code-000000000");
    store
        .link_code(id, late, clock.now_millis() + 1_000)
        .await
        .unwrap();
    clock.advance(1_000);
    assert_eq!(
        store
            .link(id, late, hash("phone-secret-000000"), None)
            .await
            .unwrap(),
        Linked::Refused
    );
    // Unlinking: only a device the id has, never the last.
    assert_eq!(
        store.unlink(id, device(3)).await.unwrap(),
        Unlinked::Unknown
    );
    assert_eq!(store.unlink(id, D0).await.unwrap(), Unlinked::Unlinked);
    let Notice::Devices {
        devices, unlinked, ..
    } = next_any_notice(&mut notices).await
    else {
        panic!("a devices notice");
    };
    assert_eq!(unlinked, Some(D0));
    assert_eq!(
        devices.iter().map(|d| d.device).collect::<Vec<_>>(),
        [device(1)]
    );
    assert_eq!(store.claim(id, first).await.unwrap(), Claim::Refused);
    assert_eq!(store.unlink(id, device(1)).await.unwrap(), Unlinked::Last);
    assert!(store.is_claimed(id).await.unwrap());

    // At most five.
    let full = new_peer();
    with_devices(&store, &clock, full, MAX_DEVICES - 1).await;
    assert_eq!(
        link_one(&store, &clock, full, "sixth-secret-000000").await,
        Linked::Full
    );
}

async fn a_message_waits_for_every_device_of_its_recipient(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(2)).await;
    let (alice, bob) = (new_peer(), new_peer());
    with_devices(&store, &clock, bob, 1).await;
    store.watch(alice).await.unwrap();
    store.watch(bob).await.unwrap();
    let m = message(alice, bob, 1);
    let seq = store.append(m.clone()).await.unwrap().seq;
    assert!(matches!(
        next_notice(&mut notices).await,
        Notice::Message(_)
    ));
    for d in [D0, device(1)] {
        let waiting = store.waiting(bob, d, 0, 10).await.unwrap();
        assert_eq!(waiting.iter().map(|e| e.id).collect::<Vec<_>>(), [m.id]);
    }
    // The first confirmation makes the receipt; the message still waits for the other.
    store.delivered(bob, device(1), vec![seq]).await.unwrap();
    let Notice::Receipt(receipt) = next_notice(&mut notices).await else {
        panic!("a receipt");
    };
    assert_eq!((receipt.sender, receipt.receipt.id), (alice, m.id));
    assert!(
        store
            .waiting(bob, device(1), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.waiting(bob, D0, 0, 10).await.unwrap().len(), 1);
    // It still counts against bob's queue of two.
    store.append(message(alice, bob, 2)).await.unwrap();
    assert!(matches!(
        store.append(message(alice, bob, 3)).await,
        Err(AppendError::QueueFull { limit: 2 })
    ));
    store.delivered(bob, D0, vec![seq]).await.unwrap();
    assert!(
        !store
            .waiting(bob, D0, 0, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == m.id)
    );
    store.append(message(alice, bob, 3)).await.unwrap();
    // One receipt only, whichever device confirmed first.
    let receipts = store.receipts(alice, D0, 0, 10).await.unwrap();
    assert_eq!(receipts.iter().filter(|r| r.id == m.id).count(), 1);

    // A device linked later gets what is stored from then on.
    let later = link_one(&store, &clock, bob, "later-secret-000000").await;
    assert_eq!(later, Linked::Linked(device(2)));
    assert!(
        store
            .waiting(bob, device(2), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_senders_other_devices_get_what_it_sent_and_its_receipts(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(10)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    with_devices(&store, &clock, alice, 1).await;
    store.watch(alice).await.unwrap();
    store.watch(bob).await.unwrap();
    let m = message(alice, bob, 1);
    store.append(m.clone()).await.unwrap();
    let mut sent = None;
    for _ in 0..2 {
        match next_notice(&mut notices).await {
            Notice::Sent(envelope) => sent = Some(envelope),
            Notice::Message(envelope) => assert_eq!(envelope.to, bob),
            other => panic!("{other:?}"),
        }
    }
    let sent = sent.expect("a notice for alice's other device");
    assert_eq!((sent.from, sent.to, sent.id), (alice, bob, m.id));
    assert_eq!(sent.body, m.body);
    // Kept for alice's other device, not for the one that sent it.
    let copies = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(copies, std::slice::from_ref(&sent));
    assert!(store.waiting(alice, D0, 0, 10).await.unwrap().is_empty());
    // Among what comes for that device, in order.
    let reply = message(carol, alice, 2);
    store.append(reply.clone()).await.unwrap();
    let both = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(
        both.iter().map(|e| e.id).collect::<Vec<_>>(),
        [m.id, reply.id]
    );
    store
        .delivered(alice, device(1), vec![sent.seq])
        .await
        .unwrap();
    let left = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [reply.id]);

    // Its receipt waits for both of alice's devices.
    let to_bob = store.waiting(bob, D0, 0, 10).await.unwrap();
    store.delivered(bob, D0, vec![to_bob[0].seq]).await.unwrap();
    let on_first = store.receipts(alice, D0, 0, 10).await.unwrap();
    let on_second = store.receipts(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(on_first.len(), 1);
    assert_eq!(on_first, on_second);
    store
        .forget_receipts(alice, D0, vec![on_first[0].seq])
        .await
        .unwrap();
    assert!(store.receipts(alice, D0, 0, 10).await.unwrap().is_empty());
    assert_eq!(
        store.receipts(alice, device(1), 0, 10).await.unwrap(),
        on_second
    );
    // So does a read receipt.
    store.read(bob, alice, vec![m.id]).await.unwrap();
    for d in [D0, device(1)] {
        let read = store.receipts(alice, d, 0, 10).await.unwrap();
        assert_eq!(read.last().map(|r| r.read_at.is_some()), Some(true), "{d}");
    }

    // To oneself: the message reaches every device, no copy besides.
    let note = message(alice, alice, 3);
    store.append(note.clone()).await.unwrap();
    for d in [D0, device(1)] {
        let waiting = store.waiting(alice, d, 0, 10).await.unwrap();
        assert_eq!(waiting.iter().filter(|e| e.id == note.id).count(), 1, "{d}");
    }

    // To someone who blocks alice: her other device still sees what she sent.
    store.block(carol, alice, true).await.unwrap();
    let blocked = message(alice, carol, 4);
    store.append(blocked.clone()).await.unwrap();
    assert!(store.waiting(carol, D0, 0, 10).await.unwrap().is_empty());
    let waiting = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert!(waiting.iter().any(|e| e.id == blocked.id && e.to == carol));
}

/// An end-to-end encrypted message from `from`'s first device, for the devices `for`
/// (each with its keys): "" as its body.
fn encrypted_message(from: &KeyMaker, to: PeerId, r#for: &[&KeyMaker]) -> NewMessage {
    let ciphertexts = r#for
        .iter()
        .enumerate()
        .map(|(n, keys)| Ciphertext {
            peer: keys.id,
            device: keys.device,
            key: keys.device_keys().curve25519,
            kind: if n == 0 { PRE_KEY } else { NORMAL },
            body: format!("AwogZm9yIGRldmljZS{n}"),
        })
        .collect();
    NewMessage {
        body: String::new(),
        encrypted: Some(Encrypted {
            sender_device: from.device,
            sender_key: from.device_keys().curve25519,
            ciphertexts,
        }),
        ..message(from.id, to, 0)
    }
}

async fn an_encrypted_message_is_kept_and_handed_back_as_given(open: &Open) {
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(10)).await;
    let (alice, bob) = (new_peer(), new_peer());
    with_devices(&store, &clock, alice, 1).await;
    store.claim(bob, hash("bob's secret-000000")).await.unwrap();
    let mut alice_phone = KeyMaker::new(alice, D0);
    let mut alice_laptop = KeyMaker::new(alice, device(1));
    let mut bob_phone = KeyMaker::new(bob, D0);
    for keys in [&mut alice_phone, &mut alice_laptop, &mut bob_phone] {
        store
            .publish_keys(keys.id, keys.device, keys.publish(0, false))
            .await
            .unwrap();
    }
    store.watch(alice).await.unwrap();
    store.watch(bob).await.unwrap();
    if store.checks_encrypted() {
        // Not for alice's other device, which publishes keys: refused, nothing kept.
        let partial = encrypted_message(&alice_phone, bob, &[&bob_phone]);
        match store.append(partial).await {
            Err(AppendError::Refused(rejection)) => {
                assert_eq!(rejection.code, ErrorCode::DevicesChanged, "{rejection:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(store.waiting(bob, D0, 0, 10).await.unwrap().is_empty());
        assert!(
            store
                .waiting(alice, device(1), 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let m = encrypted_message(&alice_phone, bob, &[&bob_phone, &alice_laptop]);
    let appended = store.append(m.clone()).await.unwrap();
    let check = |envelope: &relay_shared::Envelope, what: &str| {
        assert_eq!(
            (envelope.id, envelope.from, envelope.to),
            (m.id, alice, bob),
            "{what}"
        );
        assert_eq!(envelope.body, "", "{what}");
        assert_eq!(envelope.encrypted, m.encrypted, "{what}");
        assert_eq!(envelope.seq, appended.seq, "{what}");
    };
    // The live notices, for bob and for alice's other device.
    for _ in 0..2 {
        match next_notice(&mut notices).await {
            Notice::Sent(envelope) => check(&envelope, "the copy's notice"),
            Notice::Message(envelope) => check(&envelope, "the message's notice"),
            other => panic!("{other:?}"),
        }
    }
    // What waits, read back.
    let waiting = store.waiting(bob, D0, 0, 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    check(&waiting[0], "waiting for bob");
    let copies = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(copies.len(), 1);
    check(&copies[0], "the copy for alice's other device");
    // A resend is noticed again with it.
    let again = store.append(m.clone()).await.unwrap();
    assert!(again.duplicate);
    for _ in 0..2 {
        match next_notice(&mut notices).await {
            Notice::Sent(envelope) | Notice::Message(envelope) => check(&envelope, "a resend"),
            other => panic!("{other:?}"),
        }
    }
    // Bob confirms: alice's other device still gets it whole.
    store.delivered(bob, D0, vec![appended.seq]).await.unwrap();
    assert!(store.waiting(bob, D0, 0, 10).await.unwrap().is_empty());
    let copies = store.waiting(alice, device(1), 0, 10).await.unwrap();
    assert_eq!(copies.len(), 1);
    check(&copies[0], "the copy, after bob confirmed");
    // A plain message has none.
    store.append(message(alice, bob, 2)).await.unwrap();
    let plain = store.waiting(bob, D0, 0, 10).await.unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].encrypted, None);
    assert_eq!(plain[0].body, "message 2");
}

async fn unlinking_a_device_drops_what_waited_for_it(open: &Open) {
    let Opened { store, clock, .. } = open(settings(1)).await;
    let (alice, bob) = (new_peer(), new_peer());
    with_devices(&store, &clock, bob, 1).await;
    with_devices(&store, &clock, alice, 1).await;
    let m = message(alice, bob, 1);
    let seq = store.append(m).await.unwrap().seq;
    store.delivered(bob, D0, vec![seq]).await.unwrap();
    assert!(matches!(
        store.append(message(alice, bob, 2)).await,
        Err(AppendError::QueueFull { .. })
    ));
    // Bob's second device goes: nothing waits for it, and its place in the queue is free.
    assert_eq!(
        store.unlink(bob, device(1)).await.unwrap(),
        Unlinked::Unlinked
    );
    assert!(
        store
            .waiting(bob, device(1), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.append(message(alice, bob, 2)).await.unwrap();
    // Alice's second device goes: its copies and receipts with it.
    assert!(
        !store
            .waiting(alice, device(1), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.receipts(alice, device(1), 0, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.unlink(alice, device(1)).await.unwrap(),
        Unlinked::Unlinked
    );
    assert!(
        store
            .waiting(alice, device(1), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .receipts(alice, device(1), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.receipts(alice, D0, 0, 10).await.unwrap().len(), 1);
}

async fn copies_are_kept_once_and_leave_the_queue_to_messages(open: &Open) {
    let Opened { store, clock, .. } = open(settings(2)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    with_devices(&store, &clock, alice, 2).await;
    let first = message(alice, bob, 1);
    store.append(first.clone()).await.unwrap();
    store.append(message(alice, bob, 2)).await.unwrap();
    assert!(store.append(first.clone()).await.unwrap().duplicate);
    for d in [device(1), device(2)] {
        let copies = store.waiting(alice, d, 0, 10).await.unwrap();
        assert_eq!(copies.len(), 2, "{d}: one copy each, the resend none");
        assert!(copies.iter().all(|e| e.from == alice && e.to == bob));
    }
    assert!(store.waiting(alice, D0, 0, 10).await.unwrap().is_empty());
    // Copies take no place in alice's own queue of two.
    store.append(message(carol, alice, 3)).await.unwrap();
    store.append(message(carol, alice, 4)).await.unwrap();
    assert!(matches!(
        store.append(message(carol, alice, 5)).await,
        Err(AppendError::QueueFull { limit: 2 })
    ));
    // From device 2: copies for 0 and 1.
    let mut from_two = message(alice, bob, 6);
    from_two.device = device(2);
    store.delivered(bob, D0, vec![]).await.unwrap();
    let waiting_bob = store.waiting(bob, D0, 0, 10).await.unwrap();
    store
        .delivered(bob, D0, waiting_bob.iter().map(|e| e.seq).collect())
        .await
        .unwrap();
    store.append(from_two.clone()).await.unwrap();
    for (d, expected) in [(D0, 1), (device(1), 3), (device(2), 2)] {
        let waiting = store.waiting(alice, d, 0, 10).await.unwrap();
        let copies = waiting.iter().filter(|e| e.from == alice).count();
        assert_eq!(copies, expected, "{d}");
    }
    // Each device confirming: gone for it alone; once all have, gone.
    let seq = store
        .waiting(alice, D0, 0, 10)
        .await
        .unwrap()
        .iter()
        .find(|e| e.id == from_two.id)
        .unwrap()
        .seq;
    store.delivered(alice, D0, vec![seq]).await.unwrap();
    assert!(
        !store
            .waiting(alice, D0, 0, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == from_two.id)
    );
    assert!(
        store
            .waiting(alice, device(1), 0, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == from_two.id)
    );
    store.delivered(alice, device(1), vec![seq]).await.unwrap();
    assert!(
        !store
            .waiting(alice, device(1), 0, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == from_two.id)
    );
}

async fn unlinking_the_first_device_keeps_what_waits_for_the_others(open: &Open) {
    let Opened { store, clock, .. } = open(settings(10)).await;
    let (alice, bob) = (new_peer(), new_peer());
    store
        .claim(bob, hash(&format!("{bob} device 0")))
        .await
        .unwrap();
    // Stored while bob had one device: for it alone.
    store.append(message(alice, bob, 1)).await.unwrap();
    link_one(&store, &clock, bob, "bob-second-secret-0").await;
    let later = store.append(message(alice, bob, 2)).await.unwrap().seq;
    assert_eq!(
        store
            .waiting(bob, device(1), 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [later]
    );
    assert_eq!(store.unlink(bob, D0).await.unwrap(), Unlinked::Unlinked);
    assert_eq!(
        store
            .waiting(bob, device(1), 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [later]
    );
    assert!(store.waiting(bob, D0, 0, 10).await.unwrap().is_empty());
    // The freed number goes to the next device linked.
    assert_eq!(
        link_one(&store, &clock, bob, "bob-third-secret-00").await,
        Linked::Linked(D0)
    );
    assert!(
        store.waiting(bob, D0, 0, 10).await.unwrap().is_empty(),
        "nothing from before"
    );
}

/// The ids of the one-time keys claimed, in order (`"-"` for none, `"F"` before a
/// fallback key's).
fn claimed_ids(claimed: &[ClaimedKey]) -> Vec<String> {
    claimed
        .iter()
        .map(|c| match &c.one_time_key {
            None => "-".to_owned(),
            Some(k) if c.fallback => format!("F{}", k.key_id),
            Some(k) => k.key_id.to_string(),
        })
        .collect()
}

async fn keys_are_published_listed_and_claimed_once(open: &Open) {
    let Opened { store, clock, .. } = open(settings(10)).await;
    let id = new_peer();
    let (first, second) = (D0, device(1));
    let mut keys = KeyMaker::new(id, first);
    // Nobody owns the id yet: nothing to publish for, nothing to list or claim.
    assert_eq!(
        store
            .publish_keys(id, first, keys.publish(2, true))
            .await
            .unwrap(),
        Published::Unknown
    );
    assert!(store.keys(id).await.unwrap().is_empty());
    assert!(store.claim_keys(id, vec![first]).await.unwrap().is_empty());

    with_devices(&store, &clock, id, 1).await;
    let mut published = keys.publish(3, true);
    let fallback = published.fallback_key.clone().unwrap();
    let mut expected: Vec<String> = published
        .one_time_keys
        .iter()
        .map(|k| k.key_id.to_string())
        .collect();
    assert_eq!(
        store
            .publish_keys(id, first, published.clone())
            .await
            .unwrap(),
        Published::Kept(3)
    );
    // The same again (an answer lost) adds nothing; fresh ones add to the stock.
    assert_eq!(
        store
            .publish_keys(id, first, published.clone())
            .await
            .unwrap(),
        Published::Kept(3)
    );
    published.one_time_keys = vec![keys.key(relay_shared::keys::KeyKind::OneTime)];
    published.fallback_key = None;
    expected.push(published.one_time_keys[0].key_id.to_string());
    assert_eq!(
        store.publish_keys(id, first, published).await.unwrap(),
        Published::Kept(4)
    );
    assert_eq!(
        store.keys(id).await.unwrap(),
        [
            DeviceKeysEntry {
                device: first,
                keys: Some(keys.device_keys()),
            },
            DeviceKeysEntry {
                device: second,
                keys: None,
            },
        ]
    );

    // Each one-time key once, oldest first; then the fallback key, every time. A device
    // without keys, or not the id's, gets nothing.
    let mut ids = Vec::new();
    for _ in 0..6 {
        let claimed = store
            .claim_keys(id, vec![first, second, device(4)])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "only the first device has keys");
        assert_eq!(claimed[0].device, first);
        assert_eq!(claimed[0].device_keys, keys.device_keys());
        ids.extend(claimed_ids(&claimed));
    }
    expected.extend([
        format!("F{}", fallback.key_id),
        format!("F{}", fallback.key_id),
    ]);
    assert_eq!(ids, expected);

    // The stock is bounded: a publish above it changes nothing.
    let mut second_keys = KeyMaker::new(id, second);
    let bound = usize::try_from(MAX_ONE_TIME_KEYS).unwrap();
    for _ in 0..bound / 50 {
        let batch = second_keys.publish(50, false);
        assert!(matches!(
            store.publish_keys(id, second, batch).await.unwrap(),
            Published::Kept(_)
        ));
    }
    assert_eq!(
        store
            .publish_keys(id, second, second_keys.publish(1, true))
            .await
            .unwrap(),
        Published::Full
    );
    let claimed = store.claim_keys(id, vec![second]).await.unwrap();
    assert_eq!(
        claimed_ids(&claimed),
        ["k1"],
        "oldest first; the refused publish kept nothing"
    );
    assert_eq!(
        store
            .publish_keys(id, second, second_keys.publish(1, false))
            .await
            .unwrap(),
        Published::Kept(MAX_ONE_TIME_KEYS)
    );

    // New long-term keys (the device lost its own) drop what was kept with the old.
    let mut renewed = second_keys.renewed();
    assert_eq!(
        store
            .publish_keys(id, second, renewed.publish(1, false))
            .await
            .unwrap(),
        Published::Kept(1)
    );
    let claimed = store.claim_keys(id, vec![second]).await.unwrap();
    assert_eq!(claimed[0].device_keys, renewed.device_keys());
    assert_eq!(claimed_ids(&claimed), ["k1"]);
    assert_eq!(
        claimed_ids(&store.claim_keys(id, vec![second]).await.unwrap()),
        ["-"],
        "no one-time key left and no fallback key"
    );

    // Unlinking a device drops its keys; linking another in its place starts bare.
    assert_eq!(store.unlink(id, second).await.unwrap(), Unlinked::Unlinked);
    assert_eq!(store.keys(id).await.unwrap().len(), 1);
    assert!(store.claim_keys(id, vec![second]).await.unwrap().is_empty());
    assert_eq!(
        link_one(&store, &clock, id, &format!("{id} device again")).await,
        Linked::Linked(second)
    );
    assert_eq!(
        store.keys(id).await.unwrap()[1],
        DeviceKeysEntry {
            device: second,
            keys: None,
        }
    );
    assert!(store.claim_keys(id, vec![second]).await.unwrap().is_empty());
}

/// Runs every case against one backend, naming the case that fails.
async fn run_contract(backend: &str, open: Open) {
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {
            $(
                println!("{backend}: {}", stringify!($case));
                $case(&open).await;
            )*
        };
    }
    cases!(
        claims,
        keys_are_published_listed_and_claimed_once,
        devices_are_claimed_linked_listed_and_unlinked,
        a_message_waits_for_every_device_of_its_recipient,
        a_senders_other_devices_get_what_it_sent_and_its_receipts,
        an_encrypted_message_is_kept_and_handed_back_as_given,
        unlinking_a_device_drops_what_waited_for_it,
        copies_are_kept_once_and_leave_the_queue_to_messages,
        unlinking_the_first_device_keeps_what_waits_for_the_others,
        appends_are_ordered_idempotent_and_paged,
        operations_see_those_called_before_them,
        confirming_turns_messages_into_receipts_for_their_senders,
        reading_makes_read_receipts_that_wait_for_their_sender,
        a_blocked_senders_messages_are_answered_and_kept_nowhere,
        a_resend_of_a_waiting_message_is_noticed_again,
        presence_follows_comings_and_goings_and_is_shown_to_contacts_only,
        each_recipient_has_a_bounded_queue,
        each_sender_has_a_share_of_a_recipients_queue,
        what_waited_past_the_ttl_is_dropped,
        closing_finishes_what_was_called_before,
    );
}

/// A queue of `max_queue`, without sender shares.
fn settings(max_queue: u32) -> Settings {
    Settings {
        max_queue,
        max_queue_per_sender: max_queue,
        max_queue_per_stranger: max_queue,
        ttl: TTL,
        heartbeat: HEARTBEAT,
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_800_000_000_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_meets_the_contract() {
    let dirs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let open: Open = Box::new(move |settings| {
        let dirs = dirs.clone();
        Box::pin(async move {
            let dir = tempfile::tempdir().expect("a data directory");
            let clock = clock();
            let (tx, notices) = Notices::channel(1024);
            let store =
                SqliteStore::open(dir.path(), settings, Durability::Normal, clock.clone(), tx)
                    .expect("the store opens");
            dirs.lock().expect("dirs").push(dir);
            Opened {
                store: Arc::new(store),
                clock,
                notices,
            }
        })
    });
    run_contract("sqlite", open).await;
}

/// An `Open` for the Redis at `url`.
fn redis_backend(url: String) -> Open {
    Box::new(move |settings| {
        let url = url.clone();
        Box::pin(async move {
            let clock = clock();
            let (tx, notices) = Notices::channel(1024);
            let (store, _link) = RedisStore::open(&url, settings, clock.clone(), tx)
                .await
                .expect("the store connects");
            Opened {
                store: Arc::new(store),
                clock,
                notices,
            }
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_meets_the_contract() {
    let redis = RedisServer::start();
    run_contract("redis", redis_backend(redis.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_a_unix_socket_meets_the_contract() {
    let redis = RedisServer::start_with_unix_socket();
    run_contract("redis over a unix socket", redis_backend(redis.unix_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_meets_the_contract() {
    let cluster = RedisCluster::start();
    run_contract("redis cluster", redis_backend(cluster.url())).await;
}

/// What only a shared store does: two nodes see each other's writes and notices, and
/// a claim raced from both has one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_redis_see_each_others_messages_and_claims() {
    let redis = RedisServer::start();
    let open = redis_backend(redis.url());
    let (one, mut two) = (open(settings(100)).await, open(settings(100)).await);
    let (alice, bob) = (new_peer(), new_peer());
    two.store.watch(bob).await.unwrap();
    let appended = one.store.append(message(alice, bob, 1)).await.unwrap();
    let Notice::Message(envelope) = next_notice(&mut two.notices).await else {
        panic!("a stored notice on the other node");
    };
    assert_eq!((envelope.seq, envelope.to), (appended.seq, bob));

    for round in 0..20 {
        let id = new_peer();
        let secrets = (hash("secret-one-000000"), hash("secret-two-000000"));
        let (a, b) = tokio::join!(
            one.store.claim(id, secrets.0),
            two.store.claim(id, secrets.1)
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|c| *c == Claim::Refused);
        assert_eq!(
            outcomes,
            [Claim::Claimed(D0), Claim::Refused],
            "round {round}"
        );
    }

    two.store.unwatch(bob).await.unwrap();
    one.store.append(message(alice, bob, 2)).await.unwrap();
    let carol = new_peer();
    two.store.watch(carol).await.unwrap();
    one.store.append(message(alice, carol, 3)).await.unwrap();
    let Notice::Message(next) = next_notice(&mut two.notices).await else {
        panic!("a stored notice");
    };
    assert_eq!(next.to, carol, "nothing more for bob once unwatched");
}

/// Confirming spans peers in steps; a node that dies between them leaves the receipt in
/// the recipient's outbox, and a later confirmation of that recipient hands it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_a_dead_node_left_in_an_outbox_reaches_its_sender_later() {
    let redis = RedisServer::start();
    let open = redis_backend(redis.url());
    let Opened {
        store,
        clock,
        mut notices,
    } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    store.watch(alice).await.unwrap();
    // What a node that died after the first step leaves behind.
    let id = MessageId::from_uuid(uuid::Uuid::new_v4());
    let entry = format!(
        "{}\n{alice}\n{{\"id\":\"{id}\",\"to\":\"{bob}\",\"delivered_at\":{}}}",
        clock.now_millis(),
        clock.now_millis()
    );
    let added = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "HSET"])
        .arg(format!("relay:{{{bob}}}:outbox"))
        .arg("12345")
        .arg(&entry)
        .output()
        .expect("redis-cli runs");
    assert!(added.status.success());

    // A confirmation right away leaves it to its node (it may still be at work)...
    store.delivered(bob, D0, vec![]).await.unwrap();
    assert!(store.receipts(alice, D0, 0, 10).await.unwrap().is_empty());
    // ...one ten seconds later takes it over.
    clock.advance(11_000);
    store.delivered(bob, D0, vec![]).await.unwrap();
    let receipts = store.receipts(alice, D0, 0, 10).await.unwrap();
    assert_eq!(
        receipts.iter().map(|r| (r.id, r.to)).collect::<Vec<_>>(),
        [(id, bob)]
    );
    let Notice::Receipt(ReceiptFor { sender, receipt }) = next_notice(&mut notices).await else {
        panic!("a receipt notice");
    };
    assert_eq!((sender, receipt.id), (alice, id));
    // Handed over once: the outbox is cleared with the next operation.
    clock.advance(11_000);
    store.delivered(bob, D0, vec![]).await.unwrap();
    store.is_claimed(bob).await.unwrap();
    assert_eq!(store.receipts(alice, D0, 0, 10).await.unwrap().len(), 1);
}

/// A node that stops beating has its peers' presence ended by another, as of its last
/// heartbeat; when it beats again, it writes its peers' presence back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nodes_presence_is_ended_by_another_and_written_again_when_it_returns() {
    let redis = RedisServer::start();
    let open = redis_backend(redis.url());
    let (one, two) = (open(settings(100)).await, open(settings(100)).await);
    let (alice, bob) = (new_peer(), new_peer());
    one.store.append(message(bob, alice, 1)).await.unwrap();
    assert_eq!(
        one.store.present(vec![(bob, true)]).await.unwrap(),
        [Some(online(bob))]
    );
    let last_beat = one.clock.now_millis();
    assert!(one.store.heartbeat().await.unwrap().is_empty());
    assert!(two.store.heartbeat().await.unwrap().is_empty());
    // Node one goes silent for two heartbeats: not dead yet.
    two.clock.advance(2 * 5_000);
    assert!(two.store.heartbeat().await.unwrap().is_empty());
    assert_eq!(
        two.store.presence(alice, vec![bob]).await.unwrap(),
        [online(bob)]
    );
    // Past three, it is.
    two.clock.advance(5_001);
    assert_eq!(
        two.store.heartbeat().await.unwrap(),
        [offline(bob, Some(last_beat))]
    );
    assert_eq!(
        two.store.presence(alice, vec![bob]).await.unwrap(),
        [offline(bob, Some(last_beat))]
    );
    assert!(
        two.store.heartbeat().await.unwrap().is_empty(),
        "ended once"
    );
    // Node one was only slow: its next heartbeat writes bob back.
    one.clock.advance(15_001);
    assert_eq!(one.store.heartbeat().await.unwrap(), [online(bob)]);
    assert_eq!(
        two.store.presence(alice, vec![bob]).await.unwrap(),
        [online(bob)]
    );
    // And a clean stop leaves its peers to the next heartbeat of another.
    one.store.close().await.unwrap();
    two.clock.advance(1);
    let ended = two.store.heartbeat().await.unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].state, PresenceState::Offline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_claimed_before_devices_is_its_first_device() {
    let redis = RedisServer::start();
    let open = redis_backend(redis.url());
    let Opened { store, clock, .. } = open(settings(10)).await;
    let id = new_peer();
    let secret = hash("an-old-secret-000000");
    let set = |key: String, bytes: &[u8]| {
        use std::io::Write;
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "-x", "SET"])
            .arg(key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli runs");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        assert!(child.wait().unwrap().success());
    };
    set(format!("relay:{{{id}}}:owner"), secret.as_bytes());
    assert!(store.is_claimed(id).await.unwrap());
    assert_eq!(
        store.claim(id, hash("someone-else-000000")).await.unwrap(),
        Claim::Refused
    );
    assert_eq!(store.claim(id, secret).await.unwrap(), Claim::Verified(D0));
    let devices = store.devices(id).await.unwrap();
    assert_eq!(devices.iter().map(|d| d.device).collect::<Vec<_>>(), [D0]);
    assert_eq!(
        link_one(&store, &clock, id, "a-new-device-000000").await,
        Linked::Linked(device(1))
    );
    assert_eq!(store.claim(id, secret).await.unwrap(), Claim::Verified(D0));
}
