//! The Environment API's wire conventions: the envelope, the `data` wrapper,
//! versions and ETags, ids, and making a write visible at once.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Serialize;
use tollgate_store::model::now;
use utoipa::ToSchema;

use crate::web::envelope::ApiError;
use tollgate_core::services::Services;

pub const BASE: &str = "/environment/v3";

/// The success envelope, as documented in the OpenAPI description.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    pub status: OkStatus,
    pub data: T,
}

/// The envelope of a created resource: `path` is relative to the API base,
/// so `jq -r .path | cut -d/ -f3` gives the new id, as the original's scripts do.
#[derive(Serialize, ToSchema)]
pub struct Created<T> {
    pub status: OkStatus,
    pub data: T,
    #[schema(example = "/environments/0d6e5b43-0a6b-4d8c-9d39-1f1b7b8f4a10")]
    pub path: String,
}

#[derive(Serialize, ToSchema)]
pub struct OkStatus {
    /// Always 0 on success.
    pub code: i32,
}

/// An error: `code` is the HTTP status, `message` names the field and the rule.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub status: ErrorStatus,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorStatus {
    pub code: u16,
    pub message: String,
}

/// A success without data.
#[derive(Serialize, ToSchema)]
pub struct OkEnvelope {
    pub status: OkStatus,
}

/// The version a PUT expects: `version` in the body, else `If-Match: "<n>"`.
pub fn expected_version(
    headers: &HeaderMap,
    body_version: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    if body_version.is_some() {
        return Ok(body_version);
    }
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    text.trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::bad_request("If-Match must be a version, e.g. \"3\""))
}

/// 409 when the caller expected another version than the stored one.
pub fn check_version(expected: Option<i64>, current: i64, what: &str) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::conflict(format!(
            "version {v} is stale: the {what} is at version {current}; read it again and retry"
        ))),
        _ => Ok(()),
    }
}

/// `ETag: "<version>"`, for `If-Match` on the next write.
pub fn with_etag(mut res: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// Makes a write visible to this process's catalog at once (other replicas
/// follow within their next sync). A failure here is not the caller's: the
/// write stands and the background sync retries.
pub async fn propagate(state: &Services) {
    if let Err(e) = state.sync(now()).await {
        tracing::warn!(error = %e, "catalog refresh after a write failed; the background sync will retry");
    }
}

/// A stored write-only secret is only ever sent where it was given for: a
/// write that keeps it (the secret not resent) must not change where it
/// goes or how it is protected on the way. `changed` names the first such
/// field that differs from the stored record.
pub fn keep_secret_only_in_place(
    secret_field: &str,
    changed: Option<&str>,
) -> Result<(), ApiError> {
    match changed {
        Some(field) => Err(ApiError::bad_request(format!(
            "'{field}' changed: resend '{secret_field}', the stored one is kept only for the \
             destination it was given for"
        ))),
        None => Ok(()),
    }
}

/// The first of `(field, differs)` that differs.
pub fn first_change<'a>(fields: &[(&'a str, bool)]) -> Option<&'a str> {
    fields.iter().find(|(_, differs)| *differs).map(|(f, _)| *f)
}

/// Ids of environments, contact centers and users: they appear in paths.
pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "'{field}' must be 1-128 characters of letters, digits and . _ ~ : @ -"
        )))
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
