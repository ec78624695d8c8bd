//! Property tests of every event's decoding, fed what a client could send: valid
//! payloads, almost valid ones, arbitrary JSON and mutated text, decoded the way the
//! session decodes them ([`payload`]). Each decodes or is refused with a code the client
//! can act on and a short message; none panics. And [`payload`] decides as socketioxide's
//! common parser (behind its `Event` and `TryData` extractors) would. `relay_shared::strategies::DEFAULT_CASES` cases each, or
//! `PROPTEST_CASES`.

use proptest::prelude::*;
use relay_shared::{
    ErrorCode, PeerId, Rejection, SendRequest,
    error::MAX_QUOTED_CHARS,
    message::{DEFAULT_MAX_BODY_BYTES, MAX_RECEIVED_IDS},
    peer_id::parse_peer_id,
    seed::SeedMessage,
    strategies::{
        self, body, json_value, message_id, mutated, peer_id, received_payload, register_payload,
        secret, seed_payload, send_payload,
    },
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::ParserError;
use socketioxide_core::{Str, parser::Parse};
use socketioxide_parser_common::CommonParser;

use super::{
    Block, Command, Confirm, HidePresence, Init, Message, Read, Register, Send, Typing,
    WatchPresence, payload, unknown_event,
};

/// The longest message a rejection may carry: its own words and a bounded quote of what
/// it refused, never the whole payload.
const MAX_MESSAGE_CHARS: usize = 4 * MAX_QUOTED_CHARS;

/// `text`, an event's JSON array as it came in a frame, its argument decoded as the
/// session decodes it.
fn decoded<T: DeserializeOwned>(text: String) -> Result<T, ParserError> {
    payload::argument(&socketioxide_core::Value::Str(Str::from(text), None))
}

/// The same, decoded by socketioxide's common parser, as its `TryData` extractor does.
fn decoded_by_socketioxide<T: DeserializeOwned>(text: String) -> Result<T, ParserError> {
    let mut value = socketioxide_core::Value::Str(Str::from(text), None);
    CommonParser.decode_value(&mut value, true)
}

/// Any event's frame text: each event's payloads, and unknown events.
fn any_frame() -> impl Strategy<Value = String> {
    prop_oneof![
        frame_text(
            "init",
            prop_oneof![
                peer_id().prop_map(|id| Value::from(id.to_string())),
                json_value()
            ]
        ),
        frame_text(
            "message",
            prop_oneof![seed_payload().prop_map(Value::from), json_value()]
        ),
        frame_text("register", register_payload()),
        frame_text("send", send_payload()),
        frame_text("received", received_payload()),
        frame_text(
            "typing",
            prop_oneof![
                peer_id().prop_map(|id| json!({ "to": id.to_string() })),
                json_value()
            ]
        ),
        frame_text(
            "read",
            prop_oneof![
                (peer_id(), prop::collection::vec(message_id(), 0..3)).prop_map(|(from, ids)| {
                    json!({ "from": from.to_string(), "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })
                }),
                json_value()
            ]
        ),
        frame_text(
            "block",
            prop_oneof![
                peer_id().prop_map(|id| json!({ "peer": id.to_string() })),
                json_value()
            ]
        ),
        frame_text(
            "unblock",
            prop_oneof![
                peer_id().prop_map(|id| json!({ "peer": id.to_string() })),
                json_value()
            ]
        ),
        frame_text(
            "watch_presence",
            prop_oneof![
                prop::collection::vec(peer_id(), 0..3).prop_map(|ids| {
                    json!({ "peers": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })
                }),
                json_value()
            ]
        ),
        frame_text(
            "hide_presence",
            prop_oneof![
                any::<bool>().prop_map(|hidden| json!({ "hidden": hidden })),
                json_value()
            ]
        ),
        frame_text("an unknown event", json_value()),
        Just(r#"["send"]"#.to_owned()),
        Just(r#"["init","3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",{"more":1}]"#.to_owned()),
        Just(r#"["s\u0065nd",{}]"#.to_owned()),
    ]
}

/// `event` with `data`, decoded.
fn decoded_json<T: DeserializeOwned>(event: &str, data: &Value) -> Result<T, ParserError> {
    decoded(json!([event, data]).to_string())
}

/// A payload as text: JSON built from a strategy, sometimes mutated into what is not
/// JSON any more.
fn frame_text(
    event: &'static str,
    data: impl Strategy<Value = Value> + 'static,
) -> impl Strategy<Value = String> {
    let text = data
        .prop_map(move |data| json!([event, data]).to_string())
        .boxed();
    prop_oneof![4 => text.clone(), 1 => mutated(text)]
}

/// A refusal the client can act on: one of `codes`, with a short message.
fn check_refusal(rejection: &Rejection, codes: &[ErrorCode]) -> Result<(), TestCaseError> {
    prop_assert!(codes.contains(&rejection.code), "{rejection:?}");
    prop_assert!(!rejection.message.is_empty());
    prop_assert!(
        rejection.message.chars().count() <= MAX_MESSAGE_CHARS,
        "{} characters: {rejection:?}",
        rejection.message.chars().count()
    );
    Ok(())
}

proptest! {
    #![proptest_config(strategies::config())]

    /// A valid `send` decodes to what was sent.
    #[test]
    fn a_valid_send_decodes_as_sent(
        to in peer_id(),
        body in body().prop_filter("a valid body", |b| !b.trim().is_empty() && b.len() <= DEFAULT_MAX_BODY_BYTES),
        id in prop::option::of(message_id()),
    ) {
        let request = SendRequest { to, body, id, encrypted: None };
        let sent = Send::decode(decoded_json("send", &json!(request)), DEFAULT_MAX_BODY_BYTES);
        prop_assert_eq!(sent, Ok(Send { to: request.to, body: request.body, id: request.id, encrypted: None }));
    }

    /// Any `send` decodes within the limits, or is refused.
    #[test]
    fn any_send_decodes_within_the_limits_or_is_refused(text in frame_text("send", send_payload())) {
        match Send::decode(decoded(text.clone()), DEFAULT_MAX_BODY_BYTES) {
            Ok(send) => {
                prop_assert!(!send.body.trim().is_empty());
                prop_assert!(send.body.len() <= DEFAULT_MAX_BODY_BYTES);
                // What decoded is what the payload said.
                // The parser reads the first JSON value of the frame and no further.
                let sent: Value = serde_json::Deserializer::from_str(&text)
                    .into_iter::<Value>()
                    .next()
                    .and_then(Result::ok)
                    .ok_or_else(|| TestCaseError::fail(format!("decoded non-JSON {text:?}")))?[1]
                    .clone();
                let to = sent["to"].as_str().and_then(|to| to.parse::<PeerId>().ok());
                prop_assert_eq!(to, Some(send.to));
                prop_assert_eq!(sent["body"].as_str(), Some(send.body.as_str()));
            }
            Err(rejection) => check_refusal(&rejection, &[
                ErrorCode::InvalidPayload,
                ErrorCode::InvalidPeerId,
                ErrorCode::InvalidMessageId,
                ErrorCode::BodyTooLarge,
                ErrorCode::EmptyBody,
            ])?,
        }
    }

    /// A valid `register` decodes to what was sent.
    #[test]
    fn a_valid_register_decodes_as_sent(id in peer_id(), secret in secret()) {
        let register = Register::decode(decoded_json("register", &json!({"id": id, "secret": secret})));
        let register = register.map_err(|r| TestCaseError::fail(format!("{r:?}")))?;
        prop_assert_eq!(register.id, id);
        prop_assert_eq!(register.secret.as_str(), secret.as_str());
    }

    /// Any `register` decodes to a valid id and secret, or is refused.
    #[test]
    fn any_register_decodes_or_is_refused(text in frame_text("register", register_payload())) {
        match Register::decode(decoded(text)) {
            Ok(register) => {
                let length = register.secret.as_str().len();
                prop_assert!((16..=256).contains(&length), "{length}");
            }
            Err(rejection) => check_refusal(&rejection, &[ErrorCode::InvalidPayload, ErrorCode::InvalidPeerId])?,
        }
    }

    /// Any `received` decodes to lists within the bound, or is refused.
    #[test]
    fn any_confirmation_decodes_within_the_bound_or_is_refused(text in frame_text("received", received_payload())) {
        match Confirm::decode(decoded(text)) {
            Ok(confirm) => {
                prop_assert!(confirm.received.messages.len() <= MAX_RECEIVED_IDS);
                prop_assert!(confirm.received.receipts.len() <= MAX_RECEIVED_IDS);
            }
            Err(rejection) => check_refusal(&rejection, &[ErrorCode::InvalidPayload])?,
        }
    }

    /// `init` takes exactly the strings that are peer ids.
    #[test]
    fn init_takes_exactly_peer_ids(data in prop_oneof![
        3 => peer_id().prop_map(|id| Value::from(id.to_string())),
        3 => mutated(peer_id().prop_map(|id| id.to_string())).prop_map(Value::from),
        1 => json_value(),
    ]) {
        let decoded = Init::decode(decoded_json("init", &data));
        match data.as_str().map(parse_peer_id) {
            Some(Ok(id)) => prop_assert_eq!(decoded, Ok(Init { id })),
            _ => check_refusal(
                &decoded.err().ok_or_else(|| TestCaseError::fail("decoded what is no peer id"))?,
                &[ErrorCode::InvalidPayload, ErrorCode::InvalidPeerId],
            )?,
        }
    }

    /// The seed `message` decodes as the seed payload's parser reads it, keeping the
    /// text whole.
    #[test]
    fn a_seed_message_decodes_as_its_payload_reads(data in prop_oneof![
        4 => seed_payload().prop_map(Value::from),
        1 => json_value(),
    ]) {
        let decoded = Message::decode(decoded_json("message", &data), DEFAULT_MAX_BODY_BYTES);
        match data.as_str() {
            Some(payload) => match SeedMessage::parse(payload, DEFAULT_MAX_BODY_BYTES) {
                Ok(seed) => prop_assert_eq!(
                    decoded,
                    Ok(Message { to: seed.to, text: seed.text.to_owned() })
                ),
                Err(expected) => prop_assert_eq!(decoded, Err(expected)),
            },
            None => check_refusal(
                &decoded.err().ok_or_else(|| TestCaseError::fail("decoded a non-string"))?,
                &[ErrorCode::InvalidPayload],
            )?,
        }
    }

    /// The session's own reading of an event decides what socketioxide's extractors
    /// would: the same command, or a refusal with the same code.
    #[test]
    fn events_decode_as_socketioxide_would_decode_them(text in any_frame()) {
        let value = socketioxide_core::Value::Str(Str::from(text.clone()), None);
        let ours = Command::decode(&value, DEFAULT_MAX_BODY_BYTES).command;
        // socketioxide reads the name borrowed: with an escape in it, it calls no handler.
        let Ok(name) = CommonParser.read_event(&value) else {
            return Ok(());
        };
        let max = DEFAULT_MAX_BODY_BYTES;
        let theirs = match name {
            "init" => Init::decode(decoded_by_socketioxide(text)).map(Command::Init),
            "message" => Message::decode(decoded_by_socketioxide(text), max).map(Command::Message),
            "register" => Register::decode(decoded_by_socketioxide(text)).map(Command::Register),
            "send" => Send::decode(decoded_by_socketioxide(text), max).map(Command::Send),
            "received" => Confirm::decode(decoded_by_socketioxide(text)).map(Command::Confirm),
            "typing" => Typing::decode(decoded_by_socketioxide(text)).map(Command::Typing),
            "read" => Read::decode(decoded_by_socketioxide(text)).map(Command::Read),
            "block" => Block::decode(decoded_by_socketioxide(text), true).map(Command::Block),
            "unblock" => Block::decode(decoded_by_socketioxide(text), false).map(Command::Block),
            "watch_presence" => {
                WatchPresence::decode(decoded_by_socketioxide(text)).map(Command::WatchPresence)
            }
            "hide_presence" => {
                HidePresence::decode(decoded_by_socketioxide(text)).map(Command::HidePresence)
            }
            other => Err(unknown_event(other)),
        };
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(format!("{ours:?}"), format!("{theirs:?}")),
            (Err(ours), Err(theirs)) => prop_assert_eq!(ours.code, theirs.code, "{:?} / {:?}", ours, theirs),
            (ours, theirs) => prop_assert!(false, "ours {ours:?}, socketioxide's {theirs:?}"),
        }
    }
}
