//! [`OpenPeer`]: which conversation is open (whatever the peer field names) and the
//! draft written in each, so that switching conversations switches drafts too. Opening
//! one marks it seen, and follows its peer's presence.

use leptos::prelude::*;
use relay_shared::PeerId;

use crate::{drafts::Drafts, kept, relay::Relay, share_link::peer_from_text};

/// The `localStorage` key of the drafts.
pub const DRAFTS_KEY: &str = "relay.drafts";

/// The open conversation and the drafts; `Copy`, for every component and closure.
#[derive(Clone, Copy)]
pub struct OpenPeer {
    /// The peer field's text, as typed.
    text: RwSignal<String>,
    drafts: RwSignal<Drafts>,
    relay: Relay,
}

impl OpenPeer {
    /// None open; the drafts kept from before. Conversations opened are marked seen
    /// through `relay`.
    pub fn new(relay: Relay) -> Self {
        Self {
            text: RwSignal::new(String::new()),
            drafts: RwSignal::new(kept::read(DRAFTS_KEY)),
            relay,
        }
    }

    /// The open peer, if the field names one (an id, or a share link).
    pub fn get(self) -> Option<PeerId> {
        self.text.with(|t| peer_from_text(t))
    }

    /// The open peer, without subscribing to changes.
    pub fn get_untracked(self) -> Option<PeerId> {
        self.text.with_untracked(|t| peer_from_text(t))
    }

    /// The peer field's text.
    pub fn text(self) -> String {
        self.text.get()
    }

    /// Whether the peer field is empty (blank), without subscribing to changes.
    pub fn is_blank_untracked(self) -> bool {
        self.text.with_untracked(|t| t.trim().is_empty())
    }

    /// The peer field was edited: a pasted share link becomes the id it carries.
    pub fn type_text(self, text: String) {
        let text = match peer_from_text(&text) {
            Some(peer) if text.trim() != peer.to_string() && text.contains('#') => peer.to_string(),
            _ => text,
        };
        self.switch(|t| *t = text);
    }

    /// Opens the conversation with `peer`.
    pub fn set(self, peer: PeerId) {
        self.switch(|t| *t = peer.to_string());
    }

    /// The draft of the open conversation.
    pub fn draft(self) -> String {
        let peer = self.get();
        self.drafts.with(|d| d.get(peer).to_owned())
    }

    /// The composer was edited: the open conversation's draft is now `text`.
    pub fn write(self, text: String) {
        let peer = self.get_untracked();
        self.drafts.update(|d| d.set(peer, text));
        self.keep();
    }

    /// Empties the open conversation's draft, for sending; `None` with no peer open.
    pub fn take_draft(self) -> Option<(PeerId, String)> {
        let peer = self.get_untracked()?;
        let mut text = String::new();
        self.drafts.update(|d| {
            text = d.get(Some(peer)).to_owned();
            d.set(Some(peer), String::new());
        });
        self.keep();
        Some((peer, text))
    }

    /// Changes the field; text typed before any peer was chosen goes with the first one.
    /// Another conversation opened is seen, from its first new message, and its peer's
    /// presence followed.
    fn switch(self, edit: impl FnOnce(&mut String)) {
        let before = self.get_untracked();
        self.text.update(edit);
        let after = self.get_untracked();
        if before == after {
            return;
        }
        if let (None, Some(peer)) = (before, after) {
            self.drafts.update(|d| d.address(peer));
            self.keep();
        }
        self.relay.read(after);
        self.relay.watch_presence(after);
        if let Some(peer) = after {
            self.relay.learn_encryption(peer);
        }
    }

    fn keep(self) {
        // Drafts are a convenience: a browser that will not keep them still sends.
        let _ = self.drafts.with_untracked(|d| kept::write(DRAFTS_KEY, d));
    }
}
