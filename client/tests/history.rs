//! The conversations kept in IndexedDB, in headless Chromium: a real database per test
//! run (`cargo xtask test` runs these with wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    reason = "test plumbing: a None or an Err is a failed test"
)]

use relay_client::{
    conversations::{Conversations, Direction, Message, Status},
    history::{History, LEGACY_KEY, PAGE, VERSION},
};
use relay_shared::{Envelope, MessageId, PeerId};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn peer() -> PeerId {
    PeerId::from_uuid(uuid::Uuid::new_v4()).unwrap()
}

fn new_id() -> MessageId {
    MessageId::from_uuid(uuid::Uuid::new_v4())
}

fn envelope(from: PeerId, seq: u64, body: &str) -> Envelope {
    Envelope {
        id: new_id(),
        from,
        to: peer(),
        body: body.into(),
        encrypted: None,
        sent_at: seq,
        seq,
    }
}

fn bodies(c: &Conversations, p: PeerId) -> Vec<String> {
    c.get(p)
        .unwrap()
        .messages
        .iter()
        .map(|m| m.body.clone())
        .collect()
}

#[wasm_bindgen_test]
async fn every_message_is_kept_and_read_back_a_page_at_a_time() {
    let history = History::open(|| {}).await.unwrap();
    let alice = peer();
    let mut c = Conversations::default();
    let total = u64::from(PAGE) * 2 + 7;
    for seq in 1..=total {
        c.receive(&envelope(alice, seq, &seq.to_string()));
        // One write per change, as the app does.
        history.write(&c.take_changes(), None).await.unwrap();
    }
    let unsent = new_id();
    c.send(alice, unsent, "not sent yet".into(), 5);
    history.write(&c.take_changes(), None).await.unwrap();

    let loaded = History::open(|| {}).await.unwrap().load().await.unwrap();
    let conversation = loaded.get(alice).unwrap();
    assert_eq!(conversation.unread, total as usize);
    assert!(conversation.more_kept);
    let shown = bodies(&loaded, alice);
    assert_eq!(
        shown.len(),
        PAGE as usize,
        "the newest page, the outbox last"
    );
    assert_eq!(shown.last().unwrap(), "not sent yet");
    assert_eq!(loaded.drafts().len(), 1, "the outbox, to send again");

    // Older pages, as the person scrolls up, down to the first message.
    let mut loaded = loaded;
    for _ in 0..3 {
        let before = loaded.get(alice).unwrap().oldest_order().unwrap();
        let (older, more) = history.older(alice, before).await.unwrap();
        loaded.add_older(alice, older, more);
    }
    let all = bodies(&loaded, alice);
    assert_eq!(all.len(), total as usize + 1);
    assert_eq!(all[0], "1");
    assert!(!loaded.get(alice).unwrap().more_kept);
}

#[wasm_bindgen_test]
async fn a_status_kept_further_on_is_never_set_back() {
    let history = History::open(|| {}).await.unwrap();
    let bob = peer();
    let id = new_id();
    let mut mine = Conversations::default();
    mine.send(bob, id, "hello".into(), 1);
    history.write(&mine.take_changes(), None).await.unwrap();
    // Another tab saw it delivered; this one learns of `sent` later and writes that.
    let mut theirs = mine.clone();
    theirs.set_status(bob, id, Status::Delivered, Some(4));
    history.write(&theirs.take_changes(), None).await.unwrap();
    mine.set_status(bob, id, Status::Sent, Some(4));
    history.write(&mine.take_changes(), None).await.unwrap();

    let loaded = history.load().await.unwrap();
    let message = &loaded.get(bob).unwrap().messages[0];
    assert_eq!(
        (message.status.clone(), message.seq),
        (Status::Delivered, 4)
    );
    assert!(
        loaded.drafts().iter().all(|d| d.id != id),
        "out of the outbox"
    );
}

/// Every message kept of `p`'s conversation, read a page at a time as the app does.
async fn all_kept(history: &History, p: PeerId) -> Vec<Message> {
    let mut loaded = history.load().await.unwrap();
    while loaded.get(p).unwrap().more_kept {
        let before = loaded.get(p).unwrap().oldest_order().unwrap();
        let (older, more) = history.older(p, before).await.unwrap();
        loaded.add_older(p, older, more);
    }
    loaded.get(p).unwrap().messages.clone()
}

#[wasm_bindgen_test]
async fn a_receipt_for_a_message_not_loaded_moves_its_kept_status_on() {
    let history = History::open(|| {}).await.unwrap();
    let dave = peer();
    let oldest = new_id();
    let mut c = Conversations::default();
    c.send(dave, oldest, "the oldest".into(), 1);
    c.set_status(dave, oldest, Status::Sent, Some(1));
    history.write(&c.take_changes(), None).await.unwrap();
    let total = u64::from(PAGE) + 20;
    for seq in 2..=total {
        c.receive(&envelope(dave, seq, &seq.to_string()));
    }
    history.write(&c.take_changes(), None).await.unwrap();
    let first_in = all_kept(&history, dave).await[1].id;

    // The page is loaded again: the oldest is not among the newest.
    let mut loaded = history.load().await.unwrap();
    assert!(
        loaded
            .get(dave)
            .unwrap()
            .messages
            .iter()
            .all(|m| m.id != oldest)
    );
    // Written, it is read back with the new status; the records moved on come back
    // (for other tabs), as (status, how many).
    let status_kept = async |loaded: &mut Conversations| {
        let moved = history.write(&loaded.take_changes(), None).await.unwrap();
        assert!(moved.iter().all(|(p, m)| (*p, m.id) == (dave, oldest)));
        let all = all_kept(&history, dave).await;
        assert_eq!(all.len(), total as usize, "no message made or lost");
        let message = all.iter().find(|m| m.id == oldest).unwrap();
        assert_eq!(
            (message.seq, message.body.as_str(), message.direction),
            (1, "the oldest", Direction::Out),
            "the rest of it as it was"
        );
        (message.status.clone(), moved.len())
    };
    assert!(!loaded.set_status(dave, oldest, Status::Delivered, None));
    assert_eq!(status_kept(&mut loaded).await, (Status::Delivered, 1));
    loaded.set_status(dave, oldest, Status::Read, None);
    assert_eq!(status_kept(&mut loaded).await, (Status::Read, 1));
    // A delivery receipt coming late does not set it back.
    loaded.set_status(dave, oldest, Status::Delivered, None);
    assert_eq!(status_kept(&mut loaded).await, (Status::Read, 0));

    // A status for a message this browser never sent makes none: not for an unknown
    // id, nor for a peer's own message, nor in a conversation there is not.
    let stranger = peer();
    loaded.set_status(dave, new_id(), Status::Read, None);
    loaded.set_status(dave, first_in, Status::Read, None);
    loaded.set_status(stranger, new_id(), Status::Delivered, None);
    assert_eq!(status_kept(&mut loaded).await, (Status::Read, 0));
    let all = all_kept(&history, dave).await;
    assert_eq!(
        (all[1].id, all[1].direction, all[1].status.clone()),
        (first_in, Direction::In, Status::Delivered)
    );
    assert!(history.load().await.unwrap().get(stranger).is_none());
}

#[wasm_bindgen_test]
async fn what_an_older_version_kept_in_local_storage_is_moved_in() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let carol = peer();
    let id = new_id();
    let legacy = format!(
        r#"{{"list":[{{"peer":"{carol}","unread":2,"messages":[
            {{"id":"{id}","direction":"In","body":"kept before","at":1,"status":"Delivered","seq":3}}
        ]}}]}}"#
    );
    storage.set_item(LEGACY_KEY, &legacy).unwrap();
    let history = History::open(|| {}).await.unwrap();
    history.migrate_legacy().await.unwrap();
    assert_eq!(
        storage.get_item(LEGACY_KEY).unwrap(),
        None,
        "moved, not copied"
    );
    let loaded = history.load().await.unwrap();
    assert_eq!(bodies(&loaded, carol), ["kept before"]);
    assert_eq!(loaded.get(carol).unwrap().unread, 2);
    assert_eq!(
        loaded.get(carol).unwrap().messages[0].direction,
        Direction::In
    );

    // Unreadable: set aside, not lost, and nothing is moved.
    storage
        .set_item(LEGACY_KEY, r#"{"list":"a newer version's"}"#)
        .unwrap();
    history.migrate_legacy().await.unwrap();
    assert_eq!(
        storage
            .get_item(&format!("{LEGACY_KEY}.unreadable"))
            .unwrap()
            .as_deref(),
        Some(r#"{"list":"a newer version's"}"#)
    );
    storage
        .remove_item(&format!("{LEGACY_KEY}.unreadable"))
        .unwrap();
}

#[wasm_bindgen_test]
async fn a_newer_version_upgrading_the_history_is_not_blocked_by_this_one() {
    use std::{cell::Cell, rc::Rc};
    use wasm_bindgen::{JsCast, closure::Closure};

    const NAME: &str = "relay-upgrade-test";
    let told = Rc::new(Cell::new(false));
    let told_here = told.clone();
    let _history = History::open_named(NAME, move || told_here.set(true))
        .await
        .unwrap();
    // What a newer version does: open the same database at a higher version.
    let factory = web_sys::window().unwrap().indexed_db().unwrap().unwrap();
    let request = factory.open_with_u32(NAME, VERSION + 1).unwrap();
    let outcome = js_sys::Promise::new(&mut |resolve, _| {
        let on = |what: &'static str| {
            let resolve = resolve.clone();
            Closure::once_into_js(move || {
                let _ = resolve.call1(&wasm_bindgen::JsValue::NULL, &what.into());
            })
        };
        request.set_onsuccess(Some(on("opened").unchecked_ref()));
        request.set_onblocked(Some(on("blocked").unchecked_ref()));
        request.set_onerror(Some(on("failed").unchecked_ref()));
    });
    let outcome = wasm_bindgen_futures::JsFuture::from(outcome).await.unwrap();
    assert_eq!(outcome.as_string().as_deref(), Some("opened"));
    assert!(told.get(), "this version was told, to reload");
}

#[wasm_bindgen_test]
async fn the_device_crypto_is_kept_with_the_changes_it_decrypted_and_read_back() {
    let name = format!("relay-crypto-test-{}", uuid::Uuid::new_v4());
    let history = History::open_named(&name, || {}).await.unwrap();
    assert_eq!(history.device_crypto().await.unwrap(), None, "none yet");
    let mut c = Conversations::default();
    c.receive(&envelope(peer(), 1, "decrypted with the first state"));
    history
        .write(&c.take_changes(), Some(r#"{"state":1}"#))
        .await
        .unwrap();
    assert_eq!(
        history.device_crypto().await.unwrap().as_deref(),
        Some(r#"{"state":1}"#)
    );
    // A write without a new state leaves the kept one; a new one replaces it.
    c.receive(&envelope(peer(), 2, "plain"));
    history.write(&c.take_changes(), None).await.unwrap();
    assert_eq!(
        history.device_crypto().await.unwrap().as_deref(),
        Some(r#"{"state":1}"#)
    );
    history
        .write(&Default::default(), Some(r#"{"state":2}"#))
        .await
        .unwrap();
    assert_eq!(
        history.device_crypto().await.unwrap().as_deref(),
        Some(r#"{"state":2}"#)
    );
    let again = History::open_named(&name, || {}).await.unwrap();
    assert_eq!(
        again.device_crypto().await.unwrap().as_deref(),
        Some(r#"{"state":2}"#)
    );
}

#[wasm_bindgen_test]
async fn a_history_kept_by_the_version_before_encryption_is_upgraded_whole() {
    use idb::{Database, Index, KeyPath, ObjectStore, TransactionMode};

    let name = format!("relay-v1-test-{}", uuid::Uuid::new_v4());
    // What version 1 made, and one message it kept.
    let v1 = Database::builder(&name)
        .version(1)
        .add_object_store(
            ObjectStore::builder("messages")
                .key_path(Some(KeyPath::new_array(["peer", "m.direction", "m.id"])))
                .add_index(Index::builder(
                    "order".into(),
                    KeyPath::new_array(["peer", "order"]),
                ))
                .add_index(Index::builder(
                    "unsent".into(),
                    KeyPath::new_single("unsent"),
                )),
        )
        .add_object_store(
            ObjectStore::builder("conversations").key_path(Some(KeyPath::new_single("peer"))),
        )
        .build()
        .await
        .unwrap();
    let alice = peer();
    let mut c = Conversations::default();
    c.receive(&envelope(alice, 1, "kept by version 1"));
    let changes = c.take_changes();
    let tx = v1
        .transaction(&["messages", "conversations"], TransactionMode::ReadWrite)
        .unwrap();
    let (_, message) = &changes.messages[0];
    let record = serde_json::json!({ "peer": alice, "m": message, "order": message.seq });
    let summary = serde_json::to_value(&changes.conversations[0]).unwrap();
    for (store, value) in [("messages", record), ("conversations", summary)] {
        let value = js_sys::JSON::parse(&value.to_string()).unwrap();
        tx.object_store(store)
            .unwrap()
            .put(&value, None)
            .unwrap()
            .await
            .unwrap();
    }
    tx.commit().unwrap().await.unwrap();
    v1.close();

    let history = History::open_named(&name, || {}).await.unwrap();
    assert_eq!(
        bodies(&history.load().await.unwrap(), alice),
        ["kept by version 1"]
    );
    assert_eq!(history.device_crypto().await.unwrap(), None);
    history
        .write(&Default::default(), Some("{}"))
        .await
        .unwrap();
    assert_eq!(
        history.device_crypto().await.unwrap().as_deref(),
        Some("{}")
    );
}
