//! Relay web app (placeholder).
fn main() {}
