//! OAuth errors as HTTP responses: RFC 6749 §5.2 JSON, no caching, and the
//! `WWW-Authenticate` challenge RFC 6750 §3 asks for.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use tollgate_core::oauth::error::OAuthError;

/// RFC 6749 §5.2's error body (also RFC 7009, RFC 7662 and RFC 6750 errors).
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorResponse {
    #[schema(example = "invalid_request")]
    pub error: String,
    pub error_description: String,
}

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

/// The `WWW-Authenticate` challenge of an OAuth error code, if it has one.
pub fn challenge(code: &str) -> Option<&'static str> {
    match code {
        "invalid_client" => Some("Basic realm=\"tollgate\""),
        "invalid_token" => Some("Bearer realm=\"tollgate\", error=\"invalid_token\""),
        "insufficient_scope" => Some("Bearer realm=\"tollgate\", error=\"insufficient_scope\""),
        "invalid_dpop_proof" => Some(
            "DPoP realm=\"tollgate\", error=\"invalid_dpop_proof\", algs=\"ES256 ES384 PS256 RS256 EdDSA\"",
        ),
        "use_dpop_nonce" => Some(
            "DPoP realm=\"tollgate\", error=\"use_dpop_nonce\", algs=\"ES256 ES384 PS256 RS256 EdDSA\"",
        ),
        _ => None,
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let OAuthResponse(e) = self;
        let body = OAuthErrorResponse {
            error: e.code.to_string(),
            error_description: e.description.into_owned(),
        };
        let mut res = (e.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(c) = challenge(e.code) {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if let Some(secs) = e.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
