//! Store and drain (typed protocol, Relay only): one sender stores messages for a
//! recipient who is away, then the recipient comes and takes them all.

use std::time::{Duration, Instant};

use relay_shared::messenger::{Status, Update};
use serde::Serialize;

use crate::pairs::{new_id, registered, typed_peer};

/// What a backlog run found.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogReport {
    /// Messages stored.
    pub messages: usize,
    /// Stored (acknowledged `sent`) per second.
    pub stored_per_sec: f64,
    /// Delivered to the recipient, once it came, per second.
    pub drained_per_sec: f64,
}

/// Stores `count` messages for an absent recipient, then drains them to it.
pub async fn run(url: &str, count: usize, limit: Duration) -> anyhow::Result<BacklogReport> {
    let (recipient, sender_id) = (new_id(), new_id());
    let mut sender = typed_peer(url, sender_id);
    registered(&mut sender).await?;
    let started = Instant::now();
    for i in 0..count {
        sender.send(recipient, format!("backlog {i}"));
    }
    let mut stored = 0;
    tokio::time::timeout(limit, async {
        while stored < count {
            match sender.next_update().await {
                Some(Update::Status {
                    status: Status::Sent { .. },
                    ..
                }) => stored += 1,
                Some(Update::Status {
                    status: Status::Failed(reason),
                    ..
                }) => {
                    anyhow::bail!("refused: {}", reason.message)
                }
                Some(_) => {}
                None => anyhow::bail!("the sender's connection closed"),
            }
        }
        Ok(())
    })
    .await??;
    let stored_in = started.elapsed();

    let mut receiver = typed_peer(url, recipient);
    let started = Instant::now();
    let mut drained = 0;
    tokio::time::timeout(limit, async {
        while drained < count {
            match receiver.next_update().await {
                Some(Update::Received(_)) => drained += 1,
                Some(_) => {}
                None => anyhow::bail!("the recipient's connection closed"),
            }
        }
        Ok(())
    })
    .await??;
    Ok(BacklogReport {
        messages: count,
        stored_per_sec: count as f64 / stored_in.as_secs_f64(),
        drained_per_sec: count as f64 / started.elapsed().as_secs_f64(),
    })
}
