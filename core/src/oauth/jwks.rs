//! Keys of JWKS URLs (RFC 7517) that assertion signers publish, fetched
//! through the outbound policy and cached for every request of this process.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde_json::Value;
use tollgate_store::validate::check_public_jwks;

use crate::fetch_cache::FetchCache;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long fetched keys are used before they are fetched again.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` fetches again, but not more often than this per URL.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// Why a key could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksError {
    /// The set has no key for the `kid` (or several and no `kid`).
    UnknownKey,
    /// The set cannot be fetched or is not a public JWK Set.
    Unavailable,
}

/// The key for `kid` (or the only key when the token names none).
pub fn find_key<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

/// JWKS URLs whose keys are kept, and their bytes (each set is at most
/// [`MAX_JWKS_BYTES`]).
const CACHE_ENTRIES: usize = 512;
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Keys of JWKS URLs, shared by every request of this process.
pub struct JwksCache {
    http: reqwest::Client,
    outbound: Arc<crate::outbound::Policy>,
    entries: FetchCache<Arc<JwkSet>>,
}

impl JwksCache {
    /// Fetching only from addresses `outbound` allows.
    pub fn new(outbound: &Arc<crate::outbound::Policy>) -> Self {
        JwksCache {
            http: outbound
                .client_builder()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            outbound: outbound.clone(),
            entries: FetchCache::new(CACHE_ENTRIES, CACHE_BYTES),
        }
    }

    /// The key for `kid` from `uri`: from the cache while fresh; fetched when
    /// absent, stale, or when `kid` is unknown and the last fetch is older
    /// than [`REFETCH_INTERVAL`] (a key rotation at the issuer).
    pub async fn key(&self, uri: &str, kid: Option<&str>) -> Result<Jwk, JwksError> {
        if let Some((keys, age)) = self.entries.get(uri) {
            if age < CACHE_TTL {
                if let Some(k) = find_key(&keys, kid) {
                    return Ok(k.clone());
                }
                if age < REFETCH_INTERVAL {
                    return Err(JwksError::UnknownKey);
                }
            }
        }
        let (keys, bytes) = self.fetch(uri).await?;
        let found = find_key(&keys, kid).cloned();
        self.entries.insert(uri, Arc::new(keys), bytes);
        found.ok_or(JwksError::UnknownKey)
    }

    /// The set and the size of the document it came from.
    async fn fetch(&self, uri: &str) -> Result<(JwkSet, usize), JwksError> {
        let unavailable = |why: &dyn std::fmt::Display| {
            tracing::warn!(jwks_uri = uri, error = %why, "cannot fetch a JWKS");
            JwksError::Unavailable
        };
        self.outbound
            .check_url(uri)
            .await
            .map_err(|e| unavailable(&e))?;
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
        let keys = check_public_jwks(&v).map_err(|e| unavailable(&e))?;
        Ok((keys, body.len()))
    }
}
