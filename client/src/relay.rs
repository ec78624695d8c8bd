//! [`Relay`]: the app's link to the relay server, over the shared
//! [`Messenger`](relay_shared::messenger::Messenger): registers on every connect, keeps
//! each message until the server stored it (in IndexedDB, through [`History`]; resent
//! with the same id after a reload or a reconnect), shows each incoming message once,
//! confirms it to the server once kept, follows statuses to `delivered`, and follows the
//! open conversation's peer's presence. It links this browser to an id with a one-time
//! code (then keeps the identity), follows the id's devices, asks for codes to link
//! more and unlinks them, shows what the person sent from their other devices, and
//! stops for good once this device is unlinked. Its state is in signals, for the
//! components to show.

use std::{rc::Rc, time::Duration};

use leptos::prelude::*;
use relay_shared::{
    MessageId, PeerId, Secret,
    crypto::{Crypto, CryptoPickle, IdentitySecret},
    device::{DeviceId, LinkCode},
    messenger::{self, Messenger},
    socketio::{Client, ClientConfig, Event},
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, closure::Closure};

use crate::{
    conversations::{Changes, Conversations, Direction, Message, Standing, Status},
    device_link::{device_name, link_url},
    device_lock::{self, DeviceLock},
    devices::{Code, Devices},
    history::History,
    identity::{self, Identity, LEGACY_DATABASE},
    kept,
    presence::{Presence, Presences},
    privacy::{self, Privacy},
    qr, rejections,
    socket::{self, Socket},
    typing::{SHOWN_FOR_MS, Throttle, Typists},
};

/// The channel on which tabs of this browser tell each other what they kept (of the
/// legacy database; another database's is named after it).
const TABS_CHANNEL: &str = "relay.history";

/// The Web Lock held by the tab that holds this device's end-to-end encryption (of
/// the legacy database; another database's is named after it).
const CRYPTO_LOCK: &str = "relay.crypto";

/// What a tab asks of the one holding the device's crypto, over the tabs' channel.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TabRequest {
    /// Learn whether messages to this peer are encrypted (its conversation opened).
    LearnKeys(PeerId),
    /// The person accepted this peer's new identity key.
    AcceptIdentity(PeerId),
}

/// How the device's crypto starts in the tab that holds it.
enum CryptoStart {
    /// As kept.
    Restored(Box<Crypto>),
    /// Kept, but it does not read (a newer version's): not encrypting, and never
    /// overwritten.
    Unreadable,
    /// Nothing kept: with the identity key a link gave, once the device is known, or
    /// with a new one if no other device of the person has one.
    Fresh,
}

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
    /// Connected, but the server's ping is late: it is most likely gone (the connection
    /// is closed at the ping timeout, tens of seconds later). Shown as offline now.
    Silent,
    /// Not connected and not trying.
    Offline,
    /// This browser was unlinked from its id: not connected, never again.
    Unlinked,
}

impl Link {
    /// The name used in the page (`data-state`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Reconnecting { .. }
            | Self::NoNetwork
            | Self::Silent
            | Self::Offline
            | Self::Unlinked => "offline",
        }
    }
}

/// Told of the conversation where something just happened.
type ActivityListener = Rc<dyn Fn(PeerId)>;

/// Where linking this browser to an id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linking {
    /// Not linking: registering as a device of the kept identity.
    No,
    /// Sending the one-time code; not yet a device of the id.
    InProgress,
    /// Refused, for this reason (in words for the person): nothing was kept.
    Refused(String),
    /// Linked, on this page: the identity is kept.
    Done,
}

/// Where the conversations are kept, as far as this page knows.
#[derive(Clone)]
enum Keeping {
    /// IndexedDB is being opened and read.
    Opening,
    /// Kept in IndexedDB.
    Kept(History),
    /// The browser gave no IndexedDB: nothing outlives the page.
    Unavailable,
}

/// The link to the relay; `Copy`, so every component and closure can hold it.
#[derive(Clone, Copy)]
pub struct Relay {
    /// This browser's peer id.
    pub me: PeerId,
    /// This browser's identity (kept once linked, when linking).
    identity: StoredValue<Identity>,
    /// This id's devices, and the code to link another.
    devices: RwSignal<Devices>,
    /// Where linking this browser stands.
    linking: RwSignal<Linking>,
    /// This browser was unlinked from its id: it stopped for good.
    unlinked: RwSignal<bool>,
    /// Every conversation.
    conversations: RwSignal<Conversations>,
    /// The connection, as the user sees it.
    link: RwSignal<Link>,
    /// Why the server refused our registration, if it did.
    problem: RwSignal<Option<String>>,
    /// The browser refused to keep the conversations (quota, private mode).
    storage_refused: RwSignal<bool>,
    /// Told of the conversation where something just happened.
    on_activity: StoredValue<Option<ActivityListener>, LocalStorage>,
    /// The latest message received, for the screen reader: (how many so far, from, body).
    announcement: RwSignal<Option<(u64, PeerId, String)>>,
    /// The conversation on screen, whose messages are seen as they arrive while the
    /// person is looking at the page.
    reading: StoredValue<Option<PeerId>>,
    /// The first message that was new when the person last came to the conversation on
    /// screen: a "new messages" divider goes before it.
    divider: RwSignal<Option<MessageId>>,
    /// The peers typing to this browser.
    typists: RwSignal<Typists>,
    /// When each peer was last told this browser types to it.
    typing_told: StoredValue<Throttle>,
    /// Whether older messages are being loaded (one page at a time).
    loading_older: StoredValue<bool>,
    /// The person's privacy choices.
    privacy: RwSignal<Privacy>,
    /// The peer whose presence is followed: the open conversation's.
    watching: StoredValue<Option<PeerId>>,
    /// The followed peers' presence, as the server last said.
    presences: RwSignal<Presences>,
    keeping: StoredValue<Keeping, LocalStorage>,
    /// Whether this tab holds the device's end-to-end encryption (and so sends what
    /// every tab writes), another does, or the browser cannot tell.
    lock: StoredValue<DeviceLock>,
    /// The crypto state changed since it was last kept.
    crypto_unkept: StoredValue<bool>,
    /// The person's identity key, given by the link that adds this browser, until the
    /// device is known and its crypto made with it.
    link_identity: StoredValue<Option<String>>,
    /// Another device of the person has an identity key this one was not given: what is
    /// encrypted for the person cannot be read here.
    identity_elsewhere: RwSignal<bool>,
    /// The other tabs of this browser.
    tabs: StoredValue<Option<web_sys::BroadcastChannel>, LocalStorage>,
    socket: StoredValue<Option<Socket>, LocalStorage>,
    /// The protocol's state; made once the kept outbox is read.
    messenger: StoredValue<Option<Messenger>, LocalStorage>,
}

impl Relay {
    /// Connects to the server at `server` (an origin) as `identity`, resuming the kept
    /// conversations and sending again what the server had not stored. With `link_code`,
    /// `identity` is a new device of its id, linked with that one-time code (and kept
    /// only once linked).
    ///
    /// One tab of the browser holds the device's end-to-end encryption (its Web Lock);
    /// it sends what every tab writes and decrypts what comes, and the others show what
    /// it keeps. `link_identity` is the person's identity key the link gave, if any.
    pub fn start(
        server: &str,
        identity: Identity,
        link_code: Option<Secret>,
        link_identity: Option<String>,
    ) -> Self {
        let relay = Self {
            me: identity.id,
            identity: StoredValue::new(identity.clone()),
            devices: RwSignal::new(Devices {
                this: identity.device,
                ..Devices::default()
            }),
            linking: RwSignal::new(if link_code.is_some() {
                Linking::InProgress
            } else {
                Linking::No
            }),
            unlinked: RwSignal::new(false),
            conversations: RwSignal::new(Conversations::default()),
            link: RwSignal::new(Link::Connecting),
            problem: RwSignal::new(None),
            storage_refused: RwSignal::new(false),
            on_activity: StoredValue::new_local(None),
            announcement: RwSignal::new(None),
            reading: StoredValue::new(None),
            divider: RwSignal::new(None),
            typists: RwSignal::new(Typists::default()),
            typing_told: StoredValue::new(Throttle::default()),
            loading_older: StoredValue::new(false),
            privacy: RwSignal::new(kept::read(privacy::KEY)),
            watching: StoredValue::new(None),
            presences: RwSignal::new(Presences::default()),
            keeping: StoredValue::new_local(Keeping::Opening),
            lock: StoredValue::new(DeviceLock::Unsupported),
            crypto_unkept: StoredValue::new(false),
            link_identity: StoredValue::new(link_identity),
            identity_elsewhere: RwSignal::new(false),
            tabs: StoredValue::new_local(None),
            socket: StoredValue::new_local(None),
            messenger: StoredValue::new_local(None),
        };
        let server = server.to_owned();
        // The kept conversations first: the outbox in them is what the messenger resends.
        leptos::task::spawn_local(async move {
            // A newer version in another tab upgrades the history: be that version too.
            let reload = || {
                let _ = window().location().reload();
            };
            let legacy = identity.database == LEGACY_DATABASE;
            let keeping = match History::open_named(&identity.database, reload).await {
                Ok(history) => {
                    // A refused move leaves the old copy where it is, for next time. What
                    // versions before IndexedDB kept is the first identity's.
                    let moved = if legacy {
                        history.migrate_legacy().await
                    } else {
                        Ok(())
                    };
                    match history.load().await {
                        Ok(mut kept) => {
                            // Sent while this was read: added, and kept below.
                            relay.conversations.update(|c| {
                                let meanwhile = std::mem::take(c).all_records();
                                kept.merge(meanwhile.clone());
                                kept.unkept(&meanwhile);
                                *c = kept;
                            });
                            relay.storage_refused.set(moved.is_err());
                            Keeping::Kept(history)
                        }
                        Err(_) => Keeping::Unavailable,
                    }
                }
                Err(_) => Keeping::Unavailable,
            };
            if matches!(keeping, Keeping::Unavailable) {
                // An older version's copy still shows, and stays where it is.
                let copy = legacy
                    .then(|| crate::kept::read::<Option<Conversations>>(crate::history::LEGACY_KEY))
                    .flatten();
                if let Some(legacy) = copy {
                    relay
                        .conversations
                        .update(|c| _ = c.merge(legacy.all_records()));
                }
                relay.storage_refused.set(true);
            }
            relay.keeping.set_value(keeping.clone());
            relay.active();
            relay.listen_to_other_tabs(&identity.database);
            // Without IndexedDB the crypto state could not outlive the page: no tab
            // encrypts (every one sends plain, as before encryption).
            let lock_name = tabs_name(CRYPTO_LOCK, &identity.database);
            let lock = match keeping {
                Keeping::Kept(_) => device_lock::try_hold(&lock_name).await,
                Keeping::Opening | Keeping::Unavailable => DeviceLock::Unsupported,
            };
            relay.lock.set_value(lock);
            let crypto = match &keeping {
                Keeping::Kept(history) if lock == DeviceLock::Held => {
                    Some(relay.kept_crypto(history, &identity).await)
                }
                _ => None,
            };
            relay.connect(&server, identity, link_code, crypto);
            relay.keep();
            if lock == DeviceLock::Elsewhere {
                device_lock::hold_when_free(&lock_name, move || relay.take_over());
            }
        });

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
        // Another tab changed the privacy choices: they hold here too.
        let choices = window_event_listener(leptos::ev::storage, move |event| {
            // Another tab linked this browser to another id, or started over: be that
            // identity too (not while linking here, which would lose the code).
            if event.key().as_deref() == Some(identity::ID_KEY)
                && event.new_value() != Some(relay.me.to_string())
                && relay.linking.get_untracked() != Linking::InProgress
            {
                let _ = window().location().reload();
                return;
            }
            if event.key().as_deref() == Some(privacy::KEY) {
                let before = relay.privacy.get_untracked();
                let now: Privacy = kept::read(privacy::KEY);
                relay.privacy.set(now);
                // Told again from this tab's socket: the server's answers follow here.
                if now.hide_presence != before.hide_presence {
                    relay.hide_presence(now.hide_presence);
                }
            }
        });
        on_cleanup(move || choices.remove());
        // The browser knows the network went away well before a missed ping would tell.
        let offline = window_event_listener(leptos::ev::offline, move |_| relay.network_lost());
        let online = window_event_listener(leptos::ev::online, move |_| relay.network_back());
        on_cleanup(move || {
            offline.remove();
            online.remove();
        });
        if let Ok(retry) = set_interval_with_handle(move || relay.retry(), RETRY_EVERY) {
            on_cleanup(move || retry.clear());
        }
        relay
    }

    /// This id's devices, and the code to link another. Read-only: changes go through
    /// the relay's methods.
    pub fn devices(self) -> ReadSignal<Devices> {
        self.devices.read_only()
    }

    /// Where linking this browser to an id stands.
    pub fn linking(self) -> ReadSignal<Linking> {
        self.linking.read_only()
    }

    /// Whether this browser was unlinked from its id (it stopped for good).
    pub fn unlinked(self) -> ReadSignal<bool> {
        self.unlinked.read_only()
    }

    /// Whether messages can be written here: not once unlinked, nor when linking
    /// failed (this browser is no device of the id).
    pub fn can_write(self) -> bool {
        !self.unlinked.get() && !matches!(self.linking.get(), Linking::Refused(_))
    }

    /// Asks the server for a one-time code to link another device: it shows, with its
    /// link and QR code, until it is used, it expires or the person closes it.
    pub fn ask_link_code(self) {
        self.devices.update(|d| d.code = Code::Asking);
        let asked = self
            .with_core(|messenger, client, now| messenger.request_link_code(client, now))
            .unwrap_or(false);
        if !asked {
            self.devices.update(|d| {
                d.code = Code::Failed("Not connected. Try again once online.".into());
            });
        }
    }

    /// The person closes the code (it still works until it expires or a new one is
    /// asked for: the server keeps one at a time).
    pub fn close_link_code(self) {
        self.devices.update(|d| d.code = Code::Closed);
    }

    /// Unlinks `device` of this id (this one too; never the last): it stops receiving
    /// at once.
    pub fn unlink(self, device: DeviceId) {
        let asked = self
            .with_core(|messenger, client, now| messenger.unlink(client, device, now))
            .unwrap_or(false);
        self.devices.update(|d| {
            if asked {
                d.unlinking = Some(device);
            } else {
                d.notice = Some("Not unlinked: not connected. Try again once online.".into());
            }
        });
    }

    /// Every conversation. Read-only: changes go through the relay's methods.
    pub fn conversations(self) -> ReadSignal<Conversations> {
        self.conversations.read_only()
    }

    /// The connection, as the user sees it.
    pub fn link(self) -> ReadSignal<Link> {
        self.link.read_only()
    }

    /// Why the server refused our registration, if it did, in words for the person.
    pub fn problem(self) -> ReadSignal<Option<String>> {
        self.problem.read_only()
    }

    /// Whether the browser refused to keep the conversations (quota, private mode).
    pub fn storage_refused(self) -> ReadSignal<bool> {
        self.storage_refused.read_only()
    }

    /// The latest message received, for the screen reader: (how many so far, from, body).
    pub fn announcement(self) -> ReadSignal<Option<(u64, PeerId, String)>> {
        self.announcement.read_only()
    }

    /// The person's privacy choices.
    pub fn privacy(self) -> ReadSignal<Privacy> {
        self.privacy.read_only()
    }

    /// Turns read receipts on or off, in every tab of this browser. Returns whether the
    /// browser kept the choice (it holds in this tab either way).
    pub fn set_read_receipts(self, on: bool) -> bool {
        self.privacy.update(|p| p.read_receipts = on);
        kept::write(privacy::KEY, &self.privacy.get_untracked()).is_ok()
    }

    /// Hides the person's presence from everyone (and so everyone's from them), or shows
    /// it to their contacts again, in every tab of this browser. Returns whether the
    /// browser kept the choice (it holds in this tab, and on the server, either way).
    pub fn set_hide_presence(self, hidden: bool) -> bool {
        self.privacy.update(|p| p.hide_presence = hidden);
        let kept = kept::write(privacy::KEY, &self.privacy.get_untracked()).is_ok();
        self.hide_presence(hidden);
        kept
    }

    /// Tells the server to hide the person's presence or show it again (until it
    /// confirms, also after reconnecting); nothing of others' shows while it is hidden.
    fn hide_presence(self, hidden: bool) {
        if hidden {
            self.presences.maybe_update(Presences::clear);
        }
        self.with_core(|messenger, client, now| messenger.hide_presence(client, hidden, now));
    }

    /// Follows `peer`'s presence (the open conversation's; `None`: nobody's) instead of
    /// the one followed before, also after reconnecting.
    pub fn watch_presence(self, peer: Option<PeerId>) {
        // One's own presence is no news.
        let peer = peer.filter(|p| *p != self.me);
        self.watching.set_value(peer);
        let peers: Vec<PeerId> = peer.into_iter().collect();
        self.presences.maybe_update(|p| p.follow(&peers));
        self.with_core(|messenger, client, now| messenger.watch_presence(client, peers, now));
    }

    /// `peer`'s presence, if it may be shown: never while the person hides their own.
    pub fn presence(self, peer: PeerId) -> Option<Presence> {
        if self.privacy.with(|p| p.hide_presence) {
            return None;
        }
        self.presences.with(|p| p.get(peer))
    }

    /// Makes sure there is a conversation with `peer` (a share link opened it).
    pub fn open_conversation(self, peer: PeerId) {
        self.conversations.update(|c| c.open(peer));
        self.keep();
    }

    /// Calls `f` with the conversation where something just happened (a message came, or
    /// the kept ones were read: the latest), as it happens.
    pub fn on_activity(self, f: impl Fn(PeerId) + 'static) {
        self.on_activity.set_value(Some(Rc::new(f)));
    }

    /// Tells [`on_activity`](Self::on_activity)'s listener of the latest conversation.
    fn active(self) {
        let latest = self
            .conversations
            .with_untracked(|c| c.iter().next().map(|c| c.peer));
        if let (Some(peer), Some(f)) = (latest, self.on_activity.with_value(Clone::clone)) {
            f(peer);
        }
    }

    /// Makes the messenger, with the outbox as kept, and connects (linking with
    /// `link_code`, if given). With `crypto` this tab holds the device's end-to-end
    /// encryption; without, another tab does (or none can).
    fn connect(
        self,
        server: &str,
        identity: Identity,
        link_code: Option<Secret>,
        crypto: Option<CryptoStart>,
    ) {
        let mut messenger = self.messenger_for(&identity, crypto);
        if let Some(code) = link_code {
            let agent = window().navigator().user_agent().unwrap_or_default();
            messenger = messenger.linking(code, Some(device_name(&agent)));
        }
        self.messenger.set_value(Some(messenger));
        // Blocks and unblocks the server had not confirmed when the page last closed.
        let unconfirmed = self
            .conversations
            .with_untracked(Conversations::unconfirmed_blocks);
        self.messenger.update_value(|m| {
            if let Some(m) = m {
                m.resume_blocks(unconfirmed);
            }
        });
        let socket = Socket::connect(server, ClientConfig::default(), move |event| {
            self.on_event(event);
        });
        self.socket.set_value(Some(socket));
        self.hand_choices_to_messenger();
        if !browser_online() {
            self.network_lost();
        }
    }

    /// Hands a new messenger what it sends on every connection: the kept choice to hide
    /// presence (the server may not have it yet, and takes it again without harm), the
    /// presence followed (the conversation opened meanwhile), and the devices followed.
    fn hand_choices_to_messenger(self) {
        let hidden = self.privacy.with_untracked(|p| p.hide_presence);
        let peers: Vec<PeerId> = self.watching.get_value().into_iter().collect();
        self.with_core(|messenger, client, now| {
            messenger.hide_presence(client, hidden, now);
            messenger.watch_presence(client, peers, now);
            messenger.follow_devices(client, now);
        });
    }

    /// The messenger of `identity` (the outbox as kept, if this tab sends), with the
    /// device's crypto if this tab holds it (`crypto`).
    fn messenger_for(self, identity: &Identity, crypto: Option<CryptoStart>) -> Messenger {
        let sends = self.lock.get_value() != DeviceLock::Elsewhere;
        let messenger = self.conversations.with_untracked(|c| {
            Messenger::new(
                identity.id,
                identity.secret.clone(),
                if sends { c.drafts() } else { Vec::new() },
                c.received().collect::<Vec<_>>(),
            )
            .with_device(identity.device)
        });
        match crypto {
            Some(CryptoStart::Restored(crypto)) => messenger.with_crypto(*crypto),
            Some(CryptoStart::Fresh) if self.link_identity.with_value(Option::is_none) => {
                messenger.encrypt_if_first()
            }
            // Made once the device is known.
            Some(CryptoStart::Fresh | CryptoStart::Unreadable) => messenger,
            None if sends => messenger,
            None => messenger.decrypted_elsewhere(),
        }
    }

    /// The device's crypto as kept in `history`, for `identity`'s device.
    async fn kept_crypto(self, history: &History, identity: &Identity) -> CryptoStart {
        let Ok(Some(json)) = history.device_crypto().await else {
            return CryptoStart::Fresh;
        };
        let restored = serde_json::from_str::<CryptoPickle>(&json)
            .map_err(|e| e.to_string())
            .and_then(|pickle| Crypto::from_pickle(pickle).map_err(|e| e.to_string()));
        match restored {
            // Another device's (this browser was linked anew): this one starts afresh.
            Ok(crypto)
                if crypto.id() != identity.id || Some(crypto.device()) != identity.device =>
            {
                CryptoStart::Fresh
            }
            Ok(crypto) => CryptoStart::Restored(Box::new(crypto)),
            Err(why) => {
                web_sys::console::warn_1(
                    &format!("this device's encryption keys did not read: {why}").into(),
                );
                CryptoStart::Unreadable
            }
        }
    }

    /// The tab that held the device's crypto closed: this one holds it now. It sends
    /// what every tab writes, and connects again so that what waited comes to it.
    fn take_over(self) {
        self.lock.set_value(DeviceLock::Held);
        let Keeping::Kept(history) = self.keeping.with_value(Clone::clone) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let identity = self.identity.get_value();
            let crypto = self.kept_crypto(&history, &identity).await;
            let messenger = self.messenger_for(&identity, Some(crypto));
            self.messenger.set_value(Some(messenger));
            self.hand_choices_to_messenger();
            if let Some(socket) = self.socket.with_value(Clone::clone) {
                socket.network_lost();
                socket.network_back();
            }
        });
    }

    /// Whether this tab sends what the person writes: it holds the device's crypto, or
    /// the browser cannot tell (then every tab does, plain).
    fn sends(self) -> bool {
        self.lock.get_value() != DeviceLock::Elsewhere
    }

    /// Takes in what other tabs of this browser keep, as they keep it; the tab holding
    /// the device's crypto sends what they wrote, and does what they ask of it.
    fn listen_to_other_tabs(self, database: &str) {
        let name = tabs_name(TABS_CHANNEL, database);
        let Ok(channel) = web_sys::BroadcastChannel::new(&name) else {
            return;
        };
        let on_message =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let Some(json) = event.data().as_string() else {
                    return;
                };
                if let Ok(request) = serde_json::from_str::<TabRequest>(&json) {
                    if self.lock.get_value() == DeviceLock::Held {
                        self.do_for_tab(request);
                    }
                } else if let Ok(theirs) = serde_json::from_str::<Changes>(&json) {
                    let written: Vec<_> = theirs
                        .messages
                        .iter()
                        .filter(|(_, m)| m.is_unsent())
                        .cloned()
                        .collect();
                    let held = self.lock.get_value() == DeviceLock::Held;
                    self.conversations.update(|c| {
                        let seen = c.merge(theirs);
                        // The tab holding the device's crypto reports what the others
                        // saw: it confirmed what they show.
                        if held {
                            c.seen_elsewhere(seen);
                        }
                    });
                    self.active();
                    // Arrived on screen while the person looks: seen.
                    self.mark_read();
                    if held {
                        self.send_for_tab(written);
                        self.keep();
                    }
                }
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // Lives as long as the page.
        on_message.forget();
        self.tabs.set_value(Some(channel));
    }

    /// The device is known: if this browser was given its person's identity key by the
    /// link that added it, and holds the device's crypto, it starts encrypting with it.
    fn start_linked_crypto(self, device: DeviceId) {
        if self.lock.get_value() != DeviceLock::Held {
            return;
        }
        let Some(text) = self.link_identity.try_update_value(Option::take).flatten() else {
            return;
        };
        match IdentitySecret::from_base64(&text) {
            Ok(secret) => {
                let crypto = Crypto::linked(self.me, device, secret);
                self.with_core(|messenger, client, now| {
                    messenger.encrypt_with(client, crypto, now);
                });
            }
            Err(why) => web_sys::console::warn_1(
                &format!("the link's identity key did not read: {why}").into(),
            ),
        }
    }

    /// Shows the link (and its QR code) that adds a device with `code`, carrying the
    /// person's identity key if this device has one; not if the person closed it
    /// meanwhile.
    fn link_code_given(self, code: LinkCode) {
        leptos::task::spawn_local(async move {
            let identity = self.identity_for_link().await;
            if self.devices.with_untracked(|d| d.code != Code::Asking) {
                return;
            }
            let origin = window().location().origin().unwrap_or_default();
            let link = link_url(&origin, self.me, &code.code, identity.as_deref());
            let picture = qr::svg(&link).unwrap_or_default();
            self.devices
                .update(|d| d.code_given(&code, link, picture, now_millis(), socket::now()));
        });
    }

    /// The person's identity key (unpadded base64), for a link that adds a device: from
    /// this tab's crypto, or as another tab keeps it.
    async fn identity_for_link(self) -> Option<String> {
        let here = self
            .messenger
            .with_value(|m| Some(m.as_ref()?.crypto()?.identity_secret().to_base64()));
        if here.is_some() {
            return here;
        }
        let Keeping::Kept(history) = self.keeping.with_value(Clone::clone) else {
            return None;
        };
        let json = history.device_crypto().await.ok()??;
        let crypto = Crypto::from_pickle(serde_json::from_str(&json).ok()?).ok()?;
        (crypto.id() == self.me).then(|| crypto.identity_secret().to_base64())
    }

    /// Sends, from the tab holding the device's crypto, the messages another tab
    /// `written` (its outbox, as kept): those not being sent already.
    /// Those this tab knows were stored already are not sent again.
    fn send_for_tab(self, written: Vec<(PeerId, Message)>) {
        let still_unsent = |to: PeerId, id: MessageId| {
            self.conversations.with_untracked(|c| {
                c.get(to).is_none_or(|c| {
                    !c.messages
                        .iter()
                        .any(|m| m.id == id && m.direction == Direction::Out && !m.is_unsent())
                })
            })
        };
        let written: Vec<_> = written
            .into_iter()
            .filter(|(to, m)| still_unsent(*to, m.id))
            .collect();
        self.with_core(|messenger, client, now| {
            for (to, message) in written {
                if !messenger.unsent().iter().any(|d| d.id == message.id) {
                    messenger.send(client, to, message.body, message.id, now);
                }
            }
        });
    }

    /// Does what another tab asked of the one holding the device's crypto.
    fn do_for_tab(self, request: TabRequest) {
        match request {
            TabRequest::LearnKeys(peer) => {
                self.with_core(|messenger, client, now| messenger.learn_keys(client, peer, now));
            }
            TabRequest::AcceptIdentity(peer) => self.accept_identity(peer),
        }
    }

    /// Asks the tab holding the device's crypto to do `request`, or does it here if this
    /// is that tab.
    fn ask_crypto_tab(self, request: TabRequest) {
        match self.lock.get_value() {
            DeviceLock::Held => self.do_for_tab(request),
            DeviceLock::Elsewhere => {
                if let Some(tabs) = self.tabs.with_value(Clone::clone)
                    && let Ok(json) = serde_json::to_string(&request)
                {
                    let _ = tabs.post_message(&json.into());
                }
            }
            DeviceLock::Unsupported => {}
        }
    }

    /// Learns whether the conversation with `peer` is end-to-end encrypted, if not
    /// known yet (it was opened).
    pub fn learn_encryption(self, peer: PeerId) {
        if self
            .conversations
            .with_untracked(|c| c.get(peer).is_some_and(|c| c.encryption.on.is_none()))
        {
            self.ask_crypto_tab(TabRequest::LearnKeys(peer));
        }
    }

    /// The person compared safety numbers and accepts `peer`'s new identity key: what
    /// waited for them goes, encrypted for it, and what they send is read again.
    pub fn accept_identity(self, peer: PeerId) {
        if self.lock.get_value() != DeviceLock::Held {
            self.ask_crypto_tab(TabRequest::AcceptIdentity(peer));
            return;
        }
        let read = self
            .with_core(|messenger, client, now| messenger.accept_identity(client, peer, now))
            .unwrap_or_default();
        self.conversations
            .update(|c| _ = c.set_encryption(peer, |e| e.key_changed = false));
        self.apply(read);
        self.keep();
    }

    /// Whether another device of the person has an identity key this one was not
    /// given: what is encrypted for the person cannot be read here.
    pub fn identity_elsewhere(self) -> ReadSignal<bool> {
        self.identity_elsewhere.read_only()
    }

    /// Shows what this device's crypto learned of `peer`'s conversation: whether it is
    /// encrypted, its safety number (worked out once, or again when the key changed),
    /// and whether a key change waits.
    fn learned_encryption(self, peer: PeerId, on: bool, key_changed: bool) -> bool {
        // Worked out only when needed: thousands of SHA-512 rounds.
        let known = self.conversations.with_untracked(|c| {
            c.get(peer)
                .is_none_or(|c| c.encryption.safety_number.is_some())
        });
        let numbers = (on && (key_changed || !known))
            .then(|| {
                self.messenger.with_value(|m| {
                    let crypto = m.as_ref()?.crypto()?;
                    Some((
                        crypto.safety_number_with(peer)?,
                        crypto.safety_qr_with(peer)?,
                    ))
                })
            })
            .flatten();
        self.conversations
            .try_update(|c| {
                c.set_encryption(peer, |e| {
                    e.on = Some(on);
                    if key_changed {
                        e.key_changed = true;
                    }
                    if on
                        && (key_changed || e.safety_number.is_none())
                        && let Some((number, qr)) = numbers
                    {
                        e.safety_number = Some(number);
                        e.safety_qr = Some(qr);
                    }
                })
            })
            .unwrap_or(false)
    }

    /// Loads the next older page of `peer`'s conversation, if there is one kept.
    pub fn load_older(self, peer: PeerId) {
        let Keeping::Kept(history) = self.keeping.with_value(Clone::clone) else {
            return;
        };
        let Some(before) = self.conversations.with_untracked(|c| {
            c.get(peer)
                .filter(|c| c.more_kept)
                .and_then(|c| c.oldest_order())
        }) else {
            return;
        };
        if self.loading_older.get_value() {
            return;
        }
        self.loading_older.set_value(true);
        leptos::task::spawn_local(async move {
            if let Ok((older, more_kept)) = history.older(peer, before).await {
                self.conversations
                    .update(|c| c.add_older(peer, older, more_kept));
            }
            self.loading_older.set_value(false);
        });
    }

    /// Sends `body` to `to`; the message appears at once as `sending`, and is kept until
    /// the server stored it.
    pub fn send(self, to: PeerId, body: String) {
        let id = MessageId::from_uuid(uuid::Uuid::new_v4());
        self.conversations
            .update(|c| c.send(to, id, body.clone(), now_millis()));
        self.typing_told.update_value(|t| t.sent(to));
        self.keep();
        // Another tab holds the device's crypto: it sends what this one kept.
        if self.sends() {
            self.with_core(|messenger, client, now| messenger.send(client, to, body, id, now));
        }
    }

    /// The person is typing to `to`: `to` is told, at most every few seconds.
    pub fn typing(self, to: PeerId) {
        let due = self
            .typing_told
            .try_update_value(|t| t.due(to, now_millis()))
            .unwrap_or(false);
        if due {
            self.with_core(|messenger, client, _| messenger.typing(client, to));
        }
    }

    /// Takes `peer`'s message request in: the conversation becomes an ordinary one.
    pub fn accept(self, peer: PeerId) {
        if self
            .conversations
            .try_update(|c| c.stand(peer, Standing::Accepted))
            .unwrap_or(false)
        {
            self.keep();
        }
    }

    /// Blocks `peer` (`on`) or unblocks it: on the server (sent until it confirms, also
    /// after a reload), and here (nothing more from it shows).
    pub fn block(self, peer: PeerId, on: bool) {
        let standing = if on {
            Standing::Blocked
        } else {
            Standing::Accepted
        };
        if !self
            .conversations
            .try_update(|c| c.stand(peer, standing))
            .unwrap_or(false)
        {
            return;
        }
        if on {
            self.typists.maybe_update(|t| t.stopped(peer));
        }
        self.keep();
        self.with_core(|messenger, client, now| messenger.block(client, peer, on, now));
    }

    /// Whether `peer` is typing to this browser.
    pub fn is_typing(self, peer: PeerId) -> bool {
        self.typists.with(|t| t.is_typing(peer))
    }

    /// `peer` said it is typing: shown until its time runs out.
    fn heard_typing(self, peer: PeerId) {
        self.typists.update(|t| t.heard(peer, now_millis()));
        let expire = move || self.typists.maybe_update(|t| t.expire(now_millis()));
        set_timeout(expire, Duration::from_millis(SHOWN_FOR_MS));
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
        // Stopped for good: the badge keeps saying why.
        let stopped = self.unlinked.get_untracked()
            || matches!(self.linking.get_untracked(), Linking::Refused(_));
        match &event {
            _ if stopped => {}
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
            Event::PingLate => self.link.set(Link::Silent),
            Event::PingBack if self.link.get_untracked() == Link::Silent => {
                self.link.set(Link::Online);
            }
            _ => {}
        }
        // What was said of peers' presence is stale until the server says it again, on
        // connecting.
        if matches!(event, Event::Disconnected(_)) {
            self.presences.maybe_update(Presences::clear);
        }
        let updates = self
            .with_core(|messenger, client, now| messenger.handle(client, &event, now))
            .unwrap_or_default();
        self.apply(updates);
    }

    /// Shows what the messenger learned, and keeps it (then confirms what came).
    fn apply(self, updates: Vec<messenger::Update>) {
        let mut changed = false;
        for update in updates {
            match update {
                messenger::Update::Registered => {
                    self.link.set(Link::Online);
                    self.problem.set(None);
                }
                messenger::Update::Linked => {
                    // This browser is a device of the id now: its identity is kept.
                    self.identity.with_value(identity::adopt);
                    self.linking.set(Linking::Done);
                }
                messenger::Update::Device(device) => {
                    self.identity.update_value(|i| i.device = Some(device));
                    identity::keep_device(self.me, device);
                    self.devices.update(|d| d.this = Some(device));
                    self.start_linked_crypto(device);
                }
                messenger::Update::LinkRefused(rejection) => {
                    self.link.set(Link::Offline);
                    self.linking
                        .set(Linking::Refused(rejections::of_link(&rejection)));
                }
                messenger::Update::Unlinked => {
                    self.link.set(Link::Unlinked);
                    self.unlinked.set(true);
                    self.linking.set(Linking::No);
                    // What it listed is no longer this browser's to see or change.
                    self.devices.set(Devices::default());
                    self.typists.set(Typists::default());
                    self.presences.maybe_update(Presences::clear);
                }
                messenger::Update::Devices(list) => {
                    self.devices.update(|d| {
                        d.heard(list);
                    });
                }
                messenger::Update::LinkCode(Ok(code)) => self.link_code_given(code),
                messenger::Update::LinkCode(Err(why)) => {
                    if self.devices.with_untracked(|d| d.code == Code::Asking) {
                        self.devices
                            .update(|d| d.code = Code::Failed(rejections::of_link_code(&why)));
                    }
                }
                messenger::Update::Unlink(device, answer) => {
                    if let Err(why) = answer {
                        self.devices.update(|d| {
                            if d.unlinking == Some(device) {
                                d.unlinking = None;
                            }
                            d.notice = Some(rejections::of_unlink(&why));
                        });
                    }
                }
                messenger::Update::Outgoing(envelope) => {
                    let mut new = false;
                    self.conversations
                        .update(|c| new = c.sent_elsewhere(&envelope));
                    if new {
                        changed = true;
                        self.active();
                    }
                }
                messenger::Update::Refused(rejection) => {
                    self.link.set(Link::Offline);
                    self.problem
                        .set(Some(rejections::of_registration(&rejection)));
                }
                messenger::Update::Typing(from) => {
                    let standing = self.conversations.with_untracked(|c| c.standing(from));
                    if standing != Standing::Blocked {
                        self.heard_typing(from);
                    }
                }
                messenger::Update::Presence(notice) => {
                    // Hidden: the server says `unknown` anyway, but one in flight may not.
                    if !self.privacy.with_untracked(|p| p.hide_presence) {
                        self.presences.maybe_update(|p| p.heard(notice));
                    }
                }
                // The choice is in the privacy signal already; the messenger stops sending it.
                messenger::Update::PresenceHidden(_) => {}
                messenger::Update::Blocked(peer, on) => {
                    self.conversations.update(|c| c.confirmed(peer, on));
                    changed = true;
                }
                messenger::Update::BlockRefused(peer, on, rejection) => {
                    // Refused for good: the conversation shows where things stand.
                    web_sys::console::warn_1(&format!("block refused: {rejection}").into());
                    let back = if on {
                        Standing::Accepted
                    } else {
                        Standing::Blocked
                    };
                    self.conversations.update(|c| {
                        c.stand(peer, back);
                        c.confirmed(peer, !on);
                    });
                    changed = true;
                }
                messenger::Update::Received(envelope) => {
                    // Done typing: the message is here.
                    self.typists.maybe_update(|t| t.stopped(envelope.from));
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
                        self.active();
                        self.announcement.update(|a| {
                            let n = a.as_ref().map_or(0, |(n, ..)| n + 1);
                            *a = Some((n, envelope.from, envelope.body));
                        });
                    }
                }
                // Shown as such, in its place, never as text.
                messenger::Update::Undecryptable { envelope, reason } => {
                    web_sys::console::warn_1(
                        &format!(
                            "a message from {} could not be decrypted: {reason}",
                            envelope.from
                        )
                        .into(),
                    );
                    if envelope.from != self.me {
                        let mut new = false;
                        self.conversations
                            .update(|c| new = c.receive_undecryptable(&envelope));
                        if new {
                            changed = true;
                            self.active();
                        }
                    }
                }
                messenger::Update::Encryption { peer, on } => {
                    changed |= self.learned_encryption(peer, on, false);
                }
                messenger::Update::KeyChanged(peer) => {
                    changed |= self.learned_encryption(peer, true, true);
                }
                // The open conversation's encryption can be learned now.
                messenger::Update::KeysPublished => {
                    if let Some(peer) = self.watching.get_value() {
                        self.learn_encryption(peer);
                    }
                }
                messenger::Update::IdentityElsewhere => self.identity_elsewhere.set(true),
                messenger::Update::Status { peer, id, status } => {
                    let (status, seq) = match status {
                        messenger::Status::Sent { seq, .. } => (Status::Sent, Some(seq)),
                        messenger::Status::Delivered { .. } => (Status::Delivered, None),
                        messenger::Status::Read { .. } => (Status::Read, None),
                        messenger::Status::Failed(rejection) => {
                            (Status::Failed(rejections::of_message(&rejection)), None)
                        }
                    };
                    // Not loaded here, it goes to IndexedDB with the next write; either
                    // way the receipt is confirmed only once that write is done.
                    self.conversations
                        .maybe_update(|c| c.set_status(peer, id, status, seq));
                    changed = true;
                }
            }
        }
        // Kept first; then the server may let go of what it handed out.
        let unconfirmed = self
            .messenger
            .with_value(|m| m.as_ref().is_some_and(Messenger::has_unconfirmed));
        let crypto_changed = self
            .messenger
            .try_update_value(|m| m.as_mut().is_some_and(Messenger::take_crypto_changed))
            .unwrap_or(false);
        if crypto_changed {
            self.crypto_unkept.set_value(true);
        }
        if changed || unconfirmed || crypto_changed {
            self.keep();
        }
    }

    fn retry(self) {
        self.with_core(|messenger, client, now| messenger.retry(client, now));
    }

    /// Runs `f` on the messenger and the client core, if connected to a socket.
    fn with_core<R>(self, f: impl FnOnce(&mut Messenger, &mut Client, Duration) -> R) -> Option<R> {
        let socket = self.socket.with_value(Clone::clone)?;
        let mut result = None;
        self.messenger.update_value(|messenger| {
            if let Some(messenger) = messenger {
                result = Some(socket.with_client(|client, now| f(messenger, client, now)));
            }
        });
        result
    }

    /// Keeps what changed in IndexedDB (in the order of the changes); once it is kept,
    /// tells the other tabs, and the server what it may let go of. If the browser
    /// refuses, the person is told: what shows stays, unsent messages are still sent
    /// while the page is open, the server keeps what it delivered, to hand out again, and
    /// what was not kept is tried again with the next change.
    fn keep(self) {
        let history = match self.keeping.with_value(Clone::clone) {
            // Kept once it is open: the changes wait in the conversations.
            Keeping::Opening => return,
            Keeping::Kept(history) => Some(history),
            Keeping::Unavailable => None,
        };
        let changes = self
            .conversations
            .try_update_untracked(Conversations::take_changes)
            .unwrap_or_default();
        let received = self
            .with_core(|messenger, _, _| messenger.take_to_confirm())
            .unwrap_or_default();
        // Read receipts, if the person sends them, for what was seen; never to oneself.
        let mut seen = self
            .conversations
            .try_update_untracked(Conversations::take_seen)
            .unwrap_or_default();
        seen.retain(|(from, _)| *from != self.me);
        // The tab holding the device's crypto reports what every tab saw.
        if !self.privacy.get_untracked().read_receipts || !self.sends() {
            seen.clear();
        }
        let Some(history) = history else {
            // Nothing is kept, so nothing confirmed now: what was confirmed before.
            self.with_core(|messenger, client, _| messenger.read(client, seen));
            return;
        };
        // The crypto state as it is now, which decrypted what is confirmed below: kept
        // in the same transaction as the messages, or neither is.
        let crypto = if self.crypto_unkept.get_value() {
            self.messenger.with_value(|m| {
                let crypto = m.as_ref()?.crypto()?;
                serde_json::to_string(&crypto.pickle()).ok()
            })
        } else {
            None
        };
        if crypto.is_some() {
            self.crypto_unkept.set_value(false);
        }
        leptos::task::spawn_local(async move {
            let kept = history.write(&changes, crypto.as_deref()).await;
            if self.storage_refused.get_untracked() != kept.is_err() {
                self.storage_refused.set(kept.is_err());
            }
            let Ok(moved) = kept else {
                if crypto.is_some() {
                    self.crypto_unkept.set_value(true);
                }
                // Tried again with the next change (the browser may have room by then).
                self.conversations.update_untracked(|c| c.unkept(&changes));
                // What was seen and confirmed before is reported; the rest the server
                // skips (still waiting), as it comes again.
                self.with_core(|messenger, client, _| messenger.read(client, seen));
                return;
            };
            // Confirmed, then read: the server takes one socket's events in order.
            self.with_core(|messenger, client, _| {
                messenger.confirm_kept(client, received);
                messenger.read(client, seen);
            });
            // What the statuses of messages not loaded wrote is the records they moved
            // on: other tabs take those in where they have them loaded, and so does this
            // one (it may have loaded them meanwhile).
            let mut changes = changes;
            changes.statuses.clear();
            if !moved.is_empty() {
                let moved = Changes {
                    messages: moved,
                    ..Changes::default()
                };
                self.conversations.update(|c| _ = c.merge(moved.clone()));
                changes.messages.extend(moved.messages);
            }
            if !changes.is_empty()
                && let Some(tabs) = self.tabs.with_value(Clone::clone)
                && let Ok(json) = serde_json::to_string(&changes)
            {
                let _ = tabs.post_message(&json.into());
            }
        });
    }
}

/// The name of the tabs' channel or lock `base` for the history `database`: the legacy
/// database's is `base` itself.
fn tabs_name(base: &str, database: &str) -> String {
    if database == LEGACY_DATABASE {
        base.to_owned()
    } else {
        format!("{base}.{database}")
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
