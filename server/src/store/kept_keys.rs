//! What both stores share of the key directory: keys are kept as the JSON of their wire
//! types, read back leniently (a value that cannot be read is logged and passed over,
//! never dropped), and a claim hands out the one-time key or else the fallback key.

use relay_shared::{
    device::DeviceId,
    keys::{ClaimedKey, DeviceKeys, OneTimeKey},
};
use serde::{Serialize, de::DeserializeOwned};

/// The JSON a key is kept as.
pub(super) fn to_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    serde_json::to_string(value)
}

/// A kept value, or none (logged, the value left as it is) if it cannot be read.
pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text)
        .inspect_err(|error| tracing::error!(%error, "a kept key cannot be read; skipped"))
        .ok()
}

/// What a claim hands out for `device`: the one-time key taken, or, if none was left
/// (or it cannot be read), the fallback key, marked as such.
pub(super) fn claimed(
    device: DeviceId,
    device_keys: DeviceKeys,
    one_time: Option<OneTimeKey>,
    fallback: Option<OneTimeKey>,
) -> ClaimedKey {
    match one_time {
        Some(key) => ClaimedKey {
            device,
            device_keys,
            one_time_key: Some(key),
            fallback: false,
        },
        None => ClaimedKey {
            device,
            device_keys,
            fallback: fallback.is_some(),
            one_time_key: fallback,
        },
    }
}
