//! What end-to-end encryption costs per message in the browser: the shared measurement
//! (`relay_shared::crypto::measure_cost`, which the load generator runs natively) in
//! headless Chromium, on `performance.now()`. It prints its figures as one line,
//! `crypto-cost {json}`, which `cargo xtask bench` reads (built in release, with
//! `RELAY_CRYPTO_COST_MESSAGES` messages); `cargo xtask test` runs it small, to know it
//! works.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, reason = "test plumbing: an Err is a failed test")]

use std::time::Duration;

use relay_shared::crypto::measure_cost;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// How many messages are measured: few unless the benchmark asks for more.
fn messages() -> usize {
    option_env!("RELAY_CRYPTO_COST_MESSAGES")
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

#[wasm_bindgen_test]
fn one_message_costs_in_the_browser() {
    let performance = web_sys::window().unwrap().performance().unwrap();
    let now = || Duration::from_secs_f64(performance.now().max(0.0) / 1000.0);
    let cost = measure_cost(messages(), now).unwrap();
    assert_eq!(cost.messages, messages());
    assert!(cost.encrypted_bytes > 0);
    web_sys::console::log_1(
        &format!("crypto-cost {}", serde_json::to_string(&cost).unwrap()).into(),
    );
}
