//! The durable copy of opaque access tokens' claims, keyed by the token's
//! digest (the token itself is never stored): what answers when the
//! ephemeral store lost them. Housekeeping deletes expired rows.

use sqlx::Row;

use super::Db;
use crate::error::Result;
use crate::model::Timestamp;

impl Db {
    /// Keeps `claims` (JSON text) for the token whose digest is `hash`, until `expires_at`.
    pub async fn insert_opaque_token(
        &self,
        hash: &str,
        claims: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO opaque_tokens (hash, claims, expires_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(claims)
            .bind(expires_at)
            .execute(self.live()?)
            .await?;
        Ok(())
    }

    /// The claims and expiry kept for `hash`, unless expired at `now` or forgotten.
    pub async fn opaque_token(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<(String, Timestamp)>> {
        let row = sqlx::query(
            "SELECT claims, expires_at FROM opaque_tokens WHERE hash = $1 AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(self.live()?)
        .await?;
        row.map(|r| Ok((r.try_get("claims")?, r.try_get("expires_at")?)))
            .transpose()
    }

    /// Forgets a revoked token's claims.
    pub async fn delete_opaque_token(&self, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM opaque_tokens WHERE hash = $1")
            .bind(hash)
            .execute(self.live()?)
            .await?;
        Ok(())
    }
}
