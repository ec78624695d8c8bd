//! A tiny run of every scenario against the real server over TCP: the load generator
//! works, and what it reports adds up. The benchmark itself is `cargo xtask bench`.

use std::time::Duration;

use relay_loadgen::{abuse, backlog, connections, pairs};
use relay_server::{Config, Server};

/// The server on a free port of 127.0.0.1, with its data in a temporary directory.
struct Running {
    url: String,
    _data: tempfile::TempDir,
}

async fn server() -> Running {
    let data = tempfile::tempdir().expect("temporary directory");
    let mut config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        static_dir: data.path().join("no-web-app"),
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    // As in the benchmark: one process plays many clients, as fast as it can.
    config.lift_limits();
    let server = Server::bind(&config).await.expect("server binds");
    let url = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    Running { url, _data: data }
}

fn tiny_pairs(url: &str, protocol: pairs::Protocol, rate: Option<f64>) -> pairs::Pairs {
    pairs::Pairs {
        url: url.to_owned(),
        receivers_url: None,
        pairs: 3,
        window: 8,
        rate,
        protocol,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(500),
        drain: Duration::from_secs(5),
    }
}

fn assert_clean(report: &pairs::PairsReport) {
    assert!(report.sent > 0, "nothing was sent: {report:?}");
    assert_eq!(report.received, report.sent, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.out_of_order, 0, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert!(report.delivered_per_sec > 0.0, "{report:?}");
    assert!(report.latency.p50_us <= report.latency.p99_us, "{report:?}");
    assert!(report.latency.p99_us <= report.latency.max_us, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_at_full_load_in_both_protocols() {
    let server = server().await;
    for protocol in [pairs::Protocol::Seed, pairs::Protocol::Typed] {
        let report = pairs::run(tiny_pairs(&server.url, protocol, None))
            .await
            .expect("pairs run");
        assert_clean(&report);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_at_a_fixed_rate_send_at_that_rate() {
    let server = server().await;
    let report = pairs::run(tiny_pairs(&server.url, pairs::Protocol::Seed, Some(300.0)))
        .await
        .expect("pairs run");
    assert_clean(&report);
    // 300/s over the 0.7 s of warm-up and measuring: about 210, never thousands.
    assert!(
        (100..=400).contains(&report.sent),
        "paced at 300/s, sent {}",
        report.sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_held_until_released() {
    let server = server().await;
    let (release, hold) = tokio::sync::watch::channel(());
    let (up_tx, up) = tokio::sync::oneshot::channel();
    let run = tokio::spawn(connections::run(
        connections::Connections {
            url: server.url.clone(),
            count: 20,
            concurrency: 8,
            timeout: Duration::from_secs(10),
        },
        move |report| {
            let _ = up_tx.send(report.clone());
        },
        hold,
    ));
    let up = tokio::time::timeout(Duration::from_secs(30), up)
        .await
        .expect("the connections come up in time")
        .expect("a report");
    assert_eq!((up.echoed, up.failed), (20, 0), "{up:?}");
    assert!(
        !run.is_finished(),
        "the connections are held until released"
    );
    release.send(()).expect("the run listens");
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("released in time")
        .expect("the run ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_stored_then_drained() {
    let server = server().await;
    let report = backlog::run(&server.url, 50, Duration::from_secs(30))
        .await
        .expect("backlog run");
    assert_eq!(report.messages, 50);
    assert!(report.stored_per_sec > 0.0 && report.drained_per_sec > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_and_a_churn_run_from_another_address_and_report() {
    let server = server().await;
    let from = Some("127.0.0.2".parse().expect("an address"));
    let flood = abuse::flood(
        &server.url,
        from,
        pairs::Protocol::Typed,
        16,
        Duration::from_millis(700),
    )
    .await;
    assert!(flood.accepted > 0, "{flood:?}");
    assert!(
        flood.accepted + flood.rate_limited + flood.refused <= flood.sent,
        "{flood:?}"
    );
    let churn = abuse::churn(&server.url, from, 5, Duration::from_millis(700), false).await;
    assert!(churn.opened >= 5, "{churn:?}");
}
