//! The ephemeral store: data that may be lost without losing a durable record
//! (authorization codes, sessions, counters, replay caches).
//!
//! Two implementations behind one cheap-to-clone handle:
//! - [`Ephemeral::memory`]: in-process, the embedded default (single node only).
//! - [`Ephemeral::connect`]: Redis, standalone or cluster, optionally over TLS.
//!
//! Both keep the same semantics (the contract suite in `store/tests/ephemeral_contract.rs`
//! runs unchanged against each): values are opaque bytes, every entry has a TTL, counters
//! are stored as decimal strings (as Redis does), and `take` is atomic single use.

mod memory;
mod redis;

pub use memory::MemoryLimits;

use std::time::Duration;

use std::future::Future;

use crate::error::{Result, StoreError};
use crate::metrics::{Dependency, DependencyTimes};

/// How to reach Redis.
#[derive(Clone, Debug, Default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://…` for TLS. In cluster mode, the seed nodes.
    pub urls: Vec<String>,
    /// Cluster mode (the original's `cluster_nodes`); also implied by more than one URL.
    pub cluster: bool,
    /// PEM of the CA that signed the server certificate, when not a public CA.
    pub ca_pem: Option<Vec<u8>>,
}

/// One interface, two implementations (in-process and Redis).
#[derive(Clone, Debug)]
pub struct Ephemeral {
    backend: Backend,
    /// Where Redis commands' latency is recorded, when measured.
    times: Option<DependencyTimes>,
}

// Enum dispatch rather than a trait object: two known implementations, no boxing of
// futures, and `Ephemeral` stays a plain value type.
#[derive(Clone, Debug)]
enum Backend {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}

/// Longest TTL accepted. Ephemeral data living longer than this is almost certainly a
/// unit mistake (seconds passed as milliseconds, `Duration::MAX`, …), so it is refused.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Validates a TTL and converts it to whole milliseconds, rounding up so an entry
/// never lives shorter than asked. Shared by both backends so they refuse the same inputs.
pub(crate) fn ttl_millis(ttl: Duration) -> Result<u64> {
    if ttl.is_zero() {
        return Err(StoreError::Ephemeral(
            "TTL must be at least 1 ms, got 0".into(),
        ));
    }
    if ttl > MAX_TTL {
        return Err(StoreError::Ephemeral(format!(
            "TTL of {} s exceeds the maximum of {} s",
            ttl.as_secs(),
            MAX_TTL.as_secs()
        )));
    }
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    // Cannot fail below MAX_TTL; kept as a checked conversion rather than a cast.
    u64::try_from(ms).map_err(|_| StoreError::Ephemeral("TTL out of range".into()))
}

impl Ephemeral {
    /// The in-process store (embedded default).
    ///
    /// Expired entries are dropped lazily on access and by a background sweep, which is
    /// started only when called inside a Tokio runtime and stops once the store is dropped.
    pub fn memory() -> Ephemeral {
        Self::memory_with_limits(MemoryLimits::default())
    }

    /// The in-process store with other caps than the defaults.
    pub fn memory_with_limits(limits: MemoryLimits) -> Ephemeral {
        Ephemeral {
            backend: Backend::Memory(memory::MemoryStore::new(limits)),
            times: None,
        }
    }

    /// For the in-process store: entries held and the bytes they account for
    /// (metrics, tests). `None` for Redis, whose size its own server caps.
    pub fn memory_usage(&self) -> Option<(usize, usize)> {
        match &self.backend {
            Backend::Memory(m) => Some(m.usage()),
            Backend::Redis(_) => None,
        }
    }

    /// Connects to Redis: standalone, TLS (`rediss://`), password in the URL, or cluster.
    ///
    /// Fails (rather than hanging) within a few seconds when Redis is unreachable or the
    /// credentials are wrong. Error messages never contain the URLs or the password.
    pub async fn connect(config: &RedisConfig) -> Result<Ephemeral> {
        Ok(Ephemeral {
            backend: Backend::Redis(redis::RedisStore::connect(config).await?),
            times: None,
        })
    }

    /// The same store, recording each Redis command's latency and errors in
    /// `times` (the in-process store is not a dependency and is not measured).
    pub fn with_times(mut self, times: DependencyTimes) -> Ephemeral {
        self.times = Some(times);
        self
    }

    async fn redis<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        match &self.times {
            Some(t) => t.time(Dependency::Redis, call).await,
            None => call.await,
        }
    }

    /// Checks the store answers (readiness probes).
    pub async fn ping(&self) -> Result<()> {
        match &self.backend {
            Backend::Memory(m) => {
                m.ping();
                Ok(())
            }
            Backend::Redis(r) => self.redis(r.ping()).await,
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        match &self.backend {
            Backend::Memory(m) => m.put(key, value, ttl),
            Backend::Redis(r) => self.redis(r.put(key, value, ttl)).await,
        }
    }

    /// Replaces the value only when the key is present and live; true when stored.
    /// Refreshing a record (a session's idle timeout) this way cannot bring it back
    /// after someone else ended it.
    pub async fn put_if_present(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        match &self.backend {
            Backend::Memory(m) => m.put_if_present(key, value, ttl),
            Backend::Redis(r) => self.redis(r.put_if_present(key, value, ttl)).await,
        }
    }

    /// The value under `key`, if present and not expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.get(key)),
            Backend::Redis(r) => self.redis(r.get(key)).await,
        }
    }

    /// Atomically reads and deletes: at most one caller gets the value (authorization codes).
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.take(key)),
            Backend::Redis(r) => self.redis(r.take(key)).await,
        }
    }

    /// Deletes `key`; true when something (not expired) was deleted.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.delete(key)),
            Backend::Redis(r) => self.redis(r.delete(key)).await,
        }
    }

    /// Increments a counter; the first increment starts its `ttl` window. Returns the new value.
    ///
    /// Later increments do not extend the window (fixed-window rate limits and lockouts).
    /// Fails when the key holds something that is not an integer.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        match &self.backend {
            Backend::Memory(m) => m.incr(key, ttl),
            Backend::Redis(r) => self.redis(r.incr(key, ttl)).await,
        }
    }

    /// Increments a counter only while it is below `limit`, deciding and counting in
    /// one atomic step: `Some(new value)` when counted, `None` (nothing changed) when
    /// the counter already reached `limit`. Windows as [`Ephemeral::incr`].
    ///
    /// N concurrent callers against a limit of L get exactly `min(N, L - current)`
    /// `Some`s: lockouts use it so parallel attempts cannot all pass a check made
    /// before any of them counted.
    pub async fn incr_below(&self, key: &str, limit: i64, ttl: Duration) -> Result<Option<i64>> {
        match &self.backend {
            Backend::Memory(m) => m.incr_below(key, limit, ttl),
            Backend::Redis(r) => self.redis(r.incr_below(key, limit, ttl)).await,
        }
    }

    /// Gives back one count of a live counter, in one atomic step: the new value, or
    /// `None` when the counter is absent (expired) or already zero. Never creates a
    /// counter nor changes its window. Lockouts use it to return the slot of an
    /// attempt that succeeded.
    pub async fn release(&self, key: &str) -> Result<Option<i64>> {
        match &self.backend {
            Backend::Memory(m) => m.release(key),
            Backend::Redis(r) => self.redis(r.release(key)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_validation() {
        assert!(ttl_millis(Duration::ZERO).is_err());
        assert!(ttl_millis(Duration::MAX).is_err());
        assert!(ttl_millis(MAX_TTL + Duration::from_millis(1)).is_err());
        assert_eq!(ttl_millis(Duration::from_nanos(1)).ok(), Some(1));
        assert_eq!(ttl_millis(Duration::from_micros(1500)).ok(), Some(2));
        assert_eq!(ttl_millis(Duration::from_millis(50)).ok(), Some(50));
        assert!(ttl_millis(MAX_TTL).is_ok());
    }
}
