//! [`measure_cost`]: what end-to-end encryption costs a client per message, one
//! person's device writing to another's through [`Crypto`], with no server (the relay
//! only carries the ciphertext, so the cost is the clients'). The same code measures
//! natively (the load generator) and in the browser (a wasm test), each with its clock.

use std::time::Duration;

use serde::Serialize;

use super::{Crypto, CryptoError, Plaintext};
use crate::{
    device::DeviceId,
    keys::{ClaimedKey, DeviceKeysEntry},
    message::MessageId,
    peer_id::PeerId,
};

/// The text of every measured message: 100 bytes, a long chat line.
pub const COST_TEXT: &str = "The train leaves at 8:40 from platform 3; I'll keep a seat for you by the window. Bring the tickets!";

/// The figures, per message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CryptoCost {
    /// Messages measured.
    pub messages: usize,
    /// Encrypting one message for one device, µs (an established session).
    pub encrypt_us: f64,
    /// Decrypting it, µs.
    pub decrypt_us: f64,
    /// Decrypting the first message from a device, which opens the session (a one-time
    /// key used), µs.
    pub first_decrypt_us: f64,
    /// The encrypted body of a 100-byte text for one device, as JSON, bytes.
    pub encrypted_bytes: usize,
}

/// Sends `messages` messages from one device to another, encrypting them all, then
/// decrypting them all, each batch timed as a whole with `now` (a browser's clock is
/// coarse: one message is too short for it). Fails if a text does not come back as
/// written.
pub fn measure_cost(
    messages: usize,
    now: impl Fn() -> Duration,
) -> Result<CryptoCost, CryptoError> {
    let peer = |byte| PeerId::from_uuid(uuid::Uuid::from_bytes([byte; 16]));
    let (Ok(alice_id), Ok(bob_id)) = (peer(0xa1), peer(0xb0)) else {
        return Err(CryptoError::Malformed {
            reason: "the measured ids are not peer ids".into(),
        });
    };
    let mut alice = Crypto::new(alice_id, DeviceId::FIRST);
    let mut bob = Crypto::new(bob_id, DeviceId::FIRST);
    let entry = |crypto: &Crypto| DeviceKeysEntry {
        device: DeviceId::FIRST,
        keys: Some(crypto.device_keys()),
    };
    alice.learn(bob_id, &[entry(&bob)])?;
    bob.learn(alice_id, &[entry(&alice)])?;
    let published = bob.publish_request(None).ok_or(CryptoError::NoRecipients)?;
    bob.published();
    let claimed = ClaimedKey {
        device: DeviceId::FIRST,
        device_keys: bob.device_keys(),
        one_time_key: published.one_time_keys.first().cloned(),
        fallback: false,
    };
    alice.add_claimed(bob_id, &[claimed])?;
    let to_bob = [(bob_id, vec![DeviceId::FIRST])];
    let to_alice = [(alice_id, vec![DeviceId::FIRST])];
    let mut next_id = 0u128;
    let mut plaintext = |from, to| {
        next_id += 1;
        Plaintext {
            from,
            to,
            id: MessageId::from_uuid(uuid::Uuid::from_u128(next_id)),
            text: COST_TEXT.to_owned(),
        }
    };

    // The first message opens the session; Bob's answer makes Alice's next ones normal.
    let first = plaintext(alice_id, bob_id);
    let encrypted = alice.encrypt(&first, &to_bob)?;
    let started = now();
    bob.decrypt(alice_id, bob_id, first.id, &encrypted)?;
    let first_decrypt = now().saturating_sub(started);
    let answer = plaintext(bob_id, alice_id);
    let encrypted = bob.encrypt(&answer, &to_alice)?;
    alice.decrypt(bob_id, alice_id, answer.id, &encrypted)?;

    let written: Vec<Plaintext> = (0..messages).map(|_| plaintext(alice_id, bob_id)).collect();
    let started = now();
    let sealed = written
        .iter()
        .map(|message| alice.encrypt(message, &to_bob))
        .collect::<Result<Vec<_>, _>>()?;
    let encrypting = now().saturating_sub(started);
    let started = now();
    let opened = written
        .iter()
        .zip(&sealed)
        .map(|(message, encrypted)| bob.decrypt(alice_id, bob_id, message.id, encrypted))
        .collect::<Result<Vec<_>, _>>()?;
    let decrypting = now().saturating_sub(started);
    if opened.iter().any(|p| p.text != COST_TEXT) {
        return Err(CryptoError::Malformed {
            reason: "a text came back changed".into(),
        });
    }
    let micros = |total: Duration, count: usize| total.as_secs_f64() * 1e6 / count.max(1) as f64;
    Ok(CryptoCost {
        messages,
        encrypt_us: micros(encrypting, messages),
        decrypt_us: micros(decrypting, messages),
        first_decrypt_us: micros(first_decrypt, 1),
        encrypted_bytes: sealed
            .first()
            .and_then(|e| serde_json::to_vec(e).ok())
            .map_or(0, |json| json.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_comes_back_and_is_counted() {
        let clock = std::time::Instant::now();
        let cost = measure_cost(5, || clock.elapsed()).unwrap();
        assert_eq!(cost.messages, 5);
        assert!(cost.encrypt_us > 0.0 && cost.decrypt_us > 0.0, "{cost:?}");
        // The JSON of one ciphertext carries the text, base64'd, and Olm's overhead.
        assert!(cost.encrypted_bytes > COST_TEXT.len() * 4 / 3, "{cost:?}");
    }
}
