//! [`Relay`]: the app's link to the relay server, over the shared
//! [`Messenger`](relay_shared::messenger::Messenger): registers on every connect, keeps
//! each message until the server stored it (in `localStorage`, resent with the same id
//! after a reload or a reconnect), shows each incoming message once, and follows statuses
//! to `delivered`. Its state is in signals, for the components to show.

use std::time::Duration;

use leptos::prelude::*;
use relay_shared::{
    MessageId, PeerId,
    messenger::{self, Messenger},
    socketio::{Client, ClientConfig, Event},
};

use crate::{
    conversations::{Conversations, Status},
    identity::Identity,
    kept,
    socket::{self, Socket},
};

/// The `localStorage` key of the kept conversations (unsent messages included).
pub const CONVERSATIONS_KEY: &str = "relay.conversations";

/// How often messages the server turned away for a passing reason are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

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
    /// The browser says it has no network (its `offline` event): shown at once, rather
    /// than once the server's pings are missed.
    NoNetwork,
    /// Not connected and not trying.
    Offline,
}

impl Link {
    /// The name used in the page (`data-state`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Reconnecting { .. } | Self::NoNetwork | Self::Offline => "offline",
        }
    }
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
    /// The browser refused to keep the conversations (quota, private mode).
    pub storage_refused: RwSignal<bool>,
    /// The latest message received, for the screen reader: (how many so far, from, body).
    pub announcement: RwSignal<Option<(u64, PeerId, String)>>,
    /// The conversation on screen, whose messages are seen as they arrive while the
    /// person is looking at the page.
    reading: StoredValue<Option<PeerId>>,
    /// The first message that was new when the person last came to the conversation on
    /// screen: a "new messages" divider goes before it.
    divider: RwSignal<Option<MessageId>>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    messenger: StoredValue<Messenger, LocalStorage>,
}

impl Relay {
    /// Connects to the server at `server` (an origin) as `identity`, resuming the kept
    /// conversations and sending again what the server had not stored.
    pub fn start(server: &str, identity: Identity) -> Self {
        let conversations: Conversations = kept::read(CONVERSATIONS_KEY);
        let messenger = Messenger::new(
            identity.id,
            identity.secret,
            conversations.drafts(),
            conversations.received().collect::<Vec<_>>(),
        );
        let relay = Self {
            me: identity.id,
            conversations: RwSignal::new(conversations),
            link: RwSignal::new(Link::Connecting),
            problem: RwSignal::new(None),
            storage_refused: RwSignal::new(false),
            announcement: RwSignal::new(None),
            reading: StoredValue::new(None),
            divider: RwSignal::new(None),
            socket: StoredValue::new_local(None),
            messenger: StoredValue::new_local(messenger),
        };
        let socket = Socket::connect(server, ClientConfig::default(), move |event| {
            relay.on_event(event);
        });
        relay.socket.set_value(Some(socket));

        // Another tab of this browser kept something new: take it in.
        let storage = window_event_listener(leptos::ev::storage, move |event| {
            if event.key().as_deref() == Some(CONVERSATIONS_KEY)
                && let Some(json) = event.new_value()
                && let Ok(theirs) = Conversations::from_json(&json)
            {
                relay.conversations.update(|c| c.merge(theirs));
            }
        });
        on_cleanup(move || storage.remove());
        // Back to the page: what is on screen is seen.
        let mut looking = Vec::new();
        for event in ["focus", "visibilitychange"] {
            looking.push(window_event_listener_untyped(event, move |_| {
                if let Some(first) = relay.mark_read() {
                    relay.divider.set(Some(first));
                }
            }));
        }
        on_cleanup(move || looking.into_iter().for_each(|l| l.remove()));
        // The browser knows the network went away well before a missed ping would tell.
        let offline = window_event_listener(leptos::ev::offline, move |_| relay.network_lost());
        let online = window_event_listener(leptos::ev::online, move |_| relay.network_back());
        on_cleanup(move || {
            offline.remove();
            online.remove();
        });
        if !browser_online() {
            relay.network_lost();
        }
        if let Ok(retry) = set_interval_with_handle(move || relay.retry(), RETRY_EVERY) {
            on_cleanup(move || retry.clear());
        }
        relay
    }

    /// Sends `body` to `to`; the message appears at once as `sending`, and is kept until
    /// the server stored it.
    pub fn send(self, to: PeerId, body: String) {
        let id = MessageId::from_uuid(uuid::Uuid::new_v4());
        self.conversations
            .update(|c| c.send(to, id, body.clone(), now_millis()));
        self.keep();
        self.with_core(|messenger, client, now| messenger.send(client, to, body, id, now));
    }

    /// The conversation with `peer` is now the one on screen (`None`: none is): seen,
    /// if the person is looking, with a divider before what was new.
    pub fn read(self, peer: Option<PeerId>) {
        let again = self.reading.get_value() == peer;
        self.reading.set_value(peer);
        let first = self.mark_read();
        // Told again of the same one, with nothing new: the divider stays where it was.
        if !again || first.is_some() {
            self.divider.set(first);
        }
    }

    /// The message before which the "new messages" divider goes, if any.
    pub fn divider(self) -> Option<MessageId> {
        self.divider.get()
    }

    /// Marks the conversation on screen as seen, if the person is looking at the page.
    fn mark_read(self) -> Option<MessageId> {
        let peer = self.reading.get_value()?;
        if !attending() || self.conversations.with_untracked(|c| c.unread(peer)) == 0 {
            return None;
        }
        let mut first = None;
        self.conversations.update(|c| first = c.mark_read(peer));
        self.keep();
        first
    }

    fn network_lost(self) {
        self.link.set(Link::NoNetwork);
        if let Some(socket) = self.socket.with_value(Clone::clone) {
            socket.network_lost();
        }
    }

    fn network_back(self) {
        self.link.set(Link::Connecting);
        if let Some(socket) = self.socket.with_value(Clone::clone) {
            socket.network_back();
        }
    }

    fn on_event(self, event: Event) {
        // Without a network, attempts fail as expected: the badge keeps saying why.
        let no_network = self.link.get_untracked() == Link::NoNetwork && !browser_online();
        match &event {
            Event::Disconnected(_) | Event::ReconnectScheduled { .. } | Event::GaveUp
                if no_network => {}
            Event::Disconnected(_) => self.link.set(Link::Connecting),
            Event::ReconnectScheduled { delay, .. } => self.link.set(Link::Reconnecting {
                retry_at: socket::now() + *delay,
            }),
            Event::GaveUp => self.link.set(Link::Offline),
            Event::ConnectError(message) => {
                self.link.set(Link::Offline);
                self.problem.set(Some(message.clone()));
            }
            _ => {}
        }
        let updates = self
            .with_core(|messenger, client, now| messenger.handle(client, &event, now))
            .unwrap_or_default();
        let mut changed = false;
        for update in updates {
            match update {
                messenger::Update::Registered => {
                    self.link.set(Link::Online);
                    self.problem.set(None);
                }
                messenger::Update::Refused(rejection) => {
                    self.link.set(Link::Offline);
                    self.problem.set(Some(rejection.message));
                }
                messenger::Update::Received(envelope) => {
                    // On screen while the person looks: seen as it arrives, in the same
                    // change (one render, one write below).
                    let seen = self.reading.get_value() == Some(envelope.from) && attending();
                    let mut new = false;
                    self.conversations.update(|c| {
                        new = c.receive(&envelope);
                        if new && seen {
                            c.mark_read(envelope.from);
                        }
                    });
                    if new {
                        changed = true;
                        self.announcement.update(|a| {
                            let n = a.as_ref().map_or(0, |(n, ..)| n + 1);
                            *a = Some((n, envelope.from, envelope.body));
                        });
                    }
                }
                messenger::Update::Status(id, status) => {
                    let (status, seq) = match status {
                        messenger::Status::Sent { seq, .. } => (Status::Sent, Some(seq)),
                        messenger::Status::Delivered { .. } => (Status::Delivered, None),
                        messenger::Status::Failed(reason) => (Status::Failed(reason), None),
                    };
                    self.conversations.update(|c| {
                        c.set_status(id, status, seq);
                    });
                    changed = true;
                }
            }
        }
        if changed {
            self.keep();
        }
        // Kept: the server may let go of it.
        self.with_core(|messenger, client, _| messenger.confirm(client));
    }

    fn retry(self) {
        self.with_core(|messenger, client, now| messenger.retry(client, now));
    }

    /// Runs `f` on the messenger and the client core, if connected to a socket.
    fn with_core<R>(self, f: impl FnOnce(&mut Messenger, &mut Client, Duration) -> R) -> Option<R> {
        let socket = self.socket.with_value(Clone::clone)?;
        let mut result = None;
        self.messenger.update_value(|messenger| {
            result = Some(socket.with_client(|client, now| f(messenger, client, now)));
        });
        result
    }

    /// Writes the conversations to `localStorage`; other tabs hear of it. If the browser
    /// refuses, the person is told: what shows stays, and unsent messages are still sent
    /// while the page is open.
    fn keep(self) {
        let kept = self
            .conversations
            .with_untracked(|c| kept::write(CONVERSATIONS_KEY, c));
        if self.storage_refused.get_untracked() != kept.is_err() {
            self.storage_refused.set(kept.is_err());
        }
    }
}

/// Whether the person is looking at the page: it is visible and has the focus.
pub fn attending() -> bool {
    let document = document();
    !document.hidden() && document.has_focus().unwrap_or(true)
}

/// Whether the browser thinks it has a network (`navigator.onLine`).
fn browser_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Milliseconds since the Unix epoch, by the browser's clock.
pub fn now_millis() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}
