//! Fixed-window rate limits per client IP and minute.

use std::time::Duration;

use tollgate_store::model::Timestamp;

use crate::state::Services;

/// `Err(retry_after_seconds)` when the caller is over the limit for `scope`.
/// A store failure lets the request through (the endpoints fail on their own).
pub async fn check(
    state: &Services,
    scope: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<(), u64> {
    let minute = now.div_euclid(60);
    let key = format!("rate:{scope}:{}:{minute}", ip.unwrap_or("unknown"));
    match state.ephemeral.incr(&key, Duration::from_secs(61)).await {
        Ok(n) if n > i64::from(state.settings.browser.rate_limit_per_minute) => {
            Err((60 - now.rem_euclid(60)).max(1) as u64)
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit counter unavailable");
            Ok(())
        }
    }
}
