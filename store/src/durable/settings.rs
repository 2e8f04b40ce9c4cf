//! Contact-center settings, keyed by (contact center, name). No version:
//! a setting is replaced whole by `upsert_setting`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{get_bool, on_foreign_key, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, Setting};

const COLUMNS: &str = "contact_center_id, name, location, shared, value, updated_at";

fn from_row(row: &AnyRow) -> Result<Setting> {
    Ok(Setting {
        contact_center_id: row.try_get("contact_center_id")?,
        name: row.try_get("name")?,
        location: row.try_get("location")?,
        shared: get_bool(row, "shared")?,
        value: row.try_get("value")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    pub async fn list_settings(&self, contact_center_id: &str) -> Result<Vec<Setting>> {
        let sql =
            format!("SELECT {COLUMNS} FROM settings WHERE contact_center_id = $1 ORDER BY name");
        let rows = sqlx::query(&sql)
            .bind(contact_center_id)
            .fetch_all(self.live()?)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// One setting (e.g. `cors-origins`) of every contact center that has it,
    /// ordered by contact center: what the CORS cache is built from.
    pub async fn list_settings_named(&self, name: &str) -> Result<Vec<Setting>> {
        let sql =
            format!("SELECT {COLUMNS} FROM settings WHERE name = $1 ORDER BY contact_center_id");
        let rows = sqlx::query(&sql).bind(name).fetch_all(self.live()?).await?;
        rows.iter().map(from_row).collect()
    }

    /// Inserts or replaces the setting; `updated_at` is set to now.
    /// `MissingReference` when the contact center does not exist.
    pub async fn upsert_setting(&self, setting: &Setting) -> Result<Setting> {
        let sql = format!(
            "INSERT INTO settings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (contact_center_id, name) DO UPDATE SET location = excluded.location, \
             shared = excluded.shared, value = excluded.value, updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&setting.contact_center_id)
            .bind(&setting.name)
            .bind(&setting.location)
            .bind(setting.shared)
            .bind(&setting.value)
            .bind(now())
            .written_one(self.live()?)
            .await
            .map_err(|e| {
                on_foreign_key(e, || StoreError::MissingReference {
                    entity: "contact center",
                    detail: setting.contact_center_id.clone(),
                })
            })?;
        from_row(&row)
    }

    pub async fn delete_setting(&self, contact_center_id: &str, name: &str) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM settings WHERE contact_center_id = $1 AND name = $2")
                .bind(contact_center_id)
                .bind(name)
                .execute(self.live()?)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound { entity: "setting" });
        }
        Ok(())
    }
}
