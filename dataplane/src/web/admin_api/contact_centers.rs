//! `/environment/v3/contact-centers`: tenants, with the domains users type
//! (`tenant\user`), the directory that checks them (`auth`) and `enabled`.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::{now, AuthScheme, ContactCenter, SecondFactorPolicy};
use tollgate_store::StoreError;
use utoipa::ToSchema;

use crate::web::admin_api::access::{cc_not_found, Caller};
use crate::web::admin_api::{
    check_id, check_version, expected_version, lenient_bool, parse_data, with_etag, Created, Data,
    Envelope, ErrorEnvelope, OkEnvelope,
};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::{AppState, Services};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactCenterView {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub environment_id: String,
    /// The directory that checks its users.
    #[schema(example = "builtin")]
    pub auth: String,
    /// Second factors (TOTP) for built-in users: off, optional or required.
    #[schema(example = "off")]
    pub second_factor: String,
    pub enabled: bool,
    pub version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<&ContactCenter> for ContactCenterView {
    fn from(c: &ContactCenter) -> Self {
        ContactCenterView {
            id: c.id.clone(),
            name: c.name.clone(),
            domains: c.domains.clone(),
            environment_id: c.environment_id.clone(),
            auth: c.auth.as_str().to_string(),
            second_factor: c.second_factor.as_str().to_string(),
            enabled: c.enabled,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Fields to set; on update only the fields given change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactCenterInput {
    /// Create only: the id to use (default: a new UUID).
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._~:@-]+$")]
    pub id: Option<String>,
    /// Default: the first domain.
    pub name: Option<String>,
    /// Required on create; non-empty; each `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`,
    /// unique across all contact centers ignoring case.
    #[schema(min_items = 1)]
    pub domains: Option<Vec<String>>,
    /// Required on create; must exist. Only ops credentials or an unbound
    /// management client may change it (403 for a client bound to contact
    /// centers).
    pub environment_id: Option<String>,
    /// configServer, ldap, builtin, saml or oidc; only directories this
    /// version has are accepted (today: builtin, the default; ldap,
    /// configured at `…/contact-centers/{id}/directory`; configServer, the
    /// Configuration Servers of its environment).
    #[schema(pattern = "^(configServer|ldap|builtin|saml|oidc)$")]
    pub auth: Option<String>,
    /// Second factors (TOTP) for its built-in users: off (the default),
    /// optional (users who enrolled give a code) or required (every user
    /// gives one, enrolling at their next sign-in). Not applied to users of
    /// other directories.
    #[schema(pattern = "^(off|optional|required)$")]
    pub second_factor: Option<String>,
    /// Default true.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<bool>,
    /// Update only: the version read; a stale one is refused with 409.
    pub version: Option<i64>,
    #[schema(ignore)]
    #[serde(default)]
    pub created_at: Option<serde_json::Value>,
    #[schema(ignore)]
    #[serde(default)]
    pub updated_at: Option<serde_json::Value>,
}

fn valid_domain(d: &str) -> bool {
    let bytes = d.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

fn domains(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.is_empty() {
        return Err(ApiError::bad_request(
            "'domains' must list at least one domain",
        ));
    }
    let mut seen = HashSet::new();
    for d in list {
        if !valid_domain(d) {
            return Err(ApiError::bad_request(format!(
                "domains: '{d}' must be 1-63 letters, digits, . _ or -, starting with a letter or digit"
            )));
        }
        if !seen.insert(d.to_lowercase()) {
            return Err(ApiError::bad_request(format!(
                "domains: '{d}' is listed twice"
            )));
        }
    }
    Ok(list.to_vec())
}

fn auth(value: &str) -> Result<AuthScheme, ApiError> {
    // An ldap, saml or oidc contact center without its directory or provider
    // yet (PUT …/directory, …/saml, …/oidc-provider) is allowed: its
    // sign-ins answer 503 until one is stored. A configServer one uses its
    // environment's Configuration Servers.
    AuthScheme::parse(value).ok_or_else(|| {
        ApiError::bad_request("'auth' must be one of configServer, ldap, builtin, saml, oidc")
    })
}

async fn check_environment(state: &Services, id: &str) -> Result<(), ApiError> {
    match state.db.get_environment(id).await? {
        Some(_) => Ok(()),
        None => Err(unknown_environment(id)),
    }
}

fn unknown_environment(id: &str) -> ApiError {
    ApiError::bad_request(format!("environmentId: environment '{id}' does not exist"))
}

/// Store errors in this resource's words: which domain, which environment.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { detail, .. } => {
            ApiError::conflict(if detail.starts_with("domain") {
                format!("domains: {detail} by another contact center")
            } else {
                format!("contact center {detail} already exists")
            })
        }
        StoreError::MissingReference { detail, .. } => unknown_environment(&detail),
        other => other.into(),
    }
}

/// A new contact center from a create's fields (the id given or a new
/// one); its environment is not checked here.
pub(crate) fn new_contact_center(d: &ContactCenterInput) -> Result<ContactCenter, ApiError> {
    if d.version.is_some() {
        return Err(ApiError::bad_request(
            "'version' is set by the server on create",
        ));
    }
    let id = match &d.id {
        Some(id) => {
            check_id("id", id)?;
            id.clone()
        }
        None => crate::web::admin_api::new_id(),
    };
    if d.domains.is_none() {
        return Err(ApiError::bad_request("'domains' is required"));
    }
    let environment_id = d
        .environment_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("'environmentId' is required"))?;
    let t = now();
    let mut c = ContactCenter {
        id,
        name: String::new(),
        domains: vec![],
        environment_id,
        auth: AuthScheme::Builtin,
        second_factor: Default::default(),
        enabled: true,
        version: 1,
        created_at: t,
        updated_at: t,
    };
    apply(&mut c, d)?;
    if d.name.is_none() {
        c.name = c.domains.first().cloned().unwrap_or_default();
    }
    Ok(c)
}

pub(crate) fn apply(c: &mut ContactCenter, d: &ContactCenterInput) -> Result<(), ApiError> {
    if let Some(v) = &d.domains {
        c.domains = domains(v)?;
    }
    if let Some(v) = &d.name {
        if v.chars().count() > 255 || v.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "'name' must be at most 255 characters, without control characters",
            ));
        }
        c.name = v.clone();
    }
    if let Some(v) = &d.auth {
        c.auth = auth(v)?;
    }
    if let Some(v) = &d.second_factor {
        c.second_factor = SecondFactorPolicy::parse(v).ok_or_else(|| {
            ApiError::bad_request("'secondFactor' must be one of off, optional, required")
        })?;
    }
    if let Some(v) = d.enabled {
        c.enabled = v;
    }
    if let Some(v) = &d.environment_id {
        c.environment_id = v.clone();
    }
    Ok(())
}

/// The contact center if it exists and the caller may see it; else 404.
pub(crate) async fn visible(
    state: &Services,
    caller: &Caller,
    id: &str,
) -> Result<ContactCenter, ApiError> {
    caller.require_sees(id)?;
    state
        .db
        .get_contact_center(id)
        .await?
        .ok_or_else(|| cc_not_found(id))
}

#[utoipa::path(get, path = "/environment/v3/contact-centers", tag = "contact-centers",
    responses(
        (status = 200, description = "The contact centers the caller may see, ordered by id", body = Envelope<Vec<ContactCenterView>>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let list = state.db.list_contact_centers().await?;
    Ok(envelope::ok(
        list.iter()
            .filter(|c| caller.sees(&c.id))
            .map(ContactCenterView::from)
            .collect::<Vec<_>>(),
    ))
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}", tag = "contact-centers",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Envelope<ContactCenterView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "Unknown, or outside the client's contactCenterIds", body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = visible(&state, &caller, &id).await?;
    Ok(with_etag(
        envelope::ok(ContactCenterView::from(&c)),
        c.version,
    ))
}

#[utoipa::path(post, path = "/environment/v3/contact-centers", tag = "contact-centers",
    request_body = Data<ContactCenterInput>,
    responses(
        (status = 201, description = "Created; `path` is /contact-centers/{id}", body = Created<ContactCenterView>),
        (status = 400, description = "Invalid field, unknown environment or unavailable directory", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 409, description = "The id or a domain is taken", body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_unbound("create contact centers")?;
    let d: ContactCenterInput = parse_data(&body)?;
    let c = new_contact_center(&d)?;
    let id = c.id.clone();
    check_environment(&state, &c.environment_id).await?;
    let stored = state
        .db
        .create_contact_center(&c)
        .await
        .map_err(store_error)?;
    state
        .audit("contact_center.created")
        .contact_center(&id)
        .subject(caller.name())
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(with_etag(
        envelope::created(
            ContactCenterView::from(&stored),
            format!("/contact-centers/{id}"),
        ),
        stored.version,
    ))
}

#[utoipa::path(put, path = "/environment/v3/contact-centers/{id}", tag = "contact-centers",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<ContactCenterInput>,
    responses(
        (status = 200, body = Envelope<ContactCenterView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Stale version or a domain is taken", body = ErrorEnvelope)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: ContactCenterInput = parse_data(&body)?;
    if d.id.as_ref().is_some_and(|b| *b != id) {
        return Err(ApiError::bad_request("'id' cannot be changed"));
    }
    let expected = expected_version(&headers, d.version)?;
    let mut c = visible(&state, &caller, &id).await?;
    check_version(expected, c.version, "contact center")?;
    let old_environment = c.environment_id.clone();
    apply(&mut c, &d)?;
    if c.environment_id != old_environment {
        // The environment decides whose Configuration Server and service
        // account the tenant's sign-ins use: moving a contact center is an
        // operator's decision, never its own management client's.
        caller.require_unbound("change the contact center's environmentId")?;
        check_environment(&state, &c.environment_id).await?;
    }
    let stored = state
        .db
        .update_contact_center(&c)
        .await
        .map_err(store_error)?;
    state
        .audit("contact_center.updated")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"enabled": stored.enabled}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(with_etag(
        envelope::ok(ContactCenterView::from(&stored)),
        stored.version,
    ))
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}", tag = "contact-centers",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Deleted with its users, settings and origins; its refresh tokens are revoked and its access tokens stop verifying", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_sees(&id)?;
    state
        .db
        .delete_contact_center(&id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => cc_not_found(&id),
            other => other.into(),
        })?;
    state
        .audit("contact_center.deleted")
        .contact_center(&id)
        .subject(caller.name())
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(envelope::ok_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_rules() {
        for good in ["t100", "a", "A.b_c-d", &"x".repeat(63)] {
            assert!(valid_domain(good), "{good}");
        }
        for bad in ["", "-a", ".a", "a b", "a\\b", "ü", &"x".repeat(64)] {
            assert!(!valid_domain(bad), "{bad}");
        }
    }
}
