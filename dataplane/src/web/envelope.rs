//! The original's JSON envelope for non-OAuth endpoints, with the models'
//! names (ApiResponse, ErrorResponse, ResponseStatus):
//! `{"status":{"code":0},"data":…}`. An error's `status.code` is its HTTP
//! status, `status.message` says what went wrong and `status.detail`, when
//! present, is an object (the OAuth error code of a refused token).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use tollgate_core::oauth::error::OAuthError;

/// The status of every enveloped answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseStatus {
    /// 0 on success; on an error, the HTTP status of the answer.
    #[schema(format = Int32, minimum = 0)]
    pub code: i32,
    /// What went wrong (errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub message: Option<String>,
    /// Machine-readable detail of an error, e.g. `{"error":"invalid_token"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub detail: Option<Value>,
}

impl ResponseStatus {
    const OK: ResponseStatus = ResponseStatus {
        code: 0,
        message: None,
        detail: None,
    };
}

/// A success without a typed payload (the original's ApiResponse).
#[derive(Serialize, ToSchema)]
pub struct ApiResponse {
    pub status: ResponseStatus,
    /// The created resource's path, relative to the API base.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub path: Option<String>,
}

/// A success carrying `data` (the original's ApiResponseOf… models).
#[derive(Serialize, ToSchema)]
pub struct ApiResponseOf<T> {
    pub status: ResponseStatus,
    pub data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub path: Option<String>,
}

/// Every error of an enveloped endpoint.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub status: ResponseStatus,
}

pub fn ok<T: Serialize>(data: T) -> Response {
    (
        StatusCode::OK,
        axum::Json(ApiResponseOf {
            status: ResponseStatus::OK,
            data,
            path: None,
        }),
    )
        .into_response()
}

pub fn ok_empty() -> Response {
    (
        StatusCode::OK,
        axum::Json(ApiResponse {
            status: ResponseStatus::OK,
            path: None,
        }),
    )
        .into_response()
}

/// A created resource, with its path as the original returns it.
pub fn created<T: Serialize>(data: T, path: String) -> Response {
    (
        StatusCode::CREATED,
        axum::Json(ApiResponseOf {
            status: ResponseStatus::OK,
            data,
            path: Some(path),
        }),
    )
        .into_response()
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `status.detail`.
    pub detail: Option<Value>,
    /// Sent as `WWW-Authenticate` on 401 (and on a bearer token's 403).
    pub challenge: Option<&'static str>,
    /// Sent as `Retry-After` (seconds) on 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            detail: None,
            challenge: None,
            retry_after: None,
        }
    }
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn unauthorized(message: impl Into<String>, challenge: &'static str) -> Self {
        ApiError {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<tollgate_store::StoreError> for ApiError {
    fn from(e: tollgate_store::StoreError) -> Self {
        use tollgate_store::StoreError as E;
        match e {
            E::NotFound { entity } => ApiError::not_found(format!("{entity} not found")),
            E::Duplicate { .. } | E::VersionConflict { .. } | E::InUse { .. } => {
                ApiError::conflict(e.to_string())
            }
            E::MissingReference { .. } => ApiError::bad_request(e.to_string()),
            other => {
                // A failing-fast breaker was logged when it opened.
                if !matches!(other, E::Unavailable(_)) {
                    tracing::error!(error = %other, "store failure");
                }
                ApiError {
                    retry_after: Some(2),
                    ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
                }
            }
        }
    }
}

/// A refused bearer token or request on an enveloped endpoint: the OAuth
/// error code goes to `status.detail.error`, and the RFC 6750 challenge stays.
impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError {
            detail: Some(json!({"error": e.code})),
            challenge: crate::web::oauth_error::challenge(e.code),
            retry_after: e.retry_after,
            ..Self::new(e.status, e.description)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            status: ResponseStatus {
                code: i32::from(self.status.as_u16()),
                message: Some(self.message),
                detail: self.detail,
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(c) = self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}
