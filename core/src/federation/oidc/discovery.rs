//! Providers' discovery documents (with their JWK sets), cached per issuer.
//! A document is fetched on first use and again when older than
//! [`MAX_AGE`], or earlier when an ID token names a key the cached set lacks
//! (the provider rotated its keys) — at most once per [`REFETCH_INTERVAL`],
//! so forged `kid`s cannot make Tollgate hammer the provider.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};

use crate::federation::oidc::http::Http;
use crate::fetch_cache::FetchCache;

/// Discovery fields beyond the core ones that Tollgate acts on.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Extra {
    /// RFC 9207: the provider names itself in `iss` of every authorization
    /// response, so an answer without it (or naming another) is refused.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for Extra {}

/// A provider's discovery document.
pub type Metadata = ProviderMetadata<
    Extra,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Whether the provider promises `iss` in its authorization responses.
pub fn sends_iss(metadata: &Metadata) -> bool {
    metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
        == Some(true)
}

const MAX_AGE: Duration = Duration::from_secs(3600);
const REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Providers whose documents are kept, and their bytes (as re-serialized).
const CACHE_ENTRIES: usize = 512;
const CACHE_BYTES: usize = 32 * 1024 * 1024;

pub struct Discovery {
    pub http: Http,
    entries: FetchCache<Arc<Metadata>>,
}

#[derive(Debug, thiserror::Error)]
#[error("discovery at {issuer} failed: {reason}")]
pub struct DiscoveryError {
    issuer: String,
    reason: String,
}

impl Discovery {
    pub fn new(
        outbound: &Arc<crate::outbound::Policy>,
        times: tollgate_store::metrics::DependencyTimes,
    ) -> Self {
        Discovery {
            http: Http::new(outbound, times),
            entries: FetchCache::new(CACHE_ENTRIES, CACHE_BYTES),
        }
    }

    /// The provider's metadata, from the cache while fresh.
    pub async fn metadata(&self, issuer: &str) -> Result<Arc<Metadata>, DiscoveryError> {
        if let Some(m) = self.cached(issuer, MAX_AGE) {
            return Ok(m);
        }
        self.fetch(issuer).await
    }

    /// Fetches the metadata again after an unknown key id, unless it was
    /// fetched moments ago; `None` when the cached copy is that recent.
    pub async fn refetch_for_unknown_key(
        &self,
        issuer: &str,
    ) -> Result<Option<Arc<Metadata>>, DiscoveryError> {
        if self.cached(issuer, REFETCH_INTERVAL).is_some() {
            return Ok(None);
        }
        self.fetch(issuer).await.map(Some)
    }

    fn cached(&self, issuer: &str, max_age: Duration) -> Option<Arc<Metadata>> {
        self.entries
            .get(issuer)
            .filter(|(_, age)| *age < max_age)
            .map(|(m, _)| m)
    }

    async fn fetch(&self, issuer: &str) -> Result<Arc<Metadata>, DiscoveryError> {
        let err = |reason: String| DiscoveryError {
            issuer: issuer.to_string(),
            reason,
        };
        let url = IssuerUrl::new(issuer.to_string()).map_err(|e| err(e.to_string()))?;
        // The library checks that the document's `issuer` is exactly this one.
        let metadata = Metadata::discover_async(url, &self.http)
            .await
            .map_err(|e| err(error_chain(&e)))?;
        // Its size as kept, keys included (the wire form is not at hand here).
        let size = |v: serde_json::Result<Vec<u8>>| v.map_or(usize::MAX, |v| v.len());
        let bytes = size(serde_json::to_vec(&metadata))
            .saturating_add(size(serde_json::to_vec(metadata.jwks())));
        let metadata = Arc::new(metadata);
        self.entries.insert(issuer, metadata.clone(), bytes);
        Ok(metadata)
    }
}

/// An error with its causes, for logs and the audit trail.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
