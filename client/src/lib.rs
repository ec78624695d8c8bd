//! Relay's web app: get an id, send messages to peers by id, see theirs arrive live.
//!
//! The domain ([`contacts`], [`conversations`], [`drafts`], [`identity`],
//! [`share_link`]) is plain Rust, kept in the browser through [`kept`] ([`typing`],
//! [`presence`], [`devices`] and [`device_link`] are plain Rust too, never kept; [`qr`]
//! draws QR codes); [`socket`] drives
//! the shared Socket.IO client core in the browser; [`relay`] is the app's link to the
//! server; [`open_peer`] is which conversation is open, [`panes`] which view shows at
//! phone width; [`components`] show it all.
//! `main.rs` only mounts [`App`].

pub mod components;
pub mod contacts;
pub mod conversations;
pub mod device_link;
pub mod device_lock;
pub mod devices;
pub mod drafts;
pub mod encryption;
pub mod history;
pub mod identity;
pub mod kept;
pub mod local_time;
pub mod open_peer;
pub mod panes;
pub mod presence;
pub mod privacy;
pub mod qr;
pub mod rejections;
pub mod relay;
pub mod share_link;
pub mod socket;
#[cfg(test)]
mod test_ids;
pub mod typing;

use components::{
    Announcer, Composer, ConnectionStatus, ConversationHeader, ConversationList, ConversationView,
    IdentityCard, LinkQuestion, Notifications,
};
use leptos::{either::Either, prelude::*};

use crate::{
    components::composer::PeerField,
    contacts::Contacts,
    device_link::{Invite, invite_from_hash, is_link_hash},
    identity::Identity,
    open_peer::OpenPeer,
    panes::{Pane, Panes},
    relay::{Linking, Relay},
    share_link::peer_from_hash,
};

/// How the app starts.
enum Start {
    /// As `identity`; linking it with the invite's code (and its identity key), if one is
    /// given; with a note to tell.
    Ready(Identity, Option<Invite>, Option<&'static str>),
    /// A link to another id was opened in a browser that has an identity of its own: the
    /// person chooses (the page then starts again).
    Ask(Invite, Identity),
}

/// The `sessionStorage` key of the id this tab's person chose to link this browser to,
/// though it has an identity of its own: read once, on the start that follows.
const REPLACE_KEY: &str = "relay.link_instead";

/// The whole app, talking to the server at `server` (by default, the page's origin).
/// Opened with a link that adds a device (`#link=<id>:<code>`), it first becomes a device
/// of that id; asking first if this browser has an identity of its own.
#[component]
pub fn App(
    /// The server's origin (`http://host:port`); the page's own by default.
    #[prop(optional, into)]
    server: Option<String>,
) -> impl IntoView {
    let server = server.unwrap_or_else(|| window().location().origin().unwrap_or_default());
    // Decided once: the person's answer to the question starts the page again, so the
    // whole app never has to be rebuilt in place.
    match how_to_start() {
        Start::Ask(invite, kept) => Either::Left(view! {
            <LinkQuestion invite=invite.clone() kept
                on_link=move || {
                    if let Ok(Some(session)) = window().session_storage() {
                        let _ = session.set_item(REPLACE_KEY, &invite.id.to_string());
                    }
                    let _ = window().location().reload();
                }
                on_keep=|| {
                    forget_hash();
                    let _ = window().location().reload();
                }/>
        }),
        Start::Ready(identity, invite, note) => {
            Either::Right(view! { <Main server identity invite note/> })
        }
    }
}

/// How to start: from the kept identity, or by linking this browser with the code of a
/// `#link=` fragment (read, then removed from the address bar).
fn how_to_start() -> Start {
    let hash = window().location().hash().unwrap_or_default();
    let replace = window()
        .session_storage()
        .ok()
        .flatten()
        .and_then(|session| {
            let id = session.get_item(REPLACE_KEY).ok().flatten();
            let _ = session.remove_item(REPLACE_KEY);
            id
        });
    if !is_link_hash(&hash) {
        return Start::Ready(identity::own(), None, None);
    }
    let Some(invite) = invite_from_hash(&hash) else {
        forget_hash();
        return Start::Ready(
            identity::own(),
            None,
            Some("That link to add this browser as a device is damaged. Copy it again."),
        );
    };
    match identity::kept() {
        Some(kept) if kept.id == invite.id => {
            forget_hash();
            Start::Ready(
                kept,
                None,
                Some("This browser is one of this id's devices already."),
            )
        }
        // The code stays in the address bar only while the question is asked.
        Some(kept) if replace != Some(invite.id.to_string()) => Start::Ask(invite, kept),
        _ => {
            forget_hash();
            Start::Ready(Identity::linking(invite.id), Some(invite), None)
        }
    }
}

/// Removes the fragment from the address bar (and the history entry), so that a code
/// in it is not left there.
fn forget_hash() {
    let location = window().location();
    let url = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// The app as `identity` (linking it with `invite`), with `note` to tell first.
#[component]
fn Main(
    server: String,
    identity: Identity,
    invite: Option<Invite>,
    note: Option<&'static str>,
) -> impl IntoView {
    let (link_code, link_identity) = match invite {
        Some(invite) => (Some(invite.code), invite.identity),
        None => (None, None),
    };
    let relay = Relay::start(&server, identity, link_code, link_identity);
    let open = OpenPeer::new(relay);
    provide_context(relay);
    provide_context(open);
    provide_context(Contacts::new(relay.me));
    let panes = Panes::new(Pane::List);
    provide_context(panes);

    // `#to=<id>` (the share link) opens a conversation with that peer; `#link=` (a device
    // link), pasted into this page's address bar, starts again from it.
    let follow_hash = move || {
        let hash = window().location().hash().unwrap_or_default();
        if is_link_hash(&hash) {
            let _ = window().location().reload();
            return;
        }
        if let Some(peer) = peer_from_hash(&hash) {
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
    let start_over = |_| {
        identity::start_over();
        let _ = window().location().reload();
    };

    view! {
        <div class="app">
            <header class="topbar">
                <h1>"Relay"</h1>
                <Notifications/>
                <ConnectionStatus/>
            </header>
            {note.map(|note| view! { <p class="note" role="status">{note}</p> })}
            <p class="note" role="status" data-testid="linking"
                hidden=move || !matches!(relay.linking().get(), Linking::InProgress | Linking::Done)>
                {move || if relay.linking().get() == Linking::Done {
                    "This browser is now one of your devices: your messages arrive here too, \
                     and what you send from here shows on the others."
                } else {
                    "Linking this browser to your id…"
                }}
            </p>
            <Show when=move || matches!(relay.linking().get(), Linking::Refused(_))>
                <div class="problem" role="alert" data-testid="link-refused">
                    <p>{move || match relay.linking().get() {
                        Linking::Refused(why) => why,
                        _ => String::new(),
                    }}</p>
                    <button type="button" on:click=|_| {
                        let _ = window().location().reload();
                    }>
                        {if identity::kept().is_some() {
                            "Back to your own id"
                        } else {
                            "Use Relay here with an id of its own"
                        }}
                    </button>
                </div>
            </Show>
            <Show when=move || relay.unlinked().get()>
                <div class="problem" role="alert" data-testid="unlinked">
                    <p>"This browser was unlinked from your id, so it no longer receives or \
                        sends your messages. The conversations already here stay in this \
                        browser."</p>
                    <button type="button" on:click=start_over>"Start over with a new id"</button>
                </div>
            </Show>
            <Show when=move || relay.identity_elsewhere().get()>
                <p class="note" role="status" data-testid="identity-elsewhere">
                    "Your other devices encrypt with a key this browser was not given, so \
                     messages encrypted for you cannot be read here. To read them here, \
                     unlink this browser from one of your other devices and link it again \
                     with a new link from there."
                </p>
            </Show>
            <IdentityCard/>
            {move || relay.problem().get().map(|problem| view! {
                <div class="problem" role="alert">
                    <p>{problem}</p>
                    <button type="button" on:click=start_over>"Start over with a new id"</button>
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
