//! The list of conversations, the most recently active first, each with how many of its
//! messages are unread; a click opens one. A stranger's first message makes a request,
//! to accept or to block.

use leptos::prelude::*;
use relay_shared::PeerId;
use wasm_bindgen::JsCast;

use crate::{
    contacts::Contacts,
    conversations::Standing,
    open_peer::OpenPeer,
    panes::{Pane, Panes},
    relay::Relay,
};

/// One entry of the list.
#[derive(Clone, PartialEq)]
struct Entry {
    peer: PeerId,
    preview: String,
    unread: usize,
    standing: Standing,
}

/// The conversation list.
#[component]
pub fn ConversationList() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let contacts = expect_context::<Contacts>();
    let panes = expect_context::<Panes>();
    let entries = move || {
        relay.conversations().with(|c| {
            c.iter()
                .map(|c| Entry {
                    peer: c.peer,
                    preview: c
                        .messages
                        .last()
                        .map(|m| m.body.clone())
                        .unwrap_or_default(),
                    unread: c.unread,
                    standing: c.standing,
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <nav class="conversations" aria-label="Conversations">
            <div class="conversations-head">
                <h2>"Conversations"</h2>
                <button type="button" data-testid="new-conversation" on:click=move |_| {
                    open.type_text(String::new());
                    panes.show(Pane::Chat);
                    // Once the conversation's view shows (at phone width it was hidden).
                    request_animation_frame(|| {
                        if let Some(field) = document().get_element_by_id("peer-id")
                            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                        {
                            let _ = field.focus();
                        }
                    });
                }>"New conversation"</button>
            </div>
            <Show
                when=move || relay.conversations().with(|c| c.iter().next().is_some())
                fallback=|| view! {
                    <p class="empty">"None yet. Type a peer's id, or share your link."</p>
                }
            >
                <ul>
                    <For each=entries key=|e| (e.peer, e.preview.clone(), e.unread, e.standing) children=move |e| {
                        let peer = e.peer;
                        let unread = e.unread;
                        let badge = (unread > 0).then(|| view! {
                            <span class="unread" data-testid="unread" data-count=unread
                                aria-label=format!("{unread} unread")>{unread}</span>
                        });
                        let current = move || (open.get() == Some(peer)).then_some("true");
                        let request = (e.standing == Standing::Request).then(|| view! {
                            <div class="request" data-testid="request" role="group"
                                aria-label="Message request">
                                <span>"Message request: they have not written to you before."</span>
                                <button type="button" data-testid="accept"
                                    on:click=move |_| relay.accept(peer)>"Accept"</button>
                                <button type="button" data-testid="block"
                                    on:click=move |_| relay.block(peer, true)>"Block"</button>
                            </div>
                        });
                        let blocked = (e.standing == Standing::Blocked)
                            .then(|| view! { <span class="blocked-badge">"Blocked"</span> });
                        view! {
                            <li data-standing=e.standing.name()>
                                <button type="button" data-testid="conversation"
                                    data-peer=peer.to_string() aria-current=current
                                    class:has-unread={unread > 0}
                                    title=peer.to_string() on:click=move |_| {
                                        open.set(peer);
                                        // Back from the list at phone width: on screen again.
                                        relay.read(Some(peer));
                                        panes.show(Pane::Chat);
                                    }>
                                    <span class="peer" dir="auto">{move || contacts.label(peer)}</span>
                                    <span class="preview" dir="auto">{e.preview}</span>
                                    {badge}
                                    {blocked}
                                </button>
                                {request}
                            </li>
                        }
                    }/>
                </ul>
            </Show>
        </nav>
    }
}
