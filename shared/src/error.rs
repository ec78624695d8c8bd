//! Error codes a client can receive, and the [`Rejection`] that carries them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why the server refused an event. Stable, machine-readable; the accompanying
/// [`Rejection::message`] is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload has the wrong type or shape (for example a number where text belongs).
    InvalidPayload,
    /// A peer id is not a uuid.
    InvalidPeerId,
    /// A message id is not a uuid.
    InvalidMessageId,
    /// The message body is empty or only whitespace.
    EmptyBody,
    /// The message body is over the server's size limit.
    BodyTooLarge,
    /// The socket sent a message before registering a peer id.
    NotRegistered,
    /// The server does not know this event.
    UnknownEvent,
    /// The socket sent events faster than the server could take them; this one was refused.
    Overloaded,
    /// The peer id belongs to someone else (another secret claimed it).
    Forbidden,
    /// The recipient has too many messages waiting; try again later.
    QueueFull,
    /// The server cannot store messages right now; try again.
    Unavailable,
    /// The client sent faster than its limit allows; the rejection's `retry_after_ms`
    /// says when the same event would be taken.
    RateLimited,
    /// A lasting per-person bound is reached (say, of blocked ids): nothing more of the
    /// kind is taken until some goes.
    LimitReached,
    /// An end-to-end encrypted message is not encrypted for exactly the devices that
    /// publish keys now (a device was linked or unlinked since the sender learned them):
    /// learn the keys again and send it again, with the same id.
    DevicesChanged,
    /// A code this version of the protocol does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code this version knows: all but [`Unknown`](Self::Unknown).
    pub const KNOWN: [ErrorCode; 14] = [
        Self::InvalidPayload,
        Self::InvalidPeerId,
        Self::InvalidMessageId,
        Self::EmptyBody,
        Self::BodyTooLarge,
        Self::NotRegistered,
        Self::UnknownEvent,
        Self::Overloaded,
        Self::Forbidden,
        Self::QueueFull,
        Self::Unavailable,
        Self::RateLimited,
        Self::LimitReached,
        Self::DevicesChanged,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid_payload",
            Self::InvalidPeerId => "invalid_peer_id",
            Self::InvalidMessageId => "invalid_message_id",
            Self::EmptyBody => "empty_body",
            Self::BodyTooLarge => "body_too_large",
            Self::NotRegistered => "not_registered",
            Self::UnknownEvent => "unknown_event",
            Self::Overloaded => "overloaded",
            Self::Forbidden => "forbidden",
            Self::QueueFull => "queue_full",
            Self::Unavailable => "unavailable",
            Self::RateLimited => "rate_limited",
            Self::LimitReached => "limit_reached",
            Self::DevicesChanged => "devices_changed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused event: a code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// For a limit: in how many milliseconds the same event would be taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Rejection {
    /// A rejection with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A rejection that says when to try again.
    pub fn retry_after(code: ErrorCode, message: impl Into<String>, millis: u64) -> Self {
        Self {
            retry_after_ms: Some(millis),
            ..Self::new(code, message)
        }
    }
}

/// The most characters of a client's own input a [`Rejection`] quotes back to it: enough
/// to recognise it, never the whole of a large payload.
pub const MAX_QUOTED_CHARS: usize = 96;

/// `text` cut to at most `max` characters, to quote in a message: its beginning and its
/// end, with `…` between them when something was left out.
pub fn shortened(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= max {
        return text.into();
    }
    let keep = max.saturating_sub(1);
    let head = keep - keep / 3;
    let tail = keep / 3;
    let mut cut: String = text.chars().take(head).collect();
    cut.push('…');
    cut.extend(text.chars().skip(count - tail));
    cut.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in ErrorCode::KNOWN {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn only_a_limit_says_when_to_retry() {
        let plain = Rejection::new(ErrorCode::Forbidden, "no");
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"code": "forbidden", "message": "no"})
        );
        let limited = Rejection::retry_after(ErrorCode::RateLimited, "slow down", 250);
        let json = serde_json::to_value(&limited).unwrap();
        assert_eq!(json["retry_after_ms"], 250);
        assert_eq!(serde_json::from_value::<Rejection>(json).unwrap(), limited);
    }

    #[test]
    fn a_code_from_a_newer_server_is_unknown_not_an_error() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(code, ErrorCode::Unknown);
    }

    #[test]
    fn shortened_keeps_both_ends_within_the_bound() {
        assert_eq!(shortened("short", 10), "short");
        let long = format!("begin{}end", "é".repeat(1000));
        let cut = shortened(&long, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.starts_with("begin") && cut.ends_with("end") && cut.contains('…'));
    }
}
