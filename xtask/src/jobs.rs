//! The jobs behind `cargo xtask run | dev | test`.

use std::process::{Child, Command};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::{step, toolchain, web_app};

/// Where `cargo xtask dev` runs the server: the backend of Trunk.toml's proxy.
const DEV_SERVER_ADDR: &str = "127.0.0.1:3000";

/// `cargo xtask run`: build the app in release and serve it until Ctrl-C.
pub fn run(sh: &Shell) -> anyhow::Result<()> {
    web_app::build_release(sh)?;
    step("starting the server (Ctrl-C stops it)");
    // The RELAY_* variables of this environment pass through to the server.
    cmd!(sh, "cargo run --release --locked -p relay-server").run()?;
    Ok(())
}

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
            .spawn()
            .context("starting the server")?,
    );
    cmd!(sh, "trunk serve")
        .env("PATH", toolchain::path_with_tools(sh)?)
        .run()?;
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
        let server = BackgroundServer::start(&server_bin)?;
        cmd!(
            sh,
            "cargo test --locked -p relay-client --target wasm32-unknown-unknown"
        )
        .env("PATH", toolchain::path_with_tools(sh)?)
        .env("RELAY_TEST_SERVER", &server.url)
        .run()?;
    }

    step("end to end: the app in Chromium, the server binary (node --test e2e/)");
    cmd!(sh, "node --test --test-concurrency=1 e2e/")
        .env("RELAY_SERVER_BIN", &server_bin)
        .env("RELAY_DIST", sh.current_dir().join("dist"))
        .run()?;
    Ok(())
}

/// A server on a free port of 127.0.0.1, for tests run outside cargo's harness;
/// stopped when dropped.
struct BackgroundServer {
    _child: ChildGuard,
    url: String,
}

impl BackgroundServer {
    fn start(bin: &std::path::Path) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0", "--log", "warn"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let child = ChildGuard(child);
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("relay listening on ")
            .with_context(|| format!("unexpected first line from the server: {line:?}"))?
            .to_owned();
        Ok(Self { _child: child, url })
    }
}

/// Kills the child process when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
