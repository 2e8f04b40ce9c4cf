//! Keeps the tables that grow with traffic bounded: expired revocations,
//! spent single-use values, opaque access tokens, refresh tokens and families, old change-log rows and audit events past
//! their retention. Each run deletes at most [`BATCH`] rows of each table,
//! oldest first along an index, so a run is short however far behind it is;
//! the next run goes on.
//!
//! One replica prunes at a time: on PostgreSQL the run holds a transaction
//! advisory lock and the others skip theirs; SQLite has one writer anyway.

use sqlx::{Any, Transaction};

use super::{Backend, Db};
use crate::error::Result;
use crate::model::Timestamp;

/// The condition of rows whose `expires_at` has passed.
const EXPIRED: &str = "expires_at <= $1";

/// Rows of one table deleted by one run, at most.
pub const BATCH: i64 = 5_000;

/// `pg_try_advisory_xact_lock` key of housekeeping ("tghouse" in ASCII).
pub const HOUSEKEEPING_LOCK: i64 = 0x0074_6768_6f75_7365;

/// How long rows are kept after they stop mattering.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Audit events older than this many seconds are deleted.
    pub audit: i64,
    /// Change-log rows older than this many seconds (replicas read the log
    /// within seconds; one that was away longer reloads everything).
    pub change_log: i64,
}

/// What one run deleted; `None` when another replica was pruning.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub revocations: u64,
    pub used_once: u64,
    pub opaque_tokens: u64,
    pub refresh_tokens: u64,
    pub refresh_families: u64,
    pub change_log: u64,
    pub audit_events: u64,
}

impl Db {
    /// One housekeeping run at `now`.
    pub async fn prune(&self, now: Timestamp, keep: Retention) -> Result<Option<Pruned>> {
        let mut tx = self.begin().await?;
        if self.backend() == Backend::Postgres {
            let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(HOUSEKEEPING_LOCK)
                .fetch_one(&mut *tx)
                .await?;
            if !leader {
                return Ok(None);
            }
        }
        let t = &mut tx;
        let pruned = Pruned {
            revocations: delete_oldest(t, "revocations", "seq", EXPIRED, now).await?,
            used_once: delete_oldest(t, "used_once", "key_hash", EXPIRED, now).await?,
            opaque_tokens: delete_oldest(t, "opaque_tokens", "hash", EXPIRED, now).await?,
            refresh_tokens: delete_oldest(t, "refresh_tokens", "hash", EXPIRED, now).await?,
            // A family's tokens go with it (ON DELETE CASCADE).
            refresh_families: delete_oldest(t, "refresh_families", "id", EXPIRED, now).await?,
            change_log: delete_oldest(
                t,
                "change_log",
                "seq",
                "changed_at < $1",
                now - keep.change_log,
            )
            .await?,
            audit_events: delete_oldest(t, "audit_events", "id", "at < $1", now - keep.audit)
                .await?,
        };
        tx.commit().await?;
        Ok(Some(pruned))
    }
}

/// Deletes up to [`BATCH`] rows of `table` matching `condition` (on `$1`),
/// found through `key`.
async fn delete_oldest(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    key: &str,
    condition: &str,
    bound: Timestamp,
) -> Result<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {BATCH})"
    );
    Ok(sqlx::query(&sql)
        .bind(bound)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}
