//! The audit trail: append-only events, read newest first.

use sqlx::Row;

use super::sql::{json_column, page_limit, to_json};
use super::Db;
use crate::error::Result;
use crate::model::AuditEvent;

/// Events per INSERT statement: a busy batch costs a few round trips, not
/// one per event (7 parameters a row stays far below both backends' limits).
const ROWS_PER_INSERT: usize = 100;

/// `INSERT ... VALUES ($1, .., $7), ($8, .., $14), ..` for `rows` events.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (at, kind, client_id, contact_center_id, subject, ip, detail) VALUES ",
    );
    for row in 0..rows {
        let first = row * 7 + 1;
        let params: Vec<String> = (first..first + 7).map(|n| format!("${n}")).collect();
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&params.join(", "));
        sql.push(')');
    }
    sql
}

impl Db {
    /// Inserts the batch in one transaction: all or nothing.
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(chunk.len());
            let mut insert = sqlx::query(&sql);
            for event in chunk {
                insert = insert
                    .bind(event.at)
                    .bind(&event.kind)
                    .bind(&event.client_id)
                    .bind(&event.contact_center_id)
                    .bind(&event.subject)
                    .bind(&event.ip)
                    .bind(to_json(&event.detail)?);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Newest first, optionally of one kind. A non-positive `limit` means 100;
    /// at most 1000.
    pub async fn list_audit_events(
        &self,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        const COLUMNS: &str = "id, at, kind, client_id, contact_center_id, subject, ip, detail";
        let query = match kind {
            Some(_) => format!(
                "SELECT {COLUMNS} FROM audit_events WHERE kind = $2 ORDER BY at DESC, id DESC LIMIT $1"
            ),
            None => format!("SELECT {COLUMNS} FROM audit_events ORDER BY at DESC, id DESC LIMIT $1"),
        };
        let mut query = sqlx::query(&query).bind(page_limit(limit));
        if let Some(kind) = kind {
            query = query.bind(kind);
        }
        let rows = query.fetch_all(self.live()?).await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(AuditEvent {
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    client_id: row.try_get("client_id")?,
                    contact_center_id: row.try_get("contact_center_id")?,
                    subject: row.try_get("subject")?,
                    ip: row.try_get("ip")?,
                    detail: json_column(row, "detail", &format!("audit event {id}"))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_are_numbered_on_from_the_previous_one() {
        assert_eq!(
            super::insert_sql(2),
            "INSERT INTO audit_events (at, kind, client_id, contact_center_id, subject, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14)"
        );
    }
}
