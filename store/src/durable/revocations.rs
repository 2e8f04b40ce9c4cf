//! Revoked access tokens, read by verifiers as a feed: `seq` only grows, and
//! on PostgreSQL a statement trigger makes seq order equal commit order (see
//! the migration), so polling "seq > last seen" misses nothing.

use sqlx::Row;

use super::sql::Written;
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{Revocation, Timestamp};

impl Db {
    /// Returns the revocation's `seq`.
    pub async fn insert_revocation(&self, revocation: &Revocation) -> Result<i64> {
        let (kind, subject, issued_before, expires_at) = match revocation {
            Revocation::Jti { jti, expires_at } => ("jti", jti, None, *expires_at),
            Revocation::Subject {
                subject,
                issued_before,
                expires_at,
            } => ("subject", subject, Some(*issued_before), *expires_at),
        };
        let row = sqlx::query(
            "INSERT INTO revocations (kind, subject, issued_before, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(kind)
        .bind(subject)
        .bind(issued_before)
        .bind(expires_at)
        .written_one(self.live()?)
        .await?;
        Ok(row.try_get("seq")?)
    }

    /// Revocations after `seq` that have not expired at `now`, in seq order.
    pub async fn revocations_since(
        &self,
        seq: i64,
        now: Timestamp,
    ) -> Result<Vec<(i64, Revocation)>> {
        let rows = sqlx::query(
            "SELECT seq, kind, subject, issued_before, expires_at FROM revocations \
             WHERE seq > $1 AND expires_at > $2 ORDER BY seq",
        )
        .bind(seq)
        .bind(now)
        .fetch_all(self.live()?)
        .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let kind: String = row.try_get("kind")?;
                let subject: String = row.try_get("subject")?;
                let expires_at: Timestamp = row.try_get("expires_at")?;
                let revocation = match (
                    kind.as_str(),
                    row.try_get::<Option<i64>, _>("issued_before")?,
                ) {
                    ("jti", _) => Revocation::Jti {
                        jti: subject,
                        expires_at,
                    },
                    ("subject", Some(issued_before)) => Revocation::Subject {
                        subject,
                        issued_before,
                        expires_at,
                    },
                    _ => {
                        return Err(StoreError::Corrupt(format!(
                            "revocation {seq}: kind {kind:?} without its fields"
                        )))
                    }
                };
                Ok((seq, revocation))
            })
            .collect()
    }
}
