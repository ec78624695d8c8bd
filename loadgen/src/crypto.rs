//! What end-to-end encryption costs a client per message, natively: one person's device
//! writes to another's through the shared Olm core (`relay_shared::crypto`), with no
//! server (the relay only carries the ciphertext, so its cost is the client's).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use relay_shared::{
    MessageId, PeerId,
    crypto::{Crypto, Plaintext},
    device::DeviceId,
    keys::{ClaimedKey, DeviceKeysEntry},
};
use serde::Serialize;

/// The text of every measured message: 100 bytes, a long chat line.
const TEXT: &str = "The train leaves at 8:40 from platform 3; I'll keep a seat for you by the window. Bring the tickets!";

/// The figures, per message.
#[derive(Debug, Serialize)]
pub struct CryptoReport {
    /// Messages measured.
    pub messages: usize,
    /// Encrypting one message for one device, µs (an established session).
    pub encrypt_us: f64,
    /// Decrypting it, µs.
    pub decrypt_us: f64,
    /// Decrypting the first message from a device, which opens the session (a
    /// one-time key used), µs.
    pub first_decrypt_us: f64,
    /// The encrypted body of a 100-byte text for one device, as JSON, bytes.
    pub encrypted_bytes: usize,
}

fn peer(n: u8) -> anyhow::Result<PeerId> {
    PeerId::from_uuid(uuid::Uuid::from_bytes([n; 16])).context("a peer id")
}

fn micros(total: Duration, count: usize) -> f64 {
    total.as_secs_f64() * 1e6 / count.max(1) as f64
}

/// `messages` messages from one device to another, each encrypted and decrypted.
pub fn run(messages: usize) -> anyhow::Result<CryptoReport> {
    let (alice_id, bob_id) = (peer(0xa1)?, peer(0xb0)?);
    let mut alice = Crypto::new(alice_id, DeviceId::FIRST);
    let mut bob = Crypto::new(bob_id, DeviceId::FIRST);
    let entry = |crypto: &Crypto| DeviceKeysEntry {
        device: DeviceId::FIRST,
        keys: Some(crypto.device_keys()),
    };
    alice.learn(bob_id, &[entry(&bob)])?;
    bob.learn(alice_id, &[entry(&alice)])?;
    let published = bob
        .publish_request(None)
        .context("a fresh device publishes")?;
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
    let plaintext = |from, to| Plaintext {
        from,
        to,
        id: MessageId::from_uuid(uuid::Uuid::new_v4()),
        text: TEXT.to_owned(),
    };

    // The first message opens the session; bob's answer makes alice's next ones normal.
    let first = plaintext(alice_id, bob_id);
    let encrypted = alice.encrypt(&first, &to_bob)?;
    let started = Instant::now();
    bob.decrypt(alice_id, bob_id, first.id, &encrypted)?;
    let first_decrypt = started.elapsed();
    let answer = plaintext(bob_id, alice_id);
    let encrypted = bob.encrypt(&answer, &to_alice)?;
    alice.decrypt(bob_id, alice_id, answer.id, &encrypted)?;

    let (mut encrypting, mut decrypting, mut bytes) = (Duration::ZERO, Duration::ZERO, 0);
    for _ in 0..messages {
        let message = plaintext(alice_id, bob_id);
        let started = Instant::now();
        let encrypted = alice.encrypt(&message, &to_bob)?;
        encrypting += started.elapsed();
        bytes = serde_json::to_vec(&encrypted)?.len();
        let started = Instant::now();
        let opened = bob.decrypt(alice_id, bob_id, message.id, &encrypted)?;
        decrypting += started.elapsed();
        anyhow::ensure!(opened.text == TEXT, "the text came back changed");
    }
    Ok(CryptoReport {
        messages,
        encrypt_us: micros(encrypting, messages),
        decrypt_us: micros(decrypting, messages),
        first_decrypt_us: micros(first_decrypt, 1),
        encrypted_bytes: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_comes_back_and_is_counted() {
        let report = run(5).expect("the exchange works");
        assert_eq!(report.messages, 5);
        assert!(report.encrypt_us > 0.0 && report.decrypt_us > 0.0);
        // The JSON of one ciphertext carries the text, base64'd, and Olm's overhead.
        assert!(report.encrypted_bytes > TEXT.len() * 4 / 3, "{report:?}");
    }
}
