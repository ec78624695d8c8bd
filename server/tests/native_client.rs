//! Our own Socket.IO client core, with its native driver, against the real server over
//! TCP: both protocols, acks, the buffer, and reconnecting to a restarted server.

mod fixture;

use std::time::Duration;

use fixture::{TestServer, new_peer, secret_of, within};
use relay_native_client::Connection;
use relay_shared::{
    Envelope, RegisterReply, SendReply, event,
    socketio::{ClientConfig, ConnectionState, Event, ReconnectPolicy},
};
use serde_json::json;

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

async fn connect(server: &TestServer) -> Connection {
    within(
        "our client to connect",
        Connection::connect(&server.url(), ClientConfig::default()),
    )
    .await
    .expect("connects")
}

/// The next event that is a message named `name`, decoded.
async fn next_message<T: serde::de::DeserializeOwned>(conn: &mut Connection, name: &str) -> T {
    within(&format!("a {name} event"), async {
        loop {
            match conn.next_event().await.expect("still open") {
                Event::Message(incoming) if incoming.event == name => {
                    return incoming.payload.decode().expect("decodes");
                }
                _ => {}
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_messages_go_both_ways_with_acks() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    for (conn, id) in [(&mut a, alice), (&mut b, bob)] {
        let reply: RegisterReply = conn
            .call(
                event::REGISTER,
                &json!({ "id": id, "secret": secret_of(id) }),
                REPLY_TIMEOUT,
            )
            .await
            .expect("register reply");
        assert_eq!(
            reply,
            RegisterReply::Registered {
                id,
                device: Some(relay_shared::device::DeviceId::FIRST)
            }
        );
    }
    let reply: SendReply = a
        .call(
            event::SEND,
            &json!({"to": bob, "body": "hi bob"}),
            REPLY_TIMEOUT,
        )
        .await
        .expect("send reply");
    assert!(matches!(reply, SendReply::Sent { .. }), "{reply:?}");
    let envelope: Envelope = next_message(&mut b, event::DELIVER).await;
    assert_eq!((envelope.from, envelope.body.as_str()), (alice, "hi bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_protocol_works_too() {
    let server = TestServer::start().await;
    let me = new_peer();
    let mut conn = connect(&server).await;
    conn.emit(event::INIT, &me.to_string()).unwrap();
    conn.emit(event::MESSAGE, &format!("{me}|echo")).unwrap();
    let text: String = next_message(&mut conn, event::MESSAGE).await;
    assert_eq!(text, "echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_made_before_connecting_go_out_once_connected() {
    let server = TestServer::start().await;
    let me = new_peer();
    let mut conn = Connection::new(&server.url(), ClientConfig::default());
    // Emitted before any I/O has happened: buffered, then sent right after the connect.
    conn.emit(event::INIT, &me.to_string()).unwrap();
    conn.emit(event::MESSAGE, &format!("{me}|buffered"))
        .unwrap();
    let text: String = next_message(&mut conn, event::MESSAGE).await;
    assert_eq!(text, "buffered");
}

/// The server goes away and comes back on the same port: the client notices, waits as
/// its backoff says, reconnects, and (registering again on connect, as the app does)
/// messages flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_waits_out_a_server_not_up_yet() {
    // A free port, and no server on it until the client has failed once.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let config = ClientConfig {
        reconnect: ReconnectPolicy {
            min: Duration::from_millis(200),
            max: Duration::from_millis(400),
            ..ReconnectPolicy::default()
        },
        ..ClientConfig::default()
    };
    // On a thread of its own, so that a client spinning instead of waiting fails the
    // test rather than hanging it.
    let url = format!("http://{addr}");
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let first = runtime.block_on(async {
            let mut conn = Connection::connect(&url, config).await.ok()?;
            // What came before the connection is kept for the application.
            conn.next_event().await
        });
        let _ = done.send(first);
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _server = TestServer::start_with(|c| c.addr = addr).await;
    let first = tokio::task::spawn_blocking(move || outcome.recv_timeout(fixture::DEADLINE))
        .await
        .expect("the waiting task ends")
        .expect("connected after a failed attempt, within the deadline");
    assert!(
        matches!(first, Some(Event::ReconnectScheduled { .. })),
        "{first:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_reconnects_to_a_restarted_server() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let me = new_peer();
    let config = ClientConfig {
        reconnect: ReconnectPolicy {
            min: Duration::from_millis(100),
            max: Duration::from_millis(500),
            ..ReconnectPolicy::default()
        },
        ..ClientConfig::default()
    };
    let mut conn = within("connect", Connection::connect(&server.url(), config))
        .await
        .expect("connects");
    server.stop().await;

    let mut saw = Vec::new();
    within("the loss to be noticed", async {
        loop {
            match conn.next_event().await.expect("still open") {
                Event::ReconnectScheduled { .. } => break,
                event => saw.push(event),
            }
        }
    })
    .await;
    assert!(
        saw.iter().any(|e| matches!(e, Event::Disconnected(_))),
        "{saw:?}"
    );
    assert!(matches!(conn.state(), ConnectionState::Waiting { .. }));

    let _restarted = TestServer::start_with(|c| c.addr = addr).await;
    within("the reconnect", async {
        loop {
            if let Event::Connected = conn.next_event().await.expect("still open") {
                break;
            }
        }
    })
    .await;
    conn.emit(event::INIT, &me.to_string()).unwrap();
    conn.emit(event::MESSAGE, &format!("{me}|back")).unwrap();
    let text: String = next_message(&mut conn, event::MESSAGE).await;
    assert_eq!(text, "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_comes_back_in_the_ack() {
    let server = TestServer::start().await;
    let mut conn = connect(&server).await;
    let reply: SendReply = conn
        .call(
            event::SEND,
            &json!({"to": new_peer(), "body": "x"}),
            REPLY_TIMEOUT,
        )
        .await
        .expect("reply");
    let SendReply::Rejected(rejection) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(rejection.code, relay_shared::ErrorCode::NotRegistered);
}
