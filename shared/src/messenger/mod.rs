//! [`Messenger`]: Relay's typed protocol from a peer's side, on top of the Socket.IO
//! client core, without I/O (feature `client`). The web app and native programs share it.
//!
//! It registers (with the id's secret) on every connect; keeps each message until the
//! server has stored it, resending it with the same id after a reconnect, so nothing typed
//! is lost; reports each incoming message once however often it arrives; confirms what
//! arrived, so the server lets go of it; and follows each message's status through to
//! the recipient's receipt.
//!
//! One person may use several devices, each with its own secret
//! ([`crate::device`]): a messenger made with [`Messenger::linking`] becomes a device of
//! an id with a one-time code instead of registering; a registered one asks for codes
//! ([`Messenger::request_link_code`]), follows the id's devices
//! ([`Messenger::follow_devices`]) and unlinks them ([`Messenger::unlink`]). What the
//! person sent from their other devices comes as [`Update::Outgoing`]; once this device
//! is unlinked ([`Update::Unlinked`]) it stops for good.
//!
//! With a device's crypto core ([`Messenger::with_crypto`]) it encrypts end to end: see
//! [`e2ee`].

pub mod e2ee;

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    Envelope, ErrorCode, MessageId, PeerId, Receipt, Received, RegisterReply, RegisterRequest,
    Rejection, Secret, SendReply,
    device::{DeviceId, DeviceInfo, LinkCode, LinkRequest, UnlinkRequest},
    error::{MAX_QUOTED_CHARS, shortened},
    event,
    message::{BlockRequest, MAX_RECEIVED_IDS, ReadRequest, TypingNotice, TypingRequest},
    presence::{
        HidePresenceRequest, MAX_WATCHED, PresenceNotice, WatchPresenceReply, WatchPresenceRequest,
    },
    socketio::{AckFailure, AckId, Client, Event},
};

/// How long the server has to answer a register or a send before it is sent again.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest the messenger waits before sending again when the server asks it to
/// wait: a server's `retry_after_ms` past this is taken as this.
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// Sends awaiting the server's answer at once, at most: the rest wait here, in order, and
/// go as answers come back. Below the server's per-socket bound (256 by default), so a
/// busy sender is paced rather than refused.
pub const WINDOW: usize = 128;

/// Read reports waiting for a connection, at most: past it the oldest are dropped (a
/// read receipt is a courtesy; the messages themselves are all kept).
pub const MAX_PENDING_READS: usize = 10_000;

/// How long a link or a registration the server could not take for a passing reason
/// waits before it is sent again, unless the server said how long.
pub const LINK_RETRY: Duration = Duration::from_secs(5);

/// A message written here that the server has not stored yet. Keep these across
/// restarts (the web app keeps them in `localStorage`) and hand them back to
/// [`Messenger::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// Its id, chosen here and kept across resends: the server stores it once.
    pub id: MessageId,
    /// The recipient.
    pub to: PeerId,
    /// The text.
    pub body: String,
}

/// Where an outgoing message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Stored by the server; the recipient's client has not confirmed it yet.
    Sent {
        /// Its place in the server's order.
        seq: u64,
        /// When the server accepted it.
        sent_at: u64,
    },
    /// The recipient's client has it.
    Delivered {
        /// When the recipient's client confirmed it.
        at: u64,
    },
    /// The recipient has seen it.
    Read {
        /// When.
        at: u64,
    },
    /// Not sent, for good: the server's rejection (its message shortened), whose code
    /// says why in a way an application can put in its own words.
    Failed(Rejection),
}

/// What the application learns from an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Registered: the server sends what waited and what comes.
    Registered,
    /// The server refused the registration: the id belongs to another secret.
    Refused(Rejection),
    /// Which of the id's devices this one is, as the server said on registering or
    /// linking; comes right before [`Update::Registered`]. Keep it and hand it back
    /// ([`Messenger::with_device`]): it is how an unlinked device knows it was.
    Device(DeviceId),
    /// Linked with the code ([`Messenger::linking`]): this is now a device of the id, with
    /// its own secret, which registers from now on. [`Update::Device`] and
    /// [`Update::Registered`] follow.
    Linked,
    /// The server refused the link, for good: the code is wrong, used or expired
    /// (`forbidden`), or the id has all the devices it may have (`limit_reached`). Nothing
    /// is registered; the connection is closed.
    LinkRefused(Rejection),
    /// A message arrived, for the first time. If it came end-to-end encrypted, `body` is
    /// its decrypted text and `encrypted` says so (without its ciphertexts).
    Received(Envelope),
    /// An end-to-end encrypted message arrived, for the first time, that this device
    /// could not decrypt (altered, not encrypted for it, from an identity key not
    /// accepted): show it as such, never as text. The envelope is as it came.
    Undecryptable {
        /// The message.
        envelope: Envelope,
        /// Why, for logs.
        reason: String,
    },
    /// Whether messages to this person are end-to-end encrypted, once learned (their
    /// devices publish keys) or as it changes.
    Encryption {
        /// The person.
        peer: PeerId,
        /// Encrypted.
        on: bool,
    },
    /// This device's keys are published (on this connection): others can write to it
    /// encrypted.
    KeysPublished,
    /// This person's identity key changed: nothing is sent to them, nor read from them,
    /// until the person accepts it ([`Messenger::accept_identity`]), having compared
    /// safety numbers.
    KeyChanged(PeerId),
    /// A message this person sent from another of its devices, for the first time here:
    /// outgoing, in the conversation with its `to`, stored by the server (`sent`) at
    /// least; receipts move it on like any message sent here. Confirmed like a received
    /// one.
    Outgoing(Envelope),
    /// An outgoing message moved on.
    Status {
        /// Its recipient: the conversation it belongs to.
        peer: PeerId,
        /// The message.
        id: MessageId,
        /// Where it stands now.
        status: Status,
    },
    /// This peer is typing to us (at most once per notice; never stored).
    Typing(PeerId),
    /// The server carried out a block (`true`) or unblock of this peer.
    Blocked(PeerId, bool),
    /// The server refused, for good, to block (`true`) or unblock this peer (say, too
    /// many blocked already): it is not asked again.
    BlockRefused(PeerId, bool, Rejection),
    /// A followed peer's presence, now or as it changed.
    Presence(PresenceNotice),
    /// The server keeps this person's presence hidden (`true`) or shown.
    PresenceHidden(bool),
    /// A one-time code to link another device ([`Messenger::request_link_code`]), or why
    /// there is none.
    LinkCode(Result<LinkCode, Rejection>),
    /// The id's devices, in order: as asked ([`Messenger::follow_devices`]) or as the
    /// server told when one was linked or unlinked. This one is among them.
    Devices(Vec<DeviceInfo>),
    /// What came of unlinking a device ([`Messenger::unlink`]): done (the list of
    /// devices follows), or refused (the last device, say).
    Unlink(DeviceId, Result<(), Rejection>),
    /// This device was unlinked, here or from another device: its secret registers no
    /// more. The connection is closed for good, and nothing more is sent.
    Unlinked,
    /// This device was to start end-to-end encryption with a new identity key if none of
    /// the person's other devices had one ([`Messenger::encrypt_if_first`]), and another
    /// has: it does not encrypt, and cannot read what is encrypted, until it is given the
    /// person's identity key.
    IdentityElsewhere,
}

/// A link to make on the next connection, instead of registering.
#[derive(Debug)]
struct PendingLink {
    code: Secret,
    name: Option<String>,
    /// A link was sent and never answered: it may have been made (the code is then used
    /// up), so a refused code is checked by registering.
    unanswered: bool,
    /// Not sent again before this (the server asked to wait).
    not_before: Option<Duration>,
}

/// What a pending ack answers.
#[derive(Debug)]
enum Awaiting {
    Register,
    Link,
    /// A registration checking whether an unanswered link was made after all; the link's
    /// refusal, if it was not.
    LinkCheck(Rejection),
    LinkCode,
    Devices,
    Unlink(DeviceId),
    /// A message's id and its recipient.
    Send(MessageId, PeerId),
    Block(PeerId, bool),
    Watch,
    Hide(bool),
    PublishKeys,
    /// A person's keys.
    Keys(PeerId),
    /// Keys claimed for a person's devices.
    ClaimKeys(PeerId),
    /// This person's own keys, to know whether another device has an identity key.
    OwnKeys,
}

/// A peer's side of the typed protocol. See the [module documentation](self).
#[derive(Debug)]
pub struct Messenger {
    me: PeerId,
    secret: Secret,
    /// Not stored yet, oldest first.
    unsent: Vec<Draft>,
    awaiting: HashMap<AckId, Awaiting>,
    /// Incoming messages already reported.
    seen: HashSet<(PeerId, MessageId)>,
    /// What to confirm to the server on the next [`confirm`](Self::confirm).
    to_confirm: Received,
    /// Until when nothing more is sent: the server said how long to wait (a limit).
    hold_until: Option<Duration>,
    /// Messages read here while not connected, to report once connected: (sender, id).
    pending_reads: Vec<(PeerId, MessageId)>,
    /// Blocks (`true`) and unblocks the server has not confirmed, the latest per peer.
    pending_blocks: Vec<(PeerId, bool)>,
    /// The peers whose presence is followed, asked again on every connection.
    watched: Vec<PeerId>,
    /// Whether to hide this person's presence, until the server confirms it.
    pending_hide: Option<bool>,
    /// Which of the id's devices this is, once known.
    device: Option<DeviceId>,
    /// The link to make instead of registering, until it is made or refused.
    link: Option<PendingLink>,
    /// Whether this connection is registered (or linked).
    registered: bool,
    /// When to register again, the server having refused for a passing reason.
    register_again_at: Option<Duration>,
    /// Whether the id's devices are asked for after every registration.
    follow_devices: bool,
    /// Unlinked: nothing more is done.
    unlinked: bool,
    /// End-to-end encryption, when this device does it.
    e2ee: Option<e2ee::E2ee>,
    /// Another instance (another tab) holds this device's crypto: encrypted messages
    /// are left to it, neither read nor confirmed here.
    elsewhere: bool,
    /// Starts encrypting with a new identity key once registered, if none of the
    /// person's other devices has one.
    first_identity: bool,
    /// Updates that came of something other than an event, handed out with the next.
    queued: Vec<Update>,
}

impl Messenger {
    /// The messenger of `me`, resuming with `unsent` (kept from before) and knowing
    /// `seen` (the messages already shown).
    pub fn new(
        me: PeerId,
        secret: Secret,
        unsent: Vec<Draft>,
        seen: impl IntoIterator<Item = (PeerId, MessageId)>,
    ) -> Self {
        Self {
            me,
            secret,
            unsent,
            awaiting: HashMap::new(),
            seen: seen.into_iter().collect(),
            to_confirm: Received::default(),
            hold_until: None,
            pending_reads: Vec::new(),
            pending_blocks: Vec::new(),
            watched: Vec::new(),
            pending_hide: None,
            device: None,
            link: None,
            registered: false,
            register_again_at: None,
            follow_devices: false,
            unlinked: false,
            e2ee: None,
            elsewhere: false,
            first_identity: false,
            queued: Vec::new(),
        }
    }

    /// The same messenger, knowing it is `device` of its id (as an earlier
    /// [`Update::Device`] said): a registration then refused with `forbidden` means this
    /// device was unlinked ([`Update::Unlinked`]).
    pub fn with_device(mut self, device: Option<DeviceId>) -> Self {
        self.device = device;
        self
    }

    /// The same messenger, becoming a device of its id on the next connection: it sends
    /// its secret (this device's own, new) with the one-time `code` another device of the
    /// id asked for, and `name` for the list of devices. Then [`Update::Linked`], or
    /// [`Update::LinkRefused`]. Once linked it registers like any device.
    pub fn linking(mut self, code: Secret, name: Option<String>) -> Self {
        self.link = Some(PendingLink {
            code,
            name,
            unanswered: false,
            not_before: None,
        });
        self
    }

    /// Which of the id's devices this is, once the server said.
    pub fn device(&self) -> Option<DeviceId> {
        self.device
    }

    /// Whether this device was unlinked.
    pub fn is_unlinked(&self) -> bool {
        self.unlinked
    }

    /// Whether this connection is registered (or linked): what needs it can be asked.
    pub fn is_registered(&self, client: &Client) -> bool {
        client.is_connected() && self.registered
    }

    /// This peer's id.
    pub fn me(&self) -> PeerId {
        self.me
    }

    /// The messages the server has not stored yet, oldest first: keep them.
    pub fn unsent(&self) -> &[Draft] {
        &self.unsent
    }

    /// Sends `body` to `to`: now if connected and the window allows, else as soon as it
    /// does. Returns the message's id.
    pub fn send(
        &mut self,
        client: &mut Client,
        to: PeerId,
        body: String,
        id: MessageId,
        now: Duration,
    ) -> MessageId {
        self.unsent.push(Draft { id, to, body });
        self.fill_window(client, now);
        id
    }

    /// Handles one event of the client core; returns what the application should learn.
    /// Confirm received messages with [`confirm`](Self::confirm) once kept.
    pub fn handle(&mut self, client: &mut Client, event: &Event, now: Duration) -> Vec<Update> {
        let mut updates = std::mem::take(&mut self.queued);
        updates.extend(self.handle_event(client, event, now));
        updates.append(&mut self.queued);
        updates
    }

    fn handle_event(&mut self, client: &mut Client, event: &Event, now: Duration) -> Vec<Update> {
        match event {
            Event::Connected => {
                self.e2ee_connected();
                // Answers from the previous connection will not come; a link among them
                // may have been made all the same.
                if self.awaiting.values().any(|a| matches!(a, Awaiting::Link))
                    && let Some(link) = &mut self.link
                {
                    link.unanswered = true;
                }
                self.awaiting.clear();
                self.registered = false;
                self.register_again_at = None;
                if self.unlinked {
                    return Vec::new();
                }
                if self.link.is_some() {
                    // What needs a registration waits for the link's answer.
                    self.emit_link(client, now);
                    return Vec::new();
                }
                self.register(client, now);
                // Registration is handled first (the server takes one socket's events in
                // order), so these go out right behind it.
                self.after_register(client, now);
                Vec::new()
            }
            Event::Message(incoming) if incoming.event == event::DELIVER => {
                let Ok(envelope) = incoming.payload.decode::<Envelope>() else {
                    return Vec::new();
                };
                let key = (envelope.from, envelope.id);
                if self.is_waiting(key) {
                    // Confirmed once it is read.
                    return Vec::new();
                }
                // One's own from this device, coming back (perhaps before its own
                // answer), is known here; so is a message seen before. Both are passed
                // over before anything is decrypted: a message decrypts once.
                let written_here =
                    envelope.from == self.me && self.unsent.iter().any(|d| d.id == envelope.id);
                if written_here || self.seen.contains(&key) {
                    if envelope.seq > 0 {
                        self.to_confirm.messages.push(envelope.seq);
                    }
                    return Vec::new();
                }
                if envelope.encrypted.is_some() {
                    return self.open(client, envelope, now);
                }
                let update = if envelope.from == self.me {
                    Update::Outgoing(envelope)
                } else {
                    Update::Received(envelope)
                };
                vec![self.reported(update)]
            }
            Event::Message(incoming) if incoming.event == event::DEVICES => {
                match listed_devices(incoming.payload.decode().ok()) {
                    Some(devices) => self.devices_heard(client, devices),
                    None => Vec::new(),
                }
            }
            Event::Message(incoming) if incoming.event == event::RECEIPT => {
                let Ok(receipt) = incoming.payload.decode::<Receipt>() else {
                    return Vec::new();
                };
                let status = match receipt.read_at {
                    Some(at) => Status::Read { at },
                    None => Status::Delivered {
                        at: receipt.delivered_at,
                    },
                };
                let update = Update::Status {
                    peer: receipt.to,
                    id: receipt.id,
                    status,
                };
                // For a message of this person's from another device not read yet (its
                // sender's keys are being learned): told, and confirmed, after it.
                if self.is_waiting((self.me, receipt.id)) {
                    self.hold_receipt(receipt.seq, update);
                    return Vec::new();
                }
                self.to_confirm.receipts.push(receipt.seq);
                vec![update]
            }
            Event::Message(incoming) if incoming.event == event::PRESENCE => {
                match incoming.payload.decode::<PresenceNotice>() {
                    // Only the peers followed now (a notice may cross a new watch).
                    Ok(notice) if self.watched.contains(&notice.peer) => {
                        vec![Update::Presence(notice)]
                    }
                    _ => Vec::new(),
                }
            }
            Event::Message(incoming) if incoming.event == event::TYPING => {
                match incoming.payload.decode::<TypingNotice>() {
                    Ok(notice) => vec![Update::Typing(notice.from)],
                    Err(_) => Vec::new(),
                }
            }
            Event::Ack(id, payload) => match self.awaiting.remove(id) {
                Some(Awaiting::Register) => match payload.decode::<RegisterReply>() {
                    Ok(RegisterReply::Registered { device, .. }) => {
                        let updates = self.registered(device, false);
                        // A first registration names the device: a new identity key may
                        // be made for it now.
                        if self.e2ee.is_none() {
                            self.publish_keys(client, now);
                        }
                        updates
                    }
                    // This device's secret registered before: it is no longer one of the id's.
                    Ok(RegisterReply::Rejected(rejection))
                        if rejection.code == ErrorCode::Forbidden && self.device.is_some() =>
                    {
                        self.unlinked_here(client)
                    }
                    // Passing (the store unreachable, say): registered again later.
                    Ok(RegisterReply::Rejected(rejection)) if transient(rejection.code) => {
                        self.register_again_at = Some(now + wait_for(&rejection, LINK_RETRY));
                        Vec::new()
                    }
                    Ok(RegisterReply::Rejected(rejection)) => vec![Update::Refused(rejection)],
                    Err(_) => Vec::new(),
                },
                Some(Awaiting::Link) => self.link_answered(client, payload.decode(), now),
                Some(Awaiting::LinkCheck(refusal)) => match payload.decode::<RegisterReply>() {
                    // The unanswered link was made: this secret is a device of the id.
                    Ok(RegisterReply::Registered { device, .. }) => {
                        self.link = None;
                        let updates = self.registered(device, true);
                        self.after_register(client, now);
                        updates
                    }
                    _ => self.link_refused(client, refusal),
                },
                Some(Awaiting::LinkCode) => {
                    // Read through a JSON value, as the other answers with a status: a
                    // decoder of its own for each reply type costs the web app kilobytes.
                    let answer = payload.decode::<serde_json::Value>().ok();
                    let code = match answer {
                        Some(v) if v["status"] == "ok" => serde_json::from_value::<LinkCode>(v)
                            .ok()
                            .filter(|code| is_link_code(&code.code))
                            .ok_or_else(|| {
                                Rejection::new(ErrorCode::Unknown, "unreadable link code")
                            }),
                        other => Err(refusal_in(other)),
                    };
                    vec![Update::LinkCode(code)]
                }
                Some(Awaiting::Devices) => match listed_devices(payload.decode().ok()) {
                    Some(devices) => self.devices_heard(client, devices),
                    // Asked again on the next registration.
                    None => Vec::new(),
                },
                Some(Awaiting::Unlink(device)) => {
                    let answer = payload.decode::<serde_json::Value>().ok();
                    let result = match answer {
                        Some(v) if v["status"] == "ok" => Ok(()),
                        other => Err(refusal_in(other)),
                    };
                    vec![Update::Unlink(device, result)]
                }
                Some(Awaiting::Send(message, to)) => {
                    let updates = self.sent(message, to, payload.decode(), now);
                    self.fill_window(client, now);
                    updates
                }
                Some(Awaiting::Block(peer, on)) => {
                    // A later change for the same peer waits for its own answer.
                    if !self.pending_blocks.contains(&(peer, on)) {
                        return Vec::new();
                    }
                    let answer = payload.decode::<serde_json::Value>().ok();
                    let refusal = answer
                        .as_ref()
                        .filter(|v| v["status"] == "rejected")
                        .and_then(|v| serde_json::from_value::<Rejection>(v.clone()).ok());
                    match (answer, refusal) {
                        (Some(v), _) if v["status"] == "ok" => {
                            self.pending_blocks.retain(|&(p, _)| p != peer);
                            vec![Update::Blocked(peer, on)]
                        }
                        (_, Some(rejection)) if !transient(rejection.code) => {
                            self.pending_blocks.retain(|&(p, _)| p != peer);
                            vec![Update::BlockRefused(peer, on, rejection)]
                        }
                        // Passing, or unreadable: asked again on the next connection.
                        _ => Vec::new(),
                    }
                }
                Some(Awaiting::Watch) => match payload.decode::<WatchPresenceReply>() {
                    Ok(WatchPresenceReply::Ok { presence }) => presence
                        .into_iter()
                        .filter(|notice| self.watched.contains(&notice.peer))
                        .map(Update::Presence)
                        .collect(),
                    // Refused or unreadable: asked again on the next connection.
                    _ => Vec::new(),
                },
                Some(Awaiting::PublishKeys) => self.keys_published(client, payload.decode(), now),
                Some(Awaiting::Keys(peer)) => self.keys_heard(client, peer, payload.decode(), now),
                Some(Awaiting::ClaimKeys(peer)) => {
                    self.keys_claimed(client, peer, payload.decode(), now)
                }
                Some(Awaiting::OwnKeys) => self.own_keys_heard(client, payload.decode(), now),
                Some(Awaiting::Hide(hidden)) => {
                    let ok = payload
                        .decode::<serde_json::Value>()
                        .is_ok_and(|v| v["status"] == "ok");
                    if ok && self.pending_hide == Some(hidden) {
                        self.pending_hide = None;
                        vec![Update::PresenceHidden(hidden)]
                    } else {
                        Vec::new()
                    }
                }
                None => Vec::new(),
            },
            Event::AckFailed(id, why) => match self.awaiting.remove(id) {
                // It may have been made: a refused code is then checked by registering.
                // Asked again now if still connected, else on the next connection.
                Some(Awaiting::Link | Awaiting::LinkCheck(_)) => {
                    if let Some(link) = &mut self.link {
                        link.unanswered = true;
                        link.not_before = Some(now);
                    }
                    Vec::new()
                }
                Some(Awaiting::LinkCode) => vec![Update::LinkCode(Err(no_answer()))],
                Some(Awaiting::Unlink(device)) => vec![Update::Unlink(device, Err(no_answer()))],
                // Not answered: asked again when next needed.
                Some(Awaiting::Keys(peer) | Awaiting::ClaimKeys(peer)) => {
                    self.keys_unanswered(client, peer, now);
                    Vec::new()
                }
                // The server did not answer in time on a live connection: ask again (the
                // same id, so it is stored once). Otherwise the next connection resends.
                Some(Awaiting::Send(message, _))
                    if *why == AckFailure::Timeout && client.is_connected() =>
                {
                    if let Some(draft) = self.unsent.iter().find(|d| d.id == message).cloned() {
                        self.emit(client, &draft, now);
                    }
                    Vec::new()
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Tells the server which of the messages and receipts handed out so far are kept
    /// here, so it lets go of them. Call once they are kept.
    pub fn confirm(&mut self, client: &mut Client) {
        if !client.is_connected() {
            // Unconfirmed, they come again on the next connection.
            self.to_confirm = Received::default();
            return;
        }
        let pending = self.take_to_confirm();
        self.confirm_kept(client, pending);
    }

    /// Takes what [`confirm`](Self::confirm) would tell the server, for an application
    /// that keeps messages asynchronously: hand it to
    /// [`confirm_kept`](Self::confirm_kept) once what was received so far is kept.
    pub fn take_to_confirm(&mut self) -> Received {
        std::mem::take(&mut self.to_confirm)
    }

    /// Tells the server that `kept` (from [`take_to_confirm`](Self::take_to_confirm)) is
    /// kept here, so it lets go of it. Not connected: nothing is sent, and the server
    /// hands those out again on the next connection.
    pub fn confirm_kept(&mut self, client: &mut Client, kept: Received) {
        if !client.is_connected() {
            return;
        }
        for (messages, receipts) in chunks(kept.messages, kept.receipts) {
            let _ = client.emit(event::RECEIVED, &Received { messages, receipts });
        }
    }

    /// Tells `to` that this peer is typing to it, if connected (typing is never kept:
    /// not connected, there is nothing to tell). Call again every few seconds while
    /// typing goes on.
    pub fn typing(&mut self, client: &mut Client, to: PeerId) {
        if self.may_emit(client) {
            let _ = client.emit(event::TYPING, &TypingRequest { to });
        }
    }

    /// Tells the server the person has seen these messages (each `(sender, id)`), so
    /// their senders get read receipts: now if connected, else once connected. Call
    /// only for messages already confirmed (after [`confirm_kept`](Self::confirm_kept)
    /// of them), and not at all if the person turned read receipts off.
    pub fn read(&mut self, client: &mut Client, read: Vec<(PeerId, MessageId)>) {
        if self.may_emit(client) {
            self.emit_reads(client, read);
        } else {
            self.pending_reads.extend(read);
            let over = self.pending_reads.len().saturating_sub(MAX_PENDING_READS);
            self.pending_reads.drain(..over);
        }
    }

    /// Blocks `peer` (`on`) or unblocks it: sent now if connected, and on every
    /// connection until the server confirms it ([`Update::Blocked`]). Keep what is not
    /// confirmed across restarts and hand it here again.
    pub fn block(&mut self, client: &mut Client, peer: PeerId, on: bool, now: Duration) {
        self.pending_blocks.retain(|&(p, _)| p != peer);
        self.pending_blocks.push((peer, on));
        if self.may_emit(client) {
            self.emit_block(client, peer, on, now);
        }
    }

    /// Blocks and unblocks kept from before, not confirmed by the server: sent on the
    /// next connection, until it confirms them.
    pub fn resume_blocks(&mut self, pending: impl IntoIterator<Item = (PeerId, bool)>) {
        for (peer, on) in pending {
            self.pending_blocks.retain(|&(p, _)| p != peer);
            self.pending_blocks.push((peer, on));
        }
    }

    /// Follows the presence of `peers` (at most [`MAX_WATCHED`], the first taken),
    /// instead of those followed before: asked now if connected, and again on every
    /// connection. Their presence comes as [`Update::Presence`].
    pub fn watch_presence(&mut self, client: &mut Client, mut peers: Vec<PeerId>, now: Duration) {
        peers.truncate(MAX_WATCHED);
        if peers == self.watched {
            return;
        }
        self.watched = peers;
        if self.may_emit(client) {
            self.emit_watch(client, now);
        }
    }

    /// Hides this person's presence from everyone (`true`; then the server shows it
    /// nobody's either) or shows it to its contacts again: sent now if connected, and on
    /// every connection until the server confirms it ([`Update::PresenceHidden`]). Keep
    /// the choice and hand it here again after a restart.
    pub fn hide_presence(&mut self, client: &mut Client, hidden: bool, now: Duration) {
        self.pending_hide = Some(hidden);
        if self.may_emit(client) {
            self.emit_hide(client, hidden, now);
            // Followed again, as the server now answers it.
            if !self.watched.is_empty() {
                self.emit_watch(client, now);
            }
        }
    }

    /// Asks the server for a one-time code that links another device to this id
    /// ([`Update::LinkCode`]). Returns `false`, asking nothing, unless registered.
    pub fn request_link_code(&mut self, client: &mut Client, now: Duration) -> bool {
        if !self.is_registered(client) || self.unlinked {
            return false;
        }
        match client.emit_with_ack(event::LINK_CODE, &Empty {}, REPLY_TIMEOUT, now) {
            Ok(ack) => {
                self.awaiting.insert(ack, Awaiting::LinkCode);
                true
            }
            Err(_) => false,
        }
    }

    /// Follows the id's devices: asked now if registered, and after every registration;
    /// they come as [`Update::Devices`], also whenever one is linked or unlinked.
    pub fn follow_devices(&mut self, client: &mut Client, now: Duration) {
        self.follow_devices = true;
        if self.is_registered(client) {
            self.emit_devices(client, now);
        }
    }

    /// Unlinks `device` of this id (this one too; never the last): answered as
    /// [`Update::Unlink`]. Returns `false`, asking nothing, unless registered.
    pub fn unlink(&mut self, client: &mut Client, device: DeviceId, now: Duration) -> bool {
        if !self.is_registered(client) || self.unlinked {
            return false;
        }
        match client.emit_with_ack(event::UNLINK, &UnlinkRequest { device }, REPLY_TIMEOUT, now) {
            Ok(ack) => {
                self.awaiting.insert(ack, Awaiting::Unlink(device));
                true
            }
            Err(_) => false,
        }
    }

    /// Whether what needs a registration may go out now: connected, neither linking nor
    /// unlinked. (Right after connecting, things go out behind the registration, which
    /// the server takes first.)
    fn may_emit(&self, client: &Client) -> bool {
        client.is_connected() && self.link.is_none() && !self.unlinked
    }

    /// What waits for a registration, sent right behind it.
    fn after_register(&mut self, client: &mut Client, now: Duration) {
        self.publish_keys(client, now);
        self.fill_window(client, now);
        let reads = std::mem::take(&mut self.pending_reads);
        self.emit_reads(client, reads);
        for (peer, on) in self.pending_blocks.clone() {
            self.emit_block(client, peer, on, now);
        }
        // Hidden first: the server answers the watch as it stands then.
        if let Some(hidden) = self.pending_hide {
            self.emit_hide(client, hidden, now);
        }
        if !self.watched.is_empty() {
            self.emit_watch(client, now);
        }
        if self.follow_devices {
            self.emit_devices(client, now);
        }
    }

    /// The server registered this connection (by `register`, or by `link` when
    /// `linked`) as `device`.
    fn registered(&mut self, device: Option<DeviceId>, linked: bool) -> Vec<Update> {
        self.registered = true;
        let mut updates = Vec::new();
        if linked {
            updates.push(Update::Linked);
        }
        if let Some(device) = device {
            self.device = Some(device);
            updates.push(Update::Device(device));
        }
        updates.push(Update::Registered);
        updates
    }

    /// The answer to a `link`.
    fn link_answered(
        &mut self,
        client: &mut Client,
        reply: Result<RegisterReply, crate::socketio::DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let Some(link) = &mut self.link else {
            return Vec::new();
        };
        match reply {
            Ok(RegisterReply::Registered { device, .. }) => {
                self.link = None;
                let updates = self.registered(device, true);
                self.after_register(client, now);
                updates
            }
            Ok(RegisterReply::Rejected(rejection)) if transient(rejection.code) => {
                link.not_before = Some(now + wait_for(&rejection, LINK_RETRY));
                Vec::new()
            }
            // Used: perhaps by the link that was never answered. Registering tells.
            Ok(RegisterReply::Rejected(rejection))
                if rejection.code == ErrorCode::Forbidden && link.unanswered =>
            {
                let request = RegisterRequest {
                    id: self.me,
                    secret: self.secret.clone(),
                };
                if let Ok(ack) = client.emit_with_ack(event::REGISTER, &request, REPLY_TIMEOUT, now)
                {
                    self.awaiting.insert(ack, Awaiting::LinkCheck(rejection));
                }
                Vec::new()
            }
            Ok(RegisterReply::Rejected(rejection)) => self.link_refused(client, rejection),
            // Made or not, nobody can tell: as if unanswered.
            Err(_) => {
                link.unanswered = true;
                link.not_before = Some(now + LINK_RETRY);
                Vec::new()
            }
        }
    }

    /// The link is refused for good: nothing more is sent.
    fn link_refused(&mut self, client: &mut Client, rejection: Rejection) -> Vec<Update> {
        self.link = None;
        client.disconnect();
        vec![Update::LinkRefused(short(rejection))]
    }

    /// The id's devices, as the server listed them: without this one, it was unlinked.
    fn devices_heard(&mut self, client: &mut Client, devices: Vec<DeviceInfo>) -> Vec<Update> {
        if self.unlinked {
            return Vec::new();
        }
        match self.device {
            Some(me) if !devices.iter().any(|d| d.device == me) => self.unlinked_here(client),
            _ => vec![Update::Devices(devices)],
        }
    }

    /// This device is no longer one of the id's: stops for good.
    fn unlinked_here(&mut self, client: &mut Client) -> Vec<Update> {
        self.unlinked = true;
        self.link = None;
        client.disconnect();
        vec![Update::Unlinked]
    }

    fn emit_link(&mut self, client: &mut Client, now: Duration) {
        let Some(link) = &mut self.link else {
            return;
        };
        link.not_before = None;
        let request = LinkRequest {
            id: self.me,
            code: link.code.clone(),
            secret: self.secret.clone(),
            name: link.name.clone(),
        };
        if let Ok(ack) = client.emit_with_ack(event::LINK, &request, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Link);
        }
    }

    fn emit_devices(&mut self, client: &mut Client, now: Duration) {
        if let Ok(ack) = client.emit_with_ack(event::DEVICES, &Empty {}, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Devices);
        }
    }

    fn emit_watch(&mut self, client: &mut Client, now: Duration) {
        let request = WatchPresenceRequest {
            peers: self.watched.clone(),
        };
        if let Ok(ack) = client.emit_with_ack(event::WATCH_PRESENCE, &request, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Watch);
        }
    }

    fn emit_hide(&mut self, client: &mut Client, hidden: bool, now: Duration) {
        let request = HidePresenceRequest { hidden };
        if let Ok(ack) = client.emit_with_ack(event::HIDE_PRESENCE, &request, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Hide(hidden));
        }
    }

    fn emit_block(&mut self, client: &mut Client, peer: PeerId, on: bool, now: Duration) {
        let event = if on { event::BLOCK } else { event::UNBLOCK };
        if let Ok(ack) = client.emit_with_ack(event, &BlockRequest { peer }, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Block(peer, on));
        }
    }

    /// One `read` per sender and per [`MAX_RECEIVED_IDS`] ids.
    fn emit_reads(&mut self, client: &mut Client, read: Vec<(PeerId, MessageId)>) {
        let mut by_sender: Vec<(PeerId, Vec<MessageId>)> = Vec::new();
        for (from, id) in read {
            match by_sender.iter_mut().find(|(f, _)| *f == from) {
                Some((_, ids)) => ids.push(id),
                None => by_sender.push((from, vec![id])),
            }
        }
        for (from, ids) in by_sender {
            for ids in ids.chunks(MAX_RECEIVED_IDS) {
                let request = ReadRequest {
                    from,
                    ids: ids.to_vec(),
                };
                let _ = client.emit(event::READ, &request);
            }
        }
    }

    /// Sends again the unsent messages no reply is awaited for (those the server refused
    /// for a passing reason), within the window. Call now and then.
    pub fn retry(&mut self, client: &mut Client, now: Duration) {
        let link_due = self
            .link
            .as_ref()
            .is_some_and(|l| l.not_before.is_some_and(|at| now >= at));
        let link_awaited = self
            .awaiting
            .values()
            .any(|a| matches!(a, Awaiting::Link | Awaiting::LinkCheck(_)));
        if link_due && !link_awaited && client.is_connected() {
            self.emit_link(client, now);
        }
        if self.register_again_at.is_some_and(|at| now >= at) && client.is_connected() {
            self.register_again_at = None;
            self.register(client, now);
            self.after_register(client, now);
        }
        self.fill_window(client, now);
    }

    /// Emits unsent messages, oldest first, while fewer than [`WINDOW`] await an answer
    /// (and not while the server asked to wait).
    fn fill_window(&mut self, client: &mut Client, now: Duration) {
        if !self.may_emit(client) {
            return;
        }
        match self.hold_until {
            Some(until) if now < until => return,
            Some(_) => self.hold_until = None,
            None => {}
        }
        let in_flight: HashSet<MessageId> = self
            .awaiting
            .values()
            .filter_map(|a| match a {
                Awaiting::Send(id, _) => Some(*id),
                Awaiting::Register
                | Awaiting::Link
                | Awaiting::LinkCheck(_)
                | Awaiting::LinkCode
                | Awaiting::Devices
                | Awaiting::Unlink(_)
                | Awaiting::Block(..)
                | Awaiting::Watch
                | Awaiting::Hide(_)
                | Awaiting::PublishKeys
                | Awaiting::Keys(_)
                | Awaiting::ClaimKeys(_)
                | Awaiting::OwnKeys => None,
            })
            .collect();
        let room = WINDOW.saturating_sub(in_flight.len());
        let next: Vec<Draft> = self
            .unsent
            .iter()
            .filter(|d| !in_flight.contains(&d.id))
            .take(room)
            .cloned()
            .collect();
        for draft in next {
            self.emit(client, &draft, now);
        }
    }

    /// Whether there is something to [`confirm`](Self::confirm).
    pub fn has_unconfirmed(&self) -> bool {
        !self.to_confirm.messages.is_empty() || !self.to_confirm.receipts.is_empty()
    }

    fn register(&mut self, client: &mut Client, now: Duration) {
        let request = RegisterRequest {
            id: self.me,
            secret: self.secret.clone(),
        };
        if let Ok(ack) = client.emit_with_ack(event::REGISTER, &request, REPLY_TIMEOUT, now) {
            self.awaiting.insert(ack, Awaiting::Register);
        }
    }

    /// Sends `draft`: encrypted for every device that may read it, or plain to someone
    /// who cannot decrypt; not yet while their keys are being learned.
    fn emit(&mut self, client: &mut Client, draft: &Draft, now: Duration) {
        let request = match self.seal(client, draft.id, draft.to, &draft.body, now) {
            e2ee::Sealed::NotYet => return,
            e2ee::Sealed::Failed(rejection) => {
                self.unsent.retain(|d| d.id != draft.id);
                self.message_done(draft.id);
                self.queued.push(Update::Status {
                    peer: draft.to,
                    id: draft.id,
                    status: Status::Failed(rejection),
                });
                return;
            }
            e2ee::Sealed::Plain => Self::send_request(draft.to, draft.id, &draft.body, None),
            e2ee::Sealed::Encrypted(encrypted) => {
                Self::send_request(draft.to, draft.id, &draft.body, Some(encrypted))
            }
        };
        if let Ok(ack) = client.emit_with_ack(event::SEND, &request, REPLY_TIMEOUT, now) {
            self.awaiting
                .insert(ack, Awaiting::Send(draft.id, draft.to));
        }
    }

    fn sent(
        &mut self,
        message: MessageId,
        to: PeerId,
        reply: Result<SendReply, crate::socketio::DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let status = match reply {
            Ok(SendReply::Sent { seq, sent_at, .. }) => {
                // Its copy for this person's devices, coming back, is known here.
                self.seen.insert((self.me, message));
                Status::Sent { seq, sent_at }
            }
            Ok(SendReply::Rejected(rejection)) if rejection.code == ErrorCode::NotRegistered => {
                // The registration failed (refused, or this device unlinked): kept, and
                // sent once registered, not before a reply's time.
                self.hold(now + REPLY_TIMEOUT);
                return Vec::new();
            }
            // Encrypted for devices that changed meanwhile: encrypted again, once their
            // keys are learned again.
            Ok(SendReply::Rejected(rejection))
                if rejection.code == ErrorCode::DevicesChanged
                    && self.devices_changed(message, to) =>
            {
                return Vec::new();
            }
            Ok(SendReply::Rejected(rejection)) if transient(rejection.code) => {
                // Not stored, and worth another try: it stays unsent, for
                // [`retry`](Self::retry) or the next connection; not before the time the
                // server said, if it said one.
                if let Some(millis) = rejection.retry_after_ms {
                    self.hold(now + Duration::from_millis(millis).min(MAX_HOLD));
                }
                return Vec::new();
            }
            Ok(SendReply::Rejected(rejection)) => Status::Failed(Rejection::new(
                rejection.code,
                shortened(&rejection.message, MAX_REASON_CHARS),
            )),
            // A seed-protocol reply to a typed send. Named, not `Debug`-formatted: that
            // would keep the formatting machinery of every reply type in the web app.
            Ok(SendReply::Delivered { .. }) => Status::Failed(Rejection::new(
                ErrorCode::Unknown,
                "unexpected reply: delivered",
            )),
            Ok(SendReply::Offline { .. }) => Status::Failed(Rejection::new(
                ErrorCode::Unknown,
                "unexpected reply: offline",
            )),
            Err(_) => {
                // Stored or not, nobody can tell: it stays unsent and goes again (the same
                // id, so it is stored once), after the time a reply could take.
                self.hold(now + REPLY_TIMEOUT);
                return Vec::new();
            }
        };
        self.unsent.retain(|d| d.id != message);
        self.message_done(message);
        vec![Update::Status {
            peer: to,
            id: message,
            status,
        }]
    }
}

impl Messenger {
    /// `update`, an incoming message, reported: seen, and to be confirmed.
    fn reported(&mut self, update: Update) -> Update {
        if let Update::Received(envelope)
        | Update::Outgoing(envelope)
        | Update::Undecryptable { envelope, .. } = &update
        {
            self.seen.insert((envelope.from, envelope.id));
            if envelope.seq > 0 {
                self.to_confirm.messages.push(envelope.seq);
            }
        }
        update
    }

    /// Sends nothing more before `until`.
    fn hold(&mut self, until: Duration) {
        self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
    }
}

/// The most characters of a reason shown for a failed message.
const MAX_REASON_CHARS: usize = 2 * MAX_QUOTED_CHARS;

/// The payload of events that carry none.
#[derive(Serialize)]
struct Empty {}

/// `rejection`, its message shortened for showing.
fn short(rejection: Rejection) -> Rejection {
    Rejection {
        message: shortened(&rejection.message, MAX_REASON_CHARS).into_owned(),
        ..rejection
    }
}

/// How long to wait before asking again what `rejection` refused for a passing reason:
/// the time the server said (at most [`MAX_HOLD`]), or `otherwise`.
fn wait_for(rejection: &Rejection, otherwise: Duration) -> Duration {
    rejection
        .retry_after_ms
        .map_or(otherwise, |ms| Duration::from_millis(ms).min(MAX_HOLD))
}

/// The devices a [`crate::device::DevicesReply`] lists, read through a JSON value (as
/// the other answers with a status: a decoder of its own costs the web app kilobytes).
fn listed_devices(reply: Option<serde_json::Value>) -> Option<Vec<DeviceInfo>> {
    let mut reply = reply.filter(|v| v["status"] == "ok")?;
    serde_json::from_value(reply["devices"].take()).ok()
}

/// The rejection an answer that is not `ok` carries, its message shortened for showing;
/// one of its own for an answer that cannot be read.
fn refusal_in(answer: Option<serde_json::Value>) -> Rejection {
    answer
        .and_then(|v| serde_json::from_value::<Rejection>(v).ok())
        .map_or_else(
            || Rejection::new(ErrorCode::Unknown, "unreadable answer"),
            short,
        )
}

/// The rejection for a question the server never answered.
fn no_answer() -> Rejection {
    Rejection::new(ErrorCode::Unavailable, "the server did not answer")
}

/// Whether `code` can be a link code: what goes into a link's fragment, so only
/// URL-safe characters, of a secret's length.
fn is_link_code(code: &str) -> bool {
    (Secret::MIN_LEN..=Secret::MAX_LEN).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Rejections that may go away by themselves.
fn transient(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::Overloaded | ErrorCode::Unavailable | ErrorCode::RateLimited
    )
}

/// Splits confirmations into payloads within [`MAX_RECEIVED_IDS`].
fn chunks(messages: Vec<u64>, receipts: Vec<u64>) -> Vec<(Vec<u64>, Vec<u64>)> {
    let mut out = Vec::new();
    let mut messages = messages.chunks(MAX_RECEIVED_IDS).map(<[u64]>::to_vec);
    let mut receipts = receipts.chunks(MAX_RECEIVED_IDS).map(<[u64]>::to_vec);
    loop {
        match (messages.next(), receipts.next()) {
            (None, None) => return out,
            (m, r) => out.push((m.unwrap_or_default(), r.unwrap_or_default())),
        }
    }
}
