//! The app's components, each named after what the user sees.

pub mod composer;
mod connection_status;
mod conversation_list;
mod conversation_view;
mod identity_card;

pub use composer::Composer;
pub use connection_status::ConnectionStatus;
pub use conversation_list::ConversationList;
pub use conversation_view::ConversationView;
pub use identity_card::IdentityCard;

use leptos::prelude::*;
use relay_shared::PeerId;

/// The peer the conversation pane is open on: whatever valid id is in the peer field.
#[derive(Clone, Copy)]
pub struct OpenPeer {
    /// The peer field's text, as typed.
    pub text: RwSignal<String>,
}

impl OpenPeer {
    /// The open peer, if the field holds a valid id.
    pub fn get(self) -> Option<PeerId> {
        self.text.with(|t| t.trim().parse().ok())
    }

    /// The open peer, without subscribing to changes.
    pub fn get_untracked(self) -> Option<PeerId> {
        self.text.with_untracked(|t| t.trim().parse().ok())
    }

    /// Opens the conversation with `peer`.
    pub fn set(self, peer: PeerId) {
        self.text.set(peer.to_string());
    }
}

/// `3f2b8c1e…4b71`: short enough to scan, distinct enough to tell apart.
pub fn short_id(id: PeerId) -> String {
    let full = id.to_string();
    format!("{}…{}", &full[..8], &full[full.len() - 4..])
}
