//! OAuth errors as HTTP responses: RFC 6749 §5.2 JSON, no caching, and the
//! `WWW-Authenticate` challenge RFC 6750 §3 asks for.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use tollgate_core::oauth::error::OAuthError;

/// An [`OAuthError`] on its way out as a response (a wrapper: the error type
/// lives in the core crate, which knows no HTTP framework).
#[derive(Debug)]
pub struct OAuthResponse(pub OAuthError);

impl From<OAuthError> for OAuthResponse {
    fn from(e: OAuthError) -> Self {
        OAuthResponse(e)
    }
}

impl From<tollgate_store::StoreError> for OAuthResponse {
    fn from(e: tollgate_store::StoreError) -> Self {
        OAuthResponse(e.into())
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let OAuthResponse(e) = self;
        let body = json!({"error": e.code, "error_description": e.description});
        let mut res = (e.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if e.code == "invalid_client" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tollgate\""),
            );
        } else if e.code == "invalid_token" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tollgate\", error=\"invalid_token\""),
            );
        } else if e.code == "insufficient_scope" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tollgate\", error=\"insufficient_scope\""),
            );
        }
        if let Some(secs) = e.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
