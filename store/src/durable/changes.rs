//! The change feed caches follow. Rows are written by database triggers (see
//! the migrations), never by this code, so hand-made changes show up too.

use sqlx::Row;

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
        .fetch_all(&self.pool)
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
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }
}
