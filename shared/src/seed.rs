//! The seed protocol's `message` payload, `"<uuid>|<text>"`.

use crate::{
    error::{ErrorCode, Rejection},
    message::check_body,
    peer_id::PeerId,
    peer_id::parse_peer_id,
};

/// The separator between recipient and text.
pub const SEPARATOR: char = '|';

/// A seed `message` payload, split. The text is everything after the first `|`
/// (the seed server dropped anything after a second `|`; we keep it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedMessage<'a> {
    /// The recipient.
    pub to: PeerId,
    /// The text, relayed as is.
    pub text: &'a str,
}

impl<'a> SeedMessage<'a> {
    /// Splits and validates a payload, with a body limit of `max_body_bytes`.
    pub fn parse(payload: &'a str, max_body_bytes: usize) -> Result<Self, Rejection> {
        let Some((to, text)) = payload.split_once(SEPARATOR) else {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                "message must be \"<uuid>|<text>\"",
            ));
        };
        let to = parse_peer_id(to)?;
        check_body(text, max_body_bytes)?;
        Ok(Self { to, text })
    }

    /// The payload for this message, as a seed client sends it.
    pub fn encode(to: PeerId, text: &str) -> String {
        format!("{to}{SEPARATOR}{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    #[test]
    fn splits_at_the_first_separator_only() {
        let payload = format!("{ALICE}|a|b|c");
        let m = SeedMessage::parse(&payload, 100).unwrap();
        assert_eq!(m.to.to_string(), ALICE);
        assert_eq!(m.text, "a|b|c");
        assert_eq!(SeedMessage::encode(m.to, m.text), payload);
    }

    #[test]
    fn refuses_bad_payloads_with_precise_codes() {
        let code = |p: &str| SeedMessage::parse(p, 5).unwrap_err().code;
        assert_eq!(code("no separator"), ErrorCode::InvalidPayload);
        assert_eq!(code("bob|hi"), ErrorCode::InvalidPeerId);
        assert_eq!(code(&format!("{ALICE}|")), ErrorCode::EmptyBody);
        assert_eq!(code(&format!("{ALICE}|123456")), ErrorCode::BodyTooLarge);
    }
}
