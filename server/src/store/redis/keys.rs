//! The key directory in the Redis store: each device's public keys for end-to-end
//! encryption, kept as published (JSON) in its peer's keys (`keys`, `fallback`, and
//! `otk:<device>` with its `otk:<device>:order`, see `relay.lua`), its one-time keys
//! handed out once each, oldest first, and its fallback key.

use redis::{RedisResult, Value};
use relay_shared::{
    PeerId,
    device::DeviceId,
    keys::{ClaimedKey, DeviceKeysEntry, MAX_ONE_TIME_KEYS, PublishKeysRequest},
};
use serde::de::DeserializeOwned;

use super::{fcall, parse, unreadable};
use crate::store::{
    Published, StoreError,
    kept_keys::{self, from_json},
};

/// The names of the keys of `device`'s one-time keys: the keys by id, and their ids,
/// oldest first.
pub(super) fn one_time_names(device: DeviceId) -> [String; 2] {
    let otk = format!("otk:{device}");
    let order = format!("{otk}:order");
    [otk, order]
}

/// `FCALL function` on the keys `names` of `peer`, then those of each of `devices`'
/// one-time keys.
fn fcall_with_devices(
    function: &str,
    peer: PeerId,
    names: &[&str],
    devices: &[DeviceId],
) -> redis::Cmd {
    let per_device: Vec<String> = devices.iter().copied().flat_map(one_time_names).collect();
    let all: Vec<&str> = names
        .iter()
        .copied()
        .chain(per_device.iter().map(String::as_str))
        .collect();
    fcall(function, peer, &all)
}

/// `relay_publish_keys` of `keys` for `device` of `id`.
pub(super) fn publish_command(
    id: PeerId,
    device: DeviceId,
    keys: &PublishKeysRequest,
    now: u64,
) -> redis::Cmd {
    let mut cmd = fcall_with_devices(
        "relay_publish_keys",
        id,
        &["devices", "owner", "keys", "fallback"],
        &[device],
    );
    cmd.arg(device.get())
        .arg(to_json(&keys.device_keys))
        .arg(keys.fallback_key.as_ref().map(to_json).unwrap_or_default())
        .arg(MAX_ONE_TIME_KEYS)
        .arg(now);
    for key in &keys.one_time_keys {
        cmd.arg(key.key_id.as_str()).arg(to_json(key));
    }
    cmd
}

/// `relay_keys` of `id`.
pub(super) fn keys_command(id: PeerId, now: u64) -> redis::Cmd {
    let mut cmd = fcall("relay_keys", id, &["devices", "owner", "keys"]);
    cmd.arg(now);
    cmd
}

/// `relay_claim_keys` of `devices` of `id`.
pub(super) fn claim_command(id: PeerId, devices: &[DeviceId], now: u64) -> redis::Cmd {
    let mut cmd = fcall_with_devices(
        "relay_claim_keys",
        id,
        &["devices", "owner", "keys", "fallback"],
        devices,
    );
    cmd.arg(now);
    for device in devices {
        cmd.arg(device.get());
    }
    cmd
}

/// What a publish found, from `relay_publish_keys`'s reply: `["kept", count]`,
/// `["full"]` or `["unknown"]`.
pub(super) fn published(result: RedisResult<Value>) -> Result<Published, StoreError> {
    let fields = parse::<Vec<String>>(result)?;
    match fields.as_slice() {
        [kept, count] if kept == "kept" => count.parse().ok().map(Published::Kept),
        [full] if full == "full" => Some(Published::Full),
        [unknown] if unknown == "unknown" => Some(Published::Unknown),
        _ => None,
    }
    .ok_or_else(|| unreadable("a publish's reply"))
}

/// Each device with its keys, from `relay_keys`'s reply: device, keys (or '' for none),
/// ... A device whose keys cannot be read is listed without them.
pub(super) fn entries(result: RedisResult<Value>) -> Result<Vec<DeviceKeysEntry>, StoreError> {
    let fields = parse::<Vec<String>>(result)?;
    fields
        .chunks(2)
        .map(|entry| {
            let [device, keys] = entry else {
                return Err(unreadable("a keys reply"));
            };
            Ok(DeviceKeysEntry {
                device: device_of(device)?,
                keys: from_kept(keys),
            })
        })
        .collect()
}

/// The keys claimed, from `relay_claim_keys`'s reply: device, long-term keys, one-time
/// key (or ''), fallback key (or ''), ... A device whose long-term keys cannot be read
/// is left out; a one-time key that cannot be read is passed over for the fallback key.
pub(super) fn claimed(result: RedisResult<Value>) -> Result<Vec<ClaimedKey>, StoreError> {
    let fields = parse::<Vec<String>>(result)?;
    let mut claimed = Vec::with_capacity(fields.len() / 4);
    for entry in fields.chunks(4) {
        let [device, device_keys, one_time, fallback] = entry else {
            return Err(unreadable("a claim of keys' reply"));
        };
        let device = device_of(device)?;
        let Some(device_keys) = from_json(device_keys) else {
            continue;
        };
        claimed.push(kept_keys::claimed(
            device,
            device_keys,
            from_kept(one_time),
            from_kept(fallback),
        ));
    }
    Ok(claimed)
}

fn device_of(field: &str) -> Result<DeviceId, StoreError> {
    field
        .parse()
        .ok()
        .and_then(DeviceId::new)
        .ok_or_else(|| unreadable("a device"))
}

/// The JSON a key is kept as (the wire types hold only checked strings: it cannot fail).
fn to_json(value: &impl serde::Serialize) -> String {
    kept_keys::to_json(value).unwrap_or_default()
}

/// A value that may be kept (`''`: none), as [`from_json`] reads it.
fn from_kept<T: DeserializeOwned>(text: &str) -> Option<T> {
    if text.is_empty() {
        None
    } else {
        from_json(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use relay_shared::keys::{DeviceKeys, OneTimeKey};
    use vodozemac::{Curve25519PublicKey, Curve25519SecretKey, Ed25519SecretKey};

    /// Long-term keys and a one-time key as kept (signed, but over nothing: the store
    /// does not check).
    fn kept() -> (String, String) {
        let signing = Ed25519SecretKey::new();
        let ed25519 = signing.public_key().to_base64().try_into().unwrap();
        let curve = || {
            Curve25519PublicKey::from(&Curve25519SecretKey::new())
                .to_base64()
                .try_into()
                .unwrap()
        };
        let signature = || signing.sign(b"-").to_base64().try_into().unwrap();
        let keys = DeviceKeys {
            curve25519: curve(),
            identity: Ed25519SecretKey::new()
                .public_key()
                .to_base64()
                .try_into()
                .unwrap(),
            ed25519,
            signature: signature(),
            identity_signature: signature(),
        };
        let key = OneTimeKey {
            key_id: "AAAAAAAAAAE".to_owned().try_into().unwrap(),
            key: curve(),
            signature: signature(),
        };
        (to_json(&keys), to_json(&key))
    }

    fn reply(fields: &[&str]) -> RedisResult<Value> {
        Ok(Value::Array(
            fields
                .iter()
                .map(|f| Value::BulkString(f.as_bytes().to_vec()))
                .collect(),
        ))
    }

    #[test]
    fn one_time_keys_of_a_device_share_its_peers_hash_tag() {
        let names = one_time_names(DeviceId::new(3).unwrap());
        assert_eq!(names, ["otk:3", "otk:3:order"]);
        let peer: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let cmd = claim_command(peer, &[DeviceId::FIRST, DeviceId::new(2).unwrap()], 5);
        let args: Vec<String> = cmd
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => String::new(),
            })
            .collect();
        let key = |name: &str| format!("relay:{{{peer}}}:{name}");
        assert_eq!(
            args,
            [
                "FCALL".to_owned(),
                "relay_claim_keys".to_owned(),
                "8".to_owned(),
                key("devices"),
                key("owner"),
                key("keys"),
                key("fallback"),
                key("otk:0"),
                key("otk:0:order"),
                key("otk:2"),
                key("otk:2:order"),
                "5".to_owned(),
                "0".to_owned(),
                "2".to_owned(),
            ]
        );
    }

    #[test]
    fn replies_read_back() {
        assert_eq!(
            published(reply(&["kept", "7"])).unwrap(),
            Published::Kept(7)
        );
        assert_eq!(published(reply(&["full"])).unwrap(), Published::Full);
        assert_eq!(published(reply(&["unknown"])).unwrap(), Published::Unknown);
        assert!(published(reply(&["kept"])).is_err());

        let (keys, _) = kept();
        let listed = entries(reply(&["0", &keys, "2", "", "3", "{not json"])).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|e| (e.device.get(), e.keys.is_some()))
                .collect::<Vec<_>>(),
            [(0, true), (2, false), (3, false)],
            "unreadable keys are listed as none"
        );
        assert!(entries(reply(&["9", ""])).is_err());
        assert!(entries(reply(&["0"])).is_err());
    }

    #[test]
    fn a_claim_falls_back_when_no_one_time_key_can_be_read() {
        let (keys, key) = kept();
        let (keys, key) = (keys.as_str(), key.as_str());
        let claimed_keys = claimed(reply(&[
            "0", keys, key, "", // a one-time key
            "1", keys, "", key, // the fallback key
            "2", keys, "{bad", key, // an unreadable one-time key: the fallback
            "3", "{bad", key, key, // unreadable long-term keys: left out
            "4", keys, "", "", // neither
        ]))
        .unwrap();
        assert_eq!(
            claimed_keys
                .iter()
                .map(|k| (k.device.get(), k.one_time_key.is_some(), k.fallback))
                .collect::<Vec<_>>(),
            [
                (0, true, false),
                (1, true, true),
                (2, true, true),
                (4, false, false)
            ]
        );
        assert!(claimed(reply(&["0", keys, ""])).is_err());
    }
}
