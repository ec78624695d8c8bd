//! Writing: the peer's id (checked as it is typed) and the message; Enter or the button
//! sends.

use leptos::{html, prelude::*};
use relay_shared::{
    PeerId,
    message::{DEFAULT_MAX_BODY_BYTES, check_body},
};

use crate::{contacts::Contacts, open_peer::OpenPeer, relay::Relay};

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
/// Shift+Enter starts a new line. The first message to an id never written with from
/// this browser waits for a confirmation that it is the right one: a mistyped but valid
/// id would otherwise take it silently.
#[component]
pub fn Composer() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let open = expect_context::<OpenPeer>();
    let contacts = expect_context::<Contacts>();
    // The new contact a first message waits to be confirmed for.
    let confirming = RwSignal::new(None::<PeerId>);
    let confirm_button = NodeRef::<html::Button>::new();
    let too_long = move || {
        let draft = open.draft();
        check_body(&draft, DEFAULT_MAX_BODY_BYTES)
            .err()
            .filter(|_| !draft.is_empty())
            .map(|r| r.message)
    };
    let can_send = move || {
        open.get().is_some()
            && check_body(&open.draft(), DEFAULT_MAX_BODY_BYTES).is_ok()
            && relay.can_write()
    };
    let deliver = move || {
        confirming.set(None);
        if let Some((peer, text)) = open.take_draft() {
            relay.send(peer, text);
        }
    };
    let send = move || {
        let Some(peer) = open.get_untracked() else {
            return;
        };
        if !can_send() {
            return;
        }
        let known = contacts.is_me(peer)
            || relay
                .conversations()
                .with_untracked(|c| c.has_exchanged(peer));
        if known {
            deliver();
        } else {
            confirming.set(Some(peer));
        }
    };
    let asking = move || confirming.get().is_some_and(|p| open.get() == Some(p));
    // The confirmation takes the focus, so that the keyboard answers it too.
    Effect::new(move |_| {
        if let Some(button) = confirm_button.get() {
            let _ = button.focus();
        }
    });
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label for="message-input" class="visually-hidden">"Message"</label>
            <textarea id="message-input" data-testid="message-input" autocomplete="off" rows="1"
                dir="auto" enterkeyhint="send"
                placeholder=move || if open.get().is_some() { "Write a message" } else { "Enter a peer id first" }
                prop:value=move || open.draft()
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    if let Some(peer) = open.get_untracked()
                        && !text.trim().is_empty()
                    {
                        relay.typing(peer);
                    }
                    open.write(text);
                }
                on:keydown=move |ev| {
                    // Not while an input method is composing: its Enter picks a word.
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }></textarea>
            <button type="submit" data-testid="send" disabled=move || !can_send()>"Send"</button>
            <p class="error" role="alert">{too_long}</p>
            <Show when=asking>
                <div class="new-contact" role="alertdialog" aria-labelledby="new-contact-text">
                    <p id="new-contact-text">
                        {move || confirming.get().map(|peer| format!(
                            "{peer} is a new contact: you have not exchanged messages with \
                             this id in this browser. Is it the right one?"
                        ))}
                    </p>
                    <button type="button" data-testid="confirm-new-contact" node_ref=confirm_button
                        on:click=move |_| deliver()>
                        "Send to this new contact"
                    </button>
                    <button type="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
                </div>
            </Show>
        </form>
    }
}
