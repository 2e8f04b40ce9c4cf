//! Refresh-token families and their tokens. Tokens are known by the hash of
//! their value; rotation marks the presented one used and adds the next one
//! to the same family, and presenting a used token revokes the family.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::rotations::{Rotated, Rotation};
use super::sql::{fold, json_column, on_unique, to_json};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{RefreshFamily, RefreshToken, RotateOutcome, Timestamp};

/// A token joined with its family; token times are prefixed to keep the
/// family's column names as they are.
const JOINED: &str = "SELECT t.hash, t.family_id, t.created_at AS t_created_at, \
    t.expires_at AS t_expires_at, t.used_at, f.id, f.client_id, f.contact_center_id, f.username, \
    f.scope, f.claims, f.created_at, f.expires_at, f.revoked_at, f.dpop_jkt \
    FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1";

/// A batch of common-case rotations ([`Rotation`]) in one PostgreSQL
/// statement (one round trip, one commit): each presented token is claimed
/// if it is unused and live in a live family of the presenting client whose
/// DPoP key (if any) was proven, its successor is added to that family
/// (living no longer than it), and the family is returned beside the
/// presented hash. Of two concurrent claims of one token only one succeeds
/// (the other re-checks `used_at IS NULL` after the row lock and finds
/// nothing); anything not rotated here is decided by
/// [`Db::rotate_refresh_token`] after a look at the token.
const ROTATE_BATCH: &str = "WITH asked AS ( \
        SELECT * FROM json_to_recordset($1::json) AS a(old_hash TEXT, client_id TEXT, \
        jkt TEXT, used_at BIGINT, new_hash TEXT, created_at BIGINT, expires_at BIGINT)), \
    claimed AS ( \
        UPDATE refresh_tokens t SET used_at = a.used_at FROM asked a \
        WHERE t.hash = ANY (ARRAY(SELECT old_hash FROM asked)) AND t.hash = a.old_hash \
        AND t.used_at IS NULL AND t.expires_at > a.used_at \
        AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id \
        AND f.revoked_at IS NULL AND f.expires_at > a.used_at AND f.client_id = a.client_id \
        AND (f.dpop_jkt IS NULL OR f.dpop_jkt = a.jkt) OFFSET 0) \
        RETURNING t.hash, t.family_id), \
    added AS ( \
        INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, used_at) \
        SELECT a.new_hash, c.family_id, a.created_at, LEAST(a.expires_at, f.expires_at), NULL \
        FROM claimed c JOIN asked a ON a.old_hash = c.hash JOIN refresh_families f ON f.id = c.family_id \
        RETURNING hash, family_id) \
    SELECT a.old_hash AS rotated, f.id, f.client_id, f.contact_center_id, f.username, \
    f.scope, f.claims, f.created_at, f.expires_at, f.revoked_at, f.dpop_jkt \
    FROM added d JOIN asked a ON a.new_hash = d.hash JOIN refresh_families f ON f.id = d.family_id";

/// [`ROTATE_BATCH`]'s claim on SQLite, which cannot write in a CTE: the
/// same conditions, returning what it claimed.
const CLAIM_BATCH_SQLITE: &str = "UPDATE refresh_tokens SET used_at = a.used_at FROM ( \
        SELECT json_extract(value, '$.old_hash') AS old_hash, \
        json_extract(value, '$.client_id') AS client_id, json_extract(value, '$.jkt') AS jkt, \
        json_extract(value, '$.used_at') AS used_at FROM json_each($1)) AS a \
    WHERE refresh_tokens.hash = a.old_hash AND refresh_tokens.used_at IS NULL \
    AND refresh_tokens.expires_at > a.used_at AND EXISTS ( \
        SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id \
        AND f.revoked_at IS NULL AND f.expires_at > a.used_at AND f.client_id = a.client_id \
        AND (f.dpop_jkt IS NULL OR f.dpop_jkt = a.jkt)) \
    RETURNING hash, family_id";

const FAMILY_COLUMNS: &str = "id, client_id, contact_center_id, username, scope, claims, \
    created_at, expires_at, revoked_at, dpop_jkt";

/// The batch as the JSON records [`ROTATE_BATCH`] and [`CLAIM_BATCH_SQLITE`] read.
fn batch_json(batch: &[&Rotation]) -> String {
    let records: Vec<serde_json::Value> = batch
        .iter()
        .map(|r| {
            serde_json::json!({
                "old_hash": r.old_hash,
                "client_id": r.client_id,
                "jkt": r.jkt,
                "used_at": r.now,
                "new_hash": r.new.hash,
                "created_at": r.new.created_at,
                "expires_at": r.new.expires_at,
            })
        })
        .collect();
    serde_json::Value::Array(records).to_string()
}

pub(super) async fn rotate_batch_postgres(
    conn: &mut AnyConnection,
    batch: &[&Rotation],
) -> Result<Rotated> {
    // Every row read: the statement's end is its commit (see `Written`).
    let rows = sqlx::query(ROTATE_BATCH)
        .bind(batch_json(batch))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("rotated")?, family_from_row(row)?)))
        .collect()
}

/// [`rotate_batch_postgres`] on SQLite: one transaction of three
/// statements (claim, read the families, add the successors).
pub(super) async fn rotate_batch_sqlite(
    mut tx: Transaction<'static, Any>,
    batch: &[&Rotation],
) -> Result<Rotated> {
    let claimed = sqlx::query(CLAIM_BATCH_SQLITE)
        .bind(batch_json(batch))
        .fetch_all(&mut *tx)
        .await?;
    if claimed.is_empty() {
        return Ok(Rotated::new());
    }
    let family_of: HashMap<String, String> = claimed
        .iter()
        .map(|row| Ok((row.try_get("hash")?, row.try_get("family_id")?)))
        .collect::<Result<_>>()?;
    let ids: Vec<&String> = family_of.values().collect();
    let families: HashMap<String, RefreshFamily> = sqlx::query(&format!(
        "SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE id IN (SELECT value FROM json_each($1))"
    ))
    .bind(serde_json::json!(ids).to_string())
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|row| family_from_row(row).map(|f| (f.id.clone(), f)))
    .collect::<Result<_>>()?;
    let mut rotated = Rotated::new();
    let mut successors = Vec::new();
    for r in batch {
        let Some(family) = family_of.get(&r.old_hash).and_then(|id| families.get(id)) else {
            continue;
        };
        successors.push(serde_json::json!({
            "hash": r.new.hash,
            "family_id": family.id,
            "created_at": r.new.created_at,
            "expires_at": r.new.expires_at.min(family.expires_at),
        }));
        rotated.insert(r.old_hash.clone(), family.clone());
    }
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, family_id, created_at, expires_at, used_at) \
         SELECT json_extract(value, '$.hash'), json_extract(value, '$.family_id'), \
         json_extract(value, '$.created_at'), json_extract(value, '$.expires_at'), NULL \
         FROM json_each($1)",
    )
    .bind(serde_json::Value::Array(successors).to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rotated)
}

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

    /// The rotation of the common case, done in a batch with the others
    /// asked at the same time (see [`super::rotations`]): `old_hash` of
    /// `client_id`'s family, bound to no DPoP key or to `jkt`, is used and
    /// `new` (whose `family_id` is ignored; its expiry is capped at the
    /// family's) joins its family. `None` when that did not happen: the
    /// caller looks at the token and decides with [`Db::rotate_refresh_token`].
    pub async fn rotate_refresh_token_at_once(
        &self,
        old_hash: &str,
        client_id: &str,
        jkt: Option<&str>,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<RefreshFamily>> {
        self.live()?;
        self.rotations
            .rotate(Rotation {
                old_hash: old_hash.to_string(),
                client_id: client_id.to_string(),
                jkt: jkt.map(str::to_string),
                new: new.clone(),
                now,
            })
            .await
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
