//! `typing({to})`, typed protocol: the socket's peer is typing a message to `to`. Passed
//! on at once to `to`'s typed sockets on every node as `typing({from})`, never stored,
//! at most once (a recipient offline, or a node that drops it, misses it: the next one
//! comes in a few seconds while typing goes on). Counts against the socket's message
//! rate, so it cannot be used to flood.

use relay_shared::{PeerId, Rejection, message::RawTyping};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::{Protocol, Registration, typed_id},
    relay::{invalid_payload, not_registered},
};

/// A decoded `typing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Typing {
    /// Whom the message being typed is for.
    pub to: PeerId,
}

impl Typing {
    /// Decodes the payload `{"to": "<uuid>"}`.
    pub fn decode(payload: Result<RawTyping, ParserError>) -> Result<Self, Rejection> {
        let request = payload
            .map_err(|e| invalid_payload("typing", "{\"to\": \"<uuid>\"}", &e))?
            .check()?;
        Ok(Self { to: request.to })
    }

    /// What to do, given the socket's registration: pass it on from the socket's typed
    /// id, or refuse it if the socket has none.
    pub fn apply(self, registration: Option<Registration>) -> Effects {
        match typed_id(registration) {
            Some(from) => vec![
                Effect::Typing { from, to: self.to },
                Effect::Reply(Reply::Confirmed),
            ],
            None => vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Typed,
            )))],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
    use relay_shared::ErrorCode;

    use super::*;
    use crate::cmd::testing::{ALICE, BOB, parser_error, peer};

    fn raw(to: &str) -> RawTyping {
        serde_json::from_value(serde_json::json!({ "to": to })).expect("the raw shape")
    }

    #[test]
    fn decoding_checks_the_recipient() {
        assert_eq!(Typing::decode(Ok(raw(BOB))), Ok(Typing { to: peer(BOB) }));
        let bad = Typing::decode(Ok(raw("bob"))).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidPeerId);
        let bad = Typing::decode(Err(parser_error())).unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidPayload);
    }

    #[test]
    fn only_a_typed_registration_may_type() {
        let typing = Typing { to: peer(BOB) };
        let typed = Registration::typed(Speaker::first(peer(ALICE)));
        assert_eq!(
            typing.apply(Some(typed)),
            [
                Effect::Typing {
                    from: peer(ALICE),
                    to: peer(BOB)
                },
                Effect::Reply(Reply::Confirmed)
            ]
        );
        for registration in [None, Some(Registration::seed(typed.id))] {
            let effects = typing.apply(registration);
            assert!(
                matches!(&effects[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered),
                "{effects:?}"
            );
        }
    }
}
