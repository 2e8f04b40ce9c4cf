//! `/environment/v3/contact-centers/{id}/directory`: the LDAP / Active
//! Directory a contact center with `auth: ldap` checks its users against.
//! One per contact center, replaced whole by PUT (optimistic version as for
//! contact centers). The service account's password is accepted on write,
//! sealed at rest by the store, and never returned: reads say
//! `bindPasswordSet`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tollgate_store::model::{
    LdapAttributes, LdapBind, LdapDirectoryConfig, LdapGroupAuthority, LdapProperty,
};
use tollgate_store::validate::ldap_directory::{
    check_ldap_directory, DEFAULT_GROUP_FILTER, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT_MS,
    DEFAULT_USER_FILTER,
};
use tollgate_store::StoreError;
use utoipa::ToSchema;

use crate::web::admin_api::access::Caller;
use crate::web::admin_api::sub_resource::{self, Singleton};
use crate::web::admin_api::{Data, Envelope, ErrorEnvelope, OkEnvelope};
use crate::web::envelope::ApiError;
use tollgate_core::services::{AppState, Services};

/// How users are bound: `direct` (with `bindDnTemplate`) or `searchThenBind`
/// (found by `serviceDn`, then bound).
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum BindModeName {
    Direct,
    SearchThenBind,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryView {
    pub contact_center_id: String,
    pub urls: Vec<String>,
    pub start_tls: bool,
    pub ca_certificate: Option<String>,
    pub bind_mode: BindModeName,
    pub bind_dn_template: Option<String>,
    pub service_dn: Option<String>,
    /// Whether a service password is stored; the password itself is never returned.
    pub bind_password_set: bool,
    pub base_dn: String,
    pub user_filter: String,
    pub group_filter: String,
    #[schema(value_type = Object)]
    pub attributes: LdapAttributes,
    #[schema(value_type = Vec<Object>)]
    pub group_authorities: Vec<LdapGroupAuthority>,
    pub timeout_ms: i64,
    pub pool_size: i64,
    pub active_directory: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&LdapDirectoryConfig> for DirectoryView {
    fn from(c: &LdapDirectoryConfig) -> Self {
        let (bind_mode, bind_dn_template, service_dn) = match &c.bind {
            LdapBind::Direct { template } => (BindModeName::Direct, Some(template.clone()), None),
            LdapBind::SearchThenBind { service_dn, .. } => {
                (BindModeName::SearchThenBind, None, Some(service_dn.clone()))
            }
        };
        DirectoryView {
            contact_center_id: c.contact_center_id.clone(),
            urls: c.urls.clone(),
            start_tls: c.start_tls,
            ca_certificate: c.ca_pem.clone(),
            bind_mode,
            bind_dn_template,
            bind_password_set: service_dn.is_some(),
            service_dn,
            base_dn: c.base_dn.clone(),
            user_filter: c.user_filter.clone(),
            group_filter: c.group_filter.clone(),
            attributes: c.attributes.clone(),
            group_authorities: c.group_authorities.clone(),
            timeout_ms: c.timeout_ms,
            pool_size: c.pool_size,
            active_directory: c.active_directory,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Attribute names; omitted ones default to employeeNumber, givenName, sn, mail.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributesInput {
    pub dbid: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// `{attribute, property}` pairs copied into the user's properties.
    #[schema(value_type = Option<Vec<Object>>)]
    pub properties: Option<Vec<LdapProperty>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryInput {
    /// `ldap://` or `ldaps://` URLs, tried in order.
    #[schema(example = json!(["ldaps://ldap.example.com:636"]))]
    #[schema(min_items = 1)]
    pub urls: Option<Vec<String>>,
    /// Upgrade `ldap://` with StartTLS. Default false.
    pub start_tls: Option<bool>,
    /// PEM of the CA that signed the server's certificate; absent: the system's roots.
    pub ca_certificate: Option<String>,
    pub bind_mode: Option<BindModeName>,
    /// `direct`: the user's DN (or AD UPN) with `{username}`.
    #[schema(example = "uid={username},ou=people,dc=example,dc=com")]
    pub bind_dn_template: Option<String>,
    /// `searchThenBind`: the service account that finds users.
    pub service_dn: Option<String>,
    /// `searchThenBind`: the service account's password. Write only; omitted
    /// on an update, the stored one is kept, unless `urls`, `caCertificate`
    /// or `serviceDn` change or `startTls` is turned off (400: resend it).
    #[schema(write_only)]
    pub bind_password: Option<String>,
    #[schema(example = "dc=example,dc=com")]
    pub base_dn: Option<String>,
    /// Finds the user; `{username}` is replaced. Default `(uid={username})`.
    pub user_filter: Option<String>,
    /// Finds the user's groups; `{dn}` is the user's DN. Default `(member={dn})`.
    pub group_filter: Option<String>,
    pub attributes: Option<AttributesInput>,
    /// `{group, authority}`: members of the group (DN or CN) get the authority.
    #[schema(value_type = Option<Vec<Object>>)]
    pub group_authorities: Option<Vec<LdapGroupAuthority>>,
    /// Bound on connecting and on each operation, 100-60000. Default 5000.
    #[schema(minimum = 100, maximum = 60000)]
    pub timeout_ms: Option<i64>,
    /// Idle service-account connections kept, 0-64. Default 4.
    #[schema(minimum = 0, maximum = 64)]
    pub pool_size: Option<i64>,
    /// Active Directory: passwords change through `unicodePwd`. Default false.
    pub active_directory: Option<bool>,
    /// The version read; a stale one is refused with 409.
    pub version: Option<i64>,
}

/// The first setting of `d` that changes where the service password goes
/// (the servers, the account) or how it is protected on the way (StartTLS
/// turned off, another trusted CA; turning StartTLS on needs no resend).
fn password_destination_change(
    stored: &LdapDirectoryConfig,
    d: &DirectoryInput,
    service_dn: &str,
) -> Option<&'static str> {
    let stored_dn = match &stored.bind {
        LdapBind::SearchThenBind { service_dn, .. } => Some(service_dn.as_str()),
        LdapBind::Direct { .. } => None,
    };
    let ca = d.ca_certificate.as_deref().filter(|p| !p.trim().is_empty());
    crate::web::admin_api::first_change(&[
        (
            "urls",
            d.urls.as_deref().unwrap_or_default() != stored.urls.as_slice(),
        ),
        (
            "startTls",
            stored.start_tls && !d.start_tls.unwrap_or(false),
        ),
        ("caCertificate", ca != stored.ca_pem.as_deref()),
        ("serviceDn", Some(service_dn) != stored_dn),
    ])
}

fn required(field: &str, value: Option<String>) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("'{field}' is required")))
}

/// How the directory binds: the template of a direct bind, or the service
/// account of a search-then-bind (its password kept only where it was).
fn bind_of(
    d: &DirectoryInput,
    existing: Option<&LdapDirectoryConfig>,
) -> Result<LdapBind, ApiError> {
    Ok(match d.bind_mode {
        None => {
            return Err(ApiError::bad_request(
                "'bindMode' is required: direct or searchThenBind",
            ))
        }
        Some(BindModeName::Direct) => {
            if d.service_dn.is_some() || d.bind_password.is_some() {
                return Err(ApiError::bad_request(
                    "'serviceDn' and 'bindPassword' are for bindMode searchThenBind",
                ));
            }
            LdapBind::Direct {
                template: required("bindDnTemplate", d.bind_dn_template.clone())?,
            }
        }
        Some(BindModeName::SearchThenBind) => {
            if d.bind_dn_template.is_some() {
                return Err(ApiError::bad_request(
                    "'bindDnTemplate' is for bindMode direct",
                ));
            }
            let kept = existing.and_then(|e| match &e.bind {
                LdapBind::SearchThenBind {
                    service_password, ..
                } => Some(service_password.clone()),
                LdapBind::Direct { .. } => None,
            });
            let service_dn = required("serviceDn", d.service_dn.clone())?;
            let service_password = match d.bind_password.clone() {
                Some(p) => p,
                None => {
                    let kept =
                        kept.ok_or_else(|| ApiError::bad_request("'bindPassword' is required"))?;
                    if let Some(e) = existing {
                        crate::web::admin_api::keep_secret_only_in_place(
                            "bindPassword",
                            password_destination_change(e, d, &service_dn),
                        )?;
                    }
                    kept
                }
            };
            LdapBind::SearchThenBind {
                service_dn,
                service_password,
            }
        }
    })
}

/// The record to store; `existing` lends its service password when none is
/// given. The input's shape is checked here, the record by the store's rules.
fn to_record(
    id: &str,
    d: DirectoryInput,
    existing: Option<&LdapDirectoryConfig>,
) -> Result<LdapDirectoryConfig, ApiError> {
    let bind = bind_of(&d, existing)?;
    let a = d.attributes.unwrap_or_default();
    let defaults = LdapAttributes::default();
    let record = LdapDirectoryConfig {
        contact_center_id: id.to_string(),
        urls: d.urls.unwrap_or_default(),
        start_tls: d.start_tls.unwrap_or(false),
        ca_pem: d.ca_certificate.filter(|p| !p.trim().is_empty()),
        bind,
        base_dn: required("baseDn", d.base_dn)?,
        user_filter: d.user_filter.unwrap_or_else(|| DEFAULT_USER_FILTER.into()),
        group_filter: d
            .group_filter
            .unwrap_or_else(|| DEFAULT_GROUP_FILTER.into()),
        attributes: LdapAttributes {
            dbid: a.dbid.unwrap_or(defaults.dbid),
            first_name: a.first_name.unwrap_or(defaults.first_name),
            last_name: a.last_name.unwrap_or(defaults.last_name),
            email: a.email.unwrap_or(defaults.email),
            properties: a.properties.unwrap_or_default(),
        },
        group_authorities: d.group_authorities.unwrap_or_default(),
        timeout_ms: d.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        pool_size: d.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
        active_directory: d.active_directory.unwrap_or(false),
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    check_ldap_directory(&record).map_err(ApiError::bad_request)?;
    Ok(record)
}

impl Singleton for LdapDirectoryConfig {
    type Input = DirectoryInput;
    type View = DirectoryView;
    const NAME: &'static str = "directory";
    const MISSING: &'static str = "LDAP directory";
    const CHANGED: &'static str = "the directory changed meanwhile; read it again and retry";
    const AUDIT: &'static str = "directory";

    fn input_version(input: &DirectoryInput) -> Option<i64> {
        input.version
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn set_version(&mut self, version: i64) {
        self.version = version;
    }
    fn view(&self, _: &Services) -> DirectoryView {
        DirectoryView::from(self)
    }
    async fn load(state: &Services, id: &str) -> Result<Option<Self>, StoreError> {
        state.db.get_ldap_directory(id).await
    }
    async fn build(
        state: &Services,
        id: &str,
        input: DirectoryInput,
        existing: Option<&Self>,
    ) -> Result<Self, ApiError> {
        let record = to_record(id, input, existing)?;
        for url in &record.urls {
            state
                .outbound
                .check_setting("urls", url)
                .await
                .map_err(ApiError::bad_request)?;
        }
        Ok(record)
    }
    async fn store(state: &Services, record: &Self) -> Result<Self, StoreError> {
        state.db.put_ldap_directory(record).await
    }
    async fn remove(state: &Services, id: &str) -> Result<(), StoreError> {
        state.db.delete_ldap_directory(id).await
    }
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/directory", tag = "directory",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The LDAP directory (without its password); `ETag` is its version", body = Envelope<DirectoryView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "No such contact center, or it has no directory", body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::get::<LdapDirectoryConfig>(&state, &caller, &id).await
}

#[utoipa::path(put, path = "/environment/v3/contact-centers/{id}/directory", tag = "directory",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<DirectoryInput>,
    responses(
        (status = 200, description = "Stored (created or replaced); `ETag` is its version", body = Envelope<DirectoryView>),
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
    sub_resource::put::<LdapDirectoryConfig>(&state, &caller, &headers, &id, &body).await
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/directory", tag = "directory",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Removed; sign-ins of an `auth: ldap` contact center answer 503 until a directory is stored again", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    sub_resource::delete::<LdapDirectoryConfig>(&state, &caller, &id).await
}
