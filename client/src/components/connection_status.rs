//! The connection state, always visible: connecting, online, reconnecting in N s,
//! offline.

use std::time::Duration;

use leptos::prelude::*;

use crate::{
    relay::{Link, Relay},
    socket,
};

/// The connection badge.
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let relay = expect_context::<Relay>();
    // Ticks so the countdown counts down.
    let now = RwSignal::new(socket::now());
    if let Ok(handle) =
        set_interval_with_handle(move || now.set(socket::now()), Duration::from_millis(250))
    {
        on_cleanup(move || handle.clear());
    }
    let text = move || match relay.link().get() {
        Link::Connecting => "Connecting…".to_owned(),
        Link::Online => "Online".to_owned(),
        Link::Reconnecting { retry_at } => {
            let left = retry_at.saturating_sub(now.get()).as_secs_f64().ceil() as u64;
            if left == 0 {
                "Reconnecting…".to_owned()
            } else {
                format!("Reconnecting in {left} s")
            }
        }
        Link::NoNetwork => "Offline: no network".to_owned(),
        Link::Silent => "Offline: the server is not answering".to_owned(),
        Link::Offline => "Offline".to_owned(),
        Link::Unlinked => "Offline: this browser was unlinked".to_owned(),
    };
    view! {
        <p class="connection" data-testid="connection" data-state=move || relay.link().get().name()
            role="status" aria-live="polite">
            <span class="dot" aria-hidden="true"></span>
            {text}
        </p>
    }
}
