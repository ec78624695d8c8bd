//! `publish_keys`, `keys` and `claim_keys`, typed protocol: the key directory of
//! end-to-end encryption.
//!
//! A registered device publishes its public keys ([`PublishKeys`]): only for itself,
//! each signature checked against the socket's id and device before anything is kept
//! (the server cannot read with them, but it must not hand out keys no device vouched
//! for). Any registered socket lists a person's devices with their keys ([`Keys`]) and
//! claims one key per device to start a session with it ([`ClaimKeys`]). All three count
//! against the socket's message rate.

use relay_shared::{
    ErrorCode, PeerId, Rejection,
    keys::{
        ClaimKeysReply, KeysReply, KeysRequest, MAX_ONE_TIME_KEYS, PublishKeysReply,
        PublishKeysRequest, RawKeysRequest,
    },
};
use socketioxide::ParserError;

use crate::{
    cmd::devices::speaker,
    effects::{Effect, Effects, Reply},
    protocol::{Registration, Short},
    relay::{Relay, invalid_payload, unavailable},
    store::Published,
};

/// The shape of a `publish_keys` payload, for rejections.
const PUBLISH_SHAPE: &str = "{\"device_keys\": {\"curve25519\", \"ed25519\", \"signature\", \"identity\", \"identity_signature\"}, \"one_time_keys\"?: [{\"key_id\", \"key\", \"signature\"}], \"fallback_key\"?: {\"key_id\", \"key\", \"signature\"}}";

/// A decoded `publish_keys`.
#[derive(Debug, Clone)]
pub struct PublishKeys {
    /// What to keep.
    pub request: PublishKeysRequest,
}

/// A decoded `keys`.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    /// Whose.
    pub id: PeerId,
}

/// A decoded `claim_keys`.
#[derive(Debug, Clone)]
pub struct ClaimKeys {
    /// Whose, and for which devices.
    pub request: KeysRequest,
}

fn decode_request(
    event: &str,
    payload: Result<RawKeysRequest, ParserError>,
    shape: &str,
) -> Result<KeysRequest, Rejection> {
    payload
        .map_err(|e| invalid_payload(event, shape, &e))?
        .check()
}

impl PublishKeys {
    /// Decodes the payload (see [`PublishKeysRequest`]); the signatures are checked when
    /// applied, against the socket's registration.
    pub fn decode(payload: Result<PublishKeysRequest, ParserError>) -> Result<Self, Rejection> {
        let request = payload.map_err(|e| invalid_payload("publish_keys", PUBLISH_SHAPE, &e))?;
        Ok(Self { request })
    }

    /// Checks every signature for the socket's id and device, then keeps the keys;
    /// answers with the one-time keys now kept.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        let me = match speaker(registration) {
            Ok(me) => me,
            Err(refused) => return refused,
        };
        if let Err(rejection) = self.request.verify(me.id, me.device) {
            tracing::info!(peer = %Short(me.id), device = %me.device, %rejection, "keys refused");
            return vec![Effect::Reply(Reply::Rejected(rejection))];
        }
        let reply = match relay
            .store()
            .publish_keys(me.id, me.device, self.request)
            .await
        {
            Ok(Published::Kept(one_time_keys)) => PublishKeysReply::Ok { one_time_keys },
            Ok(Published::Full) => PublishKeysReply::Rejected(Rejection::new(
                ErrorCode::LimitReached,
                format!(
                    "this device would have more than {MAX_ONE_TIME_KEYS} one-time keys: publish fewer"
                ),
            )),
            Ok(Published::Unknown) => PublishKeysReply::Rejected(Rejection::new(
                ErrorCode::Forbidden,
                "this device is no longer linked to the id",
            )),
            Err(error) => PublishKeysReply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(Reply::PublishKeys(reply))]
    }
}

impl Keys {
    /// Decodes the payload `{"id": "<uuid>"}`.
    pub fn decode(payload: Result<RawKeysRequest, ParserError>) -> Result<Self, Rejection> {
        let request = decode_request("keys", payload, "{\"id\": \"<uuid>\"}")?;
        Ok(Self { id: request.id })
    }

    /// Answers with the person's devices and their keys.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        if let Err(refused) = speaker(registration) {
            return refused;
        }
        let id = self.id;
        let reply = match relay.store().keys(id).await {
            Ok(devices) => KeysReply::Ok { id, devices },
            Err(error) => KeysReply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(Reply::Keys(reply))]
    }
}

impl ClaimKeys {
    /// Decodes the payload `{"id": "<uuid>", "devices": [<number>, …]}`.
    pub fn decode(payload: Result<RawKeysRequest, ParserError>) -> Result<Self, Rejection> {
        let request = decode_request(
            "claim_keys",
            payload,
            "{\"id\": \"<uuid>\", \"devices\": [<device numbers>]}",
        )?;
        Ok(Self { request })
    }

    /// Claims one key for each named device of the person that published keys.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        if let Err(refused) = speaker(registration) {
            return refused;
        }
        let KeysRequest { id, devices } = self.request;
        let reply = match relay.store().claim_keys(id, devices).await {
            Ok(keys) => ClaimKeysReply::Ok { id, keys },
            Err(error) => ClaimKeysReply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(Reply::ClaimKeys(reply))]
    }
}
