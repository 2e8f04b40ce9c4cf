//! Fails calls to a dependency fast while it is known to be down, so an
//! outage costs each request microseconds instead of a timeout, and requests
//! do not queue behind connection attempts.
//!
//! After a failure the breaker is open for its cool-down: calls are refused
//! at once. Then it lets one trial call through at a time; the first success
//! closes it. A dependency probed in the background (the database) is opened
//! and closed by its probe alone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
pub struct Breaker {
    /// Until when (ms since START) calls are refused.
    open_until: AtomicU64,
    /// The last call (or probe) failed.
    tripped: AtomicBool,
    /// A trial call is under way.
    trial: AtomicBool,
    cool_down: Duration,
    /// The dependency, for the log lines of its transitions.
    name: &'static str,
}

/// Leave to make one call; a trial's slot is given back when dropped, also
/// when the call is cancelled.
pub struct Ticket<'a> {
    breaker: &'a Breaker,
    trial: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.trial {
            self.breaker.trial.store(false, Ordering::Release);
        }
    }
}

impl Ticket<'_> {
    /// Records the call's outcome: `healthy` unless the dependency failed
    /// to answer (a refusal such as a type error is an answer).
    pub fn record(self, healthy: bool) {
        self.breaker.record(healthy);
    }
}

impl Breaker {
    pub fn new(name: &'static str, cool_down: Duration) -> Breaker {
        Breaker {
            name,
            open_until: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            trial: AtomicBool::new(false),
            cool_down,
        }
    }

    /// `None` when the call must fail at once.
    pub fn admit(&self) -> Option<Ticket<'_>> {
        if !self.tripped.load(Ordering::Acquire) {
            return Some(Ticket {
                breaker: self,
                trial: false,
            });
        }
        if now_ms() < self.open_until.load(Ordering::Acquire) {
            return None;
        }
        self.trial
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Ticket {
                breaker: self,
                trial: true,
            })
    }

    /// Notes an outcome seen outside a ticket (a background probe).
    pub fn record(&self, healthy: bool) {
        if healthy {
            self.open_until.store(0, Ordering::Release);
            if self.tripped.swap(false, Ordering::AcqRel) {
                tracing::info!(dependency = self.name, "answers again");
            }
        } else {
            let until = now_ms().saturating_add(self.cool_down.as_millis() as u64);
            self.open_until.store(until, Ordering::Release);
            if !self.tripped.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    dependency = self.name,
                    "not answering; calls fail fast until it answers again"
                );
            }
        }
    }

    /// Whether calls are refused now.
    pub fn is_open(&self) -> bool {
        self.tripped.load(Ordering::Acquire) && now_ms() < self.open_until.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_refuses_calls_until_the_cool_down_then_one_trial_at_a_time() {
        let b = Breaker::new("test", Duration::from_millis(50));
        b.admit().expect("closed").record(false);
        assert!(b.admit().is_none(), "open right after a failure");
        assert!(b.is_open());
        std::thread::sleep(Duration::from_millis(60));
        let trial = b.admit().expect("a trial after the cool-down");
        assert!(b.admit().is_none(), "only one trial at a time");
        drop(trial);
        let trial = b.admit().expect("a cancelled trial gives its slot back");
        trial.record(true);
        assert!(b.admit().is_some() && b.admit().is_some(), "closed again");
        assert!(!b.is_open());
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let b = Breaker::new("test", Duration::from_millis(20));
        b.record(false);
        std::thread::sleep(Duration::from_millis(30));
        b.admit().expect("trial").record(false);
        assert!(b.admit().is_none());
    }
}
