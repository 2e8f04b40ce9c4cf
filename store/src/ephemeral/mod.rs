//! The ephemeral store: data that may be lost without losing a durable record
//! (authorization codes, sessions, counters, replay caches).
//!
//! SKELETON: signatures are the contract; bodies are being written.

use std::time::Duration;

use crate::error::{Result, StoreError};

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
pub struct Ephemeral {}

fn pending<T>() -> Result<T> {
    Err(StoreError::Ephemeral("skeleton".into()))
}

impl Ephemeral {
    /// The in-process store (embedded default).
    pub fn memory() -> Ephemeral { Ephemeral {} }
    /// Connects to Redis: standalone, TLS (`rediss://`), password in the URL, or cluster.
    pub async fn connect(config: &RedisConfig) -> Result<Ephemeral> { let _ = config; pending() }
    pub async fn ping(&self) -> Result<()> { pending() }
    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> { let _ = (key, value, ttl); pending() }
    /// Stores only when the key is absent; true when stored (replay caches).
    pub async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> { let _ = (key, value, ttl); pending() }
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> { let _ = key; pending() }
    /// Atomically reads and deletes: at most one caller gets the value (authorization codes).
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> { let _ = key; pending() }
    pub async fn delete(&self, key: &str) -> Result<bool> { let _ = key; pending() }
    /// Increments a counter; the first increment starts its `ttl` window. Returns the new value.
    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> { let _ = (key, ttl); pending() }
}
