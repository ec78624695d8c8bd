//! Relay's web app: get an id, send messages to peers by id, see theirs arrive live.
//!
//! The domain ([`contacts`], [`conversations`], [`drafts`], [`identity`],
//! [`share_link`]) is plain Rust, kept in the browser through [`kept`] ([`typing`] and
//! [`presence`] are plain Rust too, never kept); [`socket`] drives
//! the shared Socket.IO client core in the browser; [`relay`] is the app's link to the
//! server; [`open_peer`] is which conversation is open, [`panes`] which view shows at
//! phone width; [`components`] show it all.
//! `main.rs` only mounts [`App`].

pub mod components;
pub mod contacts;
pub mod conversations;
pub mod drafts;
pub mod history;
pub mod identity;
pub mod kept;
pub mod local_time;
pub mod open_peer;
pub mod panes;
pub mod presence;
pub mod privacy;
pub mod rejections;
pub mod relay;
pub mod share_link;
pub mod socket;
#[cfg(test)]
mod test_ids;
pub mod typing;

use components::{
    Announcer, Composer, ConnectionStatus, ConversationHeader, ConversationList, ConversationView,
    IdentityCard, Notifications,
};
use leptos::prelude::*;

use crate::{
    components::composer::PeerField,
    contacts::Contacts,
    open_peer::OpenPeer,
    panes::{Pane, Panes},
    relay::Relay,
    share_link::peer_from_hash,
};

/// The whole app, talking to the server at `server` (by default, the page's origin).
#[component]
pub fn App(
    /// The server's origin (`http://host:port`); the page's own by default.
    #[prop(optional, into)]
    server: Option<String>,
) -> impl IntoView {
    let server = server.unwrap_or_else(|| window().location().origin().unwrap_or_default());
    let relay = Relay::start(&server, identity::own());
    let open = OpenPeer::new(relay);
    provide_context(relay);
    provide_context(open);
    provide_context(Contacts::new(relay.me));
    let panes = Panes::new(Pane::List);
    provide_context(panes);

    // `#to=<id>` (the share link) opens a conversation with that peer.
    let follow_hash = move || {
        if let Some(peer) = peer_from_hash(&window().location().hash().unwrap_or_default()) {
            relay.open_conversation(peer);
            open.set(peer);
            panes.show(Pane::Chat);
        }
    };
    follow_hash();

    // With no conversation open, the one where something just happened opens, so an
    // arriving message is seen. Only new activity does this: a field the user emptied
    // stays empty while nothing happens.
    relay.on_activity(move |peer| {
        if open.is_blank_untracked() {
            open.set(peer);
        }
    });
    // The unread count in the tab's title, seen from other tabs and the taskbar.
    Effect::new(move |_| {
        let unread = relay.conversations().with(|c| c.total_unread());
        document().set_title(&if unread > 0 {
            format!("({unread}) Relay")
        } else {
            "Relay".to_owned()
        });
    });
    let listener = window_event_listener(leptos::ev::hashchange, move |_| follow_hash());
    on_cleanup(move || listener.remove());

    view! {
        <div class="app">
            <header class="topbar">
                <h1>"Relay"</h1>
                <Notifications/>
                <ConnectionStatus/>
            </header>
            <IdentityCard/>
            {move || relay.problem().get().map(|problem| view! {
                <div class="problem" role="alert">
                    <p>{problem}</p>
                    <button type="button" on:click=|_| {
                        identity::forget();
                        let _ = window().location().reload();
                    }>"Start over with a new id"</button>
                </div>
            })}
            <Show when=move || relay.storage_refused().get()>
                <div class="problem" role="alert" data-testid="storage-refused">
                    <p>"This browser is not keeping your messages (its storage is full or \
                        turned off). They show here, and unsent ones are still sent while \
                        this page stays open, but closing it loses them."</p>
                </div>
            </Show>
            <Announcer/>
            <main class="workspace" data-pane=move || panes.current().name()>
                <ConversationList/>
                <section class="chat" aria-label="Conversation">
                    <button type="button" class="back" data-testid="back-to-list"
                        on:click=move |_| {
                            panes.show(Pane::List);
                            // The conversation is off screen: what arrives is unread.
                            relay.read(None);
                        }>
                        "← Conversations"
                    </button>
                    <PeerField/>
                    <ConversationHeader/>
                    <ConversationView/>
                    <Composer/>
                </section>
            </main>
        </div>
    }
}
