//! The original's JSON envelope for non-OAuth endpoints:
//! `{"status":{"code":0},"data":…}`; errors carry the HTTP status as `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

pub fn ok<T: Serialize>(data: T) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"status": {"code": 0}, "data": data})),
    )
        .into_response()
}

pub fn ok_empty() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": {"code": 0}}))).into_response()
}

/// A created resource, with its path as the original returns it.
pub fn created<T: Serialize>(data: T, path: String) -> Response {
    (
        StatusCode::CREATED,
        axum::Json(json!({"status": {"code": 0}, "data": data, "path": path})),
    )
        .into_response()
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `WWW-Authenticate` on 401.
    pub challenge: Option<&'static str>,
    /// Sent as `Retry-After` (seconds) on 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
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
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            challenge: Some(challenge),
            retry_after: None,
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": {"code": self.status.as_u16(), "message": self.message}});
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
