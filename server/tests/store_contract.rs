//! The [`Store`] contract, one suite run against every backend: an SQLite file, one
//! redis-server, and a Redis Cluster of three masters, each a real process started by
//! the test. Each case opens a fresh store (with its own clock and limits) on the
//! backend and uses fresh peer ids.

#![allow(clippy::unwrap_used)] // the contract cases are test code called by the tests below

mod fixture;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use fixture::{
    new_peer,
    redis::{RedisCluster, RedisServer},
    within,
};
use relay_server::{
    clock::{Clock, ManualClock},
    identity::SecretHash,
    store::{
        AppendError, Claim, Durability, NewMessage, Notice, NoticeStream, Notices, ReceiptFor,
        RedisStore, Settings, SqliteStore, Store,
    },
};
use relay_shared::{
    MessageId, PeerId, Secret,
    presence::{PresenceNotice, PresenceState},
};

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
    }
}

fn hash(secret: &str) -> SecretHash {
    SecretHash::of(&secret.parse::<Secret>().expect("a secret"))
}

async fn next_notice(notices: &mut NoticeStream) -> Notice {
    within("a notice", notices.next())
        .await
        .expect("the store is open")
}

async fn claims(open: &Open) {
    let Opened { store, .. } = open(settings(10)).await;
    let id = new_peer();
    assert!(!store.is_claimed(id).await.unwrap());
    let (one, two) = (hash("secret-one-000000"), hash("secret-two-000000"));
    assert_eq!(store.claim(id, one).await.unwrap(), Claim::Claimed);
    assert_eq!(store.claim(id, one).await.unwrap(), Claim::Verified);
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

    let first = store.waiting(bob, 0, 3).await.unwrap();
    let bodies: Vec<&str> = first.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, ["message 0", "message 1", "message 2"]);
    assert_eq!(
        (first[0].from, first[0].to, first[0].id),
        (alice, bob, sent[0].0.id)
    );
    assert_eq!(first[0].seq, seqs[0]);
    let rest = store.waiting(bob, first[2].seq, 3).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(store.waiting(alice, 0, 10).await.unwrap().is_empty());
}

async fn operations_see_those_called_before_them(open: &Open) {
    let Opened { store, .. } = open(settings(100)).await;
    let (alice, bob) = (new_peer(), new_peer());
    // Not awaited before the read is called: still seen, the queue keeps call order.
    let append = store.append(message(alice, bob, 1));
    let waiting = store.waiting(bob, 0, 10);
    let (append, waiting) = tokio::join!(append, waiting);
    assert_eq!(waiting.unwrap()[0].seq, append.unwrap().seq);

    let hash = hash("secret-one-000000");
    let claim = store.claim(alice, hash);
    let claimed = store.is_claimed(alice);
    let (claim, claimed) = tokio::join!(claim, claimed);
    assert_eq!(claim.unwrap(), Claim::Claimed);
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
    store.delivered(bob, vec![a, b, other, 999]).await.unwrap();
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

    assert!(store.waiting(bob, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.waiting(dave, 0, 10).await.unwrap().len(), 1);
    // A second confirmation changes nothing.
    store.delivered(bob, vec![a]).await.unwrap();

    let kept = store.receipts(alice, 0, 10).await.unwrap();
    assert_eq!(kept, [receipt], "the receipt waits for its sender");
    assert_eq!(store.receipts(carol, 0, 10).await.unwrap().len(), 1);
    // Someone else cannot forget alice's receipts (a seq names one of the sender's own).
    store
        .forget_receipts(dave, vec![receipt.seq])
        .await
        .unwrap();
    assert_eq!(store.receipts(alice, 0, 10).await.unwrap().len(), 1);
    store
        .forget_receipts(alice, vec![receipt.seq])
        .await
        .unwrap();
    assert!(store.receipts(alice, 0, 10).await.unwrap().is_empty());
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
    store.delivered(bob, vec![seq]).await.unwrap();
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
    let kept = store.receipts(alice, 0, 10).await.unwrap();
    assert_eq!(kept.last(), Some(&receipt));
    // Carol's receipts are hers: alice's read does not reach them.
    assert!(store.receipts(carol, 0, 10).await.unwrap().is_empty());
    let seqs = kept.iter().map(|r| r.seq).collect();
    store.forget_receipts(alice, seqs).await.unwrap();
    assert!(store.receipts(alice, 0, 10).await.unwrap().is_empty());
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
    let waiting = store.waiting(bob, 0, 10).await.unwrap();
    assert_eq!(waiting.iter().map(|e| e.from).collect::<Vec<_>>(), [carol]);

    // Unblocked: from then on, kept and noticed again.
    assert!(store.block(bob, alice, false).await.unwrap());
    assert!(matches!(
        next_notice(&mut notices).await,
        Notice::Blocked { on: false, .. }
    ));
    assert!(store.blocked(bob).await.unwrap().is_empty());
    store.append(message(alice, bob, 3)).await.unwrap();
    assert_eq!(store.waiting(bob, 0, 10).await.unwrap().len(), 2);
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
    store.delivered(bob, vec![first_seq]).await.unwrap();
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
    store.delivered(bob, vec![first]).await.unwrap();
    store.append(message(alice, bob, 9)).await.unwrap();
}

async fn what_waited_past_the_ttl_is_dropped(open: &Open) {
    let Opened { store, clock, .. } = open(settings(2)).await;
    let (alice, bob, carol) = (new_peer(), new_peer(), new_peer());
    store.append(message(alice, bob, 1)).await.unwrap();
    let confirmed = store.append(message(alice, carol, 2)).await.unwrap().seq;
    store.delivered(carol, vec![confirmed]).await.unwrap();
    clock.advance(TTL_MS / 2);
    store.append(message(alice, bob, 2)).await.unwrap();
    store.expire().await.unwrap();
    assert_eq!(store.waiting(bob, 0, 10).await.unwrap().len(), 2);
    assert_eq!(store.receipts(alice, 0, 10).await.unwrap().len(), 1);

    clock.advance(TTL_MS / 2 + 1);
    while store.expire().await.unwrap() > 0 {}
    let left = store.waiting(bob, 0, 10).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
        ["message 2"],
        "the first message is older than the TTL"
    );
    assert!(
        store.receipts(alice, 0, 10).await.unwrap().is_empty(),
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
        assert_eq!(outcomes, [Claim::Claimed, Claim::Refused], "round {round}");
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
    store.delivered(bob, vec![]).await.unwrap();
    assert!(store.receipts(alice, 0, 10).await.unwrap().is_empty());
    // ...one ten seconds later takes it over.
    clock.advance(11_000);
    store.delivered(bob, vec![]).await.unwrap();
    let receipts = store.receipts(alice, 0, 10).await.unwrap();
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
    store.delivered(bob, vec![]).await.unwrap();
    store.is_claimed(bob).await.unwrap();
    assert_eq!(store.receipts(alice, 0, 10).await.unwrap().len(), 1);
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
