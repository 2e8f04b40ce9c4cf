//! Redis ephemeral store (production): standalone through a `ConnectionManager`
//! (reconnects by itself) or a cluster through `cluster_async`, optionally over TLS.
//!
//! Every key is prefixed `tollgate:` so a shared Redis can be inspected and cleaned safely.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo, RedisError,
    Script, TlsCertificates,
};

use super::{ttl_millis, RedisConfig};
use crate::breaker::Breaker;
use crate::error::{Result, StoreError};

const KEY_PREFIX: &str = "tollgate:";

/// One TCP connect (and TLS handshake) attempt.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// One command's round trip.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound for a whole operation, retries included, so callers (request handlers)
/// see an error in bounded time when Redis is gone instead of piling up.
const OP_DEADLINE: Duration = Duration::from_millis(1500);
/// After Redis failed to answer, commands fail at once for this long, then
/// one trial command at a time checks whether it is back.
const COOL_DOWN: Duration = Duration::from_millis(500);
/// Upper bound for `connect`, which may talk to several seed nodes.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// INCR and start the window in one atomic step. The PTTL check (rather than `v == 1`)
/// also repairs a counter that somehow lost its TTL, so no window can live forever.
static INCR_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v
",
    )
});

/// INCR only while below ARGV[2], in one atomic step (one key, so cluster-safe). A
/// non-integer value fails in INCR, as `incr` does; `false` becomes a nil reply.
static INCR_BELOW_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur ~= nil and cur >= tonumber(ARGV[2]) then
  return false
end
local v = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return v
",
    )
});

/// DECR a live, positive counter; never creates one (DECR keeps the key's TTL).
/// A non-integer value fails in `tonumber`'s comparison, as `incr` fails.
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if not v then
  return false
end
local n = tonumber(v)
if n == nil then
  return redis.error_reply('value is not an integer or out of range')
end
if n <= 0 then
  return false
end
return redis.call('DECR', KEYS[1])
",
    )
});

#[derive(Clone)]
pub(crate) struct RedisStore {
    conn: Conn,
    /// Passwords and URLs to scrub from error messages.
    secrets: Arc<[String]>,
    breaker: Arc<Breaker>,
}

#[derive(Clone)]
enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisStore {
    // Hand-written: the derived form would expose connection details and credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.conn {
            Conn::Standalone(_) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

fn key(k: &str) -> String {
    format!("{KEY_PREFIX}{k}")
}

fn config_error(msg: impl Into<String>) -> StoreError {
    StoreError::Config(msg.into())
}

/// Removes every secret from `msg`. The redis crate does not put passwords in its
/// messages today; this keeps it that way whatever a future version or server says.
fn redact(msg: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(msg, |m, s| m.replace(s.as_str(), "***"))
}

impl RedisStore {
    pub(crate) async fn connect(config: &RedisConfig) -> Result<RedisStore> {
        if config.urls.is_empty() {
            return Err(config_error("redis: no URL configured"));
        }
        let mut secrets: Vec<String> = config.urls.clone();
        let mut infos = Vec::with_capacity(config.urls.len());
        for (i, url) in config.urls.iter().enumerate() {
            // Report the position, not the URL: it usually carries the password.
            let info: ConnectionInfo = url.as_str().into_connection_info().map_err(|e| {
                config_error(format!(
                    "redis URL #{} is invalid: {}",
                    i + 1,
                    redact(e.to_string(), &config.urls)
                ))
            })?;
            if let Some(p) = &info.redis.password {
                secrets.push(p.clone());
            }
            if config.ca_pem.is_some() && !matches!(info.addr, ConnectionAddr::TcpTls { .. }) {
                return Err(config_error(format!(
                    "redis URL #{} must use rediss:// when a CA certificate is configured",
                    i + 1
                )));
            }
            infos.push(info);
        }
        let secrets: Arc<[String]> = secrets.into();
        let certs = || TlsCertificates {
            client_tls: None,
            root_cert: config.ca_pem.clone(),
        };

        let cluster = config.cluster || infos.len() > 1;
        let conn = if cluster {
            let mut builder = ClusterClientBuilder::new(infos)
                .connection_timeout(CONNECTION_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                // Few, quick retries: enough to ride out a MOVED/failover blip while
                // staying inside OP_DEADLINE (the defaults wait for minutes).
                .retries(3)
                .min_retry_wait(50)
                .max_retry_wait(1000);
            if config.ca_pem.is_some() {
                builder = builder.certs(certs());
            }
            let client = builder
                .build()
                .map_err(|e| config_error(format!("redis cluster: {}", redact_err(e, &secrets))))?;
            let conn = bounded(CONNECT_DEADLINE, "connect", &secrets, async {
                client.get_async_connection().await
            })
            .await
            .0?;
            Conn::Cluster(conn)
        } else {
            let info = infos
                .pop()
                .ok_or_else(|| config_error("redis: no URL configured"))?;
            let client = match &config.ca_pem {
                Some(_) => Client::build_with_tls(info, certs()),
                None => Client::open(info),
            }
            .map_err(|e| config_error(format!("redis: {}", redact_err(e, &secrets))))?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(CONNECTION_TIMEOUT)
                .set_response_timeout(RESPONSE_TIMEOUT)
                // Reconnect attempts after a failure are bounded by OP_DEADLINE anyway.
                .set_number_of_retries(2)
                .set_max_delay(500);
            let conn = bounded(CONNECT_DEADLINE, "connect", &secrets, async {
                ConnectionManager::new_with_config(client, manager_config).await
            })
            .await
            .0?;
            Conn::Standalone(conn)
        };
        let store = RedisStore {
            conn,
            secrets,
            breaker: Arc::new(Breaker::new("redis", COOL_DOWN)),
        };
        // The cluster client connects lazily to some nodes; a PING proves auth and reachability.
        store.ping().await?;
        Ok(store)
    }

    async fn query<T: FromRedisValue>(&self, what: &str, cmd: &Cmd) -> Result<T> {
        match &self.conn {
            Conn::Standalone(c) => self.bounded(what, cmd.query_async(&mut c.clone())).await,
            Conn::Cluster(c) => self.bounded(what, cmd.query_async(&mut c.clone())).await,
        }
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let pong: String = self.query("PING", &::redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Ephemeral(format!(
                "PING: unexpected reply {pong:?}"
            )))
        }
    }

    pub(crate) async fn put(&self, k: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let ms = ttl_millis(ttl)?;
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(key(k)).arg(value).arg("PX").arg(ms);
        self.query::<()>("SET", &cmd).await
    }

    pub(crate) async fn put_if_present(
        &self,
        k: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let ms = ttl_millis(ttl)?;
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(key(k)).arg(value).arg("XX").arg("PX").arg(ms);
        // SET XX replies OK when stored and nil when the key is absent.
        let reply: Option<String> = self.query("SET XX", &cmd).await?;
        Ok(reply.is_some())
    }

    pub(crate) async fn get(&self, k: &str) -> Result<Option<Vec<u8>>> {
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(key(k));
        self.query("GET", &cmd).await
    }

    pub(crate) async fn take(&self, k: &str) -> Result<Option<Vec<u8>>> {
        // GETDEL (Redis >= 6.2) is a single command, hence atomic: one caller wins.
        let mut cmd = ::redis::cmd("GETDEL");
        cmd.arg(key(k));
        self.query("GETDEL", &cmd).await
    }

    pub(crate) async fn delete(&self, k: &str) -> Result<bool> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(key(k));
        let n: i64 = self.query("DEL", &cmd).await?;
        Ok(n > 0)
    }

    pub(crate) async fn incr(&self, k: &str, ttl: Duration) -> Result<i64> {
        let ms = ttl_millis(ttl)?;
        let mut invocation = INCR_SCRIPT.prepare_invoke();
        invocation.key(key(k)).arg(ms);
        self.invoke("INCR", &invocation).await
    }

    pub(crate) async fn incr_below(
        &self,
        k: &str,
        limit: i64,
        ttl: Duration,
    ) -> Result<Option<i64>> {
        let ms = ttl_millis(ttl)?;
        let mut invocation = INCR_BELOW_SCRIPT.prepare_invoke();
        invocation.key(key(k)).arg(ms).arg(limit);
        self.invoke("INCR below", &invocation).await
    }

    pub(crate) async fn release(&self, k: &str) -> Result<Option<i64>> {
        let mut invocation = RELEASE_SCRIPT.prepare_invoke();
        invocation.key(key(k));
        self.invoke("release", &invocation).await
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        what: &str,
        invocation: &::redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        match &self.conn {
            Conn::Standalone(c) => {
                let mut c = c.clone();
                self.bounded(what, invocation.invoke_async(&mut c)).await
            }
            Conn::Cluster(c) => {
                let mut c = c.clone();
                self.bounded(what, invocation.invoke_async(&mut c)).await
            }
        }
    }

    /// Runs a command within its deadline, failing fast while the breaker
    /// is open.
    async fn bounded<T>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, RedisError>>,
    ) -> Result<T> {
        let ticket = self
            .breaker
            .admit()
            .ok_or(StoreError::Unavailable("redis"))?;
        let (result, answered) = bounded(OP_DEADLINE, what, &self.secrets, fut).await;
        ticket.record(answered);
        result
    }
}

/// Runs a Redis future with a hard deadline and maps its error without
/// secrets; also tells whether Redis answered (a refusal such as a type
/// error is an answer, a dropped connection or a timeout is not).
async fn bounded<T>(
    deadline: Duration,
    what: &str,
    secrets: &[String],
    fut: impl Future<Output = std::result::Result<T, RedisError>>,
) -> (Result<T>, bool) {
    match tokio::time::timeout(deadline, fut).await {
        Ok(Ok(v)) => (Ok(v), true),
        Ok(Err(e)) => {
            let answered = !(e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal());
            let msg = format!("redis {what}: {}", redact_err(e, secrets));
            (Err(StoreError::Ephemeral(msg)), answered)
        }
        Err(_) => {
            let msg = format!("redis {what}: no answer within {} ms", deadline.as_millis());
            (Err(StoreError::Ephemeral(msg)), false)
        }
    }
}

fn redact_err(e: RedisError, secrets: &[String]) -> String {
    redact(e.to_string(), secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_every_secret() {
        let secrets = vec!["s3cret".to_owned(), String::new()];
        assert_eq!(
            redact("auth s3cret failed (s3cret)".into(), &secrets),
            "auth *** failed (***)"
        );
    }

    #[tokio::test]
    async fn bad_configuration_is_refused_without_leaking() {
        let err = RedisStore::connect(&RedisConfig::default())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no URL"), "{err}");

        let cfg = RedisConfig {
            urls: vec!["redis://:hunter2@127.0.0.1:1".into()],
            cluster: false,
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
        };
        let err = RedisStore::connect(&cfg)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("rediss://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        let cfg = RedisConfig {
            urls: vec!["nonsense://:hunter2@x".into()],
            ..RedisConfig::default()
        };
        let err = RedisStore::connect(&cfg)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("#1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
