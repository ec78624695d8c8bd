//! `proptest` strategies for what crosses the wire (feature `proptest`, for tests): valid
//! ids and payloads, arbitrary JSON, payloads that are almost right, and frames mutated
//! the way a broken or hostile peer would send them. The property tests of the server's
//! decoders, the seed payload, the client core and the messenger all draw from here.

use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    sample::{Index, select},
    test_runner::Config,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    MessageId, PeerId, Secret,
    message::{DEFAULT_MAX_BODY_BYTES, MAX_RECEIVED_IDS},
};

/// Cases per property when `PROPTEST_CASES` does not say: a few thousand, what
/// `cargo xtask test` runs. `PROPTEST_CASES=200000 cargo test … properties` runs longer.
pub const DEFAULT_CASES: u32 = 4096;

/// The configuration of every property test: [`DEFAULT_CASES`], or `PROPTEST_CASES`.
pub fn config() -> Config {
    let mut config = Config {
        // A failure prints its smallest input; CI runs on fresh clones, where a file of
        // past failures would not be.
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    config
}

/// The cases of [`config`], divided by `divisor` (at least 32): for properties that each
/// cost a round trip through a real server.
pub fn config_divided(divisor: u32) -> Config {
    let mut config = config();
    config.cases = (config.cases / divisor).max(32);
    config
}

/// A peer id.
pub fn peer_id() -> impl Strategy<Value = PeerId> {
    any::<u128>().prop_filter_map("the nil uuid addresses nobody", |n| {
        PeerId::from_uuid(Uuid::from_u128(n)).ok()
    })
}

/// A message id.
pub fn message_id() -> impl Strategy<Value = MessageId> {
    any::<u128>().prop_map(|n| MessageId::from_uuid(Uuid::from_u128(n)))
}

/// A valid secret.
pub fn secret() -> impl Strategy<Value = Secret> {
    let len = Secret::MIN_LEN..=Secret::MAX_LEN;
    vec(0x21u8..0x7f, len).prop_filter_map("a valid secret", |bytes| {
        String::from_utf8(bytes).ok()?.parse().ok()
    })
}

/// A message body: mostly short text of any characters, some with `|` (the seed
/// protocol's separator), some blank, some near and over the default size limit.
pub fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => ".{1,40}",
        2 => "[a-z|]{0,12}",
        1 => "[ \t\n]{0,4}",
        1 => (DEFAULT_MAX_BODY_BYTES - 2..DEFAULT_MAX_BODY_BYTES + 2).prop_map(|n| "é".repeat(n / 2)),
    ]
}

/// Any JSON value, nested a few levels, with the field names of the protocol among the
/// keys and ids among the strings.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        2 => any::<u64>().prop_map(Value::from),
        2 => any::<f64>().prop_filter_map("JSON numbers are finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        4 => ".{0,24}".prop_map(Value::from),
        2 => peer_id().prop_map(|id| Value::from(id.to_string())),
        1 => (0usize..2 * DEFAULT_MAX_BODY_BYTES).prop_map(|n| Value::from("x".repeat(n))),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object key: a field name of the protocol, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&[
            "to", "body", "id", "secret", "messages", "receipts", "from", "seq", "sent_at",
            "status", "code", "message", "retry_after_ms", "delivered_at", "sockets",
        ][..])
        .prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// A field's value that is almost right: the right thing, the right thing in the wrong
/// shape, or something else entirely.
fn almost(right: Value) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => Just(Some(right.clone())),
        1 => Just(None),
        1 => Just(Some(Value::from(right.to_string()))),
        1 => Just(Some(json!([right]))),
        1 => json_value().prop_map(Some),
    ]
}

/// An object with the given fields, each [`almost`] right.
fn almost_object(fields: Vec<(&'static str, Value)>) -> impl Strategy<Value = Value> {
    let fields: Vec<_> = fields
        .into_iter()
        .map(|(name, value)| almost(value).prop_map(move |v| (name, v)))
        .collect();
    fields.prop_map(|fields| {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(name, v)| Some((name.to_owned(), v?)))
                .collect::<Map<_, _>>(),
        )
    })
}

/// A peer id as text, sometimes in upper case, sometimes not quite one.
fn peer_id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => peer_id().prop_map(|id| id.to_string()),
        1 => peer_id().prop_map(|id| id.to_string().to_uppercase()),
        1 => Just(Uuid::nil().to_string()),
        1 => peer_id().prop_map(|id| id.as_uuid().simple().to_string()),
        1 => mutated(peer_id().prop_map(|id| id.to_string())),
    ]
}

/// A `send` payload, almost right.
pub fn send_payload() -> impl Strategy<Value = Value> {
    (peer_id_text(), body(), message_id()).prop_flat_map(|(to, body, id)| {
        almost_object(vec![
            ("to", Value::from(to)),
            ("body", Value::from(body)),
            ("id", Value::from(id.to_string())),
        ])
    })
}

/// A `register` payload, almost right.
pub fn register_payload() -> impl Strategy<Value = Value> {
    let secret_text = prop_oneof![
        4 => secret().prop_map(|s| s.as_str().to_owned()),
        1 => ".{0,20}",
        1 => "[a-z]{250,260}",
    ];
    (peer_id_text(), secret_text).prop_flat_map(|(id, secret)| {
        almost_object(vec![
            ("id", Value::from(id)),
            ("secret", Value::from(secret)),
        ])
    })
}

/// A `received` payload, almost right: lists of seqs, some over the length allowed.
pub fn received_payload() -> impl Strategy<Value = Value> {
    let seqs = prop_oneof![
        4 => vec(any::<u64>(), 0..8),
        1 => vec(any::<u64>(), MAX_RECEIVED_IDS - 1..MAX_RECEIVED_IDS + 2),
    ];
    (seqs.clone(), seqs).prop_flat_map(|(messages, receipts)| {
        almost_object(vec![
            ("messages", Value::from(messages)),
            ("receipts", Value::from(receipts)),
        ])
    })
}

/// A seed `message` payload, `"<uuid>|<text>"`, almost right.
pub fn seed_payload() -> impl Strategy<Value = String> {
    let valid = (peer_id_text(), body())
        .prop_map(|(to, text)| format!("{to}|{text}"))
        .boxed();
    prop_oneof![
        4 => valid.clone(),
        2 => mutated(valid),
        1 => ".{0,60}",
    ]
}

/// `base`, with one to four edits: a character inserted (often one that matters in
/// JSON or in a frame), removed or replaced, the tail cut off, or repeated.
pub fn mutated(base: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let glyph = prop_oneof![
        3 => select(&['[', ']', '{', '}', '"', ',', ':', '|', '-', '0', '9', '/', '\\', ' '][..]),
        1 => any::<char>(),
    ];
    (base, vec((any::<Index>(), 0u8..5, glyph), 1..5)).prop_map(|(text, edits)| {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, kind, glyph) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(i, glyph),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                2 if i < chars.len() => chars[i] = glyph,
                3 => chars.truncate(i),
                4 if chars.len() < 4096 => {
                    let tail = chars[i..].to_vec();
                    chars.extend(tail);
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

/// The name of an event: the protocol's, or anything.
pub fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&[
            "deliver", "receipt", "message", "register", "send", "received", "init",
        ][..])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// An Engine.IO / Socket.IO text frame as a server could send it: valid ones of every
/// kind, the same mutated, and anything at all.
pub fn server_frame() -> impl Strategy<Value = String> {
    let valid = prop_oneof![
        Just("2".to_owned()),
        Just("3".to_owned()),
        Just("6".to_owned()),
        Just("1".to_owned()),
        Just("41".to_owned()),
        Just(r#"40{"sid":"x"}"#.to_owned()),
        Just(
            r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#
                .to_owned()
        ),
        Just(r#"44{"message":"refused"}"#.to_owned()),
        (event_name(), json_value()).prop_map(|(name, data)| format!("42{}", json!([name, data]))),
        (any::<u32>(), event_name(), json_value())
            .prop_map(|(ack, name, data)| format!("42{ack}{}", json!([name, data]))),
        (0u64..8, json_value()).prop_map(|(id, data)| format!("43{id}{}", json!([data]))),
        (0u64..8).prop_map(|id| format!("451-{id}[{{\"_placeholder\":true,\"num\":0}}]")),
    ];
    prop_oneof![
        6 => valid.clone(),
        3 => mutated(valid),
        1 => any::<String>(),
    ]
}

/// A text frame as a client could send it: the events of both protocols with almost
/// right payloads, any event, Engine.IO and Socket.IO control packets, the same mutated,
/// and anything at all.
pub fn client_frame() -> impl Strategy<Value = String> {
    let ack =
        prop::option::of(0u32..1000).prop_map(|a| a.map(|a| a.to_string()).unwrap_or_default());
    let event = |name: &'static str, data: BoxedStrategy<Value>| {
        (ack.clone(), data).prop_map(move |(ack, data)| format!("42{ack}{}", json!([name, data])))
    };
    let valid = prop_oneof![
        3 => event("send", send_payload().boxed()),
        2 => event("register", register_payload().boxed()),
        2 => event("received", received_payload().boxed()),
        1 => event("init", peer_id_text().prop_map(Value::from).boxed()),
        2 => event("message", seed_payload().prop_map(Value::from).boxed()),
        1 => (ack.clone(), event_name(), json_value())
            .prop_map(|(ack, name, data)| format!("42{ack}{}", json!([name, data]))),
        1 => select(&["2", "3", "5", "6", "40", "41", "40/other,", "1"][..]).prop_map(str::to_owned),
        1 => (0u64..8, json_value()).prop_map(|(id, data)| format!("43{id}{}", json!([data]))),
        1 => Just(r#"451-["send",{"_placeholder":true,"num":0}]"#.to_owned()),
    ];
    prop_oneof![
        6 => valid.clone(),
        3 => mutated(valid),
        1 => any::<String>(),
    ]
}
