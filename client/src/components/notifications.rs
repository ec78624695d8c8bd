//! Browser notifications for messages that arrive while the person is not looking at the
//! page. Permission is asked only when they click "Notify me" (never on load); clicking a
//! notification brings the page forward with that conversation open.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Notification, NotificationOptions, NotificationPermission};

use crate::{
    contacts::Contacts,
    relay::{Relay, attending},
    share_link::share_hash,
};

/// The longest body shown in a notification, in characters.
const MAX_SHOWN_CHARS: usize = 140;

/// The "Notify me" button while permission was neither given nor refused, and the
/// notifications themselves.
#[component]
pub fn Notifications() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let contacts = expect_context::<Contacts>();
    // No Notification API (some browsers, some contexts): nothing to offer.
    let supported = js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false);
    let permission = RwSignal::new(if supported {
        Notification::permission()
    } else {
        NotificationPermission::Denied
    });
    let ask = move |_| {
        if let Ok(asked) = Notification::request_permission() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(asked).await;
                permission.set(Notification::permission());
            });
        }
    };
    // Each message received, as it comes (not the one there was on load).
    Effect::watch(
        move || relay.announcement().get(),
        move |announcement, _, _| {
            if let Some((_, from, body)) = announcement
                && permission.get_untracked() == NotificationPermission::Granted
                && !attending()
            {
                notify(&untrack(|| contacts.label(*from)), body, &share_hash(*from));
            }
        },
        false,
    );
    view! {
        <Show when=move || permission.get() == NotificationPermission::Default>
            <button type="button" class="notify-me" data-testid="enable-notifications" on:click=ask
                title="Notify me of messages that arrive while I look elsewhere">
                "Notify me"
            </button>
        </Show>
    }
}

/// Shows a notification from `from` saying `body`; a click opens `hash`'s conversation.
fn notify(from: &str, body: &str, hash: &str) {
    let options = NotificationOptions::new();
    let shown: String = body.chars().take(MAX_SHOWN_CHARS).collect();
    options.set_body(&shown);
    // One notification per conversation: a newer message replaces the older.
    options.set_tag(hash);
    let Ok(notification) = Notification::new_with_options(from, &options) else {
        return;
    };
    let hash = hash.to_owned();
    let shown = notification.clone();
    let on_click = Closure::once_into_js(move || {
        let _ = window().focus();
        let location = window().location();
        // The same hash again would not fire `hashchange`: clear it first.
        if location.hash().ok().as_deref() == Some(hash.as_str()) {
            let _ = location.set_hash("");
        }
        let _ = location.set_hash(&hash);
        shown.close();
    });
    notification.set_onclick(Some(on_click.unchecked_ref()));
}
