//! An id's devices in the SQLite store: claiming, linking with a one-time code, listing
//! and unlinking; the writer keeps every id's set of devices in memory.

use relay_shared::{
    PeerId,
    device::{DeviceId, DeviceInfo, DeviceSet},
};
use rusqlite::{OptionalExtension, params};

use super::{Batch, Claim, Devices, Linked, Notice, Unlinked, Writer};
use crate::identity::SecretHash;

impl Writer {
    pub(super) fn load_devices(&mut self) -> rusqlite::Result<()> {
        let mut devices = Devices::default();
        let mut statement = self.conn.prepare("SELECT peer, device FROM devices")?;
        for row in statement.query_map([], |row| {
            Ok((super::peer(row.get(0)?)?, row.get::<_, u8>(1)?))
        })? {
            let (peer, device) = row?;
            if let Some(device) = DeviceId::new(device) {
                let set = devices.sets.entry(peer).or_default();
                *set = set.with(device);
            }
        }
        devices.several.extend(
            devices
                .sets
                .iter()
                .filter(|(_, s)| s.len() > 1)
                .map(|(p, _)| *p),
        );
        // Rows left waiting for some devices by ones since unlinked.
        let mut statement = self.conn.prepare(
            "SELECT sender FROM messages WHERE copies != 0
             UNION SELECT recipient FROM messages WHERE waits != 0 AND delivered_at IS NOT NULL
             UNION SELECT sender FROM messages
                 WHERE delivered_at IS NOT NULL AND receipt_waits & (receipt_waits - 1) != 0",
        )?;
        for peer in statement.query_map([], |row| super::peer(row.get(0)?))? {
            devices.several.insert(peer?);
        }
        self.devices = devices;
        Ok(())
    }
}

impl Batch<'_> {
    /// `id`'s devices (none if unclaimed).
    pub(super) fn devices_set(&self, id: PeerId) -> DeviceSet {
        self.devices.sets.get(&id).copied().unwrap_or_default()
    }

    /// Whether `id` may have rows waiting for some of its devices and not others.
    pub(super) fn has_several(&self, id: PeerId) -> bool {
        self.devices.several.contains(&id)
    }

    /// Who a message for `id` waits for: its devices, or, unclaimed, the first device to
    /// come (whoever claims it).
    pub(super) fn recipients(&self, id: PeerId) -> DeviceSet {
        match self.devices.sets.get(&id) {
            Some(set) if !set.is_empty() => *set,
            _ => DeviceSet::EMPTY.with(DeviceId::FIRST),
        }
    }

    /// Each device of `id` with the hash of its secret.
    fn hashes(&self, id: PeerId) -> rusqlite::Result<Vec<(DeviceId, SecretHash)>> {
        self.tx
            .prepare_cached("SELECT device, secret_hash FROM devices WHERE peer = ?1")?
            .query_map([id.as_uuid().as_bytes()], |row| {
                Ok((row.get::<_, u8>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .filter_map(|row| match row {
                Ok((device, hash)) => Some(Ok((DeviceId::new(device)?, hash_from(&hash)?))),
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    pub(super) fn claim(&mut self, id: PeerId, hash: SecretHash) -> rusqlite::Result<Claim> {
        let hashes = self.hashes(id)?;
        if hashes.is_empty() {
            self.insert_device(id, DeviceId::FIRST, hash, None)?;
            return Ok(Claim::Claimed(DeviceId::FIRST));
        }
        Ok(device_of(&hashes, &hash).map_or(Claim::Refused, Claim::Verified))
    }

    fn insert_device(
        &mut self,
        id: PeerId,
        device: DeviceId,
        hash: SecretHash,
        name: Option<String>,
    ) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO devices (peer, device, secret_hash, name, linked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id.as_uuid().as_bytes(),
                device.get(),
                hash.as_bytes(),
                name,
                self.now
            ])?;
        let set = self.devices.sets.entry(id).or_default();
        *set = set.with(device);
        if set.len() > 1 {
            self.devices.several.insert(id);
        }
        Ok(())
    }

    pub(super) fn link_code(
        &mut self,
        id: PeerId,
        code: SecretHash,
        expires_at: u64,
    ) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO link_codes (peer, code_hash, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer) DO UPDATE SET code_hash = excluded.code_hash,
                     expires_at = excluded.expires_at",
            )?
            .execute(params![
                id.as_uuid().as_bytes(),
                code.as_bytes(),
                expires_at
            ])?;
        Ok(())
    }

    pub(super) fn link(
        &mut self,
        id: PeerId,
        code: SecretHash,
        secret: SecretHash,
        name: Option<String>,
    ) -> rusqlite::Result<Linked> {
        let hashes = self.hashes(id)?;
        if let Some(device) = device_of(&hashes, &secret) {
            // The same device again (its first answer was lost): nothing new.
            return Ok(Linked::Linked(device));
        }
        let key = id.as_uuid().as_bytes();
        let current: Option<(Vec<u8>, u64)> = self
            .tx
            .prepare_cached("SELECT code_hash, expires_at FROM link_codes WHERE peer = ?1")?
            .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let valid = current.is_some_and(|(stored, expires_at)| {
            expires_at > self.now && hash_from(&stored).is_some_and(|h| h.matches(&code))
        });
        if !valid {
            return Ok(Linked::Refused);
        }
        let Some(device) = self.devices_set(id).first_free() else {
            return Ok(Linked::Full);
        };
        self.insert_device(id, device, secret, name)?;
        self.tx
            .prepare_cached("DELETE FROM link_codes WHERE peer = ?1")?
            .execute([key])?;
        self.notice_devices(id, None)?;
        Ok(Linked::Linked(device))
    }

    pub(super) fn devices_of(&self, id: PeerId) -> rusqlite::Result<Vec<DeviceInfo>> {
        self.tx
            .prepare_cached(
                "SELECT device, name, linked_at FROM devices WHERE peer = ?1 ORDER BY device",
            )?
            .query_map([id.as_uuid().as_bytes()], |row| {
                Ok((
                    row.get::<_, u8>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get(2)?,
                ))
            })?
            .filter_map(|row| match row {
                Ok((device, name, linked_at)) => Some(Ok(DeviceInfo {
                    device: DeviceId::new(device)?,
                    name,
                    linked_at,
                })),
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    fn notice_devices(&mut self, id: PeerId, unlinked: Option<DeviceId>) -> rusqlite::Result<()> {
        let devices = self.devices_of(id)?;
        self.noticed.push(Notice::Devices {
            id,
            devices,
            unlinked,
        });
        Ok(())
    }

    /// Removes `device` of `id` and its share of what waits: messages for it, copies of
    /// the id's own messages, receipts. What then waits for no device is let go.
    pub(super) fn unlink(&mut self, id: PeerId, device: DeviceId) -> rusqlite::Result<Unlinked> {
        let set = self.devices_set(id);
        if !set.contains(device) {
            return Ok(Unlinked::Unknown);
        }
        if set.len() == 1 {
            return Ok(Unlinked::Last);
        }
        let key = id.as_uuid().as_bytes();
        self.tx
            .prepare_cached("DELETE FROM devices WHERE peer = ?1 AND device = ?2")?
            .execute(params![key, device.get()])?;
        self.devices.sets.insert(id, set.without(device));
        self.forget_keys(id, device)?;
        let bit = device.bit();
        // Messages for it: those it was the last to wait for wait no more.
        let emptied: Vec<Vec<u8>> = self
            .tx
            .prepare_cached(
                "UPDATE messages SET waits = waits & ~?2
                 WHERE recipient = ?1 AND waits != 0 AND waits & ?2 != 0
                 RETURNING sender, waits",
            )?
            .query_map(params![key, bit], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, u8>(1)?))
            })?
            .filter_map(|row| match row {
                Ok((sender, 0)) => Some(Ok(sender)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<_>>()?;
        for sender in emptied {
            self.queues.remove(id, super::peer(sender)?);
        }
        for statement in [
            "UPDATE messages SET copies = copies & ~?2
             WHERE sender = ?1 AND copies != 0 AND copies & ?2 != 0",
            "UPDATE messages SET receipt_waits = receipt_waits & ~?2
             WHERE sender = ?1 AND delivered_at IS NOT NULL AND receipt_waits & ?2 != 0",
        ] {
            self.tx
                .prepare_cached(statement)?
                .execute(params![key, bit])?;
        }
        for statement in [
            "UPDATE messages SET body = NULL
             WHERE recipient = ?1 AND waits = 0 AND copies = 0 AND body IS NOT NULL",
            "UPDATE messages SET body = NULL
             WHERE sender = ?1 AND waits = 0 AND copies = 0 AND body IS NOT NULL",
            "DELETE FROM messages WHERE recipient = ?1 AND waits = 0 AND copies = 0
                 AND (delivered_at IS NULL OR receipt_waits = 0)",
            "DELETE FROM messages WHERE sender = ?1 AND waits = 0 AND copies = 0
                 AND (delivered_at IS NULL OR receipt_waits = 0)",
        ] {
            self.tx.prepare_cached(statement)?.execute([key])?;
        }
        self.notice_devices(id, Some(device))?;
        Ok(Unlinked::Unlinked)
    }
}

/// Which of `hashes` is `secret`'s, comparing each in constant time.
fn device_of(hashes: &[(DeviceId, SecretHash)], secret: &SecretHash) -> Option<DeviceId> {
    hashes
        .iter()
        .find(|(_, hash)| hash.matches(secret))
        .map(|(device, _)| *device)
}

fn hash_from(bytes: &[u8]) -> Option<SecretHash> {
    <[u8; 32]>::try_from(bytes).ok().map(SecretHash::from_bytes)
}
