//! [`Effect`]: what a command decided, for the session to carry out on its socket.
//!
//! Commands return effects instead of acting on sockets, in the manner of our sans-IO
//! client core: they are plain values, compared in unit tests, and the session
//! (`crate::session`) is the one place that turns them into Socket.IO calls.

use relay_shared::{
    Envelope, PeerId, Receipt, RegisterReply, Rejection, SendReply,
    device::{DevicesReply, LinkCodeReply},
    keys::{ClaimKeysReply, KeysReply, PublishKeysReply},
    presence::WatchPresenceReply,
};

use crate::protocol::{Registration, Speaker};

/// What a command asks of the session, in order.
pub type Effects = Vec<Effect>;

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer the event's ack, if the client asked for one.
    Reply(Reply),
    /// The socket now speaks for `registration`: it leaves the room of the one before,
    /// joins this one's, and the node watches the peer in the store. Done before any
    /// effect after it.
    Enter(Registration),
    /// Disconnect, on every node, the sockets registered under this id through the seed
    /// protocol.
    DisconnectSeed(PeerId),
    /// Seed protocol: hand `envelope` now to every socket registered under its
    /// recipient, on every node, each in its protocol's shape. With `report`, the reply
    /// says how many sockets it reached.
    Broadcast {
        /// The message.
        envelope: Envelope,
        /// Whether the sender asked how many sockets it reached.
        report: bool,
    },
    /// Send this socket something from the store.
    Emit(Emit),
    /// Send this socket what waits for this device, a page at a time, after the work
    /// already queued for it.
    SendBacklog(Speaker),
    /// The socket, of `viewer`, follows the presence of `peers` from now on (those
    /// before no longer); the reply says each one's presence now.
    Follow {
        /// The socket's peer.
        viewer: PeerId,
        /// Whom it follows.
        peers: Vec<PeerId>,
    },
    /// `peer` hides its presence (`hidden`) or shows it again; its followers are told,
    /// then the reply goes.
    HidePresence {
        /// Whose.
        peer: PeerId,
        /// Hidden, or shown.
        hidden: bool,
    },
    /// `owner` blocked `peer`: the sockets of `peer`, on every node, stop following
    /// `owner`'s presence.
    HideFrom {
        /// Who blocked.
        owner: PeerId,
        /// Whom.
        peer: PeerId,
    },
    /// Tell `to`'s typed sockets, on every node, that `from` is typing; at most once,
    /// never stored.
    Typing {
        /// Who is typing.
        from: PeerId,
        /// To whom.
        to: PeerId,
    },
}

/// The ack of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The ack of `init` or `register`.
    Register(RegisterReply),
    /// The ack of `send` or of the seed `message`.
    Send(SendReply),
    /// The ack of `received`: `{"status": "ok"}`.
    Confirmed,
    /// The ack of `watch_presence`.
    Presence(WatchPresenceReply),
    /// The ack of `link_code`.
    LinkCode(LinkCodeReply),
    /// The ack of `devices`.
    Devices(DevicesReply),
    /// The ack of `publish_keys`.
    PublishKeys(PublishKeysReply),
    /// The ack of `keys`.
    Keys(KeysReply),
    /// The ack of `claim_keys`.
    ClaimKeys(ClaimKeysReply),
    /// A refusal; every event's reply has this same shape.
    Rejected(Rejection),
}

/// Something the store kept for a socket's peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Emit {
    /// A message for it: `deliver`.
    Deliver(Envelope),
    /// A receipt for one of its messages: `receipt`.
    Receipt(Receipt),
}

/// On the wire, each reply is its protocol type's JSON object.
impl serde::Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The ack of `received`.
        #[derive(serde::Serialize)]
        #[serde(tag = "status", rename_all = "snake_case")]
        enum Confirmed {
            Ok,
        }
        match self {
            Self::Register(reply) => reply.serialize(serializer),
            Self::Send(reply) => reply.serialize(serializer),
            Self::Confirmed => Confirmed::Ok.serialize(serializer),
            Self::Presence(reply) => reply.serialize(serializer),
            Self::LinkCode(reply) => reply.serialize(serializer),
            Self::Devices(reply) => reply.serialize(serializer),
            Self::PublishKeys(reply) => reply.serialize(serializer),
            Self::Keys(reply) => reply.serialize(serializer),
            Self::ClaimKeys(reply) => reply.serialize(serializer),
            // Every reply type has the same `rejected` shape: borrow `SendReply`'s.
            Self::Rejected(rejection) => {
                SendReply::Rejected(rejection.clone()).serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::ErrorCode;

    use super::*;

    #[test]
    fn every_reply_type_shares_the_rejected_shape() {
        let rejection = Rejection::new(ErrorCode::UnknownEvent, "nope");
        let as_reply = serde_json::to_value(Reply::Rejected(rejection.clone())).unwrap();
        let as_register = serde_json::to_value(RegisterReply::Rejected(rejection)).unwrap();
        assert_eq!(as_reply, as_register);
        assert_eq!(
            serde_json::to_value(Reply::Confirmed).unwrap(),
            serde_json::json!({"status": "ok"})
        );
    }
}
