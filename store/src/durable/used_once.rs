//! Values that may be used once (assertion ids): the first use is recorded
//! durably, so a replay is refused after any restart of any store.

use sha2::{Digest, Sha256};

use super::Db;
use crate::error::Result;
use crate::model::Timestamp;

impl Db {
    /// Records the use of `value` until `expires_at`; true the first time,
    /// false for every later use before it expires (in one atomic insert).
    pub async fn first_use(&self, value: &str, expires_at: Timestamp) -> Result<bool> {
        let key_hash = hex::encode(Sha256::digest(value.as_bytes()));
        let inserted = sqlx::query(
            "INSERT INTO used_once (key_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash)
        .bind(expires_at)
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}
