//! The Socket.IO client core, driven by hand: every frame in and out, and the clock.

use std::time::Duration;

use relay_shared::socketio::{
    AckFailure, AckId, Client, ClientConfig, ConnectionState, DisconnectReason, EmitError, Event,
    Output, PING_GRACE, ReconnectPolicy,
};
use serde_json::{Value, json};

const OPEN: &str = r#"0{"sid":"eio-sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":147456}"#;
const CONNECTED: &str = r#"40{"sid":"sio-sid"}"#;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A client and the time, with helpers to feed it and read what it did.
struct Harness {
    client: Client,
    now: Duration,
}

impl Harness {
    fn new() -> Self {
        Self::with(ClientConfig::default())
    }

    fn with(config: ClientConfig) -> Self {
        Self {
            client: Client::new(config, 42),
            now: Duration::ZERO,
        }
    }

    /// Without jitter, so delays are exact.
    fn exact() -> Self {
        Self::with(ClientConfig {
            reconnect: ReconnectPolicy {
                jitter: 0.0,
                ..ReconnectPolicy::default()
            },
            ..ClientConfig::default()
        })
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.client.poll()).collect()
    }

    fn text(&mut self, frame: &str) -> Vec<Output> {
        self.client.handle_text(frame, self.now);
        self.drain()
    }

    fn advance_to(&mut self, at: Duration) -> Vec<Output> {
        self.now = at;
        self.client.handle_timeout(at);
        self.drain()
    }

    /// Connects all the way, checking each step.
    fn connected() -> Self {
        let mut h = Self::exact();
        h.client.connect(h.now);
        assert_eq!(h.drain(), [Output::Open]);
        assert_eq!(h.text(OPEN), [send("40")]);
        assert_eq!(h.client.state(), ConnectionState::Connecting);
        assert_eq!(h.text(CONNECTED), [Output::Event(Event::Connected)]);
        assert_eq!(h.client.state(), ConnectionState::Connected);
        h
    }
}

fn send(frame: &str) -> Output {
    Output::Send(frame.to_owned())
}

fn events(outputs: &[Output]) -> Vec<&Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn the_handshake_opens_engine_io_then_joins_the_namespace() {
    Harness::connected();
}

#[test]
fn pings_are_answered_and_push_the_silence_deadline_back() {
    let mut h = Harness::connected();
    // A ping is late at pingInterval 25 s + the grace; the connection closes at
    // pingInterval + pingTimeout 20 s from the open packet.
    assert_eq!(h.client.next_deadline(), Some(secs(25.0) + PING_GRACE));
    assert_eq!(h.advance_to(secs(26.9)), []);
    assert_eq!(h.advance_to(secs(27.0)), [Output::Event(Event::PingLate)]);
    assert_eq!(h.client.next_deadline(), Some(secs(45.0)), "told once");
    h.now = secs(30.0);
    assert_eq!(
        h.text("2"),
        [Output::Event(Event::PingBack), send("3")],
        "alive after all"
    );
    assert_eq!(h.client.next_deadline(), Some(secs(57.0)));
    assert_eq!(h.advance_to(secs(57.0)), [Output::Event(Event::PingLate)]);
    assert_eq!(h.advance_to(secs(74.9)), []);
    let out = h.advance_to(secs(75.0));
    assert_eq!(out[0], Output::Close);
    assert_eq!(
        events(&out),
        [
            &Event::Disconnected(DisconnectReason::PingTimeout),
            &Event::ReconnectScheduled {
                attempt: 1,
                delay: secs(1.0)
            }
        ]
    );
}

#[test]
fn emits_are_encoded_as_socket_io_events() {
    let mut h = Harness::connected();
    h.client
        .emit("send", &json!({"to": "x", "body": "hi \"there\""}))
        .unwrap();
    assert_eq!(
        h.drain(),
        [send(r#"42["send",{"body":"hi \"there\"","to":"x"}]"#)]
    );
    h.client.emit("init", "3f2b8c1e").unwrap();
    assert_eq!(h.drain(), [send(r#"42["init","3f2b8c1e"]"#)]);
}

#[test]
fn an_ack_comes_back_to_its_emit() {
    let mut h = Harness::connected();
    let first = h
        .client
        .emit_with_ack("register", &json!({"id": "a"}), secs(5.0), h.now)
        .unwrap();
    let second = h
        .client
        .emit_with_ack("register", &json!({"id": "b"}), secs(5.0), h.now)
        .unwrap();
    assert_eq!(
        h.drain(),
        [
            send(r#"420["register",{"id":"a"}]"#),
            send(r#"421["register",{"id":"b"}]"#)
        ]
    );
    let out = h.text(r#"431[{"status":"registered","id":"b"}]"#);
    let [Output::Event(Event::Ack(id, payload))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(*id, second);
    assert_eq!(
        payload.decode::<Value>().unwrap(),
        json!({"status": "registered", "id": "b"})
    );
    // An unknown or repeated ack id is ignored.
    assert_eq!(h.text(r#"431[{}]"#), []);
    assert_eq!(h.text(r#"4399[{}]"#), []);
    // The first times out, once.
    assert_eq!(h.client.next_deadline(), Some(secs(5.0)));
    assert_eq!(
        events(&h.advance_to(secs(5.0))),
        [&Event::AckFailed(first, AckFailure::Timeout)]
    );
    assert_eq!(h.text(r#"430[{}]"#), [], "a late ack is dropped");
    assert_eq!(
        h.client.next_deadline(),
        Some(secs(25.0) + PING_GRACE),
        "the heartbeat's"
    );
}

#[test]
fn emits_wait_for_the_connection_and_go_out_in_order() {
    let mut h = Harness::exact();
    h.client.emit("a", &1).unwrap();
    let ack = h.client.emit_with_ack("b", &2, secs(60.0), h.now).unwrap();
    h.client.connect(h.now);
    assert_eq!(h.drain(), [Output::Open], "nothing sent before joining");
    assert_eq!(h.text(OPEN), [send("40")]);
    assert_eq!(
        h.text(CONNECTED),
        [
            Output::Event(Event::Connected),
            send(r#"42["a",1]"#),
            send(r#"420["b",2]"#)
        ]
    );
    assert!(matches!(
        events(&h.text(r#"430["ok"]"#))[..],
        [Event::Ack(id, _)] if *id == ack
    ));
}

#[test]
fn the_buffer_is_bounded() {
    let mut h = Harness::with(ClientConfig {
        max_buffered: 2,
        ..ClientConfig::default()
    });
    h.client.emit("a", &1).unwrap();
    h.client.emit("a", &2).unwrap();
    assert_eq!(h.client.emit("a", &3), Err(EmitError::BufferFull));
}

#[test]
fn an_emit_that_timed_out_in_the_buffer_is_never_sent() {
    let mut h = Harness::exact();
    let ack = h
        .client
        .emit_with_ack("late", &1, secs(1.0), h.now)
        .unwrap();
    h.client.emit("kept", &2).unwrap();
    h.client.connect(h.now);
    h.drain();
    assert_eq!(
        events(&h.advance_to(secs(1.0))),
        [&Event::AckFailed(ack, AckFailure::Timeout)]
    );
    h.text(OPEN);
    assert_eq!(
        h.text(CONNECTED),
        [Output::Event(Event::Connected), send(r#"42["kept",2]"#)]
    );
}

#[test]
fn a_lost_connection_fails_the_acks_it_carried_and_keeps_the_rest() {
    let mut h = Harness::connected();
    let sent = h.client.emit_with_ack("a", &1, secs(60.0), h.now).unwrap();
    h.drain();
    h.client.handle_close(h.now);
    let out = h.drain();
    assert_eq!(
        events(&out),
        [
            &Event::AckFailed(sent, AckFailure::ConnectionLost),
            &Event::Disconnected(DisconnectReason::TransportClosed),
            &Event::ReconnectScheduled {
                attempt: 1,
                delay: secs(1.0)
            }
        ]
    );
    assert!(!out.contains(&Output::Close), "the driver already knows");
    // Emitted while waiting: buffered, sent once reconnected.
    let waiting = h.client.emit_with_ack("b", &2, secs(60.0), h.now).unwrap();
    assert_eq!(h.drain(), []);
    assert_eq!(h.advance_to(secs(1.0)), [Output::Open]);
    h.text(OPEN);
    assert_eq!(
        h.text(CONNECTED),
        [Output::Event(Event::Connected), send(r#"421["b",2]"#)]
    );
    assert_eq!(waiting, AckId(1));
}

#[test]
fn reconnects_back_off_exponentially_and_reset_after_success() {
    let mut h = Harness::exact();
    h.client.connect(h.now);
    h.drain();
    let mut delays = Vec::new();
    for _ in 0..5 {
        h.client.handle_close(h.now);
        let out = h.drain();
        let [Event::ReconnectScheduled { delay, .. }] = events(&out)[..] else {
            panic!("{out:?}")
        };
        delays.push(delay.as_millis());
        let retry_at = h.now + *delay;
        assert_eq!(h.client.state(), ConnectionState::Waiting { retry_at });
        assert_eq!(h.advance_to(retry_at), [Output::Open]);
    }
    assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
    h.text(OPEN);
    h.text(CONNECTED);
    h.client.handle_close(h.now);
    assert!(events(&h.drain()).contains(&&Event::ReconnectScheduled {
        attempt: 1,
        delay: secs(1.0)
    }));
}

#[test]
fn a_lost_network_closes_at_once_and_its_return_reconnects_at_once() {
    let mut h = Harness::connected();
    h.client.handle_network_lost(h.now);
    let out = h.drain();
    assert_eq!(out[0], Output::Close, "the transport is dropped: {out:?}");
    assert_eq!(
        events(&out),
        [
            &Event::Disconnected(DisconnectReason::TransportClosed),
            &Event::ReconnectScheduled {
                attempt: 1,
                delay: secs(1.0)
            }
        ]
    );
    // Attempts while offline fail and back off...
    assert_eq!(h.advance_to(secs(1.0)), [Output::Open]);
    h.client.handle_network_lost(h.now);
    assert_eq!(h.drain()[0], Output::Close);
    assert!(matches!(
        h.client.state(),
        ConnectionState::Waiting { retry_at } if retry_at == secs(3.0)
    ));
    // ...until the network is back: then the next attempt is now, not in 2 s.
    h.client.handle_network_back(h.now);
    assert_eq!(h.drain(), [Output::Open]);
    h.text(OPEN);
    assert_eq!(h.text(CONNECTED), [Output::Event(Event::Connected)]);
    // Neither does anything to a connected or a closed client.
    h.client.handle_network_back(h.now);
    assert_eq!(h.drain(), []);
    h.client.disconnect();
    h.drain();
    h.client.handle_network_lost(h.now);
    h.client.handle_network_back(h.now);
    assert_eq!(h.drain(), []);
    assert_eq!(h.client.state(), ConnectionState::Closed);
}

#[test]
fn reconnect_delays_are_jittered_like_socket_io_client() {
    let mut h = Harness::new();
    h.client.connect(h.now);
    h.drain();
    for base in [1.0, 2.0, 4.0, 5.0] {
        h.client.handle_close(h.now);
        let out = h.drain();
        let [Event::ReconnectScheduled { delay, .. }] = events(&out)[..] else {
            panic!("{out:?}")
        };
        let d = delay.as_secs_f64();
        assert!(d >= base * 0.5 && d <= 5.0, "{d} for a base of {base}");
        h.advance_to(h.now + *delay);
    }
}

#[test]
fn a_connection_attempt_times_out() {
    let mut h = Harness::exact();
    h.client.connect(h.now);
    h.drain();
    assert_eq!(h.client.next_deadline(), Some(secs(20.0)));
    let out = h.advance_to(secs(20.0));
    assert_eq!(out[0], Output::Close);
    assert_eq!(
        events(&out),
        [&Event::ReconnectScheduled {
            attempt: 1,
            delay: secs(1.0)
        }],
        "never connected, so no Disconnected"
    );
}

#[test]
fn the_policy_can_give_up() {
    let mut h = Harness::with(ClientConfig {
        reconnect: ReconnectPolicy {
            max_attempts: Some(1),
            ..ReconnectPolicy::default()
        },
        ..ClientConfig::default()
    });
    h.client.connect(h.now);
    h.drain();
    h.client.handle_close(h.now);
    let out = h.drain();
    let retry = match events(&out)[..] {
        [Event::ReconnectScheduled { delay, .. }] => *delay,
        _ => panic!("{out:?}"),
    };
    h.advance_to(retry);
    h.client.handle_close(h.now);
    assert_eq!(events(&h.drain()), [&Event::GaveUp]);
    assert_eq!(h.client.state(), ConnectionState::Closed);
    assert_eq!(h.client.emit("a", &1), Err(EmitError::Closed));
}

#[test]
fn the_server_leaving_or_closing_triggers_a_reconnect() {
    for frame in ["41", "1"] {
        let mut h = Harness::connected();
        let out = h.text(frame);
        assert_eq!(out[0], Output::Close, "{frame}");
        assert_eq!(
            events(&out)[0],
            &Event::Disconnected(DisconnectReason::ServerDisconnect)
        );
    }
}

#[test]
fn a_refused_namespace_connect_closes_the_client() {
    let mut h = Harness::exact();
    let ack = h.client.emit_with_ack("a", &1, secs(9.0), h.now).unwrap();
    h.client.connect(h.now);
    h.drain();
    h.text(OPEN);
    let out = h.text(r#"44{"message":"go away"}"#);
    assert_eq!(out[0], Output::Close);
    assert_eq!(
        events(&out),
        [
            &Event::AckFailed(ack, AckFailure::Closed),
            &Event::ConnectError("go away".into())
        ]
    );
    assert_eq!(h.client.state(), ConnectionState::Closed);
}

#[test]
fn disconnecting_leaves_the_namespace_and_stays_closed() {
    let mut h = Harness::connected();
    let ack = h.client.emit_with_ack("a", &1, secs(9.0), h.now).unwrap();
    h.drain();
    h.client.disconnect();
    assert_eq!(
        h.drain(),
        [
            send("41"),
            Output::Close,
            Output::Event(Event::AckFailed(ack, AckFailure::Closed))
        ]
    );
    assert_eq!(h.client.next_deadline(), None);
    h.client.handle_close(h.now);
    assert_eq!(h.drain(), []);
}

#[test]
fn events_from_the_server_are_surfaced_and_can_be_acked() {
    let mut h = Harness::connected();
    let out = h.text(r#"42["message","hello | world"]"#);
    let [Output::Event(Event::Message(incoming))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(incoming.event, "message");
    assert_eq!(
        incoming.payload.decode::<String>().unwrap(),
        "hello | world"
    );
    assert_eq!(incoming.ack, None);

    let out = h.text(r#"427["deliver",{"id":"m1"}]"#);
    let [Output::Event(Event::Message(incoming))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(incoming.ack, Some(7));
    h.client.ack(7, &json!({"ok": true})).unwrap();
    assert_eq!(h.drain(), [send(r#"437[{"ok":true}]"#)]);
}

#[test]
fn an_event_name_with_a_json_escape_arrives_whole() {
    let mut h = Harness::connected();
    let out = h.text(r#"42["new\nline\u0001",1]"#);
    let [Output::Event(Event::Message(incoming))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(incoming.event, "new\nline\u{1}");
    assert_eq!(incoming.payload.decode::<u32>().unwrap(), 1);
}

#[test]
fn other_namespaces_and_noise_packets_are_ignored() {
    let mut h = Harness::connected();
    assert_eq!(h.text(r#"42/admin,["x",1]"#), []);
    assert_eq!(h.text("6"), []);
    assert_eq!(h.text("3"), []);
}

#[test]
fn malformed_and_truncated_frames_close_and_reconnect() {
    for frame in [
        "",
        "x",
        "4",
        "42[",
        r#"42["unterminated"#,
        "42[1]",
        "42{}",
        "49",
        "4x",
        "7",
        "0{}",
        r#"451-["bin",{"_placeholder":true,"num":0}]"#,
        "b4AAAA",
    ] {
        let mut h = Harness::connected();
        let out = h.text(frame);
        assert_eq!(out.first(), Some(&Output::Close), "{frame:?} -> {out:?}");
        assert!(
            matches!(
                events(&out)[0],
                Event::Disconnected(DisconnectReason::ProtocolError(_))
            ),
            "{frame:?} -> {out:?}"
        );
    }
    // Before the open packet anything else is a protocol error too.
    let mut h = Harness::exact();
    h.client.connect(h.now);
    h.drain();
    assert_eq!(h.text("42[\"a\"]").first(), Some(&Output::Close));
    let mut h = Harness::exact();
    h.client.connect(h.now);
    h.drain();
    assert_eq!(h.text("0{not json").first(), Some(&Output::Close));
}

#[test]
fn frames_of_a_transport_already_let_go_are_ignored() {
    let mut h = Harness::connected();
    h.client.handle_close(h.now);
    h.drain();
    assert_eq!(h.text(r#"42["message","stale"]"#), []);
    assert_eq!(h.text("garbage"), []);
}

/// Random frames (valid, truncated, garbage), closes, timeouts and emits, many times
/// over: the client never panics and never asks the driver for something impossible
/// (writing to, or closing, a transport that is not open).
#[test]
fn random_input_never_breaks_the_driver_contract() {
    const FRAGMENTS: &[&str] = &[
        OPEN,
        CONNECTED,
        "2",
        "3",
        "1",
        "6",
        "40",
        "41",
        "44{\"message\":\"no\"}",
        r#"42["message","hi"]"#,
        r#"420["x",{"a":1}]"#,
        r#"430[{"status":"ok"}]"#,
        r#"431["y"]"#,
        r#"42/other,["z"]"#,
        "42[",
        "4",
        "",
        "é",
        "0{",
        "\u{0}",
        "4\u{0}2",
        r#"452-["b",{"_placeholder":true,"num":0}]"#,
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for run in 0..300 {
        let mut client = Client::new(ClientConfig::default(), run);
        let mut now = Duration::ZERO;
        let mut open = false;
        client.connect(now);
        for _ in 0..200 {
            match rand(10) {
                0..=4 if open => {
                    let frame = FRAGMENTS[rand(FRAGMENTS.len())];
                    let frame = if rand(4) == 0 {
                        // Truncated at a char boundary.
                        let cut = rand(frame.len() + 1);
                        let cut = (0..=cut)
                            .rev()
                            .find(|&i| frame.is_char_boundary(i))
                            .unwrap();
                        &frame[..cut]
                    } else {
                        frame
                    };
                    client.handle_text(frame, now);
                }
                5 if open => {
                    open = false;
                    client.handle_close(now);
                }
                6 => {
                    let _ = client.emit_with_ack("e", &rand(100), secs(rand(30) as f64), now);
                }
                7 => {
                    let _ = client.emit("e", "x");
                }
                _ => {
                    if let Some(deadline) = client.next_deadline() {
                        now = now.max(deadline);
                    }
                    now += secs(rand(3) as f64);
                    client.handle_timeout(now);
                }
            }
            while let Some(output) = client.poll() {
                match output {
                    Output::Open => {
                        assert!(!open, "run {run}: Open while a transport is open");
                        open = true;
                    }
                    Output::Send(_) => assert!(open, "run {run}: Send without a transport"),
                    Output::Close => {
                        assert!(open, "run {run}: Close without a transport");
                        open = false;
                    }
                    Output::Event(_) => {}
                }
            }
        }
    }
}
