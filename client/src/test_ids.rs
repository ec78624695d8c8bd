//! Ids for the unit tests: the same small numbers give the same ids in every module.

use relay_shared::{MessageId, PeerId};

/// Peer number `n`.
pub fn peer(n: u8) -> PeerId {
    format!("00000000-0000-4000-8000-0000000000{n:02x}")
        .parse()
        .expect("a valid peer id")
}

/// Message number `n`.
pub fn id(n: u8) -> MessageId {
    format!("00000000-0000-4000-9000-0000000000{n:02x}")
        .parse()
        .expect("a valid message id")
}
