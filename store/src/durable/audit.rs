//! The audit trail: append-only events, read newest first.

use serde::Serialize;
use sqlx::Row;

use super::sql::{json_column, page_limit, to_json};
use super::{Backend, Db};
use crate::error::Result;
use crate::model::AuditEvent;

/// A batch of events in one statement, read from one JSON array: one
/// parameter whatever the batch's size (SQLite looks each named parameter
/// up by a linear scan, so a statement of many parameters costs their
/// square), one round trip, and atomic without a transaction around it.
const INSERT_SQLITE: &str = "INSERT INTO audit_events \
    (at, kind, client_id, contact_center_id, subject, ip, detail) \
    SELECT json_extract(value, '$.at'), json_extract(value, '$.kind'), \
    json_extract(value, '$.client_id'), json_extract(value, '$.contact_center_id'), \
    json_extract(value, '$.subject'), json_extract(value, '$.ip'), \
    json_extract(value, '$.detail') FROM json_each($1)";

/// [`INSERT_SQLITE`] on PostgreSQL.
const INSERT_POSTGRES: &str = "INSERT INTO audit_events \
    (at, kind, client_id, contact_center_id, subject, ip, detail) \
    SELECT at, kind, client_id, contact_center_id, subject, ip, detail \
    FROM json_to_recordset($1::json) AS e(at BIGINT, kind TEXT, client_id TEXT, \
    contact_center_id TEXT, subject TEXT, ip TEXT, detail TEXT)";

/// One event as the insert reads it; `detail` is the column's JSON text.
#[derive(Serialize)]
struct Record<'a> {
    at: i64,
    kind: &'a str,
    client_id: Option<&'a str>,
    contact_center_id: Option<&'a str>,
    subject: Option<&'a str>,
    ip: Option<&'a str>,
    detail: String,
}

impl Db {
    /// Inserts the batch, all or nothing, in the order given.
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let records = events
            .iter()
            .map(|e| {
                Ok(Record {
                    at: e.at,
                    kind: &e.kind,
                    client_id: e.client_id.as_deref(),
                    contact_center_id: e.contact_center_id.as_deref(),
                    subject: e.subject.as_deref(),
                    ip: e.ip.as_deref(),
                    detail: to_json(&e.detail)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sql = match self.backend {
            Backend::Postgres => INSERT_POSTGRES,
            Backend::Sqlite => INSERT_SQLITE,
        };
        sqlx::query(sql)
            .bind(to_json(&records)?)
            .execute(self.live()?)
            .await?;
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
