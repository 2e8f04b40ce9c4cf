//! The signing keys under the operator's credentials: a rotation on request
//! (`POST /auth/v3/ops/signing-keys/rotate`), for a suspected leak or a
//! test of relying parties, outside the schedule of `--key-rotation-interval`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use tollgate_core::services::AppState;
use tollgate_core::tokens::keyring::KeyringError;
use tollgate_store::model::now;
use utoipa::ToSchema;

use crate::web::client_ip::ClientIp;
use crate::web::envelope::{self, ApiError, ApiResponseOf, ErrorResponse};
use crate::web::ops_auth::require as require_ops;

/// The key that signs from now on.
#[derive(Serialize, ToSchema)]
pub struct RotatedKey {
    /// Its `kid`, as JWKS and new tokens' headers name it.
    kid: String,
}

#[utoipa::path(post, path = "/auth/v3/ops/signing-keys/rotate", tag = "ops",
    security(("ops" = [])),
    responses(
        (status = 200, description = "A new key signs from now; the previous one stays in JWKS while its tokens live",
            body = ApiResponseOf<RotatedKey>),
        (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn rotate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let kid = state
        .keys
        .rotate_now(&state.db, now())
        .await
        .map_err(|e| match e {
            KeyringError::Store(e) => ApiError::from(e),
            KeyringError::Key(_) => ApiError::internal(),
        })?;
    state
        .audit("signing_key.rotated")
        .detail(serde_json::json!({"kid": kid}))
        .record();
    Ok(envelope::ok(RotatedKey { kid }))
}
