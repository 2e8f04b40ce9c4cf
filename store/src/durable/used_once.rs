//! Values that may be used once (assertion ids, authorization codes): the
//! first use is recorded durably, so a replay is refused (and what the first
//! use produced is known) after any restart of any store.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::Db;
use crate::error::Result;
use crate::model::Timestamp;

impl Db {
    /// Records the use of `value` until `expires_at`; true the first time,
    /// false for every later use before it expires (in one atomic insert).
    pub async fn first_use(&self, value: &str, expires_at: Timestamp) -> Result<bool> {
        self.first_use_with(value, expires_at, None).await
    }

    /// As [`Db::first_use`], keeping `detail`: what the use produced.
    pub async fn first_use_with(
        &self,
        value: &str,
        expires_at: Timestamp,
        detail: Option<&str>,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO used_once (key_hash, expires_at, detail) VALUES ($1, $2, $3) \
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash(value))
        .bind(expires_at)
        .bind(detail)
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The recorded use of `value`: `None` when it was not used (or its record
    /// expired), else the detail kept with it.
    pub async fn use_of(&self, value: &str, now: Timestamp) -> Result<Option<Option<String>>> {
        let row =
            sqlx::query("SELECT detail FROM used_once WHERE key_hash = $1 AND expires_at > $2")
                .bind(key_hash(value))
                .bind(now)
                .fetch_optional(self.live()?)
                .await?;
        Ok(row.map(|r| r.get::<Option<String>, _>(0)))
    }
}

fn key_hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}
