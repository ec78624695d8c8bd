//! The open conversation's header: the name this person gave the peer (editable; kept
//! in this browser), the peer's full id, always visible whatever the name, whether the
//! peer is online or when it was last seen (where the server may say), and "typing…"
//! while the peer types to this browser; for a peer the person blocked, says so, with the
//! way back. Whether the conversation is end-to-end encrypted, its safety number (and QR
//! code) to compare, and a warning when the peer's identity key changed, with the way to
//! accept it.

use leptos::prelude::*;

use crate::{
    contacts::{Contacts, MAX_NAME_CHARS},
    conversations::Standing,
    encryption::Encryption,
    open_peer::OpenPeer,
    presence::{Presence, last_seen_at},
    qr,
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
            // Recomputed on any change to the conversations; shown again only when this
            // one's encryption changed.
            let encryption = Memo::new(move |_| {
                relay
                    .conversations()
                    .with(|c| c.get(peer).map(|c| c.encryption.clone()))
                    .unwrap_or_default()
            });
            let encryption = move || encryption.get();
            view! {
                <div class="conversation-header" data-testid="conversation-header">
                    {naming}
                    {own}
                    <code class="peer-full-id" data-testid="open-peer-id">{peer.to_string()}</code>
                    <span class="encryption" data-testid="encrypted"
                        data-state=move || encryption().state()>
                        {move || encryption().label()}
                    </span>
                    {move || safety(&encryption())}
                    <Show when=move || encryption().key_changed>
                        <div class="problem key-changed" role="alert" data-testid="key-changed">
                            <p>"Their safety number changed: they may have reinstalled Relay \
                                or reset their browser, or someone may be in between. Compare \
                                the new number with them before accepting. What you write \
                                waits until you do."</p>
                            <button type="button" on:click=move |_| relay.accept_identity(peer)>
                                "Accept the new safety number"
                            </button>
                        </div>
                    </Show>
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

/// The safety number to compare, and its QR code, once the conversation is encrypted.
fn safety(encryption: &Encryption) -> Option<impl IntoView + use<>> {
    if encryption.on != Some(true) {
        return None;
    }
    let number = encryption.safety_number.clone()?;
    let picture = encryption
        .safety_qr
        .as_deref()
        .and_then(qr::svg)
        .unwrap_or_default();
    Some(view! {
        <details class="safety">
            <summary>"Verify safety number"</summary>
            <p class="safety-number" data-testid="safety-number">{number}</p>
            <div class="qr" aria-hidden="true" inner_html=picture></div>
            <p class="hint">"Compare these digits with theirs, in person or on a call \
                (or scan each other's code): if they match, nobody in between can read \
                your messages."</p>
        </details>
    })
}

/// "online", or "last seen …" in the person's local time.
fn note(presence: Presence) -> String {
    match presence {
        Presence::Online => "online".to_owned(),
        Presence::Offline(seen) => last_seen_at(seen, now_millis()),
    }
}
