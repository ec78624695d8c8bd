//! The open conversation's header: the name this person gave the peer (editable; kept
//! in this browser), the peer's full id, always visible whatever the name, whether the
//! peer is online or when it was last seen (where the server may say), and "typing…"
//! while the peer types to this browser; for a peer the person blocked, says so, with the
//! way back.

use leptos::prelude::*;

use crate::{
    contacts::{Contacts, MAX_NAME_CHARS},
    conversations::Standing,
    open_peer::OpenPeer,
    presence::{Presence, last_seen_at},
    relay::{Relay, now_millis},
};

/// The header of the open conversation; nothing while none is open.
#[component]
pub fn ConversationHeader() -> impl IntoView {
    let open = expect_context::<OpenPeer>();
    let contacts = expect_context::<Contacts>();
    let relay = expect_context::<Relay>();
    move || {
        open.get().map(|peer| {
            let naming = (!contacts.is_me(peer)).then(|| {
                view! {
                    <label for="contact-name" class="visually-hidden">"Contact name"</label>
                    <input id="contact-name" type="text" data-testid="contact-name" dir="auto"
                        autocomplete="off" maxlength=MAX_NAME_CHARS placeholder="Name this contact"
                        prop:value=move || contacts.name(peer)
                        on:input=move |ev| contacts.rename(peer, &event_target_value(&ev))/>
                }
            });
            let own = contacts.is_me(peer).then(|| {
                view! {
                    <p class="own-note">
                        "You: messages to your own id reach your other tabs."
                    </p>
                }
            });
            let blocked = move || {
                relay
                    .conversations()
                    .with(|c| c.standing(peer) == Standing::Blocked)
            };
            view! {
                <div class="conversation-header" data-testid="conversation-header">
                    {naming}
                    {own}
                    <code class="peer-full-id" data-testid="open-peer-id">{peer.to_string()}</code>
                    // Always there, so that a screen reader hears of the changes in it.
                    <span class="presence-live" aria-live="polite">
                        {move || {
                            let shown = if blocked() { None } else { relay.presence(peer) };
                            shown.map(|p| view! {
                                <span class="presence" data-testid="presence" data-state=p.name()>
                                    {note(p)}
                                </span>
                            })
                        }}
                    </span>
                    <Show when=move || relay.is_typing(peer)>
                        <p class="typing" data-testid="typing">"typing…"</p>
                    </Show>
                    <Show when=blocked>
                        <p class="blocked-note" data-testid="blocked">
                            "Blocked: nothing they send reaches you. "
                            <button type="button" data-testid="unblock"
                                on:click=move |_| relay.block(peer, false)>"Unblock"</button>
                        </p>
                    </Show>
                </div>
            }
        })
    }
}

/// "online", or "last seen …" in the person's local time.
fn note(presence: Presence) -> String {
    match presence {
        Presence::Online => "online".to_owned(),
        Presence::Offline(seen) => last_seen_at(seen, now_millis()),
    }
}
