//! `register({id, secret})`, typed protocol: speak for an id, proving it with its secret
//! (the first registration claims it), and receive what waits for it and what comes.

use relay_shared::{PeerId, RegisterReply, Rejection, Secret, message::RawRegister};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    identity::SecretHash,
    protocol::{Protocol, Registration, Short},
    relay::{Relay, forbidden, invalid_payload, unavailable},
    store::Claim,
};

/// A decoded `register`.
#[derive(Debug, Clone)]
pub struct Register {
    /// The peer id.
    pub id: PeerId,
    /// Its secret.
    pub secret: Secret,
}

impl Register {
    /// Decodes the payload: `{"id": "<uuid>", "secret": "<secret>"}`.
    pub fn decode(payload: Result<RawRegister, ParserError>) -> Result<Self, Rejection> {
        let request = payload
            .map_err(|e| {
                invalid_payload(
                    "register",
                    "{\"id\": \"<uuid>\", \"secret\": \"<secret>\"}",
                    &e,
                )
            })?
            .check()?;
        Ok(Self {
            id: request.id,
            secret: request.secret,
        })
    }

    /// Registers the socket if the secret owns the id, claiming it if nobody does; then
    /// what waits for the id goes out. A first claim disconnects the seed sockets that
    /// were using the id: they are not its owner and must not read what comes for it.
    pub async fn apply(self, relay: &Relay) -> Effects {
        let Self { id, secret } = self;
        let claim = match relay.store().claim(id, SecretHash::of(&secret)).await {
            Ok(Claim::Refused) => return vec![Effect::Reply(Reply::Rejected(forbidden(id)))],
            Ok(claim) => claim,
            Err(error) => return vec![Effect::Reply(Reply::Rejected(unavailable(&error)))],
        };
        let mut effects = vec![Effect::Enter(Registration {
            id,
            protocol: Protocol::Typed,
        })];
        if claim == Claim::Claimed {
            tracing::info!(peer = %Short(id), "id claimed");
            effects.push(Effect::DisconnectSeed(id));
        }
        effects.extend([
            Effect::Reply(Reply::Register(RegisterReply::Registered { id })),
            Effect::SendBacklog(id),
        ]);
        effects
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::ErrorCode;

    use super::*;
    use crate::cmd::testing::{ALICE, TestRelay, peer};

    fn register(secret: &str) -> Register {
        Register {
            id: peer(ALICE),
            secret: secret.parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn the_first_secret_claims_and_only_it_registers_again() {
        let t = TestRelay::new();
        let id = peer(ALICE);
        let typed = Effect::Enter(Registration {
            id,
            protocol: Protocol::Typed,
        });
        let registered = Effect::Reply(Reply::Register(RegisterReply::Registered { id }));
        assert_eq!(
            register("secret-one-000000").apply(&t.relay).await,
            [
                typed.clone(),
                Effect::DisconnectSeed(id),
                registered.clone(),
                Effect::SendBacklog(id)
            ]
        );
        assert_eq!(
            register("secret-one-000000").apply(&t.relay).await,
            [typed, registered, Effect::SendBacklog(id)],
            "a second registration disconnects nobody"
        );
        let refused = register("secret-two-000000").apply(&t.relay).await;
        assert!(
            matches!(&refused[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::Forbidden),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_claimed_id_cannot_be_taken_through_the_seed_protocol() {
        let t = TestRelay::new();
        register("secret-one-000000").apply(&t.relay).await;
        let effects = crate::cmd::Init { id: peer(ALICE) }.apply(&t.relay).await;
        assert!(
            matches!(&effects[..], [Effect::Reply(Reply::Rejected(r))] if r.code == ErrorCode::Forbidden),
            "{effects:?}"
        );
    }
}
