//! Serving: the web app's files at `/`, `GET /healthz`, the listen backlog, and the
//! binary's configuration and graceful shutdown.

mod fixture;

use std::path::PathBuf;

use fixture::{Peer, RawSocket, ServerProcess, TestServer, new_peer, within};
use relay_shared::event;
use tokio::process::Command;

/// A directory with a small built app in it, removed when dropped.
struct StaticDir(PathBuf);

impl StaticDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("relay-static-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("assets")).expect("temp dir");
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>Relay</title>",
        )
        .expect("index");
        std::fs::write(dir.join("assets/app.js"), "console.log('relay');").expect("asset");
        std::fs::write(
            dir.join("app-0123456789abcdef.js"),
            "console.log('hashed');",
        )
        .expect("hashed asset");
        Self(dir)
    }
}

impl Drop for StaticDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response as the tests look at it.
struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    /// The header `name`, if it is there and is text.
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// `GET path` from `server` with the request header `with`, if any.
async fn fetch(server: &TestServer, path: &str, with: Option<(&str, String)>) -> Fetched {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url()));
    if let Some((name, value)) = with {
        request = request.header(name, value);
    }
    let response = within("an HTTP response", request.send())
        .await
        .expect("HTTP request");
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/healthz").await, (200, "ok".to_owned()));
}

#[tokio::test]
async fn the_web_app_is_served_at_the_root() {
    let dir = StaticDir::new();
    let server = TestServer::start_with(|c| c.static_dir = dir.0.clone()).await;
    let (status, body) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Relay</title>"), "{body}");
    assert_eq!(
        server.get("/assets/app.js").await,
        (200, "console.log('relay');".to_owned())
    );
    assert_eq!(server.get("/missing.js").await.0, 404);
}

/// trunk names the built files by their content: those are kept by browsers for a year
/// unasked; the page (and anything unhashed) is checked with the server on every use, so
/// a new version is seen at once, and answered 304 while unchanged.
#[tokio::test]
async fn hashed_files_are_kept_for_a_year_the_page_is_revalidated() {
    let dir = StaticDir::new();
    let server = TestServer::start_with(|c| c.static_dir = dir.0.clone()).await;
    let head = |path: &'static str, since: Option<String>| {
        let fetched = fetch(&server, path, since.map(|s| ("if-modified-since", s)));
        async move {
            let fetched = fetched.await;
            (
                fetched.status,
                fetched.header("cache-control"),
                fetched.header("last-modified"),
            )
        }
    };
    let (status, cache, modified) = head("/app-0123456789abcdef.js", None).await;
    assert_eq!(
        (status, cache.as_deref()),
        (200, Some("public, max-age=31536000, immutable"))
    );
    assert!(modified.is_some());
    for path in ["/", "/index.html", "/assets/app.js"] {
        let (status, cache, modified) = head(path, None).await;
        assert_eq!(
            (status, cache.as_deref()),
            (200, Some("no-cache")),
            "{path}"
        );
        let (status, cache, _) = head(path, modified).await;
        assert_eq!(
            (status, cache.as_deref()),
            (304, Some("no-cache")),
            "{path}"
        );
    }
    let (status, cache, _) = head("/missing-0123456789abcdef.js", None).await;
    assert_eq!(
        (status, cache),
        (404, None),
        "no caching of what is not there"
    );
}

/// A file with compressed copies beside it (as `cargo xtask` builds the app) is sent as
/// the copy the browser accepts, Brotli first; a file without one is compressed as it is
/// sent; a client that accepts neither gets the file as it is.
#[tokio::test]
async fn compressed_copies_are_sent_to_browsers_that_accept_them() {
    use std::io::{Read, Write};

    let dir = StaticDir::new();
    let wasm = "(module) ".repeat(500);
    std::fs::write(dir.0.join("app-0123456789abcdef_bg.wasm"), &wasm).expect("wasm");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(wasm.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(dir.0.join("app-0123456789abcdef_bg.wasm.gz"), &gz).expect("gz copy");
    // Not Brotli: it only has to be told apart from the file and the gzip copy.
    std::fs::write(
        dir.0.join("app-0123456789abcdef_bg.wasm.br"),
        "the brotli copy",
    )
    .expect("br copy");
    let script = "console.log('no copy of this one');\n".repeat(100);
    std::fs::write(dir.0.join("assets/big.js"), &script).expect("script");
    let server = TestServer::start_with(|c| c.static_dir = dir.0.clone()).await;
    let fetch = |path: &'static str, accept: Option<&'static str>| {
        let fetched = fetch(
            &server,
            path,
            accept.map(|a| ("accept-encoding", a.to_owned())),
        );
        async move {
            let fetched = fetched.await;
            (
                fetched.header("content-encoding"),
                fetched.header("vary"),
                fetched.body,
            )
        }
    };
    let gunzip = |bytes: &[u8]| {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut out)
            .expect("gunzip");
        out
    };
    let path = "/app-0123456789abcdef_bg.wasm";

    let (encoding, vary, body) = fetch(path, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(vary.is_some_and(|v| v.contains("accept-encoding")));
    assert_eq!(body, b"the brotli copy");

    let (encoding, _, body) = fetch(path, Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(body, gz, "the copy, not compressed again");
    assert_eq!(gunzip(&body), wasm);

    let (encoding, _, body) = fetch(path, None).await;
    assert_eq!(encoding, None);
    assert_eq!(body, wasm.as_bytes());

    let (encoding, _, body) = fetch("/assets/big.js", Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(gunzip(&body), script);
}

#[tokio::test]
async fn without_a_built_app_the_relay_still_works() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/").await.0, 404);
    assert_eq!(server.get("/healthz").await.0, 200);
}

/// The listening socket's accept queue is the configured backlog (tokio's default of
/// 128 drops connections when a few hundred clients connect at once). `ss` shows a
/// listening socket's backlog in its Send-Q column.
#[tokio::test]
async fn the_listen_backlog_is_configured() {
    for backlog in [511, 2048] {
        let server = TestServer::start_with(|c| c.backlog = backlog).await;
        let output = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{}", server.addr.port())])
            .output()
            .expect("ss (iproute2) runs");
        let listing = String::from_utf8_lossy(&output.stdout);
        let send_q: Vec<&str> = listing
            .lines()
            .filter_map(|line| line.split_whitespace().nth(2))
            .collect();
        assert_eq!(send_q, [backlog.to_string()], "{listing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_disconnects_its_clients() {
    let server = TestServer::start().await;
    let mut socket = RawSocket::connect(&server).await;
    socket
        .send(&format!("42[\"init\",\"{}\"]", new_peer()))
        .await;
    server.stop().await;
    socket.expect_closed().await;
}

/// The binary as a user runs it: configured through `RELAY_*` variables, announcing its
/// address on stdout, serving, and exiting cleanly on SIGTERM with a client connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_its_environment_and_stops_on_sigterm() {
    let dir = StaticDir::new();
    let process = ServerProcess::start_with_env(&[
        ("RELAY_ADDR", "127.0.0.1:0".into()),
        ("RELAY_STATIC_DIR", dir.0.display().to_string()),
        ("RELAY_DATA_DIR", dir.0.join("data").display().to_string()),
        ("RELAY_MAX_BODY_BYTES", "5".into()),
    ])
    .await;
    let server = process.handle();

    assert!(server.get("/").await.1.contains("<title>Relay</title>"));
    let mut peer = Peer::connect(&server).await;
    let me = new_peer();
    peer.register(me).await;
    let reply = peer.send(me, "123456").await;
    assert_eq!(
        reply["code"], "body_too_large",
        "RELAY_MAX_BODY_BYTES applies"
    );
    peer.send(me, "12345").await;
    assert_eq!(peer.expect(event::DELIVER).await["body"], "12345");
    assert!(
        dir.0.join("data/relay.sqlite3").is_file(),
        "RELAY_DATA_DIR applies"
    );

    assert!(process.signal("-TERM").await, "a clean exit on SIGTERM");
}

#[tokio::test]
async fn the_binary_explains_a_bad_flag() {
    let output = within(
        "the server to exit",
        Command::new(env!("CARGO_BIN_EXE_relay-server"))
            .args(["--addr", "nowhere"])
            .output(),
    )
    .await
    .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--addr"), "{stderr}");
}
