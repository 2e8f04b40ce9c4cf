//! `/environment/v3/contact-centers/{id}/users`: users of the built-in
//! directory. Passwords are stored as argon2id hashes and never returned; a
//! password the server generates is shown once and must be changed at the
//! first sign-in. Disabling, deleting or resetting a user ends their sessions.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tollgate_store::model::{now, AuthScheme, ContactCenter, User, UserQuery};
use tollgate_store::StoreError;
use utoipa::{IntoParams, ToSchema};

use crate::web::admin_api::access::Caller;
use crate::web::admin_api::contact_centers::visible;
use crate::web::admin_api::{
    check_id, check_version, expected_version, lenient_bool, parse_data, with_etag, Created, Data,
    Envelope, ErrorEnvelope, OkEnvelope,
};
use crate::web::envelope::{self, ApiError};
use tollgate_core::directory::password_policy::PolicyViolation;
use tollgate_core::oauth::claims;
use tollgate_core::services::{AppState, Services};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub user_name: String,
    pub dbid: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub authorities: Vec<String>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub enabled: bool,
    /// The user must change their password at the next sign-in.
    pub must_change_password: bool,
    pub version: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            user_name: u.username.clone(),
            dbid: u.dbid,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            authorities: u.authorities.clone(),
            properties: u.properties.clone(),
            enabled: u.enabled,
            must_change_password: u.must_change_password,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A user with the password the server generated, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserWithPassword {
    #[serde(flatten)]
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<UserView>,
    /// How many users match the search, over all pages.
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// Fields to set. On create `userName` is required and a missing `password`
/// is generated (returned once as `temporaryPassword`). On update only the
/// names, email, authorities, properties and enabled change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInput {
    /// Create only: the id to use (default: a new UUID).
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._~:@-]+$")]
    pub id: Option<String>,
    /// Create only; unique in the contact center ignoring case.
    pub user_name: Option<String>,
    /// Create only; at least the configured minimum (`--password-min-length`, default 8).
    #[schema(write_only)]
    pub password: Option<String>,
    /// Create only; default: the next free number. Only ops credentials or
    /// an unbound management client may choose it (403 for a client bound to
    /// contact centers).
    pub dbid: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub authorities: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    /// Default true. Disabling ends the user's sessions.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<bool>,
    /// Update only: the version read; a stale one is refused with 409.
    pub version: Option<i64>,
    #[schema(ignore)]
    #[serde(default)]
    pub must_change_password: Option<Value>,
    #[schema(ignore)]
    #[serde(default)]
    pub created_at: Option<Value>,
    #[schema(ignore)]
    #[serde(default)]
    pub updated_at: Option<Value>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordInput {
    /// The new password (at least the configured minimum, default 8
    /// characters, and none of the user's last `--password-history`);
    /// absent: a temporary one is generated and returned once.
    #[schema(write_only)]
    pub password: Option<String>,
    /// Default: false for a given password, true for a generated one.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub must_change_password: Option<bool>,
}

/// `{"data": ResetPasswordInput}`; named so the document can mark it optional.
#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordBody {
    pub data: ResetPasswordInput,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Default 0.
    pub offset: Option<i64>,
    /// 1-1000, default 100.
    pub limit: Option<i64>,
    /// Case-insensitive substring of the user name, names or email.
    pub search: Option<String>,
}

/// The configured rules, in the API's words.
fn check_password(state: &Services, password: &str) -> Result<(), ApiError> {
    state
        .directories
        .builtin
        .policy()
        .check_form(password)
        .map_err(|v| ApiError::bad_request(format!("'password': {v}")))
}

/// `tenant\user` splits at the first backslash, so a name must not hold one.
fn check_user_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    if n == 0
        || n > 255
        || name.contains('\\')
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(ApiError::bad_request(
            "'userName' must be 1-255 characters without backslashes, control characters or surrounding spaces",
        ));
    }
    Ok(())
}

fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > 255 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "'{field}' must be at most 255 characters, without control characters"
        )));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), ApiError> {
    check_text("email", email)?;
    let ok = email.is_empty()
        || email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "'email' must look like name@domain (or be empty)",
        ))
    }
}

/// Applies the fields every write may change.
fn apply(u: &mut User, d: &UserInput) -> Result<(), ApiError> {
    if let Some(v) = &d.first_name {
        check_text("firstName", v)?;
        u.first_name = v.clone();
    }
    if let Some(v) = &d.last_name {
        check_text("lastName", v)?;
        u.last_name = v.clone();
    }
    if let Some(v) = &d.email {
        check_email(v)?;
        u.email = v.clone();
    }
    if let Some(v) = &d.authorities {
        if let Some(bad) = v
            .iter()
            .find(|a| a.is_empty() || a.len() > 128 || a.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "authorities: '{bad}' must be 1-128 characters, without control characters"
            )));
        }
        u.authorities = v.clone();
    }
    if let Some(v) = &d.properties {
        claims::check_properties(v).map_err(ApiError::bad_request)?;
        u.properties = v.clone();
    }
    if let Some(v) = d.enabled {
        u.enabled = v;
    }
    Ok(())
}

/// Only the built-in directory's users live here: those of `auth: builtin`
/// and of single-sign-on contact centers (matched there when no LDAP
/// directory is stored for them, see `sso::resolve_user`).
fn require_builtin(cc: &ContactCenter) -> Result<(), ApiError> {
    if matches!(
        cc.auth,
        AuthScheme::Builtin | AuthScheme::Saml | AuthScheme::Oidc
    ) {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "contact center '{}' uses the '{}' directory: its users are managed there, not here",
            cc.id,
            cc.auth.as_str()
        )))
    }
}

async fn builtin_cc(
    state: &Services,
    caller: &Caller,
    id: &str,
) -> Result<ContactCenter, ApiError> {
    let cc = visible(state, caller, id).await?;
    require_builtin(&cc)?;
    Ok(cc)
}

async fn find(state: &Services, cc: &str, user_id: &str) -> Result<User, ApiError> {
    state.db.get_user(cc, user_id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "user '{user_id}' not found in contact center '{cc}'"
        ))
    })
}

async fn hash(state: &Services, password: String) -> Result<String, ApiError> {
    let work = move || tollgate_core::secrets::hash_secret(&password).ok();
    tollgate_core::secrets::run_slow(&state.secrets.slow_work(), work)
        .await
        .flatten()
        .ok_or_else(ApiError::internal)
}

fn temporary_password() -> String {
    tollgate_core::tokens::random_token()
        .chars()
        .take(20)
        .collect()
}

/// Ends the user's access tokens, refresh families and browser sessions.
async fn end_access_tokens(state: &Services, u: &User) -> Result<(), ApiError> {
    Ok(state
        .end_user(&u.contact_center_id, &u.username, now())
        .await?)
}

fn user_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { detail, .. } => {
            ApiError::conflict(format!("user {detail} already exists"))
        }
        other => other.into(),
    }
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/users", tag = "users",
    params(("id" = String, Path), ListQuery),
    responses(
        (status = 200, description = "One page, ordered by user name", body = Envelope<UserPage>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "The contact center's directory is not builtin", body = ErrorEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let number = |key: &str, default: i64, min: i64, max: i64| -> Result<i64, ApiError> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'{key}' must be a whole number from {min} to {max}"
                    ))
                }),
        }
    };
    let offset = number("offset", 0, 0, i64::from(i32::MAX))?;
    let limit = number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    builtin_cc(&state, &caller, &id).await?;
    let query = UserQuery {
        search: q.get("search").cloned(),
        offset,
        limit,
    };
    let (users, total) = state.db.list_users(&id, &query).await?;
    Ok(envelope::ok(UserPage {
        users: users.iter().map(UserView::from).collect(),
        total,
        offset,
        limit,
    }))
}

#[utoipa::path(get, path = "/environment/v3/contact-centers/{id}/users/{user_id}", tag = "users",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, body = Envelope<UserView>),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    builtin_cc(&state, &caller, &id).await?;
    let u = find(&state, &id, &user_id).await?;
    Ok(with_etag(envelope::ok(UserView::from(&u)), u.version))
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/users", tag = "users",
    params(("id" = String, Path)),
    request_body = Data<UserInput>,
    responses(
        (status = 201, description = "Created; `path` is /contact-centers/{id}/users/{userId}; `temporaryPassword` only when generated", body = Created<UserWithPassword>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "The user name, id or dbid is taken, or the directory is not builtin", body = ErrorEnvelope)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: UserInput = parse_data(&body)?;
    builtin_cc(&state, &caller, &id).await?;
    if d.version.is_some() {
        return Err(ApiError::bad_request(
            "'version' is set by the server on create",
        ));
    }
    let mut u = new_user(&caller, &id, &d)?;
    let (password, generated) = match &d.password {
        Some(p) => {
            check_password(&state, p)?;
            (p.clone(), None)
        }
        None => {
            let p = temporary_password();
            (p.clone(), Some(p))
        }
    };
    // A generated password is temporary: the user picks their own at sign-in.
    u.must_change_password = generated.is_some();
    apply(&mut u, &d)?;
    u.password_hash = hash(&state, password).await?;
    let stored = state.db.create_user(&u).await.map_err(user_error)?;
    state
        .audit("user.created")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"user": stored.username}))
        .record();
    Ok(with_etag(
        envelope::created(
            UserWithPassword {
                user: UserView::from(&stored),
                temporary_password: generated,
            },
            format!("/contact-centers/{id}/users/{}", u.id),
        ),
        stored.version,
    ))
}

/// The new user of contact center `cc_id` as far as its identity goes
/// (user name, id, dbid), enabled, without a password yet.
fn new_user(caller: &Caller, cc_id: &str, d: &UserInput) -> Result<User, ApiError> {
    let user_name = d
        .user_name
        .clone()
        .ok_or_else(|| ApiError::bad_request("'userName' is required"))?;
    check_user_name(&user_name)?;
    let user_id = match &d.id {
        Some(v) => {
            check_id("id", v)?;
            v.clone()
        }
        None => crate::web::admin_api::new_id(),
    };
    if d.dbid.is_some() {
        // Downstream services know a person by dbid: a tenant's own client
        // must not claim a number that may be another tenant's person.
        caller.require_unbound("choose a user's dbid (the server assigns it)")?;
    }
    let dbid = match d.dbid {
        None => 0,
        Some(n) if n > 0 => n,
        Some(_) => {
            return Err(ApiError::bad_request(
                "'dbid' must be a positive whole number",
            ))
        }
    };
    let t = now();
    Ok(User {
        id: user_id,
        contact_center_id: cc_id.to_string(),
        username: user_name,
        password_hash: String::new(),
        dbid,
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        authorities: vec![],
        properties: Map::new(),
        enabled: true,
        must_change_password: false,
        version: 1,
        created_at: t,
        updated_at: t,
    })
}

#[utoipa::path(put, path = "/environment/v3/contact-centers/{id}/users/{user_id}", tag = "users",
    params(("id" = String, Path), ("user_id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\" (or `version` in the body)")),
    request_body = Data<UserInput>,
    responses(
        (status = 200, body = Envelope<UserView>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Stale version, or the directory is not builtin", body = ErrorEnvelope)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: UserInput = parse_data(&body)?;
    if d.password.is_some() {
        return Err(ApiError::bad_request(format!(
            "'password' cannot be changed here: POST /environment/v3/contact-centers/{id}/users/{user_id}/reset-password"
        )));
    }
    let expected = expected_version(&headers, d.version)?;
    builtin_cc(&state, &caller, &id).await?;
    let mut u = find(&state, &id, &user_id).await?;
    check_version(expected, u.version, "user")?;
    if d.id.as_ref().is_some_and(|v| *v != u.id) {
        return Err(ApiError::bad_request("'id' cannot be changed"));
    }
    if d.user_name.as_ref().is_some_and(|v| *v != u.username) {
        return Err(ApiError::bad_request("'userName' cannot be changed"));
    }
    if d.dbid.is_some_and(|v| v != u.dbid) {
        return Err(ApiError::bad_request("'dbid' cannot be changed"));
    }
    let was_enabled = u.enabled;
    apply(&mut u, &d)?;
    let stored = state.db.update_user(&u).await.map_err(user_error)?;
    // The built-in directory remembers users for the refresh grant.
    crate::web::admin_api::propagate(&state).await;
    if was_enabled && !stored.enabled {
        end_access_tokens(&state, &stored).await?;
    }
    state
        .audit("user.updated")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"user": stored.username, "enabled": stored.enabled}))
        .record();
    Ok(with_etag(
        envelope::ok(UserView::from(&stored)),
        stored.version,
    ))
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/users/{user_id}", tag = "users",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "Deleted; the user's tokens are revoked", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    builtin_cc(&state, &caller, &id).await?;
    let u = find(&state, &id, &user_id).await?;
    state.db.delete_user(&id, &user_id).await?;
    // The built-in directory remembers users for the refresh grant.
    crate::web::admin_api::propagate(&state).await;
    end_access_tokens(&state, &u).await?;
    state
        .audit("user.deleted")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"user": u.username}))
        .record();
    Ok(envelope::ok_empty())
}

#[utoipa::path(delete, path = "/environment/v3/contact-centers/{id}/users/{user_id}/factors", tag = "users",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 200, description = "The user's second factors (TOTP key and recovery codes, passkeys) are removed, if they had any, and their sessions are ended: they enrol again at their next sign-in when the contact center requires a second factor", body = OkEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "Unknown contact center or user, or outside the client's contactCenterIds", body = ErrorEnvelope),
        (status = 409, description = "The contact center's users are not built-in", body = ErrorEnvelope)))]
pub async fn reset_factors(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    builtin_cc(&state, &caller, &id).await?;
    let u = find(&state, &id, &user_id).await?;
    let had = state.db.delete_factors(&id, &user_id).await?;
    // Whoever holds the lost authenticator is signed out too.
    end_access_tokens(&state, &u).await?;
    state
        .audit("user.factors_reset")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"user": u.username, "had_factor": had}))
        .record();
    Ok(envelope::ok_empty())
}

#[utoipa::path(post, path = "/environment/v3/contact-centers/{id}/users/{user_id}/reset-password", tag = "users",
    params(("id" = String, Path), ("user_id" = String, Path)),
    request_body(content = Option<ResetPasswordBody>, description = "Optional: without a body (or a password) a temporary password is generated"),
    responses(
        (status = 200, description = "Reset; the user's sessions are ended; `temporaryPassword` only when generated", body = Envelope<UserWithPassword>),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let d: ResetPasswordInput = if body.iter().all(u8::is_ascii_whitespace) {
        ResetPasswordInput::default()
    } else {
        parse_data(&body)?
    };
    builtin_cc(&state, &caller, &id).await?;
    let mut u = find(&state, &id, &user_id).await?;
    let (password, generated) = match d.password {
        Some(p) => {
            check_password(&state, &p)?;
            let policy = state.directories.builtin.policy();
            if state.directories.builtin.reused(&u, &p).await? {
                return Err(ApiError::bad_request(format!(
                    "'password': {}",
                    PolicyViolation::Reused(policy.history)
                )));
            }
            (p, None)
        }
        None => {
            let p = temporary_password();
            (p.clone(), Some(p))
        }
    };
    u.password_hash = hash(&state, password).await?;
    u.must_change_password = d.must_change_password.unwrap_or(generated.is_some());
    let stored = state.db.update_user(&u).await.map_err(user_error)?;
    // The built-in directory remembers users for the refresh grant.
    crate::web::admin_api::propagate(&state).await;
    // Whoever held the old password is signed out everywhere.
    end_access_tokens(&state, &stored).await?;
    state
        .audit("user.password_reset")
        .contact_center(&id)
        .subject(caller.name())
        .detail(json!({"user": stored.username, "generated": generated.is_some()}))
        .record();
    Ok(with_etag(
        envelope::ok(UserWithPassword {
            user: UserView::from(&stored),
            temporary_password: generated,
        }),
        stored.version,
    ))
}
