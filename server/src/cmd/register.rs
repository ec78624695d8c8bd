//! `register({id, secret})`, typed protocol: speak for an id, proving it with its secret
//! (the first registration claims it), and receive what waits for it and what comes.

use relay_shared::{PeerId, RegisterReply, Rejection, Secret, message::RawRegister};
use socketioxide::ParserError;

use crate::{
    effects::{Effect, Effects, Reply},
    identity::SecretHash,
    protocol::{Registration, Short, Speaker},
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

    /// Registers the socket if the secret is one of the id's devices, claiming the id
    /// (its first device) if nobody has; then what waits for the device goes out. A
    /// first claim disconnects the seed sockets that were using the id: they are not its
    /// owner and must not read what comes for it.
    pub async fn apply(self, relay: &Relay) -> Effects {
        let Self { id, secret } = self;
        let (device, claimed) = match relay.store().claim(id, SecretHash::of(&secret)).await {
            Ok(Claim::Refused) => return vec![Effect::Reply(Reply::Rejected(forbidden(id)))],
            Ok(Claim::Claimed(device)) => (device, true),
            Ok(Claim::Verified(device)) => (device, false),
            Err(error) => return vec![Effect::Reply(Reply::Rejected(unavailable(&error)))],
        };
        if claimed {
            tracing::info!(peer = %Short(id), "id claimed");
        }
        registered(Speaker { id, device }, claimed)
    }
}

/// The effects of a socket registering as `speaker` (after `register` or `link`): in
/// its rooms, answered, and sent what waits for it; with `claimed`, the id's seed
/// sockets go.
pub fn registered(speaker: Speaker, claimed: bool) -> Effects {
    let Speaker { id, device } = speaker;
    let mut effects = vec![Effect::Enter(Registration::typed(speaker))];
    if claimed {
        effects.push(Effect::DisconnectSeed(id));
    }
    effects.extend([
        Effect::Reply(Reply::Register(RegisterReply::Registered {
            id,
            device: Some(device),
        })),
        Effect::SendBacklog(speaker),
    ]);
    effects
}

#[cfg(test)]
mod tests {
    use crate::protocol::Speaker;
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
        let me = Speaker::first(id);
        let typed = Effect::Enter(Registration::typed(me));
        let registered = Effect::Reply(Reply::Register(RegisterReply::Registered {
            id,
            device: Some(me.device),
        }));
        assert_eq!(
            register("secret-one-000000").apply(&t.relay).await,
            [
                typed.clone(),
                Effect::DisconnectSeed(id),
                registered.clone(),
                Effect::SendBacklog(me)
            ]
        );
        assert_eq!(
            register("secret-one-000000").apply(&t.relay).await,
            [typed, registered, Effect::SendBacklog(me)],
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
