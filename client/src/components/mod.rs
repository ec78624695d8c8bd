//! The app's components, each named after what the user sees.

mod announcer;
pub mod composer;
mod connection_status;
mod conversation_list;
mod conversation_view;
mod identity_card;

pub use announcer::Announcer;
pub use composer::Composer;
pub use connection_status::ConnectionStatus;
pub use conversation_list::ConversationList;
pub use conversation_view::ConversationView;
pub use identity_card::IdentityCard;

use relay_shared::PeerId;

/// `3f2b8c1e…4b71`: short enough to scan, distinct enough to tell apart.
pub fn short_id(id: PeerId) -> String {
    let full = id.to_string();
    format!("{}…{}", &full[..8], &full[full.len() - 4..])
}

/// How a peer is shown: "You" for this browser's own id, its short id otherwise.
pub fn peer_label(me: PeerId, peer: PeerId) -> String {
    if peer == me {
        "You".to_owned()
    } else {
        short_id(peer)
    }
}
