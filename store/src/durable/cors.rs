//! The per-origin CORS allow-list (`/environment/v3/cors`), keyed by
//! (contact center, origin). Rows are immutable: added or deleted, never edited.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::on_foreign_key;
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, CorsOrigin};

const COLUMNS: &str = "contact_center_id, origin, created_at";

fn from_row(row: &AnyRow) -> Result<CorsOrigin> {
    Ok(CorsOrigin {
        contact_center_id: row.try_get("contact_center_id")?,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Adds an origin; true when it was new, false when it was already there
    /// (adding is idempotent, so provisioning scripts can be re-run).
    /// `MissingReference` when the contact center does not exist.
    pub async fn add_cors_origin(&self, contact_center_id: &str, origin: &str) -> Result<bool> {
        let added = sqlx::query(
            "INSERT INTO cors_origins (contact_center_id, origin, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (contact_center_id, origin) DO NOTHING",
        )
        .bind(contact_center_id)
        .bind(origin)
        .bind(now())
        .execute(self.live()?)
        .await
        .map_err(|e| {
            on_foreign_key(e, || StoreError::MissingReference {
                entity: "contact center",
                detail: contact_center_id.to_string(),
            })
        })?
        .rows_affected();
        Ok(added > 0)
    }

    /// Every origin, or one contact center's, ordered by contact center and origin.
    pub async fn list_cors_origins(
        &self,
        contact_center_id: Option<&str>,
    ) -> Result<Vec<CorsOrigin>> {
        let rows = match contact_center_id {
            Some(cc) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM cors_origins WHERE contact_center_id = $1 \
                     ORDER BY origin"
                );
                sqlx::query(&sql).bind(cc).fetch_all(self.live()?).await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM cors_origins ORDER BY contact_center_id, origin"
                );
                sqlx::query(&sql).fetch_all(self.live()?).await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// `NotFound` when the contact center has no such origin.
    pub async fn delete_cors_origin(&self, contact_center_id: &str, origin: &str) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM cors_origins WHERE contact_center_id = $1 AND origin = $2")
                .bind(contact_center_id)
                .bind(origin)
                .execute(self.live()?)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound {
                entity: "cors origin",
            });
        }
        Ok(())
    }
}
