//! This browser's identity: its peer id, made once and kept in `localStorage`.

use relay_shared::PeerId;

/// The `localStorage` key of the own peer id.
pub const ID_KEY: &str = "relay.id";

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
        // Private browsing may refuse: the id then lasts as long as the page.
        let _ = storage.set_item(ID_KEY, &id.to_string());
    }
    id
}
