//! A cache of documents fetched from other servers (JWK sets, discovery
//! documents), capped by entry count and bytes so that however many URLs
//! the configuration names, memory stays bounded. When full, the entries
//! fetched longest ago make room.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct Cached<V> {
    value: V,
    fetched: Instant,
    bytes: usize,
}

pub struct FetchCache<V> {
    entries: Mutex<HashMap<String, Cached<V>>>,
    max_entries: usize,
    max_bytes: usize,
}

impl<V: Clone> FetchCache<V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        FetchCache {
            entries: Mutex::new(HashMap::new()),
            max_entries,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached<V>>> {
        // Every change is one map call: a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under `key` and how long ago it was fetched.
    pub fn get(&self, key: &str) -> Option<(V, Duration)> {
        self.lock()
            .get(key)
            .map(|c| (c.value.clone(), c.fetched.elapsed()))
    }

    /// Keeps `value` (of about `bytes` bytes) under `key`, making room first;
    /// a value larger than the whole cache is not kept.
    pub fn insert(&self, key: &str, value: V, bytes: usize) {
        let bytes = bytes.saturating_add(key.len());
        if bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut entries = self.lock();
        entries.remove(key);
        let mut used: usize = entries.values().map(|c| c.bytes).sum();
        while entries.len() >= self.max_entries || used + bytes > self.max_bytes {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, c)| c.fetched)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(c) = entries.remove(&oldest) {
                used -= c.bytes;
            }
        }
        entries.insert(
            key.to_string(),
            Cached {
                value,
                fetched: Instant::now(),
                bytes,
            },
        );
    }

    /// Entries held and their bytes.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.lock();
        (entries.len(), entries.values().map(|c| c.bytes).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_by_count_and_bytes_oldest_out_first() {
        let c = FetchCache::new(3, 1000);
        for i in 0..10 {
            c.insert(&format!("k{i}"), i, 10);
        }
        assert_eq!(c.usage().0, 3);
        assert!(c.get("k9").is_some());

        let c = FetchCache::new(100, 1000);
        for i in 0..10 {
            c.insert(&format!("k{i}"), i, 300);
        }
        let (n, bytes) = c.usage();
        assert!(bytes <= 1000, "{bytes}");
        assert_eq!(n, 3);
        assert_eq!(c.get("k9").map(|v| v.0), Some(9));
        // Too large for the whole cache: not kept, nothing evicted for it.
        c.insert("huge", 99, 5000);
        assert!(c.get("huge").is_none());
        assert_eq!(c.usage().0, 3);
        // Replacing a key does not count it twice.
        c.insert("k9", 10, 300);
        assert_eq!(c.usage().0, 3);
        assert_eq!(c.get("k9").map(|v| v.0), Some(10));
    }
}
