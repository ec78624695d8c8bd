//! The list of conversations, the most recently active first, each with how many of its
//! messages are unread; a click opens one.

use leptos::prelude::*;
use relay_shared::PeerId;

use crate::{contacts::Contacts, open_peer::OpenPeer, relay::Relay};

/// One entry of the list.
#[derive(Clone, PartialEq)]
struct Entry {
    peer: PeerId,
    preview: String,
    unread: usize,
}

/// The conversation list.
#[component]
pub fn ConversationList() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let contacts = expect_context::<Contacts>();
    let entries = move || {
        relay.conversations.with(|c| {
            c.iter()
                .map(|c| Entry {
                    peer: c.peer,
                    preview: c
                        .messages
                        .last()
                        .map(|m| m.body.clone())
                        .unwrap_or_default(),
                    unread: c.unread,
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <nav class="conversations" aria-label="Conversations">
            <h2>"Conversations"</h2>
            <Show
                when=move || relay.conversations.with(|c| c.iter().next().is_some())
                fallback=|| view! {
                    <p class="empty">"None yet. Type a peer's id, or share your link."</p>
                }
            >
                <ul>
                    <For each=entries key=|e| (e.peer, e.preview.clone(), e.unread) children=move |e| {
                        let peer = e.peer;
                        let unread = e.unread;
                        let badge = (unread > 0).then(|| view! {
                            <span class="unread" data-testid="unread" data-count=unread
                                aria-label=format!("{unread} unread")>{unread}</span>
                        });
                        let current = move || (open.get() == Some(peer)).then_some("true");
                        view! {
                            <li>
                                <button type="button" data-testid="conversation"
                                    data-peer=peer.to_string() aria-current=current
                                    class:has-unread={unread > 0}
                                    title=peer.to_string() on:click=move |_| open.set(peer)>
                                    <span class="peer" dir="auto">{move || contacts.label(peer)}</span>
                                    <span class="preview" dir="auto">{e.preview}</span>
                                    {badge}
                                </button>
                            </li>
                        }
                    }/>
                </ul>
            </Show>
        </nav>
    }
}
