//! Fixed-window rate limits per caller (a client IP, or an authenticated
//! client's id) and minute.

use std::time::Duration;

use tollgate_store::model::Timestamp;

use crate::state::Services;

fn key(scope: &str, who: Option<&str>, now: Timestamp) -> String {
    format!(
        "rate:{scope}:{}:{}",
        who.unwrap_or("unknown"),
        now.div_euclid(60)
    )
}

fn retry_after(now: Timestamp) -> u64 {
    (60 - now.rem_euclid(60)).max(1) as u64
}

/// Counts a request of `who` (usually the client IP) in `scope`;
/// `Err(retry_after_seconds)` when it is over the limit. A store failure lets
/// the request through (the endpoints fail on their own).
pub async fn check(
    state: &Services,
    scope: &str,
    who: Option<&str>,
    now: Timestamp,
) -> Result<(), u64> {
    match state
        .ephemeral
        .incr(&key(scope, who, now), Duration::from_secs(61))
        .await
    {
        Ok(n) if n > i64::from(state.settings.browser.rate_limit_per_minute) => {
            Err(retry_after(now))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit counter unavailable");
            Ok(())
        }
    }
}

/// Like [`check`] without counting: refuses a caller already over the limit
/// before any work is done for it.
pub async fn over(
    state: &Services,
    scope: &str,
    who: Option<&str>,
    now: Timestamp,
) -> Result<(), u64> {
    let count = state
        .ephemeral
        .get(&key(scope, who, now))
        .await
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if count >= i64::from(state.settings.browser.rate_limit_per_minute) {
        Err(retry_after(now))
    } else {
        Ok(())
    }
}
