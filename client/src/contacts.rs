//! Who a peer is to this person: the names they gave their peers (kept in this browser
//! only), "You" for their own id, or a short form of the id. [`Names`] is the plain
//! data; [`Contacts`] shows it to the components.

use std::collections::BTreeMap;

use leptos::prelude::*;
use relay_shared::PeerId;
use serde::{Deserialize, Serialize};

use crate::kept;

/// The `localStorage` key of the names.
pub const NAMES_KEY: &str = "relay.names";

/// The longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The names given to peers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names(BTreeMap<PeerId, String>);

impl Names {
    /// The name given to `peer`, if any.
    pub fn get(&self, peer: PeerId) -> Option<&str> {
        self.0.get(&peer).map(String::as_str)
    }

    /// Names `peer` (trimmed, at most [`MAX_NAME_CHARS`]); a blank name forgets it.
    pub fn set(&mut self, peer: PeerId, name: &str) {
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        if name.is_empty() {
            self.0.remove(&peer);
        } else {
            self.0.insert(peer, name);
        }
    }
}

/// `3f2b8c1e…4b71`: short enough to scan, distinct enough to tell apart.
pub fn short_id(id: PeerId) -> String {
    let full = id.to_string();
    format!("{}…{}", &full[..8], &full[full.len() - 4..])
}

/// The names, for the components; `Copy`.
#[derive(Clone, Copy)]
pub struct Contacts {
    me: PeerId,
    names: RwSignal<Names>,
}

impl Contacts {
    /// The names kept from before; `me` is this browser's own id.
    pub fn new(me: PeerId) -> Self {
        let contacts = Self {
            me,
            names: RwSignal::new(kept::read(NAMES_KEY)),
        };
        // Named in another tab: the same here.
        let storage = window_event_listener(leptos::ev::storage, move |event| {
            if event.key().as_deref() == Some(NAMES_KEY) {
                contacts.names.set(kept::read(NAMES_KEY));
            }
        });
        on_cleanup(move || storage.remove());
        contacts
    }

    /// How `peer` is shown: "You", the name given, or the short id.
    pub fn label(self, peer: PeerId) -> String {
        if peer == self.me {
            return "You".to_owned();
        }
        self.names
            .with(|n| n.get(peer).map(str::to_owned))
            .unwrap_or_else(|| short_id(peer))
    }

    /// The name given to `peer` (empty if none).
    pub fn name(self, peer: PeerId) -> String {
        self.names
            .with(|n| n.get(peer).map(str::to_owned))
            .unwrap_or_default()
    }

    /// Names `peer`; a blank name forgets it.
    pub fn rename(self, peer: PeerId, name: &str) {
        self.names.update(|n| n.set(peer, name));
        // A name is a convenience: a browser that will not keep it still shows it.
        let _ = self.names.with_untracked(|n| kept::write(NAMES_KEY, n));
    }

    /// Whether `peer` is this browser's own id.
    pub fn is_me(self, peer: PeerId) -> bool {
        peer == self.me
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ids::*;

    #[test]
    fn names_are_trimmed_bounded_and_forgotten_when_blank() {
        let mut names = Names::default();
        names.set(peer(1), "  Ada Lovelace ");
        assert_eq!(names.get(peer(1)), Some("Ada Lovelace"));
        names.set(peer(2), &"é".repeat(100));
        assert_eq!(
            names.get(peer(2)).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
        names.set(peer(1), "   ");
        assert_eq!(names.get(peer(1)), None);
        let json = serde_json::to_string(&names).unwrap();
        assert_eq!(serde_json::from_str::<Names>(&json).unwrap(), names);
    }

    #[test]
    fn a_short_id_keeps_both_ends() {
        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        assert_eq!(short_id(id), "3f2b8c1e…4b71");
    }
}
