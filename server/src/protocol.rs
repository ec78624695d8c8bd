//! [`Protocol`] and [`Registration`]: which protocol a socket speaks, for which peer, and
//! the Socket.IO rooms that address it.
//!
//! Each peer id has two rooms, one per protocol, because a broadcast sends one packet to
//! a whole room and the two protocols deliver in different shapes: seed sockets get
//! `message(text)`, typed sockets get `deliver(envelope)`. Rooms, not a map of socket
//! ids, so every tab of a peer receives, a reconnect needs no bookkeeping, and
//! socketioxide's Redis adapter carries the same broadcasts across nodes.

use relay_shared::{PeerId, device::DeviceId};

/// Which protocol an event arrived in: replies and deliveries take that protocol's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The 2017 seed protocol: `init(uuid)`, `message("uuid|text")` → `message(text)`.
    Seed,
    /// Relay's typed protocol: `register`, `send` (with ack) → `deliver(envelope)`.
    Typed,
}

/// Under which id, and in which protocol, a socket is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Registration {
    /// The peer id.
    pub id: PeerId,
    /// The protocol it registered in.
    pub protocol: Protocol,
    /// Typed protocol: which of the id's devices.
    pub device: Option<DeviceId>,
}

/// One device of a peer id: what a typed socket speaks as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Speaker {
    /// The peer id.
    pub id: PeerId,
    /// Which of its devices.
    pub device: DeviceId,
}

#[cfg(test)]
impl Speaker {
    /// The first device of `id`.
    pub fn first(id: PeerId) -> Self {
        Self {
            id,
            device: DeviceId::FIRST,
        }
    }
}

impl Registration {
    /// A socket registered through the seed protocol's `init`.
    pub fn seed(id: PeerId) -> Self {
        Self {
            id,
            protocol: Protocol::Seed,
            device: None,
        }
    }

    /// A socket registered as `speaker` in the typed protocol.
    pub fn typed(speaker: Speaker) -> Self {
        Self {
            id: speaker.id,
            protocol: Protocol::Typed,
            device: Some(speaker.device),
        }
    }

    /// The device it speaks as, if it registered in the typed protocol.
    pub fn speaker(&self) -> Option<Speaker> {
        match (self.protocol, self.device) {
            (Protocol::Typed, Some(device)) => Some(Speaker {
                id: self.id,
                device,
            }),
            _ => None,
        }
    }

    /// The room of the sockets registered like this one.
    pub fn room(&self) -> String {
        room(self.id, self.protocol)
    }
}

/// The id a socket speaks for in the typed protocol, if it registered in it.
pub fn typed_id(registration: Option<Registration>) -> Option<PeerId> {
    typed_speaker(registration).map(|s| s.id)
}

/// The device a socket speaks as in the typed protocol, if it registered in it.
pub fn typed_speaker(registration: Option<Registration>) -> Option<Speaker> {
    registration.and_then(|r| r.speaker())
}

/// A peer id as logs at info level and above show it: its first eight digits, enough to
/// follow one peer through the logs, not enough to write to it or register as it.
#[derive(Debug, Clone, Copy)]
pub struct Short(pub PeerId);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.0.to_string();
        write!(f, "{}…", &id[..8])
    }
}

/// The name of the room of `id`'s sockets registered in `protocol`.
pub fn room(id: PeerId, protocol: Protocol) -> String {
    // Built for every relayed message: one allocation of the exact size, no formatting.
    let prefix = match protocol {
        Protocol::Seed => "seed:",
        Protocol::Typed => "peer:",
    };
    let mut room = String::with_capacity(prefix.len() + uuid::fmt::Hyphenated::LENGTH);
    room.push_str(prefix);
    room.push_str(
        id.as_uuid()
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    room
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_show_a_peer_id_shortened() {
        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        assert_eq!(Short(id).to_string(), "3f2b8c1e…");
    }

    #[test]
    fn each_protocol_has_its_own_room() {
        let id: PeerId = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71".parse().unwrap();
        let typed = Registration::typed(Speaker {
            id,
            device: DeviceId::FIRST,
        });
        assert_eq!(typed.room(), "peer:3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71");
        assert_eq!(
            room(id, Protocol::Seed),
            "seed:3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71"
        );
    }
}
