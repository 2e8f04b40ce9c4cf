//! Providers' discovery documents (with their JWK sets), cached per issuer.
//! A document is fetched on first use and again when older than
//! [`MAX_AGE`], or earlier when an ID token names a key the cached set lacks
//! (the provider rotated its keys) — at most once per [`REFETCH_INTERVAL`],
//! so forged `kid`s cannot make Tollgate hammer the provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};

use super::http::Http;

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

struct Cached {
    metadata: Arc<Metadata>,
    fetched: Instant,
}

pub struct Discovery {
    pub http: Http,
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, thiserror::Error)]
#[error("discovery at {issuer} failed: {reason}")]
pub struct DiscoveryError {
    issuer: String,
    reason: String,
}

impl Discovery {
    pub fn new(outbound: &Arc<crate::outbound::Policy>) -> Self {
        Discovery {
            http: Http::new(outbound),
            entries: Mutex::new(HashMap::new()),
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
        let entries = self.entries.lock().ok()?;
        entries
            .get(issuer)
            .filter(|c| c.fetched.elapsed() < max_age)
            .map(|c| c.metadata.clone())
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
        let metadata = Arc::new(metadata);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                issuer.to_string(),
                Cached {
                    metadata: metadata.clone(),
                    fetched: Instant::now(),
                },
            );
        }
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
