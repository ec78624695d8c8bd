//! Many connections at once: each opens, registers its uuid the seed way (which both
//! servers speak) and sends one message to itself, which must come back; then all are
//! held, idle, until told to let go.

use std::{sync::Arc, time::Duration};

use relay_native_client::Connection;
use relay_shared::{
    event,
    seed::SeedMessage,
    socketio::{ClientConfig, Event, ReconnectPolicy},
};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::pairs::new_id;

/// A connections run.
#[derive(Debug, Clone)]
pub struct Connections {
    /// The server, `http://host:port`.
    pub url: String,
    /// How many connections to open.
    pub count: usize,
    /// How many may be opening at once.
    pub concurrency: usize,
    /// How long a connection may take to open, register and echo.
    pub timeout: Duration,
}

/// What a connections run found.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// Connections asked for.
    pub attempted: usize,
    /// Opened, registered, and got their message back.
    pub echoed: usize,
    /// Did not.
    pub failed: usize,
    /// Seconds it took to get them all up.
    pub seconds: f64,
}

/// Opens the connections, reports once they are up, then holds them until `hold`
/// changes (or is dropped).
pub async fn run(
    config: Connections,
    report: impl FnOnce(&ConnectionsReport),
    mut hold: watch::Receiver<()>,
) -> ConnectionsReport {
    let started = std::time::Instant::now();
    let gate = Arc::new(Semaphore::new(config.concurrency));
    let (release, released) = watch::channel(());
    let mut tasks = Vec::with_capacity(config.count);
    let (up_tx, mut up_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    for _ in 0..config.count {
        let (gate, url, up, mut released) = (
            gate.clone(),
            config.url.clone(),
            up_tx.clone(),
            released.clone(),
        );
        let timeout = config.timeout;
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let connection = tokio::time::timeout(timeout, echo(&url))
                .await
                .ok()
                .flatten();
            drop(permit);
            let _ = up.send(connection.is_some());
            drop(up);
            if let Some(mut connection) = connection {
                // Held: answering pings, until released.
                loop {
                    tokio::select! {
                        event = connection.next_event() => if event.is_none() { break },
                        _ = released.changed() => break,
                    }
                }
            }
        }));
    }
    drop(up_tx);
    let mut echoed = 0;
    let mut failed = 0;
    // Every task reports once (it keeps its sender while it holds its connection).
    for _ in 0..config.count {
        match up_rx.recv().await {
            Some(true) => echoed += 1,
            Some(false) | None => failed += 1,
        }
    }
    let summary = ConnectionsReport {
        attempted: config.count,
        echoed,
        failed,
        seconds: started.elapsed().as_secs_f64(),
    };
    report(&summary);
    let _ = hold.changed().await;
    let _ = release.send(());
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    summary
}

/// Opens a connection, registers a fresh uuid and waits for a message to itself.
async fn echo(url: &str) -> Option<Connection> {
    let config = ClientConfig {
        // One try: a refused connection is a result here, not something to wait out.
        reconnect: ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        },
        ..ClientConfig::default()
    };
    let mut connection = Connection::connect(url, config).await.ok()?;
    let me = new_id();
    connection.emit(event::INIT, &me.to_string()).ok()?;
    connection
        .emit(event::MESSAGE, &SeedMessage::encode(me, "echo"))
        .ok()?;
    loop {
        match connection.next_event().await? {
            Event::Message(m) if m.event == event::MESSAGE => return Some(connection),
            _ => {}
        }
    }
}
