//! `Authorization: Bearer` (RFC 6750 §2.1): the caller's access token, verified.

use std::sync::Arc;

use axum::http::{header, HeaderMap};

use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::Services;
use tollgate_core::tokens::AccessClaims;

/// Reads `Authorization: Bearer` and verifies the token.
pub fn bearer(state: &Services, headers: &HeaderMap) -> Result<Arc<AccessClaims>, OAuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| OAuthError::invalid_token("a bearer token is required"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(OAuthError::invalid_token("a bearer token is required")),
    };
    state
        .verify_access_token(token)
        .map_err(|e| OAuthError::invalid_token(e.to_string()))
}
