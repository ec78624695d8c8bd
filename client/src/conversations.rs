//! [`Conversations`]: the messages exchanged with each peer, grouped by peer, in the
//! server's order (newest last); the conversation with the latest activity first. Plain
//! data: what changes is handed out as [`Changes`], one record per message and per
//! conversation, for [`history`](crate::history) to keep and other tabs to merge in.
//! Only part of a long conversation may be here: older messages are loaded as the person
//! scrolls up, and a status for one not loaded is handed out for where it is kept.

use std::collections::{BTreeSet, HashSet};

use relay_shared::{Envelope, MessageId, PeerId, messenger::Draft};
use serde::{Deserialize, Serialize};

use crate::encryption::{Encryption, Sealing};

/// Where messages the server has not ordered yet go in a conversation's order: after
/// every ordered one (a `seq` stays far below this), by when they were written.
const UNORDERED: u64 = 1 << 52;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// From the peer.
    In,
    /// From this browser.
    Out,
}

impl Direction {
    /// The name used in the page (`data-direction`).
    pub fn name(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// Where an outgoing message stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Not yet stored by the server: kept here and sent again until it is.
    Sending,
    /// Stored by the server; the recipient has not got it yet.
    Sent,
    /// The recipient's client has it.
    Delivered,
    /// The recipient has seen it.
    Read,
    /// Not sent, for the reason given.
    Failed(String),
}

impl Status {
    /// The name used in the page (`data-status`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed(_) => "failed",
        }
    }

    /// What the user reads.
    pub fn label(&self) -> String {
        match self {
            Self::Sending => "sending…".into(),
            Self::Sent => "sent".into(),
            Self::Delivered => "delivered".into(),
            Self::Read => "read".into(),
            Self::Failed(reason) => reason.clone(),
        }
    }

    /// Moves on to `to`, never back.
    fn advance(&mut self, to: Status) {
        if to.rank() >= self.rank() {
            *self = to;
        }
    }

    /// How far along: a copy further along wins a merge.
    fn rank(&self) -> u8 {
        match self {
            Self::Sending => 0,
            Self::Failed(_) => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id, the same on both sides.
    pub id: MessageId,
    /// Who wrote it.
    pub direction: Direction,
    /// The text.
    pub body: String,
    /// When it was written (outgoing) or accepted by the server (incoming), in ms since
    /// the Unix epoch.
    pub at: u64,
    /// Where an outgoing message stands; incoming ones are `Delivered`.
    pub status: Status,
    /// The server's order, once it stored the message (0 until then).
    #[serde(default)]
    pub seq: u64,
    /// How an incoming message came: plain, end-to-end encrypted, or encrypted and not
    /// decrypted here (its `body` is then empty).
    #[serde(default, skip_serializing_if = "Sealing::is_plain")]
    pub sealing: Sealing,
}

impl Message {
    /// Its place in its conversation: the server's order, then (not stored yet) when it
    /// was written.
    pub fn order(&self) -> u64 {
        if self.seq > 0 {
            self.seq
        } else {
            UNORDERED + self.at
        }
    }

    /// Whether it waits to be stored by the server (it is in the outbox).
    pub fn is_unsent(&self) -> bool {
        self.direction == Direction::Out && self.status == Status::Sending
    }

    /// Moves this outgoing message on to `status` (never back), noting its `seq` once
    /// known. Returns whether it changed.
    pub fn advance(&mut self, status: Status, seq: Option<u64>) -> bool {
        let before = (self.status.clone(), self.seq);
        self.status.advance(status);
        if let Some(seq) = seq {
            self.seq = seq;
        }
        (&self.status, self.seq) != (&before.0, before.1)
    }

    /// This copy and another of the same message as one: the furthest status, the
    /// server's order once either knows it.
    pub fn merged(mut self, other: &Message) -> Message {
        if other.status.rank() > self.status.rank() {
            self.status = other.status.clone();
        }
        if self.seq == 0 {
            self.seq = other.seq;
        }
        self
    }
}

/// Where the person stands with a conversation's peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Taken in: the person wrote to the peer, opened the conversation, or accepted it.
    /// What was kept before standings existed is this.
    #[default]
    Accepted,
    /// A stranger wrote first: a message request, until accepted or blocked. Its
    /// messages show; the peer learns nothing of their reading.
    Request,
    /// Blocked: nothing the peer sends reaches this person (the server drops it; what
    /// comes anyway, stored before the block, is dropped here).
    Blocked,
}

impl Standing {
    /// The name used in the page (`data-standing`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Request => "request",
            Self::Blocked => "blocked",
        }
    }
}

/// A conversation without its messages: what is kept besides them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The peer.
    pub peer: PeerId,
    /// How many of the newest incoming messages the person has not seen.
    pub unread: usize,
    /// How recent its latest activity is, relative to the others' (higher: later).
    pub activity: u64,
    /// Where the person stands with the peer.
    #[serde(default)]
    pub standing: Standing,
    /// Whether the server has yet to confirm the block or unblock `standing` asks for.
    #[serde(default)]
    pub unconfirmed: bool,
    /// Its end-to-end encryption, as this device's crypto last learned it.
    #[serde(default)]
    pub encryption: Encryption,
}

/// A new status for an outgoing message that is not loaded where it was learned (older
/// than the pages loaded, say): written into its kept record, if there is one (never
/// making one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The peer of its conversation.
    pub peer: PeerId,
    /// The outgoing message's id.
    pub id: MessageId,
    /// Where it stands now: a message only moves on to it, never back.
    pub status: Status,
    /// The server's order, once known.
    pub seq: Option<u64>,
}

/// What changed, as the records to keep: conversations' summaries and whole messages,
/// and new statuses of messages not loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Conversations whose summary changed.
    pub conversations: Vec<Summary>,
    /// Messages added or changed, with the peer of their conversation.
    pub messages: Vec<(PeerId, Message)>,
    /// New statuses of outgoing messages that were not loaded. Not for other tabs: they
    /// get the records these move on, once written.
    #[serde(skip)]
    pub statuses: Vec<StatusChange>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty() && self.messages.is_empty() && self.statuses.is_empty()
    }
}

/// The messages exchanged with one peer, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The peer.
    pub peer: PeerId,
    /// The messages, newest last.
    pub messages: Vec<Message>,
    /// How many of the newest incoming messages the person has not seen.
    #[serde(default)]
    pub unread: usize,
    /// How recent its latest activity is, relative to the others' (higher: later).
    #[serde(default)]
    pub activity: u64,
    /// Where the person stands with the peer.
    #[serde(default)]
    pub standing: Standing,
    /// Whether the server has yet to confirm the block or unblock `standing` asks for.
    #[serde(default)]
    pub unconfirmed: bool,
    /// Its end-to-end encryption, as this device's crypto last learned it.
    #[serde(default)]
    pub encryption: Encryption,
    /// Whether older messages are kept than those here.
    #[serde(skip)]
    pub more_kept: bool,
}

impl Conversation {
    /// An empty conversation with `peer`.
    fn new(peer: PeerId) -> Self {
        Self::kept(
            Summary {
                peer,
                unread: 0,
                activity: 0,
                standing: Standing::Accepted,
                unconfirmed: false,
                encryption: Encryption::default(),
            },
            Vec::new(),
            false,
        )
    }

    /// A conversation as kept: its summary, its newest `messages` (in order), and
    /// whether there are older ones.
    pub fn kept(summary: Summary, messages: Vec<Message>, more_kept: bool) -> Self {
        Self {
            peer: summary.peer,
            messages,
            unread: summary.unread,
            activity: summary.activity,
            standing: summary.standing,
            unconfirmed: summary.unconfirmed,
            encryption: summary.encryption,
            more_kept,
        }
    }

    /// Its summary, to keep.
    pub fn summary(&self) -> Summary {
        Summary {
            peer: self.peer,
            unread: self.unread,
            activity: self.activity,
            standing: self.standing,
            unconfirmed: self.unconfirmed,
            encryption: self.encryption.clone(),
        }
    }

    /// The place of its oldest message here, from which older ones are loaded.
    pub fn oldest_order(&self) -> Option<u64> {
        self.messages.first().map(Message::order)
    }

    /// Whether `message` is older than every message loaded here while older ones are
    /// kept: it shows with its page, as the person scrolls up, not above a gap.
    fn before_loaded(&self, message: &Message) -> bool {
        self.more_kept
            && self
                .oldest_order()
                .is_some_and(|oldest| message.order() < oldest)
    }

    /// The first message not seen yet, if any: the `unread`-th incoming from the end.
    pub fn first_unread(&self) -> Option<MessageId> {
        if self.unread == 0 {
            return None;
        }
        self.messages
            .iter()
            .rev()
            .filter(|m| m.direction == Direction::In)
            .nth(self.unread - 1)
            .map(|m| m.id)
    }

    /// Places `message` by the server's order: after every message with a lower `seq`,
    /// before the first with a higher one (messages not stored yet stay last).
    fn place(&mut self, message: Message) {
        let at = if message.seq == 0 {
            self.messages.len()
        } else {
            self.messages
                .iter()
                .position(|m| m.seq > message.seq)
                .unwrap_or(self.messages.len())
        };
        self.messages.insert(at, message);
    }
}

/// A message's key: who wrote it, in which conversation, and its id.
type Key = (Direction, PeerId, MessageId);

/// Every conversation, the most recently active first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Kept")]
pub struct Conversations {
    list: Vec<Conversation>,
    /// Messages already here, by direction, peer and id: each appears once, however
    /// often it arrives.
    #[serde(skip)]
    seen: HashSet<Key>,
    /// Conversations whose summary changed since [`take_changes`](Self::take_changes).
    #[serde(skip)]
    changed: BTreeSet<PeerId>,
    /// Messages added or changed since then.
    #[serde(skip)]
    changed_messages: BTreeSet<Key>,
    /// New statuses of outgoing messages not loaded here, since then: the latest of each.
    #[serde(skip)]
    changed_statuses: Vec<StatusChange>,
    /// Incoming messages seen since [`take_seen`](Self::take_seen): (sender, id), for
    /// read receipts.
    #[serde(skip)]
    seen_now: Vec<(PeerId, MessageId)>,
}

/// The same conversations, whatever is still to keep of them.
impl PartialEq for Conversations {
    fn eq(&self, other: &Self) -> bool {
        self.list == other.list
    }
}

impl Eq for Conversations {}

/// The conversations as a whole, as versions before IndexedDB kept them in
/// `localStorage` (most recent first, without `activity`).
#[derive(Deserialize)]
struct Kept {
    list: Vec<Conversation>,
}

impl From<Kept> for Conversations {
    fn from(kept: Kept) -> Self {
        let count = kept.list.len() as u64;
        let list = kept
            .list
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                if c.activity == 0 {
                    c.activity = count - i as u64;
                }
                c
            })
            .collect();
        Self::restore(list)
    }
}

impl Conversations {
    /// Conversations as kept (in any order), with the messages loaded of each.
    pub fn restore(mut list: Vec<Conversation>) -> Self {
        list.sort_by_key(|c| std::cmp::Reverse(c.activity));
        let mut conversations = Self::default();
        for mut conversation in list {
            let peer = conversation.peer;
            let messages = std::mem::take(&mut conversation.messages);
            conversations.list.push(conversation);
            for message in messages {
                conversations.add_once(peer, message);
            }
        }
        conversations
    }

    /// Reads conversations kept as one JSON document (the `localStorage` format of
    /// versions before IndexedDB; the app reads it through `kept::read`).
    #[cfg(test)]
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The conversations as one JSON document, as versions before IndexedDB kept them.
    #[cfg(test)]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Every conversation and message here, as records to keep: for moving them into
    /// IndexedDB.
    pub fn all_records(&self) -> Changes {
        Changes {
            conversations: self.list.iter().map(Conversation::summary).collect(),
            messages: self
                .list
                .iter()
                .flat_map(|c| c.messages.iter().map(|m| (c.peer, m.clone())))
                .collect(),
            statuses: Vec::new(),
        }
    }

    /// What changed since the last call, as records to keep.
    pub fn take_changes(&mut self) -> Changes {
        let peers = std::mem::take(&mut self.changed);
        let keys = std::mem::take(&mut self.changed_messages);
        let conversations = peers
            .into_iter()
            .filter_map(|peer| self.get(peer).map(Conversation::summary))
            .collect();
        let messages = keys
            .into_iter()
            .filter_map(|(direction, peer, id)| {
                let message = self
                    .get(peer)?
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.id == id && m.direction == direction)?;
                Some((peer, message.clone()))
            })
            .collect();
        Changes {
            conversations,
            messages,
            statuses: std::mem::take(&mut self.changed_statuses),
        }
    }

    /// Hands `changes` (from [`take_changes`](Self::take_changes)) back, unkept: they
    /// come out again, as they are then, with the next changes.
    pub fn unkept(&mut self, changes: &Changes) {
        self.changed
            .extend(changes.conversations.iter().map(|s| s.peer));
        self.changed_messages.extend(
            changes
                .messages
                .iter()
                .map(|(peer, m)| (m.direction, *peer, m.id)),
        );
        for change in &changes.statuses {
            self.status_not_loaded(change.clone());
        }
    }

    /// Whether something changed that [`take_changes`](Self::take_changes) has not
    /// handed out.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
            || !self.changed_messages.is_empty()
            || !self.changed_statuses.is_empty()
    }

    /// Adds a message this browser is sending to `peer`, as `Sending`.
    pub fn send(&mut self, peer: PeerId, id: MessageId, body: String, at: u64) {
        self.seen.insert((Direction::Out, peer, id));
        self.changed_messages.insert((Direction::Out, peer, id));
        let conversation = self.bring_to_front(peer);
        // Writing back takes a request in.
        if conversation.standing == Standing::Request {
            conversation.standing = Standing::Accepted;
        }
        conversation.place(Message {
            id,
            direction: Direction::Out,
            body,
            at,
            status: Status::Sending,
            seq: 0,
            sealing: Sealing::Plain,
        });
    }

    /// Adds a received message, in the server's order, unless it is already there or
    /// its sender is blocked. A stranger's first makes a message request. Returns
    /// whether it was new.
    pub fn receive(&mut self, envelope: &Envelope) -> bool {
        let sealing = if envelope.encrypted.is_some() {
            Sealing::Encrypted
        } else {
            Sealing::Plain
        };
        self.receive_as(envelope, sealing)
    }

    /// Adds a received message that came end-to-end encrypted and could not be
    /// decrypted here: shown as such, without text, in its place. As
    /// [`receive`](Self::receive) otherwise.
    pub fn receive_undecryptable(&mut self, envelope: &Envelope) -> bool {
        let without_text = Envelope {
            body: String::new(),
            ..envelope.clone()
        };
        self.receive_as(&without_text, Sealing::Undecryptable)
    }

    fn receive_as(&mut self, envelope: &Envelope, sealing: Sealing) -> bool {
        let known = self.get(envelope.from).map(|c| c.standing);
        if known == Some(Standing::Blocked) {
            return false;
        }
        // A message to oneself comes back: this browser shows it once, as written.
        if self
            .seen
            .contains(&(Direction::Out, envelope.from, envelope.id))
            || !self
                .seen
                .insert((Direction::In, envelope.from, envelope.id))
        {
            return false;
        }
        self.changed_messages
            .insert((Direction::In, envelope.from, envelope.id));
        let conversation = self.bring_to_front(envelope.from);
        if known.is_none() && envelope.from != envelope.to {
            conversation.standing = Standing::Request;
        }
        conversation.place(Message {
            id: envelope.id,
            direction: Direction::In,
            body: envelope.body.clone(),
            at: envelope.sent_at,
            status: Status::Delivered,
            seq: envelope.seq,
            sealing,
        });
        conversation.unread += 1;
        true
    }

    /// Adds a message this person sent from another of its devices: outgoing, in the
    /// conversation with its recipient, in the server's order, `Sent` (receipts move it
    /// on). Writing to a requester there took the request in. Nothing if it is here
    /// already (written here: that copy stands). Returns whether it was new.
    pub fn sent_elsewhere(&mut self, envelope: &Envelope) -> bool {
        let peer = envelope.to;
        if self.seen.contains(&(Direction::Out, peer, envelope.id)) {
            return false;
        }
        let conversation = self.bring_to_front(peer);
        if conversation.standing == Standing::Request {
            conversation.standing = Standing::Accepted;
        }
        // A message to oneself that came in (from a version before devices) shows once,
        // as one's own.
        self.add_once(
            peer,
            Message {
                id: envelope.id,
                direction: Direction::Out,
                body: envelope.body.clone(),
                at: envelope.sent_at,
                status: Status::Sent,
                seq: envelope.seq,
                sealing: Sealing::Plain,
            },
        );
        self.changed_messages
            .insert((Direction::Out, peer, envelope.id));
        true
    }

    /// Moves the outgoing message `id` of `peer`'s conversation on to `status` (never
    /// back), noting its `seq` once known. Returns whether it is loaded here; if it is
    /// not, the status is handed out with the changes, for where it is kept.
    pub fn set_status(
        &mut self,
        peer: PeerId,
        id: MessageId,
        status: Status,
        seq: Option<u64>,
    ) -> bool {
        let Some(message) = self.outgoing(peer, id) else {
            self.status_not_loaded(StatusChange {
                peer,
                id,
                status,
                seq,
            });
            return false;
        };
        if message.advance(status, seq) {
            self.changed_messages.insert((Direction::Out, peer, id));
        }
        true
    }

    /// Changes what `peer`'s conversation shows of its encryption with `change`, if
    /// there is such a conversation. Returns whether it changed.
    pub fn set_encryption(&mut self, peer: PeerId, change: impl FnOnce(&mut Encryption)) -> bool {
        let Some(conversation) = self.list.iter_mut().find(|c| c.peer == peer) else {
            return false;
        };
        let before = conversation.encryption.clone();
        change(&mut conversation.encryption);
        if conversation.encryption == before {
            return false;
        }
        self.changed.insert(peer);
        true
    }

    /// Notes `change`, for a message not loaded, to hand out with the changes: one per
    /// message (a receipt the server hands out again adds nothing).
    fn status_not_loaded(&mut self, change: StatusChange) {
        match self
            .changed_statuses
            .iter_mut()
            .find(|c| c.peer == change.peer && c.id == change.id)
        {
            Some(noted) => {
                noted.status.advance(change.status);
                noted.seq = change.seq.or(noted.seq);
            }
            None => self.changed_statuses.push(change),
        }
    }

    /// The outgoing message `id` of `peer`'s conversation, if it is loaded here.
    fn outgoing(&mut self, peer: PeerId, id: MessageId) -> Option<&mut Message> {
        self.list
            .iter_mut()
            .find(|c| c.peer == peer)?
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.id == id && m.direction == Direction::Out)
    }

    /// Takes in what another tab kept: every message of either, each at its furthest
    /// status, except one older than those loaded here (it comes with its page). It is
    /// kept already, so it is not a change to keep again. An incoming message new here
    /// counts as unread, as if it had arrived here (encrypted ones arrive only at the
    /// tab holding the device's crypto). Returns the incoming messages the other tab
    /// saw that were unread here, as (sender, id), for read receipts: only those of
    /// conversations taken in.
    pub fn merge(&mut self, theirs: Changes) -> Vec<(PeerId, MessageId)> {
        for (peer, message) in theirs.messages {
            let mine = self.entry(peer);
            if let Some(at) = mine
                .messages
                .iter()
                .rposition(|m| m.id == message.id && m.direction == message.direction)
            {
                let merged = mine.messages[at].clone().merged(&message);
                if merged.seq != mine.messages[at].seq {
                    // Its place may have changed with its order.
                    mine.messages.remove(at);
                    mine.place(merged);
                } else {
                    mine.messages[at] = merged;
                }
            } else if !mine.before_loaded(&message) {
                let incoming = message.direction == Direction::In;
                if self.add_once(peer, message) && incoming {
                    self.entry(peer).unread += 1;
                }
            }
        }
        let mut seen = Vec::new();
        for summary in theirs.conversations {
            let peer = summary.peer;
            let mine = self.entry(peer);
            // Both tabs count what arrives; what one has seen is seen.
            if summary.unread < mine.unread && summary.standing == Standing::Accepted {
                let read: Vec<_> = mine
                    .messages
                    .iter()
                    .rev()
                    .filter(|m| m.direction == Direction::In)
                    .take(mine.unread)
                    .skip(summary.unread)
                    .map(|m| (peer, m.id))
                    .collect();
                seen.extend(read.into_iter().rev());
            }
            mine.unread = mine.unread.min(summary.unread);
            mine.activity = mine.activity.max(summary.activity);
            // A standing changes only by the person's hand: the latest word is theirs.
            mine.standing = summary.standing;
            mine.unconfirmed = summary.unconfirmed;
            // Only the tab that holds the device's crypto learns it: its word stands.
            mine.encryption = summary.encryption;
        }
        self.list.sort_by_key(|c| std::cmp::Reverse(c.activity));
        seen
    }

    /// Reports `seen` (incoming messages, as (sender, id)), which another tab saw, with
    /// this tab's read receipts.
    pub fn seen_elsewhere(&mut self, seen: Vec<(PeerId, MessageId)>) {
        self.seen_now.extend(seen);
    }

    /// Adds `message` to `peer`'s conversation unless it is there already. A message to
    /// oneself has two copies, the writing tab's outgoing one and the others' incoming
    /// one: it is shown once, as outgoing (it is this person's own).
    /// Returns whether it was added.
    fn add_once(&mut self, peer: PeerId, message: Message) -> bool {
        let key = (message.direction, peer, message.id);
        let other = match message.direction {
            Direction::In => (Direction::Out, peer, message.id),
            Direction::Out => (Direction::In, peer, message.id),
        };
        if self.seen.contains(&key)
            || (message.direction == Direction::In && self.seen.contains(&other))
        {
            return false;
        }
        if message.direction == Direction::Out && self.seen.remove(&other) {
            let id = message.id;
            self.entry(peer)
                .messages
                .retain(|m| !(m.id == id && m.direction == Direction::In));
        }
        self.seen.insert(key);
        self.entry(peer).place(message);
        true
    }

    /// Adds older messages of `peer`'s conversation, loaded from what is kept (those
    /// already here are skipped); `more_kept`: whether there are older ones still.
    pub fn add_older(&mut self, peer: PeerId, older: Vec<Message>, more_kept: bool) {
        for message in older {
            self.add_once(peer, message);
        }
        self.entry(peer).more_kept = more_kept;
    }

    /// The outgoing messages not yet stored by the server, oldest first: to send again.
    pub fn drafts(&self) -> Vec<Draft> {
        let mut drafts: Vec<(u64, Draft)> = self
            .list
            .iter()
            .flat_map(|c| {
                c.messages.iter().filter(|m| m.is_unsent()).map(|m| {
                    (
                        m.at,
                        Draft {
                            id: m.id,
                            to: c.peer,
                            body: m.body.clone(),
                        },
                    )
                })
            })
            .collect();
        drafts.sort_by_key(|(at, _)| *at);
        drafts.into_iter().map(|(_, d)| d).collect()
    }

    /// The received messages, as (sender, id): already shown.
    pub fn received(&self) -> impl Iterator<Item = (PeerId, MessageId)> + '_ {
        self.seen
            .iter()
            .filter(|(d, ..)| *d == Direction::In)
            .map(|(_, peer, id)| (*peer, *id))
    }

    /// Makes sure a conversation with `peer` exists (it may have no messages yet).
    pub fn open(&mut self, peer: PeerId) {
        if self.get(peer).is_none() {
            let activity = self.latest_activity() + 1;
            let mut conversation = Conversation::new(peer);
            conversation.activity = activity;
            self.list.insert(0, conversation);
            self.changed.insert(peer);
        }
    }

    /// Marks the conversation with `peer` as seen; returns its first message that was
    /// not, if any (where a "new messages" divider goes).
    pub fn mark_read(&mut self, peer: PeerId) -> Option<MessageId> {
        let conversation = self.list.iter_mut().find(|c| c.peer == peer)?;
        let first = conversation.first_unread();
        if conversation.unread > 0 {
            // Reported only in a conversation taken in: a request's sender learns nothing.
            if conversation.standing == Standing::Accepted {
                let seen = conversation
                    .messages
                    .iter()
                    .rev()
                    .filter(|m| m.direction == Direction::In)
                    .take(conversation.unread)
                    .map(|m| (peer, m.id))
                    .collect::<Vec<_>>();
                self.seen_now.extend(seen.into_iter().rev());
            }
            conversation.unread = 0;
            self.changed.insert(peer);
        }
        first
    }

    /// The incoming messages seen since the last call, as (sender, id): what read
    /// receipts report.
    pub fn take_seen(&mut self) -> Vec<(PeerId, MessageId)> {
        std::mem::take(&mut self.seen_now)
    }

    /// Where the person stands with `peer` (accepted if there is no conversation yet).
    pub fn standing(&self, peer: PeerId) -> Standing {
        self.get(peer).map_or(Standing::Accepted, |c| c.standing)
    }

    /// The person takes `peer`'s request in, blocks `peer`, or unblocks it (then
    /// `Accepted`); a block or unblock is unconfirmed until [`confirmed`](Self::confirmed).
    /// Returns whether anything changed.
    pub fn stand(&mut self, peer: PeerId, standing: Standing) -> bool {
        self.open(peer);
        let Some(conversation) = self.list.iter_mut().find(|c| c.peer == peer) else {
            return false;
        };
        let before = conversation.standing;
        if before == standing {
            return false;
        }
        conversation.standing = standing;
        // Accepting a request is this browser's alone; a block, or the end of one, is
        // the server's to carry out.
        conversation.unconfirmed = standing == Standing::Blocked || before == Standing::Blocked;
        self.changed.insert(peer);
        true
    }

    /// The server carried out the block (`on`) or unblock of `peer`.
    pub fn confirmed(&mut self, peer: PeerId, on: bool) {
        if let Some(c) = self.list.iter_mut().find(|c| c.peer == peer)
            && c.unconfirmed
            && (c.standing == Standing::Blocked) == on
        {
            c.unconfirmed = false;
            self.changed.insert(peer);
        }
    }

    /// The blocks and unblocks the server has yet to confirm: (peer, block?).
    pub fn unconfirmed_blocks(&self) -> Vec<(PeerId, bool)> {
        self.list
            .iter()
            .filter(|c| c.unconfirmed)
            .map(|c| (c.peer, c.standing == Standing::Blocked))
            .collect()
    }

    /// How many messages of `peer`'s conversation are unread.
    pub fn unread(&self, peer: PeerId) -> usize {
        self.get(peer).map_or(0, |c| c.unread)
    }

    /// How many messages are unread, in every conversation.
    pub fn total_unread(&self) -> usize {
        self.list.iter().map(|c| c.unread).sum()
    }

    /// Whether any message was exchanged with `peer`, either way.
    pub fn has_exchanged(&self, peer: PeerId) -> bool {
        self.get(peer).is_some_and(|c| !c.messages.is_empty())
    }

    /// The conversation with `peer`.
    pub fn get(&self, peer: PeerId) -> Option<&Conversation> {
        self.list.iter().find(|c| c.peer == peer)
    }

    /// Every conversation, the most recently active first.
    pub fn iter(&self) -> impl Iterator<Item = &Conversation> {
        self.list.iter()
    }

    fn latest_activity(&self) -> u64 {
        self.list.first().map_or(0, |c| c.activity)
    }

    /// The conversation with `peer`, made the most recently active (a changed summary).
    fn bring_to_front(&mut self, peer: PeerId) -> &mut Conversation {
        let activity = self.latest_activity() + 1;
        let mut conversation = match self.list.iter().position(|c| c.peer == peer) {
            Some(i) => self.list.remove(i),
            None => Conversation::new(peer),
        };
        conversation.activity = activity;
        self.list.insert(0, conversation);
        self.changed.insert(peer);
        &mut self.list[0]
    }

    /// The conversation with `peer`, added (least recently active) if there is none.
    fn entry(&mut self, peer: PeerId) -> &mut Conversation {
        let at = match self.list.iter().position(|c| c.peer == peer) {
            Some(at) => at,
            None => {
                self.list.push(Conversation::new(peer));
                self.list.len() - 1
            }
        };
        &mut self.list[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ids::*;

    fn envelope(from: PeerId, n: u8, body: &str, seq: u64) -> Envelope {
        Envelope {
            id: id(n),
            from,
            to: peer(0),
            body: body.into(),
            encrypted: None,
            sent_at: u64::from(n),
            seq,
        }
    }

    fn bodies(c: &Conversations, p: PeerId) -> Vec<&str> {
        c.get(p)
            .unwrap()
            .messages
            .iter()
            .map(|m| m.body.as_str())
            .collect()
    }

    #[test]
    fn messages_are_grouped_by_peer_in_the_servers_order() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "hi one".into(), 1);
        c.set_status(peer(1), id(1), Status::Sent, Some(10));
        c.receive(&envelope(peer(2), 2, "hi from two", 11));
        // Arrives late (from the store, after a live one): placed by its seq.
        c.receive(&envelope(peer(1), 4, "one, later", 14));
        c.receive(&envelope(peer(1), 3, "one, earlier", 12));
        assert_eq!(
            bodies(&c, peer(1)),
            ["hi one", "one, earlier", "one, later"]
        );
        let order: Vec<PeerId> = c.iter().map(|c| c.peer).collect();
        assert_eq!(order, [peer(1), peer(2)], "most recent activity first");
    }

    #[test]
    fn a_message_arriving_twice_is_shown_once() {
        let mut c = Conversations::default();
        assert!(c.receive(&envelope(peer(1), 1, "once", 5)));
        assert!(!c.receive(&envelope(peer(1), 1, "once", 5)));
        assert_eq!(c.get(peer(1)).unwrap().messages.len(), 1);
        // The same id from another peer is another message.
        assert!(c.receive(&envelope(peer(2), 1, "other", 6)));
    }

    #[test]
    fn a_message_to_oneself_shows_once_where_it_was_written() {
        let mut c = Conversations::default();
        let me = peer(9);
        c.send(me, id(1), "note".into(), 1);
        assert!(!c.receive(&envelope(me, 1, "note", 4)));
        assert_eq!(c.get(me).unwrap().messages.len(), 1);
    }

    #[test]
    fn what_was_sent_from_another_device_is_outgoing_in_the_recipients_conversation() {
        let mut c = Conversations::default();
        let me = peer(0);
        c.receive(&envelope(peer(1), 1, "hello?", 10));
        assert_eq!(c.get(peer(1)).unwrap().standing, Standing::Request);
        let mine = Envelope {
            id: id(2),
            from: me,
            to: peer(1),
            body: "hi, from my phone".into(),
            encrypted: None,
            sent_at: 20,
            seq: 11,
        };
        assert!(c.sent_elsewhere(&mine));
        assert!(!c.sent_elsewhere(&mine), "once");
        let conversation = c.get(peer(1)).unwrap();
        assert_eq!(
            conversation.standing,
            Standing::Accepted,
            "answered: taken in"
        );
        assert_eq!(conversation.unread, 1, "one's own is not unread");
        let last = conversation.messages.last().unwrap();
        assert_eq!(
            (last.direction, &last.status, last.seq),
            (Direction::Out, &Status::Sent, 11)
        );
        assert!(
            c.take_changes()
                .messages
                .iter()
                .any(|(p, m)| *p == peer(1) && m.id == id(2) && m.direction == Direction::Out)
        );
        // Receipts move it on; a copy coming back of one written here adds nothing.
        c.set_status(peer(1), id(2), Status::Delivered, None);
        assert_eq!(
            c.get(peer(1)).unwrap().messages.last().unwrap().status,
            Status::Delivered
        );
        c.send(peer(1), id(3), "from here".into(), 30);
        c.set_status(peer(1), id(3), Status::Read, Some(12));
        assert!(!c.sent_elsewhere(&Envelope {
            id: id(3),
            seq: 12,
            body: "from here".into(),
            ..mine.clone()
        }));
        assert_eq!(c.get(peer(1)).unwrap().messages.len(), 3);
        // To oneself from another device: one's own, once, never unread.
        let note = Envelope {
            id: id(4),
            to: me,
            ..mine
        };
        assert!(c.sent_elsewhere(&note));
        assert_eq!(c.get(me).unwrap().messages.len(), 1);
        assert_eq!(c.get(me).unwrap().unread, 0);
    }

    #[test]
    fn what_only_the_crypto_tab_received_is_unread_in_the_others_and_their_reading_is_reported() {
        // The tab holding the device's crypto decrypts two messages; the other tab gets
        // them from it alone.
        let mut holder = Conversations::default();
        holder.open(peer(1));
        assert!(holder.receive(&envelope(peer(1), 1, "one", 1)));
        assert!(holder.receive(&envelope(peer(1), 2, "two", 2)));
        let mut other = Conversations::default();
        assert!(
            other.merge(holder.take_changes()).is_empty(),
            "nothing read yet"
        );
        assert_eq!(other.unread(peer(1)), 2, "unread where they show");
        assert!(other.merge(holder.all_records()).is_empty());
        assert_eq!(other.unread(peer(1)), 2, "counted once");

        // The person reads them in the other tab: the holder reports both, in order.
        other.mark_read(peer(1));
        assert!(other.take_seen().len() == 2);
        assert_eq!(
            holder.merge(other.take_changes()),
            [(peer(1), id(1)), (peer(1), id(2))]
        );
        assert_eq!(holder.unread(peer(1)), 0);

        // A request's sender learns nothing of it, from either tab.
        let mut holder = Conversations::default();
        holder.receive(&envelope(peer(2), 3, "a stranger", 3));
        let mut other = Conversations::default();
        other.merge(holder.take_changes());
        other.mark_read(peer(2));
        assert!(other.take_seen().is_empty());
        assert!(holder.merge(other.take_changes()).is_empty());
        assert_eq!(holder.unread(peer(2)), 0);
    }

    #[test]
    fn a_message_to_oneself_in_two_tabs_is_shown_once_as_ones_own() {
        let me = peer(9);
        let mut writer = Conversations::default();
        writer.send(me, id(1), "note".into(), 1);
        writer.set_status(me, id(1), Status::Delivered, Some(4));
        let mut other = Conversations::default();
        assert!(
            other.receive(&envelope(me, 1, "note", 4)),
            "live, as incoming"
        );
        let (written, received) = (writer.take_changes(), other.take_changes());

        // Each tab takes in the other's copy: one message, the writer's.
        writer.merge(received.clone());
        other.merge(written.clone());
        for tab in [&writer, &other] {
            let messages = &tab.get(me).unwrap().messages;
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].direction, Direction::Out);
        }
        // Both copies kept, as two tabs write them: read back once.
        let mut both = written;
        both.messages.extend(received.messages);
        let restored = Conversations::restore(vec![Conversation::kept(
            both.conversations[0].clone(),
            both.messages.into_iter().map(|(_, m)| m).collect(),
            false,
        )]);
        let messages = &restored.get(me).unwrap().messages;
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].direction, Direction::Out);
    }

    #[test]
    fn statuses_only_move_forward() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "out".into(), 1);
        c.receive(&envelope(peer(1), 2, "in", 3));
        assert!(c.set_status(peer(1), id(1), Status::Delivered, None));
        assert!(
            c.set_status(peer(1), id(1), Status::Sent, Some(2)),
            "a late 'sent' ack"
        );
        let out = &c.get(peer(1)).unwrap().messages[0];
        assert_eq!((out.status.clone(), out.seq), (Status::Delivered, 2));
        assert!(
            !c.set_status(peer(1), id(2), Status::Sent, None),
            "incoming has no status to set"
        );
    }

    #[test]
    fn a_status_for_a_message_not_loaded_is_handed_out_to_keep() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "loaded".into(), 1);
        c.take_changes();
        // Older than the pages loaded: nothing here changes, the status goes out to
        // where the message is kept, the furthest once however often it came.
        assert!(!c.set_status(peer(1), id(9), Status::Read, None));
        assert!(!c.set_status(peer(1), id(9), Status::Delivered, None));
        assert!(!c.set_status(peer(2), id(8), Status::Delivered, None));
        assert_eq!(bodies(&c, peer(1)), ["loaded"]);
        assert!(c.get(peer(2)).is_none(), "no conversation made");
        let changes = c.take_changes();
        let statuses: Vec<(PeerId, MessageId, Status)> = changes
            .statuses
            .iter()
            .map(|s| (s.peer, s.id, s.status.clone()))
            .collect();
        assert_eq!(
            statuses,
            [
                (peer(1), id(9), Status::Read),
                (peer(2), id(8), Status::Delivered)
            ]
        );
        assert!(changes.conversations.is_empty() && changes.messages.is_empty());
        assert!(!c.has_changes(), "handed out once");
        // Not kept (the browser refused): handed out again.
        c.unkept(&changes);
        assert_eq!(c.take_changes(), changes);
    }

    #[test]
    fn another_tabs_message_older_than_those_loaded_comes_with_its_page() {
        let out = |n: u8, seq| Message {
            id: id(n),
            direction: Direction::Out,
            body: n.to_string(),
            at: u64::from(n),
            status: Status::Read,
            seq,
            sealing: Sealing::Plain,
        };
        let summary = Summary {
            peer: peer(1),
            unread: 0,
            activity: 1,
            standing: Standing::Accepted,
            unconfirmed: false,
            encryption: Encryption::default(),
        };
        let moved_on = |message| Changes {
            messages: vec![(peer(1), message)],
            ..Changes::default()
        };
        // The newest page is loaded, and older messages are kept.
        let mut c = Conversations::restore(vec![Conversation::kept(
            summary,
            vec![out(5, 50), out(6, 60)],
            true,
        )]);
        // Another tab moved an older one on: not shown above what is missing between.
        c.merge(moved_on(out(1, 10)));
        assert_eq!(bodies(&c, peer(1)), ["5", "6"]);
        // Loaded, it takes the other tab's status in.
        let mut sent = out(1, 10);
        sent.status = Status::Sent;
        c.add_older(peer(1), vec![sent], false);
        c.merge(moved_on(out(1, 10)));
        assert_eq!(bodies(&c, peer(1)), ["1", "5", "6"]);
        assert_eq!(c.get(peer(1)).unwrap().messages[0].status, Status::Read);
        assert!(!c.has_changes(), "kept already");
        // With everything loaded, an older one is new: it shows.
        c.merge(moved_on(out(0, 5)));
        assert_eq!(bodies(&c, peer(1)), ["0", "1", "5", "6"]);
    }

    #[test]
    fn unsent_messages_are_drafts_and_survive_a_round_trip() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "first".into(), 1);
        c.send(peer(2), id(2), "second".into(), 2);
        c.send(peer(1), id(3), "third".into(), 3);
        c.set_status(peer(2), id(2), Status::Sent, Some(9));
        c.receive(&envelope(peer(2), 4, "in", 10));
        let kept = Conversations::from_json(&c.to_json()).unwrap();
        assert_eq!(kept, c);
        let drafts: Vec<String> = kept.drafts().into_iter().map(|d| d.body).collect();
        assert_eq!(drafts, ["first", "third"]);
        assert_eq!(kept.received().collect::<Vec<_>>(), [(peer(2), id(4))]);
        let mut reloaded = Conversations::from_json(&kept.to_json()).unwrap();
        assert!(
            !reloaded.receive(&envelope(peer(2), 4, "in", 10)),
            "still shown once"
        );
    }

    #[test]
    fn another_tabs_copy_merges_in() {
        let mut mine = Conversations::default();
        mine.send(peer(1), id(1), "from here".into(), 1);
        let mut theirs = mine.clone();
        theirs.set_status(peer(1), id(1), Status::Delivered, Some(5));
        theirs.send(peer(1), id(2), "from the other tab".into(), 2);
        theirs.receive(&envelope(peer(3), 3, "only they saw", 7));
        mine.take_changes();
        mine.merge(theirs.take_changes());
        assert!(
            !mine.has_changes(),
            "what another tab kept is not kept again"
        );
        assert_eq!(bodies(&mine, peer(1)), ["from here", "from the other tab"]);
        assert_eq!(
            mine.get(peer(1)).unwrap().messages[0].status,
            Status::Delivered
        );
        assert_eq!(bodies(&mine, peer(3)), ["only they saw"]);
        // Merging again changes nothing.
        let before = mine.clone();
        mine.merge(theirs.all_records());
        assert_eq!(mine, before);
        let order: Vec<PeerId> = mine.iter().map(|c| c.peer).collect();
        assert_eq!(order, [peer(3), peer(1)], "their latest activity first");
    }

    #[test]
    fn every_message_is_kept_and_older_ones_are_added_below() {
        let message = |n: u64| Message {
            id: MessageId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
            direction: Direction::In,
            body: n.to_string(),
            at: n,
            status: Status::Delivered,
            seq: n + 1,
            sealing: Sealing::Plain,
        };
        let mut c = Conversations::default();
        for n in 3000..5000 {
            c.receive(&Envelope {
                id: message(n).id,
                from: peer(1),
                to: peer(0),
                body: n.to_string(),
                encrypted: None,
                sent_at: n,
                seq: n + 1,
            });
        }
        assert_eq!(c.get(peer(1)).unwrap().messages.len(), 2000, "no cap");
        assert_eq!(c.get(peer(1)).unwrap().oldest_order(), Some(3001));
        // Loaded from what is kept as the person scrolls up; one already here is not
        // added twice.
        c.add_older(peer(1), (2990..=3000).map(message).collect(), true);
        let conversation = c.get(peer(1)).unwrap();
        assert_eq!(conversation.messages.len(), 2010);
        assert_eq!(conversation.messages[0].body, "2990");
        assert!(conversation.more_kept);
    }

    #[test]
    fn changes_are_the_records_that_changed_once_each() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "out".into(), 1);
        c.receive(&envelope(peer(2), 2, "in", 3));
        let changes = c.take_changes();
        let peers: Vec<PeerId> = changes.conversations.iter().map(|s| s.peer).collect();
        assert_eq!(peers.len(), 2);
        assert_eq!(changes.messages.len(), 2);
        assert!(c.take_changes().is_empty(), "handed out once");
        // Not kept (the browser refused): handed out again with the next ones.
        c.unkept(&changes);
        assert_eq!(c.take_changes(), changes);

        // A status moving on changes only that message; one that cannot move, nothing.
        c.set_status(peer(1), id(1), Status::Sent, Some(7));
        let changes = c.take_changes();
        assert!(changes.conversations.is_empty());
        assert_eq!(changes.messages[0].1.status, Status::Sent);
        c.set_status(peer(1), id(1), Status::Sent, Some(7));
        assert!(!c.has_changes());
        // Reading changes the summary only.
        c.mark_read(peer(2));
        let changes = c.take_changes();
        assert_eq!(
            (changes.conversations.len(), changes.messages.len()),
            (1, 0)
        );
        assert_eq!(changes.conversations[0].unread, 0);
        c.mark_read(peer(2));
        assert!(!c.has_changes(), "nothing was unread");

        // Kept, then restored: the same conversations, most recent first.
        let all = c.all_records();
        let mut restored = Conversations::default();
        restored.merge(all);
        assert_eq!(
            restored.iter().map(|c| c.peer).collect::<Vec<_>>(),
            c.iter().map(|c| c.peer).collect::<Vec<_>>()
        );
        assert_eq!(restored.drafts().len(), 0, "sent already");
    }

    #[test]
    fn a_merged_copy_keeps_the_furthest_status_and_the_servers_order() {
        let out = |status, seq| Message {
            id: id(1),
            direction: Direction::Out,
            body: "x".into(),
            at: 5,
            status,
            seq,
            sealing: Sealing::Plain,
        };
        let merged = out(Status::Delivered, 0).merged(&out(Status::Sent, 9));
        assert_eq!((merged.status.clone(), merged.seq), (Status::Delivered, 9));
        assert_eq!(merged.order(), 9);
        assert!(out(Status::Sending, 0).order() > out(Status::Sent, 1 << 40).order());
        assert!(out(Status::Sending, 0).is_unsent());
        assert!(!out(Status::Failed("no".into()), 0).is_unsent());
    }

    #[test]
    fn unread_counts_what_arrived_since_the_conversation_was_last_seen() {
        let mut c = Conversations::default();
        c.receive(&envelope(peer(1), 1, "seen", 1));
        assert_eq!(c.mark_read(peer(1)), Some(id(1)));
        c.send(peer(1), id(2), "mine".into(), 2);
        c.receive(&envelope(peer(1), 3, "new one", 3));
        c.receive(&envelope(peer(2), 4, "elsewhere", 4));
        c.receive(&envelope(peer(1), 5, "new two", 5));
        assert!(!c.receive(&envelope(peer(1), 5, "new two", 5)), "once");
        assert_eq!((c.unread(peer(1)), c.unread(peer(2))), (2, 1));
        assert_eq!(c.total_unread(), 3);
        assert_eq!(
            c.mark_read(peer(1)),
            Some(id(3)),
            "the divider goes before it"
        );
        assert_eq!(c.mark_read(peer(1)), None);
        assert_eq!(c.total_unread(), 1);
        assert_eq!(c.mark_read(peer(9)), None, "no such conversation");
        // What was seen, for read receipts: each incoming message once, never one's own,
        // and not the first, seen while it was a stranger's request.
        assert_eq!(c.take_seen(), [(peer(1), id(3)), (peer(1), id(5))]);
        assert!(c.take_seen().is_empty());

        // Another tab saw peer 2's message: seen here too.
        let mut theirs = c.clone();
        theirs.take_changes();
        theirs.mark_read(peer(2));
        c.merge(theirs.take_changes());
        assert_eq!(c.total_unread(), 0);
        // Kept: counts written before this field existed read as none unread.
        let old = r#"{"list":[{"peer":"00000000-0000-4000-8000-000000000001","messages":[]}]}"#;
        assert_eq!(Conversations::from_json(old).unwrap().total_unread(), 0);
    }

    #[test]
    fn a_strangers_first_message_is_a_request_and_a_blocked_peers_never_shows() {
        let mut c = Conversations::default();
        assert!(c.receive(&envelope(peer(1), 1, "hello stranger", 1)));
        assert_eq!(c.standing(peer(1)), Standing::Request);
        // Seen while a request: nothing to report (the stranger learns nothing).
        c.mark_read(peer(1));
        assert!(c.take_seen().is_empty());
        // Writing back takes it in; so does accepting.
        c.send(peer(1), id(2), "hi".into(), 2);
        assert_eq!(c.standing(peer(1)), Standing::Accepted);
        c.receive(&envelope(peer(2), 3, "me too", 3));
        assert!(c.stand(peer(2), Standing::Accepted));
        assert!(
            c.unconfirmed_blocks().is_empty(),
            "accepting is this browser's alone"
        );
        // Someone one wrote to first is no stranger.
        c.send(peer(3), id(4), "first".into(), 4);
        c.receive(&envelope(peer(3), 5, "reply", 5));
        assert_eq!(c.standing(peer(3)), Standing::Accepted);

        // Blocked: unconfirmed until the server says so, kept, and nothing more shows.
        assert!(c.stand(peer(2), Standing::Blocked));
        assert_eq!(c.unconfirmed_blocks(), [(peer(2), true)]);
        assert!(!c.receive(&envelope(peer(2), 6, "let me in", 6)));
        assert_eq!(c.get(peer(2)).unwrap().messages.len(), 1);
        c.confirmed(peer(2), true);
        assert!(c.unconfirmed_blocks().is_empty());
        let kept = c.take_changes();
        let summary = kept
            .conversations
            .iter()
            .find(|s| s.peer == peer(2))
            .unwrap();
        assert_eq!(
            (summary.standing, summary.unconfirmed),
            (Standing::Blocked, false)
        );
        // Another tab's word on it holds here.
        let mut other = Conversations::default();
        other.merge(kept);
        assert_eq!(other.standing(peer(2)), Standing::Blocked);
        // Unblocked: unconfirmed again, then messages show again.
        assert!(c.stand(peer(2), Standing::Accepted));
        assert_eq!(c.unconfirmed_blocks(), [(peer(2), false)]);
        assert!(c.receive(&envelope(peer(2), 7, "sorry", 7)));
        // What was kept before standings existed is accepted.
        let old: Summary = serde_json::from_str(
            r#"{"peer":"00000000-0000-4000-8000-000000000001","unread":0,"activity":1}"#,
        )
        .unwrap();
        assert_eq!((old.standing, old.unconfirmed), (Standing::Accepted, false));
    }
}
