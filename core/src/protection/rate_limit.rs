//! Fixed-window rate limits per caller (a client IP, or an authenticated
//! client's id) and minute.

use std::time::Duration;

use tollgate_store::model::Timestamp;

use crate::services::Services;

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

/// A window and a second, so a counter outlives its minute.
const WINDOW: Duration = Duration::from_secs(61);

/// Counts a request of `who` (usually the client IP) in `scope`;
/// `Err(retry_after_seconds)` when it is over the limit. While the shared
/// store (Redis) is down the count goes on in this process, so the limit
/// holds per replica; when neither can count, the request is refused.
pub async fn check(
    state: &Services,
    scope: &str,
    who: Option<&str>,
    now: Timestamp,
) -> Result<(), u64> {
    let key = key(scope, who, now);
    let count = match state.ephemeral.incr(&key, WINDOW).await {
        Ok(n) => Ok(n),
        Err(e) => {
            tracing::debug!(error = %e, "shared rate-limit counter unavailable; counting in this process");
            state.local_counters.incr(&key, WINDOW).await
        }
    };
    match count {
        Ok(n) if n <= i64::from(state.settings.browser.rate_limit_per_minute) => Ok(()),
        _ => Err(retry_after(now)),
    }
}

/// [`check`] of a client IP at a browser endpoint, auditing a refusal.
pub async fn check_audited(state: &Services, scope: &str, ip: Option<&str>) -> Result<(), u64> {
    let refused = check(state, scope, ip, tollgate_store::model::now()).await;
    if refused.is_err() {
        let detail = serde_json::json!({"endpoint": scope});
        state.audit("rate_limited").ip(ip).detail(detail).record();
    }
    refused
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
