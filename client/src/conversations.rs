//! [`Conversations`]: the messages exchanged with each peer, grouped by peer, in the
//! server's order (newest last); the conversation with the latest activity first. Plain
//! data: kept in `localStorage` as JSON, merged with other tabs' copies.

use std::collections::HashSet;

use relay_shared::{Envelope, MessageId, PeerId, messenger::Draft};
use serde::{Deserialize, Serialize};

/// The most messages kept per conversation; older ones are dropped from this browser.
pub const MAX_KEPT: usize = 1000;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
            Self::Failed(_) => "failed",
        }
    }

    /// What the user reads.
    pub fn label(&self) -> String {
        match self {
            Self::Sending => "sending…".into(),
            Self::Sent => "sent".into(),
            Self::Delivered => "delivered".into(),
            Self::Failed(reason) => format!("failed: {reason}"),
        }
    }

    /// How far along: a copy further along wins a merge.
    fn rank(&self) -> u8 {
        match self {
            Self::Sending => 0,
            Self::Failed(_) => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
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
}

impl Conversation {
    /// An empty conversation with `peer`.
    fn new(peer: PeerId) -> Self {
        Self {
            peer,
            messages: Vec::new(),
            unread: 0,
        }
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
        if self.messages.len() > MAX_KEPT {
            self.messages.drain(..self.messages.len() - MAX_KEPT);
        }
    }
}

/// Every conversation, the most recently active first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Kept")]
pub struct Conversations {
    list: Vec<Conversation>,
    /// Messages already here, by direction, peer and id: each appears once, however
    /// often it arrives.
    #[serde(skip)]
    seen: HashSet<(Direction, PeerId, MessageId)>,
}

/// The conversations as kept: the index of what is already here is rebuilt on reading.
#[derive(Deserialize)]
struct Kept {
    list: Vec<Conversation>,
}

impl From<Kept> for Conversations {
    fn from(kept: Kept) -> Self {
        let seen = kept
            .list
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| (m.direction, c.peer, m.id)))
            .collect();
        Self {
            list: kept.list,
            seen,
        }
    }
}

impl Conversations {
    /// Reads conversations kept as JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The conversations as JSON, to keep.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Adds a message this browser is sending to `peer`, as `Sending`.
    pub fn send(&mut self, peer: PeerId, id: MessageId, body: String, at: u64) {
        self.seen.insert((Direction::Out, peer, id));
        self.bring_to_front(peer).place(Message {
            id,
            direction: Direction::Out,
            body,
            at,
            status: Status::Sending,
            seq: 0,
        });
    }

    /// Adds a received message, in the server's order, unless it is already there.
    /// Returns whether it was new.
    pub fn receive(&mut self, envelope: &Envelope) -> bool {
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
        let conversation = self.bring_to_front(envelope.from);
        conversation.place(Message {
            id: envelope.id,
            direction: Direction::In,
            body: envelope.body.clone(),
            at: envelope.sent_at,
            status: Status::Delivered,
            seq: envelope.seq,
        });
        conversation.unread += 1;
        true
    }

    /// Moves the outgoing message `id` on to `status` (never back), noting its `seq` once
    /// known. Returns whether it was found.
    pub fn set_status(&mut self, id: MessageId, status: Status, seq: Option<u64>) -> bool {
        let found = self
            .list
            .iter_mut()
            .flat_map(|c| c.messages.iter_mut())
            .find(|m| m.id == id && m.direction == Direction::Out);
        match found {
            Some(message) => {
                if status.rank() >= message.status.rank() {
                    message.status = status;
                }
                if let Some(seq) = seq {
                    message.seq = seq;
                }
                true
            }
            None => false,
        }
    }

    /// Takes in another copy (another tab's): every message of either, each at its
    /// furthest status.
    pub fn merge(&mut self, other: Conversations) {
        for conversation in other.list.into_iter().rev() {
            let peer = conversation.peer;
            self.open(peer);
            // Both tabs count what arrives; what one has seen is seen.
            if let Some(mine) = self.list.iter_mut().find(|c| c.peer == peer) {
                mine.unread = mine.unread.min(conversation.unread);
            }
            for message in conversation.messages {
                let key = (message.direction, peer, message.id);
                if self.seen.insert(key) {
                    if let Some(mine) = self.list.iter_mut().find(|c| c.peer == peer) {
                        mine.place(message);
                    }
                } else if message.direction == Direction::Out {
                    let seq = (message.seq > 0).then_some(message.seq);
                    self.set_status(message.id, message.status, seq);
                }
            }
        }
    }

    /// The outgoing messages not yet stored by the server, oldest first: to send again.
    pub fn drafts(&self) -> Vec<Draft> {
        let mut drafts: Vec<(u64, Draft)> = self
            .list
            .iter()
            .flat_map(|c| {
                c.messages
                    .iter()
                    .filter(|m| m.direction == Direction::Out && m.status == Status::Sending)
                    .map(|m| {
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
            self.list.insert(0, Conversation::new(peer));
        }
    }

    /// Marks the conversation with `peer` as seen; returns its first message that was
    /// not, if any (where a "new messages" divider goes).
    pub fn mark_read(&mut self, peer: PeerId) -> Option<MessageId> {
        let conversation = self.list.iter_mut().find(|c| c.peer == peer)?;
        let first = conversation.first_unread();
        conversation.unread = 0;
        first
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

    fn bring_to_front(&mut self, peer: PeerId) -> &mut Conversation {
        let conversation = match self.list.iter().position(|c| c.peer == peer) {
            Some(i) => self.list.remove(i),
            None => Conversation::new(peer),
        };
        self.list.insert(0, conversation);
        &mut self.list[0]
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
        c.set_status(id(1), Status::Sent, Some(10));
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
    fn statuses_only_move_forward() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "out".into(), 1);
        c.receive(&envelope(peer(1), 2, "in", 3));
        assert!(c.set_status(id(1), Status::Delivered, None));
        assert!(
            c.set_status(id(1), Status::Sent, Some(2)),
            "a late 'sent' ack"
        );
        let out = &c.get(peer(1)).unwrap().messages[0];
        assert_eq!((out.status.clone(), out.seq), (Status::Delivered, 2));
        assert!(
            !c.set_status(id(2), Status::Sent, None),
            "incoming has no status to set"
        );
    }

    #[test]
    fn unsent_messages_are_drafts_and_survive_a_round_trip() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "first".into(), 1);
        c.send(peer(2), id(2), "second".into(), 2);
        c.send(peer(1), id(3), "third".into(), 3);
        c.set_status(id(2), Status::Sent, Some(9));
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
        theirs.set_status(id(1), Status::Delivered, Some(5));
        theirs.send(peer(1), id(2), "from the other tab".into(), 2);
        theirs.receive(&envelope(peer(3), 3, "only they saw", 7));
        mine.merge(Conversations::from_json(&theirs.to_json()).unwrap());
        assert_eq!(bodies(&mine, peer(1)), ["from here", "from the other tab"]);
        assert_eq!(
            mine.get(peer(1)).unwrap().messages[0].status,
            Status::Delivered
        );
        assert_eq!(bodies(&mine, peer(3)), ["only they saw"]);
        // Merging again changes nothing.
        let before = mine.clone();
        mine.merge(Conversations::from_json(&theirs.to_json()).unwrap());
        assert_eq!(mine, before);
    }

    #[test]
    fn a_conversation_keeps_the_latest_messages() {
        let mut c = Conversations::default();
        for n in 0..(MAX_KEPT as u64 + 5) {
            c.receive(&Envelope {
                id: MessageId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
                from: peer(1),
                to: peer(0),
                body: n.to_string(),
                sent_at: n,
                seq: n + 1,
            });
        }
        let kept = &c.get(peer(1)).unwrap().messages;
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept[0].body, "5");
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

        // Another tab saw peer 2's message: seen here too.
        let mut theirs = c.clone();
        theirs.mark_read(peer(2));
        c.merge(Conversations::from_json(&theirs.to_json()).unwrap());
        assert_eq!(c.total_unread(), 0);
        // Kept: counts written before this field existed read as none unread.
        let old = r#"{"list":[{"peer":"00000000-0000-4000-8000-000000000001","messages":[]}]}"#;
        assert_eq!(Conversations::from_json(old).unwrap().total_unread(), 0);
    }
}
