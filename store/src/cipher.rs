//! Encryption at rest for secrets the store must read back (signing keys,
//! Configuration Server passwords): AES-256-GCM with a key from configuration.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::{Result, StoreError};

/// Format version byte, so the scheme can change without guessing.
const VERSION: u8 = 1;

#[derive(Clone)]
pub struct Cipher {
    key: std::sync::Arc<LessSafeKey>,
    /// A separate key for MACs, derived from the configured one, so no key
    /// serves two algorithms.
    mac_key: std::sync::Arc<hmac::Key>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    /// A cipher from 32 key bytes.
    pub fn new(key: &[u8]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| StoreError::Config("the encryption key must be 32 bytes".into()))?;
        let root = hmac::Key::new(hmac::HMAC_SHA256, key);
        let derived = hmac::sign(&root, b"tollgate mac key v1");
        Ok(Cipher {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            mac_key: std::sync::Arc::new(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())),
        })
    }

    /// A cipher from the configured key text: 64 hex digits or base64 of 32 bytes.
    pub fn from_config(text: &str) -> Result<Self> {
        use base64::Engine;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .map_err(|_| StoreError::Config("the encryption key is not valid hex".into()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    StoreError::Config(
                        "the encryption key must be 64 hex digits or base64 of 32 bytes".into(),
                    )
                })?
        };
        Self::new(&bytes)
    }

    /// `context` binds the ciphertext to its place (e.g. `signing_key:<kid>`), so a
    /// ciphertext copied into another row does not decrypt.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| StoreError::Crypto)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// HMAC-SHA256 of `data` under a key derived from this cipher's, bound
    /// to `context`: the same on every replica sharing the key, so values
    /// it authenticates need no storage (CSRF tokens).
    pub fn mac(&self, context: &str, data: &[u8]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.mac_key);
        ctx.update(context.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        ctx.sign().as_ref().to_vec()
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(StoreError::Crypto);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| StoreError::Crypto)?;
        let mut buf = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| StoreError::Crypto)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let c = Cipher::new(&[7u8; 32]).unwrap();
        let sealed = c.seal("a", b"secret").unwrap();
        assert_eq!(c.open("a", &sealed).unwrap(), b"secret");
        assert!(c.open("b", &sealed).is_err());
        let other = Cipher::new(&[8u8; 32]).unwrap();
        assert!(other.open("a", &sealed).is_err());
    }

    #[test]
    fn macs_depend_on_key_context_and_data() {
        let c = Cipher::new(&[7u8; 32]).unwrap();
        assert_eq!(c.mac("a", b"x"), c.mac("a", b"x"));
        assert_eq!(c.mac("a", b"x").len(), 32);
        assert_ne!(c.mac("a", b"x"), c.mac("b", b"x"));
        assert_ne!(c.mac("a", b"x"), c.mac("a", b"y"));
        // The context and the data cannot trade bytes.
        assert_ne!(c.mac("ab", b"c"), c.mac("a", b"bc"));
        let other = Cipher::new(&[8u8; 32]).unwrap();
        assert_ne!(c.mac("a", b"x"), other.mac("a", b"x"));
    }

    #[test]
    fn config_key_forms() {
        assert!(Cipher::from_config(&"ab".repeat(32)).is_ok());
        assert!(Cipher::from_config("c2hvcnQ=").is_err());
        assert!(Cipher::from_config("not a key").is_err());
    }
}
