//! [`Sessions`]: the Olm sessions with each peer device, the one in use first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vodozemac::olm::{OlmMessage, Session, SessionKeys, SessionPickle};

use crate::{device::DeviceId, peer_id::PeerId};

/// The most sessions kept with one device: a new one (both sides starting one at once,
/// or a device that lost its own) pushes the oldest out.
pub const MAX_SESSIONS_PER_DEVICE: usize = 3;

/// The sessions with each peer device, newest first: the one created or that decrypted
/// a message last comes first, and encrypts.
#[derive(Default)]
pub(super) struct Sessions(BTreeMap<(PeerId, DeviceId), Vec<Session>>);

/// A device's sessions, as pickled.
#[derive(Serialize, Deserialize)]
pub(super) struct DeviceSessions {
    peer: PeerId,
    device: DeviceId,
    sessions: Vec<SessionPickle>,
}

impl Sessions {
    /// Whether there is a session with `device` of `id`.
    pub(super) fn has(&self, id: PeerId, device: DeviceId) -> bool {
        self.0.get(&(id, device)).is_some_and(|s| !s.is_empty())
    }

    /// The session to encrypt with for `device` of `id`.
    pub(super) fn newest(&mut self, id: PeerId, device: DeviceId) -> Option<&mut Session> {
        self.0.get_mut(&(id, device))?.first_mut()
    }

    /// Adds a session as the newest, dropping the oldest past the bound.
    pub(super) fn add(&mut self, id: PeerId, device: DeviceId, session: Session) {
        let sessions = self.0.entry((id, device)).or_default();
        sessions.insert(0, session);
        sessions.truncate(MAX_SESSIONS_PER_DEVICE);
    }

    /// Forgets every session with `device` of `id`.
    pub(super) fn forget(&mut self, id: PeerId, device: DeviceId) {
        self.0.remove(&(id, device));
    }

    /// Decrypts a pre-key message with the session it started, if there is one.
    pub(super) fn decrypt_in(
        &mut self,
        id: PeerId,
        device: DeviceId,
        keys: SessionKeys,
        message: &OlmMessage,
    ) -> Option<Result<Vec<u8>, String>> {
        let sessions = self.0.get_mut(&(id, device))?;
        let index = sessions.iter().position(|s| s.session_keys() == keys)?;
        let plaintext = sessions[index].decrypt(message).map_err(|e| e.to_string());
        if plaintext.is_ok() {
            sessions[..=index].rotate_right(1);
        }
        Some(plaintext)
    }

    /// Decrypts a normal message with the first of the device's sessions that can,
    /// newest first; that one becomes the newest.
    pub(super) fn decrypt(
        &mut self,
        id: PeerId,
        device: DeviceId,
        message: &OlmMessage,
    ) -> Result<Vec<u8>, String> {
        let Some(sessions) = self.0.get_mut(&(id, device)) else {
            return Err("no session with this device".into());
        };
        let mut failure = String::from("no session with this device");
        for index in 0..sessions.len() {
            // A failed attempt leaves the session as it was (vodozemac commits a
            // ratchet step only once the message authenticated).
            match sessions[index].decrypt(message) {
                Ok(plaintext) => {
                    sessions[..=index].rotate_right(1);
                    return Ok(plaintext);
                }
                Err(error) => failure = error.to_string(),
            }
        }
        Err(failure)
    }

    /// The sessions with `device` of `id` as they are, to [`Sessions::restore`].
    pub(super) fn snapshot(&self, id: PeerId, device: DeviceId) -> Vec<SessionPickle> {
        self.0
            .get(&(id, device))
            .map(|sessions| sessions.iter().map(Session::pickle).collect())
            .unwrap_or_default()
    }

    /// Puts the sessions with `device` of `id` back as they were at a snapshot.
    pub(super) fn restore(&mut self, id: PeerId, device: DeviceId, snapshot: Vec<SessionPickle>) {
        if snapshot.is_empty() {
            self.0.remove(&(id, device));
        } else {
            let sessions = snapshot.into_iter().map(Session::from_pickle).collect();
            self.0.insert((id, device), sessions);
        }
    }

    /// Every session, as pickles.
    pub(super) fn pickle(&self) -> Vec<DeviceSessions> {
        self.0
            .iter()
            .map(|((peer, device), sessions)| DeviceSessions {
                peer: *peer,
                device: *device,
                sessions: sessions.iter().map(Session::pickle).collect(),
            })
            .collect()
    }

    /// The sessions of a pickle, at most [`MAX_SESSIONS_PER_DEVICE`] per device.
    pub(super) fn from_pickle(pickled: Vec<DeviceSessions>) -> Self {
        let mut sessions = Self::default();
        for DeviceSessions {
            peer,
            device,
            sessions: pickles,
        } in pickled
        {
            let kept: Vec<Session> = pickles
                .into_iter()
                .take(MAX_SESSIONS_PER_DEVICE)
                .map(Session::from_pickle)
                .collect();
            if !kept.is_empty() {
                sessions.0.insert((peer, device), kept);
            }
        }
        sessions
    }
}

#[cfg(test)]
mod tests {
    use vodozemac::olm::{Account, SessionConfig};

    use super::*;

    /// `count` outbound sessions with a fresh account's one-time keys.
    fn outbound(count: usize) -> (Account, Account, Vec<Session>) {
        let mine = Account::new();
        let mut theirs = Account::new();
        theirs.generate_one_time_keys(count);
        let sessions = theirs
            .one_time_keys()
            .values()
            .map(|key| {
                mine.create_outbound_session(
                    SessionConfig::version_1(),
                    theirs.curve25519_key(),
                    *key,
                )
                .unwrap()
            })
            .collect();
        (mine, theirs, sessions)
    }

    #[test]
    fn the_newest_sessions_are_kept_and_the_newest_encrypts() {
        let bob: PeerId = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".parse().unwrap();
        let device = DeviceId::new(2).unwrap();
        let (_, _, made) = outbound(4);
        let ids: Vec<String> = made.iter().map(Session::session_id).collect();
        let mut sessions = Sessions::default();
        assert!(!sessions.has(bob, device));
        for session in made {
            sessions.add(bob, device, session);
        }
        assert!(sessions.has(bob, device));
        assert!(!sessions.has(bob, DeviceId::FIRST));
        assert_eq!(sessions.newest(bob, device).unwrap().session_id(), ids[3]);
        let kept: Vec<String> = sessions.0[&(bob, device)]
            .iter()
            .map(Session::session_id)
            .collect();
        assert_eq!(kept, [ids[3].clone(), ids[2].clone(), ids[1].clone()]);

        let restored = Sessions::from_pickle(
            serde_json::from_str(&serde_json::to_string(&sessions.pickle()).unwrap()).unwrap(),
        );
        let kept_after: Vec<String> = restored.0[&(bob, device)]
            .iter()
            .map(Session::session_id)
            .collect();
        assert_eq!(kept_after, kept);

        sessions.forget(bob, device);
        assert!(!sessions.has(bob, device));
    }

    #[test]
    fn a_session_that_decrypts_becomes_the_newest() {
        let alice: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let device = DeviceId::FIRST;
        let (mine, mut theirs, mut made) = outbound(2);
        // They start from the first session's pre-key message, then answer in it.
        let first = made.remove(0);
        let second = made.remove(0);
        let (first_id, second_id) = (first.session_id(), second.session_id());
        let mut first = first;
        let OlmMessage::PreKey(pre_key) = first.encrypt("hello").unwrap() else {
            panic!("a new session sends pre-key messages");
        };
        let mut inbound = theirs
            .create_inbound_session(SessionConfig::version_1(), mine.curve25519_key(), &pre_key)
            .unwrap();
        let reply = inbound.session.encrypt("hi").unwrap();

        let mut sessions = Sessions::default();
        sessions.add(alice, device, first);
        sessions.add(alice, device, second);
        assert_eq!(
            sessions.newest(alice, device).unwrap().session_id(),
            second_id
        );
        assert_eq!(sessions.decrypt(alice, device, &reply).unwrap(), b"hi");
        assert_eq!(
            sessions.newest(alice, device).unwrap().session_id(),
            first_id
        );
        // Decrypted once only.
        assert!(sessions.decrypt(alice, device, &reply).is_err());
        assert_eq!(
            sessions.decrypt(alice, DeviceId::new(1).unwrap(), &reply),
            Err("no session with this device".into())
        );
    }
}
