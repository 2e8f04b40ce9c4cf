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
//! Each counter holds failures and attempts in flight; a companion counter
//! (`…:failed`) holds the failures alone. A full counter whose failures are
//! below its limit is a crowd, not an attack (a service signing one user in
//! from many workers, a shift starting behind one NAT address): the attempt
//! waits for a slot, up to [`CROWD_WAIT`], instead of being refused. An
//! attempt refused or waiting holds no slot, since it tested no password.
//!
//! While the shared store (Redis) is down, each process counts in its own
//! memory: the lockout then holds per replica instead of turning every
//! sign-in away. Failures counted apart stay in their window and take
//! their share of every shared limit once the store is back, so guesses
//! made during an outage (or a failover that lost the newest counts) are
//! never forgotten.
//!
//! User names are keyed in their folded form ([`crate::directory::names`]), so
//! variants of one name share their counters.
//!
//! [`Ephemeral::incr_below`]: tollgate_store::Ephemeral::incr_below

use std::time::Duration;

use tokio::time::Instant;
use tollgate_store::{Ephemeral, StoreError};

use crate::directory::names;
use crate::services::Services;

/// One client IP may try this many times the per-user threshold (a contact
/// center behind one NAT address has many agents).
pub const IP_FACTOR: i64 = 10;
/// Attempts on one user name from all addresses together, in per-user thresholds.
pub const USER_FACTOR: i64 = 10;
/// How long an attempt waits for a slot held by attempts in flight.
pub const CROWD_WAIT: Duration = Duration::from_secs(5);
/// The first pause between tries for a slot; it doubles up to [`CROWD_POLL_MAX`].
const CROWD_POLL: Duration = Duration::from_millis(5);
const CROWD_POLL_MAX: Duration = Duration::from_millis(100);

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

/// What one try at the three counters found.
enum Gate {
    Admitted,
    /// This counter (key, limit) was full; no slot is held.
    Full(String, i64),
}

fn user_key(tenant: &str, user: &str) -> String {
    format!(
        "lockout:user:{}\\{}",
        tenant.to_lowercase(),
        names::fold(user)
    )
}

fn failed_key(key: &str) -> String {
    format!("{key}:failed")
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

/// The three counters of [`admit`], in `store`: admitted, locked, or (a
/// crowd in flight) tried again until [`CROWD_WAIT`] is over.
async fn count(
    state: &Services,
    store: &Ephemeral,
    mut attempt: Attempt,
) -> Result<Admission, StoreError> {
    let duration = state.settings.browser.lockout_duration.max(1) as u64;
    let deadline = Instant::now() + CROWD_WAIT;
    let mut pause = CROWD_POLL;
    loop {
        let (key, limit) = match try_gates(state, store, &mut attempt).await? {
            Gate::Admitted => return Ok(Admission::Admitted(attempt)),
            Gate::Full(key, limit) => (key, limit),
        };
        if failures(store, &key).await? >= limit || Instant::now() + pause > deadline {
            return Ok(Admission::Locked(duration));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(CROWD_POLL_MAX);
    }
}

/// One try at the three counters, in order. When one is full, the slots
/// taken before it are given back.
async fn try_gates(
    state: &Services,
    store: &Ephemeral,
    attempt: &mut Attempt,
) -> Result<Gate, StoreError> {
    let b = &state.settings.browser;
    let threshold = i64::from(b.lockout_threshold);
    let window = Duration::from_secs(b.lockout_duration.max(1) as u64);
    let gates = [
        (&attempt.user_ip_key, threshold),
        (&attempt.user_key, threshold * USER_FACTOR),
        (&attempt.ip_key, threshold * IP_FACTOR),
    ];
    for (i, (key, limit)) in gates.iter().enumerate() {
        let limit = limit - counted_apart(state, attempt, key).await?;
        match store.incr_below(key, limit, window).await? {
            Some(n) if i == 0 => attempt.count = n,
            Some(_) => {}
            None => {
                for (taken, _) in &gates[..i] {
                    store.release(taken).await?;
                }
                return Ok(Gate::Full(key.to_string(), limit));
            }
        }
    }
    Ok(Gate::Admitted)
}

/// Failures of `key` this process counted in its own memory while the
/// shared store was down: none for an attempt counted there itself.
async fn counted_apart(state: &Services, attempt: &Attempt, key: &str) -> Result<i64, StoreError> {
    if attempt.local {
        return Ok(0);
    }
    failures(&state.local_counters, key).await
}

async fn failures(store: &Ephemeral, key: &str) -> Result<i64, StoreError> {
    let raw = store.get(&failed_key(key)).await?;
    Ok(raw
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or(0))
}

/// The attempt was a wrong password: it stays counted, its failure is noted
/// beside each counter, and the answer waits a little longer for each
/// failure before it.
pub async fn failed(state: &Services, attempt: &Attempt) {
    let store = counted_in(state, attempt);
    let window = Duration::from_secs(state.settings.browser.lockout_duration.max(1) as u64);
    let mut failures = attempt.count;
    for key in [&attempt.user_ip_key, &attempt.user_key, &attempt.ip_key] {
        match store.incr(&failed_key(key), window).await {
            Ok(n) if key == &attempt.user_ip_key => failures = n,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not note a failed sign-in"),
        }
    }
    tokio::time::sleep(delay(failures)).await;
}

/// The password was right: the name's failures are forgiven (those of other
/// addresses against this name too, as a password change would), and the
/// address gets this attempt's slot back (its other failures stay counted).
pub async fn succeeded(state: &Services, attempt: &Attempt) -> Result<(), StoreError> {
    let store = counted_in(state, attempt);
    forgive(store, attempt).await?;
    if !attempt.local {
        forgive(&state.local_counters, attempt).await?;
    }
    store.release(&attempt.ip_key).await?;
    Ok(())
}

async fn forgive(store: &Ephemeral, attempt: &Attempt) -> Result<(), StoreError> {
    for key in [&attempt.user_ip_key, &attempt.user_key] {
        store.delete(key).await?;
        store.delete(&failed_key(key)).await?;
    }
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
