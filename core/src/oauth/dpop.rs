//! DPoP (RFC 9449): a client proves, request by request, that it holds the
//! private key its tokens are bound to. A proof is a JWT signed with that
//! key and carrying its public half (`jwk`), made for one method and URL
//! (`htm`, `htu`), at one moment (`iat`), once (`jti`), and at a resource,
//! for one access token (`ath`). Tokens bound to the key carry its RFC 7638
//! thumbprint (`cnf.jkt`).
//!
//! Each `jti` is remembered in the ephemeral store for as long as its proof
//! could pass the `iat` check, so a captured proof cannot be sent again.
//!
//! With `--dpop-nonce`, a proof must also carry a nonce this server handed
//! out (§8, §9): a MAC of the current time window under a key derived from
//! the store's sealing key, so every replica makes and accepts the same
//! nonces without sharing state. The current and the previous window's are
//! accepted, so a nonce lives between one and two windows.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_store::model::Timestamp;

use crate::oauth::error::OAuthError;
use crate::services::Services;

/// The proof's signing algorithms: asymmetric only (§4.2).
pub const ALGORITHMS: &[&str] = &["ES256", "ES384", "PS256", "RS256", "EdDSA"];
/// How far a proof's `iat` may be from now, either way.
pub const SKEW: i64 = 60;
/// Longest proof accepted, in bytes (it travels in a header).
const MAX_PROOF: usize = 8 * 1024;
/// Seconds a server nonce window lasts.
pub const NONCE_WINDOW: i64 = 300;

/// What the request a proof must be made for looks like.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `htm`: the request's method.
    pub method: &'a str,
    /// `htu`: the request's URL, without query or fragment.
    pub url: &'a str,
    /// At a resource: the access token presented with the proof (`ath`).
    pub access_token: Option<&'a str>,
}

/// A verified proof: the thumbprint of the key it was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Why a proof is refused, for the `invalid_dpop_proof` description.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the DPoP proof is malformed")]
    Malformed,
    #[error("the DPoP proof must be typed dpop+jwt")]
    Type,
    #[error("the DPoP proof's algorithm is not accepted")]
    Algorithm,
    #[error("the DPoP proof's jwk must be one public key")]
    Key,
    #[error("the DPoP proof's signature is invalid")]
    Signature,
    #[error("the DPoP proof is for another method or URL")]
    Target,
    #[error("the DPoP proof's iat is too far from now")]
    Time,
    #[error("the DPoP proof does not match the access token (ath)")]
    AccessToken,
    #[error("the DPoP proof was already used")]
    Replayed,
}

impl From<ProofError> for OAuthError {
    fn from(e: ProofError) -> Self {
        OAuthError::invalid_dpop_proof(e.to_string())
    }
}

/// Verifies `proof` for the request `expect` describes and consumes its
/// `jti`; the store being down refuses it (503), never lets it through.
pub async fn verify(
    state: &Services,
    proof: &str,
    expect: Expect<'_>,
    now: Timestamp,
) -> Result<Proof, OAuthError> {
    let (jwk, claims) = check(proof, expect, now)?;
    if state.settings.dpop_nonce
        && !claims
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_ok(state, n, now))
    {
        return Err(OAuthError::use_dpop_nonce());
    }
    let jkt = thumbprint(&jwk);
    let key = format!("dpop:jti:{jkt}:{}", claims.jti);
    let window = Duration::from_secs((2 * SKEW + 1) as u64);
    if state.ephemeral.incr(&key, window).await? > 1 {
        return Err(ProofError::Replayed.into());
    }
    Ok(Proof { jkt })
}

/// The signature and claims of a proof, without the replay check.
fn check(proof: &str, expect: Expect<'_>, now: Timestamp) -> Result<(Jwk, Claims), ProofError> {
    if proof.len() > MAX_PROOF {
        return Err(ProofError::Malformed);
    }
    let header = raw_header(proof)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::Type);
    }
    let alg = algorithm(&header)?;
    let jwk = public_jwk(&header)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| ProofError::Key)?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => ProofError::Signature,
            _ => ProofError::Malformed,
        })?
        .claims;
    check_claims(&claims, expect, now)?;
    Ok((jwk, claims))
}

fn raw_header(proof: &str) -> Result<Value, ProofError> {
    let part = proof.split('.').next().ok_or(ProofError::Malformed)?;
    let bytes = B64.decode(part).map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

fn algorithm(header: &Value) -> Result<Algorithm, ProofError> {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(ProofError::Algorithm)?;
    if !ALGORITHMS.contains(&name) {
        return Err(ProofError::Algorithm);
    }
    name.parse().map_err(|_| ProofError::Algorithm)
}

/// The header's `jwk`: one public key of a kind the thumbprint is defined
/// for (EC on a NIST curve, RSA, Ed25519); never private parts (§4.3).
fn public_jwk(header: &Value) -> Result<Jwk, ProofError> {
    let raw = header.get("jwk").ok_or(ProofError::Key)?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|p| raw.get(p).is_some())
    {
        return Err(ProofError::Key);
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|_| ProofError::Key)?;
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve != EllipticCurve::Ed25519 => Ok(jwk),
        AlgorithmParameters::RSA(_) => Ok(jwk),
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Ok(jwk),
        _ => Err(ProofError::Key),
    }
}

fn check_claims(c: &Claims, expect: Expect<'_>, now: Timestamp) -> Result<(), ProofError> {
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(ProofError::Malformed);
    }
    if c.htm != expect.method || !same_url(&c.htu, expect.url) {
        return Err(ProofError::Target);
    }
    if (c.iat - now).abs() > SKEW {
        return Err(ProofError::Time);
    }
    match (expect.access_token, &c.ath) {
        (Some(token), Some(ath)) if *ath == token_hash(token) => Ok(()),
        (Some(_), _) => Err(ProofError::AccessToken),
        (None, _) => Ok(()),
    }
}

/// §4.3: `htu` and the request's URL are the same, ignoring query and
/// fragment, after RFC 3986 syntax-based normalization (case of scheme and
/// host, default port).
fn same_url(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// The server nonce for the window `now` falls in: `<window>.<MAC>`.
pub fn nonce(state: &Services, now: Timestamp) -> String {
    nonce_of(state, now.div_euclid(NONCE_WINDOW))
}

fn nonce_of(state: &Services, window: i64) -> String {
    let mac = state
        .db
        .cipher()
        .mac("dpop-nonce", window.to_string().as_bytes());
    format!("{window}.{}", B64.encode(mac))
}

/// A nonce of this window or the previous one.
fn nonce_ok(state: &Services, nonce: &str, now: Timestamp) -> bool {
    let current = now.div_euclid(NONCE_WINDOW);
    let Some(window) = nonce
        .split_once('.')
        .and_then(|(w, _)| w.parse::<i64>().ok())
    else {
        return false;
    };
    (window == current || window == current - 1)
        && bool::from(nonce_of(state, window).as_bytes().ct_eq(nonce.as_bytes()))
}

/// `ath`: base64url of the SHA-256 of the access token (§4.2).
pub fn token_hash(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a key `public_jwk` accepted.
pub fn thumbprint(jwk: &Jwk) -> String {
    jwk.thumbprint(ThumbprintHash::SHA256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_after_normalization() {
        let u = "https://auth.example/auth/v3/oauth/token";
        assert!(same_url(
            "https://AUTH.example:443/auth/v3/oauth/token?x=1#f",
            u
        ));
        assert!(!same_url("https://auth.example/auth/v3/oauth/token/", u));
        assert!(!same_url("http://auth.example/auth/v3/oauth/token", u));
        assert!(!same_url(
            "https://auth.example:8443/auth/v3/oauth/token",
            u
        ));
        assert!(!same_url("not a url", u));
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(public_jwk(&serde_json::json!({"jwk": ec})).is_ok());
        let mut private = ec.clone();
        private["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI".into();
        assert_eq!(
            public_jwk(&serde_json::json!({"jwk": private})).err(),
            Some(ProofError::Key)
        );
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(public_jwk(&serde_json::json!({"jwk": oct})).is_err());
        // An EC key claiming an Edwards curve would make the thumbprint panic.
        let mut odd = ec;
        odd["crv"] = "Ed25519".into();
        assert!(public_jwk(&serde_json::json!({"jwk": odd})).is_err());
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        }))
        .unwrap();
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
