//! The change feed caches follow. Rows are written by database triggers (see
//! the migrations), never by this code, so hand-made changes show up too.
//! On PostgreSQL the triggers also announce each change (`NOTIFY`), so
//! replicas need not wait for their next poll.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Row;
use tokio::sync::Notify;

use super::Db;
use crate::error::Result;
use crate::model::Change;

impl Db {
    /// Changes after `seq`, oldest first.
    pub async fn changes_since(&self, seq: i64) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT seq, entity, entity_id FROM change_log WHERE seq > $1 ORDER BY seq",
        )
        .bind(seq)
        .fetch_all(self.live()?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Change {
                    seq: row.try_get("seq")?,
                    entity: row.try_get("entity")?,
                    id: row.try_get("entity_id")?,
                })
            })
            .collect()
    }

    /// The newest seq, 0 when nothing changed yet.
    pub async fn latest_change_seq(&self) -> Result<i64> {
        let seq = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM change_log")
            .fetch_one(self.live()?)
            .await?;
        Ok(seq)
    }

    /// Wakes `changed` whenever a change or a revocation is committed
    /// (PostgreSQL `NOTIFY` on a connection of its own); returns at once on
    /// SQLite. After a lost connection it reconnects and wakes `changed`
    /// once, for what it may have missed. Runs until its task is dropped.
    pub async fn listen_for_changes(&self, changed: &Notify) {
        let Some(url) = self.listen_url.clone() else {
            return;
        };
        loop {
            if let Err(e) = listen(&url, changed).await {
                tracing::warn!(error = %e, "change notifications interrupted; polling until they are back");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Relays notifications to `changed` until the connection fails.
async fn listen(url: &str, changed: &Notify) -> Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    changed.notify_one();
    loop {
        listener.recv().await?;
        changed.notify_one();
    }
}

/// The channel of `tollgate_notify_change()` (migration 0012).
const CHANNEL: &str = "tollgate_changes";
