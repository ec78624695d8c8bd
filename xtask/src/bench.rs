//! `cargo xtask bench`: the benchmark scenarios against the seed's Node.js server and
//! ours, and, on two nodes sharing one Redis, against socket.io with its official Redis
//! adapter, in one run, side by side. Prints the table and writes `docs/benchmarks.md`.
//!
//! Every measurement starts fresh server processes and runs `relay-loadgen` (our client
//! core with its native driver) against them. These machines are noisy, so the figures
//! that matter are ratios within the run, and the rounds alternate which server goes
//! first.

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::{
    deployment,
    jobs::tempdir,
    precompress,
    process::{BackgroundServer, ChildGuard, path_str},
    step, toolchain, web_app,
};

/// Relay's per-client limits, off for the capacity scenarios: one load generator
/// process plays thousands of clients from one address, each sending as fast as it can.
const UNLIMITED: [&str; 14] = [
    "--max-queue-per-sender",
    "10000",
    "--max-queue-per-stranger",
    "10000",
    "--socket-rate",
    "0",
    "--peer-rate",
    "0",
    "--connections-per-ip",
    "0",
    "--connection-rate",
    "0",
    "--registrations-per-minute",
    "0",
];

/// The client address scenario 9's abusers connect from (loopback, not the quiet
/// pairs' 127.0.0.1).
const ABUSER: &str = "127.0.0.2";

/// Rounds of the side-by-side scenarios; each server's figure is their mean.
const ROUNDS: usize = 2;
/// Rounds of the cluster scenarios, noisier (four processes and Redis on two cores).
const CLUSTER_ROUNDS: usize = 3;
/// Scenario 3's held connections.
const HELD: usize = 10_000;
/// Connections one load generator process opens for the "most held" run: two of them
/// go past what one server process can hold (its open-files limit).
const MOST_PER_PROCESS: usize = 10_000;

/// The load of the full-load scenarios, after `relay-loadgen pairs`: 50 pairs, each
/// sender at most 64 messages ahead of its receiver, 10 s.
const FULL_LOAD: [&str; 6] = ["--pairs", "50", "--window", "64", "--duration", "10s"];

/// `cargo xtask bench`.
pub fn run(sh: &Shell) -> anyhow::Result<()> {
    let started = Instant::now();
    step("building in release: the server, the load generator, the web app");
    cmd!(
        sh,
        "cargo build --release --locked -p relay-server -p relay-loadgen"
    )
    .run()?;
    web_app::build_release(sh)?;
    let bench = Bench::prepare(sh)?;

    let mut report = Report::default();
    step("scenario 1: full load, seed protocol (50 pairs, window 64, 10 s)");
    for round in 0..ROUNDS {
        for who in Server::order(round) {
            let server = bench.start(who)?;
            let args = [&["pairs"][..], &FULL_LOAD].concat();
            let result = bench.loadgen(&server.url, &args, Duration::from_secs(90))?;
            report.full_load.push(who, Pairs::from_json(&result)?);
        }
    }
    step("scenario 2: fixed rate, 10,000 messages/s, seed protocol");
    for round in 0..ROUNDS {
        for who in Server::order(round) {
            let server = bench.start(who)?;
            let result = bench.loadgen(
                &server.url,
                &["pairs", "--rate", "10000", "--duration", "10s"],
                Duration::from_secs(90),
            )?;
            report.fixed_rate.push(who, Pairs::from_json(&result)?);
        }
    }
    step(&format!(
        "scenario 3: {HELD} connections held; then the most held at once"
    ));
    for round in 0..ROUNDS {
        for who in Server::order(round) {
            report.held.push(who, bench.held(who)?);
        }
    }
    for who in Server::order(0) {
        report.most.push(who, bench.most_held(who)?);
    }
    step("scenario 4: typed protocol, durable (Relay only)");
    {
        let server = bench.start(Server::Relay)?;
        let full = bench.loadgen(
            &server.url,
            &["pairs", "--protocol", "typed", "--duration", "10s"],
            Duration::from_secs(90),
        )?;
        report.durable_full = Some(Pairs::from_json(&full)?);
    }
    {
        let server = bench.start(Server::Relay)?;
        let encrypted = bench.loadgen(
            &server.url,
            &["pairs", "--protocol", "encrypted", "--duration", "10s"],
            Duration::from_secs(90),
        )?;
        report.durable_encrypted = Some(Pairs::from_json(&encrypted)?);
    }
    {
        let server = bench.start(Server::Relay)?;
        let paced = bench.loadgen(
            &server.url,
            &[
                "pairs",
                "--protocol",
                "typed",
                "--rate",
                "1000",
                "--duration",
                "5s",
            ],
            Duration::from_secs(60),
        )?;
        report.durable_paced = Some(Pairs::from_json(&paced)?);
    }
    {
        let server = bench.start(Server::Relay)?;
        let backlog = bench.loadgen(
            &server.url,
            &["backlog", "--count", "10000"],
            Duration::from_secs(300),
        )?;
        report.backlog = Some(Backlog::from_json(&backlog)?);
    }
    step(
        "scenario 6: two nodes on one Redis, seed protocol, full load (senders on one node, receivers on the other)",
    );
    for round in 0..CLUSTER_ROUNDS {
        for who in Server::order(round) {
            report
                .cluster_full
                .push(who, bench.cluster_pairs(who, Nodes::Across, &FULL_LOAD)?);
        }
    }
    step("scenario 7: two nodes on one Redis, 10,000 messages/s, seed protocol");
    for round in 0..CLUSTER_ROUNDS {
        for who in Server::order(round) {
            let paced = ["--rate", "10000", "--duration", "10s"];
            report
                .cluster_rate
                .push(who, bench.cluster_pairs(who, Nodes::Across, &paced)?);
        }
    }
    step(
        "scenario 10: two nodes on one Redis, seed protocol, full load, every pair on the first node",
    );
    for round in 0..CLUSTER_ROUNDS {
        for who in Server::order(round) {
            report
                .cluster_local
                .push(who, bench.cluster_pairs(who, Nodes::First, &FULL_LOAD)?);
        }
    }
    step("scenario 8: two nodes on one Redis, typed protocol, durable (Relay only)");
    let typed = ["--protocol", "typed", "--duration", "10s"];
    report.cluster_durable = Some(bench.cluster_pairs(Server::Relay, Nodes::Across, &typed)?);
    step(
        "scenario 9: fairness: 20 quiet pairs at 1,000 msg/s alone, beside one flooding socket, beside 1,000 sockets opening and closing",
    );
    for round in 0..ROUNDS {
        for who in Server::order(round) {
            report.fairness.push(who, bench.fairness(who)?);
        }
    }
    step("scenario 11: end-to-end encryption, what one message costs a client (native, no server)");
    let crypto = bench.run_loadgen(&["crypto", "--messages", "2000"], Duration::from_secs(120))?;
    report.crypto = Some(CryptoCost::from_json(&crypto)?);
    step("scenario 11: the same in the web app: release wasm in headless Chromium");
    report.crypto_browser = Some(crypto_cost_in_browser(sh)?);
    step("scenario 5: the web app's release bundle");
    report.bundle = bundle_sizes(&sh.current_dir().join("dist"))?;

    report.about = About::collect(sh, started.elapsed())?;
    let markdown = report.markdown();
    println!("\n{}", report.table());
    let path = sh.current_dir().join("docs/benchmarks.md");
    std::fs::write(&path, markdown).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}

/// Where a cluster scenario's receivers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nodes {
    /// On the second node: every message crosses Redis.
    Across,
    /// On the first node, with the senders.
    First,
}

/// One of the two servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// The Node.js side: the seed's server, `../shared/peers/seed-node`; in the cluster
    /// scenarios, socket.io with its Redis adapter, `../shared/peers/socketio-redis`.
    Seed,
    /// Ours.
    Relay,
}

impl Server {
    /// Who goes first alternates by round.
    fn order(round: usize) -> [Self; 2] {
        if round.is_multiple_of(2) {
            [Self::Seed, Self::Relay]
        } else {
            [Self::Relay, Self::Seed]
        }
    }
}

/// What the scenarios need: the binaries, the Node.js peers' directories, a scratch
/// directory.
struct Bench {
    relay: PathBuf,
    loadgen: PathBuf,
    seed: PathBuf,
    socketio_redis: PathBuf,
    dist: PathBuf,
    scratch: PathBuf,
    sh: Shell,
}

/// Two nodes sharing one redis-server.
struct Cluster {
    nodes: [BackgroundServer; 2],
    _redis: BackgroundServer,
}

impl Bench {
    /// Finds the Node.js peers (`RELAY_SEED_DIR` or `../shared/peers/seed-node`,
    /// `RELAY_SOCKETIO_REDIS_DIR` or `../shared/peers/socketio-redis`), copies them under
    /// `target/` and installs their npm packages there when missing; installs
    /// redis-server when missing.
    fn prepare(sh: &Shell) -> anyhow::Result<Self> {
        let root = sh.current_dir();
        let seed = node_peer(sh, "RELAY_SEED_DIR", "seed-node", "the seed's server")?;
        let socketio_redis = node_peer(
            sh,
            "RELAY_SOCKETIO_REDIS_DIR",
            "socketio-redis",
            "socket.io with its Redis adapter",
        )?;
        toolchain::ensure_debian_packages(sh, &[("redis-server", "redis-server")])?;
        Ok(Self {
            relay: root.join("target/release/relay-server"),
            loadgen: root.join("target/release/relay-loadgen"),
            dist: root.join("dist"),
            seed,
            socketio_redis,
            scratch: tempdir(sh, "bench")?,
            sh: sh.clone(),
        })
    }

    /// Starts a fresh redis-server and two fresh nodes of `who` on it.
    fn start_cluster(&self, who: Server) -> anyhow::Result<Cluster> {
        let n = unique();
        let redis = deployment::redis(
            &self.sh,
            &self.scratch.join(format!("redis-{n}")),
            deployment::free_port()?,
        )?;
        let node = |i: usize| -> anyhow::Result<BackgroundServer> {
            let log = std::fs::File::create(self.scratch.join(format!("node-{n}-{i}.log")))?;
            match who {
                Server::Relay => deployment::relay_node(
                    &self.relay,
                    &redis.url,
                    &self.dist,
                    &UNLIMITED,
                    Some(log),
                ),
                Server::Seed => {
                    let port = deployment::free_port()?;
                    let mut node = Command::new("node");
                    node.arg("server.js")
                        .current_dir(&self.socketio_redis)
                        .env("PORT", port.to_string())
                        .env("REDIS_URL", &redis.url)
                        .stderr(log);
                    // "socketio-redis listening on http://127.0.0.1:PORT pid=N (redis adapter)"
                    BackgroundServer::start(node, Duration::from_secs(30), |line| {
                        let (_, rest) = line.split_once("listening on ")?;
                        rest.split_whitespace().next().map(str::to_owned)
                    })
                }
            }
        };
        Ok(Cluster {
            nodes: [node(0)?, node(1)?],
            _redis: redis,
        })
    }

    /// `relay-loadgen pairs` with `args` on a fresh two-node cluster of `who`, the
    /// senders on the first node and the receivers where `nodes` says.
    fn cluster_pairs(&self, who: Server, nodes: Nodes, args: &[&str]) -> anyhow::Result<Pairs> {
        let cluster = self.start_cluster(who)?;
        let mut all = vec!["pairs"];
        if nodes == Nodes::Across {
            all.extend(["--receivers-url", cluster.nodes[1].url.as_str()]);
        }
        all.extend(args);
        let result = self.loadgen(&cluster.nodes[0].url, &all, Duration::from_secs(90))?;
        Pairs::from_json(&result)
    }

    /// Starts a fresh `who` on a free port of 127.0.0.1, its log in the scratch
    /// directory (at its open-files limit, a server logs every refused accept).
    fn start(&self, who: Server) -> anyhow::Result<BackgroundServer> {
        self.start_server(who, &UNLIMITED)
    }

    /// Starts a fresh `who` as [`start`](Self::start) does, Relay with `relay_args` (its
    /// default limits when empty).
    fn start_server(&self, who: Server, relay_args: &[&str]) -> anyhow::Result<BackgroundServer> {
        let n = unique();
        let log = std::fs::File::create(self.scratch.join(format!("server-{n}.log")))?;
        match who {
            Server::Relay => {
                let data = self.scratch.join(format!("data-{n}"));
                let mut relay = BackgroundServer::relay_command(
                    &self.relay,
                    &[
                        "--data-dir",
                        path_str(&data)?,
                        "--static-dir",
                        path_str(&self.dist)?,
                    ],
                );
                relay.args(relay_args);
                relay.stderr(log);
                BackgroundServer::start_relay(relay)
            }
            Server::Seed => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let mut node = Command::new("node");
                node.arg("server.js")
                    .current_dir(&self.seed)
                    .env("PORT", port.to_string())
                    .stderr(log);
                // "peer-node listening on http://127.0.0.1:PORT pid=N"
                BackgroundServer::start(node, Duration::from_secs(30), |line| {
                    let (_, rest) = line.split_once("listening on ")?;
                    rest.split_whitespace().next().map(str::to_owned)
                })
            }
        }
    }

    /// Runs the load generator to its end, within `limit`, and parses its report.
    fn loadgen(&self, url: &str, args: &[&str], limit: Duration) -> anyhow::Result<Value> {
        let child = self.spawn_loadgen(url, args)?;
        loadgen_report(child, args, limit)
    }

    /// Runs a load generator scenario that needs no server, within `limit`.
    fn run_loadgen(&self, args: &[&str], limit: Duration) -> anyhow::Result<Value> {
        loadgen_report(self.start_loadgen(args)?, args, limit)
    }

    /// Starts the load generator on the server at `url`, for [`loadgen_report`] to
    /// collect.
    fn spawn_loadgen(&self, url: &str, args: &[&str]) -> anyhow::Result<ChildGuard> {
        self.start_loadgen(&[&["--url", url][..], args].concat())
    }

    fn start_loadgen(&self, args: &[&str]) -> anyhow::Result<ChildGuard> {
        let child = Command::new(&self.loadgen)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting relay-loadgen")?;
        Ok(ChildGuard(child))
    }

    /// Scenario 9 on a fresh `who` (Relay with its default limits) for each run: the
    /// quiet pairs alone, beside a flooding socket, beside churning sockets.
    fn fairness(&self, who: Server) -> anyhow::Result<Fairness> {
        const QUIET: [&str; 9] = [
            "pairs",
            "--pairs",
            "20",
            "--rate",
            "1000",
            "--warmup",
            "2s",
            "--duration",
            "10s",
        ];
        // The abuse starts first and lasts past the quiet pairs' warm-up, measured
        // window and drain.
        let beside = |abuse: &[&str]| -> anyhow::Result<(Pairs, Value)> {
            let server = self.start_server(who, &[])?;
            let abuser = self.spawn_loadgen(&server.url, abuse)?;
            std::thread::sleep(Duration::from_secs(1));
            let quiet = self.loadgen(&server.url, &QUIET, Duration::from_secs(60))?;
            let abuse = loadgen_report(abuser, abuse, Duration::from_secs(60))?;
            Ok((Pairs::from_json(&quiet)?, abuse))
        };
        let alone = {
            let server = self.start_server(who, &[])?;
            Pairs::from_json(&self.loadgen(&server.url, &QUIET, Duration::from_secs(60))?)?
        };
        // The abusers connect from another client address than the quiet pairs.
        let (flooded, flood) = beside(&[
            "flood",
            "--from",
            ABUSER,
            "--protocol",
            "seed",
            "--duration",
            "18s",
        ])?;
        let (churned, churn) = beside(&[
            "churn",
            "--from",
            ABUSER,
            "--sockets",
            "1000",
            "--duration",
            "18s",
        ])?;
        Ok(Fairness {
            alone,
            flooded,
            churned,
            flood_sent: f64_of(&flood, "/sent")?,
            churn_opened: f64_of(&churn, "/opened")?,
        })
    }

    /// Opens [`HELD`] connections to a fresh `who`, each echoing one message, and
    /// measures the server's resident memory before and while they are held.
    fn held(&self, who: Server) -> anyhow::Result<Held> {
        let server = self.start(who)?;
        std::thread::sleep(Duration::from_secs(1));
        let before = rss_kib(server.pid())?;
        let holder = self.hold(&server.url, HELD)?;
        std::thread::sleep(Duration::from_secs(2));
        let after = rss_kib(server.pid())?;
        let echoed = holder.echoed;
        holder.release()?;
        Ok(Held {
            echoed,
            bytes_per_connection: (after.saturating_sub(before) * 1024) as f64 / HELD as f64,
        })
    }

    /// The most connections a fresh `who` holds at once, from two load generators.
    fn most_held(&self, who: Server) -> anyhow::Result<usize> {
        let server = self.start(who)?;
        let first = self.hold(&server.url, MOST_PER_PROCESS)?;
        let second = self.hold(&server.url, MOST_PER_PROCESS)?;
        let held = first.echoed + second.echoed;
        first.release()?;
        second.release()?;
        Ok(held)
    }

    /// Starts a load generator holding `count` connections to `url`; returns once they
    /// are up.
    fn hold(&self, url: &str, count: usize) -> anyhow::Result<Holder> {
        let child = Command::new(&self.loadgen)
            .args(["--url", url, "connections", "--count"])
            .arg(count.to_string())
            .args(["--timeout", "20s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting relay-loadgen")?;
        let mut child = ChildGuard(child);
        let stdout = child.0.stdout.take().context("relay-loadgen's stdout")?;
        let line = first_line(stdout, Duration::from_secs(180))?;
        let report: Value =
            serde_json::from_str(&line).with_context(|| format!("relay-loadgen said {line:?}"))?;
        Ok(Holder {
            child,
            echoed: usize_of(&report, "echoed")?,
        })
    }
}

/// A load generator holding its connections until released.
struct Holder {
    child: ChildGuard,
    echoed: usize,
}

impl Holder {
    /// Tells it to let go, and waits for it to end.
    fn release(mut self) -> anyhow::Result<()> {
        if let Some(mut stdin) = self.child.0.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        wait(&mut self.child.0, Duration::from_secs(30))?;
        Ok(())
    }
}

/// A Node.js peer's copy under `target/bench/<name>`, from `$variable` or
/// `../shared/peers/<name>`, with its npm packages installed.
fn node_peer(sh: &Shell, variable: &str, name: &str, what: &str) -> anyhow::Result<PathBuf> {
    let root = sh.current_dir();
    let source = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/peers").join(name));
    if !source.join("server.js").is_file() {
        bail!("{what} is not at {} (set {variable})", source.display());
    }
    let copy = root.join("target/bench").join(name);
    std::fs::create_dir_all(&copy)?;
    for file in ["server.js", "package.json", "package-lock.json"] {
        let (from, to) = (source.join(file), copy.join(file));
        let same = std::fs::read(&from).ok() == std::fs::read(&to).ok();
        if !same {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    toolchain::ensure_npm_packages(sh, &copy, what)?;
    Ok(copy)
}

/// The report of a load generator `child` started with `args`, within `limit`.
fn loadgen_report(mut child: ChildGuard, args: &[&str], limit: Duration) -> anyhow::Result<Value> {
    let stdout = child.0.stdout.take().context("relay-loadgen's stdout")?;
    let line = first_line(stdout, limit)?;
    let status = wait(&mut child.0, Duration::from_secs(10))?;
    if !status.success() {
        bail!("relay-loadgen {args:?} failed: {status}");
    }
    serde_json::from_str(&line).with_context(|| format!("relay-loadgen said {line:?}"))
}

/// The first line `stdout` prints, within `limit`.
fn first_line(stdout: impl Read + Send + 'static, limit: Duration) -> anyhow::Result<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    rx.recv_timeout(limit)
        .with_context(|| format!("no report within {limit:?}"))?
        .context("reading relay-loadgen's report")
}

/// Waits up to `limit` for `child` to exit.
fn wait(child: &mut Child, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            bail!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no VmRSS for process {pid}"))
}

/// A number unique within this run.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn f64_of(value: &Value, pointer: &str) -> anyhow::Result<f64> {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .with_context(|| format!("no number at {pointer} in {value}"))
}

fn usize_of(value: &Value, key: &str) -> anyhow::Result<usize> {
    value
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .with_context(|| format!("no count {key} in {value}"))
}

/// A pairs run's figures.
#[derive(Debug, Clone, Copy)]
struct Pairs {
    per_sec: f64,
    lost: f64,
    out_of_order: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Pairs {
    fn from_json(value: &Value) -> anyhow::Result<Self> {
        Ok(Self {
            per_sec: f64_of(value, "/delivered_per_sec")?,
            lost: f64_of(value, "/lost")?,
            out_of_order: f64_of(value, "/out_of_order")?,
            p50_ms: f64_of(value, "/latency/p50_us")? / 1000.0,
            p99_ms: f64_of(value, "/latency/p99_us")? / 1000.0,
            max_ms: f64_of(value, "/latency/max_us")? / 1000.0,
        })
    }
}

/// Scenario 9's figures for one server: the quiet pairs in each run, and what the
/// abusers did.
#[derive(Debug, Clone, Copy)]
struct Fairness {
    alone: Pairs,
    flooded: Pairs,
    churned: Pairs,
    /// Messages the flooding socket wrote.
    flood_sent: f64,
    /// Connections the churning sockets opened and closed.
    churn_opened: f64,
}

/// Scenario 3's figures for one server.
#[derive(Debug, Clone, Copy)]
struct Held {
    echoed: usize,
    bytes_per_connection: f64,
}

/// The store-and-drain figures.
#[derive(Debug, Clone, Copy)]
struct Backlog {
    messages: f64,
    stored_per_sec: f64,
    drained_per_sec: f64,
}

impl Backlog {
    fn from_json(value: &Value) -> anyhow::Result<Self> {
        Ok(Self {
            messages: f64_of(value, "/messages")?,
            stored_per_sec: f64_of(value, "/stored_per_sec")?,
            drained_per_sec: f64_of(value, "/drained_per_sec")?,
        })
    }
}

/// How many messages the browser's crypto cost is measured over.
const BROWSER_CRYPTO_MESSAGES: &str = "2000";

/// What encrypting and decrypting one message costs the web app: the shared measurement
/// in headless Chromium (`client/tests/crypto_cost.rs`, built in release with
/// [`BROWSER_CRYPTO_MESSAGES`]), read from the line it prints.
fn crypto_cost_in_browser(sh: &Shell) -> anyhow::Result<CryptoCost> {
    toolchain::ensure_debian_packages(
        sh,
        &[
            ("chromium", "chromium"),
            ("chromedriver", "chromium-driver"),
        ],
    )?;
    let output = cmd!(
        sh,
        "cargo test --locked --release -p relay-client --target wasm32-unknown-unknown --test crypto_cost -- --nocapture"
    )
    .env("PATH", toolchain::path_with_tools(sh)?)
    .env("RELAY_CRYPTO_COST_MESSAGES", BROWSER_CRYPTO_MESSAGES)
    .ignore_stderr()
    .read()?;
    let json = output
        .lines()
        .find_map(|line| line.split_once("crypto-cost ").map(|(_, json)| json))
        .context("the browser test printed no `crypto-cost` line")?;
    CryptoCost::from_json(&serde_json::from_str(json).context("its figures")?)
}

/// What end-to-end encryption costs a client per message (`relay-loadgen crypto`, or the
/// same in the browser).
#[derive(Debug, Clone, Copy)]
struct CryptoCost {
    encrypt_us: f64,
    decrypt_us: f64,
    first_decrypt_us: f64,
    encrypted_bytes: f64,
}

impl CryptoCost {
    fn from_json(value: &Value) -> anyhow::Result<Self> {
        Ok(Self {
            encrypt_us: f64_of(value, "/encrypt_us")?,
            decrypt_us: f64_of(value, "/decrypt_us")?,
            first_decrypt_us: f64_of(value, "/first_decrypt_us")?,
            encrypted_bytes: f64_of(value, "/encrypted_bytes")?,
        })
    }
}

/// Each server's results of one scenario, one per round.
#[derive(Debug)]
struct SideBySide<T> {
    seed: Vec<T>,
    relay: Vec<T>,
}

impl<T> Default for SideBySide<T> {
    fn default() -> Self {
        Self {
            seed: Vec::new(),
            relay: Vec::new(),
        }
    }
}

impl<T> SideBySide<T> {
    fn push(&mut self, who: Server, result: T) {
        match who {
            Server::Seed => self.seed.push(result),
            Server::Relay => self.relay.push(result),
        }
    }

    /// The mean of `figure` over each server's rounds, (seed, relay).
    fn mean(&self, figure: impl Fn(&T) -> f64) -> (f64, f64) {
        let mean = |rounds: &[T]| {
            if rounds.is_empty() {
                f64::NAN
            } else {
                rounds.iter().map(&figure).sum::<f64>() / rounds.len() as f64
            }
        };
        (mean(&self.seed), mean(&self.relay))
    }

    /// Every round's `figure`, "a / b" for each server.
    fn rounds(&self, figure: impl Fn(&T) -> String) -> (String, String) {
        let list = |rounds: &[T]| rounds.iter().map(&figure).collect::<Vec<_>>().join(" / ");
        (list(&self.seed), list(&self.relay))
    }
}

/// One file of the web app's bundle.
#[derive(Debug)]
struct BundleFile {
    kind: &'static str,
    name: String,
    raw: u64,
    gzip: u64,
    /// The Brotli copy the server sends, if the build wrote one.
    brotli: Option<u64>,
}

/// The wasm, js and css files of `dist`, raw, gzipped (the default level, the measure the
/// target is set in) and as the server sends them to a browser that takes Brotli.
fn bundle_sizes(dist: &Path) -> anyhow::Result<Vec<BundleFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => "wasm",
            Some("js") => "js",
            Some("css") => "css",
            _ => continue,
        };
        let bytes = std::fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes)?;
        files.push(BundleFile {
            kind,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            raw: bytes.len() as u64,
            gzip: gz.finish()?.len() as u64,
            brotli: precompress::brotli_size(&path),
        });
    }
    files.sort_by_key(|f| f.kind);
    Ok(files)
}

/// Where and when the run happened.
#[derive(Debug, Default)]
struct About {
    date: String,
    commit: String,
    cpu: String,
    cores: usize,
    memory_gib: f64,
    kernel: String,
    rustc: String,
    node: String,
    took: Duration,
}

impl About {
    fn collect(sh: &Shell, took: Duration) -> anyhow::Result<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(f64::NAN);
        let mut commit = cmd!(sh, "git rev-parse --short HEAD").read()?;
        if !cmd!(
            sh,
            "git status --porcelain --untracked-files=no -- . :!docs/benchmarks.md"
        )
        .read()?
        .is_empty()
        {
            commit.push_str(" (with uncommitted changes)");
        }
        Ok(Self {
            date: cmd!(sh, "date -u +%Y-%m-%d").read()?,
            commit,
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            rustc: cmd!(sh, "rustc --version").read()?,
            node: cmd!(sh, "node --version").read()?,
            took,
        })
    }
}

/// Everything measured.
#[derive(Debug, Default)]
struct Report {
    full_load: SideBySide<Pairs>,
    fixed_rate: SideBySide<Pairs>,
    held: SideBySide<Held>,
    most: SideBySide<usize>,
    durable_full: Option<Pairs>,
    durable_encrypted: Option<Pairs>,
    durable_paced: Option<Pairs>,
    backlog: Option<Backlog>,
    cluster_full: SideBySide<Pairs>,
    cluster_rate: SideBySide<Pairs>,
    cluster_local: SideBySide<Pairs>,
    cluster_durable: Option<Pairs>,
    fairness: SideBySide<Fairness>,
    crypto: Option<CryptoCost>,
    /// The same, in the web app in Chromium.
    crypto_browser: Option<CryptoCost>,
    bundle: Vec<BundleFile>,
    about: About,
}

/// A row of the table.
struct Row {
    scenario: &'static str,
    metric: String,
    seed: String,
    relay: String,
    ratio: String,
    target: String,
}

impl Report {
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut row =
            |scenario, metric: &str, seed: String, relay: String, ratio: String, target: &str| {
                rows.push(Row {
                    scenario,
                    metric: metric.to_owned(),
                    seed,
                    relay,
                    ratio,
                    target: target.to_owned(),
                });
            };
        let ratio = |seed: f64, relay: f64| format!("{:.2}×", relay / seed);
        let verdict =
            |met: bool, what: &str| format!("{what}: {}", if met { "met" } else { "missed" });

        let s1 = &self.full_load;
        let (seed_rate, relay_rate) = s1.mean(|p| p.per_sec);
        let (seed_lost, relay_lost) = s1.mean(|p| p.lost);
        let (seed_ooo, relay_ooo) = s1.mean(|p| p.out_of_order);
        let clean = relay_lost == 0.0 && relay_ooo == 0.0;
        let relay_rate_single = relay_rate;
        row(
            "1 full load",
            "delivered msg/s",
            rate(seed_rate),
            rate(relay_rate),
            ratio(seed_rate, relay_rate),
            &verdict(
                relay_rate >= 5.0 * seed_rate && clean,
                "≥ 5×, none lost or out of order",
            ),
        );
        row(
            "1 full load",
            "lost (mean per round)",
            count(seed_lost),
            count(relay_lost),
            String::new(),
            "",
        );
        row(
            "1 full load",
            "out of order (mean per round)",
            count(seed_ooo),
            count(relay_ooo),
            String::new(),
            "",
        );
        for (name, figure) in [("p50", 0), ("p99", 1)] {
            let (seed, relay) = s1.mean(|p| if figure == 0 { p.p50_ms } else { p.p99_ms });
            row(
                "1 full load",
                &format!("latency {name}"),
                ms(seed),
                ms(relay),
                ratio(seed, relay),
                "",
            );
        }

        let s2 = &self.fixed_rate;
        let (seed_p50, relay_p50) = s2.mean(|p| p.p50_ms);
        let (seed_p99, relay_p99) = s2.mean(|p| p.p99_ms);
        let (seed_max, relay_max) = s2.mean(|p| p.max_ms);
        let (seed_got, relay_got) = s2.mean(|p| p.per_sec);
        row(
            "2 10k msg/s",
            "delivered msg/s",
            rate(seed_got),
            rate(relay_got),
            String::new(),
            "",
        );
        row(
            "2 10k msg/s",
            "latency p50",
            ms(seed_p50),
            ms(relay_p50),
            ratio(seed_p50, relay_p50),
            "",
        );
        row(
            "2 10k msg/s",
            "latency p99",
            ms(seed_p99),
            ms(relay_p99),
            ratio(seed_p99, relay_p99),
            &verdict(relay_p99 <= 0.5 * seed_p99, "≤ 0.5×"),
        );
        row(
            "2 10k msg/s",
            "latency max",
            ms(seed_max),
            ms(relay_max),
            ratio(seed_max, relay_max),
            "",
        );

        let s3 = &self.held;
        let (seed_bytes, relay_bytes) = s3.mean(|h| h.bytes_per_connection);
        let (seed_echo, relay_echo) = s3.mean(|h| h.echoed as f64);
        row(
            "3 connections",
            &format!("server RSS per connection ({HELD} held)"),
            kib(seed_bytes),
            kib(relay_bytes),
            ratio(seed_bytes, relay_bytes),
            &verdict(relay_bytes <= seed_bytes, "≤ 1×"),
        );
        row(
            "3 connections",
            &format!("echoed, of {HELD} (mean per round)"),
            count(seed_echo),
            count(relay_echo),
            String::new(),
            "",
        );
        let (seed_most, relay_most) = self.most.mean(|n| *n as f64);
        row(
            "3 connections",
            &format!("most held at once, of {}", 2 * MOST_PER_PROCESS),
            count(seed_most),
            count(relay_most),
            String::new(),
            "",
        );

        if let Some(durable) = &self.durable_full {
            row(
                "4 typed, durable",
                "stored + delivered msg/s (full load)",
                format!("{} (scenario 1)", rate(seed_rate)),
                rate(durable.per_sec),
                ratio(seed_rate, durable.per_sec),
                &verdict(
                    durable.per_sec >= 1.5 * seed_rate,
                    "≥ 1.5× seed's scenario 1",
                ),
            );
            row(
                "4 typed, durable",
                "lost / out of order (full load)",
                String::new(),
                format!("{} / {}", count(durable.lost), count(durable.out_of_order)),
                String::new(),
                "",
            );
            row(
                "4 typed, durable",
                "latency p50 / p99 (full load)",
                String::new(),
                format!("{} / {}", ms(durable.p50_ms), ms(durable.p99_ms)),
                String::new(),
                "",
            );
        }
        if let Some(encrypted) = &self.durable_encrypted {
            let plain = self.durable_full.as_ref().map_or(f64::NAN, |d| d.per_sec);
            row(
                "4 typed, durable",
                "end-to-end encrypted: stored + delivered msg/s (full load; ratio to plain)",
                format!("{} (plain, above)", rate(plain)),
                rate(encrypted.per_sec),
                ratio(plain, encrypted.per_sec),
                "",
            );
            row(
                "4 typed, durable",
                "end-to-end encrypted: lost / out of order; p50 / p99",
                String::new(),
                format!(
                    "{} / {}; {} / {}",
                    count(encrypted.lost),
                    count(encrypted.out_of_order),
                    ms(encrypted.p50_ms),
                    ms(encrypted.p99_ms)
                ),
                String::new(),
                "",
            );
        }
        if let Some(paced) = &self.durable_paced {
            row(
                "4 typed, durable",
                "send → delivery p50 / p99 / max, 1,000 msg/s",
                String::new(),
                format!(
                    "{} / {} / {}",
                    ms(paced.p50_ms),
                    ms(paced.p99_ms),
                    ms(paced.max_ms)
                ),
                String::new(),
                "",
            );
        }
        if let Some(backlog) = &self.backlog {
            row(
                "4 typed, durable",
                &format!(
                    "offline recipient: {} stored, msg/s",
                    count(backlog.messages)
                ),
                String::new(),
                rate(backlog.stored_per_sec),
                String::new(),
                "",
            );
            row(
                "4 typed, durable",
                "then drained when it comes online, msg/s",
                String::new(),
                rate(backlog.drained_per_sec),
                String::new(),
                "",
            );
        }
        let c6 = &self.cluster_full;
        let (peer_rate, relay_rate) = c6.mean(|p| p.per_sec);
        let (peer_lost, relay_lost) = c6.mean(|p| p.lost);
        let (peer_ooo, relay_ooo) = c6.mean(|p| p.out_of_order);
        row(
            "6 two nodes, full load",
            "delivered msg/s",
            rate(peer_rate),
            rate(relay_rate),
            ratio(peer_rate, relay_rate),
            &verdict(
                relay_rate >= 3.0 * peer_rate && relay_lost == 0.0 && relay_ooo == 0.0,
                "≥ 3×, none lost or out of order",
            ),
        );
        row(
            "6 two nodes, full load",
            "lost / out of order (mean per round)",
            format!("{} / {}", count(peer_lost), count(peer_ooo)),
            format!("{} / {}", count(relay_lost), count(relay_ooo)),
            String::new(),
            "",
        );
        let (peer_p99, relay_p99) = c6.mean(|p| p.p99_ms);
        row(
            "6 two nodes, full load",
            "latency p99",
            ms(peer_p99),
            ms(relay_p99),
            ratio(peer_p99, relay_p99),
            "",
        );
        let c7 = &self.cluster_rate;
        let (peer_p50, relay_p50) = c7.mean(|p| p.p50_ms);
        let (peer_p99, relay_p99) = c7.mean(|p| p.p99_ms);
        let (peer_got, relay_got) = c7.mean(|p| p.per_sec);
        row(
            "7 two nodes, 10k msg/s",
            "delivered msg/s",
            rate(peer_got),
            rate(relay_got),
            String::new(),
            "",
        );
        row(
            "7 two nodes, 10k msg/s",
            "latency p50",
            ms(peer_p50),
            ms(relay_p50),
            ratio(peer_p50, relay_p50),
            "",
        );
        row(
            "7 two nodes, 10k msg/s",
            "latency p99",
            ms(peer_p99),
            ms(relay_p99),
            ratio(peer_p99, relay_p99),
            &verdict(relay_p99 <= 0.6 * peer_p99, "≤ 0.6×"),
        );
        let c10 = &self.cluster_local;
        let (peer_local, relay_local) = c10.mean(|p| p.per_sec);
        let (peer_lost, relay_lost) = c10.mean(|p| p.lost);
        let (peer_ooo, relay_ooo) = c10.mean(|p| p.out_of_order);
        row(
            "10 two nodes, pairs on one",
            "delivered msg/s",
            rate(peer_local),
            rate(relay_local),
            ratio(peer_local, relay_local),
            "",
        );
        row(
            "10 two nodes, pairs on one",
            "… as a multiple of its own scenario 1 (lost / out of order)",
            format!(
                "{:.2}× ({} / {})",
                peer_local / seed_rate,
                count(peer_lost),
                count(peer_ooo)
            ),
            format!(
                "{:.2}× ({} / {})",
                relay_local / relay_rate_single,
                count(relay_lost),
                count(relay_ooo)
            ),
            String::new(),
            &verdict(
                relay_local >= 0.7 * relay_rate_single && relay_lost == 0.0 && relay_ooo == 0.0,
                "Relay ≥ 0.7× its scenario 1",
            ),
        );
        if let Some(durable) = &self.cluster_durable {
            let single = self.durable_full.map_or(f64::NAN, |d| d.per_sec);
            row(
                "8 two nodes, typed, durable",
                "stored + delivered msg/s (full load), Redis AOF fsync always",
                format!("{} (Relay, one node, SQLite)", rate(single)),
                rate(durable.per_sec),
                ratio(single, durable.per_sec),
                "",
            );
            row(
                "8 two nodes, typed, durable",
                "lost / out of order",
                String::new(),
                format!("{} / {}", count(durable.lost), count(durable.out_of_order)),
                String::new(),
                "",
            );
        }
        let f9 = &self.fairness;
        let (seed_alone, relay_alone) = f9.mean(|f| f.alone.p99_ms);
        row(
            "9 fairness",
            "quiet pairs' p99, alone",
            ms(seed_alone),
            ms(relay_alone),
            ratio(seed_alone, relay_alone),
            "",
        );
        for (abuse, with) in [
            (
                "one socket flooding",
                (|f: &Fairness| f.flooded) as fn(&Fairness) -> Pairs,
            ),
            ("1,000 sockets opening and closing", |f: &Fairness| {
                f.churned
            }),
        ] {
            let (seed_p99, relay_p99) = f9.mean(|f| with(f).p99_ms);
            let (seed_lost, relay_lost) = f9.mean(|f| with(f).lost);
            row(
                "9 fairness",
                &format!("quiet pairs' p99, beside {abuse}"),
                ms(seed_p99),
                ms(relay_p99),
                ratio(seed_p99, relay_p99),
                "",
            );
            row(
                "9 fairness",
                "… as a multiple of alone (lost)",
                format!("{:.2}× ({})", seed_p99 / seed_alone, count(seed_lost)),
                format!("{:.2}× ({})", relay_p99 / relay_alone, count(relay_lost)),
                String::new(),
                &verdict(
                    relay_p99 <= 2.0 * relay_alone && relay_lost == 0.0,
                    "Relay ≤ 2× alone, none lost",
                ),
            );
        }
        let (seed_sent, relay_sent) = f9.mean(|f| f.flood_sent);
        let (seed_opened, relay_opened) = f9.mean(|f| f.churn_opened);
        row(
            "9 fairness",
            "the flooder's messages written / the churn's connections",
            format!("{} / {}", count(seed_sent), count(seed_opened)),
            format!("{} / {}", count(relay_sent), count(relay_opened)),
            String::new(),
            "",
        );
        for (scenario, cost) in [
            ("11 end-to-end encryption, native client", &self.crypto),
            (
                "11 end-to-end encryption, web app in Chromium",
                &self.crypto_browser,
            ),
        ] {
            let Some(cost) = cost else { continue };
            for (metric, figure) in [
                ("encrypt one message for one device", us(cost.encrypt_us)),
                ("decrypt it", us(cost.decrypt_us)),
                (
                    "decrypt the first from a device (opens the session)",
                    us(cost.first_decrypt_us),
                ),
                (
                    "a 100-byte text encrypted for one device, JSON",
                    format!("{} bytes", count(cost.encrypted_bytes)),
                ),
            ] {
                row(scenario, metric, String::new(), figure, String::new(), "");
            }
        }
        for file in &self.bundle {
            row(
                "5 web app bundle",
                &format!("{} ({})", file.kind, file.name),
                String::new(),
                format!(
                    "{} raw, {} gzip{}",
                    kb(file.raw),
                    kb(file.gzip),
                    file.brotli
                        .map(|b| format!(", {} Brotli", kb(b)))
                        .unwrap_or_default()
                ),
                String::new(),
                "",
            );
        }
        let (raw, gzip) = self
            .bundle
            .iter()
            .fold((0, 0), |(r, g), f| (r + f.raw, g + f.gzip));
        let brotli = self
            .bundle
            .iter()
            .map(|f| f.brotli)
            .sum::<Option<u64>>()
            .map(|b| format!(", {} Brotli", kb(b)))
            .unwrap_or_default();
        row(
            "5 web app bundle",
            "wasm + js + css",
            String::new(),
            format!("{} raw, {} gzip{brotli}", kb(raw), kb(gzip)),
            String::new(),
            &verdict(gzip <= 120_000, "≤ 120 KB gzip"),
        );
        rows
    }

    /// The table, as Markdown.
    fn table(&self) -> String {
        let mut out = String::from(
            "| Scenario | Metric | Node.js | Relay | Relay / Node.js | Target |\n|---|---|---:|---:|---:|---|\n",
        );
        for r in self.rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.scenario, r.metric, r.seed, r.relay, r.ratio, r.target
            );
        }
        out
    }

    /// docs/benchmarks.md.
    fn markdown(&self) -> String {
        let a = &self.about;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Benchmarks\n\n\
             Written by `cargo xtask bench`: do not edit by hand. Relay against, in one run on \
             the same machine: the seed's Node.js server (`../shared/peers/seed-node`, socket.io \
             4) in scenarios 1–4, and socket.io 4 with its official Redis adapter \
             (`../shared/peers/socketio-redis`, what a Node.js user runs to scale the seed out) \
             in scenarios 6, 7 and 10, both sides then on two nodes sharing one redis-server. Driven by \
             `relay-loadgen` (our Socket.IO client core over its native driver). Compare the \
             ratios: these machines are noisy.\n\n\
             - Date: {}\n- Commit: {}\n- Machine: {} cores ({}), {:.1} GiB, Linux {}\n\
             - Toolchain: {}, node {}\n- The run took {:.0} s\n",
            a.date,
            a.commit,
            a.cores,
            a.cpu,
            a.memory_gib,
            a.kernel,
            a.rustc,
            a.node,
            a.took.as_secs_f64()
        );
        let _ = writeln!(out, "## Results\n\n{}", self.table());
        let _ = writeln!(
            out,
            "Figures are means over {ROUNDS} rounds ({CLUSTER_ROUNDS} for scenarios 6, 7 and 10); \
             the rounds alternate which side goes first, and every measurement starts fresh \
             server processes (and a fresh redis-server).\n"
        );
        let (s1_seed, s1_relay) = self.full_load.rounds(|p| rate(p.per_sec));
        let (s2_seed, s2_relay) = self.fixed_rate.rounds(|p| ms(p.p99_ms));
        let (s3_seed, s3_relay) = self.held.rounds(|h| kib(h.bytes_per_connection));
        let (s6_peer, s6_relay) = self.cluster_full.rounds(|p| rate(p.per_sec));
        let (s7_peer, s7_relay) = self.cluster_rate.rounds(|p| ms(p.p99_ms));
        let (s10_peer, s10_relay) = self.cluster_local.rounds(|p| rate(p.per_sec));
        let (s9_seed, s9_relay) = self.fairness.rounds(|f| {
            format!(
                "{} · {} · {}",
                ms(f.alone.p99_ms),
                ms(f.flooded.p99_ms),
                ms(f.churned.p99_ms)
            )
        });
        let _ = writeln!(
            out,
            "### Each round\n\n| Figure | Node.js | Relay |\n|---|---|---|\n\
             | 1: delivered msg/s | {s1_seed} | {s1_relay} |\n\
             | 2: latency p99 | {s2_seed} | {s2_relay} |\n\
             | 3: RSS per connection | {s3_seed} | {s3_relay} |\n\
             | 6: delivered msg/s, two nodes | {s6_peer} | {s6_relay} |\n\
             | 7: latency p99, two nodes | {s7_peer} | {s7_relay} |\n\
             | 10: delivered msg/s, two nodes, pairs on one | {s10_peer} | {s10_relay} |\n\
             | 9: quiet p99 alone · flooded · churned | {s9_seed} | {s9_relay} |\n"
        );
        out.push_str(SCENARIOS);
        out
    }
}

/// What each scenario does, and how to run it again.
const SCENARIOS: &str = "\
## The scenarios

1. **Full load, seed protocol.** 50 sender/receiver pairs (`init`, then
   `message(\"uuid|text\")`), each sender keeping at most 64 messages unanswered by its
   receiver; 2 s of warm-up, then 10 s measured. Messages carry a sequence number and a
   send time: lost, out of order and latency are counted at the receivers.
2. **Fixed rate.** The same pairs, sending 10,000 messages/s in all, evenly paced.
3. **Connections.** 10,000 sockets connect, register (`init`), send one message to
   themselves and get it back, then stay idle; the server's resident memory (VmRSS)
   before and while they are held, divided by 10,000. Then two load generator processes
   open 10,000 each against a fresh server: the most held at once (a process here is
   capped near 19.9k sockets by its open-files limit).
4. **Typed protocol, durable (Relay only).** The pairs of scenario 1 over Relay's own
   protocol: every message is stored in SQLite (synchronous=FULL, group commit) before it
   is acknowledged and delivered, and the receivers confirm each one. At full load, then
   at 1,000 messages/s for the latency of an online recipient. Then one sender stores
   10,000 messages for a recipient who is away, and the recipient comes and drains them.
5. **The web app's release bundle**, as `trunk build --release` writes it to `dist/`:
   raw, gzip at the default level (the target's measure) and the Brotli copy the server
   sends.
6. **Two nodes, full load, seed protocol.** A fresh redis-server (AOF, `appendfsync
   always`) and two nodes on it: Relay's (`--redis-url`), or socket.io's with the
   official Redis adapter and a room per uuid. The 50 pairs of scenario 1 with every
   sender on the first node and every receiver on the second, so each message crosses
   Redis.
7. **Two nodes, fixed rate.** The same, at 10,000 messages/s in all.
8. **Two nodes, typed protocol, durable (Relay only).** Scenario 4's full load across
   the two nodes: each message stored in Redis before it is acknowledged, delivered on
   the other node, confirmed, and its receipt carried back. Compared with scenario 4 (one
   node, SQLite).

10. **Two nodes, every pair on one.** Scenario 6's cluster, with the 50 pairs of
    scenario 1 all on the first node: what being in a cluster costs a node for messages
    between its own sockets, compared with the same server alone (scenario 1).

9. **Fairness.** 20 quiet pairs sending 1,000 messages/s in all (seed protocol), alone;
   then beside one socket flooding `message`s as fast as its connection takes them (it
   connects again whenever it is cut); then beside 1,000 sockets that connect, join and
   close, over and over. The abusers connect from another loopback address
   (127.0.0.2) than the quiet pairs. Relay runs with its default limits here (the other
   scenarios lift them: one load generator plays thousands of clients from one
   address). The quiet pairs' p99, and how many times their p99 alone it is.

Where the memory per connection goes, and what was done about it, is in
[performance.md](performance.md).

## Reproduce

```sh
cargo xtask bench
```

It builds in release, installs the Node.js peers' npm packages under `target/bench/`
when they are missing (`RELAY_SEED_DIR` and `RELAY_SOCKETIO_REDIS_DIR` point elsewhere
than `../shared/peers/`) and redis-server when it is missing, runs every scenario against
127.0.0.1 only, prints the table and rewrites this file. About ten minutes on a 2-core
machine. A single scenario against any server:

```sh
cargo run --release -p relay-loadgen -- --url http://127.0.0.1:3000 pairs --help
```
";

fn rate(per_sec: f64) -> String {
    if per_sec.is_nan() {
        return "–".into();
    }
    let n = per_sec.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn count(n: f64) -> String {
    rate(n)
}

fn ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn us(us: f64) -> String {
    format!("{us:.1} µs")
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}
