//! Writing: the peer's id (checked as it is typed) and the message; Enter or the button
//! sends.

use leptos::prelude::*;
use relay_shared::message::{DEFAULT_MAX_BODY_BYTES, check_body};

use super::OpenPeer;
use crate::relay::Relay;

/// The peer field.
#[component]
pub fn PeerField() -> impl IntoView {
    let open = expect_context::<OpenPeer>();
    let invalid = move || open.text.with(|t| !t.trim().is_empty()) && open.get().is_none();
    view! {
        <div class="field peer-field">
            <label for="peer-id">"To (peer id)"</label>
            <input id="peer-id" type="text" data-testid="peer-id" autocomplete="off"
                spellcheck="false" placeholder="3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71"
                aria-invalid=move || invalid().then_some("true")
                aria-describedby="peer-id-error"
                prop:value=move || open.text.get()
                on:input=move |ev| open.text.set(event_target_value(&ev))/>
            <p id="peer-id-error" class="error" role="alert">
                {move || invalid().then_some(
                    "That is not a peer id. Ids look like 3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71.",
                )}
            </p>
        </div>
    }
}

/// The message field and the send button.
#[component]
pub fn Composer() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let text = RwSignal::new(String::new());
    let too_long = move || {
        text.with(|t| {
            check_body(t, DEFAULT_MAX_BODY_BYTES)
                .err()
                .filter(|_| !t.is_empty())
                .map(|r| r.message)
        })
    };
    let can_send = move || {
        open.get().is_some() && text.with(|t| check_body(t, DEFAULT_MAX_BODY_BYTES).is_ok())
    };
    let send = move || {
        if let (Some(peer), true) = (open.get(), can_send()) {
            relay.send(peer, text.get_untracked());
            text.set(String::new());
        }
    };
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label for="message-input" class="visually-hidden">"Message"</label>
            <input id="message-input" type="text" data-testid="message-input" autocomplete="off"
                placeholder=move || if open.get().is_some() { "Write a message" } else { "Enter a peer id first" }
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))/>
            <button type="submit" data-testid="send" disabled=move || !can_send()>"Send"</button>
            <p class="error" role="alert">{too_long}</p>
        </form>
    }
}
