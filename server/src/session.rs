//! [`Session`]: one socket's state, and the wiring of its events to the [`Relay`].
//!
//! Two socketioxide behaviours would lose or reorder events, and this module is where
//! both are fixed:
//! - the namespace sends the connect packet *before* it spawns the connect handler, so
//!   handlers registered there can miss a client's first events. [`attach`] runs as a
//!   connect *middleware*, which completes before the connect packet is sent;
//! - every event handler's future is spawned as its own task, so one socket's events run
//!   in any order. Each handler here is a plain closure that pushes the decoded event
//!   into the session's [`Inbox`] while still on the socket's read path, where arrival
//!   order holds; see [`crate::inbox`].
//!
//! Typed sends wait for the store in a second ordered queue, so one sender's messages
//! are committed, acknowledged and delivered in the order sent while the socket's next
//! events are already being handled.

use std::{
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use relay_shared::{ErrorCode, PeerId, Received, RegisterReply, Rejection, SendReply, event};
use socketioxide::{
    SendError, SocketError,
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::FromMessageParts,
    socket::Socket,
};
use socketioxide_core::Value;

use crate::{
    command::{self, Command, Protocol},
    inbox::{DrainGuard, Inbox, Pushed},
    relay::{Appending, Recording, Registration, Relay},
    store::StoreError,
};

/// Registers the event handlers of a freshly connecting socket. Run it as a connect
/// middleware, so that it completes before the client learns it is connected.
pub fn attach<A: Adapter>(socket: &SocketRef<A>, relay: Arc<Relay>) {
    let max_body = relay.limits().max_body_bytes;
    let session = Arc::new(Session::new(relay));

    let s = session.clone();
    socket.on(
        event::INIT,
        move |socket: SocketRef<A>, ack: Responder<A>, TryData(payload): TryData<String>| {
            s.submit(socket, ack, command::init(payload))
        },
    );
    let s = session.clone();
    socket.on(
        event::MESSAGE,
        move |socket: SocketRef<A>, ack: Responder<A>, TryData(payload): TryData<String>| {
            s.submit(socket, ack, command::seed_message(payload, max_body))
        },
    );
    let s = session.clone();
    socket.on(
        event::REGISTER,
        move |socket: SocketRef<A>, ack: Responder<A>, TryData(payload)| {
            s.submit(socket, ack, command::register(payload))
        },
    );
    let s = session.clone();
    socket.on(
        event::SEND,
        move |socket: SocketRef<A>, ack: Responder<A>, TryData(payload)| {
            s.submit(socket, ack, command::send(payload, max_body))
        },
    );
    let s = session.clone();
    socket.on(
        event::RECEIVED,
        move |socket: SocketRef<A>, ack: Responder<A>, TryData(payload)| {
            s.submit(socket, ack, command::received(payload))
        },
    );
    socket.on_fallback(
        move |socket: SocketRef<A>, ack: Responder<A>, Event(name): Event| {
            session.submit(socket, ack, Err(command::unknown_event(&name)))
        },
    );
}

/// One socket's state. Referenced only from the socket's own handlers, never from
/// elsewhere, so it lives exactly as long as the socket.
struct Session<A: Adapter> {
    relay: Arc<Relay>,
    inbox: Inbox<Pending<A>>,
    /// What waits for the store (typed sends, confirmations, a registration's
    /// backlog), finished in the order the events came.
    completing: Inbox<Completion<A>>,
    /// The registration is read and written by the inbox's drainer, the backlogs by the
    /// completions' drainer: each by one task at a time.
    state: Mutex<State>,
}

/// What the inbox's drainer keeps between events.
#[derive(Default)]
struct State {
    registration: Option<Registration>,
    /// How far the stored messages for this peer have been sent to this socket.
    messages: Backlog,
    /// How far the stored receipts for this peer have been sent to this socket.
    receipts: Backlog,
}

/// Paging through what waits in the store: one page at a time, the next once the client
/// confirms the last of the page.
#[derive(Default, Clone, Copy)]
struct Backlog {
    /// The last `seq` sent.
    after: u64,
    /// Set while a full page is out: the `seq` whose confirmation asks for the next.
    page_end: Option<u64>,
}

/// An event's work that waits for the store.
enum Completion<A: Adapter> {
    /// A typed send: acknowledged and delivered once stored.
    Send {
        socket: SocketRef<A>,
        ack: Responder<A>,
        appending: Appending,
    },
    /// A `received`: acknowledged once recorded; then the next page, if it ends one.
    Confirm {
        socket: SocketRef<A>,
        ack: Responder<A>,
        me: PeerId,
        received: Received,
        recording: Recording,
    },
    /// A registration: what waits for the peer, from the start.
    Backlog { socket: SocketRef<A>, me: PeerId },
}

/// An event waiting for its turn.
struct Pending<A: Adapter> {
    socket: SocketRef<A>,
    ack: Responder<A>,
    command: Result<Command, Rejection>,
}

impl<A: Adapter> Session<A> {
    fn new(relay: Arc<Relay>) -> Self {
        let capacity = relay.limits().max_pending_events;
        Self {
            relay,
            inbox: Inbox::new(capacity),
            completing: Inbox::new(capacity),
            state: Mutex::new(State::default()),
        }
    }

    /// Queues an event in arrival order (this part runs synchronously, on the socket's
    /// read path). The returned future, which socketioxide spawns, drains the inbox if no
    /// other drainer is running.
    fn submit(
        self: &Arc<Self>,
        socket: SocketRef<A>,
        ack: Responder<A>,
        command: Result<Command, Rejection>,
    ) -> impl Future<Output = ()> + Send + 'static + use<A> {
        let drainer = match self.inbox.push(Pending {
            socket,
            ack,
            command,
        }) {
            Ok(Pushed::Drain) => Some(self.clone()),
            Ok(Pushed::Queued) => None,
            Err(refused) => {
                let rejection = Rejection::new(
                    ErrorCode::Overloaded,
                    format!(
                        "more than {} events are waiting; slow down",
                        self.relay.limits().max_pending_events
                    ),
                );
                refused.ack.reject(&refused.socket, rejection);
                None
            }
        };
        // socketioxide spawns this future for every event. The drain state machine is
        // large, and most events only queue: boxing it when this event is the one that
        // drains keeps what is spawned (and copied) per event small.
        let drain = drainer.map(|session| Box::pin(session.drain()));
        async move {
            if let Some(drain) = drain {
                drain.await;
            }
        }
    }

    async fn drain(self: Arc<Self>) {
        let guard = DrainGuard::new(&self.inbox);
        while let Some(pending) = self.inbox.next() {
            self.handle(pending).await;
        }
        guard.finish();
    }

    async fn handle(
        self: &Arc<Self>,
        Pending {
            socket,
            ack,
            command,
        }: Pending<A>,
    ) {
        let command = match command {
            Ok(command) => command,
            Err(rejection) => return ack.reject(&socket, rejection),
        };
        match command {
            Command::Init { id } => {
                let mut current = self.registration();
                let reply = self.relay.init(&socket, &mut current, id).await;
                self.set_registration(current);
                ack.send(&socket, &reply);
            }
            Command::Register { id, secret } => {
                let mut current = self.registration();
                let reply = self
                    .relay
                    .register(&socket, &mut current, id, &secret)
                    .await;
                let registered = matches!(reply, RegisterReply::Registered { .. });
                self.set_registration(current);
                ack.send(&socket, &reply);
                if registered
                    && let Err(refused) = self.complete(Completion::Backlog { socket, me: id })
                {
                    // Not one store operation can be queued more: rather than leave
                    // the backlog unsent, let the client come again.
                    cut_slow_consumer(refused.socket());
                }
            }
            Command::Send { message, protocol } => {
                let Some(from) = self.registration() else {
                    return ack.reject(&socket, not_registered(protocol));
                };
                match protocol {
                    Protocol::Seed => {
                        let reply = self
                            .relay
                            .send_live(&socket, from.id, message, ack.wanted)
                            .await;
                        ack.send(&socket, &reply);
                    }
                    Protocol::Typed if from.protocol == Protocol::Typed => {
                        let appending = self.relay.append(from.id, message);
                        if let Err(refused) = self.complete(Completion::Send {
                            socket,
                            ack,
                            appending,
                        }) {
                            refused.reject_overloaded();
                        }
                    }
                    Protocol::Typed => ack.reject(&socket, not_registered(protocol)),
                }
            }
            Command::Received(received) => {
                let Some(me) = self
                    .registration()
                    .filter(|r| r.protocol == Protocol::Typed)
                else {
                    return ack.reject(&socket, not_registered(Protocol::Typed));
                };
                let recording = self.relay.record_received(me.id, &received);
                if let Err(refused) = self.complete(Completion::Confirm {
                    socket,
                    ack,
                    me: me.id,
                    received,
                    recording,
                }) {
                    refused.reject_overloaded();
                }
            }
        }
    }

    /// Sends the next page of stored messages and/or receipts.
    async fn next_pages(&self, socket: &SocketRef<A>, me: PeerId, messages: bool, receipts: bool) {
        if messages {
            let after = self.lock().messages.after;
            let page = self.relay.send_waiting(socket, me, after).await;
            self.turn_page(page, |state| &mut state.messages);
        }
        if receipts {
            let after = self.lock().receipts.after;
            let page = self.relay.send_receipts(socket, me, after).await;
            self.turn_page(page, |state| &mut state.receipts);
        }
    }

    fn turn_page(
        &self,
        page: Result<Option<(u64, bool)>, StoreError>,
        backlog: impl FnOnce(&mut State) -> &mut Backlog,
    ) {
        let mut state = self.lock();
        let backlog = backlog(&mut state);
        match page {
            Ok(Some((last, full))) => {
                backlog.after = last;
                backlog.page_end = full.then_some(last);
            }
            Ok(None) => backlog.page_end = None,
            Err(error) => {
                tracing::error!(%error, "could not read what waits; it stays for the next connection");
                backlog.page_end = None;
            }
        }
    }

    /// Queues work behind the completions before it; the first to find the queue idle
    /// spawns the task that finishes them. Gives the work back if the queue is full.
    fn complete(self: &Arc<Self>, completion: Completion<A>) -> Result<(), Box<Completion<A>>> {
        match self.completing.push(completion) {
            Ok(Pushed::Drain) => {
                tokio::spawn(self.clone().finish_completions());
                Ok(())
            }
            Ok(Pushed::Queued) => Ok(()),
            Err(refused) => Err(Box::new(refused)),
        }
    }

    /// Finishes the queued completions as the store commits them, in order.
    async fn finish_completions(self: Arc<Self>) {
        let guard = DrainGuard::new(&self.completing);
        while let Some(completion) = self.completing.next() {
            match completion {
                Completion::Send {
                    socket,
                    ack,
                    appending,
                } => {
                    let stored = appending.commit.await;
                    let reply = self
                        .relay
                        .deliver_stored(&socket, appending.envelope, stored)
                        .await;
                    ack.send(&socket, &reply);
                }
                Completion::Confirm {
                    socket,
                    ack,
                    me,
                    received,
                    recording,
                } => {
                    if let Err(error) = self.relay.finish_received(&socket, recording).await {
                        tracing::error!(%error, "could not record a confirmation");
                        ack.reject(
                            &socket,
                            Rejection::new(
                                ErrorCode::Unavailable,
                                "the server could not record this; send it again",
                            ),
                        );
                        continue;
                    }
                    ack.send(&socket, &Confirmed::Ok);
                    let (messages, receipts) = {
                        let state = self.lock();
                        (
                            state
                                .messages
                                .page_end
                                .is_some_and(|end| received.messages.contains(&end)),
                            state
                                .receipts
                                .page_end
                                .is_some_and(|end| received.receipts.contains(&end)),
                        )
                    };
                    self.next_pages(&socket, me, messages, receipts).await;
                }
                Completion::Backlog { socket, me } => {
                    {
                        let mut state = self.lock();
                        state.messages = Backlog::default();
                        state.receipts = Backlog::default();
                    }
                    self.next_pages(&socket, me, true, true).await;
                }
            }
        }
        guard.finish();
    }

    fn registration(&self) -> Option<Registration> {
        self.lock().registration
    }

    fn set_registration(&self, registration: Option<Registration>) {
        self.lock().registration = registration;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<A: Adapter> Completion<A> {
    fn socket(&self) -> &SocketRef<A> {
        match self {
            Self::Send { socket, .. }
            | Self::Confirm { socket, .. }
            | Self::Backlog { socket, .. } => socket,
        }
    }

    /// Refuses the event this came from: too much already waits for the store.
    fn reject_overloaded(self) {
        let rejection = Rejection::new(
            ErrorCode::Overloaded,
            "too many events are waiting for the store; slow down",
        );
        match self {
            Self::Send { socket, ack, .. } | Self::Confirm { socket, ack, .. } => {
                ack.reject(&socket, rejection);
            }
            Self::Backlog { .. } => {}
        }
    }
}

/// Disconnects a socket whose outgoing buffer is full: rather than drop what it was
/// promised, let its client notice, reconnect, and get what is stored.
///
/// socketioxide's disconnect sends a packet first, which needs room in that same buffer:
/// it is retried while the buffer drains, for a bounded time. A client that reads
/// nothing at all cannot answer pings either, and Engine.IO's heartbeat closes it.
pub fn cut_slow_consumer<A: Adapter>(socket: &SocketRef<A>) {
    const TRIES: u32 = 250;
    const EVERY: std::time::Duration = std::time::Duration::from_millis(20);
    tracing::warn!(sid = %socket.id, "socket too far behind in reading; disconnecting it");
    let socket = socket.clone();
    tokio::spawn(async move {
        for _ in 0..TRIES {
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) => tokio::time::sleep(EVERY).await,
                Ok(()) | Err(_) => return,
            }
        }
    });
}

/// The ack of `received`.
#[derive(serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum Confirmed {
    Ok,
}

fn not_registered(protocol: Protocol) -> Rejection {
    let hint = match protocol {
        Protocol::Seed => "emit init with your uuid first",
        Protocol::Typed => "emit register with your peer id and its secret first",
    };
    Rejection::new(
        ErrorCode::NotRegistered,
        format!("this socket is not registered: {hint}"),
    )
}

/// The ack of one event: whether the client asked for one, and the means to send it.
pub struct Responder<A: Adapter> {
    ack: AckSender<A>,
    wanted: bool,
}

impl<A: Adapter> Responder<A> {
    fn send<T: serde::Serialize>(self, socket: &SocketRef<A>, reply: &T) {
        if !self.wanted {
            return;
        }
        match self.ack.send(reply) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => cut_slow_consumer(socket),
            Err(error) => tracing::debug!(sid = %socket.id, %error, "could not send ack"),
        }
    }

    /// Answers with `rejection` if the client asked for an ack; otherwise drops the
    /// event, logging why at debug.
    fn reject(self, socket: &SocketRef<A>, rejection: Rejection) {
        if self.wanted {
            // Every reply type has the same `rejected` shape.
            self.send(socket, &SendReply::Rejected(rejection));
        } else {
            tracing::debug!(sid = %socket.id, code = %rejection.code, "dropped event: {}", rejection.message);
        }
    }
}

impl<A: Adapter> FromMessageParts<A> for Responder<A> {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self {
            ack: AckSender::from_message_parts(socket, value, ack_id)?,
            wanted: ack_id.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_type_shares_the_rejected_shape() {
        let rejection = Rejection::new(ErrorCode::UnknownEvent, "nope");
        let as_send = serde_json::to_value(SendReply::Rejected(rejection.clone())).unwrap();
        let as_register = serde_json::to_value(RegisterReply::Rejected(rejection)).unwrap();
        assert_eq!(as_send, as_register);
    }
}
