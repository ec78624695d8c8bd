//! Abusive clients, run beside quiet pairs in the fairness scenario: one socket flooding
//! as fast as the server answers it, or many sockets opening and closing in a loop.
//! Both stop at their deadline and after a fixed number of rounds, whichever comes
//! first.

use std::{net::IpAddr, time::Duration};

use relay_native_client::{ConnectError, Connection};
use relay_shared::{
    ErrorCode, RegisterReply, RegisterRequest, Secret, SendReply, SendRequest, event,
    seed::SeedMessage,
    socketio::{ClientConfig, Event, ReconnectPolicy},
};
use serde::Serialize;
use tokio::time::Instant;

use crate::pairs::{Protocol, new_id};

/// The most connections a flooder opens (it opens another when the server cuts it).
const MAX_FLOOD_CONNECTIONS: u64 = 1_000;
/// The most times one churning socket opens and closes.
const MAX_CHURN_CYCLES: u64 = 100_000;
/// How long one connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection (one try), from the local address `from` if given.
async fn open(url: &str, from: Option<IpAddr>) -> Result<Connection, ConnectError> {
    let connection = Connection::new(url, one_try());
    match from {
        Some(local) => connection.from_local_address(local),
        None => connection,
    }
    .established()
    .await
}

/// One try per connection: a refusal is a result here, not something to wait out.
fn one_try() -> ClientConfig {
    ClientConfig {
        reconnect: ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        },
        ..ClientConfig::default()
    }
}

/// What a flood did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodReport {
    /// `send`s written.
    pub sent: u64,
    /// Answered `sent` (typed protocol).
    pub accepted: u64,
    /// Answered `rate_limited`.
    pub rate_limited: u64,
    /// Refused for another reason (`queue_full`, …).
    pub refused: u64,
    /// Connections opened (the server may cut a flooder; it comes back).
    pub connections: u64,
}

/// Floods from one socket for `duration`, from the local address `from` if given: in the seed protocol, `message`s to another
/// id written as fast as the connection takes them (the seed protocol asks for no
/// reply); in the typed protocol, registered under a fresh id, `window` `send`s kept
/// unanswered at all times.
pub async fn flood(
    url: &str,
    from: Option<IpAddr>,
    protocol: Protocol,
    window: usize,
    duration: Duration,
) -> FloodReport {
    let end = Instant::now() + duration;
    let mut report = FloodReport::default();
    while Instant::now() < end && report.connections < MAX_FLOOD_CONNECTIONS {
        report.connections += 1;
        let Ok(Ok(mut connection)) = tokio::time::timeout(CONNECT_TIMEOUT, open(url, from)).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let flooded = match protocol {
            Protocol::Seed => flood_seed(&mut connection, window, end, &mut report).await,
            // What a flood costs the server is the same encrypted or not: it reads
            // neither.
            Protocol::Typed | Protocol::Encrypted => {
                flood_typed(&mut connection, window, end, &mut report).await
            }
        };
        if flooded.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    report
}

/// Seed `message`s, a batch of `window` at a time, until `end` or the connection ends.
async fn flood_seed(
    connection: &mut Connection,
    window: usize,
    end: Instant,
    report: &mut FloodReport,
) -> Option<()> {
    connection.emit(event::INIT, &new_id().to_string()).ok()?;
    let payload = SeedMessage::encode(new_id(), "flood");
    while Instant::now() < end {
        for _ in 0..window {
            connection.emit(event::MESSAGE, &payload).ok()?;
            report.sent += 1;
        }
        tokio::time::timeout_at(end, connection.flush())
            .await
            .ok()?;
        // Take what the server said meanwhile, without waiting for more.
        while let Ok(event) = tokio::time::timeout(Duration::ZERO, connection.next_event()).await {
            if matches!(event?, Event::Disconnected(_)) {
                return Some(());
            }
        }
    }
    Some(())
}

/// Registers `connection`, typed, under a fresh id; whether the server accepted it.
async fn registers(connection: &mut Connection) -> bool {
    let Ok(secret) = format!("churn-{}", uuid::Uuid::new_v4().simple()).parse::<Secret>() else {
        return false;
    };
    let register = RegisterRequest {
        id: new_id(),
        secret,
    };
    matches!(
        connection
            .call::<_, RegisterReply>(event::REGISTER, &register, CONNECT_TIMEOUT)
            .await,
        Ok(RegisterReply::Registered { .. })
    )
}

/// Typed `send`s, `window` of them unanswered at all times, until `end` or the
/// connection ends.
async fn flood_typed(
    connection: &mut Connection,
    window: usize,
    end: Instant,
    report: &mut FloodReport,
) -> Option<()> {
    let secret: Secret = format!("flood-{}", uuid::Uuid::new_v4().simple())
        .parse()
        .ok()?;
    let register = RegisterRequest {
        id: new_id(),
        secret,
    };
    let registered = connection
        .call::<_, RegisterReply>(event::REGISTER, &register, CONNECT_TIMEOUT)
        .await;
    let Ok(RegisterReply::Registered { .. }) = registered else {
        return None;
    };
    let victim = new_id();
    let mut in_flight = 0;
    loop {
        while in_flight < window {
            let request = SendRequest {
                to: victim,
                body: "flood".into(),
                id: None,
                encrypted: None,
            };
            connection
                .emit_with_ack(event::SEND, &request, CONNECT_TIMEOUT)
                .ok()?;
            in_flight += 1;
            report.sent += 1;
        }
        match tokio::time::timeout_at(end, connection.next_event()).await {
            Ok(Some(Event::Ack(_, reply))) => {
                in_flight -= 1;
                match reply.decode::<SendReply>() {
                    Ok(SendReply::Sent { .. }) => report.accepted += 1,
                    Ok(SendReply::Rejected(r)) if r.code == ErrorCode::RateLimited => {
                        report.rate_limited += 1;
                    }
                    _ => report.refused += 1,
                }
            }
            Ok(Some(Event::AckFailed(..))) => in_flight -= 1,
            Ok(Some(Event::Disconnected(_)) | None) | Err(_) => return Some(()),
            Ok(Some(_)) => {}
        }
    }
}

/// What the churn did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnReport {
    /// Connections opened (and closed again).
    pub opened: u64,
    /// Attempts that failed or were refused.
    pub failed: u64,
}

/// `sockets` sockets, each opening a connection, joining (and, with `register`,
/// registering typed under a fresh id), and closing it, over and over, for `duration`,
/// from the local address `from` if given.
pub async fn churn(
    url: &str,
    from: Option<IpAddr>,
    sockets: usize,
    duration: Duration,
    register: bool,
) -> ChurnReport {
    let end = Instant::now() + duration;
    let tasks: Vec<_> = (0..sockets)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut report = ChurnReport::default();
                for _ in 0..MAX_CHURN_CYCLES {
                    if Instant::now() >= end {
                        break;
                    }
                    match tokio::time::timeout_at(end, open(&url, from)).await {
                        Ok(Ok(mut connection)) => {
                            if register && !registers(&mut connection).await {
                                report.failed += 1;
                            } else {
                                report.opened += 1;
                            }
                            connection.disconnect().await;
                        }
                        Ok(Err(_)) => {
                            report.failed += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(_) => break,
                    }
                }
                report
            })
        })
        .collect();
    let mut total = ChurnReport::default();
    for task in tasks {
        if let Ok(report) = task.await {
            total.opened += report.opened;
            total.failed += report.failed;
        }
    }
    total
}
