//! [`Notices`]: how a store tells its node what it committed, so the node can put it into
//! its sockets.
//!
//! A bounded channel: a store that runs on its own thread waits for room
//! ([`Notices::send_blocking`], backpressure rather than loss); one that must not wait
//! (a callback on a Redis connection) drops the notice and raises a flag
//! ([`Notices::send`]), which the node reads as [`Notice::Missed`] and answers by
//! reading the store again.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use relay_shared::{
    Envelope, PeerId,
    device::{DeviceId, DeviceInfo},
};
use tokio::sync::mpsc;

use super::ReceiptFor;

/// Something a store committed that sockets may be waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A message for `envelope.to`: stored (or stored again, a resend of one still
    /// waiting: its first delivery may never have happened), or, with `seq` 0, relayed
    /// live and not kept (the seed protocol).
    Message(Envelope),
    /// A message `envelope.from` sent, stored for its other devices.
    Sent(Envelope),
    /// `id`'s devices changed: now `devices`; `unlinked` was just removed.
    Devices {
        /// Whose.
        id: PeerId,
        /// Its devices now.
        devices: Vec<DeviceInfo>,
        /// The device unlinked, if one was.
        unlinked: Option<DeviceId>,
    },
    /// A message of `sender` reached its recipient's client.
    Receipt(ReceiptFor),
    /// `owner` blocked `peer` (`on`), or unblocked it.
    Blocked {
        /// Who blocks.
        owner: PeerId,
        /// Whom.
        peer: PeerId,
        /// Blocked from now on, or no longer.
        on: bool,
    },
    /// Some notices may have been lost: read what waits from the store again.
    Missed,
}

/// The sending half, given to a store.
#[derive(Debug, Clone)]
pub struct Notices {
    tx: mpsc::Sender<Notice>,
    missed: Arc<AtomicBool>,
}

/// The receiving half, read by the node.
#[derive(Debug)]
pub struct NoticeStream {
    rx: mpsc::Receiver<Notice>,
    missed: Arc<AtomicBool>,
}

impl Notices {
    /// A channel holding up to `capacity` notices.
    pub fn channel(capacity: usize) -> (Notices, NoticeStream) {
        let (tx, rx) = mpsc::channel(capacity);
        let missed = Arc::new(AtomicBool::new(false));
        (
            Notices {
                tx,
                missed: missed.clone(),
            },
            NoticeStream { rx, missed },
        )
    }

    /// Sends `notice`, or, if the channel is full, drops it and remembers that something
    /// was missed. Never waits.
    pub fn send(&self, notice: Notice) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(notice) {
            self.missed();
        }
    }

    /// Sends `notice`, waiting for room. Blocks the thread: only for a store's own thread.
    pub fn send_blocking(&self, notice: Notice) {
        // The node stopped reading: it is shutting down, nobody waits for the notice.
        let _ = self.tx.blocking_send(notice);
    }

    /// Some notices were lost (a connection dropped): the node must read the store again.
    pub fn missed(&self) {
        self.missed.store(true, Ordering::Release);
        // Wake the reader if it is idle; if the channel is full it has work anyway.
        let _ = self.tx.try_send(Notice::Missed);
    }
}

impl NoticeStream {
    /// The next notice; `None` once every sender is gone.
    pub async fn next(&mut self) -> Option<Notice> {
        if self.missed.swap(false, Ordering::AcqRel) {
            return Some(Notice::Missed);
        }
        let notice = self.rx.recv().await?;
        if notice == Notice::Missed {
            self.missed.store(false, Ordering::Release);
        }
        Some(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(n: u64) -> Envelope {
        Envelope {
            id: relay_shared::MessageId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
            from: "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap(),
            to: "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b72".parse().unwrap(),
            body: n.to_string(),
            encrypted: None,
            sent_at: 0,
            seq: n,
        }
    }

    #[tokio::test]
    async fn notices_arrive_in_order_and_an_overflow_is_reported_as_missed() {
        let (notices, mut stream) = Notices::channel(2);
        notices.send(Notice::Message(envelope(1)));
        notices.send(Notice::Message(envelope(2)));
        notices.send(Notice::Message(envelope(3))); // no room: dropped
        assert_eq!(stream.next().await, Some(Notice::Missed));
        assert_eq!(stream.next().await, Some(Notice::Message(envelope(1))));
        assert_eq!(stream.next().await, Some(Notice::Message(envelope(2))));
        drop(notices);
        assert_eq!(stream.next().await, None);
    }
}
