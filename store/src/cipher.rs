//! Encryption at rest for secrets the store must read back (signing keys,
//! Configuration Server passwords): AES-256-GCM with a key from configuration.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::{Result, StoreError};

/// Format version byte, so the scheme can change without guessing.
const VERSION: u8 = 1;

#[derive(Clone)]
pub struct Cipher {
    key: std::sync::Arc<LessSafeKey>,
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
        Ok(Cipher {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
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
    fn config_key_forms() {
        assert!(Cipher::from_config(&"ab".repeat(32)).is_ok());
        assert!(Cipher::from_config("c2hvcnQ=").is_err());
        assert!(Cipher::from_config("not a key").is_err());
    }
}
