//! `message("<uuid>|<text>")`, seed protocol: hand a text to every socket registered
//! under the uuid now. Not stored, as in the seed: a recipient not connected never gets
//! it.

use relay_shared::{Envelope, MessageId, PeerId, Rejection, seed::SeedMessage};
use socketioxide::ParserError;
use uuid::Uuid;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::{Protocol, Registration},
    relay::{Relay, invalid_payload, not_registered},
};

/// A decoded seed `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The recipient.
    pub to: PeerId,
    /// The text: everything after the first `|`.
    pub text: String,
}

impl Message {
    /// Decodes the payload `"<uuid>|<text>"`.
    pub fn decode(
        payload: Result<String, ParserError>,
        max_body_bytes: usize,
    ) -> Result<Self, Rejection> {
        let mut payload =
            payload.map_err(|e| invalid_payload("message", "\"<uuid>|<text>\"", &e))?;
        let SeedMessage { to, text } = SeedMessage::parse(&payload, max_body_bytes)?;
        // The text is the payload's tail: keep the payload's buffer rather than copy it.
        let text_start = payload.len() - text.len();
        payload.drain(..text_start);
        Ok(Self { to, text: payload })
    }

    /// Relays the text from the socket's registered id, in whichever protocol it
    /// registered. `report` asks for the number of sockets reached.
    pub fn apply(self, relay: &Relay, from: Option<Registration>, report: bool) -> Effects {
        let Some(from) = from else {
            return vec![Effect::Reply(Reply::Rejected(not_registered(
                Protocol::Seed,
            )))];
        };
        vec![Effect::Broadcast {
            envelope: Envelope {
                id: MessageId::from_uuid(Uuid::new_v4()),
                from: from.id,
                to: self.to,
                body: self.text,
                encrypted: None,
                sent_at: relay.now_millis(),
                seq: 0,
            },
            report,
        }]
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::ErrorCode;

    use super::*;
    use crate::clock::Clock as _;
    use crate::cmd::testing::{ALICE, BOB, TestRelay, peer};

    #[test]
    fn the_text_is_everything_after_the_first_bar() {
        let message = Message::decode(Ok(format!("{ALICE}|a|b")), 100).unwrap();
        assert_eq!((message.to, message.text.as_str()), (peer(ALICE), "a|b"));
    }

    #[test]
    fn sending_needs_a_registration() {
        let t = TestRelay::new();
        let message = Message {
            to: peer(BOB),
            text: "hi".into(),
        };
        let effects = message.clone().apply(&t.relay, None, true);
        assert!(
            matches!(&effects[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::NotRegistered),
            "{effects:?}"
        );
        let from = Registration::seed(peer(ALICE));
        let effects = message.apply(&t.relay, Some(from), false);
        let [Effect::Broadcast { envelope, report }] = &effects[..] else {
            panic!("{effects:?}");
        };
        assert_eq!(
            (
                envelope.from,
                envelope.to,
                envelope.body.as_str(),
                envelope.seq,
                *report
            ),
            (peer(ALICE), peer(BOB), "hi", 0, false)
        );
        assert_eq!(envelope.sent_at, t.clock.now_millis());
    }
}
