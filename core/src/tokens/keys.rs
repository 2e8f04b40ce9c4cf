//! Signing keys: generation, the public JWKS, and fast signing.
//!
//! Key pairs are parsed once and kept, because re-parsing a PKCS#8 key costs
//! about as much as a signature and token issuance is the hot path.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;
use tollgate_store::model::{KeyAlgorithm, SigningKey, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {0} is unreadable")]
    Unreadable(String),
    #[error("signing failed")]
    Sign,
}

enum Pair {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// A signing key ready to use: the parsed pair plus its lifecycle.
pub struct LoadedKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub activates_at: Timestamp,
    pub retires_at: Timestamp,
    pub expires_at: Timestamp,
    /// Imported to verify another issuer's tokens only: never signs.
    pub publish_only: bool,
    pub jwk: serde_json::Value,
    pair: Pair,
}

impl Pair {
    fn from_pkcs8(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Option<Pair> {
        Some(match algorithm {
            KeyAlgorithm::ES256 => {
                Pair::Es256(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).ok()?)
            }
            KeyAlgorithm::RS256 => Pair::Rs256(RsaKeyPair::from_pkcs8(pkcs8).ok()?),
            KeyAlgorithm::EdDSA => Pair::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8).ok()?),
        })
    }

    /// The public half as a JWK (without `kid`, `use` and `alg`).
    fn public_jwk(&self) -> Option<serde_json::Value> {
        Some(match self {
            Pair::Es256(p) => {
                // Uncompressed point: 0x04 || x (32) || y (32).
                let point = p.public_key().as_ref();
                if point.len() != 65 {
                    return None;
                }
                json!({"kty":"EC","crv":"P-256","x":B64.encode(&point[1..33]),"y":B64.encode(&point[33..65])})
            }
            Pair::Rs256(p) => {
                let public = p.public_key();
                json!({
                    "kty":"RSA",
                    "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::EdDsa(p) => {
                json!({"kty":"OKP","crv":"Ed25519","x":B64.encode(p.public_key().as_ref())})
            }
        })
    }
}

/// When a key record is published, signs, retires and expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchedule {
    pub created_at: Timestamp,
    pub activates_at: Timestamp,
    pub retires_at: Timestamp,
    pub expires_at: Timestamp,
    pub publish_only: bool,
}

impl LoadedKey {
    pub fn from_record(record: &SigningKey) -> Result<Self, KeyError> {
        let bad = || KeyError::Unreadable(record.kid.clone());
        let pair = Pair::from_pkcs8(record.algorithm, &record.private_pkcs8).ok_or_else(bad)?;
        let jwk = serde_json::from_str(&record.public_jwk).map_err(|_| bad())?;
        Ok(LoadedKey {
            kid: record.kid.clone(),
            algorithm: record.algorithm,
            activates_at: record.activates_at,
            retires_at: record.retires_at,
            expires_at: record.expires_at,
            publish_only: record.publish_only,
            jwk,
            pair,
        })
    }

    /// Signs `header.payload` (both already base64url) and returns the compact JWS.
    pub fn sign_compact(&self, signing_input: String) -> Result<String, KeyError> {
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match &self.pair {
            Pair::Es256(p) => p
                .sign(&rng, signing_input.as_bytes())
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec(),
            Pair::Rs256(p) => {
                let mut out = vec![0u8; p.public_modulus_len()];
                p.sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut out)
                    .map_err(|_| KeyError::Sign)?;
                out
            }
            Pair::EdDsa(p) => p.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        let mut out = signing_input;
        out.push('.');
        B64.encode_string(sig, &mut out);
        Ok(out)
    }
}

/// Generates a new key record (clear private key; the store encrypts it).
pub fn generate(
    algorithm: KeyAlgorithm,
    created_at: Timestamp,
    activates_at: Timestamp,
    retires_at: Timestamp,
    expires_at: Timestamp,
) -> Result<SigningKey, KeyError> {
    let rng = SystemRandom::new();
    let pkcs8 = match algorithm {
        KeyAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        KeyAlgorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        KeyAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
    };
    let schedule = KeySchedule {
        created_at,
        activates_at,
        retires_at,
        expires_at,
        publish_only: false,
    };
    let kid = uuid::Uuid::new_v4().simple().to_string();
    record_from_pkcs8(kid, algorithm, pkcs8, schedule).map_err(|_| KeyError::Generate)
}

/// A key record for a PKCS#8 private key (generated here or imported), with
/// its public JWK; clear private key, the store encrypts it.
pub fn record_from_pkcs8(
    kid: String,
    algorithm: KeyAlgorithm,
    pkcs8: Vec<u8>,
    schedule: KeySchedule,
) -> Result<SigningKey, KeyError> {
    let bad = || KeyError::Unreadable(kid.clone());
    let mut jwk = Pair::from_pkcs8(algorithm, &pkcs8)
        .and_then(|pair| pair.public_jwk())
        .ok_or_else(bad)?;
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(algorithm.as_str());
    Ok(SigningKey {
        kid,
        algorithm,
        private_pkcs8: pkcs8,
        public_jwk: jwk.to_string(),
        created_at: schedule.created_at,
        activates_at: schedule.activates_at,
        retires_at: schedule.retires_at,
        expires_at: schedule.expires_at,
        publish_only: schedule.publish_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(alg: KeyAlgorithm) {
        let rec = generate(alg, 0, 0, 10, 20).unwrap();
        let key = LoadedKey::from_record(&rec).unwrap();
        let header = B64.encode(format!(
            r#"{{"alg":"{}","kid":"{}"}}"#,
            alg.as_str(),
            rec.kid
        ));
        let payload = B64.encode(r#"{"sub":"x"}"#);
        let token = key.sign_compact(format!("{header}.{payload}")).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&rec.public_jwk).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let jalg = match alg {
            KeyAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            KeyAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            KeyAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        };
        let mut v = jsonwebtoken::Validation::new(jalg);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
        // A flipped signature byte must fail.
        let mut bad = token.into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&bad, &dk, &v).is_err());
    }

    #[test]
    fn es256_signs_verifiably() {
        verify(KeyAlgorithm::ES256);
    }

    #[test]
    fn rs256_signs_verifiably() {
        verify(KeyAlgorithm::RS256);
    }

    #[test]
    fn eddsa_signs_verifiably() {
        verify(KeyAlgorithm::EdDSA);
    }
}
