//! IdP metadata configured by URL (`idpMetadataUrl`) is fetched again on a
//! schedule, as the original does about every five minutes, and on request
//! (`POST …/saml/reload`). A document is stored only when it changed, under
//! the version read (the change feed then carries it to the other
//! replicas); a failed fetch or a document Tollgate cannot use keeps the
//! last good metadata, is logged and counted.

use crate::federation::saml::fetch::fetch_idp_metadata;
use serde_json::json;
use tollgate_store::model::{now, SamlProviderConfig};
use tollgate_store::validate::saml::{check_idp_metadata, check_idp_metadata_url};
use tollgate_store::StoreError;

use crate::metrics::OutcomeLabel;
use crate::services::Services;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the contact center has no SAML settings")]
    NotConfigured,
    #[error("the SAML settings have no idpMetadataUrl; upload the metadata with PUT instead")]
    NoUrl,
    #[error("{0}")]
    Fetch(String),
    #[error("the IdP's metadata is not usable: {0}")]
    Unusable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The document at an IdP metadata URL, from an address the outbound
/// policy allows. A refused address or a failed fetch is one generic
/// message (the reason is logged), so the URL cannot probe what is
/// reachable from here.
pub async fn fetch(state: &Services, url: &str) -> Result<String, String> {
    check_idp_metadata_url(url)?;
    let fetched = async {
        state
            .outbound
            .check_url(url)
            .await
            .map_err(|e| e.to_string())?;
        fetch_idp_metadata(&state.saml_metadata.http, url).await
    }
    .await;
    fetched.map_err(|e| {
        tracing::warn!(%url, error = %e, "IdP metadata cannot be fetched");
        format!("'idpMetadataUrl' {}", crate::outbound::GENERIC)
    })
}

/// What a refresh did.
pub enum Refreshed {
    Unchanged(SamlProviderConfig),
    Updated(SamlProviderConfig),
}

/// Fetches the metadata of one contact center and stores it if it changed.
pub async fn refresh(state: &Services, contact_center_id: &str) -> Result<Refreshed, RefreshError> {
    let stored = state
        .db
        .get_saml_provider(contact_center_id)
        .await?
        .ok_or(RefreshError::NotConfigured)?;
    let url = stored.idp_metadata_url.clone().ok_or(RefreshError::NoUrl)?;
    let outcome = async {
        let xml = fetch(state, &url).await.map_err(RefreshError::Fetch)?;
        check_idp_metadata("idpMetadataUrl", &xml).map_err(RefreshError::Unusable)?;
        if xml == stored.idp_metadata {
            return Ok(Refreshed::Unchanged(stored));
        }
        let updated = state
            .db
            .put_saml_provider(&SamlProviderConfig {
                idp_metadata: xml,
                idp_metadata_fetched_at: Some(now()),
                ..stored
            })
            .await?;
        state
            .audit("saml.metadata_refreshed")
            .contact_center(contact_center_id)
            .detail(json!({"version": updated.version}))
            .record();
        Ok(Refreshed::Updated(updated))
    }
    .await;
    let label = match &outcome {
        Ok(Refreshed::Unchanged(_)) => "unchanged",
        Ok(Refreshed::Updated(_)) => "updated",
        Err(_) => "failed",
    };
    state
        .metrics
        .saml_metadata_refreshes
        .get_or_create(&OutcomeLabel {
            outcome: label.into(),
        })
        .inc();
    outcome
}

/// One round over every contact center with a metadata URL.
pub async fn refresh_all(state: &Services) {
    let urls = match state.db.list_saml_metadata_urls().await {
        Ok(urls) => urls,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list SAML metadata URLs; will retry");
            return;
        }
    };
    for (cc, url) in urls {
        match refresh(state, &cc).await {
            Ok(Refreshed::Updated(c)) => {
                tracing::info!(contact_center = %cc, %url, version = c.version, "SAML IdP metadata changed and was stored");
            }
            Ok(Refreshed::Unchanged(_)) => {}
            // Removed or switched to uploaded metadata meanwhile.
            Err(RefreshError::NotConfigured | RefreshError::NoUrl) => {}
            Err(e) => {
                tracing::warn!(contact_center = %cc, %url, error = %e, "SAML IdP metadata refresh failed; the last good metadata stays");
            }
        }
    }
}
