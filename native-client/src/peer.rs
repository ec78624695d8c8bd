//! [`Peer`]: a peer of Relay's typed protocol over a native [`Connection`]: registers on
//! every connect, resends what the server has not stored, reports each message once,
//! confirms what arrived.

use std::collections::VecDeque;

use futures_util::FutureExt;

use relay_shared::{
    MessageId, PeerId, Secret,
    crypto::Crypto,
    messenger::{Messenger, Update},
    socketio::{ClientConfig, Event},
};

use crate::connection::Connection;

/// A typed-protocol peer. Received messages count as kept as soon as they are reported;
/// [`next_update`](Self::next_update) confirms them all at once whenever it has nothing
/// more to read without waiting, [`next_event`](Self::next_event) after each event.
pub struct Peer {
    connection: Connection,
    messenger: Messenger,
    updates: VecDeque<Update>,
    /// Events handled since the last confirmation: bounds how long one waits under a
    /// stream that never pauses.
    since_confirm: usize,
}

/// Events after which [`Peer::next_update`] confirms even if more are ready.
const CONFIRM_EVERY: usize = 256;
/// How often [`Peer::next_update`], while waiting, sends again what was refused for a
/// passing reason.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Peer {
    /// A peer `me`, proving it with `secret`, talking to the server at `server`; it
    /// connects on the first [`next_update`](Self::next_update).
    pub fn new(server: &str, config: ClientConfig, me: PeerId, secret: Secret) -> Self {
        Self {
            connection: Connection::new(server, config),
            messenger: Messenger::new(me, secret, Vec::new(), []),
            updates: VecDeque::new(),
            since_confirm: 0,
        }
    }

    /// The same peer with its messenger changed by `change` (to link instead of
    /// registering, say, or to encrypt end to end).
    pub fn configured(self, change: impl FnOnce(Messenger) -> Messenger) -> Self {
        Self {
            messenger: change(self.messenger),
            ..self
        }
    }

    /// Starts encrypting end to end with this device's `crypto` (see
    /// [`Messenger::encrypt_with`]).
    pub fn encrypt_with(&mut self, crypto: Crypto) {
        let (client, now) = self.connection.core();
        self.messenger.encrypt_with(client, crypto, now);
    }

    /// This device's crypto state, if it encrypts: what to pickle to keep it.
    pub fn crypto(&self) -> Option<&Crypto> {
        self.messenger.crypto()
    }

    /// Whether messages to `peer` are end-to-end encrypted, once known.
    pub fn encryption(&self, peer: PeerId) -> Option<bool> {
        self.messenger.encryption(peer)
    }

    /// Trusts `peer`'s changed identity key: what waits for them goes, and what they
    /// sent with it is read (it comes from [`next_update`](Self::next_update)).
    pub fn accept_identity(&mut self, peer: PeerId) {
        let (client, now) = self.connection.core();
        let read = self.messenger.accept_identity(client, peer, now);
        self.updates.extend(read);
    }

    /// Asks the server for a one-time code to link another device of this id: it comes
    /// as [`Update::LinkCode`].
    pub fn request_link_code(&mut self) -> bool {
        let (client, now) = self.connection.core();
        self.messenger.request_link_code(client, now)
    }

    /// This peer's id.
    pub fn me(&self) -> PeerId {
        self.messenger.me()
    }

    /// Sends `body` to `to` (now, or once connected); returns its id.
    pub fn send(&mut self, to: PeerId, body: String) -> MessageId {
        let id = MessageId::from_uuid(uuid::Uuid::new_v4());
        let (client, now) = self.connection.core();
        self.messenger.send(client, to, body, id, now)
    }

    /// Reports these received messages (sender, id) as read, after confirming what came
    /// so far: their senders get read receipts (now, or once connected).
    pub fn read(&mut self, read: Vec<(PeerId, MessageId)>) {
        self.confirm();
        let (client, _) = self.connection.core();
        self.messenger.read(client, read);
    }

    /// Messages not yet stored by the server.
    pub fn unsent(&self) -> usize {
        self.messenger.unsent().len()
    }

    /// The next update; `None` once the connection is closed for good.
    pub async fn next_update(&mut self) -> Option<Update> {
        loop {
            if let Some(update) = self.updates.pop_front() {
                return Some(update);
            }
            // Take what has already arrived without waiting; confirm it in one
            // `received` before waiting, rather than one per message.
            if self.since_confirm >= CONFIRM_EVERY {
                self.confirm();
            }
            let event = match self.connection.next_event().now_or_never() {
                Some(event) => event?,
                None => {
                    self.confirm();
                    // Messages the server refused for a passing reason (a limit, a full
                    // queue of events, an outage) go again now and then.
                    match tokio::time::timeout(RETRY_EVERY, self.connection.next_event()).await {
                        Ok(event) => event?,
                        Err(_) => {
                            let (client, now) = self.connection.core();
                            self.messenger.retry(client, now);
                            continue;
                        }
                    }
                }
            };
            self.handle(&event);
        }
    }

    /// The next raw event, also fed to the messenger (its updates wait for
    /// [`next_update`](Self::next_update)).
    pub async fn next_event(&mut self) -> Option<Event> {
        let event = self.connection.next_event().await?;
        self.handle(&event);
        self.confirm();
        Some(event)
    }

    /// Writes out what is queued (sends, confirmations). Needed only when the peer will
    /// not be driven for a while: [`next_update`](Self::next_update) writes as it goes.
    pub async fn flush(&mut self) {
        self.confirm();
        self.connection.flush().await;
    }

    /// Drops the transport as a failing network would; the peer reconnects by itself.
    pub fn cut(&mut self) {
        self.connection.cut();
    }

    fn handle(&mut self, event: &Event) {
        let (client, now) = self.connection.core();
        let updates = self.messenger.handle(client, event, now);
        self.updates.extend(updates);
        self.since_confirm += 1;
    }

    fn confirm(&mut self) {
        self.since_confirm = 0;
        if self.messenger.has_unconfirmed() {
            let (client, _) = self.connection.core();
            self.messenger.confirm(client);
        }
    }
}
