//! `cargo xtask <job>`: Relay's development automation, in Rust rather than shell
//! scripts. Each job first installs what it needs and is missing (the recipe of
//! `../shared/TOOLCHAIN.md`), so a fresh machine needs nothing by hand.

mod bench;
mod deployment;
mod jobs;
mod precompress;
mod process;
mod toolchain;
mod web_app;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Relay's development tasks")]
struct Cli {
    #[command(subcommand)]
    job: Job,
}

#[derive(Subcommand)]
enum Job {
    /// Install what is missing, build the web app in release, and serve it with the
    /// server at http://127.0.0.1:3000 (honours RELAY_ADDR and the other RELAY_* variables).
    Run,
    /// Development: the server on 127.0.0.1:3000 and `trunk serve` on
    /// http://127.0.0.1:8080, rebuilding the app on change and proxying /socket.io.
    Dev,
    /// Redis, three nodes sharing it and HAProxy in front, on 127.0.0.1: the app at
    /// http://127.0.0.1:8000 (RELAY_CLUSTER_ADDR) through HAProxy, until Ctrl-C.
    Cluster,
    /// Install what the tests need, then the fmt check, clippy with -D warnings, and
    /// every test. CI runs exactly this.
    Test,
    /// Build in release and run the benchmark scenarios against the seed's Node.js
    /// server and ours, side by side; print the table and write docs/benchmarks.md.
    Bench,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sh = xshell::Shell::new()?;
    sh.change_dir(project_root());
    match cli.job {
        Job::Run => jobs::run(&sh),
        Job::Dev => jobs::dev(&sh),
        Job::Cluster => jobs::cluster(&sh),
        Job::Test => jobs::test(&sh),
        Job::Bench => bench::run(&sh),
    }
}

/// The workspace root: the parent of this crate's directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Prints a step heading, so a long CI log says where it is.
fn step(what: &str) {
    eprintln!("\n==> {what}");
}
