//! Delivery under jitter: peers exchange messages while their connections are cut at
//! random and the server is killed and restarted once. Every message is shown exactly
//! once, and each sender's messages are stored in the order sent.

mod fixture;

use fixture::{ServerProcess, jitter::exchange_through_cuts_and_a_crash};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_shown_exactly_once_through_cuts_and_a_crash() {
    let data = tempfile::tempdir().expect("data dir");
    let server = ServerProcess::start(data.path(), 0).await;
    let addr = server.addr;
    let mut server = Some(server);
    exchange_through_cuts_and_a_crash(addr, "1 server crash", || async {
        let killed = server.take().expect("running");
        assert!(!killed.signal("-KILL").await);
        server = Some(ServerProcess::start(data.path(), addr.port()).await);
    })
    .await;
}
