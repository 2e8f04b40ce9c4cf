//! `/environment/v3/environments`: how to reach a tenant's Configuration
//! Server. The service account's password is write-only: the store encrypts
//! it at rest and no response carries it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tollgate_store::model::{now, ConfigServer, Environment};
use utoipa::{IntoParams, ToSchema};

use crate::web::admin_api::access::Caller;
use crate::web::admin_api::{
    check_id, check_version, expected_version, lenient_bool, parse_data, with_etag, Created, Data,
    Envelope, ErrorEnvelope, OkEnvelope,
};
use crate::web::envelope::{self, ApiError};
use tollgate_core::services::AppState;

/// Longest ADDP timeout accepted, in seconds: beyond an hour a dead
/// Configuration Server would go unnoticed for too long.
const MAX_TIMEOUT: i64 = 3_600;
const TRACE_MODES: [&str; 4] = [
    "CFGTMNoTraceMode",
    "CFGTMClient",
    "CFGTMServer",
    "CFGTMBoth",
];

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigServerView {
    pub primary_address: String,
    pub primary_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_port: Option<u16>,
    pub read_only: bool,
    pub locations: String,
}

/// An environment as responses show it; never its password.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    pub id: String,
    pub username: String,
    pub connection_protocol: String,
    /// Seconds.
    pub local_timeout: i64,
    /// Seconds.
    pub remote_timeout: i64,
    pub tenant: String,
    pub app_name: String,
    pub trace_mode: String,
    pub tls_enabled: bool,
    pub config_servers: Vec<ConfigServerView>,
    pub version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<&Environment> for EnvironmentView {
    fn from(e: &Environment) -> Self {
        EnvironmentView {
            id: e.id.clone(),
            username: e.username.clone(),
            connection_protocol: e.connection_protocol.clone(),
            local_timeout: e.local_timeout,
            remote_timeout: e.remote_timeout,
            tenant: e.tenant.clone(),
            app_name: e.app_name.clone(),
            trace_mode: e.trace_mode.clone(),
            tls_enabled: e.tls_enabled,
            config_servers: e
                .config_servers
                .iter()
                .map(|c| ConfigServerView {
                    primary_address: c.primary_address.clone(),
                    primary_port: c.primary_port,
                    backup_address: c.backup_address.clone(),
                    backup_port: c.backup_port,
                    read_only: c.read_only,
                    locations: c.locations.clone(),
                })
                .collect(),
            version: e.version,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigServerInput {
    /// Host name or IP address.
    pub primary_address: Option<String>,
    /// 1-65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub primary_port: Option<i64>,
    pub backup_address: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub backup_port: Option<i64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub read_only: Option<bool>,
    pub locations: Option<String>,
}

/// Fields to set. On create, absent fields take the original's defaults
/// (`addp`, 60/90 s, `Environment`, `Cloud`, `CFGTMBoth`); on update, only
/// the fields given change. `configServers` is replaced whole.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentInput {
    /// Create only: the id to use (default: a new UUID).
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._~:@-]+$")]
    pub id: Option<String>,
    pub username: Option<String>,
    /// Write-only; encrypted at rest, never returned. Omitted on an update,
    /// the stored one is kept, unless `configServers` change or `tlsEnabled`
    /// is turned off (400: resend it).
    #[schema(write_only)]
    pub password: Option<String>,
    pub connection_protocol: Option<String>,
    /// Seconds, 0-3600.
    #[schema(minimum = 0, maximum = 3600)]
    pub local_timeout: Option<i64>,
    /// Seconds, 0-3600.
    #[schema(minimum = 0, maximum = 3600)]
    pub remote_timeout: Option<i64>,
    pub tenant: Option<String>,
    pub app_name: Option<String>,
    /// CFGTMNoTraceMode, CFGTMClient, CFGTMServer or CFGTMBoth.
    #[schema(pattern = "^(CFGTMNoTraceMode|CFGTMClient|CFGTMServer|CFGTMBoth)$")]
    pub trace_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub tls_enabled: Option<bool>,
    pub config_servers: Option<Vec<ConfigServerInput>>,
    /// Update only: the version read; a stale one is refused with 409.
    pub version: Option<i64>,
    /// Read-only; accepted and ignored so a GET result can be sent back.
    #[schema(ignore)]
    #[serde(default)]
    pub created_at: Option<serde_json::Value>,
    #[schema(ignore)]
    #[serde(default)]
    pub updated_at: Option<serde_json::Value>,
}

/// Host names (RFC 1123 labels; `_` allowed for service records) or IP addresses.
fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    (1..=253).contains(&host.len())
        && host.trim_end_matches('.').split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn port(field: &str, value: i64) -> Result<u16, ApiError> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ApiError::bad_request(format!("'{field}' must be a port from 1 to 65535")))
}

fn config_servers(list: &[ConfigServerInput]) -> Result<Vec<ConfigServer>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let field = |name: &str| format!("configServers[{i}].{name}");
            let address =
                |name: &str, value: &Option<String>| -> Result<Option<String>, ApiError> {
                    match value.as_deref().map(str::trim) {
                        None => Ok(None),
                        Some(a) if valid_host(a) => Ok(Some(a.to_string())),
                        Some(_) => Err(ApiError::bad_request(format!(
                            "'{}' must be a host name or an IP address",
                            field(name)
                        ))),
                    }
                };
            let primary_address =
                address("primaryAddress", &c.primary_address)?.ok_or_else(|| {
                    ApiError::bad_request(format!("'{}' is required", field("primaryAddress")))
                })?;
            let primary_port = c
                .primary_port
                .ok_or_else(|| {
                    ApiError::bad_request(format!("'{}' is required", field("primaryPort")))
                })
                .and_then(|p| port(&field("primaryPort"), p))?;
            let backup_address = address("backupAddress", &c.backup_address)?;
            let backup_port = c
                .backup_port
                .map(|p| port(&field("backupPort"), p))
                .transpose()?;
            if backup_address.is_some() != backup_port.is_some() {
                return Err(ApiError::bad_request(format!(
                    "'{}' and '{}' go together: give both or neither",
                    field("backupAddress"),
                    field("backupPort")
                )));
            }
            Ok(ConfigServer {
                primary_address,
                primary_port,
                backup_address,
                backup_port,
                read_only: c.read_only.unwrap_or(false),
                locations: c.locations.clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn timeout(field: &str, value: i64) -> Result<i64, ApiError> {
    if (0..=MAX_TIMEOUT).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "'{field}' must be a whole number of seconds from 0 to {MAX_TIMEOUT}"
        )))
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "'{field}' must be at most {max} characters, without control characters"
        )));
    }
    Ok(value.to_string())
}

/// A new environment from a create's fields: the id given or a new one,
/// the original's defaults for the fields absent.
pub(crate) fn new_environment(d: &EnvironmentInput) -> Result<Environment, ApiError> {
    let id = match &d.id {
        Some(id) => {
            check_id("id", id)?;
            id.clone()
        }
        None => crate::web::admin_api::new_id(),
    };
    if d.version.is_some() {
        return Err(ApiError::bad_request(
            "'version' is set by the server on create",
        ));
    }
    let mut e = Environment::defaults(id, now());
    apply(&mut e, d)?;
    Ok(e)
}

/// `stored` with an update's fields applied; a kept password may not
/// follow a change of where it goes.
pub(crate) fn updated_environment(
    stored: &Environment,
    d: &EnvironmentInput,
) -> Result<Environment, ApiError> {
    let mut e = stored.clone();
    apply(&mut e, d)?;
    if d.password.is_none() && e.password.is_some() {
        crate::web::admin_api::keep_secret_only_in_place(
            "password",
            password_destination_change(stored, &e),
        )?;
    }
    Ok(e)
}

/// Applies the fields given to `e`.
fn apply(e: &mut Environment, d: &EnvironmentInput) -> Result<(), ApiError> {
    if let Some(v) = &d.username {
        e.username = text("username", v, 255)?;
    }
    if let Some(v) = &d.password {
        // An empty password clears it.
        e.password = (!v.is_empty()).then(|| v.clone());
    }
    if let Some(v) = &d.connection_protocol {
        if v.is_empty()
            || v.len() > 32
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ApiError::bad_request(
                "'connectionProtocol' must be 1-32 letters, digits, _ or - (e.g. addp)",
            ));
        }
        e.connection_protocol = v.clone();
    }
    if let Some(v) = d.local_timeout {
        e.local_timeout = timeout("localTimeout", v)?;
    }
    if let Some(v) = d.remote_timeout {
        e.remote_timeout = timeout("remoteTimeout", v)?;
    }
    if let Some(v) = &d.tenant {
        e.tenant = text("tenant", v, 255)?;
    }
    if let Some(v) = &d.app_name {
        e.app_name = text("appName", v, 255)?;
    }
    if let Some(v) = &d.trace_mode {
        if !TRACE_MODES.contains(&v.as_str()) {
            return Err(ApiError::bad_request(format!(
                "'traceMode' must be one of {}",
                TRACE_MODES.join(", ")
            )));
        }
        e.trace_mode = v.clone();
    }
    if let Some(v) = d.tls_enabled {
        e.tls_enabled = v;
    }
    if let Some(v) = &d.config_servers {
        e.config_servers = config_servers(v)?;
    }
    Ok(())
}

/// The first setting that changes where the service account's password
/// goes (the Configuration Servers) or lets it travel in clear (TLS turned
/// off; turning it on needs no resend).
fn password_destination_change(
    stored: &Environment,
    updated: &Environment,
) -> Option<&'static str> {
    crate::web::admin_api::first_change(&[
        (
            "configServers",
            stored.config_servers != updated.config_servers,
        ),
        ("tlsEnabled", stored.tls_enabled && !updated.tls_enabled),
    ])
}

async fn find(state: &AppState, id: &str) -> Result<Environment, ApiError> {
    state
        .db
        .get_environment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("environment '{id}' not found")))
}

#[utoipa::path(get, path = "/environment/v3/environments", tag = "environments",
    responses(
        (status = 200, description = "Every environment, ordered by id", body = Envelope<Vec<EnvironmentView>>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_unbound("manage environments")?;
    let list = state.db.list_environments().await?;
    Ok(envelope::ok(
        list.iter().map(EnvironmentView::from).collect::<Vec<_>>(),
    ))
}

#[utoipa::path(get, path = "/environment/v3/environments/{id}", tag = "environments",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Envelope<EnvironmentView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_unbound("manage environments")?;
    let e = find(&state, &id).await?;
    Ok(with_etag(
        envelope::ok(EnvironmentView::from(&e)),
        e.version,
    ))
}

#[utoipa::path(post, path = "/environment/v3/environments", tag = "environments",
    request_body = Data<EnvironmentInput>,
    responses(
        (status = 201, description = "Created; `path` is /environments/{id}", body = Created<EnvironmentView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 409, description = "The id is taken", body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_unbound("manage environments")?;
    let d: EnvironmentInput = parse_data(&body)?;
    let e = new_environment(&d)?;
    let id = e.id.clone();
    let stored = state.db.create_environment(&e).await?;
    state
        .audit("environment.created")
        .subject(caller.name())
        .detail(serde_json::json!({"environment_id": id}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(with_etag(
        envelope::created(
            EnvironmentView::from(&stored),
            format!("/environments/{id}"),
        ),
        stored.version,
    ))
}

#[utoipa::path(put, path = "/environment/v3/environments/{id}", tag = "environments",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<EnvironmentInput>,
    responses(
        (status = 200, body = Envelope<EnvironmentView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Stale version", body = ErrorEnvelope)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_unbound("manage environments")?;
    let d: EnvironmentInput = parse_data(&body)?;
    if d.id.as_ref().is_some_and(|b| *b != id) {
        return Err(ApiError::bad_request("'id' cannot be changed"));
    }
    let expected = expected_version(&headers, d.version)?;
    let stored = find(&state, &id).await?;
    check_version(expected, stored.version, "environment")?;
    let e = updated_environment(&stored, &d)?;
    // The store writes only if the version is still the one read: a write
    // in between gives 409, never a lost update.
    let stored = state.db.update_environment(&e).await?;
    state
        .audit("environment.updated")
        .subject(caller.name())
        .detail(serde_json::json!({"environment_id": id}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(with_etag(
        envelope::ok(EnvironmentView::from(&stored)),
        stored.version,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct DeleteQuery {
    /// Also delete the environment's contact centers (with their users,
    /// settings and origins); without it, 409 while any use it.
    pub cascade: Option<bool>,
}

#[utoipa::path(delete, path = "/environment/v3/environments/{id}", tag = "environments",
    params(("id" = String, Path), DeleteQuery),
    responses(
        (status = 200, body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Contact centers use it", body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require_unbound("manage environments")?;
    let cascade = match q.get("cascade").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("'cascade' must be true or false")),
    };
    state
        .db
        .delete_environment(&id, cascade)
        .await
        .map_err(|e| match e {
            tollgate_store::StoreError::NotFound { .. } => {
                ApiError::not_found(format!("environment '{id}' not found"))
            }
            tollgate_store::StoreError::InUse { detail, .. } => ApiError::conflict(format!(
                "environment '{id}' is used by {detail}; delete them first or pass ?cascade=true"
            )),
            other => other.into(),
        })?;
    state
        .audit("environment.deleted")
        .subject(caller.name())
        .detail(serde_json::json!({"environment_id": id, "cascade": cascade}))
        .record();
    crate::web::admin_api::propagate(&state).await;
    Ok(envelope::ok_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for good in [
            "cs1.example",
            "10.0.0.1",
            "::1",
            "tenant-1-cfgmaster.service.dc1.consul",
            "_cs._tcp.example",
            "localhost",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            "-a.example",
            "a..example",
            "a b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
