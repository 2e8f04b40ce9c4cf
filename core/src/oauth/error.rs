//! OAuth errors in RFC 6749 §5.2 form (rendered once, by
//! `crate::web::oauth_error`).

use std::borrow::Cow;

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: Cow<'static, str>,
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        OAuthError {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    /// An authorization request refused with `code` (RFC 6749 §4.1.2.1),
    /// answered directly rather than at a redirect URI (RFC 9126 §2.3).
    pub fn refused_request(code: &'static str, d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, d)
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
    /// RFC 8693 §2.2.2 / RFC 8707: the requested audience or resource.
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
    }
    /// RFC 9449 §5: a DPoP proof missing where required, or not valid; at a
    /// resource it is answered 401 instead (§7.1).
    pub fn invalid_dpop_proof(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", d)
    }
    /// RFC 9449 §8: the proof lacks a current server nonce; the answer
    /// carries one (`DPoP-Nonce`). A resource answers it 401 (§9).
    pub fn use_dpop_nonce() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "use_dpop_nonce",
            "the DPoP proof must carry the nonce of the DPoP-Nonce header",
        )
    }
    pub fn insufficient_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", d)
    }
    /// A known endpoint called with a method it does not take.
    pub fn method_not_allowed(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", d)
    }
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
    /// A caller over its rate limit (429 with `Retry-After`).
    pub fn too_many_requests(retry_after: u64) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            description: "too many requests".into(),
            ..Self::temporarily_unavailable(retry_after)
        }
    }
    pub fn temporarily_unavailable(retry_after: u64) -> Self {
        OAuthError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "a backing service is unavailable; retry later",
            )
        }
    }
}

impl From<tollgate_store::StoreError> for OAuthError {
    fn from(e: tollgate_store::StoreError) -> Self {
        // A failing-fast breaker was logged when it opened.
        if !matches!(e, tollgate_store::StoreError::Unavailable(_)) {
            tracing::error!(error = %e, "store failure");
        }
        OAuthError::temporarily_unavailable(2)
    }
}
