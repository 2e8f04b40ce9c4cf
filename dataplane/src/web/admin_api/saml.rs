//! `/environment/v3/contact-centers/{id}/saml`: the SAML 2.0 service
//! provider of a contact center with `auth: saml` — its IdP's metadata
//! (uploaded, or fetched from a URL), how the assertion names the user, an
//! optional access group, the binding and just-in-time users. One per
//! contact center, replaced whole by PUT (optimistic version). The SP's key
//! pair is generated when the settings are first stored, sealed at rest,
//! never returned (reads show its certificates), and replaced by
//! `POST …/saml/rotate-key`. Metadata from a URL is fetched when stored,
//! again on a schedule, and now by `POST …/saml/reload`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::{now, SamlAccessGroup, SamlBinding, SamlProviderConfig};
use tollgate_store::saml::{generate_sp_key, rotate_sp_keys};
use tollgate_store::validate::check_saml_provider;
use tollgate_store::validate::saml::idp_entity_id;
use tollgate_store::StoreError;
use utoipa::ToSchema;

use crate::web::admin_api::access::Caller;
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::sub_resource::{
    self, answer, committed, not_configured, store_error, Singleton,
};
use crate::web::admin_api::{propagate, Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::ApiError;
use tollgate_core::federation::saml::metadata;
use tollgate_core::federation::saml::refresh::{refresh, RefreshError, Refreshed};
use tollgate_core::services::{AppState, Services};

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BindingName {
    Post,
    Redirect,
}

impl From<SamlBinding> for BindingName {
    fn from(b: SamlBinding) -> Self {
        match b {
            SamlBinding::Post => BindingName::Post,
            SamlBinding::Redirect => BindingName::Redirect,
        }
    }
}

impl From<BindingName> for SamlBinding {
    fn from(b: BindingName) -> Self {
        match b {
            BindingName::Post => SamlBinding::Post,
            BindingName::Redirect => SamlBinding::Redirect,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessGroup {
    /// The assertion attribute holding group names.
    pub attribute: String,
    /// The value the attribute must contain.
    pub value: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlView {
    pub contact_center_id: String,
    /// The IdP's entity id, from its metadata.
    pub idp_entity_id: String,
    pub idp_metadata: String,
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_fetched_at: Option<i64>,
    /// Absent: the NameID names the user.
    pub username_attribute: Option<String>,
    pub use_external_user_id: bool,
    pub access_group: Option<AccessGroup>,
    pub binding: BindingName,
    pub just_in_time_users: bool,
    /// Unsolicited (IdP-initiated) answers are accepted.
    pub allow_idp_initiated: bool,
    /// The SP entity id to register at the IdP (also its metadata URL).
    pub sp_entity_id: String,
    /// The assertion consumer service (HTTP-POST).
    pub acs_url: String,
    /// PEM certificates of the SP's key pairs, newest first; the private
    /// keys are never returned.
    pub sp_certificates: Vec<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(issuer: &str, c: &SamlProviderConfig) -> SamlView {
    let idp_entity_id = idp_entity_id(&c.idp_metadata).unwrap_or_default();
    SamlView {
        contact_center_id: c.contact_center_id.clone(),
        idp_entity_id,
        idp_metadata: c.idp_metadata.clone(),
        idp_metadata_url: c.idp_metadata_url.clone(),
        idp_metadata_fetched_at: c.idp_metadata_fetched_at,
        username_attribute: c.username_attribute.clone(),
        use_external_user_id: c.use_external_user_id,
        access_group: c.access_group.as_ref().map(|g| AccessGroup {
            attribute: g.attribute.clone(),
            value: g.value.clone(),
        }),
        binding: c.binding.into(),
        just_in_time_users: c.just_in_time_users,
        allow_idp_initiated: c.allow_idp_initiated,
        sp_entity_id: metadata::entity_id(issuer, &c.contact_center_id),
        acs_url: metadata::acs_url(issuer, &c.contact_center_id),
        sp_certificates: c
            .sp_keys
            .iter()
            .map(|k| k.certificate_pem.clone())
            .collect(),
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SamlInput {
    /// The IdP's SAML metadata XML (exactly one of this and `idpMetadataUrl`).
    pub idp_metadata: Option<String>,
    /// An `https://` URL the IdP's metadata is fetched from when stored.
    #[schema(example = "https://idp.example.com/realms/acme/protocol/saml/descriptor")]
    pub idp_metadata_url: Option<String>,
    /// The assertion attribute naming the user; omitted: the NameID.
    pub username_attribute: Option<String>,
    /// The name is the user's external id. Default false.
    pub use_external_user_id: Option<bool>,
    /// Only users whose assertion carries this attribute value may sign in.
    pub access_group: Option<AccessGroup>,
    /// How the AuthnRequest is sent: `post` (default) or `redirect`.
    pub binding: Option<BindingName>,
    /// Users the contact center does not know are created on first sign-in. Default false.
    pub just_in_time_users: Option<bool>,
    /// Accept unsolicited (IdP-initiated) answers at the ACS. Default false:
    /// only answers to Tollgate's own requests sign users in, so no one can
    /// sign a browser in with an answer it never asked for.
    pub allow_idp_initiated: Option<bool>,
    /// The version read; a stale one is refused with 409.
    pub version: Option<i64>,
}

/// The record to store; `existing` lends its key pairs (new settings get one).
async fn to_record(
    state: &Services,
    id: &str,
    d: SamlInput,
    existing: Option<&SamlProviderConfig>,
) -> Result<SamlProviderConfig, ApiError> {
    let (idp_metadata, idp_metadata_url, fetched_at) = match (d.idp_metadata, d.idp_metadata_url) {
        (Some(xml), None) => (xml, None, None),
        (None, Some(url)) => {
            let xml = tollgate_core::federation::saml::refresh::fetch(state, &url)
                .await
                .map_err(ApiError::bad_request)?;
            (xml, Some(url), Some(now()))
        }
        _ => {
            return Err(ApiError::bad_request(
                "exactly one of 'idpMetadata' and 'idpMetadataUrl' is required",
            ))
        }
    };
    let access_group = d.access_group.map(|g| SamlAccessGroup {
        attribute: g.attribute,
        value: g.value,
    });
    let mut record = SamlProviderConfig {
        contact_center_id: id.to_string(),
        idp_metadata,
        idp_metadata_url,
        idp_metadata_fetched_at: fetched_at,
        username_attribute: d.username_attribute,
        use_external_user_id: d.use_external_user_id.unwrap_or(false),
        access_group,
        binding: d.binding.unwrap_or(BindingName::Post).into(),
        just_in_time_users: d.just_in_time_users.unwrap_or(false),
        allow_idp_initiated: d.allow_idp_initiated.unwrap_or(false),
        sp_keys: Vec::new(),
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    check_saml_provider(&record).map_err(ApiError::bad_request)?;
    record.sp_keys = match existing {
        Some(e) if !e.sp_keys.is_empty() => e.sp_keys.clone(),
        _ => vec![new_key(id)?],
    };
    Ok(record)
}

fn new_key(id: &str) -> Result<tollgate_store::model::SamlSpKey, ApiError> {
    generate_sp_key(id).map_err(|e| {
        tracing::error!(error = %e, "cannot generate a SAML key pair");
        ApiError::internal()
    })
}

impl Singleton for SamlProviderConfig {
    type Input = SamlInput;
    type View = SamlView;
    const NAME: &'static str = "saml";
    const MISSING: &'static str = "SAML settings";
    const CHANGED: &'static str = "the SAML settings changed meanwhile; read them again and retry";
    const AUDIT: &'static str = "saml";

    fn input_version(input: &SamlInput) -> Option<i64> {
        input.version
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn set_version(&mut self, version: i64) {
        self.version = version;
    }
    fn view(&self, state: &Services) -> SamlView {
        view(&state.settings.issuer, self)
    }
    async fn load(state: &Services, id: &str) -> Result<Option<Self>, StoreError> {
        state.db.get_saml_provider(id).await
    }
    async fn build(
        state: &Services,
        id: &str,
        input: SamlInput,
        existing: Option<&Self>,
    ) -> Result<Self, ApiError> {
        to_record(state, id, input, existing).await
    }
    async fn store(state: &Services, record: &Self) -> Result<Self, StoreError> {
        state.db.put_saml_provider(record).await
    }
    async fn remove(state: &Services, id: &str) -> Result<(), StoreError> {
        state.db.delete_saml_provider(id).await
    }
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/saml", tag = "saml",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The SAML settings (without private keys); `ETag` is their version", body = Envelope<SamlView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "No such contact center, or it has no SAML settings", body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::get::<SamlProviderConfig>(&state, &caller, &id).await
}

#[utoipa::path(put, path = "/environment/v3/contact-centers/{id}/saml", tag = "saml",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<SamlInput>,
    responses(
        (status = 200, description = "Stored (created with a new SP key pair, or replaced keeping the key pairs); `ETag` is its version", body = Envelope<SamlView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Stale version", body = ErrorEnvelope)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    sub_resource::put::<SamlProviderConfig>(&state, &caller, &headers, &id, &body).await
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/saml/rotate-key", tag = "saml",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "A new SP key pair signs and decrypts from now on; the previous one stays published (and decrypts) until the next rotation retires it", body = Envelope<SamlView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Changed meanwhile", body = ErrorEnvelope)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, &id).await?;
    let mut record = SamlProviderConfig::load(&state, &id)
        .await?
        .ok_or_else(|| not_configured::<SamlProviderConfig>(&id))?;
    let key = new_key(&id)?;
    let key_id = key.id.clone();
    rotate_sp_keys(&mut record.sp_keys, key);
    let stored = SamlProviderConfig::store(&state, &record)
        .await
        .map_err(|e| store_error::<SamlProviderConfig>(&id, e))?;
    let details = json!({"version": stored.version, "key": key_id});
    committed(&state, &caller, &id, "saml.key_rotated", details).await;
    Ok(answer(&state, &stored))
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/saml/reload", tag = "saml",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The metadata was fetched from `idpMetadataUrl` now and stored if it changed (the scheduled refresh does the same every `--saml-metadata-refresh-interval`)", body = Envelope<SamlView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "The settings have no `idpMetadataUrl` (uploaded metadata), or changed meanwhile", body = ErrorEnvelope),
        (status = 502, description = "The URL cannot be fetched or answers metadata Tollgate cannot use; the last good metadata stays", body = ErrorEnvelope)))]
pub async fn reload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, &id).await?;
    let stored = match refresh(&state, &id).await {
        Ok(Refreshed::Unchanged(c)) => c,
        Ok(Refreshed::Updated(c)) => {
            propagate(&state).await;
            c
        }
        Err(RefreshError::NotConfigured) => return Err(not_configured::<SamlProviderConfig>(&id)),
        Err(e @ RefreshError::NoUrl) => return Err(ApiError::conflict(e.to_string())),
        Err(e @ (RefreshError::Fetch(_) | RefreshError::Unusable(_))) => {
            return Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))
        }
        Err(RefreshError::Store(e)) => return Err(store_error::<SamlProviderConfig>(&id, e)),
    };
    Ok(answer(&state, &stored))
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/saml", tag = "saml",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Removed, with the SP key pairs; sign-ins of an `auth: saml` contact center answer 503 until settings are stored again", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::delete::<SamlProviderConfig>(&state, &caller, &id).await
}
