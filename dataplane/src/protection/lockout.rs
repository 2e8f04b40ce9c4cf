//! Brute-force lockout per user name (tenant + user, existing or not) and per
//! client IP, with a progressive delay. Fixed windows of `--lockout-duration`.

use std::time::Duration;

use crate::state::Services;

/// One client IP may fail this many times the per-user threshold (a contact
/// center behind one NAT address has many agents).
pub const IP_FACTOR: i64 = 10;

fn user_key(tenant: &str, user: &str) -> String {
    format!(
        "lockout:user:{}\\{}",
        tenant.to_lowercase(),
        user.to_lowercase()
    )
}

fn ip_key(ip: Option<&str>) -> String {
    format!("lockout:ip:{}", ip.unwrap_or("unknown"))
}

async fn count(state: &Services, key: &str) -> Result<i64, tollgate_store::StoreError> {
    Ok(state
        .ephemeral
        .get(key)
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// `Some(retry_after_seconds)` when the user name or the IP is locked.
pub async fn locked(
    state: &Services,
    tenant: &str,
    user: &str,
    ip: Option<&str>,
) -> Result<Option<u64>, tollgate_store::StoreError> {
    let b = &state.settings.browser;
    let threshold = i64::from(b.lockout_threshold);
    let user_locked = count(state, &user_key(tenant, user)).await? >= threshold;
    let ip_locked = count(state, &ip_key(ip)).await? >= threshold * IP_FACTOR;
    Ok((user_locked || ip_locked).then_some(b.lockout_duration.max(1) as u64))
}

/// Counts a failure, then waits a little longer for each one before it.
pub async fn failed(
    state: &Services,
    tenant: &str,
    user: &str,
    ip: Option<&str>,
) -> Result<(), tollgate_store::StoreError> {
    let window = Duration::from_secs(state.settings.browser.lockout_duration.max(1) as u64);
    let n = state
        .ephemeral
        .incr(&user_key(tenant, user), window)
        .await?;
    state.ephemeral.incr(&ip_key(ip), window).await?;
    tokio::time::sleep(delay(n)).await;
    Ok(())
}

/// Clears a user name's failures after a success.
pub async fn succeeded(
    state: &Services,
    tenant: &str,
    user: &str,
) -> Result<(), tollgate_store::StoreError> {
    state.ephemeral.delete(&user_key(tenant, user)).await?;
    Ok(())
}

/// 200 ms per earlier failure, at most 2 s.
pub fn delay(failures: i64) -> Duration {
    Duration::from_millis((failures.clamp(1, 11) as u64 - 1) * 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_is_capped() {
        assert_eq!(delay(1), Duration::ZERO);
        assert_eq!(delay(2), Duration::from_millis(200));
        assert_eq!(delay(100), Duration::from_secs(2));
    }
}
