//! [`Session`]: one socket's state, the wiring of its events to the commands, and the
//! carrying out of what the commands decide.
//!
//! Two socketioxide behaviours would lose or reorder events, and this module is where
//! both are fixed:
//! - the namespace sends the connect packet *before* it spawns the connect handler, so
//!   handlers registered there can miss a client's first events. [`attach`] runs as a
//!   connect *middleware*, which completes before the connect packet is sent;
//! - socketioxide spawns every closure handler's future as its own task, so one socket's
//!   events would run in any order. A session registers one handler for all its events
//!   instead ([`Events`], socketioxide's `MessageHandler` implemented once), which
//!   decodes each event and pushes it into the session's [`Inbox`] while still on the
//!   socket's read path, where arrival order holds; see [`crate::inbox`].
//!
//! What waits for the store (typed sends, confirmations, the backlog) is finished in a
//! second ordered queue, so one sender's messages are committed and acknowledged in the
//! order sent while the socket's next events are already being handled.

use std::{
    convert::Infallible,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How long past the time it was told a refused message keeps its socket's later ones
/// waiting for it: a client that gave it up does not block the socket for long.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

use relay_shared::{
    ErrorCode, MessageId, RegisterReply, Rejection, SendReply, event, presence::WatchPresenceReply,
};
use socketioxide::{
    SendError, SocketError,
    extract::{AckSender, SocketRef},
    handler::{FromConnectParts, FromMessageParts, MessageHandler},
    socket::Socket,
};
use socketioxide_core::Value;

use crate::{
    cmd::{
        Backlogs, Command, Confirm, Decoded, Read, Reading, Recording, Send, SendOrder, Storing,
    },
    delivery::{self, NodeAdapter, cut_slow_consumer},
    effects::{Effect, Effects, Emit, Reply},
    inbox::{DrainGuard, Inbox, Pushed},
    limits::{ConnectionSlot, Limiter, RefusalBucket, SocketBucket, TooManyConnections},
    local_peers::{LocalPeers, Member},
    metrics::{Metrics, Protocol as MetricsProtocol, Transport},
    presence::{self, Changes},
    protocol::{Protocol, Registration, Short, Speaker, room},
    relay::{Relay, unavailable},
    store::StoreError,
};

/// What every session of a node shares: the relay, the registry of the peers whose
/// sockets are here, and the limits.
pub struct Node {
    /// The commands' services.
    pub relay: Relay,
    /// The peers registered on this node.
    pub peers: Arc<LocalPeers>,
    /// The per-client limits and their state.
    pub limiter: Arc<Limiter>,
    /// How long a socket may stay unregistered.
    pub register_timeout: Duration,
    /// What the node counts.
    pub metrics: Arc<Metrics>,
    /// Where its presence changes go.
    pub presence: Changes,
}

/// Registers the event handlers of a freshly connecting socket, unless its address has
/// too many connections already. Run it as a connect middleware, so that it completes
/// before the client learns it is connected (or hears the refusal).
pub fn attach<A: NodeAdapter>(
    socket: &SocketRef<A>,
    handle: SocketHandle<A>,
    node: Arc<Node>,
) -> Result<(), TooManyConnections> {
    let ip = node.limiter.client_ip(socket.req_parts());
    let slot = node.limiter.connect(ip)?;
    let register_timeout = node.register_timeout;
    let transport = match socket.transport_type() {
        socketioxide::TransportType::Websocket => "websocket",
        socketioxide::TransportType::Polling => "polling",
    };
    node.metrics
        .sockets
        .get_or_create(&Transport { transport })
        .inc();
    let session = Arc::new(Session::new(node, handle.0, ip, slot, transport));
    close_if_unregistered(&session, register_timeout);

    socket.on_fallback(Events(session.clone()));
    socket.on_disconnect(move || {
        session.close();
        std::future::ready(())
    });
    Ok(())
}

/// Closes the socket of `session` if it has not registered within `timeout`: a socket
/// that never says who it is holds memory for nothing.
fn close_if_unregistered<A: NodeAdapter>(session: &Arc<Session<A>>, timeout: Duration) {
    if timeout.is_zero() {
        return;
    }
    let session = Arc::downgrade(session);
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let Some(session) = session.upgrade() else {
            return;
        };
        if session.registration().is_none()
            && let Some(socket) = session.socket.upgrade()
        {
            tracing::debug!(sid = %socket.id, "closing a socket that did not register in time");
            let _ = SocketRef::from(socket).disconnect();
        }
    });
}

/// One socket's state. Referenced only from the socket's own handlers (and weakly from
/// the node's registry), so it lives exactly as long as the socket.
struct Session<A: NodeAdapter> {
    node: Arc<Node>,
    /// The socket, to send it what waits again when the node asks (weak: the socket
    /// owns the session, not the other way round).
    socket: Weak<Socket<A>>,
    inbox: Inbox<Pending<A>>,
    /// What waits for the store, finished in the order the events came.
    completing: Inbox<Completion<A>>,
    /// Read and written by the inbox's drainer (and read by `close` and `resync`).
    registration: Mutex<Option<Registration>>,
    /// Read and written by the completions' drainer only.
    backlogs: Mutex<Backlogs>,
    closed: AtomicBool,
    /// The client's address, for the per-address limits.
    ip: Option<IpAddr>,
    /// This socket's own message bucket.
    bucket: SocketBucket,
    /// A typed message a limit refused, and when its client may send it again. Until it
    /// comes again (or a while after that time), this socket's later typed messages are
    /// refused too: a client that sends again oldest first then stores them in the
    /// order it first sent them, none slipping in ahead of the refused one.
    held: Mutex<Option<(MessageId, Instant)>>,
    /// Keeps this socket's sends in order into the store while encrypted ones are checked.
    sends: SendOrder,
    /// This socket's allowance of refusals: used up, the socket is cut.
    refusals: RefusalBucket,
    /// Whether it was cut for using it up.
    cut: AtomicBool,
    /// This socket's place among its address's connections, freed with the session.
    _slot: Option<ConnectionSlot>,
    /// How it connected, for the metrics.
    transport: &'static str,
}

/// An event waiting for its turn.
struct Pending<A: NodeAdapter> {
    socket: SocketRef<A>,
    ack: Responder<A>,
    command: Result<Command, Rejection>,
}

/// An event's work that waits for the store.
enum Completion<A: NodeAdapter> {
    /// A typed send: acknowledged once stored.
    Send {
        socket: SocketRef<A>,
        ack: Responder<A>,
        storing: Storing,
    },
    /// A `received`: acknowledged once recorded; then the next page, if it ends one.
    Confirm {
        socket: SocketRef<A>,
        ack: Responder<A>,
        recording: Recording,
    },
    /// A `read`: acknowledged once recorded.
    Read {
        socket: SocketRef<A>,
        ack: Responder<A>,
        reading: Reading,
    },
    /// What waits for the device, from the start.
    Backlog { socket: SocketRef<A>, me: Speaker },
}

impl<A: NodeAdapter> Session<A> {
    fn new(
        node: Arc<Node>,
        socket: Weak<Socket<A>>,
        ip: Option<IpAddr>,
        slot: Option<ConnectionSlot>,
        transport: &'static str,
    ) -> Self {
        let capacity = node.relay.limits().max_pending_events;
        Self {
            transport,
            bucket: node.limiter.socket_bucket(),
            held: Mutex::new(None),
            sends: SendOrder::default(),
            refusals: node.limiter.refusal_bucket(),
            cut: AtomicBool::new(false),
            ip,
            _slot: slot,
            node,
            socket,
            inbox: Inbox::new(capacity),
            completing: Inbox::new(capacity),
            registration: Mutex::new(None),
            backlogs: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Queues an event in arrival order, on the socket's read path; the first to find the
    /// inbox idle spawns the task that drains it.
    fn submit(
        self: &Arc<Self>,
        socket: SocketRef<A>,
        ack: Responder<A>,
        command: Result<Command, Rejection>,
    ) {
        match self.inbox.push(Pending {
            socket,
            ack,
            command,
        }) {
            Ok(Pushed::Drain) => {
                // The drain state machine is large: boxed, what is spawned stays small.
                tokio::spawn(Box::pin(self.clone().drain()));
            }
            Ok(Pushed::Queued) => {}
            Err(refused) => {
                let rejection = Rejection::new(
                    ErrorCode::Overloaded,
                    format!(
                        "more than {} events are waiting; slow down",
                        self.node.relay.limits().max_pending_events
                    ),
                );
                refused
                    .ack
                    .reject(&refused.socket, rejection, &self.node.metrics);
                self.refused(&refused.socket);
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

    /// Counts a refusal for a limit against the socket's allowance; past it, cuts the
    /// socket (once) and keeps its address from coming straight back. Such a client does
    /// not wait when told to: each of its next frames would cost this node parsing and
    /// refusing it.
    fn refused(&self, socket: &SocketRef<A>) {
        if self.refusals.used_up_by_one_more() && !self.cut.swap(true, Ordering::Relaxed) {
            tracing::info!(sid = %socket.id, "cutting a socket sending on and on over its limits");
            self.node.metrics.flooders_cut.inc();
            self.node.limiter.penalize(self.ip);
            let _ = socket.clone().disconnect();
        }
    }

    /// Runs one command and carries out what it decided.
    async fn handle(self: &Arc<Self>, pending: Pending<A>) {
        let Pending {
            socket,
            ack,
            command,
        } = pending;
        let command = match command {
            Ok(command) => command,
            Err(rejection) => return ack.reject(&socket, rejection, &self.node.metrics),
        };
        if let Err(limited) = self.within_limits(&command) {
            ack.reject(&socket, limited, &self.node.metrics);
            self.refused(&socket);
            return;
        }
        let relay = &self.node.relay;
        let effects = match command {
            Command::Init(init) => init.apply(relay).await,
            Command::Register(register) => register.apply(relay).await,
            Command::Message(message) => message.apply(relay, self.registration(), ack.wanted),
            Command::Send(send) => match Send::sender(self.registration()) {
                Ok(from) => {
                    return self
                        .complete_in_turn(socket, ack, |socket, ack| Completion::Send {
                            socket,
                            ack,
                            storing: send.store(relay, from, &self.sends),
                        })
                        .await;
                }
                Err(refused) => refused,
            },
            Command::Typing(typing) => typing.apply(self.registration()),
            Command::Block(block) => block.apply(relay, self.registration()).await,
            Command::WatchPresence(watch) => watch.apply(self.registration()),
            Command::HidePresence(hide) => hide.apply(self.registration()),
            Command::LinkCode(code) => code.apply(relay, self.registration()).await,
            Command::Link(link) => link.apply(relay).await,
            Command::ListDevices(list) => list.apply(relay, self.registration()).await,
            Command::Unlink(unlink) => unlink.apply(relay, self.registration()).await,
            Command::PublishKeys(publish) => publish.apply(relay, self.registration()).await,
            Command::Keys(keys) => keys.apply(relay, self.registration()).await,
            Command::ClaimKeys(claim) => claim.apply(relay, self.registration()).await,
            Command::Confirm(confirm) => match Confirm::recipient(self.registration()) {
                Ok(me) => {
                    return self
                        .complete_in_turn(socket, ack, |socket, ack| Completion::Confirm {
                            socket,
                            ack,
                            recording: confirm.record(relay, me),
                        })
                        .await;
                }
                Err(refused) => refused,
            },
            Command::Read(read) => match Read::reader(self.registration()) {
                Ok(me) => {
                    return self
                        .complete_in_turn(socket, ack, |socket, ack| Completion::Read {
                            socket,
                            ack,
                            reading: read.record(relay, me),
                        })
                        .await;
                }
                Err(refused) => refused,
            },
        };
        self.carry_out(&socket, Some(ack), effects).await;
    }

    /// Whether the limits let `command` through: registrations per address, messages per
    /// socket and per peer.
    fn within_limits(&self, command: &Command) -> Result<(), Rejection> {
        let limiter = &self.node.limiter;
        let from = || self.registration().map(|r| r.id);
        match command {
            Command::Init(_) | Command::Register(_) | Command::Link(_) => {
                limiter.registration(self.ip)
            }
            Command::Message(_)
            | Command::Typing(_)
            | Command::Read(_)
            | Command::Block(_)
            | Command::WatchPresence(_)
            | Command::HidePresence(_)
            | Command::LinkCode(_)
            | Command::ListDevices(_)
            | Command::Unlink(_)
            | Command::PublishKeys(_)
            | Command::Keys(_)
            | Command::ClaimKeys(_) => limiter.message(&self.bucket, from()),
            Command::Send(send) => {
                let now = Instant::now();
                let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((id, retry_at)) = *held {
                    if send.id != Some(id) && now < retry_at + HOLD_AT_MOST {
                        let wait = retry_at.saturating_duration_since(now);
                        return Err(Rejection::retry_after(
                            ErrorCode::RateLimited,
                            "an earlier message of this socket was refused: send that one again first",
                            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
                        ));
                    }
                    *held = None;
                }
                let allowed = limiter.message(&self.bucket, from());
                if let (Err(refused), Some(id)) = (&allowed, send.id) {
                    let wait = Duration::from_millis(refused.retry_after_ms.unwrap_or(0));
                    *held = Some((id, now + wait));
                }
                allowed
            }
            Command::Confirm(_) => Ok(()),
        }
    }

    /// Does what a command decided, in order. The ack goes with the first reply.
    async fn carry_out(
        self: &Arc<Self>,
        socket: &SocketRef<A>,
        mut ack: Option<Responder<A>>,
        effects: Effects,
    ) {
        for effect in effects {
            match effect {
                Effect::Reply(reply) => {
                    if let Some(ack) = ack.take() {
                        ack.send(socket, &reply, &self.node.metrics);
                    }
                }
                Effect::Enter(registration) => {
                    if let Err(error) = self.enter(socket, registration).await {
                        if let Some(ack) = ack.take() {
                            ack.send(
                                socket,
                                &Reply::Rejected(unavailable(&error)),
                                &self.node.metrics,
                            );
                        }
                        return;
                    }
                }
                Effect::DisconnectSeed(id) => {
                    if let Err(error) = socket.within(room(id, Protocol::Seed)).disconnect().await {
                        tracing::warn!(%error, peer = %Short(id), "could not disconnect the seed sockets of a claimed id");
                    }
                }
                Effect::Broadcast { envelope, report } => {
                    let (store, peers) = (self.node.relay.store(), &self.node.peers);
                    let metrics = &self.node.metrics;
                    let reply =
                        delivery::broadcast(socket, store, peers, metrics, envelope, report).await;
                    if let Some(ack) = ack.take() {
                        ack.send(socket, &Reply::Send(reply), &self.node.metrics);
                    }
                }
                Effect::Emit(emit) => {
                    let sent = match &emit {
                        Emit::Deliver(envelope) => socket.emit(event::DELIVER, envelope),
                        Emit::Receipt(receipt) => socket.emit(event::RECEIPT, receipt),
                    };
                    match sent {
                        Ok(()) => {}
                        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                            cut_slow_consumer(socket, &self.node.metrics);
                        }
                        Err(error) => {
                            tracing::debug!(%error, "not sent; it waits for the next connection");
                        }
                    }
                }
                Effect::Typing { from, to } => {
                    let node = &self.node;
                    let store = node.relay.store();
                    delivery::typing(socket, &node.peers, store, from, to, &node.metrics).await;
                }
                Effect::Follow { viewer, peers } => {
                    let store = self.node.relay.store();
                    let reply = match presence::follow(socket, store, viewer, peers).await {
                        Ok(presence) => Reply::Presence(WatchPresenceReply::Ok { presence }),
                        Err(error) => Reply::Rejected(unavailable(&error)),
                    };
                    if let Some(ack) = ack.take() {
                        ack.send(socket, &reply, &self.node.metrics);
                    }
                }
                Effect::HidePresence { peer, hidden } => {
                    // This socket's own following stops while hidden: its client watches
                    // again, as the store then answers.
                    if hidden {
                        presence::unfollow_all(socket);
                    }
                    let reply = match self.node.presence.hide(peer, hidden).await {
                        Ok(()) => Reply::Confirmed,
                        Err(error) => Reply::Rejected(unavailable(&error)),
                    };
                    if let Some(ack) = ack.take() {
                        ack.send(socket, &reply, &self.node.metrics);
                    }
                }
                Effect::HideFrom { owner, peer } => {
                    presence::hide_from(socket, owner, peer).await;
                }
                Effect::SendBacklog(me) => {
                    let backlog = Completion::Backlog {
                        socket: socket.clone(),
                        me,
                    };
                    if let Err(refused) = self.complete(backlog) {
                        // Not one store operation can be queued more: rather than leave
                        // the backlog unsent, let the client come again.
                        cut_slow_consumer(refused.socket(), &self.node.metrics);
                    }
                }
            }
        }
    }

    /// The socket now speaks for `next`: out of its previous registration's room, into
    /// this one's, and watched in the store before anything is read for it.
    async fn enter(
        self: &Arc<Self>,
        socket: &SocketRef<A>,
        next: Registration,
    ) -> Result<(), StoreError> {
        let me: Weak<dyn Member> = Arc::downgrade(self) as Weak<dyn Member>;
        let watched = {
            let mut current = self.lock_registration();
            if *current == Some(next) {
                return Ok(());
            }
            if self.closed.load(Ordering::Acquire) {
                // Gone while the command ran: nothing to enter.
                return Ok(());
            }
            if let Some(previous) = current.take() {
                socket.leave(previous.room());
                self.node.peers.leave(previous.id, &me);
                self.count_registered(previous, false);
            }
            socket.join(next.room());
            *current = Some(next);
            self.count_registered(next, true);
            self.node.peers.enter(next, me.clone())
        };
        tracing::debug!(sid = %socket.id, peer = %next.id, protocol = ?next.protocol, "registered");
        if let Err(error) = watched.await {
            let mut current = self.lock_registration();
            if *current == Some(next) {
                socket.leave(next.room());
                self.node.peers.leave(next.id, &me);
                self.count_registered(next, false);
                *current = None;
            }
            return Err(error);
        }
        Ok(())
    }

    /// The socket is gone: it no longer counts among this node's peers.
    fn close(self: &Arc<Self>) {
        let me: Weak<dyn Member> = Arc::downgrade(self) as Weak<dyn Member>;
        let mut current = self.lock_registration();
        self.closed.store(true, Ordering::Release);
        if let Some(previous) = current.take() {
            self.node.peers.leave(previous.id, &me);
            self.count_registered(previous, false);
        }
        let transport = Transport {
            transport: self.transport,
        };
        self.node.metrics.sockets.get_or_create(&transport).dec();
    }

    /// Counts a registration in, or out.
    fn count_registered(&self, registration: Registration, counted: bool) {
        let protocol = MetricsProtocol {
            protocol: match registration.protocol {
                Protocol::Seed => "seed",
                Protocol::Typed => "typed",
            },
        };
        let gauge = self.node.metrics.registered.get_or_create(&protocol);
        if counted {
            gauge.inc();
        } else {
            gauge.dec();
        }
    }

    /// Queues the work `make` starts behind the completions before it, waiting for room
    /// when too much already waits for the store: the socket's events wait in its inbox
    /// meanwhile, and past that bound are refused as `overloaded`.
    async fn complete_in_turn(
        self: &Arc<Self>,
        socket: SocketRef<A>,
        ack: Responder<A>,
        make: impl FnOnce(SocketRef<A>, Responder<A>) -> Completion<A>,
    ) {
        let pushed = self
            .completing
            .push_when_room((socket, ack), |(socket, ack)| make(socket, ack))
            .await;
        if pushed == Pushed::Drain {
            tokio::spawn(self.clone().finish_completions());
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
        let relay = &self.node.relay;
        while let Some(completion) = self.completing.next() {
            match completion {
                Completion::Send {
                    socket,
                    ack,
                    storing,
                } => {
                    let effects = storing.finish().await;
                    self.carry_out(&socket, Some(ack), effects).await;
                }
                Completion::Confirm {
                    socket,
                    ack,
                    recording,
                } => {
                    let mut backlogs = *self.lock_backlogs();
                    let effects = recording.finish(relay, &mut backlogs).await;
                    *self.lock_backlogs() = backlogs;
                    self.carry_out(&socket, Some(ack), effects).await;
                }
                Completion::Read {
                    socket,
                    ack,
                    reading,
                } => {
                    let effects = reading.finish().await;
                    self.carry_out(&socket, Some(ack), effects).await;
                }
                Completion::Backlog { socket, me } => {
                    let mut backlogs = *self.lock_backlogs();
                    let effects = backlogs.restart(relay, me).await;
                    *self.lock_backlogs() = backlogs;
                    self.carry_out(&socket, None, effects).await;
                }
            }
        }
        guard.finish();
    }

    fn registration(&self) -> Option<Registration> {
        *self.lock_registration()
    }

    fn lock_registration(&self) -> std::sync::MutexGuard<'_, Option<Registration>> {
        self.registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_backlogs(&self) -> std::sync::MutexGuard<'_, Backlogs> {
        self.backlogs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<A: NodeAdapter> Member for Session<A> {
    fn resync(self: Arc<Self>) {
        let Some(me) = self.registration().and_then(|r| r.speaker()) else {
            // Seed sockets get nothing from the store.
            return;
        };
        let Some(socket) = self.socket.upgrade() else {
            return;
        };
        let socket = SocketRef::from(socket);
        presence::refresh(&socket, self.node.relay.store(), me.id);
        // The notice of this device's unlinking may be among those missed.
        let devices = self.node.relay.store().devices(me.id);
        let still = socket.clone();
        tokio::spawn(async move {
            if let Ok(devices) = devices.await
                && !devices.iter().any(|d| d.device == me.device)
            {
                tracing::info!(sid = %still.id, "disconnecting an unlinked device");
                let _ = still.disconnect();
            }
        });
        if let Err(refused) = self.complete(Completion::Backlog { socket, me }) {
            cut_slow_consumer(refused.socket(), &self.node.metrics);
        }
    }

    fn unlinked(self: Arc<Self>) {
        if let Some(socket) = self.socket.upgrade() {
            let socket = SocketRef::from(socket);
            tracing::debug!(sid = %socket.id, "disconnecting an unlinked device");
            let _ = socket.disconnect();
        }
    }
}

impl<A: NodeAdapter> Completion<A> {
    fn socket(&self) -> &SocketRef<A> {
        match self {
            Self::Send { socket, .. }
            | Self::Confirm { socket, .. }
            | Self::Read { socket, .. }
            | Self::Backlog { socket, .. } => socket,
        }
    }
}

/// The socket a session belongs to, held weakly: what `attach` needs besides the
/// [`SocketRef`] to reach the socket later, from outside its handlers.
pub struct SocketHandle<A: NodeAdapter>(Weak<Socket<A>>);

impl<A: NodeAdapter> FromConnectParts<A> for SocketHandle<A> {
    type Error = Infallible;

    fn from_connect_parts(
        socket: &Arc<Socket<A>>,
        _auth: &Option<Value>,
    ) -> Result<Self, Infallible> {
        Ok(Self(Arc::downgrade(socket)))
    }
}

/// The one handler of a socket's events, all of them (registered as socketioxide's
/// fallback): it decodes each event and queues it in the session's inbox, right on the
/// socket's read path. One handler rather than one closure per event name saves each
/// socket a map of handlers, and unlike socketioxide's closure handlers, which it
/// spawns as a task per event, it spawns nothing for an event that only queues.
struct Events<A: NodeAdapter>(Arc<Session<A>>);

impl<A: NodeAdapter> MessageHandler<A, ()> for Events<A> {
    fn call(&self, socket: Arc<Socket<A>>, mut payload: Value, ack_id: Option<i64>) {
        let max_body = self.0.node.relay.limits().max_body_bytes;
        let Decoded { event, command } = Command::decode(&payload, max_body);
        let ack = Responder::new(&socket, &mut payload, ack_id, event);
        self.0.submit(SocketRef::from(socket), ack, command);
    }
}

/// The ack of one event: whether the client asked for one, the means to send it, and
/// the event's name for the metrics.
pub struct Responder<A: NodeAdapter> {
    ack: AckSender<A>,
    wanted: bool,
    event: &'static str,
}

impl<A: NodeAdapter> Responder<A> {
    /// The responder of the event named `event`, with ack id `ack_id` if the client
    /// asked for an ack.
    fn new(
        socket: &Arc<Socket<A>>,
        payload: &mut Value,
        ack_id: Option<i64>,
        event: &'static str,
    ) -> Self {
        let Ok(ack) = AckSender::from_message_parts(socket, payload, &ack_id);
        Self {
            ack,
            wanted: ack_id.is_some(),
            event,
        }
    }

    /// Answers with `reply` if the client asked for an ack; counts the event's outcome.
    fn send(self, socket: &SocketRef<A>, reply: &Reply, metrics: &Metrics) {
        let outcome = match reply {
            Reply::Rejected(rejection)
            | Reply::Send(SendReply::Rejected(rejection))
            | Reply::Register(RegisterReply::Rejected(rejection))
            | Reply::Presence(WatchPresenceReply::Rejected(rejection)) => {
                Err(rejection.code.as_str())
            }
            _ => Ok(()),
        };
        metrics.event(self.event, outcome);
        if !self.wanted {
            return;
        }
        match self.ack.send(reply) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                cut_slow_consumer(socket, metrics);
            }
            Err(error) => tracing::debug!(sid = %socket.id, %error, "could not send ack"),
        }
    }

    /// Answers with `rejection` if the client asked for an ack; otherwise drops the
    /// event, logging why at debug. Counted either way.
    fn reject(self, socket: &SocketRef<A>, rejection: Rejection, metrics: &Metrics) {
        if !self.wanted {
            tracing::debug!(sid = %socket.id, code = %rejection.code, "dropped event: {}", rejection.message);
        }
        self.send(socket, &Reply::Rejected(rejection), metrics);
    }
}
