//! This browser's identity: its peer id and the secret that proves it, made once and
//! kept in `localStorage`. The first registration claims the id for the secret.

use relay_shared::{PeerId, Secret};

/// The `localStorage` key of the own peer id.
pub const ID_KEY: &str = "relay.id";
/// The `localStorage` key of the own id's secret.
pub const SECRET_KEY: &str = "relay.secret";

/// A peer id and its secret.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The peer id, shown and shared.
    pub id: PeerId,
    /// The secret, never shown.
    pub secret: Secret,
}

/// This browser's identity: the one kept in `localStorage`, or a new one, kept there.
/// An id kept without a secret (from an older version) gets one.
pub fn own() -> Identity {
    let storage = storage();
    let id = storage
        .as_ref()
        .and_then(|s| s.get_item(ID_KEY).ok().flatten())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(new_id);
    let secret = storage
        .as_ref()
        .and_then(|s| s.get_item(SECRET_KEY).ok().flatten())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(new_secret);
    if let Some(storage) = storage {
        // Private browsing may refuse: the identity then lasts as long as the page.
        let _ = storage.set_item(ID_KEY, &id.to_string());
        let _ = storage.set_item(SECRET_KEY, secret.as_str());
    }
    Identity { id, secret }
}

/// This browser's peer id.
pub fn own_id() -> PeerId {
    own().id
}

/// Forgets the identity (and everything kept with it): the next [`own`] makes a new one.
pub fn forget() {
    if let Some(storage) = storage() {
        let _ = storage.clear();
    }
}

fn new_id() -> PeerId {
    PeerId::from_uuid(uuid::Uuid::new_v4()).expect("a v4 uuid is never nil")
}

/// 244 random bits, as 64 hex digits (two v4 uuids, from the browser's crypto).
fn new_secret() -> Secret {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .parse()
    .expect("64 hex digits are a valid secret")
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}
