//! `init(uuid)`, seed protocol: speak for an id nobody owns, and receive what is sent to
//! it while connected.

use relay_shared::{PeerId, RegisterReply, Rejection, peer_id::parse_peer_id};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    protocol::Registration,
    relay::{Relay, forbidden, invalid_payload, unavailable},
};

/// A decoded `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// The peer id to speak for.
    pub id: PeerId,
}

impl Init {
    /// Decodes the payload: a uuid string.
    pub fn decode(payload: Result<String, ParserError>) -> Result<Self, Rejection> {
        let id = payload.map_err(|e| invalid_payload("init", "a uuid string", &e))?;
        Ok(Self {
            id: parse_peer_id(&id)?,
        })
    }

    /// Registers the socket under the id, unless someone owns it.
    pub async fn apply(self, relay: &Relay) -> Effects {
        let Self { id } = self;
        match relay.store().is_claimed(id).await {
            Ok(false) => vec![
                Effect::Enter(Registration::seed(id)),
                Effect::Reply(Reply::Register(RegisterReply::Registered {
                    id,
                    device: None,
                })),
            ],
            Ok(true) => vec![Effect::Reply(Reply::Rejected(forbidden(id)))],
            Err(error) => vec![Effect::Reply(Reply::Rejected(unavailable(&error)))],
        }
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::ErrorCode;

    use super::*;
    use crate::cmd::testing::{ALICE, parser_error, peer};

    #[test]
    fn init_takes_a_uuid_string() {
        assert_eq!(Init::decode(Ok(ALICE.into())).unwrap().id, peer(ALICE));
        assert_eq!(
            Init::decode(Ok("bob".into())).unwrap_err().code,
            ErrorCode::InvalidPeerId
        );
        let err = Init::decode(Err(parser_error())).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPayload);
        assert!(err.message.contains("init expects a uuid string"), "{err}");
    }
}
