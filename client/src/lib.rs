//! Relay's web app.

use leptos::prelude::*;
use relay_shared::PeerId;

/// The key under which the own peer id is kept in `localStorage`.
const ID_KEY: &str = "relay.id";

/// This browser's peer id: the one kept in `localStorage`, or a new one, kept there.
pub fn own_id() -> PeerId {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(id) = storage
        .as_ref()
        .and_then(|s| s.get_item(ID_KEY).ok().flatten())
        .and_then(|s| s.parse().ok())
    {
        return id;
    }
    let id = PeerId::from_uuid(uuid::Uuid::new_v4()).expect("a v4 uuid is never nil");
    if let Some(storage) = storage {
        let _ = storage.set_item(ID_KEY, &id.to_string());
    }
    id
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let id = own_id();
    view! {
        <main>
            <h1>"Relay"</h1>
            <p>"Your id: " <code data-testid="my-id">{id.to_string()}</code></p>
        </main>
    }
}
