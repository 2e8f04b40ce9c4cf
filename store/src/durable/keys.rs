//! Token-signing keys. The private key is sealed with the context
//! `signing_key:<kid>`, so a sealed key copied into another row does not open.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::on_unique;
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{KeyAlgorithm, SigningKey};

const COLUMNS: &str =
    "kid, algorithm, private_sealed, public_jwk, created_at, activates_at, retires_at, expires_at";

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

impl Db {
    fn signing_key_from_row(&self, row: &AnyRow) -> Result<SigningKey> {
        let kid: String = row.try_get("kid")?;
        let algorithm: String = row.try_get("algorithm")?;
        let algorithm = KeyAlgorithm::parse(&algorithm).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "signing key {kid}: unknown algorithm {algorithm:?}"
            ))
        })?;
        let sealed: Vec<u8> = row.try_get("private_sealed")?;
        Ok(SigningKey {
            algorithm,
            private_pkcs8: self.cipher.open(&context(&kid), &sealed)?,
            public_jwk: row.try_get("public_jwk")?,
            created_at: row.try_get("created_at")?,
            activates_at: row.try_get("activates_at")?,
            retires_at: row.try_get("retires_at")?,
            expires_at: row.try_get("expires_at")?,
            kid,
        })
    }

    /// Stores the key as given, times included: the rotation schedule is the caller's.
    pub async fn insert_signing_key(&self, key: &SigningKey) -> Result<()> {
        let sql =
            format!("INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        sqlx::query(&sql)
            .bind(&key.kid)
            .bind(key.algorithm.as_str())
            .bind(self.cipher.seal(&context(&key.kid), &key.private_pkcs8)?)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.retires_at)
            .bind(key.expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                on_unique(e, |_| StoreError::Duplicate {
                    entity: "signing key",
                    detail: format!("kid {}", key.kid),
                })
            })?;
        Ok(())
    }

    /// Oldest first.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| self.signing_key_from_row(row))
            .collect()
    }

    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound {
                entity: "signing key",
            });
        }
        Ok(())
    }
}
