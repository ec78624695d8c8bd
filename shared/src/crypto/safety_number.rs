//! Safety numbers: what two people compare (read aloud, or one scanning the other's QR
//! code) to know that the identity keys their apps use are each other's, so that no one
//! in between (the server included) can read or write their messages.
//!
//! Each person's half is derived from their identity key and id by iterated SHA-512, as
//! Signal's numeric fingerprints are: slow enough that finding another key with the same
//! half is out of reach. Both people see the same number: the halves are ordered by id.

use sha2::{Digest, Sha512};

use crate::{keys::Ed25519Key, peer_id::PeerId};

/// The version of the derivation, hashed in and written in the QR payload.
pub const SAFETY_NUMBER_VERSION: u16 = 1;

/// How many times each half is hashed.
pub const SAFETY_NUMBER_ITERATIONS: u32 = 5200;

/// The safety number of two people: 60 digits in 12 groups of 5, separated by spaces,
/// the same whichever of the two computes it.
pub fn safety_number(
    my_id: PeerId,
    my_identity: &Ed25519Key,
    their_id: PeerId,
    their_identity: &Ed25519Key,
) -> String {
    let mine = half(my_id, my_identity);
    let theirs = half(their_id, their_identity);
    let halves = if mine_first(my_id, my_identity, their_id, their_identity) {
        [mine, theirs]
    } else {
        [theirs, mine]
    };
    halves
        .iter()
        .flat_map(|half| half.chunks(5))
        .map(|chunk| {
            let value = chunk
                .iter()
                .fold(0u64, |value, byte| value << 8 | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one person's QR code carries for the other to scan: the version and both ids
/// and identity keys, ordered by id, so it equals the payload the scanner computes
/// itself exactly when both sides use the same keys.
pub fn safety_qr_payload(
    my_id: PeerId,
    my_identity: &Ed25519Key,
    their_id: PeerId,
    their_identity: &Ed25519Key,
) -> String {
    let (first, second) = if mine_first(my_id, my_identity, their_id, their_identity) {
        ((my_id, my_identity), (their_id, their_identity))
    } else {
        ((their_id, their_identity), (my_id, my_identity))
    };
    format!(
        "relay-safety:{SAFETY_NUMBER_VERSION}:{}:{}:{}:{}",
        first.0, first.1, second.0, second.1
    )
}

/// Whether my part comes first: the lower id's does (for a note to oneself, the lower
/// key's).
fn mine_first(
    my_id: PeerId,
    my_key: &Ed25519Key,
    their_id: PeerId,
    their_key: &Ed25519Key,
) -> bool {
    (my_id, my_key.as_str()) <= (their_id, their_key.as_str())
}

/// One person's 30 bytes: SHA-512 of (version, key, id), then again of (hash, key),
/// [`SAFETY_NUMBER_ITERATIONS`] times in all.
fn half(id: PeerId, identity: &Ed25519Key) -> [u8; 30] {
    // The key was checked when made; its bytes are its base64 decoded.
    let key = vodozemac::base64_decode(identity.as_str()).unwrap_or_default();
    let mut hash = Sha512::new()
        .chain_update(SAFETY_NUMBER_VERSION.to_be_bytes())
        .chain_update(&key)
        .chain_update(id.as_uuid().as_bytes())
        .finalize();
    for _ in 1..SAFETY_NUMBER_ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(&key)
            .finalize();
    }
    let mut half = [0; 30];
    half.copy_from_slice(&hash[..30]);
    half
}

#[cfg(test)]
mod tests {
    use vodozemac::Ed25519SecretKey;

    use super::*;

    use crate::crypto::fresh_ed25519_key as key;

    fn fixed_key(seed: u8) -> Ed25519Key {
        Ed25519SecretKey::from_slice(&[seed; 32])
            .public_key()
            .to_base64()
            .try_into()
            .unwrap()
    }

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
    const BOB: &str = "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";

    #[test]
    fn both_see_the_same_sixty_digits() {
        let (alice, bob): (PeerId, PeerId) = (ALICE.parse().unwrap(), BOB.parse().unwrap());
        let (a, b) = (key(), key());
        let number = safety_number(alice, &a, bob, &b);
        assert_eq!(number, safety_number(bob, &b, alice, &a));
        let groups: Vec<&str> = number.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        // Alice's id is the lower: her half comes first, whoever computes it.
        let alone = safety_number(alice, &a, alice, &a);
        assert_eq!(number[..35], alone[..35]);
        assert_ne!(number[36..], alone[36..]);
    }

    #[test]
    fn it_changes_with_either_key_or_id() {
        let (alice, bob): (PeerId, PeerId) = (ALICE.parse().unwrap(), BOB.parse().unwrap());
        let (a, b) = (key(), key());
        let number = safety_number(alice, &a, bob, &b);
        assert_ne!(number, safety_number(alice, &key(), bob, &b));
        assert_ne!(number, safety_number(alice, &a, bob, &key()));
        let carol: PeerId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".parse().unwrap();
        assert_ne!(number, safety_number(carol, &a, bob, &b));
    }

    #[test]
    fn the_derivation_is_stable() {
        // Pinned so that a change of derivation (which would make two versions of the
        // app disagree) cannot go unnoticed; recompute only with a new version.
        let (alice, bob): (PeerId, PeerId) = (ALICE.parse().unwrap(), BOB.parse().unwrap());
        let number = safety_number(alice, &fixed_key(1), bob, &fixed_key(2));
        assert_eq!(number, PINNED);
    }

    /// Computed independently (Python's hashlib and `cryptography`) from the
    /// description above.
    const PINNED: &str = "45605 95732 44515 89809 28050 87247 57250 15297 20655 82642 26892 01979";

    #[test]
    fn the_qr_payload_is_the_same_from_both_sides() {
        let (alice, bob): (PeerId, PeerId) = (ALICE.parse().unwrap(), BOB.parse().unwrap());
        let (a, b) = (key(), key());
        let payload = safety_qr_payload(bob, &b, alice, &a);
        assert_eq!(payload, safety_qr_payload(alice, &a, bob, &b));
        assert_eq!(payload, format!("relay-safety:1:{ALICE}:{a}:{BOB}:{b}"));
        assert_ne!(payload, safety_qr_payload(alice, &a, bob, &key()));
    }
}
