//! End-to-end encryption in the [`Messenger`]: with a device's [`Crypto`]
//! ([`Messenger::with_crypto`]) it publishes the device's keys on every registration and
//! keeps its one-time keys topped up; before writing to someone it learns their keys and
//! their devices' (and this person's other devices'), claims a key for each device it has
//! no session with, and encrypts every message for all of them; it decrypts what comes
//! encrypted, after learning the sender's keys if it does not know them yet.
//!
//! What each person's messages are is decided per person: encrypted once any of their
//! devices publishes keys, plain to someone none of whose devices does (a seed-protocol
//! client, an older app). A person whose identity key changed gets nothing until the
//! change is accepted ([`Messenger::accept_identity`]). When the server says the devices
//! changed (`devices_changed`), what is known of them is learned again and the message
//! goes again, encrypted anew.
//!
//! Every change to the crypto state (a ratchet turned, a one-time key used) sets a flag
//! ([`Messenger::take_crypto_changed`]): the application stores [`Crypto::pickle`] then,
//! before it confirms what arrived, or a message could not be read again.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::{Awaiting, Messenger, REPLY_TIMEOUT, Update};
use crate::{
    Envelope, ErrorCode, MessageId, PeerId, Rejection, SendRequest,
    crypto::{Crypto, CryptoError, ONE_TIME_KEY_LOW, Plaintext, Trust},
    encrypted::Encrypted,
    event,
    keys::{ClaimKeysReply, KeysReply, KeysRequest, PublishKeysReply},
    socketio::{Client, DecodeError},
};

/// How many times one message is encrypted anew after the server said the devices
/// changed, before it fails: they would have to change that often while it is sent.
pub const MAX_DEVICE_CHANGES: u8 = 3;

/// How long a person found to have no keys is written to in plain text before their
/// keys are asked for again (they may have started encrypting since).
pub const PLAIN_FOR: Duration = Duration::from_secs(60);

/// What is known of one person's keys on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Their keys were asked for.
    Asking,
    /// Keys were claimed for their devices without a session.
    Claiming,
    /// Learned, with a session with each of their devices: messages to them are
    /// encrypted.
    Ready,
    /// None of their devices publishes keys (as learned at this time): messages to them
    /// go plain, for [`PLAIN_FOR`].
    Plain(Duration),
    /// Their identity key changed and was not accepted: nothing goes to them.
    Changed,
}

/// The encryption side of a messenger.
#[derive(Debug)]
pub(super) struct E2ee {
    crypto: Crypto,
    /// What is known of each person's keys (this person's own included).
    keys: HashMap<PeerId, Keys>,
    /// Encrypted messages not read yet, in arrival order: the first waits for its
    /// sender's keys, the others behind it, so that messages are read in the order they
    /// came. Each says whether its sender's keys were learned since it came.
    waiting: VecDeque<(Envelope, bool)>,
    /// Encrypted messages from people whose identity key changed, in arrival order: read
    /// once the change is accepted (not confirmed until then, so they come again after a
    /// restart). They hold up nobody else's.
    held: Vec<Envelope>,
    /// Receipts (their `seq`, and the status they tell) of this person's own messages
    /// from other devices that wait to be read: told, and confirmed, right after them.
    receipts: Vec<(u64, Update)>,
    /// Whether this device's keys are published as of this connection.
    published: bool,
    /// The one-time keys the directory keeps for this device, as last heard.
    kept: Option<u32>,
    /// How often each unsent message was refused as `devices_changed`.
    device_changes: HashMap<MessageId, u8>,
    /// The crypto state changed since the application last stored it.
    changed: bool,
}

impl E2ee {
    pub(super) fn new(crypto: Crypto) -> Self {
        Self {
            crypto,
            keys: HashMap::new(),
            waiting: VecDeque::new(),
            held: Vec::new(),
            receipts: Vec::new(),
            published: false,
            kept: None,
            device_changes: HashMap::new(),
            changed: false,
        }
    }
}

/// How a message goes to its recipient.
pub(super) enum Sealed {
    /// As it is: the recipient cannot decrypt.
    Plain,
    /// Encrypted for every device that may read it.
    Encrypted(Encrypted),
    /// Not yet: keys are being learned (asked for now if they were not).
    NotYet,
    /// Never: it could not be encrypted.
    Failed(Rejection),
}

impl Messenger {
    /// The same messenger, encrypting end to end with this device's `crypto` (made for
    /// this id and device, or restored from its pickle).
    pub fn with_crypto(mut self, crypto: Crypto) -> Self {
        self.e2ee = Some(E2ee::new(crypto));
        self
    }

    /// Starts encrypting end to end with `crypto`, this device's (made once the device
    /// is known, as after linking): its keys are published now if registered, else on
    /// registering.
    pub fn encrypt_with(&mut self, client: &mut Client, crypto: Crypto, now: Duration) {
        self.e2ee = Some(E2ee::new(crypto));
        if self.is_registered(client) {
            self.publish_keys(client, now);
        }
    }

    /// The same messenger, for an instance of this device that does not hold its crypto
    /// (another tab of the browser does): encrypted messages are left to that one,
    /// neither reported nor confirmed here. What this instance sends goes plain, so the
    /// application hands its messages to the one that holds the crypto instead.
    pub fn decrypted_elsewhere(mut self) -> Self {
        self.elsewhere = true;
        self
    }

    /// The same messenger, starting end-to-end encryption with a new identity key for
    /// the person once registered, if none of their other devices publishes keys (it is
    /// the first to encrypt); else [`Update::IdentityElsewhere`]. For a device that has
    /// no crypto state yet and was not given the person's identity key.
    pub fn encrypt_if_first(mut self) -> Self {
        self.first_identity = true;
        self
    }

    /// This device's crypto state, if it encrypts: what to pickle and store.
    pub fn crypto(&self) -> Option<&Crypto> {
        self.e2ee.as_ref().map(|e2ee| &e2ee.crypto)
    }

    /// Whether the crypto state changed since the last call: store its pickle now,
    /// before confirming what arrived.
    pub fn take_crypto_changed(&mut self) -> bool {
        self.e2ee
            .as_mut()
            .is_some_and(|e2ee| std::mem::take(&mut e2ee.changed))
    }

    /// Whether messages to `peer` are end-to-end encrypted: `Some(true)` once their keys
    /// are learned, `Some(false)` if none of their devices publishes keys (or this device
    /// does not encrypt), `None` while not known yet.
    pub fn encryption(&self, peer: PeerId) -> Option<bool> {
        let Some(e2ee) = &self.e2ee else {
            return Some(false);
        };
        match e2ee.keys.get(&peer) {
            Some(Keys::Ready | Keys::Changed) => Some(true),
            Some(Keys::Plain(_)) => Some(false),
            Some(Keys::Asking | Keys::Claiming) | None => None,
        }
    }

    /// Learns `peer`'s keys now if they are not known yet (to show whether a
    /// conversation is encrypted before anything is sent in it).
    pub fn learn_keys(&mut self, client: &mut Client, peer: PeerId, now: Duration) {
        if self.may_emit(client) && self.e2ee.as_ref().is_some_and(|e| e.published) {
            self.ask_keys(client, peer, now);
        }
    }

    /// Trusts `peer`'s changed identity key (after the person compared safety numbers):
    /// what waits for them goes, encrypted for their new keys, and what they sent with it
    /// is read. Returns what was read.
    pub fn accept_identity(
        &mut self,
        client: &mut Client,
        peer: PeerId,
        now: Duration,
    ) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            return Vec::new();
        };
        if e2ee.crypto.accept_identity(peer).is_some() {
            e2ee.changed = true;
        }
        e2ee.keys.remove(&peer);
        // Theirs, in the order they came, ahead of what came since.
        let theirs: Vec<Envelope> = e2ee.held.extract_if(.., |e| e.from == peer).collect();
        for envelope in theirs.into_iter().rev() {
            e2ee.waiting.push_front((envelope, true));
        }
        let read = self.read_waiting(client, now);
        self.fill_window(client, now);
        read
    }

    /// On a new connection: what was being asked will not be answered, and what waited
    /// for keys comes again (it was not confirmed).
    pub(super) fn e2ee_connected(&mut self) {
        if let Some(e2ee) = &mut self.e2ee {
            e2ee.published = false;
            e2ee.waiting.clear();
            e2ee.held.clear();
            // Not confirmed: the server hands them out again.
            e2ee.receipts.clear();
            e2ee.keys
                .retain(|_, keys| !matches!(keys, Keys::Asking | Keys::Claiming));
        }
    }

    /// Right after registering: publishes this device's keys (or tops them up); or,
    /// to start with a new identity key, asks whether another device has one.
    pub(super) fn publish_keys(&mut self, client: &mut Client, now: Duration) {
        let Some(e2ee) = &mut self.e2ee else {
            let asking = self
                .awaiting
                .values()
                .any(|a| matches!(a, Awaiting::OwnKeys));
            if self.first_identity && self.device.is_some() && !asking {
                let request = serde_json::json!({ "id": self.me });
                if let Ok(ack) = client.emit_with_ack(event::KEYS, &request, REPLY_TIMEOUT, now) {
                    self.awaiting.insert(ack, Awaiting::OwnKeys);
                }
            }
            return;
        };
        let kept = e2ee.kept;
        match e2ee.crypto.publish_request(kept) {
            Some(request) => {
                e2ee.changed = true;
                if let Ok(ack) =
                    client.emit_with_ack(event::PUBLISH_KEYS, &request, REPLY_TIMEOUT, now)
                {
                    self.awaiting.insert(ack, Awaiting::PublishKeys);
                }
            }
            None => e2ee.published = true,
        }
    }

    /// The answer to [`Self::publish_keys`].
    pub(super) fn keys_published(
        &mut self,
        client: &mut Client,
        reply: Result<PublishKeysReply, DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            return Vec::new();
        };
        match reply {
            Ok(PublishKeysReply::Ok { one_time_keys }) => {
                e2ee.crypto.published();
                e2ee.changed = true;
                e2ee.published = true;
                e2ee.kept = Some(one_time_keys);
                if one_time_keys < ONE_TIME_KEY_LOW {
                    self.publish_keys(client, now);
                }
                self.fill_window(client, now);
                return vec![Update::KeysPublished];
            }
            // Passing: asked again on the next connection, or at once if over the stock
            // (the count is then known to be high).
            Ok(PublishKeysReply::Rejected(rejection))
                if rejection.code == ErrorCode::LimitReached =>
            {
                e2ee.published = true;
                e2ee.kept = Some(ONE_TIME_KEY_LOW);
                self.fill_window(client, now);
            }
            Ok(PublishKeysReply::Rejected(_)) | Err(_) => {}
        }
        Vec::new()
    }

    /// The answer to whether another of this person's devices has keys: if none has,
    /// this device starts encrypting with a new identity key and publishes it. Asked
    /// again on the next registration if there is no answer.
    pub(super) fn own_keys_heard(
        &mut self,
        client: &mut Client,
        reply: Result<KeysReply, DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let (Ok(KeysReply::Ok { id, devices }), Some(device)) = (reply, self.device) else {
            return Vec::new();
        };
        if id != self.me || self.e2ee.is_some() || !self.first_identity {
            return Vec::new();
        }
        self.first_identity = false;
        // This device's own old keys (its state was lost) are replaced, not followed.
        if devices
            .iter()
            .any(|entry| entry.device != device && entry.keys.is_some())
        {
            return vec![Update::IdentityElsewhere];
        }
        self.e2ee = Some(E2ee::new(Crypto::new(self.me, device)));
        self.publish_keys(client, now);
        Vec::new()
    }

    /// How `to` gets its next message: whether, and for which devices, it is encrypted.
    /// Asks for what is missing first.
    pub(super) fn seal(
        &mut self,
        client: &mut Client,
        id: MessageId,
        to: PeerId,
        body: &str,
        now: Duration,
    ) -> Sealed {
        let me = self.me;
        let Some(e2ee) = &mut self.e2ee else {
            return Sealed::Plain;
        };
        if !e2ee.published {
            return Sealed::NotYet;
        }
        let expired = |keys: Option<Keys>| match keys {
            Some(Keys::Plain(at)) if now >= at + PLAIN_FOR => None,
            keys => keys,
        };
        let theirs = expired(e2ee.keys.get(&to).copied());
        let mine = expired(e2ee.keys.get(&me).copied());
        match (theirs, mine) {
            (Some(Keys::Plain(_)), _) if to != me => return Sealed::Plain,
            (Some(Keys::Changed), _) => return Sealed::NotYet,
            (Some(Keys::Ready), Some(Keys::Ready | Keys::Plain(_))) => {}
            _ => {
                if theirs.is_none() {
                    self.ask_keys(client, to, now);
                }
                if mine.is_none() && to != me {
                    self.ask_keys(client, me, now);
                }
                return Sealed::NotYet;
            }
        }
        let plaintext = Plaintext {
            from: me,
            to,
            id,
            text: body.to_owned(),
        };
        let mut recipients = vec![(me, e2ee.crypto.known_devices(me))];
        if to != me {
            recipients.insert(0, (to, e2ee.crypto.known_devices(to)));
        }
        match e2ee.crypto.encrypt(&plaintext, &recipients) {
            Ok(encrypted) => {
                e2ee.changed = true;
                Sealed::Encrypted(encrypted)
            }
            // A note to oneself with no other device: nobody else can read it anyway.
            Err(CryptoError::NoRecipients) if to == me => Sealed::Plain,
            // A session went missing: learn again.
            Err(CryptoError::NoSession { .. }) => {
                e2ee.keys.remove(&to);
                e2ee.keys.remove(&me);
                Sealed::NotYet
            }
            Err(error) => Sealed::Failed(Rejection::new(
                ErrorCode::Unknown,
                format!("could not be encrypted: {error}"),
            )),
        }
    }

    /// The request that sends `body` to `to` as message `id`: `encrypted` instead of
    /// the body if it is.
    pub(super) fn send_request(
        to: PeerId,
        id: MessageId,
        body: &str,
        encrypted: Option<Encrypted>,
    ) -> SendRequest {
        SendRequest {
            to,
            body: if encrypted.is_some() {
                String::new()
            } else {
                body.to_owned()
            },
            id: Some(id),
            encrypted,
        }
    }

    /// After a `send` refused as `devices_changed`: learns the devices again and sends
    /// it anew, up to [`MAX_DEVICE_CHANGES`] times; whether it is tried again.
    pub(super) fn devices_changed(&mut self, id: MessageId, to: PeerId) -> bool {
        let me = self.me;
        let Some(e2ee) = &mut self.e2ee else {
            return false;
        };
        let changes = e2ee.device_changes.entry(id).or_insert(0);
        *changes += 1;
        if *changes > MAX_DEVICE_CHANGES {
            e2ee.device_changes.remove(&id);
            return false;
        }
        e2ee.keys.remove(&to);
        e2ee.keys.remove(&me);
        true
    }

    /// Forgets what was counted for a message that left the unsent ones.
    pub(super) fn message_done(&mut self, id: MessageId) {
        if let Some(e2ee) = &mut self.e2ee {
            e2ee.device_changes.remove(&id);
        }
    }

    fn ask_keys(&mut self, client: &mut Client, peer: PeerId, now: Duration) {
        let Some(e2ee) = &mut self.e2ee else { return };
        if matches!(e2ee.keys.get(&peer), Some(Keys::Asking | Keys::Claiming)) {
            return;
        }
        let request = serde_json::json!({ "id": peer });
        if let Ok(ack) = client.emit_with_ack(event::KEYS, &request, REPLY_TIMEOUT, now) {
            e2ee.keys.insert(peer, Keys::Asking);
            self.awaiting.insert(ack, Awaiting::Keys(peer));
        }
    }

    /// The answer to `keys` for `peer`: learns them, claims what is missing, and
    /// decrypts what waited for them.
    pub(super) fn keys_heard(
        &mut self,
        client: &mut Client,
        peer: PeerId,
        reply: Result<KeysReply, DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        let answered = matches!(&reply, Ok(KeysReply::Ok { id, .. }) if *id == peer);
        match reply {
            Ok(KeysReply::Ok { id, devices }) if id == peer => {
                match e2ee.crypto.learn(peer, &devices) {
                    Ok(Trust::NoKeys) => {
                        e2ee.keys.insert(peer, Keys::Plain(now));
                        updates.push(Update::Encryption { peer, on: false });
                    }
                    Ok(Trust::Changed { .. }) => {
                        e2ee.changed = true;
                        e2ee.keys.insert(peer, Keys::Changed);
                        updates.push(Update::KeyChanged(peer));
                    }
                    Ok(Trust::New | Trust::Same) => {
                        e2ee.changed = true;
                        let missing = e2ee.crypto.missing_sessions(peer);
                        if missing.is_empty() {
                            e2ee.keys.insert(peer, Keys::Ready);
                            updates.push(Update::Encryption { peer, on: true });
                        } else {
                            let request = KeysRequest {
                                id: peer,
                                devices: missing,
                            };
                            match client.emit_with_ack(
                                event::CLAIM_KEYS,
                                &request,
                                REPLY_TIMEOUT,
                                now,
                            ) {
                                Ok(ack) => {
                                    e2ee.keys.insert(peer, Keys::Claiming);
                                    self.awaiting.insert(ack, Awaiting::ClaimKeys(peer));
                                }
                                Err(_) => {
                                    e2ee.keys.remove(&peer);
                                }
                            }
                        }
                    }
                    // Keys that do not verify: nothing of them is used; asked again on
                    // the next connection, and what waits for them waits.
                    Err(_) => {
                        e2ee.keys.remove(&peer);
                    }
                }
            }
            // Refused or unreadable: asked again when next needed.
            _ => {
                e2ee.keys.remove(&peer);
            }
        }
        if answered {
            self.learned(peer);
        }
        updates.extend(self.read_waiting(client, now));
        self.fill_window(client, now);
        updates
    }

    /// The answer to `claim_keys` for `peer`: starts the sessions.
    pub(super) fn keys_claimed(
        &mut self,
        client: &mut Client,
        peer: PeerId,
        reply: Result<ClaimKeysReply, DecodeError>,
        now: Duration,
    ) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        match reply {
            Ok(ClaimKeysReply::Ok { id, keys }) if id == peer => {
                // A device whose key did not verify has no session: the server then
                // refuses the message as `devices_changed`, and its keys are learned again.
                let _ = e2ee.crypto.add_claimed(peer, &keys);
                e2ee.changed = true;
                e2ee.keys.insert(peer, Keys::Ready);
                updates.push(Update::Encryption { peer, on: true });
            }
            _ => {
                e2ee.keys.remove(&peer);
            }
        }
        updates.extend(self.read_waiting(client, now));
        self.fill_window(client, now);
        updates
    }

    /// An incoming `envelope` that came encrypted, not seen before: read behind those
    /// that wait; reported with its text, or as undecryptable.
    pub(super) fn open(
        &mut self,
        client: &mut Client,
        envelope: Envelope,
        now: Duration,
    ) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            if self.elsewhere {
                return Vec::new();
            }
            let update = undecryptable(envelope, "this device does not decrypt messages");
            return vec![self.reported(update)];
        };
        e2ee.waiting.push_back((envelope, false));
        self.read_waiting(client, now)
    }

    /// Notes that `peer`'s keys were learned: a message from them still from an unknown
    /// device then cannot be read.
    fn learned(&mut self, peer: PeerId) {
        if let Some(e2ee) = &mut self.e2ee {
            for (envelope, learned) in &mut e2ee.waiting {
                if envelope.from == peer {
                    *learned = true;
                }
            }
        }
    }

    /// Reads the waiting messages, in order, up to one whose sender's keys are needed
    /// (asked for now, if they are not yet).
    fn read_waiting(&mut self, client: &mut Client, now: Duration) -> Vec<Update> {
        let me = self.me;
        let mut read = Vec::new();
        let mut ask = None;
        let mut publish = false;
        if let Some(e2ee) = &mut self.e2ee {
            while let Some((mut envelope, learned)) = e2ee.waiting.pop_front() {
                let from = envelope.from;
                if matches!(e2ee.keys.get(&from), Some(Keys::Asking | Keys::Claiming)) {
                    e2ee.waiting.push_front((envelope, learned));
                    break;
                }
                let Some(encrypted) = envelope.encrypted.take() else {
                    read.push(received(me, envelope));
                    continue;
                };
                let started = e2ee.crypto.inbound_sessions_started();
                match e2ee
                    .crypto
                    .decrypt(from, envelope.to, envelope.id, &encrypted)
                {
                    Ok(plaintext) => {
                        e2ee.changed = true;
                        if e2ee.crypto.inbound_sessions_started() > started {
                            // A session started: one of this device's one-time keys was
                            // used, so the directory keeps one fewer.
                            e2ee.kept = e2ee.kept.map(|kept| kept.saturating_sub(1));
                            publish |= e2ee.kept.is_some_and(|kept| kept < ONE_TIME_KEY_LOW);
                        }
                        read.push(received(me, opened(envelope, plaintext, encrypted)));
                    }
                    // Learned again (a device may be new), unless just learned.
                    Err(CryptoError::UnknownSender { .. }) if !learned => {
                        envelope.encrypted = Some(encrypted);
                        e2ee.waiting.push_front((envelope, false));
                        e2ee.keys.remove(&from);
                        ask = Some(from);
                        break;
                    }
                    // Held until the person accepts the new key (told once).
                    Err(CryptoError::IdentityChanged { .. }) => {
                        envelope.encrypted = Some(encrypted);
                        e2ee.held.push(envelope);
                        if e2ee.keys.get(&from) != Some(&Keys::Changed) {
                            e2ee.keys.insert(from, Keys::Changed);
                            read.push(Update::KeyChanged(from));
                        }
                    }
                    Err(error) => {
                        envelope.encrypted = Some(encrypted);
                        read.push(undecryptable(envelope, &error.to_string()));
                    }
                }
            }
        }
        if let Some(peer) = ask {
            self.ask_keys(client, peer, now);
        }
        if publish {
            self.publish_keys(client, now);
        }
        let mut reported = Vec::with_capacity(read.len());
        for update in read {
            let own = match &update {
                Update::Outgoing(envelope) | Update::Undecryptable { envelope, .. }
                    if envelope.from == me =>
                {
                    Some(envelope.id)
                }
                _ => None,
            };
            reported.push(self.reported(update));
            if let Some(id) = own {
                reported.extend(self.released_receipts(id));
            }
        }
        reported
    }

    /// Holds a receipt of one's own message that waits to be read (see
    /// [`Self::is_waiting`]) until it is.
    pub(super) fn hold_receipt(&mut self, seq: u64, update: Update) {
        if let Some(e2ee) = &mut self.e2ee {
            e2ee.receipts.push((seq, update));
        }
    }

    /// The receipts held for `id` (one's own message, just read): to confirm, and to tell
    /// right after it.
    fn released_receipts(&mut self, id: MessageId) -> Vec<Update> {
        let Some(e2ee) = &mut self.e2ee else {
            return Vec::new();
        };
        let mut released = Vec::new();
        for (seq, update) in e2ee.receipts.extract_if(
            ..,
            |(_, u)| matches!(u, Update::Status { id: i, .. } if *i == id),
        ) {
            self.to_confirm.receipts.push(seq);
            released.push(update);
        }
        released
    }

    /// Whether this incoming message (sender, id) waits for its sender's keys.
    pub(super) fn is_waiting(&self, (from, id): (PeerId, MessageId)) -> bool {
        self.e2ee.as_ref().is_some_and(|e| {
            e.waiting.iter().any(|(w, _)| w.from == from && w.id == id)
                || e.held.iter().any(|h| h.from == from && h.id == id)
        })
    }

    /// A `keys` or `claim_keys` that was not answered: asked again now if messages
    /// wait for the keys and the connection is up, else when next needed.
    pub(super) fn keys_unanswered(&mut self, client: &mut Client, peer: PeerId, now: Duration) {
        let Some(e2ee) = &mut self.e2ee else { return };
        e2ee.keys.remove(&peer);
        if e2ee.waiting.iter().any(|(w, _)| w.from == peer) && self.may_emit(client) {
            self.ask_keys(client, peer, now);
        }
    }
}

/// A message read: [`Update::Received`], or [`Update::Outgoing`] for one this person
/// sent from another device.
fn received(me: PeerId, envelope: Envelope) -> Update {
    if envelope.from == me {
        Update::Outgoing(envelope)
    } else {
        Update::Received(envelope)
    }
}

/// `envelope` decrypted: its text as `body`, and `encrypted` kept without its
/// ciphertexts, to say it came end-to-end encrypted (and by which device).
fn opened(mut envelope: Envelope, plaintext: Plaintext, encrypted: Encrypted) -> Envelope {
    envelope.body = plaintext.text;
    envelope.encrypted = Some(Encrypted {
        ciphertexts: Vec::new(),
        ..encrypted
    });
    envelope
}

/// A message that could not be decrypted, kept whole (with its ciphertexts).
fn undecryptable(envelope: Envelope, reason: &str) -> Update {
    Update::Undecryptable {
        envelope,
        reason: reason.to_owned(),
    }
}
