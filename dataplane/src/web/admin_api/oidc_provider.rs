//! `/environment/v3/contact-centers/{id}/oidc-provider`: the OpenID Connect
//! identity provider a contact center with `auth: oidc` signs its users in
//! at. One per contact center, replaced whole by PUT (optimistic version as
//! for contact centers). The client secret is accepted on write, sealed at
//! rest by the store, and never returned: reads say `clientSecretSet`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tollgate_store::model::{OidcClaims, OidcClientAuth, OidcGroupAuthority, OidcProviderConfig};
use tollgate_store::validate::check_oidc_provider;
use tollgate_store::validate::oidc_provider::DEFAULT_SCOPES;
use tollgate_store::StoreError;
use utoipa::ToSchema;

use crate::web::admin_api::access::Caller;
use crate::web::admin_api::sub_resource::{self, Singleton};
use crate::web::admin_api::{Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::ApiError;
use tollgate_core::federation::oidc::redirect::redirect_uri;
use tollgate_core::services::{AppState, Services};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProviderView {
    pub contact_center_id: String,
    pub issuer: String,
    pub client_id: String,
    /// `client_secret_basic` or `client_secret_post`.
    pub client_authentication: String,
    /// Whether a client secret is stored; the secret itself is never returned.
    pub client_secret_set: bool,
    /// The redirect URI to register at the provider: this contact center's own
    /// (`<public URL>/auth/v3/sso/oidc/<contact center id>/callback`).
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    #[schema(value_type = Object)]
    pub claims: OidcClaims,
    pub groups_claim: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub group_authorities: Vec<OidcGroupAuthority>,
    pub just_in_time: bool,
    pub authorize_params: BTreeMap<String, String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OidcProviderView {
    fn new(c: &OidcProviderConfig, redirect_uri: String) -> Self {
        OidcProviderView {
            contact_center_id: c.contact_center_id.clone(),
            issuer: c.issuer.clone(),
            client_id: c.client_id.clone(),
            client_authentication: c.client_auth.as_str().to_string(),
            client_secret_set: !c.client_secret.is_empty(),
            redirect_uri,
            scopes: c.scopes.clone(),
            claims: c.claims.clone(),
            groups_claim: c.groups_claim.clone(),
            group_authorities: c.group_authorities.clone(),
            just_in_time: c.just_in_time,
            authorize_params: c.authorize_params.clone(),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Claim names; omitted ones default to preferred_username, given_name,
/// family_name, email.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimsInput {
    /// The claim naming the user: `preferred_username`, `email` or `sub`.
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcProviderInput {
    /// The provider's issuer; its discovery document is read from
    /// `<issuer>/.well-known/openid-configuration`. `https://` (or `http://`
    /// on a loopback address, for tests).
    #[schema(example = "https://login.example.com/realms/acme")]
    pub issuer: Option<String>,
    /// Tollgate's client id at the provider.
    pub client_id: Option<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[schema(pattern = "^(client_secret_basic|client_secret_post)$")]
    pub client_authentication: Option<String>,
    /// Write only; omitted on an update, the stored one is kept, unless
    /// `issuer` changes (400: resend it).
    #[schema(write_only)]
    pub client_secret: Option<String>,
    /// Requested scopes; must include `openid`. Default `openid profile email`.
    pub scopes: Option<Vec<String>>,
    pub claims: Option<ClaimsInput>,
    /// The claim listing the user's groups (a string array), for `groupAuthorities`.
    pub groups_claim: Option<String>,
    /// `{group, authority}`: users in the group get the authority.
    #[schema(value_type = Option<Vec<Object>>)]
    pub group_authorities: Option<Vec<OidcGroupAuthority>>,
    /// Create users the contact center does not know as built-in users
    /// (only without an LDAP directory). Default false.
    pub just_in_time: Option<bool>,
    /// Extra authorization request parameters, e.g. `{"prompt":"login"}`.
    pub authorize_params: Option<BTreeMap<String, String>>,
    /// The version read; a stale one is refused with 409.
    pub version: Option<i64>,
}

fn required(field: &str, value: Option<String>) -> Result<String, ApiError> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("'{field}' is required")))
}

/// The record to store; `existing` lends its client secret when none is given.
pub(crate) fn to_record(
    id: &str,
    d: OidcProviderInput,
    existing: Option<&OidcProviderConfig>,
) -> Result<OidcProviderConfig, ApiError> {
    let issuer = required("issuer", d.issuer)?;
    let client_id = required("clientId", d.client_id)?;
    let client_auth = match d.client_authentication.as_deref() {
        None => OidcClientAuth::ClientSecretBasic,
        Some(m) => OidcClientAuth::parse(m).ok_or_else(|| {
            ApiError::bad_request(
                "'clientAuthentication' must be client_secret_basic or client_secret_post",
            )
        })?,
    };
    let client_secret = match d.client_secret {
        Some(s) => s,
        None => {
            let e = existing.ok_or_else(|| ApiError::bad_request("'clientSecret' is required"))?;
            // The token endpoint the secret is sent to is the issuer's.
            crate::web::admin_api::keep_secret_only_in_place(
                "clientSecret",
                crate::web::admin_api::first_change(&[("issuer", issuer != e.issuer)]),
            )?;
            e.client_secret.clone()
        }
    };
    let defaults = OidcClaims::default();
    let c = d.claims.unwrap_or_default();
    let record = OidcProviderConfig {
        contact_center_id: id.to_string(),
        issuer,
        client_id,
        client_auth,
        client_secret,
        scopes: d
            .scopes
            .unwrap_or_else(|| DEFAULT_SCOPES.map(String::from).to_vec()),
        claims: OidcClaims {
            username: c.username.unwrap_or(defaults.username),
            first_name: c.first_name.unwrap_or(defaults.first_name),
            last_name: c.last_name.unwrap_or(defaults.last_name),
            email: c.email.unwrap_or(defaults.email),
        },
        groups_claim: d.groups_claim.filter(|g| !g.trim().is_empty()),
        group_authorities: d.group_authorities.unwrap_or_default(),
        just_in_time: d.just_in_time.unwrap_or(false),
        authorize_params: d.authorize_params.unwrap_or_default(),
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    // The same rules as the operator's, in the store.
    check_oidc_provider(&record).map_err(ApiError::bad_request)?;
    Ok(record)
}

impl Singleton for OidcProviderConfig {
    type Input = OidcProviderInput;
    type View = OidcProviderView;
    const NAME: &'static str = "OIDC provider";
    const MISSING: &'static str = "OIDC provider";
    const CHANGED: &'static str = "the OIDC provider changed meanwhile; read it again and retry";
    const AUDIT: &'static str = "oidc_provider";

    fn input_version(input: &OidcProviderInput) -> Option<i64> {
        input.version
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn set_version(&mut self, version: i64) {
        self.version = version;
    }
    fn view(&self, state: &Services) -> OidcProviderView {
        OidcProviderView::new(self, redirect_uri(state, &self.contact_center_id))
    }
    fn audit_details(&self) -> Value {
        json!({"version": self.version, "issuer": self.issuer})
    }
    async fn load(state: &Services, id: &str) -> Result<Option<Self>, StoreError> {
        state.db.get_oidc_provider(id).await
    }
    async fn build(
        state: &Services,
        id: &str,
        input: OidcProviderInput,
        existing: Option<&Self>,
    ) -> Result<Self, ApiError> {
        let record = to_record(id, input, existing)?;
        state
            .outbound
            .check_setting("issuer", &record.issuer)
            .await
            .map_err(ApiError::bad_request)?;
        Ok(record)
    }
    async fn store(state: &Services, record: &Self) -> Result<Self, StoreError> {
        state.db.put_oidc_provider(record).await
    }
    async fn remove(state: &Services, id: &str) -> Result<(), StoreError> {
        state.db.delete_oidc_provider(id).await
    }
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/oidc-provider", tag = "oidc-provider",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The OpenID provider (without its client secret); `ETag` is its version", body = Envelope<OidcProviderView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "No such contact center, or it has no OpenID provider", body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::get::<OidcProviderConfig>(&state, &caller, &id).await
}

#[utoipa::path(put, path = "/environment/v3/contact-centers/{id}/oidc-provider", tag = "oidc-provider",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<OidcProviderInput>,
    responses(
        (status = 200, description = "Stored (created or replaced); `ETag` is its version", body = Envelope<OidcProviderView>),
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
    sub_resource::put::<OidcProviderConfig>(&state, &caller, &headers, &id, &body).await
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/oidc-provider", tag = "oidc-provider",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Removed; sign-ins of an `auth: oidc` contact center answer 503 until a provider is stored again", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::delete::<OidcProviderConfig>(&state, &caller, &id).await
}
