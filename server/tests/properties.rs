//! Property test at the wire: random and mutated Engine.IO / Socket.IO frames, sent on
//! raw WebSockets to one real server. Whatever a case sends, the server answers or cuts
//! that socket, never panics, and still serves everyone else.

mod fixture;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use fixture::{Peer, RawSocket, TestServer, new_peer, within};
use proptest::{
    collection::vec,
    prelude::*,
    test_runner::{TestCaseError, TestRunner},
};
use relay_shared::{
    error::MAX_QUOTED_CHARS,
    strategies::{self, client_frame, peer_id, secret},
};
use serde_json::{Value, json};

/// How many frames one case sends on its socket, at most.
const MAX_FRAMES: usize = 12;
/// Sent after a case's frames: a confirmation under an ack id no case uses.
const PROBE: &str = r#"42999999["received",{}]"#;
/// How its answer starts.
const PROBE_ANSWER: &str = "43999999";
/// How long a case waits for it: a socket that left the namespace gets none.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// A frame the server sent: an ack is a JSON object with a known status, and a
/// rejection carries a code and a short message.
fn check_answer(frame: &str, seen: &mut BTreeMap<String, usize>) -> Result<(), TestCaseError> {
    let Some(ack) = frame.strip_prefix("43") else {
        return Ok(());
    };
    let array = &ack[ack.find('[').unwrap_or(0)..];
    let reply: Value =
        serde_json::from_str(array).map_err(|e| TestCaseError::fail(format!("{frame:?}: {e}")))?;
    let reply = &reply[0];
    let status = reply["status"].as_str().unwrap_or_default();
    prop_assert!(
        [
            "registered",
            "sent",
            "delivered",
            "offline",
            "ok",
            "rejected"
        ]
        .contains(&status),
        "{frame:?}"
    );
    if status == "rejected" {
        prop_assert!(reply["code"].is_string(), "{frame:?}");
        let message = reply["message"].as_str().unwrap_or_default();
        prop_assert!(
            !message.is_empty() && message.chars().count() <= 4 * MAX_QUOTED_CHARS,
            "{frame:?}"
        );
    }
    let outcome = match reply["code"].as_str() {
        Some(code) => format!("{status} {code}"),
        None => status.to_owned(),
    };
    *seen.entry(outcome).or_default() += 1;
    Ok(())
}

/// Sends `frames` on a fresh socket and returns what the server answered before the
/// socket closed.
async fn play(server: &TestServer, frames: impl Iterator<Item = &String>) -> Vec<String> {
    let mut socket = RawSocket::connect(server).await;
    for frame in frames {
        socket.send_unchecked(frame).await;
    }
    // A confirmation is answered in turn, after every earlier event of the socket: once
    // its answer is in, so are theirs (unless the socket left the namespace).
    socket.send_unchecked(PROBE).await;
    let mut answers = Vec::new();
    let probed = tokio::time::timeout(PROBE_WAIT, async {
        while let Some(frame) = socket.recv().await {
            let done = frame.starts_with(PROBE_ANSWER);
            answers.push(frame);
            if done {
                break;
            }
        }
    })
    .await;
    socket.send_unchecked("1").await;
    if probed.is_ok() {
        while let Some(frame) = socket.recv().await {
            answers.push(frame);
        }
    }
    answers
}

/// Half the cases start registered (typed or seed), with a message sent, so that their
/// frames also reach what only a registered socket does.
fn registered() -> impl Strategy<Value = Vec<String>> {
    let start = (peer_id(), secret(), peer_id()).prop_map(|(id, secret, to)| {
        vec![
            format!(
                "420{}",
                json!(["register", {"id": id, "secret": secret.as_str()}])
            ),
            format!("421{}", json!(["send", {"to": to, "body": "hello"}])),
        ]
    });
    let seed = (peer_id(), peer_id()).prop_map(|(id, to)| {
        vec![
            format!("420{}", json!(["init", id])),
            format!("421{}", json!(["message", format!("{to}|hello")])),
        ]
    });
    prop_oneof![2 => Just(Vec::new()), 1 => start, 1 => seed]
}

#[test]
fn any_frames_leave_the_server_serving() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let server = runtime.block_on(TestServer::start_with(|config| {
        // Cases register often; keep the address able to register for the last check.
        config.registrations_per_minute = 1_000_000;
    }));

    // A socket per case. After its frames the case closes the session: the server must
    // have answered or cut it by then, every ack well formed, with nothing left hanging.
    let mut runner = TestRunner::new(strategies::config_divided(4));
    let cases = runner.config().cases;
    let seen = RefCell::new(BTreeMap::new());
    runner
        .run(
            &(registered(), vec(client_frame(), 1..MAX_FRAMES)),
            |(first, frames)| {
                let frames = first.iter().chain(&frames);
                for answer in runtime.block_on(play(&server, frames)) {
                    check_answer(&answer, &mut seen.borrow_mut())?;
                }
                Ok(())
            },
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
    // The frames reach every handler: each outcome turns up among the answers.
    let seen = seen.into_inner();
    eprintln!("answers over {cases} cases: {seen:?}");
    for outcome in [
        "registered",
        "sent",
        "offline",
        "rejected invalid_payload",
        "rejected invalid_peer_id",
        "rejected not_registered",
    ] {
        assert!(seen.contains_key(outcome), "no {outcome:?} among {seen:?}");
    }

    runtime.block_on(async {
        assert_eq!(server.get("/healthz").await, (200, "ok".into()));
        // Everyone else is still served: a peer registers and sends to itself.
        let id = new_peer();
        let peer = Peer::connect(&server).await;
        assert_eq!(peer.register(id).await["status"], "registered");
        let mut reader = Peer::connect(&server).await;
        assert_eq!(reader.register(id).await["status"], "registered");
        assert_eq!(peer.send(id, "still here").await["status"], "sent");
        let delivered = within("the message", reader.expect("deliver")).await;
        assert_eq!(delivered["body"], "still here");
    });
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "the server panicked on some of {cases} cases"
    );
}
