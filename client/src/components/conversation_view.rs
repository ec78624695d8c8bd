//! The messages of the open conversation, newest last, with a separator at each new day.
//! Bodies are shown as text. The view follows new messages only while the reader is at
//! the bottom; reading further up, a "new messages" button says something arrived, and
//! takes them down to it. Older messages are loaded as the reader nears the top (or asks
//! with the button there), and what they were reading stays where it was on screen.

use leptos::{html, prelude::*};

use relay_shared::{MessageId, PeerId};

use crate::{
    contacts::Contacts,
    conversations::{Direction, Message},
    open_peer::OpenPeer,
    relay::{Relay, now_millis},
};

/// How close to the end counts as "at the bottom", in CSS pixels.
const BOTTOM_SLACK_PX: i32 = 24;
/// How close to the top older messages start loading, in CSS pixels.
const TOP_SLACK_PX: i32 = 400;

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
    // Each message with the day it starts, if it is the first of its day.
    let rows = move || {
        let today = day_of(now_millis());
        let mut previous = None;
        messages()
            .into_iter()
            .map(|m| {
                let day = day_of(m.at);
                let starts = (previous != Some(day)).then(|| day_label(m.at, day, today));
                previous = Some(day);
                (m, starts)
            })
            .collect::<Vec<_>>()
    };
    let list = NodeRef::<html::Ol>::new();
    // Where the reader is, as of their last scroll: at the bottom, and the last message
    // of which conversation they had then seen.
    let at_bottom = RwSignal::new(true);
    let seen = RwSignal::new((None::<PeerId>, None::<MessageId>));
    // How far above the end the reader was, in CSS pixels: kept when older messages are
    // added above.
    let from_bottom = StoredValue::new(0);
    let more_kept = move || {
        open.get().is_some_and(|peer| {
            relay
                .conversations
                .with(|c| c.get(peer).is_some_and(|c| c.more_kept))
        })
    };
    let load_older = move || {
        if let Some(peer) = open.get_untracked() {
            relay.load_older(peer);
        }
    };
    let on_scroll = move || {
        if let Some(list) = list.get_untracked() {
            from_bottom.set_value(list.scroll_height() - list.scroll_top());
            if list.scroll_top() < TOP_SLACK_PX {
                load_older();
            }
            let bottom =
                list.scroll_top() + list.client_height() >= list.scroll_height() - BOTTOM_SLACK_PX;
            at_bottom.set(bottom);
            if bottom {
                seen.set((open.get_untracked(), last_untracked(relay, open)));
            }
        }
    };
    let to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        on_scroll();
    };
    // Follow the conversation: on opening one, on one's own message, and on any message
    // while at the bottom. Moves the view only; the scroll handler then notes it.
    // Older messages added above keep the reader's place instead.
    type Ends = (Option<PeerId>, Option<MessageId>, Option<MessageId>);
    Effect::new(move |before: Option<Ends>| {
        let peer = open.get();
        let shown = messages();
        let now = (
            peer,
            shown.first().map(|m| m.id),
            shown.last().map(|m| m.id),
        );
        let switched = before.is_none_or(|(p, ..)| p != peer);
        let grew = before.is_some_and(|(.., last)| now.2.is_some() && now.2 != last);
        let own = shown.last().is_some_and(|m| m.direction == Direction::Out);
        if switched || (grew && (own || at_bottom.get_untracked())) {
            to_bottom();
        } else if before.is_some_and(|(_, first, _)| first != now.1)
            && let Some(list) = list.get_untracked()
        {
            list.set_scroll_top(list.scroll_height() - from_bottom.get_value());
            on_scroll();
        }
        now
    });
    let unseen = move || {
        let (peer, last) = seen.get();
        !at_bottom.get() && peer == open.get() && messages().last().map(|m| m.id) != last
    };
    view! {
        <div class="messages-pane">
            <ol class="messages" node_ref=list aria-label="Messages" tabindex="0"
                on:scroll=move |_| on_scroll()>
                <Show when=more_kept>
                    <li class="older">
                        <button type="button" data-testid="older-messages"
                            on:click=move |_| load_older()>
                            "Earlier messages"
                        </button>
                    </li>
                </Show>
                <For each=rows key=|(m, day)| (m.id, m.status.clone(), day.clone())
                    children=move |(m, day)| {
                    let peer = open.get_untracked();
                    let day = day.map(|label| view! {
                        <li class="day" data-testid="day"><span>{label}</span></li>
                    });
                    let id = m.id;
                    let divider = move || (relay.divider() == Some(id)).then(|| view! {
                        <li class="divider" data-testid="new-messages-divider">
                            "New messages"
                        </li>
                    });
                    view! { {day} {divider} <MessageItem message=m peer=peer/> }
                }/>
            </ol>
            <Show when=unseen>
                <button type="button" class="new-messages" data-testid="new-messages"
                    on:click=move |_| to_bottom()>
                    "New messages ↓"
                </button>
            </Show>
        </div>
    }
}

/// The open conversation's last message, without subscribing.
fn last_untracked(relay: Relay, open: OpenPeer) -> Option<MessageId> {
    let peer = open.get_untracked()?;
    relay
        .conversations
        .with_untracked(|c| c.get(peer)?.messages.last().map(|m| m.id))
}

/// One message; `peer` is who the conversation is with, the sender of incoming ones.
#[component]
fn MessageItem(message: Message, peer: Option<PeerId>) -> impl IntoView {
    let contacts = expect_context::<Contacts>();
    let outgoing = message.direction == Direction::Out;
    let from = (!outgoing).then_some(peer).flatten();
    let status = outgoing.then(|| message.status.name());
    let label = outgoing.then(|| message.status.label());
    view! {
        <li class="message" class:out=outgoing data-testid="message"
            data-direction=message.direction.name() data-status=status>
            <p class="body" dir="auto">{message.body}</p>
            <p class="meta">
                {from.map(|f| view! { <span class="from" dir="auto">{move || contacts.label(f)}</span> })}
                <time>{clock(message.at)}</time>
                {label.map(|l| view! { <span class="status">{l}</span> })}
            </p>
        </li>
    }
}

/// The local calendar day of a time in ms since the Unix epoch, as (year, month, day).
fn day_of(at_ms: u64) -> (u32, u32, u32) {
    let date = js_sys::Date::new(&(at_ms as f64).into());
    (date.get_full_year(), date.get_month(), date.get_date())
}

/// "Today", "Yesterday", or the date in the browser's language (e.g. "Mon, 30 Nov 2026").
fn day_label(at_ms: u64, day: (u32, u32, u32), today: (u32, u32, u32)) -> String {
    if day == today {
        return "Today".to_owned();
    }
    let yesterday = day_of(now_millis().saturating_sub(24 * 3600 * 1000));
    if day == yesterday {
        return "Yesterday".to_owned();
    }
    let options = js_sys::Object::new();
    for (key, value) in [
        ("weekday", "short"),
        ("day", "numeric"),
        ("month", "short"),
        ("year", "numeric"),
    ] {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    }
    js_sys::Date::new(&(at_ms as f64).into())
        .to_locale_date_string("default", &options)
        .into()
}

/// `HH:MM`, local time, of a time in ms since the Unix epoch.
fn clock(at_ms: u64) -> String {
    let date = js_sys::Date::new(&(at_ms as f64).into());
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}
