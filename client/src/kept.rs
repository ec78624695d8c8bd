//! What the app keeps in `localStorage`, as JSON: read without ever losing what could not
//! be read (it is set aside under `<key>.unreadable` before anything overwrites it), and
//! written with the browser's refusal (quota, private mode) reported, not swallowed.

use serde::{Serialize, de::DeserializeOwned};

/// The browser would not keep something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The value kept under `key`: the default if there is none. Kept text that does not
/// parse (a newer version's, or damaged) is moved to `<key>.unreadable`, so that the
/// next write cannot destroy it, and the default is returned.
pub fn read<T: DeserializeOwned + Default>(key: &str) -> T {
    let Some(storage) = storage() else {
        return T::default();
    };
    let Some(json) = storage.get_item(key).ok().flatten() else {
        return T::default();
    };
    match serde_json::from_str(&json) {
        Ok(value) => value,
        Err(error) => {
            web_sys::console::warn_1(
                &format!("kept {key} is unreadable ({error}); set aside as {key}.unreadable")
                    .into(),
            );
            if storage
                .set_item(&format!("{key}.unreadable"), &json)
                .is_ok()
            {
                let _ = storage.remove_item(key);
            }
            T::default()
        }
    }
}

/// Keeps `value` under `key`; other tabs hear of it through their `storage` event.
pub fn write<T: Serialize>(key: &str, value: &T) -> Result<(), Refused> {
    let json = serde_json::to_string(value).map_err(|_| Refused)?;
    storage()
        .ok_or(Refused)?
        .set_item(key, &json)
        .map_err(|_| Refused)
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// Removes what is kept under `key`.
pub fn remove(key: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(key);
    }
}
