//! The key directory in the SQLite store: each device's public keys for end-to-end
//! encryption, kept as published (JSON), its one-time keys handed out once each, oldest
//! first, and its fallback key.

use relay_shared::{
    PeerId,
    device::DeviceId,
    keys::{
        ClaimedKey, Curve25519Key, DeviceKeys, DeviceKeysEntry, MAX_ONE_TIME_KEYS, OneTimeKey,
        PublishKeysRequest,
    },
};
use rusqlite::{OptionalExtension, params};

use super::Batch;
use crate::encryption_check;
use crate::store::{
    Published,
    kept_keys::{self, from_json},
};

impl Batch<'_> {
    pub(super) fn publish_keys(
        &mut self,
        id: PeerId,
        device: DeviceId,
        keys: PublishKeysRequest,
    ) -> rusqlite::Result<Published> {
        if !self.devices_set(id).contains(device) {
            return Ok(Published::Unknown);
        }
        let peer = id.as_uuid().as_bytes();
        let device_keys = to_json(&keys.device_keys)?;
        let kept: Option<String> = self
            .tx
            .prepare_cached("SELECT keys FROM device_keys WHERE peer = ?1 AND device = ?2")?
            .query_row(params![peer, device.get()], |row| row.get(0))
            .optional()?;
        let replacing = kept.as_deref() != Some(device_keys.as_str());
        let kept_ids: Vec<String> = if replacing {
            Vec::new()
        } else {
            self.tx
                .prepare_cached("SELECT key_id FROM one_time_keys WHERE peer = ?1 AND device = ?2")?
                .query_map(params![peer, device.get()], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut fresh: Vec<&OneTimeKey> = Vec::new();
        for key in &keys.one_time_keys {
            let id = key.key_id.as_str();
            if !kept_ids.iter().any(|kept| kept == id)
                && !fresh.iter().any(|k| k.key_id.as_str() == id)
            {
                fresh.push(key);
            }
        }
        let stock = u32::try_from(kept_ids.len() + fresh.len()).unwrap_or(u32::MAX);
        if stock > MAX_ONE_TIME_KEYS {
            return Ok(Published::Full);
        }
        if replacing {
            self.tx
                .prepare_cached("DELETE FROM one_time_keys WHERE peer = ?1 AND device = ?2")?
                .execute(params![peer, device.get()])?;
            self.tx
                .prepare_cached(
                    "INSERT INTO device_keys (peer, device, keys, fallback) VALUES (?1, ?2, ?3, NULL)
                     ON CONFLICT (peer, device) DO UPDATE SET keys = excluded.keys, fallback = NULL",
                )?
                .execute(params![peer, device.get(), device_keys])?;
        }
        for key in fresh {
            self.tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO one_time_keys (peer, device, key_id, key)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    peer,
                    device.get(),
                    key.key_id.as_str(),
                    to_json(key)?
                ])?;
        }
        if let Some(fallback) = &keys.fallback_key {
            self.tx
                .prepare_cached(
                    "UPDATE device_keys SET fallback = ?3 WHERE peer = ?1 AND device = ?2",
                )?
                .execute(params![peer, device.get(), to_json(fallback)?])?;
        }
        Ok(Published::Kept(stock))
    }

    /// The long-term keys and the fallback key kept for `device` of `id`.
    fn kept_keys(
        &self,
        id: PeerId,
        device: DeviceId,
    ) -> rusqlite::Result<Option<(DeviceKeys, Option<OneTimeKey>)>> {
        let row: Option<(String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT keys, fallback FROM device_keys WHERE peer = ?1 AND device = ?2",
            )?
            .query_row(params![id.as_uuid().as_bytes(), device.get()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        Ok(row.and_then(|(keys, fallback)| {
            Some((from_json(&keys)?, fallback.as_deref().and_then(from_json)))
        }))
    }

    /// What the check of an encrypted message needs of `id`'s devices: each linked one
    /// that publishes keys, with its Curve25519 key, read without parsing the rest of
    /// the keys (one query for all the devices).
    pub(super) fn published_keys(
        &self,
        id: PeerId,
    ) -> rusqlite::Result<Vec<encryption_check::Published>> {
        let linked = self.devices_set(id);
        let mut statement = self.tx.prepare_cached(
            "SELECT device, json_extract(keys, '$.curve25519') FROM device_keys WHERE peer = ?1",
        )?;
        let rows = statement.query_map([id.as_uuid().as_bytes()], |row| {
            Ok((row.get::<_, u8>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        let mut published = Vec::new();
        for row in rows {
            let (device, key) = row?;
            // Keys that do not read are no keys, as in `keys_of`.
            let Some(device) = DeviceId::new(device).filter(|d| linked.contains(*d)) else {
                continue;
            };
            if let Some(key) = key.and_then(|key| Curve25519Key::try_from(key).ok()) {
                published.push(encryption_check::Published { device, key });
            }
        }
        Ok(published)
    }

    pub(super) fn keys_of(&self, id: PeerId) -> rusqlite::Result<Vec<DeviceKeysEntry>> {
        self.devices_set(id)
            .iter()
            .map(|device| {
                Ok(DeviceKeysEntry {
                    device,
                    keys: self.kept_keys(id, device)?.map(|(keys, _)| keys),
                })
            })
            .collect()
    }

    pub(super) fn claim_keys(
        &mut self,
        id: PeerId,
        devices: &[DeviceId],
    ) -> rusqlite::Result<Vec<ClaimedKey>> {
        let set = self.devices_set(id);
        let peer = id.as_uuid().as_bytes();
        let mut claimed = Vec::new();
        for &device in devices.iter().filter(|d| set.contains(**d)) {
            let Some((device_keys, fallback)) = self.kept_keys(id, device)? else {
                continue;
            };
            let oldest: Option<String> = self
                .tx
                .prepare_cached(
                    "DELETE FROM one_time_keys WHERE n = (SELECT n FROM one_time_keys
                         WHERE peer = ?1 AND device = ?2 ORDER BY n LIMIT 1)
                     RETURNING key",
                )?
                .query_row(params![peer, device.get()], |row| row.get(0))
                .optional()?;
            let one_time = oldest.and_then(|key| from_json::<OneTimeKey>(&key));
            claimed.push(kept_keys::claimed(device, device_keys, one_time, fallback));
        }
        Ok(claimed)
    }

    /// Drops every key of `device` of `id` (it was unlinked).
    pub(super) fn forget_keys(&mut self, id: PeerId, device: DeviceId) -> rusqlite::Result<()> {
        for statement in [
            "DELETE FROM device_keys WHERE peer = ?1 AND device = ?2",
            "DELETE FROM one_time_keys WHERE peer = ?1 AND device = ?2",
        ] {
            self.tx
                .prepare_cached(statement)?
                .execute(params![id.as_uuid().as_bytes(), device.get()])?;
        }
        Ok(())
    }
}

fn to_json(value: &impl serde::Serialize) -> rusqlite::Result<String> {
    kept_keys::to_json(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
