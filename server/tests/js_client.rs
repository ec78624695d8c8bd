//! The official JavaScript client (`socket.io-client` from npm, under node) works
//! unchanged: the seed protocol over the default transports (long-polling, then the
//! upgrade to WebSocket) and over WebSocket only, and the typed protocol with acks.
//! The script is `e2e/seed-client.mjs`; `cargo xtask test` installs its npm packages.

mod fixture;

use std::path::Path;

use fixture::TestServer;
use tokio::process::Command;

async fn run_official_client(mode: &str) {
    let server = TestServer::start().await;
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e");
    assert!(
        e2e.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed in e2e/: run `cargo xtask test`, which installs it"
    );
    // The script gives up on its own after 15 s, saying where it was stuck.
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        Command::new("node")
            .arg("seed-client.mjs")
            .arg(server.url())
            .arg(mode)
            .current_dir(&e2e)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script ends within its own deadline")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "socket.io-client ({mode}) failed\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_works_over_polling_then_websocket() {
    run_official_client("default").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_works_over_websocket_only() {
    run_official_client("websocket").await;
}
