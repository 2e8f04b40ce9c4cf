//! In-process ephemeral store: the embedded default for a single node.
//!
//! Sharded `std::sync::Mutex<HashMap>`s: no lock is held across an `.await`, and sharding
//! keeps unrelated keys from contending. Expiry is lazy on access plus a periodic sweep so
//! keys that are never read again (most authorization codes, counters) do not accumulate.
//!
//! The store is capped by entry count and bytes ([`MemoryLimits`]), so requests cannot grow
//! the process without bound: a write that does not fit once expired entries are dropped
//! is refused (the caller answers "unavailable") rather than evicting live sessions.

use std::collections::hash_map::{HashMap, RandomState};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::ttl_millis;
use crate::error::{Result, StoreError};

const SHARDS: usize = 16;
/// How often the background sweep drops expired entries.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Bookkeeping counted per entry besides its key and value (map slot, expiry, allocations).
const ENTRY_OVERHEAD: usize = 64;

/// Caps of the in-process store; each shard holds its share of both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimits {
    pub max_entries: usize,
    /// Keys and values plus a fixed per-entry overhead.
    pub max_bytes: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            max_entries: 1_000_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub(crate) struct MemoryStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    // Per-store random seed: shard choice cannot be steered by chosen keys.
    hasher: RandomState,
    /// Per shard.
    max_entries: usize,
    max_bytes: usize,
}

/// One shard's map and the bytes its entries account for.
#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    bytes: usize,
}

fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl Shard {
    fn get(&self, key: &str) -> Option<&Entry> {
        self.map.get(key)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.bytes -= cost(key, &e.value);
        Some(e)
    }

    fn retain_live(&mut self, now: Instant) {
        let mut freed = 0;
        self.map.retain(|k, e| {
            let live = e.live(now);
            if !live {
                freed += cost(k, &e.value);
            }
            live
        });
        self.bytes -= freed;
    }

    /// Stores `entry` under `key` when it fits the shard's caps (after dropping
    /// expired entries if needed); replaces any previous entry.
    fn insert(
        &mut self,
        key: &str,
        entry: Entry,
        limits: (usize, usize),
        now: Instant,
    ) -> Result<()> {
        let (max_entries, max_bytes) = limits;
        let fits = |s: &Shard| {
            let old = s.map.get(key).map(|e| cost(key, &e.value));
            let entries = s.map.len() + usize::from(old.is_none());
            let bytes = s.bytes - old.unwrap_or(0) + cost(key, &entry.value);
            entries <= max_entries && bytes <= max_bytes
        };
        if !fits(self) {
            self.retain_live(now);
            if !fits(self) {
                return Err(StoreError::Ephemeral(
                    "the in-process store is full (entry or byte cap reached)".into(),
                ));
            }
        }
        self.bytes += cost(key, &entry.value);
        if let Some(old) = self.map.insert(key.to_owned(), entry) {
            self.bytes -= cost(key, &old.value);
        }
        Ok(())
    }
}

struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

fn expiry(now: Instant, ttl: Duration) -> Result<Instant> {
    ttl_millis(ttl)?;
    now.checked_add(ttl)
        .ok_or_else(|| StoreError::Ephemeral("TTL out of range".into()))
}

/// Counters are stored as decimal strings, like Redis, so `get` reads the same on both.
fn parse_counter(value: &[u8]) -> Result<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| StoreError::Ephemeral("value is not an integer or out of range".into()))
}

impl MemoryStore {
    pub(crate) fn new(limits: MemoryLimits) -> MemoryStore {
        Self::with_sweep_interval(limits, SWEEP_INTERVAL)
    }

    pub(crate) fn with_sweep_interval(limits: MemoryLimits, interval: Duration) -> MemoryStore {
        let inner = Arc::new(Inner {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            // Rounded down, so the shards together never exceed the caps.
            max_entries: (limits.max_entries / SHARDS).max(1),
            max_bytes: (limits.max_bytes / SHARDS).max(1),
        });
        // `memory()` is synchronous and may be called outside a runtime (tests, CLI tools);
        // then there is simply no sweep and expiry stays lazy.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(sweep_loop(Arc::downgrade(&inner), interval));
        }
        MemoryStore { inner }
    }

    pub(crate) fn ping(&self) {}

    pub(crate) fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl)?;
        let entry = Entry {
            value: value.to_vec(),
            expires_at,
        };
        self.inner
            .shard(key)
            .insert(key, entry, self.inner.limits(), now)
    }

    pub(crate) fn put_if_present(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl)?;
        let mut shard = self.inner.shard(key);
        if !shard.get(key).is_some_and(|e| e.live(now)) {
            return Ok(false);
        }
        let entry = Entry {
            value: value.to_vec(),
            expires_at,
        };
        shard.insert(key, entry, self.inner.limits(), now)?;
        Ok(true)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut shard = self.inner.shard(key);
        match shard.get(key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        // Remove under the shard lock: exactly one caller can observe the entry.
        let entry = self.inner.shard(key).remove(key)?;
        entry.live(now).then_some(entry.value)
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.inner
            .shard(key)
            .remove(key)
            .is_some_and(|e| e.live(now))
    }

    pub(crate) fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        self.incr_below(key, i64::MAX, ttl)?
            .ok_or_else(|| StoreError::Ephemeral("increment would overflow".into()))
    }

    pub(crate) fn incr_below(&self, key: &str, limit: i64, ttl: Duration) -> Result<Option<i64>> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl)?;
        // Read, decide and write under one shard lock: atomic like the Redis script.
        let mut shard = self.inner.shard(key);
        let (next, expires_at) = match shard.get(key) {
            Some(e) if e.live(now) => {
                let current = parse_counter(&e.value)?;
                if current >= limit {
                    return Ok(None);
                }
                let next = current
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Ephemeral("increment would overflow".into()))?;
                // The window keeps its original expiry: later hits do not extend it.
                (next, e.expires_at)
            }
            _ if limit < 1 => return Ok(None),
            _ => (1, expires_at),
        };
        let entry = Entry {
            value: next.to_string().into_bytes(),
            expires_at,
        };
        shard.insert(key, entry, self.inner.limits(), now)?;
        Ok(Some(next))
    }

    pub(crate) fn release(&self, key: &str) -> Result<Option<i64>> {
        let now = Instant::now();
        let mut shard = self.inner.shard(key);
        let (current, expires_at) = match shard.get(key) {
            Some(e) if e.live(now) => (parse_counter(&e.value)?, e.expires_at),
            _ => return Ok(None),
        };
        if current <= 0 {
            return Ok(None);
        }
        let entry = Entry {
            value: (current - 1).to_string().into_bytes(),
            expires_at,
        };
        shard.insert(key, entry, self.inner.limits(), now)?;
        Ok(Some(current - 1))
    }

    /// Entries held (expired ones not yet swept included) and the bytes they account for.
    pub(crate) fn usage(&self) -> (usize, usize) {
        self.inner.shards.iter().fold((0, 0), |(n, b), s| {
            let s = lock(s);
            (n + s.map.len(), b + s.bytes)
        })
    }

    #[cfg(test)]
    fn stored_len(&self) -> usize {
        self.usage().0
    }
}

impl Inner {
    fn limits(&self) -> (usize, usize) {
        (self.max_entries, self.max_bytes)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // `hash % SHARDS` is < SHARDS, so the index is always in bounds.
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[index])
    }

    fn sweep(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            // One shard at a time so readers of other shards are never blocked.
            lock(shard).retain_live(now);
        }
    }
}

// A panic while holding a shard lock cannot leave a map half-updated (every mutation is
// a single HashMap call beside plain arithmetic on its byte count), so a poisoned lock
// is safe to keep using.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// Holds only a Weak reference: once every handle is dropped the loop ends by itself.
async fn sweep_loop(store: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate
    loop {
        ticker.tick().await;
        let Some(inner) = store.upgrade() else { break };
        inner.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sweep_drops_unread_expired_entries() {
        let store =
            MemoryStore::with_sweep_interval(MemoryLimits::default(), Duration::from_millis(20));
        for i in 0..100 {
            store
                .put(&format!("k{i}"), b"v", Duration::from_millis(10))
                .expect("put");
        }
        store
            .put("keep", b"v", Duration::from_secs(60))
            .expect("put");
        assert_eq!(store.stored_len(), 101);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(store.stored_len(), 1);
    }

    #[tokio::test]
    async fn sweeper_stops_when_store_dropped() {
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let store =
            MemoryStore::with_sweep_interval(MemoryLimits::default(), Duration::from_millis(5));
        assert_eq!(metrics.num_alive_tasks(), before + 1);
        drop(store);
        // The next tick finds nothing to upgrade and the task ends.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(metrics.num_alive_tasks(), before);
    }

    #[test]
    fn works_without_a_runtime() {
        let store = MemoryStore::new(MemoryLimits::default());
        store.put("a", b"1", Duration::from_secs(1)).expect("put");
        assert_eq!(store.get("a").as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn caps_entries_and_bytes_and_refuses_what_does_not_fit() {
        let limits = MemoryLimits {
            max_entries: 16 * 10,
            max_bytes: 16 * 10 * 200,
        };
        let store = MemoryStore::new(limits);
        let long = Duration::from_secs(60);
        let mut refused = 0;
        for i in 0..10_000 {
            if store.put(&format!("k{i}"), b"v", long).is_err() {
                refused += 1;
            }
        }
        let (n, bytes) = store.usage();
        assert!(n <= limits.max_entries, "{n} entries");
        assert!(bytes <= limits.max_bytes, "{bytes} bytes");
        assert!(refused >= 10_000 - limits.max_entries);
        // Counters and conditional writes obey the same caps.
        for i in 0..1_000 {
            let _ = store.incr(&format!("c{i}"), long);
            let _ = store.put_if_present(&format!("k{i}"), &[0u8; 64], long);
        }
        assert!(store.usage().0 <= limits.max_entries);

        // Bytes: big values fill a shard long before its entry cap.
        let store = MemoryStore::new(limits);
        let big = vec![0u8; 1000];
        for i in 0..1_000 {
            let _ = store.put(&format!("b{i}"), &big, long);
        }
        let (_, bytes) = store.usage();
        assert!(bytes <= limits.max_bytes, "{bytes} bytes");
        // A replaced or deleted entry gives its bytes back.
        let (_, before) = store.usage();
        let key = (0..1_000)
            .map(|i| format!("b{i}"))
            .find(|k| store.get(k).is_some())
            .expect("something stored");
        assert!(store.delete(&key));
        assert_eq!(store.usage().1, before - cost(&key, &big));
    }

    #[test]
    fn expired_entries_make_room() {
        let limits = MemoryLimits {
            max_entries: 16,
            max_bytes: 1 << 20,
        };
        let store = MemoryStore::new(limits);
        for i in 0..200 {
            let _ = store.put(&format!("k{i}"), b"v", Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20));
        // Every shard (one entry each) is full of an expired entry; new writes
        // still find room in every one of them.
        let stored = (0..1_000)
            .filter(|i| {
                store
                    .put(&format!("n{i}"), b"v", Duration::from_secs(60))
                    .is_ok()
            })
            .count();
        assert_eq!(stored, 16);
    }
}
