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
use serde_json::json;
use tollgate_store::model::{OidcClaims, OidcClientAuth, OidcGroupAuthority, OidcProviderConfig};
use tollgate_store::StoreError;
use utoipa::ToSchema;

use super::access::{cc_not_found, Caller};
use super::contact_centers::visible;
use super::{check_version, expected_version, parse_data, with_etag, Data, Envelope};
use super::{ErrorEnvelope, OkEnvelope};
use crate::envelope::{self, ApiError};
use crate::sso::oidc::redirect_uri;
use crate::state::AppState;

const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];
/// Claims that may name the user: stable and meant as a login name.
const USERNAME_CLAIMS: [&str; 3] = ["preferred_username", "email", "sub"];
/// Parameters Tollgate sets itself on every authorization request.
const RESERVED_PARAMS: [&str; 10] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "request",
];

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
    /// The redirect URI to register at the provider (the same for every contact center).
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
    pub client_authentication: Option<String>,
    /// Write only; omitted on an update, the stored one is kept.
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

/// `https://`, or `http://` on a loopback host; no query or fragment.
fn check_issuer(issuer: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("'issuer' {why}"));
    let url = url::Url::parse(issuer).map_err(|_| bad("must be an absolute URL"))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be an https:// URL")),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must not have a query, fragment or user info"));
    }
    Ok(())
}

/// A claim or scope name: printable ASCII without spaces or quotes.
fn token_like(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "'{field}' must be 1-200 printable characters without spaces: '{value}'"
        )))
    }
}

/// The record to store; `existing` lends its client secret when none is given.
pub(crate) fn to_record(
    id: &str,
    d: OidcProviderInput,
    existing: Option<&OidcProviderConfig>,
) -> Result<OidcProviderConfig, ApiError> {
    let issuer = required("issuer", d.issuer)?;
    check_issuer(&issuer)?;
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
        Some(s) if s.is_empty() => {
            return Err(ApiError::bad_request("'clientSecret' must not be empty"))
        }
        Some(s) => s,
        None => existing
            .map(|e| e.client_secret.clone())
            .ok_or_else(|| ApiError::bad_request("'clientSecret' is required"))?,
    };
    let scopes = d
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.map(String::from).to_vec());
    for s in &scopes {
        token_like("scopes", s)?;
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(ApiError::bad_request("'scopes' must include openid"));
    }
    let c = d.claims.unwrap_or_default();
    let claims = OidcClaims {
        username: c.username.unwrap_or_else(|| "preferred_username".into()),
        first_name: c.first_name.unwrap_or_else(|| "given_name".into()),
        last_name: c.last_name.unwrap_or_else(|| "family_name".into()),
        email: c.email.unwrap_or_else(|| "email".into()),
    };
    if !USERNAME_CLAIMS.contains(&claims.username.as_str()) {
        return Err(ApiError::bad_request(
            "'claims.username' must be preferred_username, email or sub",
        ));
    }
    token_like("claims.firstName", &claims.first_name)?;
    token_like("claims.lastName", &claims.last_name)?;
    token_like("claims.email", &claims.email)?;
    let groups_claim = d.groups_claim.filter(|g| !g.trim().is_empty());
    if let Some(g) = &groups_claim {
        token_like("groupsClaim", g)?;
    }
    let group_authorities = d.group_authorities.unwrap_or_default();
    if !group_authorities.is_empty() && groups_claim.is_none() {
        return Err(ApiError::bad_request(
            "'groupAuthorities' needs 'groupsClaim'",
        ));
    }
    if let Some(g) = group_authorities
        .iter()
        .find(|g| g.group.trim().is_empty() || g.authority.trim().is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "groupAuthorities: group '{}' needs a group and an authority",
            g.group
        )));
    }
    let authorize_params = d.authorize_params.unwrap_or_default();
    for name in authorize_params.keys() {
        if RESERVED_PARAMS.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "'authorizeParams' must not set {name}: Tollgate sets it"
            )));
        }
        token_like("authorizeParams", name)?;
    }
    Ok(OidcProviderConfig {
        contact_center_id: id.to_string(),
        issuer,
        client_id,
        client_auth,
        client_secret,
        scopes,
        claims,
        groups_claim,
        group_authorities,
        just_in_time: d.just_in_time.unwrap_or(false),
        authorize_params,
        version: 0,
        created_at: 0,
        updated_at: 0,
    })
}

fn not_configured(id: &str) -> ApiError {
    ApiError::not_found(format!("contact center '{id}' has no OIDC provider"))
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
    visible(&state, &caller, &id).await?;
    let stored = state
        .db
        .get_oidc_provider(&id)
        .await?
        .ok_or_else(|| not_configured(&id))?;
    let view = OidcProviderView::new(&stored, redirect_uri(&state));
    Ok(with_etag(envelope::ok(view), stored.version))
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
    let d: OidcProviderInput = parse_data(&body)?;
    let expected = expected_version(&headers, d.version)?;
    visible(&state, &caller, &id).await?;
    let existing = state.db.get_oidc_provider(&id).await?;
    let current = existing.as_ref().map_or(0, |e| e.version);
    check_version(expected, current, "OIDC provider")?;
    let mut record = to_record(&id, d, existing.as_ref())?;
    record.version = current;
    let stored = state
        .db
        .put_oidc_provider(&record)
        .await
        .map_err(|e| match e {
            StoreError::MissingReference { .. } => cc_not_found(&id),
            StoreError::VersionConflict { .. } | StoreError::NotFound { .. } => {
                ApiError::conflict("the OIDC provider changed meanwhile; read it again and retry")
            }
            other => other.into(),
        })?;
    state.audit(
        "oidc_provider.updated",
        None,
        Some(&id),
        Some(caller.name()),
        None,
        json!({"version": stored.version, "issuer": stored.issuer}),
    );
    let view = OidcProviderView::new(&stored, redirect_uri(&state));
    Ok(with_etag(envelope::ok(view), stored.version))
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
    visible(&state, &caller, &id).await?;
    state
        .db
        .delete_oidc_provider(&id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => not_configured(&id),
            other => other.into(),
        })?;
    state.audit(
        "oidc_provider.deleted",
        None,
        Some(&id),
        Some(caller.name()),
        None,
        json!({}),
    );
    Ok(envelope::ok_empty())
}
