//! Ack replies. Every reply is a JSON object whose `status` says the outcome; a
//! `rejected` reply, the same for every event, carries an [`ErrorCode`](crate::ErrorCode)
//! and a message.

use serde::{Deserialize, Serialize};

use crate::{device::DeviceId, error::Rejection, message::MessageId, peer_id::PeerId};

/// The ack of [`crate::event::REGISTER`] (and of [`crate::event::INIT`] when it asks for one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RegisterReply {
    /// The socket now receives what is sent to `id`.
    Registered {
        /// The registered peer id.
        id: PeerId,
        /// Typed protocol: which of the id's devices this socket's secret is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
    },
    /// Nothing changed.
    Rejected(Rejection),
}

/// The ack of [`crate::event::SEND`] (and of [`crate::event::MESSAGE`] when it asks for one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SendReply {
    /// Typed protocol: stored durably; the server delivers it, now or when the recipient
    /// comes back, until the recipient's client confirms it (a [`crate::event::RECEIPT`]
    /// then tells the sender).
    Sent {
        /// The message's id.
        id: MessageId,
        /// Its place in the server's order.
        seq: u64,
        /// When the server accepted it, in ms since the Unix epoch.
        sent_at: u64,
    },
    /// Seed protocol: handed to `sockets` sockets registered under the recipient's id.
    Delivered {
        /// The message's id.
        id: MessageId,
        /// How many sockets (tabs, devices) it was handed to.
        sockets: u32,
    },
    /// Seed protocol: no socket is registered under the recipient's id; the message was
    /// not kept.
    Offline {
        /// The message's id.
        id: MessageId,
    },
    /// Nothing was sent.
    Rejected(Rejection),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn replies_have_a_status_tag() {
        let id: MessageId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let delivered = SendReply::Delivered { id, sockets: 2 };
        assert_eq!(
            serde_json::to_value(&delivered).unwrap(),
            serde_json::json!({"status": "delivered", "id": id.to_string(), "sockets": 2})
        );
        let rejected = SendReply::Rejected(Rejection::new(ErrorCode::EmptyBody, "empty"));
        let json = serde_json::to_value(&rejected).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "rejected", "code": "empty_body", "message": "empty"})
        );
        assert_eq!(serde_json::from_value::<SendReply>(json).unwrap(), rejected);
    }
}
