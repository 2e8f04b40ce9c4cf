//! Refresh-token families and their tokens. Tokens are known by the hash of
//! their value; rotation marks the presented one used and adds the next one
//! to the same family, and presenting a used token revokes the family.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::sql::{fold, json_column, on_unique, to_json, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{RefreshFamily, RefreshToken, RotateOutcome, Timestamp};

/// A token joined with its family; token times are prefixed to keep the
/// family's column names as they are.
const JOINED: &str = "SELECT t.hash, t.family_id, t.created_at AS t_created_at, \
    t.expires_at AS t_expires_at, t.used_at, f.id, f.client_id, f.contact_center_id, f.username, \
    f.scope, f.claims, f.created_at, f.expires_at, f.revoked_at, f.dpop_jkt \
    FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1";

/// The common case of a rotation in one PostgreSQL statement (one round
/// trip, no explicit transaction): the presented token is claimed if it is
/// unused and live in a live family of the presenting client whose DPoP key
/// (if any) was proven, its successor is added to that family (living no
/// longer than it), and the family is returned. Of two concurrent rotations
/// only one claims (the other re-checks `used_at IS NULL` after the row lock
/// and finds nothing); anything not rotated here is decided by
/// [`Db::rotate_refresh_token`] after a look at the token.
const ROTATE_AT_ONCE: &str = "WITH claimed AS ( \
        UPDATE refresh_tokens t SET used_at = $2 FROM refresh_families f \
        WHERE t.hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 \
        AND f.id = t.family_id AND f.revoked_at IS NULL AND f.expires_at > $2 \
        AND f.client_id = $6 AND (f.dpop_jkt IS NULL OR f.dpop_jkt = $7) \
        RETURNING t.family_id, f.expires_at AS family_expires_at), \
    added AS ( \
        INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, used_at) \
        SELECT $3, family_id, $4, LEAST($5, family_expires_at), NULL FROM claimed \
        RETURNING family_id) \
    SELECT f.id, f.client_id, f.contact_center_id, f.username, f.scope, f.claims, \
    f.created_at, f.expires_at, f.revoked_at, f.dpop_jkt \
    FROM refresh_families f JOIN added a ON f.id = a.family_id";

fn family_from_row(row: &AnyRow) -> Result<RefreshFamily> {
    let id: String = row.try_get("id")?;
    let what = format!("refresh family {id}");
    Ok(RefreshFamily {
        client_id: row.try_get("client_id")?,
        contact_center_id: row.try_get("contact_center_id")?,
        username: row.try_get("username")?,
        scope: json_column(row, "scope", &what)?,
        claims: json_column(row, "claims", &what)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        id,
    })
}

fn joined_from_row(row: &AnyRow) -> Result<(RefreshToken, RefreshFamily)> {
    let token = RefreshToken {
        hash: row.try_get("hash")?,
        family_id: row.try_get("family_id")?,
        created_at: row.try_get("t_created_at")?,
        expires_at: row.try_get("t_expires_at")?,
        used_at: row.try_get("used_at")?,
    };
    Ok((token, family_from_row(row)?))
}

/// Stores `token` in `family_id`, whatever family the caller put in it.
async fn insert_token(
    tx: &mut Transaction<'static, Any>,
    family_id: &str,
    token: &RefreshToken,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(&token.hash)
    .bind(family_id)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        on_unique(e, |_| StoreError::Duplicate {
            entity: "refresh token",
            detail: "a token with this hash exists".into(),
        })
    })?;
    Ok(())
}

impl Db {
    /// Stores a new family and its first token (`first.family_id` is taken from `family`).
    pub async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        first: &RefreshToken,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO refresh_families (id, client_id, contact_center_id, username, \
             username_key, scope, claims, created_at, expires_at, revoked_at, dpop_jkt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&family.id)
        .bind(&family.client_id)
        .bind(&family.contact_center_id)
        .bind(&family.username)
        .bind(family.username.as_deref().map(fold))
        .bind(to_json(&family.scope)?)
        .bind(to_json(&family.claims)?)
        .bind(family.created_at)
        .bind(family.expires_at)
        .bind(family.revoked_at)
        .bind(&family.dpop_jkt)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, |_| StoreError::Duplicate {
                entity: "refresh family",
                detail: format!("id {}", family.id),
            })
        })?;
        insert_token(&mut tx, &family.id, first).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The rotation of the common case in one step: one statement on PostgreSQL
    /// ([`ROTATE_AT_ONCE`]): `old_hash` of `client_id`'s family, bound to
    /// no DPoP key or to `jkt`, is used and `new` (whose `family_id` is
    /// ignored; its expiry is capped at the family's) joins its family.
    /// `None` when that did not happen: the caller looks at the token and
    /// decides with [`Db::rotate_refresh_token`].
    pub async fn rotate_refresh_token_at_once(
        &self,
        old_hash: &str,
        client_id: &str,
        jkt: Option<&str>,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<RefreshFamily>> {
        if self.backend != super::Backend::Postgres {
            return self
                .rotate_at_once_in_steps(old_hash, client_id, jkt, new, now)
                .await;
        }
        let rotated = sqlx::query(ROTATE_AT_ONCE)
            .bind(old_hash)
            .bind(now)
            .bind(&new.hash)
            .bind(new.created_at)
            .bind(new.expires_at)
            .bind(client_id)
            .bind(jkt)
            .written(self.live()?)
            .await?;
        rotated.as_ref().map(family_from_row).transpose()
    }

    /// [`Db::rotate_refresh_token_at_once`] on SQLite, which cannot write in
    /// a CTE: the same conditions, in one transaction of three statements.
    async fn rotate_at_once_in_steps(
        &self,
        old_hash: &str,
        client_id: &str,
        jkt: Option<&str>,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<RefreshFamily>> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 AND EXISTS ( \
             SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id \
             AND f.revoked_at IS NULL AND f.expires_at > $2 AND f.client_id = $3 \
             AND (f.dpop_jkt IS NULL OR f.dpop_jkt = $4)) RETURNING family_id",
        )
        .bind(old_hash)
        .bind(now)
        .bind(client_id)
        .bind(jkt)
        .written(&mut *tx)
        .await?;
        // Not rotated here: nothing was written, and dropping `tx` ends it.
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let family_id: String = claimed.try_get("family_id")?;
        let row = sqlx::query(
            "SELECT id, client_id, contact_center_id, username, scope, claims, created_at, \
             expires_at, revoked_at, dpop_jkt FROM refresh_families WHERE id = $1",
        )
        .bind(&family_id)
        .fetch_one(&mut *tx)
        .await?;
        let family = family_from_row(&row)?;
        let next = RefreshToken {
            expires_at: new.expires_at.min(family.expires_at),
            ..new.clone()
        };
        insert_token(&mut tx, &family.id, &next).await?;
        tx.commit().await?;
        Ok(Some(family))
    }

    /// Atomically marks `old_hash` used and stores `new` in its family; on reuse revokes the family.
    ///
    /// The conditional update comes first and decides the race: of two
    /// concurrent rotations of one token only one sees `used_at IS NULL`
    /// (PostgreSQL re-checks it after waiting for the row lock; SQLite runs
    /// one writer at a time). The other one then finds a used token: reuse.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<RotateOutcome> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
        )
        .bind(old_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(JOINED)
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
        // Outcomes other than rotation and reuse roll back (dropping `tx`),
        // so a refused token is not marked used.
        let Some(row) = row else {
            return Ok(RotateOutcome::NotFound);
        };
        let (token, family) = joined_from_row(&row)?;
        if family.revoked_at.is_some() {
            return Ok(RotateOutcome::Revoked);
        }
        if token.expires_at <= now || family.expires_at <= now {
            return Ok(RotateOutcome::Expired);
        }
        if !claimed {
            Self::revoke_family_in(&mut tx, &family.id, now).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Reused {
                family_id: family.id,
            });
        }
        insert_token(&mut tx, &family.id, new).await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated(family))
    }

    pub async fn find_refresh_token(
        &self,
        hash: &str,
    ) -> Result<Option<(RefreshToken, RefreshFamily)>> {
        let row = sqlx::query(JOINED)
            .bind(hash)
            .fetch_optional(self.live()?)
            .await?;
        row.as_ref().map(joined_from_row).transpose()
    }

    /// Idempotent for an already revoked family; `NotFound` for an unknown one.
    pub async fn revoke_refresh_family(&self, family_id: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.begin().await?;
        if !Self::revoke_family_in(&mut tx, family_id, now).await? {
            let exists: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM refresh_families WHERE id = $1")
                    .bind(family_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if exists == 0 {
                return Err(StoreError::NotFound {
                    entity: "refresh family",
                });
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes the live families of one user; `contact_center_id` and
    /// `username` are matched case-insensitively, so a differently cased
    /// login never escapes a sign-out. Returns how many.
    pub async fn revoke_user_refresh_families(
        &self,
        contact_center_id: &str,
        username: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let revoked =
            Self::revoke_user_families_in(&mut tx, contact_center_id, &fold(username), now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Revokes the live families of one client. Returns how many.
    pub async fn revoke_client_refresh_families(
        &self,
        client_id: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let revoked = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(revoked)
    }

    /// True when this call revoked the family (false: unknown or already revoked).
    async fn revoke_family_in(
        tx: &mut Transaction<'static, Any>,
        family_id: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let revoked = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(revoked > 0)
    }

    /// `username_key` must already be folded. The contact center id is
    /// folded by SQL `lower()` on both sides, so any case matches.
    pub(super) async fn revoke_user_families_in(
        tx: &mut Transaction<'static, Any>,
        contact_center_id: &str,
        username_key: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let revoked = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $3 \
             WHERE lower(contact_center_id) = lower($1) AND username_key = $2 \
             AND revoked_at IS NULL",
        )
        .bind(contact_center_id)
        .bind(username_key)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Ok(revoked)
    }
}
