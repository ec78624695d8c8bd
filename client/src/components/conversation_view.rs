//! The messages of the open conversation, newest last, with a separator at each new day.
//! Bodies are shown as text. The view follows new messages only while the reader is at
//! the bottom; reading further up, a "new messages" button says something arrived, and
//! takes them down to it. Older messages are loaded as the reader nears the top (or asks
//! with the button there), and what they were reading stays where it was on screen.

use leptos::{either::Either, html, prelude::*};

use relay_shared::{MessageId, PeerId};

use crate::{
    contacts::Contacts,
    conversations::{Direction, Message, Status},
    encryption::Sealing,
    local_time::LocalTime,
    open_peer::OpenPeer,
    relay::{Relay, now_millis},
};

/// How close to the end counts as "at the bottom", in CSS pixels.
const BOTTOM_SLACK_PX: i32 = 24;
/// How close to the top older messages start loading, in CSS pixels.
const TOP_SLACK_PX: i32 = 400;

/// One row of the list: a message by its id, with what its row shows that can change
/// (the status) and the day it starts, if it is the first of its day. Small: the list is
/// compared and diffed on these, and each row reads its message once, when it is made.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    id: MessageId,
    status: Status,
    day: Option<String>,
}

/// The open conversation's messages.
#[component]
pub fn ConversationView() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    // Recomputed when any conversation changes, but only a change to the open one's
    // rows reaches the list.
    let rows = Memo::new(move |_| {
        let today = day_of(now_millis());
        let mut previous = None;
        let Some(peer) = open.get() else {
            return Vec::new();
        };
        relay.conversations().with(|c| {
            c.get(peer).map_or_else(Vec::new, |c| {
                c.messages
                    .iter()
                    .map(|m| {
                        let day = day_of(m.at);
                        let starts = (previous != Some(day)).then(|| day_label(m.at, day, today));
                        previous = Some(day);
                        Row {
                            id: m.id,
                            status: m.status.clone(),
                            day: starts,
                        }
                    })
                    .collect()
            })
        })
    });
    let first_and_last = move || rows.with(|r| (r.first().map(|r| r.id), r.last().map(|r| r.id)));
    let list = NodeRef::<html::Ol>::new();
    // Reading further up: the conversation and the last message the reader had seen when
    // they left the bottom. Set only by their scrolling.
    let reading_up = RwSignal::new(None::<(Option<PeerId>, Option<MessageId>)>);
    // How far above the end the reader was, in CSS pixels: kept when older messages are
    // added above.
    let from_bottom = StoredValue::new(0);
    let more_kept = move || {
        open.get().is_some_and(|peer| {
            relay
                .conversations()
                .with(|c| c.get(peer).is_some_and(|c| c.more_kept))
        })
    };
    let load_older = move || {
        if let Some(peer) = open.get_untracked() {
            relay.load_older(peer);
        }
    };
    let on_scroll = move || {
        let Some(list) = list.get_untracked() else {
            return;
        };
        from_bottom.set_value(list.scroll_height() - list.scroll_top());
        if list.scroll_top() < TOP_SLACK_PX {
            load_older();
        }
        if at_bottom(&list) {
            if reading_up.get_untracked().is_some() {
                reading_up.set(None);
            }
        } else if reading_up.get_untracked().is_none() {
            let last = rows.with_untracked(|r| r.last().map(|r| r.id));
            reading_up.set(Some((open.get_untracked(), last)));
        }
    };
    let to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    };
    // The list's height when the view last moved: where its bottom was before a change.
    let height = StoredValue::new(0);
    // Follow the conversation: on opening one, on one's own message, and on any message
    // while the reader was at the bottom before it came. Older messages added above keep
    // the reader's place instead. Moves the view only; the scroll events that follow
    // tell the rest.
    type Seen = (Option<PeerId>, Option<MessageId>, Option<MessageId>);
    Effect::new(move |before: Option<Seen>| {
        let peer = open.get();
        let (first, last) = first_and_last();
        if list.get().is_none() {
            return (peer, first, last);
        }
        let switched = before.is_none_or(|(p, ..)| p != peer);
        let grew = before.is_some_and(|(.., l)| last.is_some() && last != l);
        let older = before.is_some_and(|(_, f, _)| f != first);
        let own = last.is_some_and(|id| {
            relay.conversations().with_untracked(|c| {
                c.get(peer.unwrap_or(relay.me)).is_some_and(|c| {
                    c.messages
                        .last()
                        .is_some_and(|m| m.id == id && m.direction == Direction::Out)
                })
            })
        });
        // The list's layout is read once the change is laid out, before the next paint
        // (this may run before the list has the new rows). Read here, it would cost a
        // layout of its own, while the page is still being built on the first run.
        request_animation_frame(move || {
            let Some(element) = list.get_untracked() else {
                return;
            };
            let was_at_bottom = element.scroll_top() + element.client_height()
                >= height.get_value() - BOTTOM_SLACK_PX;
            if switched || (grew && (own || was_at_bottom)) {
                element.set_scroll_top(element.scroll_height());
            } else if older {
                element.set_scroll_top(element.scroll_height() - from_bottom.get_value());
            }
            height.set_value(element.scroll_height());
        });
        (peer, first, last)
    });
    let unseen = move || {
        reading_up
            .get()
            .is_some_and(|(peer, seen)| peer == open.get() && first_and_last().1 != seen)
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
                <For each=move || rows.get() key=|row| row.clone()
                    children=move |row| {
                    let peer = open.get_untracked();
                    let message = peer.and_then(|peer| relay.conversations().with_untracked(|c| {
                        c.get(peer)?.messages.iter().rev().find(|m| m.id == row.id).cloned()
                    }));
                    let day = row.day.map(|label| view! {
                        <li class="day" data-testid="day"><span>{label}</span></li>
                    });
                    let id = row.id;
                    let divider = move || (relay.divider() == Some(id)).then(|| view! {
                        <li class="divider" data-testid="new-messages-divider">
                            "New messages"
                        </li>
                    });
                    view! {
                        {day}
                        {divider}
                        {message.map(|m| view! { <MessageItem message=m peer=peer/> })}
                    }
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

/// Whether `list` is scrolled to its end (within [`BOTTOM_SLACK_PX`]).
fn at_bottom(list: &web_sys::HtmlElement) -> bool {
    list.scroll_top() + list.client_height() >= list.scroll_height() - BOTTOM_SLACK_PX
}

/// One message; `peer` is who the conversation is with, the sender of incoming ones.
#[component]
fn MessageItem(message: Message, peer: Option<PeerId>) -> impl IntoView {
    let contacts = expect_context::<Contacts>();
    let outgoing = message.direction == Direction::Out;
    let from = (!outgoing).then_some(peer).flatten();
    let status = outgoing.then(|| message.status.name());
    let label = outgoing.then(|| message.status.label());
    let failed = message.sealing == Sealing::Undecryptable;
    let body = if failed {
        Either::Left(view! {
            <p class="body undecryptable">
                "This message could not be decrypted on this device. Ask them to send it again."
            </p>
        })
    } else {
        Either::Right(view! { <p class="body" dir="auto">{message.body}</p> })
    };
    view! {
        <li class="message" class:out=outgoing data-testid="message"
            data-direction=message.direction.name() data-status=status
            data-decrypt=failed.then_some("failed")>
            {body}
            <p class="meta">
                {from.map(|f| view! { <span class="from" dir="auto">{move || contacts.label(f)}</span> })}
                <time>{clock(message.at)}</time>
                {label.map(|l| view! { <span class="status">{l}</span> })}
            </p>
        </li>
    }
}

/// The local calendar day of a time in ms since the Unix epoch, as a day number.
fn day_of(at_ms: u64) -> i64 {
    LocalTime::of(at_ms).day_number()
}

/// "Today", "Yesterday", or the date in the browser's language (e.g. "Mon, 30 Nov 2026").
fn day_label(at_ms: u64, day: i64, today: i64) -> String {
    if day == today {
        return "Today".to_owned();
    }
    if day == today - 1 {
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
    LocalTime::of(at_ms).clock()
}
