//! Owning a peer id: the server keeps only a hash of the secret that claimed it.

use relay_shared::Secret;
use sha2::{Digest, Sha256};

/// The SHA-256 of a [`Secret`]. Secrets are long random strings, not passwords, so a
/// fast hash is the right one: nothing to guess, nothing to slow down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &Secret) -> Self {
        Self(Sha256::digest(secret.as_str().as_bytes()).into())
    }

    /// A hash as stored.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in constant time, so the comparison leaks nothing about where two
    /// hashes differ.
    pub fn matches(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_secret_matches_another_does_not() {
        let a: Secret = "correct horse battery staple".parse().unwrap();
        let b: Secret = "correct horse battery stapler".parse().unwrap();
        assert!(SecretHash::of(&a).matches(&SecretHash::of(&a)));
        assert!(!SecretHash::of(&a).matches(&SecretHash::of(&b)));
        let stored = SecretHash::from_bytes(*SecretHash::of(&a).as_bytes());
        assert!(stored.matches(&SecretHash::of(&a)));
    }
}
