//! Writing: the peer's id (checked as it is typed) and the message; Enter or the button
//! sends.

use leptos::prelude::*;
use relay_shared::message::{DEFAULT_MAX_BODY_BYTES, check_body};

use crate::{open_peer::OpenPeer, relay::Relay};

/// The peer field: an id, or a share link pasted whole.
#[component]
pub fn PeerField() -> impl IntoView {
    let open = expect_context::<OpenPeer>();
    let invalid = move || !open.text().trim().is_empty() && open.get().is_none();
    view! {
        <div class="field peer-field">
            <label for="peer-id">"To (peer id or share link)"</label>
            <input id="peer-id" type="text" data-testid="peer-id" autocomplete="off"
                spellcheck="false" dir="auto" placeholder="3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71"
                aria-invalid=move || invalid().then_some("true")
                aria-describedby="peer-id-error"
                prop:value=move || open.text()
                on:input=move |ev| open.type_text(event_target_value(&ev))/>
            <p id="peer-id-error" class="error" role="alert">
                {move || invalid().then_some(
                    "That is not a peer id. Ids look like 3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71; \
                     a share link works too.",
                )}
            </p>
        </div>
    }
}

/// The message field, one draft per conversation, and the send button. Enter sends;
/// Shift+Enter starts a new line.
#[component]
pub fn Composer() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let too_long = move || {
        let draft = open.draft();
        check_body(&draft, DEFAULT_MAX_BODY_BYTES)
            .err()
            .filter(|_| !draft.is_empty())
            .map(|r| r.message)
    };
    let can_send =
        move || open.get().is_some() && check_body(&open.draft(), DEFAULT_MAX_BODY_BYTES).is_ok();
    let send = move || {
        if can_send()
            && let Some((peer, text)) = open.take_draft()
        {
            relay.send(peer, text);
        }
    };
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label for="message-input" class="visually-hidden">"Message"</label>
            <textarea id="message-input" data-testid="message-input" autocomplete="off" rows="1"
                dir="auto" enterkeyhint="send"
                placeholder=move || if open.get().is_some() { "Write a message" } else { "Enter a peer id first" }
                prop:value=move || open.draft()
                on:input=move |ev| open.write(event_target_value(&ev))
                on:keydown=move |ev| {
                    // Not while an input method is composing: its Enter picks a word.
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }></textarea>
            <button type="submit" data-testid="send" disabled=move || !can_send()>"Send"</button>
            <p class="error" role="alert">{too_long}</p>
        </form>
    }
}
