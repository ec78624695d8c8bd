//! The user's own id, with a copy button and the share link, the privacy choices, and
//! the id's devices; collapsible, and collapsed at first at phone width, where the
//! conversation needs the room.

use leptos::prelude::*;

use crate::{components::LinkedDevices, relay::Relay, share_link::share_link};

/// The CSS media query of phone width, as in style.css.
const PHONE_WIDTH: &str = "(max-width: 700px)";

/// "Your id" with copy and share.
#[component]
pub fn IdentityCard() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let id = relay.me.to_string();
    let origin = window().location().origin().unwrap_or_default();
    let link = share_link(&origin, relay.me);
    let copied = RwSignal::new(None::<&'static str>);
    let unkept = RwSignal::new(false);
    let copy = move |what: &'static str, text: String| {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&text);
        copied.set(Some(what));
        set_timeout(move || copied.set(None), std::time::Duration::from_secs(2));
    };
    let (id_for_copy, link_for_copy) = (id.clone(), link.clone());
    let phone = window()
        .match_media(PHONE_WIDTH)
        .ok()
        .flatten()
        .is_some_and(|m| m.matches());
    view! {
        <details class="identity-card" open=!phone>
        <summary data-testid="identity-summary">"Your id, share link and devices"</summary>
        <section class="identity" aria-label="Your identity">
            <div class="identity-id">
                <span class="label">"Your id"</span>
                <code data-testid="my-id">{id}</code>
            </div>
            <div class="identity-actions">
                <button type="button" on:click=move |_| copy("id", id_for_copy.clone())>
                    "Copy id"
                </button>
                <button type="button" on:click=move |_| copy("link", link_for_copy.clone())>
                    "Copy share link"
                </button>
                <a data-testid="share-link" href=link.clone() title="Opens a conversation with you">
                    {link.clone()}
                </a>
                <span class="copied" role="status">
                    {move || copied.get().map(|what| format!("Copied the {what}"))}
                </span>
            </div>
            <label class="privacy-choice">
                <input type="checkbox" data-testid="read-receipts"
                    prop:checked=move || relay.privacy().get().read_receipts
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        unkept.set(!relay.set_read_receipts(on));
                    }/>
                "Send read receipts (others see when you have read their messages)"
            </label>
            <label class="privacy-choice">
                <input type="checkbox" data-testid="hide-presence"
                    prop:checked=move || relay.privacy().get().hide_presence
                    on:change=move |ev| {
                        let hidden = event_target_checked(&ev);
                        unkept.set(!relay.set_hide_presence(hidden));
                    }/>
                "Hide when I'm online (others do not see when you are online or were last \
                    seen, and you do not see theirs)"
            </label>
            <span class="privacy-warning" role="status">
                {move || unkept.get().then_some("This browser would not save that choice: it holds until you close this tab.")}
            </span>
            <LinkedDevices/>
        </section>
        </details>
    }
}
