//! Trusted issuers of RFC 7523 assertions, keyed by issuer: one issuer
//! belongs to one contact center, and is replaced whole by an upsert.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{json_column, on_foreign_key, to_json, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, TrustedIssuer};

const COLUMNS: &str =
    "issuer, contact_center_id, jwks, jwks_uri, algorithms, max_lifetime, updated_at";

fn from_row(row: &AnyRow) -> Result<TrustedIssuer> {
    let issuer: String = row.try_get("issuer")?;
    let what = format!("trusted issuer {issuer}");
    Ok(TrustedIssuer {
        contact_center_id: row.try_get("contact_center_id")?,
        jwks: row
            .try_get::<Option<String>, _>("jwks")?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("{what}: jwks: {e}")))
            })
            .transpose()?,
        jwks_uri: row.try_get("jwks_uri")?,
        algorithms: json_column(row, "algorithms", &what)?,
        max_lifetime: row.try_get("max_lifetime")?,
        updated_at: row.try_get("updated_at")?,
        issuer,
    })
}

impl Db {
    pub async fn list_trusted_issuers(
        &self,
        contact_center_id: &str,
    ) -> Result<Vec<TrustedIssuer>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM trusted_issuers WHERE contact_center_id = $1 ORDER BY issuer"
        );
        let rows = sqlx::query(&sql)
            .bind(contact_center_id)
            .fetch_all(self.live()?)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn get_trusted_issuer(&self, issuer: &str) -> Result<Option<TrustedIssuer>> {
        let sql = format!("SELECT {COLUMNS} FROM trusted_issuers WHERE issuer = $1");
        let row = sqlx::query(&sql)
            .bind(issuer)
            .fetch_optional(self.live()?)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Inserts or replaces the issuer of this contact center. `Duplicate`
    /// when another contact center trusts that issuer; `MissingReference`
    /// when the contact center does not exist.
    pub async fn upsert_trusted_issuer(&self, t: &TrustedIssuer) -> Result<TrustedIssuer> {
        let sql = format!(
            "INSERT INTO trusted_issuers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks, jwks_uri = excluded.jwks_uri, \
             algorithms = excluded.algorithms, max_lifetime = excluded.max_lifetime, \
             updated_at = excluded.updated_at \
             WHERE trusted_issuers.contact_center_id = excluded.contact_center_id \
             RETURNING {COLUMNS}"
        );
        let jwks = t.jwks.as_ref().map(to_json).transpose()?;
        let row = sqlx::query(&sql)
            .bind(&t.issuer)
            .bind(&t.contact_center_id)
            .bind(jwks)
            .bind(&t.jwks_uri)
            .bind(to_json(&t.algorithms)?)
            .bind(t.max_lifetime)
            .bind(now())
            .written(self.live()?)
            .await
            .map_err(|e| {
                on_foreign_key(e, || StoreError::MissingReference {
                    entity: "contact center",
                    detail: t.contact_center_id.clone(),
                })
            })?;
        match row {
            Some(row) => from_row(&row),
            None => Err(StoreError::Duplicate {
                entity: "trusted issuer",
                detail: format!("issuer {} belongs to another contact center", t.issuer),
            }),
        }
    }

    pub async fn delete_trusted_issuer(&self, contact_center_id: &str, issuer: &str) -> Result<()> {
        let deleted =
            sqlx::query("DELETE FROM trusted_issuers WHERE contact_center_id = $1 AND issuer = $2")
                .bind(contact_center_id)
                .bind(issuer)
                .execute(self.live()?)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound {
                entity: "trusted issuer",
            });
        }
        Ok(())
    }
}
