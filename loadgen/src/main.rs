//! `relay-loadgen`: runs one scenario against a server and prints its report as JSON.

use std::{net::IpAddr, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use relay_loadgen::{abuse, backlog, connections, crypto, pairs};

/// mimalloc: the load generator allocates per message on every thread; a faster
/// allocator leaves more of the shared machine to the server under test.
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "relay-loadgen",
    about = "Load scenarios against a Socket.IO relay"
)]
struct Cli {
    /// The server, `http://127.0.0.1:PORT` (loopback only); every scenario but `crypto`
    /// needs one.
    #[arg(long)]
    url: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Sender/receiver pairs, at full load (a window) or at a fixed rate.
    Pairs {
        /// Where the receivers connect, if not to `--url` (another node of a cluster).
        #[arg(long)]
        receivers_url: Option<String>,
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Unanswered messages a sender may have at once.
        #[arg(long, default_value_t = 64)]
        window: u64,
        /// Messages per second over all pairs; without it, as fast as the window allows.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long, value_enum, default_value_t = pairs::Protocol::Seed)]
        protocol: pairs::Protocol,
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        warmup: Duration,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        drain: Duration,
    },
    /// Opens connections, prints the report once they are up, holds them until a line
    /// (or the end) arrives on stdin.
    Connections {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// One socket flooding as fast as the server takes it, reconnecting when cut.
    Flood {
        /// The local address to connect from (another client address on loopback:
        /// `127.0.0.2`).
        #[arg(long)]
        from: Option<IpAddr>,
        #[arg(long, value_enum, default_value_t = pairs::Protocol::Seed)]
        protocol: pairs::Protocol,
        /// Messages written per batch (seed), or kept unanswered (typed).
        #[arg(long, default_value_t = 256)]
        window: usize,
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        duration: Duration,
    },
    /// Sockets that connect, join and close, over and over.
    Churn {
        /// The local address to connect from.
        #[arg(long)]
        from: Option<IpAddr>,
        #[arg(long, default_value_t = 1_000)]
        sockets: usize,
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Each connection also registers, typed, under a fresh id before it closes:
        /// what a person's coming and going costs the server.
        #[arg(long)]
        register: bool,
    },
    /// No server: what end-to-end encryption costs a client per message (one device
    /// writing to another through the Olm core).
    Crypto {
        #[arg(long, default_value_t = 2_000)]
        messages: usize,
    },
    /// Typed protocol: store messages for an absent recipient, then drain them to it.
    Backlog {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
        limit: Duration,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Scenario::Crypto { messages } = cli.scenario {
        println!("{}", serde_json::to_string(&crypto::run(messages)?)?);
        return Ok(());
    }
    let url = cli.url.context("--url: the server to load")?;
    let loopback =
        |url: &str| url.starts_with("http://127.") || url.starts_with("http://localhost");
    anyhow::ensure!(loopback(&url), "load goes to loopback only");
    match cli.scenario {
        Scenario::Pairs {
            receivers_url,
            pairs,
            window,
            rate,
            protocol,
            warmup,
            duration,
            drain,
        } => {
            anyhow::ensure!(
                receivers_url.as_deref().is_none_or(loopback),
                "load goes to loopback only"
            );
            let report = pairs::run(pairs::Pairs {
                url,
                receivers_url,
                pairs,
                window,
                rate,
                protocol,
                warmup,
                duration,
                drain,
            })
            .await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Scenario::Connections {
            count,
            concurrency,
            timeout,
        } => {
            let (hold_tx, hold) = tokio::sync::watch::channel(());
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut line = String::new();
                let _ = tokio::io::BufReader::new(tokio::io::stdin())
                    .read_line(&mut line)
                    .await;
                let _ = hold_tx.send(());
            });
            connections::run(
                connections::Connections {
                    url,
                    count,
                    concurrency,
                    timeout,
                },
                |report| {
                    println!("{}", serde_json::to_string(report).unwrap_or_default());
                },
                hold,
            )
            .await;
        }
        Scenario::Flood {
            from,
            protocol,
            window,
            duration,
        } => {
            anyhow::ensure!(
                from.is_none_or(|ip| ip.is_loopback()),
                "load comes from loopback only"
            );
            let report = abuse::flood(&url, from, protocol, window, duration).await;
            println!("{}", serde_json::to_string(&report)?);
        }
        Scenario::Churn {
            from,
            sockets,
            duration,
            register,
        } => {
            anyhow::ensure!(
                from.is_none_or(|ip| ip.is_loopback()),
                "load comes from loopback only"
            );
            let report = abuse::churn(&url, from, sockets, duration, register).await;
            println!("{}", serde_json::to_string(&report)?);
        }
        // Answered before a server was needed.
        Scenario::Crypto { .. } => {}
        Scenario::Backlog { count, limit } => {
            let report = backlog::run(&url, count, limit).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
