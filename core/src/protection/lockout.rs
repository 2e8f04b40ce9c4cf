//! Brute-force lockout with a progressive delay. Fixed windows of
//! `--lockout-duration`.
//!
//! Every attempt is admitted or refused before the directory sees it, each
//! counter in one atomic count-and-decide step ([`Ephemeral::incr_below`]), so
//! parallel attempts cannot all pass a check made before any of them counted.
//! Three counters, tried in this order:
//! - the user name from this client IP: `threshold` attempts. An attacker at
//!   one address locks the name there, not for the user elsewhere;
//! - the user name from anywhere: `threshold × USER_FACTOR`, which bounds
//!   guessing spread over many addresses. Attempts refused by the first
//!   counter never reach it, so one address adds at most `threshold`;
//! - the client IP for any name: `threshold × IP_FACTOR` (one password tried
//!   against many names). A successful sign-in gives its slot back, so this
//!   counts failures (and attempts in flight): a busy NAT address full of
//!   agents who know their passwords is never locked.
//!
//! While the shared store (Redis) is down, each process counts in its own
//! memory: the lockout then holds per replica instead of turning every
//! sign-in away.
//!
//! User names are keyed in their folded form ([`crate::directory::names`]), so
//! variants of one name share their counters.
//!
//! [`Ephemeral::incr_below`]: tollgate_store::Ephemeral::incr_below

use std::time::Duration;

use tollgate_store::{Ephemeral, StoreError};

use crate::directory::names;
use crate::services::Services;

/// One client IP may try this many times the per-user threshold (a contact
/// center behind one NAT address has many agents).
pub const IP_FACTOR: i64 = 10;
/// Attempts on one user name from all addresses together, in per-user thresholds.
pub const USER_FACTOR: i64 = 10;

/// An admitted attempt: report its outcome with [`failed`] or [`succeeded`].
#[derive(Debug, Clone)]
pub struct Attempt {
    user_ip_key: String,
    user_key: String,
    ip_key: String,
    /// Attempts of this name from this address in the window, this one included.
    count: i64,
    /// Counted in this process's memory (the shared store was down).
    local: bool,
}

#[derive(Debug)]
pub enum Admission {
    Admitted(Attempt),
    /// Refused without asking the directory; retry after this many seconds.
    Locked(u64),
}

fn user_key(tenant: &str, user: &str) -> String {
    format!(
        "lockout:user:{}\\{}",
        tenant.to_lowercase(),
        names::fold(user)
    )
}

fn ip_part(ip: Option<&str>) -> &str {
    ip.unwrap_or("unknown")
}

/// Counts an attempt of `user` (of `tenant`) from `ip`, or refuses it.
pub async fn admit(
    state: &Services,
    tenant: &str,
    user: &str,
    ip: Option<&str>,
) -> Result<Admission, StoreError> {
    let user_key = user_key(tenant, user);
    let attempt = Attempt {
        user_ip_key: format!("{user_key}@{}", ip_part(ip)),
        user_key,
        ip_key: format!("lockout:ip:{}", ip_part(ip)),
        count: 0,
        local: false,
    };
    match count(state, &state.ephemeral, attempt.clone()).await {
        Err(e) => {
            tracing::debug!(error = %e, "shared lockout counters unavailable; counting in this process");
            let local = Attempt {
                local: true,
                ..attempt
            };
            count(state, &state.local_counters, local).await
        }
        admission => admission,
    }
}

/// The three counters of [`admit`], in `store`.
async fn count(
    state: &Services,
    store: &Ephemeral,
    mut attempt: Attempt,
) -> Result<Admission, StoreError> {
    let b = &state.settings.browser;
    let threshold = i64::from(b.lockout_threshold);
    let window = Duration::from_secs(b.lockout_duration.max(1) as u64);
    let locked = Admission::Locked(b.lockout_duration.max(1) as u64);
    let Some(n) = store
        .incr_below(&attempt.user_ip_key, threshold, window)
        .await?
    else {
        return Ok(locked);
    };
    attempt.count = n;
    if store
        .incr_below(&attempt.user_key, threshold * USER_FACTOR, window)
        .await?
        .is_none()
        || store
            .incr_below(&attempt.ip_key, threshold * IP_FACTOR, window)
            .await?
            .is_none()
    {
        return Ok(locked);
    }
    Ok(Admission::Admitted(attempt))
}

/// The attempt was a wrong password: it stays counted, and the answer waits a
/// little longer for each attempt before it.
pub async fn failed(attempt: &Attempt) {
    tokio::time::sleep(delay(attempt.count)).await;
}

/// The password was right: the name's failures are forgiven (those of other
/// addresses against this name too, as a password change would), and the
/// address gets this attempt's slot back (its other failures stay counted).
pub async fn succeeded(state: &Services, attempt: &Attempt) -> Result<(), StoreError> {
    let store = counted_in(state, attempt);
    store.delete(&attempt.user_ip_key).await?;
    store.delete(&attempt.user_key).await?;
    store.release(&attempt.ip_key).await?;
    Ok(())
}

/// The directory did not answer (an outage): the attempt tested no password,
/// so each counter gets its slot back. Users who keep trying through an
/// outage are not locked out by it.
pub async fn unanswered(state: &Services, attempt: &Attempt) -> Result<(), StoreError> {
    let store = counted_in(state, attempt);
    for key in [&attempt.user_ip_key, &attempt.user_key, &attempt.ip_key] {
        store.release(key).await?;
    }
    Ok(())
}

fn counted_in<'a>(state: &'a Services, attempt: &Attempt) -> &'a Ephemeral {
    if attempt.local {
        &state.local_counters
    } else {
        &state.ephemeral
    }
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

    #[test]
    fn name_variants_share_a_key() {
        let k = user_key("CC1", "agent");
        for v in [
            " agent",
            "agent  ",
            "AGENT",
            "ａｇｅｎｔ",
            "\u{3000}Agent\t",
        ] {
            assert_eq!(user_key("cc1", v), k, "{v:?}");
        }
        assert_ne!(user_key("cc1", "agent2"), k);
    }
}
