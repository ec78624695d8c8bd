//! The messages of the open conversation, newest last. Bodies are shown as text.

use leptos::{html, prelude::*};

use relay_shared::PeerId;

use super::{OpenPeer, short_id};
use crate::{
    conversations::{Direction, Message},
    relay::Relay,
};

/// The open conversation's messages.
#[component]
pub fn ConversationView() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let messages = move || {
        open.get()
            .and_then(|peer| {
                relay
                    .conversations
                    .with(|c| c.get(peer).map(|c| c.messages.clone()))
            })
            .unwrap_or_default()
    };
    let list = NodeRef::<html::Ol>::new();
    // Keep the newest message in view.
    Effect::new(move |_| {
        let count = messages().len();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
        count
    });
    view! {
        <ol class="messages" node_ref=list aria-label="Messages" aria-live="polite">
            <For each=messages key=|m| (m.id, m.status.clone()) children=move |m| {
                let peer = open.get_untracked();
                view! { <MessageItem message=m peer=peer/> }
            }/>
        </ol>
    }
}

/// One message; `peer` is who the conversation is with, the sender of incoming ones.
#[component]
fn MessageItem(message: Message, peer: Option<PeerId>) -> impl IntoView {
    let outgoing = message.direction == Direction::Out;
    let from = (!outgoing).then(|| peer.map(short_id)).flatten();
    let status = outgoing.then(|| message.status.name());
    let label = outgoing.then(|| message.status.label());
    view! {
        <li class="message" class:out=outgoing data-testid="message"
            data-direction=message.direction.name() data-status=status>
            <p class="body">{message.body}</p>
            <p class="meta">
                {from.map(|f| view! { <span class="from">{f}</span> })}
                <time>{clock(message.at)}</time>
                {label.map(|l| view! { <span class="status">{l}</span> })}
            </p>
        </li>
    }
}

/// `HH:MM`, local time, of a time in ms since the Unix epoch.
fn clock(at_ms: u64) -> String {
    let date = js_sys::Date::new(&(at_ms as f64).into());
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}
