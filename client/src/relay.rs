//! [`Relay`]: the app's link to the relay server. It registers this browser's id on
//! every connect, sends messages and follows their status, and collects what arrives.
//! Its state is in signals, for the components to show.

use std::{collections::HashMap, time::Duration};

use leptos::prelude::*;
use relay_shared::{
    Envelope, MessageId, PeerId, RegisterReply, SendReply, SendRequest, event,
    message::RegisterRequest,
    socketio::{AckFailure, AckId, ClientConfig, Event},
};

use crate::{
    conversations::{Conversations, Status},
    socket::{self, Socket},
};

/// How long the server has to answer a register or a send.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    /// Connecting, for the first time or again.
    Connecting,
    /// Connected and registered.
    Online,
    /// Lost; the next attempt is at `retry_at` (on [`socket::now`]'s clock).
    Reconnecting {
        /// When the next attempt starts.
        retry_at: Duration,
    },
    /// Not connected and not trying.
    Offline,
}

impl Link {
    /// The name used in the page (`data-state`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Reconnecting { .. } | Self::Offline => "offline",
        }
    }
}

/// What an ack we wait for is the answer to.
enum Awaiting {
    Register,
    Send(MessageId),
}

/// The link to the relay; `Copy`, so every component and closure can hold it.
#[derive(Clone, Copy)]
pub struct Relay {
    /// This browser's peer id.
    pub me: PeerId,
    /// Every conversation.
    pub conversations: RwSignal<Conversations>,
    /// The connection, as the user sees it.
    pub link: RwSignal<Link>,
    /// Why the server refused our registration, if it did.
    pub problem: RwSignal<Option<String>>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    awaiting: StoredValue<HashMap<AckId, Awaiting>, LocalStorage>,
}

impl Relay {
    /// Connects to the server at `server` (an origin) as `me`.
    pub fn start(server: &str, me: PeerId) -> Self {
        let relay = Self {
            me,
            conversations: RwSignal::new(Conversations::default()),
            link: RwSignal::new(Link::Connecting),
            problem: RwSignal::new(None),
            socket: StoredValue::new_local(None),
            awaiting: StoredValue::new_local(HashMap::new()),
        };
        let socket = Socket::connect(server, ClientConfig::default(), move |event| {
            relay.on_event(event);
        });
        relay.socket.set_value(Some(socket));
        relay
    }

    /// Sends `body` to `to`; the message appears at once as `sending`.
    pub fn send(self, to: PeerId, body: String) {
        let id = MessageId::from_uuid(uuid::Uuid::new_v4());
        self.conversations
            .update(|c| c.send(to, id, body.clone(), now_millis()));
        let request = SendRequest {
            to,
            body,
            id: Some(id),
        };
        let sent = self.socket.with_value(|socket| {
            socket
                .as_ref()
                .map(|s| s.emit_with_ack(event::SEND, &request, REPLY_TIMEOUT))
        });
        match sent {
            Some(Ok(ack)) => {
                self.awaiting.update_value(|a| {
                    a.insert(ack, Awaiting::Send(id));
                });
            }
            Some(Err(error)) => self.set_status(id, Status::Failed(error.to_string())),
            None => self.set_status(id, Status::Failed("not connected".into())),
        }
    }

    fn on_event(self, event: Event) {
        match event {
            Event::Connected => {
                self.link.set(Link::Online);
                self.register();
            }
            Event::Disconnected(_) => self.link.set(Link::Connecting),
            Event::ReconnectScheduled { delay, .. } => self.link.set(Link::Reconnecting {
                retry_at: socket::now() + delay,
            }),
            Event::GaveUp => self.link.set(Link::Offline),
            Event::ConnectError(message) => {
                self.link.set(Link::Offline);
                self.problem.set(Some(message));
            }
            Event::Message(incoming) if incoming.event == event::DELIVER => {
                if let Ok(envelope) = incoming.payload.decode::<Envelope>() {
                    self.conversations.update(|c| {
                        c.receive(&envelope);
                    });
                }
            }
            Event::Message(_) => {}
            Event::Ack(id, payload) => match self.take_awaiting(id) {
                Some(Awaiting::Register) => {
                    if let Ok(RegisterReply::Rejected(rejection)) = payload.decode() {
                        self.problem.set(Some(rejection.message));
                    }
                }
                Some(Awaiting::Send(message)) => {
                    let status = match payload.decode::<SendReply>() {
                        Ok(SendReply::Delivered { .. }) => Status::Delivered,
                        Ok(SendReply::Offline { .. }) => Status::Offline,
                        Ok(SendReply::Rejected(rejection)) => Status::Failed(rejection.message),
                        Err(error) => Status::Failed(error.to_string()),
                    };
                    self.set_status(message, status);
                }
                None => {}
            },
            Event::AckFailed(id, why) => {
                if let Some(Awaiting::Send(message)) = self.take_awaiting(id) {
                    let reason = match why {
                        AckFailure::Timeout => "the server did not answer",
                        AckFailure::ConnectionLost => "the connection was lost",
                        AckFailure::Closed => "not connected",
                    };
                    self.set_status(message, Status::Failed(reason.into()));
                }
            }
        }
    }

    /// Registers on every (re)connect: a new connection is a new socket on the server.
    fn register(self) {
        let request = RegisterRequest { id: self.me };
        let sent = self.socket.with_value(|socket| {
            socket
                .as_ref()
                .map(|s| s.emit_with_ack(event::REGISTER, &request, REPLY_TIMEOUT))
        });
        if let Some(Ok(ack)) = sent {
            self.awaiting.update_value(|a| {
                a.insert(ack, Awaiting::Register);
            });
        }
    }

    fn take_awaiting(self, id: AckId) -> Option<Awaiting> {
        let mut taken = None;
        self.awaiting.update_value(|a| taken = a.remove(&id));
        taken
    }

    fn set_status(self, id: MessageId, status: Status) {
        self.conversations.update(|c| {
            c.set_status(id, status);
        });
    }
}

/// Milliseconds since the Unix epoch, by the browser's clock.
pub fn now_millis() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}
