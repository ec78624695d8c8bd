//! `link_code`, `link({id, code, secret, name?})`, `devices` and `unlink({device})`,
//! typed protocol: one person's id on several devices, each with its own secret.
//!
//! A registered device asks for a one-time code ([`LinkCode`]): 256 random bits, kept
//! only as a hash, working once for [`LINK_CODE_TTL`]. The new device sends it with its
//! own fresh secret ([`Link`]) and is then registered as the id's next device. Any
//! device lists them ([`ListDevices`]) and unlinks any but the last ([`Unlink`]); the
//! unlinked one's sockets, on every node, are told and disconnected (`crate::delivery`).
//! `link` counts as a registration against the address's rate, the others against the
//! socket's message rate.

use std::time::Duration;

use base64::Engine as _;
use relay_shared::{
    ErrorCode, Rejection, Secret,
    device::{DevicesReply, LinkCode as Code, LinkCodeReply, MAX_DEVICES, RawLink, UnlinkRequest},
    peer_id::PeerId,
};
use socketioxide::ParserError;

use crate::{
    cmd::register::registered,
    effects::{Effect, Effects, Reply},
    identity::SecretHash,
    protocol::{Protocol, Registration, Short, Speaker, typed_speaker},
    relay::{Relay, invalid_payload, not_registered, unavailable},
    store::{Linked, Unlinked},
};

/// How long a link code works.
pub const LINK_CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// A decoded `link_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCode;

/// A decoded `link`.
#[derive(Debug, Clone)]
pub struct Link {
    /// The id to become a device of.
    pub id: PeerId,
    /// The one-time code.
    pub code: Secret,
    /// The new device's own secret.
    pub secret: Secret,
    /// Its name, if given.
    pub name: Option<String>,
}

/// A decoded `devices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListDevices;

/// A decoded `unlink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unlink {
    /// Which device.
    pub request: UnlinkRequest,
}

/// The device the socket speaks as, or the refusal of an event that needs one.
pub(crate) fn speaker(registration: Option<Registration>) -> Result<Speaker, Effects> {
    typed_speaker(registration).ok_or_else(|| {
        vec![Effect::Reply(Reply::Rejected(not_registered(
            Protocol::Typed,
        )))]
    })
}

impl LinkCode {
    /// Makes a fresh code for the socket's id (the one before stops working) and answers
    /// with it.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        let me = match speaker(registration) {
            Ok(me) => me,
            Err(refused) => return refused,
        };
        let mut bytes = [0u8; 32];
        if let Err(error) = getrandom::fill(&mut bytes) {
            tracing::error!(%error, "no randomness for a link code");
            return vec![Effect::Reply(Reply::Rejected(Rejection::new(
                ErrorCode::Unavailable,
                "the server cannot make a link code right now; try again",
            )))];
        }
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let Ok(code) = text.parse::<Secret>() else {
            // 43 ASCII characters always are a valid secret.
            return vec![Effect::Reply(Reply::Rejected(Rejection::new(
                ErrorCode::Unavailable,
                "the server could not make a link code; try again",
            )))];
        };
        let ttl = u64::try_from(LINK_CODE_TTL.as_millis()).unwrap_or(u64::MAX);
        let expires_at = relay.now_millis().saturating_add(ttl);
        let stored = relay
            .store()
            .link_code(me.id, SecretHash::of(&code), expires_at)
            .await;
        let reply = match stored {
            Ok(()) => LinkCodeReply::Ok(Code {
                code: text,
                expires_at,
            }),
            Err(error) => LinkCodeReply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(Reply::LinkCode(reply))]
    }
}

impl Link {
    /// Decodes the payload `{"id": "<uuid>", "code": "<code>", "secret": "<secret>",
    /// "name"?: "<name>"}`.
    pub fn decode(payload: Result<RawLink, ParserError>) -> Result<Self, Rejection> {
        let request = payload
            .map_err(|e| {
                invalid_payload(
                    "link",
                    "{\"id\": \"<uuid>\", \"code\": \"<code>\", \"secret\": \"<secret>\", \"name\"?: \"<name>\"}",
                    &e,
                )
            })?
            .check()?;
        Ok(Self {
            id: request.id,
            code: request.code,
            secret: request.secret,
            name: request.name,
        })
    }

    /// Makes the secret a device of the id if the code is the id's current one, and
    /// registers the socket as it.
    pub async fn apply(self, relay: &Relay) -> Effects {
        let Self {
            id,
            code,
            secret,
            name,
        } = self;
        let linked = relay
            .store()
            .link(id, SecretHash::of(&code), SecretHash::of(&secret), name)
            .await;
        match linked {
            Ok(Linked::Linked(device)) => {
                tracing::info!(peer = %Short(id), %device, "device linked");
                registered(Speaker { id, device }, false)
            }
            Ok(Linked::Refused) => vec![Effect::Reply(Reply::Rejected(Rejection::new(
                ErrorCode::Forbidden,
                "this link code is wrong, used or expired: ask your other device for a new one",
            )))],
            Ok(Linked::Full) => vec![Effect::Reply(Reply::Rejected(Rejection::new(
                ErrorCode::LimitReached,
                format!(
                    "this id already has {MAX_DEVICES} devices: unlink one from another device first"
                ),
            )))],
            Err(error) => vec![Effect::Reply(Reply::Rejected(unavailable(&error)))],
        }
    }
}

impl ListDevices {
    /// Answers with the socket's id's devices.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        let me = match speaker(registration) {
            Ok(me) => me,
            Err(refused) => return refused,
        };
        let reply = match relay.store().devices(me.id).await {
            Ok(devices) => DevicesReply::Ok { devices },
            Err(error) => DevicesReply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(Reply::Devices(reply))]
    }
}

impl Unlink {
    /// Decodes the payload `{"device": <number>}`.
    pub fn decode(payload: Result<UnlinkRequest, ParserError>) -> Result<Self, Rejection> {
        let request = payload.map_err(|e| {
            invalid_payload(
                "unlink",
                &format!("{{\"device\": <a number below {MAX_DEVICES}>}}"),
                &e,
            )
        })?;
        Ok(Self { request })
    }

    /// Unlinks the device from the socket's id, unless it is the last.
    pub async fn apply(self, relay: &Relay, registration: Option<Registration>) -> Effects {
        let me = match speaker(registration) {
            Ok(me) => me,
            Err(refused) => return refused,
        };
        let device = self.request.device;
        let reply = match relay.store().unlink(me.id, device).await {
            Ok(Unlinked::Unlinked) => {
                tracing::info!(peer = %Short(me.id), %device, "device unlinked");
                Reply::Confirmed
            }
            Ok(Unlinked::Unknown) => Reply::Rejected(Rejection::new(
                ErrorCode::InvalidPayload,
                format!("this id has no device {device}"),
            )),
            Ok(Unlinked::Last) => Reply::Rejected(Rejection::new(
                ErrorCode::InvalidPayload,
                "the last device of an id cannot be unlinked",
            )),
            Err(error) => Reply::Rejected(unavailable(&error)),
        };
        vec![Effect::Reply(reply)]
    }
}

#[cfg(test)]
mod tests {
    use relay_shared::{RegisterReply, device::DeviceId};

    use super::*;
    use crate::cmd::{
        Register,
        testing::{ALICE, TestRelay, parser_error, peer},
    };

    fn secret(s: &str) -> Secret {
        format!("{s:0<16}").parse().unwrap()
    }

    async fn first_device(t: &TestRelay) -> Registration {
        let effects = Register {
            id: peer(ALICE),
            secret: secret("first"),
        }
        .apply(&t.relay)
        .await;
        let Some(Effect::Enter(registration)) = effects.first() else {
            panic!("{effects:?}");
        };
        *registration
    }

    async fn code(t: &TestRelay, registration: Registration) -> Code {
        let effects = LinkCode.apply(&t.relay, Some(registration)).await;
        let [Effect::Reply(Reply::LinkCode(LinkCodeReply::Ok(code)))] = &effects[..] else {
            panic!("{effects:?}");
        };
        code.clone()
    }

    fn link(code: &str, secret_text: &str) -> Link {
        Link {
            id: peer(ALICE),
            code: code.parse().unwrap(),
            secret: secret(secret_text),
            name: Some("Firefox on Linux".into()),
        }
    }

    fn rejected(effects: &Effects) -> ErrorCode {
        match &effects[..] {
            [Effect::Reply(Reply::Rejected(r))] => r.code,
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_code_links_one_device_once_and_expires() {
        let t = TestRelay::new();
        let first = first_device(&t).await;
        let code = code(&t, first).await;
        assert_eq!(code.code.len(), 43);
        assert_eq!(
            code.expires_at,
            t.relay.now_millis() + LINK_CODE_TTL.as_millis() as u64
        );

        let effects = link(&code.code, "second").apply(&t.relay).await;
        let second = Speaker {
            id: peer(ALICE),
            device: DeviceId::new(1).unwrap(),
        };
        assert_eq!(effects, registered(second, false));
        assert!(
            effects.contains(&Effect::Reply(Reply::Register(RegisterReply::Registered {
                id: peer(ALICE),
                device: Some(second.device)
            })))
        );
        // Used up: a third device needs a new code.
        assert_eq!(
            rejected(&link(&code.code, "third").apply(&t.relay).await),
            ErrorCode::Forbidden
        );
        // The same device linking again (its answer was lost) is that device.
        assert_eq!(
            link(&code.code, "second").apply(&t.relay).await,
            registered(second, false)
        );

        let late = self::code(&t, first).await;
        t.clock.advance(LINK_CODE_TTL.as_millis() as u64);
        assert_eq!(
            rejected(&link(&late.code, "third").apply(&t.relay).await),
            ErrorCode::Forbidden,
            "expired"
        );
        // A new code replaces the one before.
        let replaced = self::code(&t, first).await;
        let current = self::code(&t, first).await;
        assert_eq!(
            rejected(&link(&replaced.code, "third").apply(&t.relay).await),
            ErrorCode::Forbidden
        );
        assert!(matches!(
            link(&current.code, "third").apply(&t.relay).await[0],
            Effect::Enter(_)
        ));
    }

    #[tokio::test]
    async fn an_id_has_at_most_five_devices_and_keeps_its_last() {
        let t = TestRelay::new();
        let first = first_device(&t).await;
        for n in 1..MAX_DEVICES {
            let code = code(&t, first).await;
            link(&code.code, &format!("device-{n}"))
                .apply(&t.relay)
                .await;
        }
        let code = code(&t, first).await;
        assert_eq!(
            rejected(&link(&code.code, "sixth").apply(&t.relay).await),
            ErrorCode::LimitReached
        );
        let effects = ListDevices.apply(&t.relay, Some(first)).await;
        let [Effect::Reply(Reply::Devices(DevicesReply::Ok { devices }))] = &effects[..] else {
            panic!("{effects:?}");
        };
        assert_eq!(devices.len(), usize::from(MAX_DEVICES));
        assert_eq!(devices[0].name, None);
        assert_eq!(devices[1].name.as_deref(), Some("Firefox on Linux"));

        for n in 1..MAX_DEVICES {
            let unlink = Unlink {
                request: UnlinkRequest {
                    device: DeviceId::new(n).unwrap(),
                },
            };
            assert_eq!(
                unlink.apply(&t.relay, Some(first)).await,
                [Effect::Reply(Reply::Confirmed)]
            );
            assert_eq!(
                rejected(&unlink.apply(&t.relay, Some(first)).await),
                ErrorCode::InvalidPayload,
                "already gone"
            );
        }
        let last = Unlink {
            request: UnlinkRequest {
                device: DeviceId::FIRST,
            },
        };
        assert_eq!(
            rejected(&last.apply(&t.relay, Some(first)).await),
            ErrorCode::InvalidPayload
        );
        // An unlinked device's secret registers nothing any more.
        let effects = Register {
            id: peer(ALICE),
            secret: secret("device-1"),
        }
        .apply(&t.relay)
        .await;
        assert_eq!(rejected(&effects), ErrorCode::Forbidden);
    }

    #[tokio::test]
    async fn devices_need_a_typed_registration_and_bad_payloads_are_refused() {
        let t = TestRelay::new();
        let seed = Some(Registration::seed(peer(ALICE)));
        for registration in [None, seed] {
            for effects in [
                LinkCode.apply(&t.relay, registration).await,
                ListDevices.apply(&t.relay, registration).await,
                Unlink {
                    request: UnlinkRequest {
                        device: DeviceId::FIRST,
                    },
                }
                .apply(&t.relay, registration)
                .await,
            ] {
                assert_eq!(rejected(&effects), ErrorCode::NotRegistered);
            }
        }
        assert_eq!(
            Link::decode(Err(parser_error())).unwrap_err().code,
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            Unlink::decode(Err(parser_error())).unwrap_err().code,
            ErrorCode::InvalidPayload
        );
    }
}
