//! Signed JWTs from other parties (RFC 7523 assertions, both the JWT bearer
//! grant of trusted issuers and client authentication): which keys and
//! algorithms are acceptable, the keys of a JWKS URL (fetched, cached, and
//! fetched again for an unknown `kid` at most once per interval), the claim
//! checks every assertion must pass, and single use of each `jti`.
//!
//! The algorithm is never taken on trust from the token: it must be one of
//! the signer's configured algorithms of the family its keys belong to
//! (asymmetric for public keys, HMAC only for a `client_secret_jwt` client's
//! shared secret), and a public key's type must match it, so neither
//! `alg: none` nor HMAC keyed with a public key can pass.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tollgate_store::model::Timestamp;

use crate::oauth::jwks::{find_key, JwksError};
use crate::services::Services;

pub use tollgate_store::validate::{check_public_jwks, ASYMMETRIC};

/// The only algorithms an assertion MACed with a shared secret may use.
pub const HMAC: &[&str] = &["HS256", "HS384", "HS512"];

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW: i64 = 60;

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

impl From<JwksError> for AssertionError {
    fn from(e: JwksError) -> Self {
        match e {
            JwksError::UnknownKey => AssertionError::UnknownKey,
            JwksError::Unavailable => AssertionError::KeysUnavailable,
        }
    }
}

/// What an issuer's assertions are checked against.
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// The required `sub`, when the signer must speak for itself (a client).
    pub subject: Option<&'a str>,
    /// Accepted `aud` values (any one of them).
    pub audiences: &'a [String],
    pub max_lifetime: i64,
}

/// The `aud` values that name this server: its issuer URL and token endpoint.
pub fn audiences(state: &Services) -> Vec<String> {
    let iss = &state.settings.issuer;
    vec![iss.clone(), crate::oauth::endpoints::token_endpoint(iss)]
}

/// Reads one claim without trusting anything yet: it only selects the record
/// (issuer or client) whose keys then verify the whole token.
pub fn unverified_claim(token: &str, claim: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get(claim)?.as_str().map(str::to_string)
}

/// What verifies the signer's assertions.
pub enum Keys<'a> {
    /// Public keys: a static JWK Set, a JWKS URL, or both (the static set
    /// first); asymmetric algorithms only.
    Public {
        jwks: Option<&'a Value>,
        jwks_uri: Option<&'a str>,
    },
    /// A shared secret (`client_secret_jwt`); HMAC algorithms only.
    Secret(&'a [u8]),
}

impl Keys<'_> {
    fn family(&self) -> &'static [&'static str] {
        match self {
            Keys::Public { .. } => ASYMMETRIC,
            Keys::Secret(_) => HMAC,
        }
    }
}

/// Verifies an assertion with the signer's keys and consumes its `jti`:
/// it is remembered under `replay_scope` until it could no longer pass the
/// expiry check.
pub async fn accept(
    state: &Services,
    keys: Keys<'_>,
    algorithms: &[String],
    expect: &Expect<'_>,
    token: &str,
    replay_scope: &str,
    now: Timestamp,
) -> Result<Verified, AssertionError> {
    let (alg, kid) = algorithm(token, keys.family(), algorithms)?;
    let key = match keys {
        Keys::Public { jwks, jwks_uri } => {
            let static_key = jwks
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .and_then(|set| find_key(&set, kid.as_deref()).cloned());
            let jwk = match (static_key, jwks_uri) {
                (Some(k), _) => k,
                (None, Some(uri)) => state.jwks.key(uri, kid.as_deref()).await?,
                (None, None) => return Err(AssertionError::UnknownKey),
            };
            public_key(&jwk, alg)?
        }
        Keys::Secret(secret) => DecodingKey::from_secret(secret),
    };
    let verified = verify(token, alg, &key, expect, now)?;
    let ttl = (verified.exp - now + SKEW).max(1) as u64;
    let key = format!("{replay_scope}:jti:{}:{}", expect.issuer, verified.jti);
    // Durable: a replay stays refused after the ephemeral store lost its data.
    match state.db.first_use(&key, now + ttl as Timestamp).await {
        Ok(true) => Ok(verified),
        Ok(false) => Err(AssertionError::Replayed),
        Err(e) => {
            tracing::error!(error = %e, "replay cache unavailable");
            Err(AssertionError::KeysUnavailable)
        }
    }
}

/// Verified claims of an assertion.
#[derive(Debug)]
pub struct Verified {
    pub sub: String,
    pub jti: String,
    pub exp: Timestamp,
}

/// The header's algorithm, if it is of the keys' `family` and the signer
/// accepts it.
fn algorithm(
    token: &str,
    family: &[&str],
    accepted: &[String],
) -> Result<(Algorithm, Option<String>), AssertionError> {
    // `alg: none` or an unknown algorithm does not even parse as a header.
    let header = jsonwebtoken::decode_header(token).map_err(|_| AssertionError::Malformed)?;
    let name = format!("{:?}", header.alg);
    if !family.contains(&name.as_str()) || !accepted.contains(&name) {
        return Err(AssertionError::Algorithm);
    }
    Ok((header.alg, header.kid))
}

/// A public JWK as a verification key for `alg`, refused when the key
/// names another algorithm.
fn public_key(key: &Jwk, alg: Algorithm) -> Result<DecodingKey, AssertionError> {
    if key
        .common
        .key_algorithm
        .is_some_and(|ka| format!("{ka:?}") != format!("{alg:?}"))
    {
        return Err(AssertionError::Algorithm);
    }
    DecodingKey::from_jwk(key).map_err(|_| AssertionError::Invalid)
}

/// Checks signature and claims: `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`
/// (bounded skew) and a lifetime no longer than the issuer allows. The
/// library compares an HMAC in constant time (aws-lc `hmac::verify`).
fn verify(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
    expect: &Expect<'_>,
    now: Timestamp,
) -> Result<Verified, AssertionError> {
    let mut v = Validation::new(alg);
    v.leeway = SKEW as u64;
    v.validate_nbf = true;
    v.set_issuer(&[expect.issuer]);
    v.sub = expect.subject.map(str::to_string);
    v.set_audience(expect.audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = match jsonwebtoken::decode::<Value>(token, key, &v) {
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
