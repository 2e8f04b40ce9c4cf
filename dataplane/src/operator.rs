//! The operator's HTTP Basic credentials (the original's `admin_username` /
//! `admin_password`), shared by the ops client registry and the Environment API.

use axum::http::HeaderMap;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::auth::client_auth::basic_credentials;
use crate::envelope::ApiError;
use crate::state::Services;

pub const CHALLENGE: &str = "Basic realm=\"tollgate-ops\"";

/// Ok when the request carries the operator's credentials; a failed attempt
/// is audited. Both parts are always checked, so timing reveals neither.
pub async fn require(state: &Services, headers: &HeaderMap) -> Result<(), ApiError> {
    let denied = || ApiError::unauthorized("operator credentials are required", CHALLENGE);
    let (user, password) = basic_credentials(headers)
        .map_err(|_| denied())?
        .ok_or_else(denied)?;
    let s = &state.settings;
    let user_ok = bool::from(user.as_bytes().ct_eq(s.ops_username.as_bytes()));
    let pass_ok = state
        .secrets
        .verify("ops", &s.ops_password_hash, &password)
        .await;
    if user_ok && pass_ok {
        Ok(())
    } else {
        state.audit("ops.auth_failed", None, None, Some(&user), None, json!({}));
        Err(denied())
    }
}
