//! The operator's HTTP Basic credentials (the original's `admin_username` /
//! `admin_password`), shared by the ops client registry and the Environment API.
//!
//! Guessing is throttled per source address: every check that is not a
//! known-good password is counted before it runs ([`lockout`]-style, one atomic
//! step) and runs the slow hash, so a good login never makes later wrong
//! guesses cheaper. Slow hashes are bounded (one per core); when all are busy
//! the answer is 503 with `Retry-After`.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use crate::web::envelope::ApiError;
use tollgate_core::oauth::client_auth::basic_credentials;
use tollgate_core::protection::lockout;
use tollgate_core::services::Services;

pub const CHALLENGE: &str = "Basic realm=\"tollgate-ops\"";

/// Seconds a caller should wait when every slow-hash permit is taken.
const SATURATED_RETRY_AFTER: u64 = 1;

/// Ok when the request carries the operator's credentials; a failed attempt
/// is audited. Both parts are always checked, so timing reveals neither.
pub async fn require(
    state: &Services,
    headers: &HeaderMap,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    let denied = || ApiError::unauthorized("operator credentials are required", CHALLENGE);
    let (user, password) = basic_credentials(headers)
        .map_err(|_| denied())?
        .ok_or_else(denied)?;
    let s = &state.settings;
    let b = &s.browser;
    let key = format!("lockout:ops:{}", ip.unwrap_or("unknown"));
    let threshold = i64::from(b.lockout_threshold);
    let locked = || {
        state.audit("ops.locked_out").subject(&user).ip(ip).record();
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed operator logins from this address; try again later",
        )
        .with_retry_after(b.lockout_duration.max(1) as u64)
    };
    // Locked first, even for the right password: otherwise 429 for wrong and
    // 200 for right would let a locked-out address go on guessing.
    let failures = state
        .ephemeral
        .get(&key)
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if failures >= threshold {
        return Err(locked());
    }
    let user_ok = bool::from(user.as_bytes().ct_eq(s.ops_username.as_bytes()));
    if user_ok && state.secrets.known("ops", &s.ops_password_hash, &password) {
        return Ok(());
    }
    let window = Duration::from_secs(b.lockout_duration.max(1) as u64);
    let Some(count) = state.ephemeral.incr_below(&key, threshold, window).await? else {
        return Err(locked());
    };
    let pass_ok = state
        .secrets
        .try_verify_slow("ops", &s.ops_password_hash, &password)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy checking passwords; try again shortly",
            )
            .with_retry_after(SATURATED_RETRY_AFTER)
        })?;
    if user_ok && pass_ok {
        state.ephemeral.delete(&key).await?;
        Ok(())
    } else {
        state
            .audit("ops.auth_failed")
            .subject(&user)
            .ip(ip)
            .record();
        tokio::time::sleep(lockout::delay(count)).await;
        Err(denied())
    }
}
