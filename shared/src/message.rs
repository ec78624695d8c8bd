//! Typed-protocol payloads: what a client sends, and the [`Envelope`] a recipient gets.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{
    encrypted::Encrypted,
    error::{ErrorCode, Rejection},
    peer_id::{PeerId, parse_hyphenated, parse_peer_id},
    secret::Secret,
};

/// The largest message body a server accepts unless configured otherwise: 64 KiB of UTF-8.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The most `seq`s one [`Received`] may carry, per list.
pub const MAX_RECEIVED_IDS: usize = 1024;

/// A message's identity: a uuid chosen by the sender's client (or by the server when the
/// client gives none), the same on every delivery of that message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Uuid);

impl MessageId {
    /// Wraps a uuid.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The underlying uuid.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl FromStr for MessageId {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hyphenated(s).map(Self).ok_or_else(|| {
            Rejection::new(
                ErrorCode::InvalidMessageId,
                "message id must be a uuid like 3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",
            )
        })
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a message body against the size limit: not empty, not only whitespace, at most
/// `max_bytes` bytes of UTF-8.
pub fn check_body(body: &str, max_bytes: usize) -> Result<(), Rejection> {
    if body.len() > max_bytes {
        return Err(Rejection::new(
            ErrorCode::BodyTooLarge,
            format!(
                "message body is {} bytes; the limit is {max_bytes}",
                body.len()
            ),
        ));
    }
    if body.trim().is_empty() {
        return Err(Rejection::new(
            ErrorCode::EmptyBody,
            "message body is empty",
        ));
    }
    Ok(())
}

/// Payload of [`crate::event::REGISTER`]: the peer id this socket speaks for, and the
/// secret that proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The peer id to register under.
    pub id: PeerId,
    /// The secret created with the id. The first registration claims the id for it.
    pub secret: Secret,
}

/// Payload of [`crate::event::SEND`]: a message for a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The recipient.
    pub to: PeerId,
    /// The text, shown as text (never as HTML); "" when the message is [`Self::encrypted`].
    pub body: String,
    /// The sender's id for this message; the server assigns one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<MessageId>,
    /// The text end-to-end encrypted, instead of `body`: the server cannot read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<Encrypted>,
}

/// A [`RegisterRequest`] as received, before its fields are validated, so that each
/// invalid field gets its own [`ErrorCode`] rather than a generic parse error.
#[derive(Debug, Deserialize)]
pub struct RawRegister {
    id: String,
    #[serde(default)]
    secret: Option<String>,
}

impl RawRegister {
    /// Validates the fields.
    pub fn check(self) -> Result<RegisterRequest, Rejection> {
        let id = parse_peer_id(&self.id)?;
        let secret = self.secret.ok_or_else(|| {
            Rejection::new(
                ErrorCode::InvalidPayload,
                "register needs the secret created with your id",
            )
        })?;
        Ok(RegisterRequest {
            id,
            secret: secret.parse()?,
        })
    }
}

/// A [`SendRequest`] as received, before its fields are validated.
#[derive(Debug, Deserialize)]
pub struct RawSend {
    to: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    encrypted: Option<Encrypted>,
}

impl RawSend {
    /// Validates the fields against a body limit of `max_body_bytes`, which bounds the
    /// text or, for an encrypted message, its JSON: exactly one of a non-empty `body`
    /// and `encrypted`.
    pub fn check(self, max_body_bytes: usize) -> Result<SendRequest, Rejection> {
        let to = parse_peer_id(&self.to)?;
        let id = self.id.as_deref().map(str::parse).transpose()?;
        let Some(encrypted) = self.encrypted else {
            // A plain message: an empty body is `empty_body`, as it always was.
            let body = self.body.ok_or_else(|| {
                Rejection::new(
                    ErrorCode::InvalidPayload,
                    "a message needs a body or an encrypted body",
                )
            })?;
            check_body(&body, max_body_bytes)?;
            return Ok(SendRequest {
                to,
                body,
                id,
                encrypted: None,
            });
        };
        if self.body.is_some_and(|body| !body.is_empty()) {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                "a message has a body or is encrypted, not both: leave body out",
            ));
        }
        check_encrypted(&encrypted, max_body_bytes)?;
        Ok(SendRequest {
            to,
            body: String::new(),
            id,
            encrypted: Some(encrypted),
        })
    }
}

/// Checks an encrypted body: its shape ([`Encrypted::check`]), and its JSON at most
/// `max_bytes` bytes, the limit of a plain body.
pub fn check_encrypted(encrypted: &Encrypted, max_bytes: usize) -> Result<(), Rejection> {
    encrypted.check()?;
    let len = serde_json::to_string(encrypted).map_or(usize::MAX, |json| json.len());
    if len > max_bytes {
        return Err(Rejection::new(
            ErrorCode::BodyTooLarge,
            format!("the encrypted body is {len} bytes of JSON; the limit is {max_bytes}"),
        ));
    }
    Ok(())
}

/// Payload of [`crate::event::TYPING`] from a client: it is typing to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingRequest {
    /// Whom the message being typed is for.
    pub to: PeerId,
}

/// A [`TypingRequest`] as received, before its field is validated.
#[derive(Debug, Deserialize)]
pub struct RawTyping {
    to: String,
}

impl RawTyping {
    /// Validates the field.
    pub fn check(self) -> Result<TypingRequest, Rejection> {
        Ok(TypingRequest {
            to: parse_peer_id(&self.to)?,
        })
    }
}

/// Payload of [`crate::event::TYPING`] to a client: `from` is typing to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingNotice {
    /// Who is typing.
    pub from: PeerId,
}

/// The most ids one person may block.
pub const MAX_BLOCKED: usize = 10_000;

/// Payload of [`crate::event::BLOCK`] and [`crate::event::UNBLOCK`]: whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRequest {
    /// The peer blocked or unblocked.
    pub peer: PeerId,
}

/// A [`BlockRequest`] as received, before its field is validated.
#[derive(Debug, Deserialize)]
pub struct RawBlock {
    peer: String,
}

impl RawBlock {
    /// Validates the field.
    pub fn check(self) -> Result<BlockRequest, Rejection> {
        Ok(BlockRequest {
            peer: parse_peer_id(&self.peer)?,
        })
    }
}

/// Payload of [`crate::event::READ`] from a client: the person has seen these messages
/// of `from`'s (kept and confirmed already), so `from` gets a read receipt for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// Who sent them.
    pub from: PeerId,
    /// Their ids, at most [`MAX_RECEIVED_IDS`].
    pub ids: Vec<MessageId>,
}

/// A [`ReadRequest`] as received, before its fields are validated.
#[derive(Debug, Deserialize)]
pub struct RawRead {
    from: String,
    ids: Vec<String>,
}

impl RawRead {
    /// Validates the fields: a peer id, and 1 to [`MAX_RECEIVED_IDS`] message ids.
    pub fn check(self) -> Result<ReadRequest, Rejection> {
        let from = parse_peer_id(&self.from)?;
        if self.ids.is_empty() || self.ids.len() > MAX_RECEIVED_IDS {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!("1 to {MAX_RECEIVED_IDS} message ids per read"),
            ));
        }
        let ids = self
            .ids
            .iter()
            .map(|id| id.parse())
            .collect::<Result<Vec<MessageId>, _>>()?;
        Ok(ReadRequest { from, ids })
    }
}

/// Payload of [`crate::event::DELIVER`]: one message, as the recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The message's id, unique per sender.
    pub id: MessageId,
    /// The sender.
    pub from: PeerId,
    /// The recipient.
    pub to: PeerId,
    /// The text; "" when the message is [`Self::encrypted`].
    pub body: String,
    /// The text end-to-end encrypted, for the recipient's devices and the sender's
    /// others; absent for a plain message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<Encrypted>,
    /// When the server accepted it, in milliseconds since the Unix epoch.
    pub sent_at: u64,
    /// The server's order: increasing with every message it stores. Messages of one
    /// conversation, sorted by it, read in the order they were sent.
    #[serde(default)]
    pub seq: u64,
}

/// Payload of [`crate::event::RECEIPT`]: a message this peer sent reached its
/// recipient's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The message's id.
    pub id: MessageId,
    /// Its recipient.
    pub to: PeerId,
    /// When the recipient's client confirmed it, in ms since the Unix epoch.
    pub delivered_at: u64,
    /// When the recipient read it, in ms since the Unix epoch: a read receipt. Absent
    /// for a delivery receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<u64>,
    /// The receipt's own number, increasing for one sender, to confirm it with.
    pub seq: u64,
}

/// Payload of [`crate::event::RECEIVED`]: what this client now holds (has saved), by
/// `seq`, so the server can let go of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// `seq`s of messages delivered to this peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<u64>,
    /// `seq`s of this peer's own messages whose receipts it got.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<u64>,
}

impl Received {
    /// Checks the lists' lengths: at most [`MAX_RECEIVED_IDS`] each.
    pub fn check(self) -> Result<Self, Rejection> {
        if self.messages.len() > MAX_RECEIVED_IDS || self.receipts.len() > MAX_RECEIVED_IDS {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!("at most {MAX_RECEIVED_IDS} seqs per list"),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    fn raw_send(json: &str) -> Result<SendRequest, Rejection> {
        serde_json::from_str::<RawSend>(json).unwrap().check(10)
    }

    #[test]
    fn a_valid_send_passes() {
        let req = raw_send(&format!(r#"{{"to":"{ALICE}","body":"hi"}}"#)).unwrap();
        assert_eq!(req.to.to_string(), ALICE);
        assert_eq!(req.body, "hi");
        assert_eq!(req.id, None);
    }

    #[test]
    fn each_bad_field_has_its_own_code() {
        let code = |json: String| raw_send(&json).unwrap_err().code;
        assert_eq!(
            code(r#"{"to":"bob","body":"hi"}"#.into()),
            ErrorCode::InvalidPeerId
        );
        assert_eq!(
            code(format!(r#"{{"to":"{ALICE}","body":"  "}}"#)),
            ErrorCode::EmptyBody
        );
        assert_eq!(
            code(format!(r#"{{"to":"{ALICE}","body":"12345678901"}}"#)),
            ErrorCode::BodyTooLarge
        );
        assert_eq!(
            code(format!(r#"{{"to":"{ALICE}","body":"hi","id":"x"}}"#)),
            ErrorCode::InvalidMessageId
        );
    }

    /// An `encrypted` with one ciphertext of `body` for ALICE's first device.
    fn encrypted_json(body: &str) -> String {
        let key = vodozemac::Curve25519PublicKey::from_bytes([7; 32]).to_base64();
        format!(
            r#"{{"sender_device":0,"sender_key":"{key}","ciphertexts":[{{"peer":"{ALICE}","device":0,"key":"{key}","kind":1,"body":"{body}"}}]}}"#
        )
    }

    #[test]
    fn a_send_has_a_body_or_an_encrypted_body_never_both() {
        let send = |json: String, limit: usize| {
            serde_json::from_str::<RawSend>(&json)
                .map_err(|_| ErrorCode::InvalidPayload)
                .and_then(|raw| raw.check(limit).map_err(|r| r.code))
        };
        let encrypted = encrypted_json("AwgAEiA");
        for json in [
            format!(r#"{{"to":"{ALICE}","encrypted":{encrypted}}}"#),
            format!(r#"{{"to":"{ALICE}","body":"","encrypted":{encrypted}}}"#),
        ] {
            let req = send(json, 1000).unwrap();
            assert_eq!(req.body, "");
            assert_eq!(
                req.encrypted,
                Some(serde_json::from_str(&encrypted).unwrap())
            );
        }
        let code = |json: String| send(json, 1000).unwrap_err();
        assert_eq!(
            code(format!(
                r#"{{"to":"{ALICE}","body":"hi","encrypted":{encrypted}}}"#
            )),
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            code(format!(r#"{{"to":"{ALICE}"}}"#)),
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            code(format!(
                r#"{{"to":"{ALICE}","encrypted":{}}}"#,
                encrypted_json("A=")
            )),
            ErrorCode::InvalidPayload
        );
        // The limit bounds the encrypted body's JSON.
        assert_eq!(
            send(
                format!(r#"{{"to":"{ALICE}","encrypted":{encrypted}}}"#),
                encrypted.len() - 1
            )
            .unwrap_err(),
            ErrorCode::BodyTooLarge
        );
        assert!(
            send(
                format!(r#"{{"to":"{ALICE}","encrypted":{encrypted}}}"#),
                encrypted.len()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_plain_envelope_has_no_encrypted_field() {
        let json = format!(
            r#"{{"id":"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c","from":"{ALICE}","to":"{ALICE}","body":"hi","sent_at":5,"seq":1}}"#
        );
        let envelope: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(envelope.encrypted, None);
        assert_eq!(serde_json::to_string(&envelope).unwrap(), json);
        let encrypted = Envelope {
            body: String::new(),
            encrypted: Some(serde_json::from_str(&encrypted_json("AwgAEiA")).unwrap()),
            ..envelope
        };
        let json = serde_json::to_string(&encrypted).unwrap();
        assert!(
            json.contains(r#""body":"","encrypted":{"sender_device":0"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), encrypted);
    }

    #[test]
    fn the_body_limit_counts_utf8_bytes() {
        assert!(check_body("ééééé", 10).is_ok());
        assert_eq!(
            check_body("éééééé", 10).unwrap_err().code,
            ErrorCode::BodyTooLarge
        );
    }

    #[test]
    fn register_needs_a_well_formed_secret() {
        let check = |json: String| serde_json::from_str::<RawRegister>(&json).unwrap().check();
        let ok = check(format!(r#"{{"id":"{ALICE}","secret":"0123456789abcdef"}}"#)).unwrap();
        assert_eq!(ok.secret.as_str(), "0123456789abcdef");
        assert!(
            !format!("{ok:?}").contains("0123456789abcdef"),
            "secrets stay out of logs"
        );
        for bad in [
            format!(r#"{{"id":"{ALICE}"}}"#),
            format!(r#"{{"id":"{ALICE}","secret":"short"}}"#),
            format!(r#"{{"id":"{ALICE}","secret":"{}"}}"#, "x".repeat(257)),
            format!(r#"{{"id":"{ALICE}","secret":"ééééééééééééééééé"}}"#),
        ] {
            assert_eq!(
                check(bad.clone()).unwrap_err().code,
                ErrorCode::InvalidPayload,
                "{bad}"
            );
        }
    }

    #[test]
    fn received_is_bounded() {
        let ok = serde_json::from_str::<Received>(r#"{"messages":[1,2]}"#).unwrap();
        assert_eq!(ok.clone().check().unwrap().messages, [1, 2]);
        let too_many = Received {
            receipts: vec![1; MAX_RECEIVED_IDS + 1],
            ..Received::default()
        };
        assert_eq!(
            too_many.check().unwrap_err().code,
            ErrorCode::InvalidPayload
        );
        assert!(serde_json::from_str::<Received>(r#"{"messages":["x"]}"#).is_err());
        assert!(serde_json::from_str::<Received>(r#"{"messages":[-1]}"#).is_err());
    }

    #[test]
    fn a_read_names_its_sender_and_up_to_1024_message_ids() {
        let check = |json: String| serde_json::from_str::<RawRead>(&json).unwrap().check();
        let id = "0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c";
        let ok = check(format!(r#"{{"from":"{ALICE}","ids":["{id}"]}}"#)).unwrap();
        assert_eq!((ok.from.to_string(), ok.ids.len()), (ALICE.to_owned(), 1));
        let code = |json: String| check(json).unwrap_err().code;
        assert_eq!(
            code(format!(r#"{{"from":"alice","ids":["{id}"]}}"#)),
            ErrorCode::InvalidPeerId
        );
        assert_eq!(
            code(format!(r#"{{"from":"{ALICE}","ids":["x"]}}"#)),
            ErrorCode::InvalidMessageId
        );
        assert_eq!(
            code(format!(r#"{{"from":"{ALICE}","ids":[]}}"#)),
            ErrorCode::InvalidPayload
        );
        let many = vec![format!("\"{id}\""); MAX_RECEIVED_IDS + 1].join(",");
        assert_eq!(
            code(format!(r#"{{"from":"{ALICE}","ids":[{many}]}}"#)),
            ErrorCode::InvalidPayload
        );
    }

    #[test]
    fn a_delivery_receipt_has_no_read_time_on_the_wire() {
        let receipt: Receipt = serde_json::from_str(&format!(
            r#"{{"id":"0d8f7a3c-5b2e-4f1a-9c6d-8e7b6a5f4d3c","to":"{ALICE}","delivered_at":5,"seq":1}}"#
        ))
        .unwrap();
        assert_eq!(receipt.read_at, None);
        assert!(!serde_json::to_string(&receipt).unwrap().contains("read_at"));
        let read = Receipt {
            read_at: Some(7),
            ..receipt
        };
        assert!(
            serde_json::to_string(&read)
                .unwrap()
                .contains(r#""read_at":7"#)
        );
    }

    #[test]
    fn send_request_serializes_without_absent_id() {
        let req = SendRequest {
            to: ALICE.parse().unwrap(),
            body: "hi".into(),
            id: None,
            encrypted: None,
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            format!(r#"{{"to":"{ALICE}","body":"hi"}}"#)
        );
    }
}
