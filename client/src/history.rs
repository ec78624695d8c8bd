//! [`History`]: the conversations kept in this browser, in IndexedDB. One record per
//! message and one per conversation, written as they change (never the whole history);
//! no cap: a conversation's newest [`PAGE`] messages are loaded on opening the app and
//! older ones as the person scrolls up. What versions before this one kept in
//! `localStorage` is moved in, and only removed from there once IndexedDB has it.
//!
//! Records are the app's own serde types as JSON values; a record that does not read
//! (a newer version's) is skipped when loading, never overwritten by it.

use std::rc::Rc;

use idb::{
    CursorDirection, Database, Index, KeyPath, KeyRange, ObjectStore, Query, TransactionMode,
};
use relay_shared::PeerId;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};

use crate::{
    conversations::{
        Changes, Conversation, Conversations, Direction, Message, StatusChange, Summary,
    },
    kept::{self, Refused},
};

/// The IndexedDB database.
const DATABASE: &str = "relay";
/// Its version: raise it, with an upgrade, when the stores below change (2 added
/// [`CRYPTO`]).
pub const VERSION: u32 = 2;
/// Messages, keyed by `[peer, direction, id]`.
const MESSAGES: &str = "messages";
/// Index of [`MESSAGES`] by `[peer, order]`: a conversation in order.
const BY_ORDER: &str = "order";
/// Index of [`MESSAGES`] by `unsent`, which only the outbox's messages have.
const OUTBOX: &str = "unsent";
/// Conversations' summaries, keyed by `peer`.
const CONVERSATIONS: &str = "conversations";
/// This device's end-to-end encryption state (since version 2): its pickle, as JSON
/// text, under [`DEVICE_CRYPTO`]. It holds the device's secret keys.
const CRYPTO: &str = "crypto";
/// The key of the device's pickle in [`CRYPTO`].
const DEVICE_CRYPTO: &str = "device";

/// Where versions before IndexedDB kept every conversation, as one JSON document.
pub const LEGACY_KEY: &str = "relay.conversations";

/// How many messages of a conversation are loaded at a time.
pub const PAGE: u32 = 100;

/// A message as kept: the message (under `m`) and its conversation's key and order, to index.
#[derive(Serialize, Deserialize)]
struct MessageRecord {
    peer: PeerId,
    #[serde(rename = "m")]
    message: Message,
    order: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unsent: Option<u8>,
}

impl MessageRecord {
    fn new(peer: PeerId, message: Message) -> Self {
        Self {
            peer,
            order: message.order(),
            unsent: message.is_unsent().then_some(1),
            message,
        }
    }
}

/// This browser's IndexedDB copy of the conversations.
#[derive(Clone)]
pub struct History {
    db: Rc<Database>,
}

impl History {
    /// Opens (or creates) the database. When a newer version of the app (in another
    /// tab) needs to upgrade it, this connection closes, so as not to block it, and
    /// `on_newer` is called: the app reloads, to be that version too.
    pub async fn open(on_newer: impl FnOnce() + 'static) -> Result<Self, Refused> {
        Self::open_named(DATABASE, on_newer).await
    }

    /// [`open`](Self::open), under another database name: for tests.
    pub async fn open_named(
        name: &str,
        on_newer: impl FnOnce() + 'static,
    ) -> Result<Self, Refused> {
        let messages = ObjectStore::builder(MESSAGES)
            .key_path(Some(KeyPath::new_array(["peer", "m.direction", "m.id"])))
            .add_index(Index::builder(
                BY_ORDER.to_owned(),
                KeyPath::new_array(["peer", "order"]),
            ))
            .add_index(Index::builder(
                OUTBOX.to_owned(),
                KeyPath::new_single("unsent"),
            ));
        let conversations =
            ObjectStore::builder(CONVERSATIONS).key_path(Some(KeyPath::new_single("peer")));
        let mut db = Database::builder(name)
            .version(VERSION)
            .add_object_store(messages)
            .add_object_store(conversations)
            .add_object_store(ObjectStore::builder(CRYPTO))
            .build()
            .await
            .map_err(refused)?;
        db.on_version_change(move |event| {
            if let Some(db) = event
                .target()
                .and_then(|t| t.dyn_into::<web_sys::IdbDatabase>().ok())
            {
                db.close();
            }
            on_newer();
        });
        Ok(Self { db: Rc::new(db) })
    }

    /// Moves what an older version kept in `localStorage` in, then removes it from
    /// there. Unreadable, it is set aside (see [`kept::read`]); refused here, it stays.
    pub async fn migrate_legacy(&self) -> Result<(), Refused> {
        let Some(legacy) = kept::read::<Option<Conversations>>(LEGACY_KEY) else {
            return Ok(());
        };
        self.write(&legacy.all_records(), None).await?;
        kept::remove(LEGACY_KEY);
        Ok(())
    }

    /// Every conversation with its newest [`PAGE`] messages and every unsent message.
    pub async fn load(&self) -> Result<Conversations, Refused> {
        let tx = self
            .db
            .transaction(&[MESSAGES, CONVERSATIONS], TransactionMode::ReadOnly)
            .map_err(refused)?;
        let summaries: Vec<Summary> = read_all(
            tx.object_store(CONVERSATIONS)
                .map_err(refused)?
                .get_all(None, None)
                .map_err(refused)?
                .await
                .map_err(refused)?,
        );
        let messages = tx.object_store(MESSAGES).map_err(refused)?;
        let by_order = messages.index(BY_ORDER).map_err(refused)?;
        let mut outbox: Vec<MessageRecord> = read_all(
            messages
                .index(OUTBOX)
                .map_err(refused)?
                .get_all(None, None)
                .map_err(refused)?
                .await
                .map_err(refused)?,
        );
        let mut list = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let (mut page, more_kept) = newest(&by_order, summary.peer, None).await?;
            for record in outbox.extract_if(.., |r| r.peer == summary.peer) {
                if !page
                    .iter()
                    .any(|m| m.id == record.message.id && m.direction == Direction::Out)
                {
                    page.push(record.message);
                }
            }
            page.sort_by_key(Message::order);
            list.push(Conversation::kept(summary, page, more_kept));
        }
        // Unsent messages whose conversation's summary is missing: theirs is made anew.
        let mut conversations = Conversations::restore(list);
        conversations.merge(Changes {
            messages: outbox.into_iter().map(|r| (r.peer, r.message)).collect(),
            ..Changes::default()
        });
        Ok(conversations)
    }

    /// The [`PAGE`] messages of `peer`'s conversation before the one at `order`, oldest
    /// first, and whether there are older ones still.
    pub async fn older(&self, peer: PeerId, order: u64) -> Result<(Vec<Message>, bool), Refused> {
        let tx = self
            .db
            .transaction(&[MESSAGES], TransactionMode::ReadOnly)
            .map_err(refused)?;
        let index = tx
            .object_store(MESSAGES)
            .and_then(|s| s.index(BY_ORDER))
            .map_err(refused)?;
        newest(&index, peer, Some(order)).await
    }

    /// This device's end-to-end encryption state as last kept (its pickle's JSON), if
    /// there is one.
    pub async fn device_crypto(&self) -> Result<Option<String>, Refused> {
        let tx = self
            .db
            .transaction(&[CRYPTO], TransactionMode::ReadOnly)
            .map_err(refused)?;
        let value = tx
            .object_store(CRYPTO)
            .map_err(refused)?
            .get(Query::Key(DEVICE_CRYPTO.into()))
            .map_err(refused)?
            .await
            .map_err(refused)?;
        Ok(value.and_then(|v| v.as_string()))
    }

    /// Keeps `changes` in one transaction, with this device's end-to-end encryption
    /// state (`crypto`, its pickle's JSON) if given: a message decrypted is kept with the
    /// ratchet state that decrypted it, or neither is. A message already kept is merged with it
    /// (another tab may have moved it further on), never set back; a status of a message
    /// not loaded moves its kept record on (never back), and is dropped if there is no
    /// such record (no message is made from a status). Returns the records the statuses
    /// moved on, as kept now. Transactions finish in the order they were started, so
    /// once this one is done every earlier write is kept too (even with nothing to
    /// write).
    pub async fn write(
        &self,
        changes: &Changes,
        crypto: Option<&str>,
    ) -> Result<Vec<(PeerId, Message)>, Refused> {
        let tx = self
            .db
            .transaction(
                &[MESSAGES, CONVERSATIONS, CRYPTO],
                TransactionMode::ReadWrite,
            )
            .map_err(refused)?;
        if let Some(pickle) = crypto {
            tx.object_store(CRYPTO)
                .map_err(refused)?
                .put(&pickle.into(), Some(&DEVICE_CRYPTO.into()))
                .map_err(refused)?
                .await
                .map_err(refused)?;
        }
        let conversations = tx.object_store(CONVERSATIONS).map_err(refused)?;
        for summary in &changes.conversations {
            conversations
                .put(&to_js(summary)?, None)
                .map_err(refused)?
                .await
                .map_err(refused)?;
        }
        let messages = tx.object_store(MESSAGES).map_err(refused)?;
        for (peer, message) in &changes.messages {
            let key = to_js(&(peer, message.direction, message.id))?;
            let kept = messages
                .get(Query::Key(key))
                .map_err(refused)?
                .await
                .map_err(refused)?
                .and_then(|v| from_js::<MessageRecord>(&v));
            let message = match kept {
                Some(kept) => message.clone().merged(&kept.message),
                None => message.clone(),
            };
            messages
                .put(&to_js(&MessageRecord::new(*peer, message))?, None)
                .map_err(refused)?
                .await
                .map_err(refused)?;
        }
        let mut moved = Vec::new();
        for change in &changes.statuses {
            if let Some(message) = advance(&messages, change).await? {
                moved.push((change.peer, message));
            }
        }
        let done = tx.commit().map_err(refused)?.await.map_err(refused)?;
        if done.is_committed() {
            Ok(moved)
        } else {
            Err(Refused)
        }
    }
}

/// Moves the kept outgoing message `change` is for on to its status, within the
/// transaction of `messages`; returns it if it moved. Not kept, or kept by a newer
/// version (it does not read): nothing is written.
async fn advance(
    messages: &ObjectStore,
    change: &StatusChange,
) -> Result<Option<Message>, Refused> {
    let key = to_js(&(change.peer, Direction::Out, change.id))?;
    let Some(mut kept) = messages
        .get(Query::Key(key))
        .map_err(refused)?
        .await
        .map_err(refused)?
        .and_then(|v| from_js::<MessageRecord>(&v))
    else {
        return Ok(None);
    };
    if !kept.message.advance(change.status.clone(), change.seq) {
        return Ok(None);
    }
    let record = MessageRecord::new(change.peer, kept.message);
    messages
        .put(&to_js(&record)?, None)
        .map_err(refused)?
        .await
        .map_err(refused)?;
    Ok(Some(record.message))
}

/// The newest [`PAGE`] messages of `peer`'s conversation (before `before`, if given),
/// oldest first, and whether there are older ones.
async fn newest(
    index: &idb::Index,
    peer: PeerId,
    before: Option<u64>,
) -> Result<(Vec<Message>, bool), Refused> {
    let range = KeyRange::bound(
        &to_js(&(peer, 0))?,
        &to_js(&(peer, before.unwrap_or(u64::MAX >> 11)))?,
        None,
        Some(before.is_some()),
    )
    .map_err(refused)?;
    let Some(cursor) = index
        .open_cursor(Some(Query::KeyRange(range)), Some(CursorDirection::Prev))
        .map_err(refused)?
        .await
        .map_err(refused)?
    else {
        return Ok((Vec::new(), false));
    };
    let mut cursor = cursor.into_managed();
    let mut page = Vec::new();
    let mut more = false;
    while let Some(value) = cursor.value().map_err(refused)? {
        if page.len() == PAGE as usize {
            more = true;
            break;
        }
        if let Some(record) = from_js::<MessageRecord>(&value) {
            page.push(record.message);
        }
        cursor.next(None).await.map_err(refused)?;
    }
    page.reverse();
    Ok((page, more))
}

/// The records of `values` that read; those that do not (a newer version's) are left
/// where they are, untouched.
fn read_all<T: DeserializeOwned>(values: Vec<JsValue>) -> Vec<T> {
    values.iter().filter_map(from_js).collect()
}

fn to_js(value: &impl Serialize) -> Result<JsValue, Refused> {
    let json = serde_json::to_string(value).map_err(|_| Refused)?;
    js_sys::JSON::parse(&json).map_err(|_| Refused)
}

fn from_js<T: DeserializeOwned>(value: &JsValue) -> Option<T> {
    let json = js_sys::JSON::stringify(value).ok()?.as_string()?;
    serde_json::from_str(&json).ok()
}

/// The browser refused a request. Its reason is not formatted here (that code would
/// weigh more than this whole module); the browser's console shows a failed transaction.
fn refused(_: idb::Error) -> Refused {
    web_sys::console::warn_1(&"IndexedDB refused a request".into());
    Refused
}
