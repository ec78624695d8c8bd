//! What end-to-end encryption costs a client per message, natively: the shared
//! measurement ([`relay_shared::crypto::measure_cost`]) on this machine's clock. The web
//! app's cost is measured by the same code in the browser (`client/tests/crypto_cost.rs`).

use std::time::Instant;

use relay_shared::crypto::{CryptoCost, measure_cost};

/// `messages` messages from one device to another, each encrypted and decrypted.
pub fn run(messages: usize) -> anyhow::Result<CryptoCost> {
    let clock = Instant::now();
    Ok(measure_cost(messages, || clock.elapsed())?)
}
