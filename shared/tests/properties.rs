//! Property tests of what a client decodes: the seed payload, the Socket.IO client core
//! fed random and mutated frames, and the messenger under a server that misbehaves in
//! every way, then behaves. `relay_shared::strategies::DEFAULT_CASES` cases each, or
//! `PROPTEST_CASES`.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use proptest::{prelude::*, sample::Index};
use relay_shared::{
    ErrorCode, MessageId, PeerId, Secret,
    error::MAX_QUOTED_CHARS,
    message::DEFAULT_MAX_BODY_BYTES,
    messenger::{Draft, Messenger, REPLY_TIMEOUT, Status, Update, WINDOW},
    seed::SeedMessage,
    socketio::{Client, ClientConfig, ConnectionState, DisconnectReason, Event, Output},
    strategies::{self, body, json_value, message_id, peer_id, seed_payload, server_frame},
};
use serde_json::{Value, json};

const OPEN: &str =
    r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#;
const JOINED: &str = r#"40{"sid":"x"}"#;
const ME: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
const SECRET: &str = "0123456789abcdef-secret";

/// The longest message a rejection or a protocol error may carry: its own words and a
/// bounded quote of what it refused, never the whole input.
const MAX_MESSAGE_CHARS: usize = 4 * MAX_QUOTED_CHARS;

/// The codes the seed payload's parser may answer with.
const SEED_CODES: [ErrorCode; 4] = [
    ErrorCode::InvalidPayload,
    ErrorCode::InvalidPeerId,
    ErrorCode::BodyTooLarge,
    ErrorCode::EmptyBody,
];

proptest! {
    #![proptest_config(strategies::config())]

    /// A payload a seed client builds is read back as it was written.
    #[test]
    fn a_seed_payload_reads_back_as_written(to in peer_id(), text in body()) {
        let payload = SeedMessage::encode(to, &text);
        match SeedMessage::parse(&payload, DEFAULT_MAX_BODY_BYTES) {
            Ok(message) => {
                prop_assert_eq!(message.to, to);
                prop_assert_eq!(message.text, text.as_str());
            }
            Err(rejection) => {
                // Only the text can be wrong: too large or blank.
                let blank = text.trim().is_empty();
                let large = text.len() > DEFAULT_MAX_BODY_BYTES;
                prop_assert!(blank || large, "{rejection:?}");
            }
        }
    }

    /// Any payload is parsed into a message whose text ends the payload, or refused with
    /// a known code and a short message.
    #[test]
    fn any_seed_payload_is_taken_or_refused_cleanly(payload in seed_payload()) {
        match SeedMessage::parse(&payload, DEFAULT_MAX_BODY_BYTES) {
            Ok(message) => {
                prop_assert!(payload.ends_with(message.text));
                prop_assert!(message.text.len() <= DEFAULT_MAX_BODY_BYTES);
                prop_assert!(!message.text.trim().is_empty());
                prop_assert_eq!(SeedMessage::encode(message.to, message.text).len() <= payload.len(), true);
            }
            Err(rejection) => {
                prop_assert!(SEED_CODES.contains(&rejection.code), "{rejection:?}");
                prop_assert!(rejection.message.chars().count() <= MAX_MESSAGE_CHARS, "{rejection:?}");
            }
        }
    }

    /// After joining, any sequence of frames leaves the client core in a state it can
    /// go on from: no panic, a deadline whenever it waits for something, a bounded
    /// number of outputs per frame, short error messages, and every frame it writes
    /// one a server can read.
    #[test]
    fn the_client_core_survives_any_frames(frames in prop::collection::vec(server_frame(), 1..24)) {
        let mut client = joined_client();
        let mut now = Duration::ZERO;
        for frame in &frames {
            now += Duration::from_millis(5);
            client.handle_text(frame, now);
            let outputs: Vec<Output> = std::iter::from_fn(|| client.poll()).collect();
            prop_assert!(outputs.len() <= 4, "{frame:?} gave {outputs:?}");
            for output in &outputs {
                match output {
                    Output::Send(written) => prop_assert!(
                        written == "3" || written.starts_with("40") || written.starts_with("41")
                            || written.starts_with("43"),
                        "wrote {written:?}"
                    ),
                    Output::Event(Event::Disconnected(DisconnectReason::ProtocolError(reason))) => {
                        prop_assert!(reason.chars().count() <= MAX_MESSAGE_CHARS, "{reason:?}");
                    }
                    Output::Event(Event::ConnectError(message)) => {
                        prop_assert!(message.len() <= frame.len());
                    }
                    _ => {}
                }
            }
            check_deadline(&client)?;
        }
    }

    /// An event frame with any name and data reaches the application once, as sent, with
    /// its ack id.
    #[test]
    fn an_event_frame_arrives_as_sent(
        name in strategies::event_name(),
        data in json_value(),
        ack in prop::option::of(0u32..1_000_000),
    ) {
        let mut client = joined_client();
        let array = json!([name, data]);
        let frame = match ack {
            Some(ack) => format!("42{ack}{array}"),
            None => format!("42{array}"),
        };
        client.handle_text(&frame, Duration::ZERO);
        let outputs: Vec<Output> = std::iter::from_fn(|| client.poll()).collect();
        let [Output::Event(Event::Message(incoming))] = outputs.as_slice() else {
            return Err(TestCaseError::fail(format!("{frame:?} gave {outputs:?}")));
        };
        prop_assert_eq!(&incoming.event, &name);
        prop_assert_eq!(incoming.ack, ack.map(i64::from));
        // As read from the same text (JSON's floats do not all read back to the bit).
        let sent: Value = serde_json::from_str(&data.to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match incoming.payload.decode::<Value>() {
            Ok(got) => prop_assert_eq!(got, sent),
            // socketioxide's common parser reads the first key of an object as borrowed
            // text, which a key with a JSON escape cannot be: such a payload is refused,
            // cleanly. No key of the protocol needs one.
            Err(error) => prop_assert!(has_escaped_key(&data), "{error}"),
        }
    }

    /// Replies to emits are matched once each, to the emit they answer; replies to
    /// nothing, or a second reply, are ignored.
    #[test]
    fn acks_are_matched_at_most_once(replies in prop::collection::vec(0u64..12, 1..24)) {
        let mut client = joined_client();
        let mut pending = HashSet::new();
        for n in 0..6 {
            let id = client
                .emit_with_ack("send", &n, Duration::from_secs(60), Duration::ZERO)
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            pending.insert(id.0);
        }
        let _ = std::iter::from_fn(|| client.poll()).count();
        for reply in replies {
            client.handle_text(&format!("43{reply}[{reply}]"), Duration::ZERO);
            let acks: Vec<u64> = std::iter::from_fn(|| client.poll())
                .filter_map(|o| match o {
                    Output::Event(Event::Ack(id, _)) => Some(id.0),
                    _ => None,
                })
                .collect();
            let expected: Vec<u64> = pending.remove(&reply).then_some(reply).into_iter().collect();
            prop_assert_eq!(acks, expected);
        }
    }
}

proptest! {
    // Each case plays a few hundred steps: a quarter of the cases.
    #![proptest_config(strategies::config_divided(4))]

    /// Whatever the server does, the messenger never loses a draft without saying what
    /// became of it, never reports a message twice, and once the server behaves, every
    /// draft ends sent or failed.
    #[test]
    fn the_messenger_keeps_every_draft_through_any_server(
        kept in prop::collection::vec((peer_id(), body(), message_id()), 0..4),
        steps in prop::collection::vec(step(), 1..64),
    ) {
        let kept: Vec<Draft> = kept
            .into_iter()
            .map(|(to, body, id)| Draft { id, to, body })
            .collect();
        let mut peer = Peer::new(kept.clone());
        let mut drafts: HashSet<MessageId> = kept.iter().map(|d| d.id).collect();
        peer.client.connect(peer.now);
        peer.pump()?;
        for step in steps {
            if let Step::Write(_, _, id) = &step {
                drafts.insert(*id);
            }
            peer.play(step)?;
        }
        peer.serve_well()?;
        prop_assert!(peer.messenger.unsent().is_empty(), "still unsent: {:?}", peer.messenger.unsent());
        for id in drafts {
            prop_assert!(peer.settled.contains_key(&id), "{id} never settled");
        }
    }
}

/// A client that has opened and joined the namespace, its outputs drained.
fn joined_client() -> Client {
    let mut client = Client::new(ClientConfig::default(), 7);
    client.connect(Duration::ZERO);
    client.handle_text(OPEN, Duration::ZERO);
    client.handle_text(JOINED, Duration::ZERO);
    let _ = std::iter::from_fn(|| client.poll()).count();
    client
}

/// Whether some object in `value` has a key written with a JSON escape.
fn has_escaped_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, value)| {
            key.chars().any(|c| c == '"' || c == '\\' || c < ' ') || has_escaped_key(value)
        }),
        Value::Array(items) => items.iter().any(has_escaped_key),
        _ => false,
    }
}

/// A client waiting for anything has a deadline to wake up at.
fn check_deadline(client: &Client) -> Result<(), TestCaseError> {
    match client.state() {
        ConnectionState::Idle | ConnectionState::Closed => Ok(()),
        state => {
            prop_assert!(
                client.next_deadline().is_some(),
                "{state:?} without a deadline"
            );
            Ok(())
        }
    }
}

/// One thing that happens to a peer.
#[derive(Debug, Clone)]
enum Step {
    /// Any frame from the server.
    Frame(String),
    /// The person writes a message.
    Write(PeerId, String, MessageId),
    /// The server answers one of the emits awaiting a reply.
    Reply(Index, Reply),
    /// A message arrives, perhaps again.
    Deliver(Index, u64),
    /// A receipt arrives.
    Receipt(Index, u64),
    /// The app confirms what it kept.
    Confirm,
    /// Time passes.
    Wait(Duration),
    /// The transport closes.
    Close,
    /// The browser says the network went away.
    NetworkLost,
    /// The browser says the network is back.
    NetworkBack,
    /// The server opens the transport and lets the client join, if it is trying.
    Accept,
}

/// How the server answers an emit.
#[derive(Debug, Clone)]
enum Reply {
    Sent(u64),
    Rejected(ErrorCode, Option<u64>),
    Registered,
    Garbage(Value),
}

fn step() -> impl Strategy<Value = Step> {
    let code = prop::sample::select(vec![
        ErrorCode::RateLimited,
        ErrorCode::QueueFull,
        ErrorCode::Unavailable,
        ErrorCode::NotRegistered,
        ErrorCode::InvalidPeerId,
        ErrorCode::BodyTooLarge,
        ErrorCode::Unknown,
    ]);
    let reply = prop_oneof![
        4 => any::<u64>().prop_map(Reply::Sent),
        2 => (code, prop::option::of(prop_oneof![0u64..5_000, Just(u64::MAX)]))
            .prop_map(|(c, r)| Reply::Rejected(c, r)),
        1 => Just(Reply::Registered),
        1 => json_value().prop_map(Reply::Garbage),
    ];
    prop_oneof![
        2 => server_frame().prop_map(Step::Frame),
        3 => (peer_id(), body(), message_id()).prop_map(|(p, b, i)| Step::Write(p, b, i)),
        4 => (any::<Index>(), reply).prop_map(|(i, r)| Step::Reply(i, r)),
        2 => (any::<Index>(), 0u64..4).prop_map(|(i, s)| Step::Deliver(i, s)),
        1 => (any::<Index>(), any::<u64>()).prop_map(|(i, s)| Step::Receipt(i, s)),
        1 => Just(Step::Confirm),
        2 => (0u64..70_000).prop_map(|ms| Step::Wait(Duration::from_millis(ms))),
        1 => Just(Step::Close),
        1 => Just(Step::NetworkLost),
        1 => Just(Step::NetworkBack),
        2 => Just(Step::Accept),
    ]
}

/// A frame the client wrote that asks for a reply.
#[derive(Debug, Clone)]
struct Emitted {
    ack: u64,
    event: String,
    payload: Value,
}

/// A messenger over a client core, checked after every step.
struct Peer {
    client: Client,
    messenger: Messenger,
    now: Duration,
    /// Emits awaiting the server's reply, oldest first.
    awaiting: Vec<Emitted>,
    /// Messages that arrived, as the server might send them again.
    arrived: Vec<Value>,
    /// Messages reported as received.
    received: HashSet<(PeerId, MessageId)>,
    /// How each draft that left the outbox ended.
    settled: HashMap<MessageId, Status>,
}

impl Peer {
    fn new(unsent: Vec<Draft>) -> Self {
        let me: PeerId = ME.parse().expect("a valid peer id");
        let secret: Secret = SECRET.parse().expect("a valid secret");
        Self {
            client: Client::new(ClientConfig::default(), 3),
            messenger: Messenger::new(me, secret, unsent, []),
            now: Duration::ZERO,
            awaiting: Vec::new(),
            arrived: Vec::new(),
            received: HashSet::new(),
            settled: HashMap::new(),
        }
    }

    fn play(&mut self, step: Step) -> Result<(), TestCaseError> {
        match step {
            Step::Frame(frame) => self.text(&frame)?,
            Step::Write(to, body, id) => {
                let now = self.now;
                self.messenger.send(&mut self.client, to, body, id, now);
                self.pump()?;
            }
            Step::Reply(at, reply) => {
                if self.awaiting.is_empty() {
                    return Ok(());
                }
                let emitted = self.awaiting.remove(at.index(self.awaiting.len()));
                let answer = match reply {
                    Reply::Sent(seq) => json!({
                        "status": "sent", "id": emitted.payload["id"], "seq": seq, "sent_at": 1,
                    }),
                    Reply::Rejected(code, retry_after_ms) => json!({
                        "status": "rejected", "code": code, "message": "no",
                        "retry_after_ms": retry_after_ms,
                    }),
                    Reply::Registered => json!({"status": "registered", "id": ME}),
                    Reply::Garbage(value) => value,
                };
                self.text(&format!("43{}{}", emitted.ack, json!([answer])))?;
            }
            Step::Deliver(at, seq) => {
                let again = (!self.arrived.is_empty() && seq % 2 == 0)
                    .then(|| self.arrived[at.index(self.arrived.len())].clone());
                let envelope = again.unwrap_or_else(|| {
                    json!({
                        "id": MessageId::from_uuid(uuid_of(self.arrived.len() as u128 + 1)),
                        "from": "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e",
                        "to": ME, "body": "hi", "sent_at": 1, "seq": seq,
                    })
                });
                self.arrived.push(envelope.clone());
                self.text(&format!("42{}", json!(["deliver", envelope])))?;
            }
            Step::Receipt(at, seq) => {
                let id = self
                    .settled
                    .keys()
                    .nth(at.index(self.settled.len().max(1)))
                    .copied()
                    .unwrap_or_else(|| MessageId::from_uuid(uuid_of(seq as u128)));
                let receipt = json!({"id": id, "to": ME, "delivered_at": 2, "seq": seq});
                self.text(&format!("42{}", json!(["receipt", receipt])))?;
            }
            Step::Confirm => {
                self.messenger.confirm(&mut self.client);
                self.pump()?;
            }
            Step::Wait(by) => self.wait(by)?,
            Step::Close => {
                self.client.handle_close(self.now);
                self.pump()?;
            }
            Step::NetworkLost => {
                self.client.handle_network_lost(self.now);
                self.pump()?;
            }
            Step::NetworkBack => {
                self.client.handle_network_back(self.now);
                self.pump()?;
            }
            Step::Accept => self.accept()?,
        }
        Ok(())
    }

    /// Time passes: the client acts on its deadlines, the messenger retries.
    fn wait(&mut self, by: Duration) -> Result<(), TestCaseError> {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.pump()?;
        let now = self.now;
        self.messenger.retry(&mut self.client, now);
        self.pump()
    }

    /// If the client is opening a transport, the server opens it and lets it join.
    fn accept(&mut self) -> Result<(), TestCaseError> {
        if self.client.state() == ConnectionState::Connecting {
            self.text(OPEN)?;
            self.text(JOINED)?;
        }
        Ok(())
    }

    fn text(&mut self, frame: &str) -> Result<(), TestCaseError> {
        self.client.handle_text(frame, self.now);
        self.pump()
    }

    /// Runs the core's outputs through the messenger, checking what changes.
    fn pump(&mut self) -> Result<(), TestCaseError> {
        let mut outputs = 0;
        while let Some(output) = self.client.poll() {
            outputs += 1;
            prop_assert!(outputs <= 4 * WINDOW + 16, "outputs without end");
            match output {
                Output::Send(frame) => {
                    if let Some(emitted) = parse_emit(&frame) {
                        self.awaiting.push(emitted);
                    }
                }
                Output::Open => self.awaiting.clear(),
                Output::Close => {}
                Output::Event(event) => {
                    let drafts: HashSet<(MessageId, PeerId)> = self
                        .messenger
                        .unsent()
                        .iter()
                        .map(|d| (d.id, d.to))
                        .collect();
                    let before: HashSet<MessageId> = drafts.iter().map(|&(id, _)| id).collect();
                    let updates = self.messenger.handle(&mut self.client, &event, self.now);
                    let after: HashSet<MessageId> =
                        self.messenger.unsent().iter().map(|d| d.id).collect();
                    let mut told = HashSet::new();
                    for update in updates {
                        match update {
                            Update::Received(envelope)
                            | Update::Outgoing(envelope)
                            | Update::Undecryptable { envelope, .. } => {
                                prop_assert!(
                                    self.received.insert((envelope.from, envelope.id)),
                                    "{envelope:?} reported twice"
                                )
                            }
                            Update::Status {
                                peer,
                                id,
                                status: status @ (Status::Sent { .. } | Status::Failed(_)),
                            } => {
                                prop_assert!(
                                    drafts.contains(&(id, peer)),
                                    "{id} settled for {peer}, not its draft's recipient"
                                );
                                if let Status::Failed(why) = &status {
                                    prop_assert!(
                                        why.message.chars().count() <= MAX_MESSAGE_CHARS,
                                        "{why:?}"
                                    );
                                }
                                told.insert(id);
                                self.settled.insert(id, status);
                            }
                            Update::Status { .. }
                            | Update::Encryption { .. }
                            | Update::KeyChanged(_)
                            | Update::KeysPublished
                            | Update::Registered
                            | Update::Refused(_)
                            | Update::Blocked(..)
                            | Update::BlockRefused(..)
                            | Update::Presence(_)
                            | Update::PresenceHidden(_)
                            | Update::Typing(_)
                            | Update::Device(_)
                            | Update::Linked
                            | Update::LinkRefused(_)
                            | Update::LinkCode(_)
                            | Update::Devices(_)
                            | Update::Unlink(..)
                            | Update::Unlinked
                            | Update::IdentityElsewhere => {}
                        }
                    }
                    for gone in before.difference(&after) {
                        prop_assert!(told.contains(gone), "{gone} left the outbox unannounced");
                    }
                    prop_assert!(after.is_subset(&before), "a draft appeared from nowhere");
                }
            }
        }
        check_deadline(&self.client)
    }

    /// The server behaves from now on: it lets the client (re)connect, answers every emit
    /// at once, pings, and time passes past any wait it asked for.
    fn serve_well(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..40 {
            if self.client.state() == ConnectionState::Closed {
                // Closed for good (refused, or gave up): the app starts a new client.
                self.client = Client::new(ClientConfig::default(), 4);
                self.awaiting.clear();
            }
            if self.client.state() == ConnectionState::Idle {
                self.client.connect(self.now);
                self.pump()?;
            }
            self.accept()?;
            while let Some(emitted) = (!self.awaiting.is_empty()).then(|| self.awaiting.remove(0)) {
                let answer = match emitted.event.as_str() {
                    "register" => json!({"status": "registered", "id": ME}),
                    _ => json!({
                        "status": "sent", "id": emitted.payload["id"], "seq": 1, "sent_at": 1,
                    }),
                };
                self.text(&format!("43{}{}", emitted.ack, json!([answer])))?;
            }
            if self.messenger.unsent().is_empty() {
                return Ok(());
            }
            // Pinged on time, the connection holds while the clock runs past any hold
            // and reply timeout.
            for _ in 0..4 {
                self.text("2")?;
                self.wait(REPLY_TIMEOUT + Duration::from_secs(10))?;
            }
        }
        Ok(())
    }
}

/// `42<ack>["event",payload]`, as the client writes an emit that asks for a reply.
fn parse_emit(frame: &str) -> Option<Emitted> {
    let rest = frame.strip_prefix("42")?;
    let split = rest.find('[')?;
    let ack = rest[..split].parse().ok()?;
    let array: Value = serde_json::from_str(&rest[split..]).ok()?;
    Some(Emitted {
        ack,
        event: array[0].as_str()?.to_owned(),
        payload: array[1].clone(),
    })
}

fn uuid_of(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
