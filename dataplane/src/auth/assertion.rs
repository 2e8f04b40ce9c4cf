//! Signed JWTs from other parties (RFC 7523 assertions): which keys and
//! algorithms are acceptable, the keys of a JWKS URL (fetched, cached, and
//! fetched again for an unknown `kid` at most once per interval), and the
//! claim checks every assertion must pass.
//!
//! The algorithm is never taken on trust from the token: it must be one of
//! the issuer's configured asymmetric algorithms, and the key's type must
//! match it, so neither `alg: none` nor HMAC keyed with a public key can pass.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tollgate_store::model::Timestamp;

/// The only algorithms an assertion may use.
pub const ASYMMETRIC: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW: i64 = 60;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long fetched keys are used before they are fetched again.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` fetches again, but not more often than this per URL.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssertionError {
    #[error("the assertion is malformed")]
    Malformed,
    #[error("the assertion's algorithm is not accepted for this issuer")]
    Algorithm,
    #[error("the assertion's key (kid) is unknown")]
    UnknownKey,
    #[error("the assertion's signature or claims are invalid")]
    Invalid,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not yet valid or was issued in the future")]
    Premature,
    #[error("the assertion is not meant for this server (aud)")]
    Audience,
    #[error("the assertion lives longer than this issuer allows")]
    TooLong,
    #[error("the assertion has no jti")]
    NoJti,
    #[error("the assertion was already used (jti)")]
    Replayed,
    #[error("the issuer's keys cannot be fetched")]
    KeysUnavailable,
}

/// Checks a JWK Set given by an operator: public asymmetric keys only, each
/// with a distinct `kid` when there are several.
pub fn check_public_jwks(v: &Value) -> Result<JwkSet, String> {
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("must be a JWK Set: {\"keys\": [...]}")?;
    if keys.is_empty() {
        return Err("has no keys".into());
    }
    for k in keys {
        // Private parts of RSA, EC and OKP keys, and any symmetric key.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|p| k.get(p).is_some())
        {
            return Err("must hold public keys only (no private or symmetric keys)".into());
        }
    }
    let set: JwkSet =
        serde_json::from_value(v.clone()).map_err(|e| format!("is not a valid JWK Set: {e}"))?;
    let mut kids: Vec<&str> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect();
    if set.keys.len() > 1 && kids.len() != set.keys.len() {
        return Err("needs a kid on every key when it has several".into());
    }
    kids.sort_unstable();
    if kids.windows(2).any(|w| w[0] == w[1]) {
        return Err("has two keys with the same kid".into());
    }
    if let Some(k) = set.keys.iter().find(|k| DecodingKey::from_jwk(k).is_err()) {
        return Err(format!(
            "has a key that cannot verify signatures ({})",
            k.common.key_id.as_deref().unwrap_or("without kid")
        ));
    }
    Ok(set)
}

/// The key for `kid` (or the only key when the token names none).
pub fn find_key<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

struct Cached {
    keys: JwkSet,
    fetched: Instant,
}

/// Keys of JWKS URLs, shared by every request of this process.
pub struct JwksCache {
    http: reqwest::Client,
    entries: Mutex<HashMap<String, Cached>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache {
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl JwksCache {
    /// The key for `kid` from `uri`: from the cache while fresh; fetched when
    /// absent, stale, or when `kid` is unknown and the last fetch is older
    /// than [`REFETCH_INTERVAL`] (a key rotation at the issuer).
    pub async fn key(&self, uri: &str, kid: Option<&str>) -> Result<Jwk, AssertionError> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock() {
            if let Some(c) = entries.get(uri) {
                let age = now.duration_since(c.fetched);
                if age < CACHE_TTL {
                    if let Some(k) = find_key(&c.keys, kid) {
                        return Ok(k.clone());
                    }
                    if age < REFETCH_INTERVAL {
                        return Err(AssertionError::UnknownKey);
                    }
                }
            }
        }
        let keys = self.fetch(uri).await?;
        let found = find_key(&keys, kid).cloned();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                uri.to_string(),
                Cached {
                    keys,
                    fetched: Instant::now(),
                },
            );
        }
        found.ok_or(AssertionError::UnknownKey)
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, AssertionError> {
        let unavailable = |why: &dyn std::fmt::Display| {
            tracing::warn!(jwks_uri = uri, error = %why, "cannot fetch a trusted issuer's JWKS");
            AssertionError::KeysUnavailable
        };
        let mut res = self
            .http
            .get(uri)
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !res.status().is_success() {
            return Err(unavailable(&res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| unavailable(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(unavailable(&"the JWKS is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
        check_public_jwks(&v).map_err(|e| unavailable(&e))
    }
}

/// What an issuer's assertions are checked against.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// Accepted `aud` values (any one of them).
    pub audiences: &'a [String],
    pub max_lifetime: i64,
}

/// Verified claims of an assertion.
#[derive(Debug)]
pub struct Verified {
    pub sub: String,
    pub jti: String,
    pub exp: Timestamp,
}

/// The header's algorithm, if the issuer accepts it.
pub fn algorithm(
    token: &str,
    accepted: &[String],
) -> Result<(Algorithm, Option<String>), AssertionError> {
    // `alg: none` or an unknown algorithm does not even parse as a header.
    let header = jsonwebtoken::decode_header(token).map_err(|_| AssertionError::Malformed)?;
    let name = format!("{:?}", header.alg);
    if !ASYMMETRIC.contains(&name.as_str()) || !accepted.contains(&name) {
        return Err(AssertionError::Algorithm);
    }
    Ok((header.alg, header.kid))
}

/// Checks signature and claims: `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`
/// (bounded skew) and a lifetime no longer than the issuer allows.
pub fn verify(
    token: &str,
    alg: Algorithm,
    key: &Jwk,
    expect: &Expect<'_>,
    now: Timestamp,
) -> Result<Verified, AssertionError> {
    if key
        .common
        .key_algorithm
        .is_some_and(|ka| format!("{ka:?}") != format!("{alg:?}"))
    {
        return Err(AssertionError::Algorithm);
    }
    let key = DecodingKey::from_jwk(key).map_err(|_| AssertionError::Invalid)?;
    let mut v = Validation::new(alg);
    v.leeway = SKEW as u64;
    v.validate_nbf = true;
    v.set_issuer(&[expect.issuer]);
    v.set_audience(expect.audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = match jsonwebtoken::decode::<Value>(token, &key, &v) {
        Ok(d) => d.claims,
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind as K;
            return Err(match e.kind() {
                K::ExpiredSignature => AssertionError::Expired,
                K::ImmatureSignature => AssertionError::Premature,
                K::InvalidAudience => AssertionError::Audience,
                K::InvalidAlgorithm => AssertionError::Algorithm,
                _ => AssertionError::Invalid,
            });
        }
    };
    let int = |k: &str| claims.get(k).and_then(Value::as_i64);
    let exp = int("exp").ok_or(AssertionError::Invalid)?;
    let iat = int("iat");
    if iat.is_some_and(|iat| iat > now + SKEW) {
        return Err(AssertionError::Premature);
    }
    // Without iat the remaining life is what must be short.
    if exp - iat.unwrap_or(now) > expect.max_lifetime {
        return Err(AssertionError::TooLong);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(AssertionError::Invalid)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(AssertionError::NoJti)?;
    Ok(Verified {
        sub: sub.to_string(),
        jti: jti.to_string(),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_keys_must_be_public_and_named() {
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(check_public_jwks(&json!({"keys": [ec]})).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(check_public_jwks(&json!({"keys": [private]})).is_err());
        assert!(check_public_jwks(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
        let mut b = ec.clone();
        b["kid"] = json!("a");
        assert!(check_public_jwks(&json!({"keys": [ec.clone(), b]})).is_err());
        assert!(check_public_jwks(&json!({"keys": []})).is_err());
        assert!(check_public_jwks(&json!([ec])).is_err());
    }
}
