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
    Ok(())
}

/// Kills the child process when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
