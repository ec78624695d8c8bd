//! What a screen reader hears: each message received, once, from a live region of its
//! own. The message list itself is not live, so that nothing is announced again when it
//! re-renders or another conversation opens.

use leptos::prelude::*;

use crate::{contacts::Contacts, relay::Relay};

/// The visually hidden live region.
#[component]
pub fn Announcer() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let contacts = expect_context::<Contacts>();
    view! {
        <div class="visually-hidden" aria-live="polite" data-testid="announcer">
            {move || relay.announcement().get().map(|(_, from, body)| view! {
                <p>{format!("Message from {}: {body}", contacts.label(from))}</p>
            })}
        </div>
    }
}
