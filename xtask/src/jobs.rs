//! The jobs behind `cargo xtask run | dev | test`.

use std::{path::PathBuf, process::Command};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::{
    deployment,
    process::{BackgroundServer, ChildGuard, path_str},
    step, toolchain, web_app,
};

/// Where `cargo xtask dev` runs the server: the backend of Trunk.toml's proxy.
const DEV_SERVER_ADDR: &str = "127.0.0.1:3000";
/// Where `trunk serve` serves the app in `cargo xtask dev`: pages from there may open
/// sockets.
const TRUNK_ORIGINS: &str = "http://127.0.0.1:8080,http://localhost:8080";

/// `cargo xtask run`: build the app in release and serve it until Ctrl-C.
pub fn run(sh: &Shell) -> anyhow::Result<()> {
    web_app::build_release(sh)?;
    step("starting the server (Ctrl-C stops it)");
    // The RELAY_* variables of this environment pass through to the server.
    cmd!(sh, "cargo run --release --locked -p relay-server").run()?;
    Ok(())
}

/// Where `trunk serve` puts the development build in `cargo xtask dev`.
const DEV_DIST: &str = "target/dev-dist";

/// `cargo xtask dev`: the server, and `trunk serve` in front of it.
pub fn dev(sh: &Shell) -> anyhow::Result<()> {
    toolchain::ensure_web_build(sh)?;
    step("building the server");
    cmd!(sh, "cargo build --locked -p relay-server").run()?;
    step(&format!(
        "server on {DEV_SERVER_ADDR}, app on http://127.0.0.1:8080"
    ));
    let _server = ChildGuard(
        Command::new(sh.current_dir().join("target/debug/relay-server"))
            .env("RELAY_ADDR", DEV_SERVER_ADDR)
            // The app comes from trunk's origin, whose proxy passes the page's Origin on.
            .env("RELAY_ALLOWED_ORIGINS", TRUNK_ORIGINS)
            .spawn()
            .context("starting the server")?,
    );
    // Its development build goes under target/, not into dist/, where `cargo xtask run`
    // and the tests expect the release build.
    cmd!(sh, "trunk serve --dist {DEV_DIST}")
        .env("PATH", toolchain::path_with_tools(sh)?)
        .run()?;
    Ok(())
}

/// Where `cargo xtask cluster` serves the app (HAProxy's front), unless
/// `RELAY_CLUSTER_ADDR` says otherwise.
const CLUSTER_ADDR: &str = "127.0.0.1:8000";

/// `cargo xtask cluster`: redis-server, three nodes sharing it and HAProxy in front, all
/// on 127.0.0.1, the app served through HAProxy until Ctrl-C.
pub fn cluster(sh: &Shell) -> anyhow::Result<()> {
    web_app::build_release(sh)?;
    toolchain::ensure_debian_packages(
        sh,
        &[("redis-server", "redis-server"), ("haproxy", "haproxy")],
    )?;
    step("building the server");
    cmd!(sh, "cargo build --release --locked -p relay-server").run()?;
    let bin = sh.current_dir().join("target/release/relay-server");
    let dist = sh.current_dir().join("dist");
    // Kept across runs, like `cargo xtask run`'s data/: the messages survive a restart.
    let redis_dir = sh.current_dir().join("target/cluster/redis");
    let redis = deployment::redis(sh, &redis_dir, deployment::free_port()?)?;
    let nodes = (0..3)
        // HAProxy, on 127.0.0.1, names each client in X-Forwarded-For.
        .map(|_| {
            deployment::relay_node(
                &bin,
                &redis.url,
                &dist,
                &["--trusted-proxies", "127.0.0.1"],
                None,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let front: std::net::SocketAddr = std::env::var("RELAY_CLUSTER_ADDR")
        .unwrap_or_else(|_| CLUSTER_ADDR.to_owned())
        .parse()
        .context("RELAY_CLUSTER_ADDR is not an address")?;
    let mut proxy = deployment::haproxy(sh, front, [&nodes[0].url, &nodes[1].url, &nodes[2].url])?;
    step(&format!(
        "the app on http://{front} through HAProxy; nodes on {}, {}, {}; Redis on {} (data in {}). Ctrl-C stops all of it",
        nodes[0].url,
        nodes[1].url,
        nodes[2].url,
        redis.url,
        redis_dir.display()
    ));
    // Ctrl-C reaches every process of the terminal's group: HAProxy, the nodes and
    // Redis each stop, and this returns.
    let status = proxy.0.wait().context("waiting for haproxy")?;
    eprintln!("haproxy stopped ({status}); stopping the nodes and Redis");
    Ok(())
}

/// `cargo xtask test`: what CI runs.
pub fn test(sh: &Shell) -> anyhow::Result<()> {
    toolchain::ensure_web_build(sh)?;
    toolchain::ensure_e2e_packages(sh)?;
    toolchain::ensure_debian_packages(
        sh,
        &[
            ("chromium", "chromium"),
            ("chromedriver", "chromium-driver"),
            ("redis-server", "redis-server"),
            ("haproxy", "haproxy"),
        ],
    )?;

    step("cargo fmt --check");
    cmd!(sh, "cargo fmt --all -- --check").run()?;

    step("clippy, native and wasm32");
    cmd!(
        sh,
        "cargo clippy --locked --workspace --all-targets -- -D warnings"
    )
    .run()?;
    cmd!(
        sh,
        "cargo clippy --locked -p relay-client --target wasm32-unknown-unknown --all-targets -- -D warnings"
    )
    .run()?;

    web_app::build_release(sh)?;

    step("tests");
    cmd!(sh, "cargo test --locked --workspace").run()?;

    step("the web app in headless Chromium (wasm-bindgen-test)");
    cmd!(sh, "cargo build --locked -p relay-server").run()?;
    let server_bin = sh.current_dir().join("target/debug/relay-server");
    {
        let data = tempdir(sh, "wasm-tests")?;
        // The test runner serves its page from an address of our choosing, and only that
        // origin (besides the server's own) may open sockets, as in a deployment.
        let runner = free_local_address()?;
        let runner_origin = format!("http://{runner}");
        let server = BackgroundServer::relay(
            &server_bin,
            &[
                "--data-dir",
                path_str(&data)?,
                "--allowed-origins",
                &runner_origin,
            ],
        )?;
        cmd!(
            sh,
            "cargo test --locked -p relay-client --target wasm32-unknown-unknown"
        )
        .env("PATH", toolchain::path_with_tools(sh)?)
        .env("RELAY_TEST_SERVER", &server.url)
        .env("WASM_BINDGEN_TEST_ADDRESS", &runner)
        .run()?;
    }

    step("end to end: the app in Chromium, the server binary (node --test e2e/)");
    cmd!(sh, "node --test --test-concurrency=1 e2e/")
        .env("RELAY_SERVER_BIN", &server_bin)
        .env("RELAY_DIST", sh.current_dir().join("dist"))
        .run()?;
    Ok(())
}

/// A port on 127.0.0.1 that is free now, as `127.0.0.1:PORT`.
fn free_local_address() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.to_string())
}

/// A fresh, empty directory `target/xtask/<name>` for a job's scratch data.
pub fn tempdir(sh: &Shell, name: &str) -> anyhow::Result<PathBuf> {
    let dir = sh.current_dir().join("target/xtask").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
