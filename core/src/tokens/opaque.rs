//! Opaque access tokens: a random UUID (the original's shape) standing for
//! claims the server keeps. The claims live in the ephemeral store and, so
//! that a Redis restart does not end them, in the durable `opaque_tokens`
//! table; both are keyed by the token's SHA-256, never the token.
//!
//! A v4 UUID has 122 random bits from the OS generator: far beyond
//! guessing (RFC 6749 §10.10 asks for at least 128 bits in total, 2^-160
//! odds; 2^-122 per guess is the same order as common practice), and it
//! keeps tokens the length resource servers of the original expect.

use std::time::Duration;

use tollgate_store::model::Timestamp;
use tollgate_store::{Db, Ephemeral, Result, StoreError};

use super::jwt::{token_digest, AccessClaims};

/// A new token value.
pub fn new_value() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether `token` has the shape of an opaque access token (hyphenated UUID).
pub fn is_opaque(token: &str) -> bool {
    token.len() == 36 && uuid::Uuid::try_parse(token).is_ok()
}

fn key(hash: &str) -> String {
    format!("opaque_at:{hash}")
}

/// Where the ephemeral store keeps `value`'s claims (under its digest).
pub fn cache_key(value: &str) -> String {
    key(&token_digest(value))
}

/// Seconds left until `exp`, at least one.
fn ttl(exp: Timestamp, now: Timestamp) -> Duration {
    Duration::from_secs(u64::try_from(exp - now).unwrap_or(0).max(1))
}

fn parse(json: &[u8]) -> Result<AccessClaims> {
    serde_json::from_slice(json)
        .map_err(|e| StoreError::Corrupt(format!("opaque token claims: {e}")))
}

/// Keeps `claims` for `value`: both writes at once, one statement each.
/// The durable one must succeed (the token must outlive a Redis restart);
/// a failed ephemeral one only costs a database read per use.
pub async fn keep(
    ephemeral: &Ephemeral,
    db: &Db,
    value: &str,
    claims: &AccessClaims,
    now: Timestamp,
) -> Result<()> {
    let hash = token_digest(value);
    let json = serde_json::to_string(claims)
        .map_err(|e| StoreError::Corrupt(format!("opaque token claims: {e}")))?;
    let key = key(&hash);
    let (cached, durable) = tokio::join!(
        ephemeral.put(&key, json.as_bytes(), ttl(claims.exp, now)),
        db.insert_opaque_token(&hash, &json, claims.exp)
    );
    if let Err(e) = cached {
        tracing::warn!(error = %e, "opaque access token kept in the database only");
    }
    durable
}

/// The claims kept for `value`: from the ephemeral store, else from the
/// database (refilling the ephemeral store). `None` when unknown, expired
/// or forgotten.
pub async fn lookup(
    ephemeral: &Ephemeral,
    db: &Db,
    value: &str,
    now: Timestamp,
) -> Result<Option<AccessClaims>> {
    let hash = token_digest(value);
    let key = key(&hash);
    match ephemeral.get(&key).await {
        Ok(Some(json)) => return parse(&json).map(Some),
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "opaque access token read from the database"),
    }
    let Some((json, exp)) = db.opaque_token(&hash, now).await? else {
        return Ok(None);
    };
    let claims = parse(json.as_bytes())?;
    if let Err(e) = ephemeral.put(&key, json.as_bytes(), ttl(exp, now)).await {
        tracing::debug!(error = %e, "opaque access token not cached again");
    }
    Ok(Some(claims))
}

/// Forgets a revoked token everywhere, so no replica finds it again.
pub async fn forget(ephemeral: &Ephemeral, db: &Db, value: &str) -> Result<()> {
    let hash = token_digest(value);
    let key = key(&hash);
    let (cached, durable) = tokio::join!(ephemeral.delete(&key), db.delete_opaque_token(&hash));
    cached?;
    durable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hyphenated_v4_uuids() {
        let v = new_value();
        assert!(is_opaque(&v), "{v}");
        assert_eq!(uuid::Uuid::parse_str(&v).unwrap().get_version_num(), 4);
        assert_ne!(v, new_value());
        assert!(!is_opaque(&v.replace('-', "")));
        assert!(!is_opaque("eyJhbGciOi.eyJzdWIiOi.c2ln"));
        assert!(!is_opaque(&crate::tokens::random_token()));
    }
}
