//! Token-signing keys. The private key is sealed with the context
//! `signing_key:<kid>`, so a sealed key copied into another row does not open.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::sql::{get_bool, on_unique};
use super::{Backend, Db};
use crate::error::{Result, StoreError};
use crate::model::{KeyAlgorithm, SigningKey, Timestamp};

/// `pg_advisory_xact_lock` key of signing-key creation ("tgkeys" in ASCII).
const SIGNING_KEYS_LOCK: i64 = 0x7467_6b65_7973;

const COLUMNS: &str = "kid, algorithm, private_sealed, public_jwk, created_at, activates_at, \
                       retires_at, expires_at, publish_only";

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
            publish_only: get_bool(row, "publish_only")?,
            kid,
        })
    }

    /// Stores the key as given, times included: the rotation schedule is the caller's.
    pub async fn insert_signing_key(&self, key: &SigningKey) -> Result<()> {
        let mut conn = self.live()?.acquire().await?;
        self.insert_signing_key_in(&mut conn, key).await
    }

    async fn insert_signing_key_in(
        &self,
        conn: &mut AnyConnection,
        key: &SigningKey,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(&key.kid)
            .bind(key.algorithm.as_str())
            .bind(self.cipher.seal(&context(&key.kid), &key.private_pkcs8)?)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.retires_at)
            .bind(key.expires_at)
            .bind(key.publish_only)
            .execute(conn)
            .await
            .map_err(|e| {
                on_unique(e, |_| StoreError::Duplicate {
                    entity: "signing key",
                    detail: format!("kid {}", key.kid),
                })
            })?;
        Ok(())
    }

    /// Stores `key` (as [`Db::insert_signing_key`]) unless a key activating
    /// after `newest_seen` (any key, when `None`) and not expired at `now` was
    /// stored since the caller looked (publish-only keys do not count: they
    /// never sign): of replicas that decide to rotate at the
    /// same moment, exactly one creates the key. True when `key` was stored.
    pub async fn insert_signing_key_unless_newer(
        &self,
        key: &SigningKey,
        newest_seen: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_key_change().await?;
        let newer: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM signing_keys \
         WHERE activates_at > $1 AND expires_at > $2 AND NOT publish_only",
        )
        .bind(newest_seen.unwrap_or(Timestamp::MIN))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if newer > 0 {
            return Ok(false);
        }
        self.insert_signing_key_in(&mut tx, key).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a key made outside the schedule (an imported one, or one
    /// rotated in on request), refusing a `kid` already stored. A key that
    /// signs at once retires the key signing now and replaces the generated
    /// keys published ahead but not yet signing (they signed nothing), so it
    /// signs for its whole interval and the schedule resumes from it.
    pub async fn import_signing_key(&self, key: &SigningKey, now: Timestamp) -> Result<()> {
        let mut tx = self.begin_key_change().await?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys WHERE kid = $1")
            .bind(&key.kid)
            .fetch_one(&mut *tx)
            .await?;
        if taken > 0 {
            return Err(StoreError::Duplicate {
                entity: "signing key",
                detail: format!("kid {}", key.kid),
            });
        }
        if !key.publish_only {
            sqlx::query("DELETE FROM signing_keys WHERE activates_at > $1 AND NOT publish_only")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // The key signing until now retires; it stays published for its tokens.
            sqlx::query(
                "UPDATE signing_keys SET retires_at = $1 \
                 WHERE activates_at <= $1 AND retires_at > $1 AND NOT publish_only",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        self.insert_signing_key_in(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A transaction that sees every other key change: SQLite's `BEGIN
    /// IMMEDIATE` already serializes writers; PostgreSQL transactions need the
    /// lock to see each other's key.
    async fn begin_key_change(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SIGNING_KEYS_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Oldest first.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKey>> {
        let sql = format!("SELECT {COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        let rows = sqlx::query(&sql).fetch_all(self.live()?).await?;
        rows.iter()
            .map(|row| self.signing_key_from_row(row))
            .collect()
    }

    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(self.live()?)
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
