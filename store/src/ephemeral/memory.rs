//! In-process ephemeral store: the embedded default for a single node.
//!
//! Sharded `std::sync::Mutex<HashMap>`s: no lock is held across an `.await`, and sharding
//! keeps unrelated keys from contending. Expiry is lazy on access plus a periodic sweep so
//! keys that are never read again (most authorization codes, counters) do not accumulate.

use std::collections::hash_map::{Entry as MapEntry, HashMap, RandomState};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::ttl_millis;
use crate::error::{Result, StoreError};

const SHARDS: usize = 16;
/// How often the background sweep drops expired entries.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

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
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    // Per-store random seed: shard choice cannot be steered by chosen keys.
    hasher: RandomState,
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

impl MemoryStore {
    pub(crate) fn new() -> MemoryStore {
        Self::with_sweep_interval(SWEEP_INTERVAL)
    }

    pub(crate) fn with_sweep_interval(interval: Duration) -> MemoryStore {
        let inner = Arc::new(Inner {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
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
        let expires_at = expiry(Instant::now(), ttl)?;
        self.inner.shard(key).insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at,
            },
        );
        Ok(())
    }

    pub(crate) fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl)?;
        let mut shard = self.inner.shard(key);
        let fresh = Entry {
            value: value.to_vec(),
            expires_at,
        };
        match shard.entry(key.to_owned()) {
            MapEntry::Occupied(mut e) => {
                if e.get().live(now) {
                    return Ok(false);
                }
                e.insert(fresh);
            }
            MapEntry::Vacant(e) => {
                e.insert(fresh);
            }
        }
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
        match shard.entry(key.to_owned()) {
            MapEntry::Occupied(mut e) if e.get().live(now) => {
                // Stored as a decimal string, like Redis, so `get` reads the same on both.
                let current = std::str::from_utf8(&e.get().value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| {
                        StoreError::Ephemeral("value is not an integer or out of range".into())
                    })?;
                if current >= limit {
                    return Ok(None);
                }
                let next = current
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Ephemeral("increment would overflow".into()))?;
                // The window keeps its original expiry: later hits do not extend it.
                e.get_mut().value = next.to_string().into_bytes();
                Ok(Some(next))
            }
            _ if limit < 1 => Ok(None),
            MapEntry::Occupied(mut e) => {
                e.insert(Entry {
                    value: b"1".to_vec(),
                    expires_at,
                });
                Ok(Some(1))
            }
            MapEntry::Vacant(e) => {
                e.insert(Entry {
                    value: b"1".to_vec(),
                    expires_at,
                });
                Ok(Some(1))
            }
        }
    }

    #[cfg(test)]
    fn stored_len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }
}

impl Inner {
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, Entry>> {
        // `hash % SHARDS` is < SHARDS, so the index is always in bounds.
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[index])
    }

    fn sweep(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            // One shard at a time so readers of other shards are never blocked.
            lock(shard).retain(|_, e| e.live(now));
        }
    }
}

// A panic while holding a shard lock cannot leave a map half-updated (every mutation is
// a single HashMap call), so a poisoned lock is safe to keep using.
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
        let store = MemoryStore::with_sweep_interval(Duration::from_millis(20));
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
        let store = MemoryStore::with_sweep_interval(Duration::from_millis(5));
        assert_eq!(metrics.num_alive_tasks(), before + 1);
        drop(store);
        // The next tick finds nothing to upgrade and the task ends.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(metrics.num_alive_tasks(), before);
    }

    #[test]
    fn works_without_a_runtime() {
        let store = MemoryStore::new();
        store.put("a", b"1", Duration::from_secs(1)).expect("put");
        assert_eq!(store.get("a").as_deref(), Some(&b"1"[..]));
    }
}
