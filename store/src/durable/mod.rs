//! The durable store: one repository API over PostgreSQL or SQLite.
//!
//! One query set serves both backends through sqlx's `Any` driver; only the
//! migrations differ (same logical schema in two dialects). Queries are
//! built at run time, so building needs no database. Each domain lives in
//! its own file as an `impl Db` block.

mod audit;
mod changes;
mod clients;
mod contact_centers;
mod cors;
mod environments;
mod factors;
pub mod housekeeping;
mod keys;
mod ldap_directories;
mod oidc_providers;
mod opaque_tokens;
mod owners;
mod passkeys;
mod refresh_tokens;
mod revocations;
mod rotations;
mod saml_providers;
mod settings;
mod sql;
mod trusted_issuers;
mod used_once;
mod users;
pub use users::MAX_PASSWORD_HISTORY;

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::breaker::Breaker;
use crate::cipher::Cipher;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Handle to the durable store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// Where hot reads go: on a SQLite file, read-only connections of their
    /// own (WAL lets them read beside the one writer, so a look-up does not
    /// wait behind writes); otherwise `pool`.
    reader: AnyPool,
    cipher: Cipher,
    backend: Backend,
    /// PostgreSQL's URL, for the change listener's own connection.
    listen_url: Option<std::sync::Arc<str>>,
    /// Open while the background probe finds the database down: queries
    /// then fail at once instead of each waiting for a connection.
    breaker: std::sync::Arc<Breaker>,
    /// How long the probe waits for an answer (the acquire timeout).
    probe_timeout: Duration,
    /// Refresh-token rotations, committed in groups.
    rotations: rotations::Queue,
}

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// PostgreSQL connections per process unless configured.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 16;

/// How long a query waits for a pool connection unless configured: the
/// longest a request hangs when the database is gone.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long queries fail fast after a failed probe (probes run every second
/// or so, and one that succeeds closes the breaker at once).
const OUTAGE_COOL_DOWN: Duration = Duration::from_secs(5);

/// How long a SQLite writer waits for the lock before failing.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

impl Db {
    /// `postgres://…` or `sqlite:PATH` / `sqlite::memory:`. Creates the SQLite file if missing.
    pub async fn connect(url: &str, cipher: Cipher) -> Result<Db> {
        Self::connect_with(
            url,
            cipher,
            DEFAULT_POSTGRES_CONNECTIONS,
            DEFAULT_ACQUIRE_TIMEOUT,
        )
        .await
    }

    /// As [`Db::connect`], with the PostgreSQL pool size (SQLite has one
    /// writer anyway) and how long a query waits for a connection.
    pub async fn connect_with(
        url: &str,
        cipher: Cipher,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let (backend, pool, reader) = if postgres {
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(acquire_timeout)
                .connect(url)
                .await?;
            (Backend::Postgres, pool.clone(), pool)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let pool = connect_sqlite(rest).await?;
            let reader = match sqlite_readers(rest).await? {
                Some(reader) => reader,
                None => pool.clone(),
            };
            (Backend::Sqlite, pool, reader)
        } else {
            return Err(StoreError::Config(
                "the database URL must start with postgres:// or sqlite:".into(),
            ));
        };
        Ok(Db {
            rotations: rotations::Queue::start(pool.clone(), backend, acquire_timeout),
            pool,
            reader,
            cipher,
            backend,
            listen_url: postgres.then(|| url.into()),
            breaker: std::sync::Arc::new(Breaker::new("database", OUTAGE_COOL_DOWN)),
            probe_timeout: acquire_timeout,
        })
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// The same database seen through another cipher, e.g. to re-encrypt
    /// secrets while rotating the at-rest key.
    pub fn with_cipher(&self, cipher: Cipher) -> Db {
        Db {
            pool: self.pool.clone(),
            reader: self.reader.clone(),
            cipher,
            backend: self.backend,
            listen_url: self.listen_url.clone(),
            breaker: self.breaker.clone(),
            probe_timeout: self.probe_timeout,
            rotations: self.rotations.clone(),
        }
    }

    /// The connection pool, for diagnostics and tests that must look at raw
    /// rows. Product code reads and writes through the typed methods, so every
    /// query on these tables stays in this module.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks the database answers, and opens or closes the breaker by the
    /// outcome: this is the probe (readiness, and the metrics' sampler).
    /// A connection that stops answering (a network black hole) counts as
    /// down once the acquire timeout has passed.
    pub async fn ping(&self) -> Result<()> {
        let probe = tokio::time::timeout(self.probe_timeout, self.pool.execute("SELECT 1")).await;
        let answered = match probe {
            Ok(answer) => answer.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable("database")),
        };
        self.breaker.record(answered.is_ok());
        answered
    }

    /// The pool, unless the last probe found the database down.
    fn live(&self) -> Result<&AnyPool> {
        if self.breaker.is_open() {
            return Err(StoreError::Unavailable("database"));
        }
        Ok(&self.pool)
    }

    /// As [`Db::live`], for a read on a hot path (it sees every committed write).
    fn live_reader(&self) -> Result<&AnyPool> {
        self.live()?;
        Ok(&self.reader)
    }

    /// A transaction for a read-then-write sequence. On SQLite it takes the
    /// write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that
    /// reads and then writes fails with SQLITE_BUSY, without waiting, when
    /// another connection wrote in between.
    ///
    /// The begin runs to its end on a task of its own: sqlx's custom-`BEGIN`
    /// path, cancelled between the `BEGIN` and its check (a client that hangs
    /// up), returns the connection to the pool inside a transaction no one can
    /// end, and every later `BEGIN IMMEDIATE` on it fails ("begin_with at
    /// non-zero transaction depth"). Finished on its own task, an abandoned
    /// transaction is dropped whole, which rolls it back.
    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        begin(self.live()?, self.backend).await
    }
}

/// [`Db::begin`] on `pool`.
async fn begin(pool: &AnyPool, backend: Backend) -> Result<Transaction<'static, Any>> {
    let pool = pool.clone();
    let begun = tokio::spawn(async move {
        match backend {
            Backend::Postgres => pool.begin().await,
            Backend::Sqlite => pool.begin_with(Cow::Borrowed("BEGIN IMMEDIATE")).await,
        }
    })
    .await
    // Only a panic (or a runtime shutting down) ends the task early.
    .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?;
    Ok(begun?)
}

/// A `postgres://` URL that verifies the server against the CA in `ca_file`:
/// `sslrootcert` set, and `sslmode=verify-full` unless the URL asks for
/// another mode. Other URLs are refused (SQLite has no server to verify).
pub fn postgres_url_with_ca(url: &str, ca_file: &std::path::Path) -> Result<String> {
    let bad = |m: &str| StoreError::Config(m.to_string());
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad("a CA file is for a postgres:// database URL"));
    }
    let mut parsed = url::Url::parse(url).map_err(|_| bad("the database URL does not parse"))?;
    let ca = ca_file
        .to_str()
        .ok_or_else(|| bad("the CA file's path is not UTF-8"))?;
    let others: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "sslrootcert")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let has_mode = others.iter().any(|(k, _)| k == "sslmode");
    let mut query = parsed.query_pairs_mut();
    query
        .clear()
        .extend_pairs(&others)
        .append_pair("sslrootcert", ca);
    if !has_mode {
        query.append_pair("sslmode", "verify-full");
    }
    drop(query);
    Ok(parsed.into())
}

async fn connect_sqlite(rest: &str) -> Result<AnyPool> {
    let memory = rest == ":memory:" || rest.starts_with(":memory:?");
    let options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            // sqlx sets these too; stating them keeps the store's assumptions
            // (cascades, waiting writers) independent of driver defaults.
            conn.execute("PRAGMA foreign_keys = ON").await?;
            conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
                .await?;
            conn.execute("PRAGMA synchronous = NORMAL").await?;
            // A checkpoint copies each changed page once, however often it
            // changed: every 4,000 pages (16 MiB of WAL) rather than SQLite's
            // 1,000 writes the hot index pages a quarter as often (refresh
            // rotations on `dev`: +5%). With `synchronous = NORMAL` the WAL
            // is synced at checkpoints, so a power loss (not a crash of this
            // process) can take back up to that much of the latest commits.
            conn.execute("PRAGMA wal_autocheckpoint = 4000").await?;
            Ok(())
        })
    });
    if memory {
        // Every connection to `:memory:` is a new, empty database: keep exactly
        // one, forever, so the data lives as long as the pool.
        let pool = options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await?;
        return Ok(pool);
    }
    // `mode=rwc` creates the file when missing.
    let url = if rest.contains("mode=") {
        format!("sqlite:{rest}")
    } else if rest.contains('?') {
        format!("sqlite:{rest}&mode=rwc")
    } else {
        format!("sqlite:{rest}?mode=rwc")
    };
    // One connection: SQLite has a single writer anyway, and a writer that
    // gave up on the lock (busy timeout) could leave its pooled connection
    // in a broken transaction state. Waiting happens in the pool instead.
    //
    // A COMMIT that fails (a full disk: SQLite then rolls back by itself)
    // leaves sqlx counting an open transaction its ROLLBACK cannot end, and
    // such a connection refuses every later BEGIN: it is replaced instead.
    // (Not for `:memory:`, whose one connection is the database.) sqlx pings
    // every connection coming back to the pool, through the worker's queue,
    // so a dropped transaction's queued ROLLBACK has run before the depth is
    // read: only a stuck connection is replaced. No second ping on acquire:
    // a connection to a local file does not die while idle.
    let pool = options
        .test_before_acquire(false)
        .before_acquire(|conn, _meta| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .max_connections(1)
        .connect(&url)
        .await?;
    // Switching to WAL needs an exclusive lock that busy_timeout does not wait
    // for, so do it once here; the mode is stored in the file.
    pool.execute("PRAGMA journal_mode = WAL").await?;
    Ok(pool)
}

/// Read-only connections to the SQLite file of `rest` (opened after the
/// writer created it and switched it to WAL); `None` for `:memory:`, whose
/// one connection is the database.
async fn sqlite_readers(rest: &str) -> Result<Option<AnyPool>> {
    if rest == ":memory:" || rest.starts_with(":memory:?") {
        return Ok(None);
    }
    let path = rest.split('?').next().unwrap_or(rest);
    let pool = AnyPoolOptions::new()
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
                    .await?;
                Ok(())
            })
        })
        .test_before_acquire(false)
        .max_connections(SQLITE_READERS)
        .connect(&format!("sqlite:{path}?mode=ro"))
        .await?;
    Ok(Some(pool))
}

/// Read-only SQLite connections: one per core of a small machine is enough
/// for look-ups that take microseconds.
const SQLITE_READERS: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_ca_file_makes_postgres_verify_the_server() {
        let ca = Path::new("/etc/tollgate/postgres-ca/ca.crt");
        let url = postgres_url_with_ca("postgres://u:p@db:5432/tg?application_name=x", ca).unwrap();
        assert_eq!(
            url,
            "postgres://u:p@db:5432/tg?application_name=x&sslrootcert=%2Fetc%2Ftollgate%2Fpostgres-ca%2Fca.crt&sslmode=verify-full"
        );
        // A mode the URL chose stays; an earlier sslrootcert is replaced.
        let url = postgres_url_with_ca("postgresql://db/tg?sslmode=verify-ca&sslrootcert=/old", ca)
            .unwrap();
        assert!(
            url.contains("sslmode=verify-ca")
                && !url.contains("old")
                && !url.contains("verify-full"),
            "{url}"
        );
        assert!(postgres_url_with_ca("sqlite:/tmp/x.db", ca).is_err());
    }
}
