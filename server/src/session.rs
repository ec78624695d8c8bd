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

use std::{
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use relay_shared::{ErrorCode, Rejection, SendReply, event};
use socketioxide::{
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, TryData},
    handler::FromMessageParts,
    socket::Socket,
};
use socketioxide_core::Value;

use crate::{
    command::{self, Command, Protocol},
    inbox::{DrainGuard, Inbox, Pushed},
    relay::{Registration, Relay},
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
    /// Read and written only by the inbox's drainer, one event at a time.
    registration: Mutex<Option<Registration>>,
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
            registration: Mutex::new(None),
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
        async move {
            if let Some(session) = drainer {
                session.drain().await;
            }
        }
    }

    async fn drain(&self) {
        let guard = DrainGuard::new(&self.inbox);
        while let Some(pending) = self.inbox.next() {
            self.handle(pending).await;
        }
        guard.finish();
    }

    async fn handle(
        &self,
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
            Command::Register { id, protocol } => {
                let reply = {
                    let mut current = self
                        .registration
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    self.relay
                        .register(&socket, &mut current, Registration { id, protocol })
                };
                ack.send(&socket, &reply);
            }
            Command::Send { message, protocol } => {
                let from = *self
                    .registration
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let Some(from) = from else {
                    let hint = match protocol {
                        Protocol::Seed => "emit init with your uuid first",
                        Protocol::Typed => "emit register with your peer id first",
                    };
                    let rejection = Rejection::new(
                        ErrorCode::NotRegistered,
                        format!("this socket is not registered: {hint}"),
                    );
                    return ack.reject(&socket, rejection);
                };
                let reply = self.relay.send(&socket, from.id, message, ack.wanted).await;
                ack.send(&socket, &reply);
            }
        }
    }
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
        if let Err(error) = self.ack.send(reply) {
            tracing::debug!(sid = %socket.id, %error, "could not send ack");
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
    use relay_shared::RegisterReply;

    #[test]
    fn every_reply_type_shares_the_rejected_shape() {
        let rejection = Rejection::new(ErrorCode::UnknownEvent, "nope");
        let as_send = serde_json::to_value(SendReply::Rejected(rejection.clone())).unwrap();
        let as_register = serde_json::to_value(RegisterReply::Rejected(rejection)).unwrap();
        assert_eq!(as_send, as_register);
    }
}
