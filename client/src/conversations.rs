//! [`Conversations`]: the messages exchanged with each peer, grouped by peer, newest
//! last; the conversation with the latest activity first. Plain data, no browser.

use std::collections::HashSet;

use relay_shared::{Envelope, MessageId, PeerId};
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// On its way to the server.
    Sending,
    /// Handed to the recipient's open tabs.
    Delivered,
    /// The recipient had no tab open.
    Offline,
    /// Not sent, for the reason given.
    Failed(String),
}

impl Status {
    /// The name used in the page (`data-status`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Offline => "offline",
            Self::Failed(_) => "failed",
        }
    }

    /// What the user reads.
    pub fn label(&self) -> String {
        match self {
            Self::Sending => "sending…".into(),
            Self::Delivered => "delivered".into(),
            Self::Offline => "not delivered: recipient offline".into(),
            Self::Failed(reason) => format!("failed: {reason}"),
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
    /// When it was sent (outgoing) or accepted by the server (incoming), in ms since
    /// the Unix epoch.
    pub at: u64,
    /// Where an outgoing message stands; incoming ones are `Delivered`.
    pub status: Status,
}

/// The messages exchanged with one peer, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The peer.
    pub peer: PeerId,
    /// The messages, in the order they were sent or arrived.
    pub messages: Vec<Message>,
}

/// Every conversation, the most recently active first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversations {
    list: Vec<Conversation>,
    /// Ids already shown, per peer: each message appears once, however often it arrives.
    #[serde(skip)]
    seen: HashSet<(PeerId, MessageId)>,
}

impl Conversations {
    /// Adds a message this browser is sending to `peer`, as `Sending`.
    pub fn send(&mut self, peer: PeerId, id: MessageId, body: String, at: u64) {
        self.seen.insert((peer, id));
        self.bring_to_front(peer).messages.push(Message {
            id,
            direction: Direction::Out,
            body,
            at,
            status: Status::Sending,
        });
    }

    /// Adds a received message, unless it is already there. Returns whether it was new.
    pub fn receive(&mut self, envelope: &Envelope) -> bool {
        if !self.seen.insert((envelope.from, envelope.id)) {
            return false;
        }
        self.bring_to_front(envelope.from).messages.push(Message {
            id: envelope.id,
            direction: Direction::In,
            body: envelope.body.clone(),
            at: envelope.sent_at,
            status: Status::Delivered,
        });
        true
    }

    /// Updates the status of the outgoing message `id`. Returns whether it was found.
    pub fn set_status(&mut self, id: MessageId, status: Status) -> bool {
        let found = self
            .list
            .iter_mut()
            .flat_map(|c| c.messages.iter_mut())
            .find(|m| m.id == id && m.direction == Direction::Out);
        match found {
            Some(message) => {
                message.status = status;
                true
            }
            None => false,
        }
    }

    /// Makes sure a conversation with `peer` exists (it may have no messages yet).
    pub fn open(&mut self, peer: PeerId) {
        if self.get(peer).is_none() {
            self.list.insert(
                0,
                Conversation {
                    peer,
                    messages: Vec::new(),
                },
            );
        }
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
            None => Conversation {
                peer,
                messages: Vec::new(),
            },
        };
        self.list.insert(0, conversation);
        &mut self.list[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        format!("00000000-0000-4000-8000-0000000000{n:02x}")
            .parse()
            .unwrap()
    }

    fn id(n: u8) -> MessageId {
        format!("00000000-0000-4000-9000-0000000000{n:02x}")
            .parse()
            .unwrap()
    }

    fn envelope(from: PeerId, n: u8, body: &str) -> Envelope {
        Envelope {
            id: id(n),
            from,
            to: peer(0),
            body: body.into(),
            sent_at: u64::from(n),
        }
    }

    #[test]
    fn messages_are_grouped_by_peer_newest_last() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "hi one".into(), 1);
        c.receive(&envelope(peer(2), 2, "hi from two"));
        c.receive(&envelope(peer(1), 3, "one again"));
        let one = c.get(peer(1)).unwrap();
        let bodies: Vec<&str> = one.messages.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["hi one", "one again"]);
        assert_eq!(one.messages[1].direction, Direction::In);
        let order: Vec<PeerId> = c.iter().map(|c| c.peer).collect();
        assert_eq!(order, [peer(1), peer(2)], "most recent activity first");
    }

    #[test]
    fn a_message_arriving_twice_is_shown_once() {
        let mut c = Conversations::default();
        assert!(c.receive(&envelope(peer(1), 1, "once")));
        assert!(!c.receive(&envelope(peer(1), 1, "once")));
        assert_eq!(c.get(peer(1)).unwrap().messages.len(), 1);
        // The same id from another peer is another message.
        assert!(c.receive(&envelope(peer(2), 1, "other")));
    }

    #[test]
    fn statuses_move_on_outgoing_messages_only() {
        let mut c = Conversations::default();
        c.send(peer(1), id(1), "out".into(), 1);
        c.receive(&envelope(peer(1), 2, "in"));
        assert!(c.set_status(id(1), Status::Delivered));
        assert!(
            !c.set_status(id(2), Status::Offline),
            "incoming has no status to set"
        );
        assert!(!c.set_status(id(9), Status::Offline));
        let statuses: Vec<&str> = c
            .get(peer(1))
            .unwrap()
            .messages
            .iter()
            .map(|m| m.status.name())
            .collect();
        assert_eq!(statuses, ["delivered", "delivered"]);
    }

    #[test]
    fn opening_a_conversation_keeps_its_messages() {
        let mut c = Conversations::default();
        c.open(peer(1));
        assert!(c.get(peer(1)).unwrap().messages.is_empty());
        c.send(peer(1), id(1), "x".into(), 1);
        c.open(peer(1));
        assert_eq!(c.get(peer(1)).unwrap().messages.len(), 1);
        assert_eq!(c.iter().count(), 1);
    }
}
