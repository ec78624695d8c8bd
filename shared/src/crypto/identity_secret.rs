//! [`IdentitySecret`]: a person's identity key, secret half, as handed to a device being
//! linked.

use std::fmt;

use vodozemac::Ed25519SecretKey;

use super::CryptoError;

/// A person's identity key (its secret half): what a device needs to publish keys its
/// person's contacts trust, and so what a device being linked is given. Whoever holds it
/// can vouch for devices as the person: hand it only to the person's own device.
pub struct IdentitySecret(pub(super) Ed25519SecretKey);

impl IdentitySecret {
    /// As unpadded base64 (43 characters), to carry in a link.
    pub fn to_base64(&self) -> String {
        self.0.to_base64()
    }

    /// From [`to_base64`](Self::to_base64)'s text.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes: [u8; Ed25519SecretKey::LENGTH] = vodozemac::base64_decode(text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CryptoError::Malformed {
                reason: "an identity key is 32 bytes in unpadded base64".into(),
            })?;
        Ok(Self(Ed25519SecretKey::from_slice(&bytes)))
    }
}

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.write_str("IdentitySecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_secret_reads_back_and_refuses_what_is_not_one() {
        let secret = IdentitySecret(Ed25519SecretKey::new());
        let text = secret.to_base64();
        assert_eq!(text.len(), 43);
        assert_eq!(
            IdentitySecret::from_base64(&text).unwrap().to_base64(),
            text
        );
        assert_eq!(format!("{secret:?}"), "IdentitySecret(..)");
        for bad in [
            "",
            "AAAA",
            &format!("{text}A"),
            "not base64 at all, not at all!!!!!!!!!!!!!",
        ] {
            assert!(matches!(
                IdentitySecret::from_base64(bad),
                Err(CryptoError::Malformed { .. })
            ));
        }
    }
}
