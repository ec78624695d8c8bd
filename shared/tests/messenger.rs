//! The typed protocol from a peer's side, driven frame by frame through the client core.

use std::time::Duration;

use relay_shared::{
    ErrorCode, MessageId, PeerId, Rejection, Secret,
    device::{DeviceId, DeviceInfo, LinkCode},
    messenger::{Draft, LINK_RETRY, MAX_HOLD, Messenger, REPLY_TIMEOUT, Status, Update},
    socketio::{Client, ClientConfig, ConnectionState, Output},
};
use serde_json::{Value, json};

const OPEN: &str =
    r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#;
const ME: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
const BOB: &str = "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e";
const SECRET: &str = "0123456789abcdef-secret";

fn id(n: u8) -> MessageId {
    format!("00000000-0000-4000-9000-0000000000{n:02x}")
        .parse()
        .expect("a valid id")
}

fn bob() -> PeerId {
    BOB.parse().expect("a valid peer id")
}

/// A messenger over a client core, with the frames it wrote and the updates it gave.
struct Harness {
    client: Client,
    messenger: Messenger,
    now: Duration,
    sent: Vec<String>,
    updates: Vec<Update>,
}

impl Harness {
    fn new(unsent: Vec<Draft>) -> Self {
        Self::around(messenger(unsent))
    }

    /// A harness around `messenger`, not connected yet.
    fn around(messenger: Messenger) -> Self {
        Self {
            client: Client::new(ClientConfig::default(), 1),
            messenger,
            now: Duration::ZERO,
            sent: Vec::new(),
            updates: Vec::new(),
        }
    }

    /// Runs the core's outputs through the messenger until nothing is left.
    fn pump(&mut self) {
        while let Some(output) = self.client.poll() {
            match output {
                Output::Send(frame) => self.sent.push(frame),
                Output::Event(event) => {
                    let updates = self.messenger.handle(&mut self.client, &event, self.now);
                    self.updates.extend(updates);
                }
                Output::Open | Output::Close => {}
            }
        }
    }

    fn frame(&mut self, frame: &str) {
        self.client.handle_text(frame, self.now);
        self.pump();
    }

    fn connect(&mut self) {
        self.client.connect(self.now);
        self.pump();
        self.frame(OPEN);
        self.frame(r#"40{"sid":"x"}"#);
    }

    /// The connection drops, and the client core connects again after its backoff.
    fn reconnect(&mut self) {
        self.client.handle_close(self.now);
        self.pump();
        self.now += Duration::from_secs(2);
        self.client.handle_timeout(self.now);
        self.pump();
        self.frame(OPEN);
        self.frame(r#"40{"sid":"y"}"#);
    }

    /// The frames written since the last call, as (event, ack id, payload).
    /// The names of the events emitted since the last look, in order.
    fn emitted_names(&mut self) -> Vec<String> {
        self.emitted().into_iter().map(|(e, ..)| e).collect()
    }

    fn emitted(&mut self) -> Vec<(String, Option<u64>, Value)> {
        std::mem::take(&mut self.sent)
            .into_iter()
            .filter_map(|frame| {
                let rest = frame.strip_prefix("42")?;
                let split = rest.find('[')?;
                let ack = rest[..split].parse().ok();
                let array: Value = serde_json::from_str(&rest[split..]).ok()?;
                Some((array[0].as_str()?.to_owned(), ack, array[1].clone()))
            })
            .collect()
    }

    fn updates(&mut self) -> Vec<Update> {
        std::mem::take(&mut self.updates)
    }

    /// Lets `by` pass, has the messenger retry, and returns the ids it sent again.
    fn retry_after(&mut self, by: Duration) -> Vec<Value> {
        self.now += by;
        let now = self.now;
        self.messenger.retry(&mut self.client, now);
        self.pump();
        self.emitted()
            .into_iter()
            .map(|(.., p)| p["id"].clone())
            .collect()
    }
}

/// The messenger of `ME`, resuming with `unsent`.
fn messenger(unsent: Vec<Draft>) -> Messenger {
    Messenger::new(
        ME.parse().expect("a valid peer id"),
        SECRET.parse::<Secret>().expect("a valid secret"),
        unsent,
        [],
    )
}

fn envelope(n: u8, seq: u64) -> String {
    format!(
        r#"42["deliver",{{"id":"{}","from":"{BOB}","to":"{ME}","body":"m{n}","sent_at":1,"seq":{seq}}}]"#,
        id(n)
    )
}

#[test]
fn every_connect_registers_then_resends_what_was_not_stored() {
    let drafts = vec![
        Draft {
            id: id(1),
            to: bob(),
            body: "one".into(),
        },
        Draft {
            id: id(2),
            to: bob(),
            body: "two".into(),
        },
    ];
    let mut h = Harness::new(drafts);
    h.connect();
    let emitted = h.emitted();
    assert_eq!(emitted[0].0, "register");
    assert_eq!(emitted[0].2, json!({"id": ME, "secret": SECRET}));
    let sends: Vec<(&str, &Value)> = emitted[1..]
        .iter()
        .map(|(e, _, p)| (e.as_str(), &p["id"]))
        .collect();
    assert_eq!(sends, [("send", &json!(id(1))), ("send", &json!(id(2)))]);

    h.frame(r#"430[{"status":"registered","id":"3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71"}]"#);
    assert_eq!(h.updates(), [Update::Registered]);
    h.frame(
        r#"431[{"status":"sent","id":"00000000-0000-4000-9000-000000000001","seq":7,"sent_at":9}]"#,
    );
    assert_eq!(
        h.updates(),
        [Update::Status {
            peer: bob(),
            id: id(1),
            status: Status::Sent { seq: 7, sent_at: 9 }
        }]
    );
    assert_eq!(
        h.messenger.unsent().len(),
        1,
        "the second is not stored yet"
    );

    // The connection drops before the second is acked: the next connect sends it again,
    // with the same id.
    h.client.handle_close(h.now);
    h.pump();
    h.now += Duration::from_secs(2);
    h.client.handle_timeout(h.now);
    h.pump();
    h.frame(OPEN);
    h.frame(r#"40{"sid":"y"}"#);
    let again: Vec<Value> = h
        .emitted()
        .into_iter()
        .filter(|(e, ..)| e == "send")
        .map(|(.., p)| p["id"].clone())
        .collect();
    assert_eq!(again, [json!(id(2))]);
}

#[test]
fn a_message_sent_while_connected_goes_at_once() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "hello".into(), id(5), now);
    h.pump();
    let emitted = h.emitted();
    assert_eq!(emitted.len(), 1);
    assert_eq!(
        emitted[0].2,
        json!({"to": BOB, "body": "hello", "id": id(5)})
    );
}

#[test]
fn a_message_sent_offline_waits_for_the_connection() {
    let mut h = Harness::new(Vec::new());
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "later".into(), id(5), now);
    h.pump();
    assert!(h.emitted().is_empty());
    assert_eq!(h.messenger.unsent().len(), 1);
    h.connect();
    let events = h.emitted_names();
    assert_eq!(events, ["register", "send"], "sent once, after registering");
}

#[test]
fn an_incoming_message_is_reported_once_and_confirmed_every_time() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    h.frame(&envelope(1, 11));
    h.frame(&envelope(1, 11));
    h.frame(&envelope(2, 12));
    let received: Vec<String> = h
        .updates()
        .into_iter()
        .map(|u| match u {
            Update::Received(e) => e.body,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(received, ["m1", "m2"]);
    assert!(h.messenger.has_unconfirmed());
    h.messenger.confirm(&mut h.client);
    h.pump();
    assert_eq!(
        h.emitted(),
        [(
            "received".to_owned(),
            None,
            json!({"messages": [11, 11, 12]})
        )]
    );
    assert!(!h.messenger.has_unconfirmed());
}

#[test]
fn receipts_mark_delivery_and_are_confirmed() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    h.frame(&format!(
        r#"42["receipt",{{"id":"{}","to":"{BOB}","delivered_at":55,"seq":3}}]"#,
        id(1)
    ));
    assert_eq!(
        h.updates(),
        [Update::Status {
            peer: bob(),
            id: id(1),
            status: Status::Delivered { at: 55 }
        }]
    );
    h.messenger.confirm(&mut h.client);
    h.pump();
    assert_eq!(
        h.emitted(),
        [("received".to_owned(), None, json!({"receipts": [3]}))]
    );
}

#[test]
fn a_status_names_the_conversation_its_message_is_in() {
    let carol: PeerId = "c0ffee00-1234-4abc-8def-0123456789ab"
        .parse()
        .expect("a valid peer id");
    let drafts = vec![
        Draft {
            id: id(1),
            to: bob(),
            body: "to bob".into(),
        },
        Draft {
            id: id(2),
            to: carol,
            body: "to carol".into(),
        },
    ];
    let mut h = Harness::new(drafts);
    h.connect();
    h.emitted();
    // Answered out of order: each status names its own draft's recipient.
    h.frame(
        r#"432[{"status":"sent","id":"00000000-0000-4000-9000-000000000002","seq":8,"sent_at":9}]"#,
    );
    h.frame(r#"431[{"status":"rejected","code":"queue_full","message":"full"}]"#);
    // A receipt names the message's recipient, whether this messenger sent it or not
    // (an earlier page load, another tab).
    h.frame(&format!(
        r#"42["receipt",{{"id":"{}","to":"{carol}","delivered_at":20,"seq":5}}]"#,
        id(2)
    ));
    h.frame(&format!(
        r#"42["receipt",{{"id":"{}","to":"{BOB}","delivered_at":21,"read_at":22,"seq":6}}]"#,
        id(3)
    ));
    let peers: Vec<(MessageId, PeerId, &str)> = h
        .updates()
        .into_iter()
        .map(|u| match u {
            Update::Status { peer, id, status } => {
                let name = match status {
                    Status::Sent { .. } => "sent",
                    Status::Failed(_) => "failed",
                    Status::Delivered { .. } => "delivered",
                    Status::Read { .. } => "read",
                };
                (id, peer, name)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        peers,
        [
            (id(2), carol, "sent"),
            (id(1), bob(), "failed"),
            (id(2), carol, "delivered"),
            (id(3), bob(), "read"),
        ]
    );
}

#[test]
fn lasting_refusals_fail_passing_ones_are_retried() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "a".into(), id(1), now);
    h.messenger
        .send(&mut h.client, bob(), "b".into(), id(2), now);
    h.pump();
    h.emitted();
    h.frame(r#"431[{"status":"rejected","code":"queue_full","message":"bob has 10000 messages waiting"}]"#);
    h.frame(r#"432[{"status":"rejected","code":"overloaded","message":"slow down"}]"#);
    assert_eq!(
        h.updates(),
        [Update::Status {
            peer: bob(),
            id: id(1),
            status: Status::Failed(Rejection::new(
                ErrorCode::QueueFull,
                "bob has 10000 messages waiting"
            ))
        }]
    );
    assert_eq!(
        h.messenger
            .unsent()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [id(2)]
    );
    let again = h.retry_after(Duration::ZERO);
    assert_eq!(again, [json!(id(2))]);
}

#[test]
fn a_rate_limited_message_waits_the_time_the_server_said_then_goes_first() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "a".into(), id(1), now);
    h.messenger
        .send(&mut h.client, bob(), "b".into(), id(2), now);
    h.pump();
    h.emitted();
    h.frame(r#"431[{"status":"rejected","code":"rate_limited","message":"slow down","retry_after_ms":500}]"#);
    h.frame(r#"432[{"status":"rejected","code":"rate_limited","message":"slow down","retry_after_ms":500}]"#);
    assert!(h.updates().is_empty(), "still unsent, not failed");
    assert!(h.emitted().is_empty(), "not sent again at once");
    assert!(
        h.retry_after(Duration::from_millis(400)).is_empty(),
        "not before the time said"
    );
    let again = h.retry_after(Duration::from_millis(200));
    assert_eq!(again, [json!(id(1)), json!(id(2))], "oldest first");
}

#[test]
fn a_server_asking_to_wait_for_ever_is_waited_for_a_minute_at_most() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "a".into(), id(1), now);
    h.pump();
    h.emitted();
    h.frame(&format!(
        r#"431[{{"status":"rejected","code":"rate_limited","message":"wait","retry_after_ms":{}}}]"#,
        u64::MAX
    ));
    assert!(h.updates().is_empty(), "still unsent, not failed");
    assert!(
        h.retry_after(MAX_HOLD - Duration::from_millis(1))
            .is_empty(),
        "not before the cap"
    );
    let again = h.retry_after(Duration::from_millis(1));
    assert_eq!(again, [json!(id(1))]);
}

#[test]
fn an_unreadable_reply_keeps_the_message_and_sends_it_again() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "a".into(), id(1), now);
    h.pump();
    h.emitted();
    h.frame(r#"431[{"status":"stored, probably"}]"#);
    assert!(
        h.updates().is_empty(),
        "neither sent nor failed: nobody can tell"
    );
    assert_eq!(h.messenger.unsent().len(), 1);
    let again = h.retry_after(REPLY_TIMEOUT);
    assert_eq!(again, [json!(id(1))], "the same id: stored once");
}

#[test]
fn an_unanswered_send_is_sent_again_with_the_same_id() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "slow".into(), id(1), now);
    h.pump();
    h.emitted();
    h.now += Duration::from_secs(10);
    h.client.handle_timeout(h.now);
    h.pump();
    let again = h.emitted();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2["id"], json!(id(1)));
}

#[test]
fn a_refused_registration_is_reported() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.frame(r#"430[{"status":"rejected","code":"forbidden","message":"taken"}]"#);
    assert!(matches!(&h.updates()[..], [Update::Refused(r)] if r.message == "taken"));
}

#[test]
fn confirmations_are_split_to_fit_and_dropped_when_offline() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    for seq in 1..=1500u64 {
        h.frame(&envelope((seq % 200) as u8, seq));
    }
    h.messenger.confirm(&mut h.client);
    h.pump();
    let sizes: Vec<usize> = h
        .emitted()
        .iter()
        .map(|(_, _, p)| p["messages"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [1024, 476]);

    h.frame(&envelope(1, 9999));
    h.client.handle_close(h.now);
    h.pump();
    h.messenger.confirm(&mut h.client);
    assert!(
        !h.messenger.has_unconfirmed(),
        "they come again on the next connection"
    );
}

#[test]
fn kept_asynchronously_only_what_was_taken_is_confirmed() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    h.frame(&envelope(1, 11));
    // The application starts keeping message 11; message 12 arrives meanwhile.
    let keeping = h.messenger.take_to_confirm();
    h.frame(&envelope(2, 12));
    h.messenger.confirm_kept(&mut h.client, keeping);
    h.pump();
    assert_eq!(
        h.emitted(),
        [("received".to_owned(), None, json!({"messages": [11]}))],
        "12 is not kept yet"
    );
    assert!(h.messenger.has_unconfirmed());
    let keeping = h.messenger.take_to_confirm();
    // Disconnected before it was kept: nothing is sent; the server hands it out again.
    h.client.handle_close(h.now);
    h.pump();
    h.messenger.confirm_kept(&mut h.client, keeping);
    h.pump();
    assert!(h.emitted().is_empty());
}

#[test]
fn typing_goes_out_only_while_connected_and_comes_in_as_an_update() {
    let mut h = Harness::new(Vec::new());
    h.messenger.typing(&mut h.client, bob());
    h.pump();
    assert!(h.emitted().is_empty(), "not kept for later");
    h.connect();
    h.emitted();
    h.messenger.typing(&mut h.client, bob());
    h.pump();
    assert_eq!(
        h.emitted(),
        [("typing".to_owned(), None, json!({ "to": BOB }))]
    );
    h.frame(&format!(r#"42["typing",{{"from":"{BOB}"}}]"#));
    h.frame(r#"42["typing",{"from":"not an id"}]"#);
    assert_eq!(h.updates(), [Update::Typing(bob())]);
}

#[test]
fn reads_go_out_per_sender_now_or_once_connected() {
    let mut h = Harness::new(Vec::new());
    let carol: PeerId = ME.parse().expect("a valid peer id");
    h.messenger.read(
        &mut h.client,
        vec![(bob(), id(1)), (carol, id(2)), (bob(), id(3))],
    );
    h.pump();
    assert!(
        h.emitted().is_empty(),
        "not connected: kept for the connection"
    );
    h.connect();
    let emitted = h.emitted();
    let events: Vec<&str> = emitted.iter().map(|(e, ..)| e.as_str()).collect();
    assert_eq!(events, ["register", "read", "read"], "after registering");
    assert_eq!(emitted[1].2, json!({"from": BOB, "ids": [id(1), id(3)]}));
    assert_eq!(emitted[2].2, json!({"from": ME, "ids": [id(2)]}));
    // Connected: at once, 1024 ids per event at most.
    let many: Vec<(PeerId, MessageId)> = (0..1025).map(|_| (bob(), id(4))).collect();
    h.messenger.read(&mut h.client, many);
    h.pump();
    let sizes: Vec<usize> = h
        .emitted()
        .iter()
        .map(|(_, _, payload)| payload["ids"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [1024, 1]);
}

#[test]
fn a_read_receipt_moves_the_status_to_read() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    h.frame(&format!(
        r#"42["receipt",{{"id":"{}","to":"{BOB}","delivered_at":55,"read_at":60,"seq":4}}]"#,
        id(1)
    ));
    assert_eq!(
        h.updates(),
        [Update::Status {
            peer: bob(),
            id: id(1),
            status: Status::Read { at: 60 }
        }]
    );
    h.messenger.confirm(&mut h.client);
    h.pump();
    assert_eq!(
        h.emitted(),
        [("received".to_owned(), None, json!({"receipts": [4]}))]
    );
}

#[test]
fn a_block_goes_on_every_connection_until_the_server_confirms_it() {
    let mut h = Harness::new(Vec::new());
    h.messenger.resume_blocks([(bob(), true)]);
    h.connect();
    let emitted = h.emitted();
    assert_eq!(
        emitted[1],
        ("block".to_owned(), Some(1), json!({ "peer": BOB }))
    );
    // Not answered, the connection drops: sent again on the next.
    h.reconnect();
    let emitted = h.emitted();
    let (event, ack, _) = &emitted[1];
    assert_eq!(event, "block");
    h.updates();
    h.frame(&format!(
        r#"43{}[{{"status":"ok"}}]"#,
        ack.unwrap_or_default()
    ));
    assert_eq!(h.updates(), [Update::Blocked(bob(), true)]);
    // Confirmed: not again. An unblock is its own.
    h.reconnect();
    let events = h.emitted_names();
    assert_eq!(events, ["register"]);
    let now = h.now;
    h.messenger.block(&mut h.client, bob(), false, now);
    h.pump();
    let (event, ack, _) = h.emitted().remove(0);
    assert_eq!(event, "unblock");
    // Refused for good: reported, and not asked again.
    h.frame(&format!(
        r#"43{}[{{"status":"rejected","code":"limit_reached","message":"at most 10000"}}]"#,
        ack.unwrap_or_default()
    ));
    assert!(matches!(
        &h.updates()[..],
        [Update::BlockRefused(peer, false, r)] if *peer == bob() && r.code == ErrorCode::LimitReached
    ));
    h.reconnect();
    let events = h.emitted_names();
    assert_eq!(events, ["register"]);
}

#[test]
fn followed_presence_is_asked_on_every_connection_and_reported_for_followed_peers_only() {
    use relay_shared::presence::{PresenceNotice, PresenceState};
    let mut h = Harness::new(Vec::new());
    let now = h.now;
    // Not connected: asked once connected, after the registration.
    h.messenger.watch_presence(&mut h.client, vec![bob()], now);
    h.connect();
    let emitted = h.emitted();
    assert_eq!(emitted[0].0, "register");
    let (event, ack, data) = &emitted[1];
    assert_eq!(
        (event.as_str(), data),
        ("watch_presence", &json!({ "peers": [BOB] }))
    );
    h.updates();
    h.frame(&format!(
        r#"43{}[{{"status":"ok","presence":[{{"peer":"{BOB}","state":"online"}}]}}]"#,
        ack.unwrap_or_default()
    ));
    let online = PresenceNotice {
        peer: bob(),
        state: PresenceState::Online,
        last_seen: None,
    };
    assert_eq!(h.updates(), [Update::Presence(online)]);
    // Live changes of bob; none of someone not followed.
    h.frame(&format!(
        r#"42["presence",{{"peer":"{BOB}","state":"offline","last_seen":5}}]"#
    ));
    h.frame(&format!(
        r#"42["presence",{{"peer":"{ME}","state":"online"}}]"#
    ));
    assert_eq!(
        h.updates(),
        [Update::Presence(PresenceNotice {
            peer: bob(),
            state: PresenceState::Offline,
            last_seen: Some(5),
        })]
    );
    // Asked again after a reconnect.
    h.reconnect();
    let events = h.emitted_names();
    assert_eq!(events, ["register", "watch_presence"]);
}

#[test]
fn hiding_presence_goes_before_the_watch_until_the_server_confirms_it() {
    let mut h = Harness::new(Vec::new());
    let now = h.now;
    h.messenger.hide_presence(&mut h.client, true, now);
    h.messenger.watch_presence(&mut h.client, vec![bob()], now);
    h.connect();
    let emitted = h.emitted();
    let events: Vec<&str> = emitted.iter().map(|(e, ..)| e.as_str()).collect();
    assert_eq!(events, ["register", "hide_presence", "watch_presence"]);
    assert_eq!(emitted[1].2, json!({ "hidden": true }));
    // Unanswered: again on the next connection; confirmed: not again.
    h.reconnect();
    let emitted = h.emitted();
    let (event, ack, _) = &emitted[1];
    assert_eq!(event, "hide_presence");
    h.updates();
    h.frame(&format!(
        r#"43{}[{{"status":"ok"}}]"#,
        ack.unwrap_or_default()
    ));
    assert_eq!(h.updates(), [Update::PresenceHidden(true)]);
    h.reconnect();
    let events = h.emitted_names();
    assert_eq!(events, ["register", "watch_presence"]);
}

/// A one-time link code, as the server makes them.
const CODE: &str = "Zm9vYmFyLWxpbmstY29kZS0xMjM0NTY3ODkwYWJjZGVm";

fn device(n: u8) -> DeviceId {
    DeviceId::new(n).expect("a device number")
}

/// The `devices` list of these device numbers, as the server writes it.
fn devices_json(numbers: &[u8]) -> String {
    let list: Vec<Value> = numbers
        .iter()
        .map(|&n| json!({"device": n, "linked_at": 100 + u64::from(n)}))
        .collect();
    json!({"status": "ok", "devices": list}).to_string()
}

fn devices(numbers: &[u8]) -> Vec<DeviceInfo> {
    numbers
        .iter()
        .map(|&n| DeviceInfo {
            device: device(n),
            name: None,
            linked_at: 100 + u64::from(n),
        })
        .collect()
}

/// A messenger linking with [`CODE`], named "Chrome on Linux".
fn linking() -> Harness {
    Harness::around(messenger(Vec::new()).linking(
        CODE.parse().expect("a valid code"),
        Some("Chrome on Linux".into()),
    ))
}

#[test]
fn the_device_the_server_names_on_registering_is_reported_before_registered() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":2}}]"#
    ));
    assert_eq!(h.updates(), [Update::Device(device(2)), Update::Registered]);
    assert_eq!(h.messenger.device(), Some(device(2)));
}

#[test]
fn linking_sends_the_code_with_its_own_secret_alone_then_registers_like_any_device() {
    let mut h = linking();
    let now = h.now;
    h.messenger.follow_devices(&mut h.client, now);
    h.messenger.watch_presence(&mut h.client, vec![bob()], now);
    h.connect();
    assert_eq!(
        h.emitted(),
        [(
            "link".to_owned(),
            Some(0),
            json!({"id": ME, "code": CODE, "secret": SECRET, "name": "Chrome on Linux"})
        )],
        "nothing that needs a registration before the link is answered"
    );
    h.messenger.typing(&mut h.client, bob());
    h.pump();
    assert!(h.emitted().is_empty(), "not registered yet");
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":1}}]"#
    ));
    assert_eq!(
        h.updates(),
        [
            Update::Linked,
            Update::Device(device(1)),
            Update::Registered
        ]
    );
    let events = h.emitted_names();
    assert_eq!(events, ["watch_presence", "devices"], "then what waited");
    // From now on, this secret registers.
    h.reconnect();
    let emitted = h.emitted();
    assert_eq!(emitted[0].0, "register");
    assert_eq!(emitted[0].2, json!({"id": ME, "secret": SECRET}));
}

#[test]
fn a_refused_link_is_reported_and_nothing_more_is_sent() {
    let mut h = linking();
    h.connect();
    h.emitted();
    h.frame(r#"430[{"status":"rejected","code":"limit_reached","message":"5 devices at most"}]"#);
    assert!(matches!(
        &h.updates()[..],
        [Update::LinkRefused(r)] if r.code == ErrorCode::LimitReached
    ));
    assert_eq!(h.client.state(), ConnectionState::Closed, "closed for good");
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "hi".into(), id(1), now);
    h.pump();
    assert!(h.emitted().iter().all(|(e, ..)| e != "send"));
}

#[test]
fn an_unanswered_link_refused_next_time_is_checked_by_registering() {
    // The first link may have been made, its answer lost with the connection.
    let mut h = linking();
    h.connect();
    h.emitted();
    h.reconnect();
    let emitted = h.emitted();
    assert_eq!(emitted[0].0, "link", "sent again");
    let ack = emitted[0].1.unwrap_or_default();
    h.frame(&format!(
        r#"43{ack}[{{"status":"rejected","code":"forbidden","message":"used"}}]"#
    ));
    assert!(h.updates().is_empty(), "not refused yet");
    let (event, check, payload) = h.emitted().remove(0);
    assert_eq!(
        (event.as_str(), &payload),
        ("register", &json!({"id": ME, "secret": SECRET}))
    );
    h.frame(&format!(
        r#"43{}[{{"status":"registered","id":"{ME}","device":3}}]"#,
        check.unwrap_or_default()
    ));
    assert_eq!(
        h.updates(),
        [
            Update::Linked,
            Update::Device(device(3)),
            Update::Registered
        ],
        "it was made"
    );

    // Not made: the link's own refusal is reported.
    let mut h = linking();
    h.connect();
    h.emitted();
    h.reconnect();
    let ack = h.emitted()[0].1.unwrap_or_default();
    h.frame(&format!(
        r#"43{ack}[{{"status":"rejected","code":"forbidden","message":"expired"}}]"#
    ));
    let check = h.emitted()[0].1.unwrap_or_default();
    h.frame(&format!(
        r#"43{check}[{{"status":"rejected","code":"forbidden","message":"another key"}}]"#
    ));
    assert!(matches!(
        &h.updates()[..],
        [Update::LinkRefused(r)] if r.code == ErrorCode::Forbidden && r.message == "expired"
    ));
}

#[test]
fn a_link_the_server_cannot_take_now_goes_again_after_a_while() {
    let mut h = linking();
    h.connect();
    h.emitted();
    h.frame(r#"430[{"status":"rejected","code":"unavailable","message":"store down"}]"#);
    assert!(h.updates().is_empty());
    assert!(
        h.retry_after(LINK_RETRY / 2).is_empty(),
        "not before its time"
    );
    let now = h.now + LINK_RETRY;
    h.now = now;
    h.messenger.retry(&mut h.client, now);
    h.pump();
    let events = h.emitted_names();
    assert_eq!(events, ["link"]);
}

#[test]
fn devices_are_asked_on_every_registration_and_told_as_they_change() {
    let mut h = Harness::new(Vec::new());
    let now = h.now;
    h.messenger.follow_devices(&mut h.client, now);
    h.connect();
    let emitted = h.emitted();
    let events: Vec<&str> = emitted.iter().map(|(e, ..)| e.as_str()).collect();
    assert_eq!(events, ["register", "devices"]);
    assert_eq!(emitted[1].2, json!({}));
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":0}}]"#
    ));
    h.updates();
    h.frame(&format!("431[{}]", devices_json(&[0])));
    assert_eq!(h.updates(), [Update::Devices(devices(&[0]))]);
    // A device linked elsewhere: pushed.
    h.frame(&format!(r#"42["devices",{}]"#, devices_json(&[0, 1])));
    h.frame(r#"42["devices",{"status":"ok","devices":[{"device":9,"linked_at":1}]}]"#);
    assert_eq!(h.updates(), [Update::Devices(devices(&[0, 1]))]);
    h.reconnect();
    let events = h.emitted_names();
    assert_eq!(events, ["register", "devices"]);
}

#[test]
fn a_list_of_devices_without_this_one_means_it_was_unlinked() {
    let mut h = Harness::around(messenger(Vec::new()).with_device(Some(device(1))));
    h.connect();
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":1}}]"#
    ));
    h.updates();
    h.frame(&format!(r#"42["devices",{}]"#, devices_json(&[0])));
    assert_eq!(h.updates(), [Update::Unlinked]);
    assert!(h.messenger.is_unlinked());
    assert_eq!(h.client.state(), ConnectionState::Closed, "no reconnecting");
    h.frame(&format!(r#"42["devices",{}]"#, devices_json(&[0, 2])));
    assert!(h.updates().is_empty(), "said once");
}

#[test]
fn a_device_whose_secret_is_refused_was_unlinked_while_away() {
    let mut h = Harness::around(
        messenger(vec![Draft {
            id: id(1),
            to: bob(),
            body: "written before".into(),
        }])
        .with_device(Some(device(0))),
    );
    h.connect();
    let ack = |h: &mut Harness, event: &str| {
        h.emitted()
            .into_iter()
            .find(|(e, ..)| e == event)
            .and_then(|(_, ack, _)| ack)
            .unwrap_or_default()
    };
    let send = ack(&mut h, "send");
    h.frame(r#"430[{"status":"rejected","code":"forbidden","message":"unlinked"}]"#);
    h.frame(&format!(
        r#"43{send}[{{"status":"rejected","code":"not_registered","message":"register first"}}]"#
    ));
    assert_eq!(h.updates(), [Update::Unlinked]);
    assert_eq!(h.client.state(), ConnectionState::Closed);
    assert_eq!(h.messenger.unsent().len(), 1, "not sent is not failed");
}

#[test]
fn a_send_refused_for_want_of_a_registration_stays_unsent() {
    let mut h = Harness::new(vec![Draft {
        id: id(1),
        to: bob(),
        body: "one".into(),
    }]);
    h.connect();
    h.emitted();
    h.frame(r#"431[{"status":"rejected","code":"not_registered","message":"register first"}]"#);
    assert!(h.updates().is_empty());
    assert_eq!(h.messenger.unsent().len(), 1);
    assert!(h.retry_after(REPLY_TIMEOUT / 2).is_empty(), "no ping-pong");
    assert_eq!(h.retry_after(REPLY_TIMEOUT), [json!(id(1))]);
}

#[test]
fn a_link_code_is_asked_once_registered_and_checked_before_use() {
    let mut h = Harness::new(Vec::new());
    let now = h.now;
    assert!(
        !h.messenger.request_link_code(&mut h.client, now),
        "offline"
    );
    h.connect();
    assert!(
        !h.messenger.request_link_code(&mut h.client, now),
        "not registered yet"
    );
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":0}}]"#
    ));
    h.emitted();
    h.updates();
    let code = |h: &mut Harness| {
        let now = h.now;
        assert!(h.messenger.request_link_code(&mut h.client, now));
        h.pump();
        let (event, ack, payload) = h.emitted().remove(0);
        assert_eq!((event.as_str(), payload), ("link_code", json!({})));
        ack.unwrap_or_default()
    };
    let ack = code(&mut h);
    h.frame(&format!(
        r#"43{ack}[{{"status":"ok","code":"{CODE}","expires_at":300000}}]"#
    ));
    assert_eq!(
        h.updates(),
        [Update::LinkCode(Ok(LinkCode {
            code: CODE.into(),
            expires_at: 300_000
        }))]
    );
    // What goes into a link must be fit for one.
    let ack = code(&mut h);
    h.frame(&format!(
        r#"43{ack}[{{"status":"ok","code":"a/b?c#d&e=fffffffffffffffff","expires_at":1}}]"#
    ));
    assert!(matches!(&h.updates()[..], [Update::LinkCode(Err(_))]));
    let ack = code(&mut h);
    h.frame(&format!(
        r#"43{ack}[{{"status":"rejected","code":"rate_limited","message":"slow down"}}]"#
    ));
    assert!(matches!(
        &h.updates()[..],
        [Update::LinkCode(Err(r))] if r.code == ErrorCode::RateLimited
    ));
    // Unanswered: said so, not left waiting.
    code(&mut h);
    h.now += REPLY_TIMEOUT + Duration::from_secs(1);
    let now = h.now;
    h.client.handle_timeout(now);
    h.pump();
    assert!(matches!(
        &h.updates()[..],
        [Update::LinkCode(Err(r))] if r.code == ErrorCode::Unavailable
    ));
}

#[test]
fn unlinking_a_device_is_answered() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.frame(&format!(
        r#"430[{{"status":"registered","id":"{ME}","device":0}}]"#
    ));
    h.emitted();
    h.updates();
    let now = h.now;
    assert!(h.messenger.unlink(&mut h.client, device(2), now));
    h.pump();
    let (event, ack, payload) = h.emitted().remove(0);
    assert_eq!((event.as_str(), payload), ("unlink", json!({"device": 2})));
    h.frame(&format!(
        r#"43{}[{{"status":"ok"}}]"#,
        ack.unwrap_or_default()
    ));
    assert_eq!(h.updates(), [Update::Unlink(device(2), Ok(()))]);
    assert!(h.messenger.unlink(&mut h.client, device(0), now));
    h.pump();
    let ack = h.emitted()[0].1.unwrap_or_default();
    h.frame(&format!(
        r#"43{ack}[{{"status":"rejected","code":"invalid_payload","message":"the last device"}}]"#
    ));
    assert!(matches!(
        &h.updates()[..],
        [Update::Unlink(d, Err(r))] if *d == device(0) && r.code == ErrorCode::InvalidPayload
    ));
}

#[test]
fn what_this_person_sent_from_another_device_comes_as_outgoing_once() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    let own = |n: u8, seq: u64| {
        format!(
            r#"42["deliver",{{"id":"{}","from":"{ME}","to":"{BOB}","body":"mine {n}","sent_at":5,"seq":{seq}}}]"#,
            id(n)
        )
    };
    h.frame(&own(1, 21));
    h.frame(&own(1, 21));
    let updates = h.updates();
    assert!(
        matches!(&updates[..], [Update::Outgoing(e)] if e.to == bob() && e.body == "mine 1"),
        "{updates:?}"
    );
    // Written here: its copy coming back, before or after the server's answer, is known.
    let now = h.now;
    h.messenger
        .send(&mut h.client, bob(), "from here".into(), id(2), now);
    h.messenger
        .send(&mut h.client, bob(), "and this".into(), id(3), now);
    h.pump();
    let acks: Vec<u64> = h.emitted().into_iter().filter_map(|(_, a, _)| a).collect();
    h.frame(&own(2, 22));
    h.frame(&format!(
        r#"43{}[{{"status":"sent","id":"{}","seq":22,"sent_at":6}}]"#,
        acks[0],
        id(2)
    ));
    h.frame(&format!(
        r#"43{}[{{"status":"sent","id":"{}","seq":23,"sent_at":6}}]"#,
        acks[1],
        id(3)
    ));
    h.frame(&own(3, 23));
    assert!(
        h.updates()
            .iter()
            .all(|u| !matches!(u, Update::Outgoing(_))),
        "shown once, as written here"
    );
    // Each copy is confirmed, so the server lets go of it.
    h.messenger.confirm(&mut h.client);
    h.pump();
    assert_eq!(
        h.emitted(),
        [(
            "received".to_owned(),
            None,
            json!({"messages": [21, 21, 22, 23]})
        )]
    );
}

#[test]
fn a_registration_the_server_cannot_take_now_is_asked_again_not_refused() {
    let mut h = Harness::new(Vec::new());
    h.connect();
    h.emitted();
    h.frame(r#"430[{"status":"rejected","code":"unavailable","message":"store down"}]"#);
    assert!(h.updates().is_empty(), "nothing to tell the person yet");
    let now = h.now + LINK_RETRY;
    h.now = now;
    h.messenger.retry(&mut h.client, now);
    h.pump();
    let (event, ack, _) = h.emitted().remove(0);
    assert_eq!(event, "register");
    h.frame(&format!(
        r#"43{}[{{"status":"registered","id":"{ME}"}}]"#,
        ack.unwrap_or_default()
    ));
    assert_eq!(h.updates(), [Update::Registered]);
}

/// A receipt of one's own message, written on another device and not read here yet (the
/// other device is new here: its keys are being learned), is told after the message,
/// and confirmed with it, never before: else the status would be lost, its message not
/// shown yet.
#[test]
fn a_receipt_of_ones_own_message_waiting_for_keys_comes_right_after_it() {
    use relay_shared::{
        crypto::{Crypto, Plaintext},
        keys::{ClaimedKey, DeviceKeysEntry},
    };

    let me: PeerId = ME.parse().expect("a valid peer id");
    let mut phone = Crypto::new(me, device(0));
    let mut laptop = Crypto::linked(me, device(1), phone.identity_secret());
    let laptop_keys = laptop
        .publish_request(None)
        .expect("a fresh device publishes");
    laptop.published();
    let entry = |crypto: &Crypto| DeviceKeysEntry {
        device: crypto.device(),
        keys: Some(crypto.device_keys()),
    };
    phone
        .learn(me, &[entry(&laptop)])
        .expect("the laptop's keys");
    phone
        .add_claimed(
            me,
            &[ClaimedKey {
                device: device(1),
                device_keys: laptop.device_keys(),
                one_time_key: laptop_keys.one_time_keys.first().cloned(),
                fallback: false,
            }],
        )
        .expect("a session with the laptop");
    let written = Plaintext {
        from: me,
        to: bob(),
        id: id(7),
        text: "from my phone".into(),
    };
    let encrypted = phone
        .encrypt(&written, &[(me, vec![device(1)])])
        .expect("encrypted for the laptop");
    let phone_entry = entry(&phone);
    let laptop_entry = entry(&laptop);

    let mut h = Harness::around(
        messenger(Vec::new())
            .with_device(Some(device(1)))
            .with_crypto(laptop),
    );
    h.connect();
    h.emitted();
    let deliver = json!({
        "id": id(7), "from": ME, "to": BOB, "body": "", "encrypted": encrypted,
        "sent_at": 1, "seq": 5,
    });
    h.frame(&format!(r#"42["deliver",{deliver}]"#));
    let asked = h.emitted();
    let keys_ack = asked
        .iter()
        .find(|(event, ..)| event == "keys")
        .and_then(|(_, ack, _)| *ack)
        .expect("the phone's keys asked for");
    // Its receipt comes meanwhile: held.
    h.frame(&format!(
        r#"42["receipt",{{"id":"{}","to":"{BOB}","delivered_at":55,"seq":3}}]"#,
        id(7)
    ));
    assert_eq!(h.updates(), []);
    h.messenger.confirm(&mut h.client);
    h.pump();
    assert_eq!(h.emitted(), [], "nothing confirmed yet");

    let keys = json!({"status": "ok", "id": ME, "devices": [phone_entry, laptop_entry]});
    h.frame(&format!("43{keys_ack}[{keys}]"));
    // A key is claimed for a session of the laptop's own with the phone: none given.
    if let Some(claim_ack) = h
        .emitted()
        .iter()
        .find(|(event, ..)| event == "claim_keys")
        .and_then(|(_, ack, _)| *ack)
    {
        let none = json!({"status": "ok", "id": ME, "keys": []});
        h.frame(&format!("43{claim_ack}[{none}]"));
    }
    let updates = h.updates();
    let read = updates
        .iter()
        .position(
            |u| matches!(u, Update::Outgoing(e) if e.id == id(7) && e.body == "from my phone"),
        )
        .expect("the message read");
    let status = updates
        .iter()
        .position(|u| matches!(u, Update::Status { id: i, status: Status::Delivered { at: 55 }, .. } if *i == id(7)))
        .expect("its receipt told");
    assert!(read < status, "{updates:?}");
    h.messenger.confirm(&mut h.client);
    h.pump();
    let confirmed = h.emitted();
    assert_eq!(
        confirmed
            .iter()
            .find(|(event, ..)| event == "received")
            .map(|(.., payload)| payload.clone()),
        Some(json!({"messages": [5], "receipts": [3]}))
    );
}
