//! This browser's identity: its peer id, the secret that proves it (this device's own:
//! each of a person's devices has one), which of the id's devices it is, and the
//! IndexedDB database its conversations are kept in; all in `localStorage`. The first
//! registration claims the id for the secret; a linked browser becomes one more device
//! of an id with a secret of its own.
//!
//! An identity replaced (the browser linked to another id, or started over) is set
//! aside, never dropped: its secret and its database stay, so what it kept is not lost.

use relay_shared::{PeerId, Secret, device::DeviceId};

/// The `localStorage` key of the own peer id.
pub const ID_KEY: &str = "relay.id";
/// The `localStorage` key of the own id's secret.
pub const SECRET_KEY: &str = "relay.secret";
/// The `localStorage` key of which of the id's devices this browser is:
/// `<id>:<device>` (the number belongs to the id it was given for: an id kept by an
/// older version, or changed by hand, has none).
pub const DEVICE_KEY: &str = "relay.device";
/// The `localStorage` key of the name of the IndexedDB database of the conversations;
/// absent: [`LEGACY_DATABASE`].
pub const DATABASE_KEY: &str = "relay.database";
/// The prefix of the `localStorage` keys of the identities this browser used before,
/// set aside: `relay.set_aside.<database>` holds `<id> <secret>` (plain text, as the id
/// and the secret are: reading JSON costs the app a decoder per type).
pub const SET_ASIDE_PREFIX: &str = "relay.set_aside.";

/// The database of an identity kept without a database name: the one every version
/// before devices used.
pub const LEGACY_DATABASE: &str = "relay";

/// A peer id, this device's secret for it, and where its conversations are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The peer id, shown and shared.
    pub id: PeerId,
    /// This device's secret, never shown.
    pub secret: Secret,
    /// Which of the id's devices this is, once the server said.
    pub device: Option<DeviceId>,
    /// The IndexedDB database of its conversations.
    pub database: String,
}

impl Identity {
    /// A new device of `id` (being linked to it), with a new secret of its own and a
    /// database of its own.
    pub fn linking(id: PeerId) -> Self {
        Self {
            id,
            secret: new_secret(),
            device: None,
            database: database_of(id),
        }
    }
}

/// The identity kept in `localStorage`, if there is one. An id kept without a secret
/// (from an older version) gets one.
pub fn kept() -> Option<Identity> {
    let storage = storage()?;
    let id: PeerId = storage.get_item(ID_KEY).ok().flatten()?.parse().ok()?;
    let secret = match storage
        .get_item(SECRET_KEY)
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
    {
        Some(secret) => secret,
        None => {
            let secret = new_secret();
            let _ = storage.set_item(SECRET_KEY, secret.as_str());
            secret
        }
    };
    let device = storage
        .get_item(DEVICE_KEY)
        .ok()
        .flatten()
        .and_then(|kept| {
            let (of, device) = kept.split_once(':')?;
            (of.parse::<PeerId>().ok()? == id).then_some(())?;
            DeviceId::new(device.parse().ok()?)
        });
    let database = storage
        .get_item(DATABASE_KEY)
        .ok()
        .flatten()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| LEGACY_DATABASE.to_owned());
    Some(Identity {
        id,
        secret,
        device,
        database,
    })
}

/// This browser's identity: the one kept in `localStorage`, or a new one, kept there.
pub fn own() -> Identity {
    kept().unwrap_or_else(|| {
        let identity = Identity {
            id: new_id(),
            secret: new_secret(),
            device: None,
            database: LEGACY_DATABASE.to_owned(),
        };
        write(&identity);
        identity
    })
}

/// This browser's peer id.
pub fn own_id() -> PeerId {
    own().id
}

/// Keeps that this browser is `device` of `id`.
pub fn keep_device(id: PeerId, device: DeviceId) {
    // Private browsing may refuse: then it is learned again on the next registration.
    if let Some(storage) = storage() {
        let _ = storage.set_item(DEVICE_KEY, &format!("{id}:{device}"));
    }
}

/// Makes `identity` this browser's (once linked): the one kept before, if another, is
/// set aside with its database.
pub fn adopt(identity: &Identity) {
    if let Some(before) = kept()
        && before.id != identity.id
    {
        set_aside(before);
    }
    write(identity);
}

/// Sets the identity aside (its secret and its conversations stay in this browser) and
/// makes a new one, with a database of its own, for the next start.
pub fn start_over() {
    if let Some(before) = kept() {
        set_aside(before);
    }
    let id = new_id();
    write(&Identity {
        id,
        secret: new_secret(),
        device: None,
        database: database_of(id),
    });
}

/// Keeps `identity` aside: its id and secret under its database's name.
fn set_aside(identity: Identity) {
    let kept = storage().is_some_and(|storage| {
        storage
            .set_item(
                &format!("{SET_ASIDE_PREFIX}{}", identity.database),
                &format!("{} {}", identity.id, identity.secret.as_str()),
            )
            .is_ok()
    });
    if !kept {
        web_sys::console::warn_1(&"the identity set aside could not be kept".into());
    }
}

/// Keeps `identity` as this browser's.
fn write(identity: &Identity) {
    let Some(storage) = storage() else {
        return;
    };
    // Private browsing may refuse: the identity then lasts as long as the page.
    let _ = storage.set_item(SECRET_KEY, identity.secret.as_str());
    match identity.device {
        Some(device) => keep_device(identity.id, device),
        None => {
            let _ = storage.remove_item(DEVICE_KEY);
        }
    }
    if identity.database == LEGACY_DATABASE {
        let _ = storage.remove_item(DATABASE_KEY);
    } else {
        let _ = storage.set_item(DATABASE_KEY, &identity.database);
    }
    // Last: other tabs follow a change of id (their `storage` event), by then complete.
    let _ = storage.set_item(ID_KEY, &identity.id.to_string());
}

/// The database of an identity made after the first: its own, named after its id.
fn database_of(id: PeerId) -> String {
    format!("{LEGACY_DATABASE}-{id}")
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
