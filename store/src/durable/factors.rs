//! Second factors of built-in users: one TOTP secret per user, sealed with
//! the context `user_factor:<contact center id>:<user id>`, and the digests
//! of the recovery codes not used yet. Accepting a code and using a recovery
//! code are each one conditional statement, so two processes can never both
//! take the same one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{fold, get_bool, Written};
use super::Db;
use crate::error::Result;
use crate::model::{now, UserFactor};

fn context(contact_center_id: &str, user_id: &str) -> String {
    format!("user_factor:{contact_center_id}:{user_id}")
}

impl Db {
    fn factor_from_row(&self, row: &AnyRow) -> Result<UserFactor> {
        let contact_center_id: String = row.try_get("contact_center_id")?;
        let user_id: String = row.try_get("user_id")?;
        let sealed: Vec<u8> = row.try_get("totp_sealed")?;
        let secret = self
            .cipher
            .open(&context(&contact_center_id, &user_id), &sealed)?;
        Ok(UserFactor {
            secret,
            confirmed: get_bool(row, "confirmed")?,
            last_step: row.try_get("last_step")?,
            created_at: row.try_get("created_at")?,
            contact_center_id,
            user_id,
        })
    }

    /// The factor of the built-in user named `username` (case-insensitive).
    pub async fn factor_by_username(
        &self,
        contact_center_id: &str,
        username: &str,
    ) -> Result<Option<UserFactor>> {
        let row = sqlx::query(
            "SELECT f.contact_center_id, f.user_id, f.totp_sealed, f.confirmed, f.last_step, \
             f.created_at FROM user_factors f JOIN users u \
             ON u.contact_center_id = f.contact_center_id AND u.id = f.user_id \
             WHERE f.contact_center_id = $1 AND u.username_key = $2",
        )
        .bind(contact_center_id)
        .bind(fold(username))
        .fetch_optional(self.live()?)
        .await?;
        row.as_ref().map(|r| self.factor_from_row(r)).transpose()
    }

    /// Starts an enrolment: an unconfirmed secret replaces any unconfirmed
    /// one; a confirmed factor is kept (then `false`).
    pub async fn start_factor(
        &self,
        contact_center_id: &str,
        user_id: &str,
        secret: &[u8],
    ) -> Result<bool> {
        let sealed = self
            .cipher
            .seal(&context(contact_center_id, user_id), secret)?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM user_factors WHERE contact_center_id = $1 AND user_id = $2 \
             AND confirmed = $3",
        )
        .bind(contact_center_id)
        .bind(user_id)
        .bind(false)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO user_factors (contact_center_id, user_id, totp_sealed, confirmed, \
             last_step, created_at) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
        )
        .bind(contact_center_id)
        .bind(user_id)
        .bind(sealed)
        .bind(false)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Takes TOTP time step `step` for the user: `true` only when it is later
    /// than every step taken before (a code is never accepted twice). The
    /// first step taken confirms an enrolment, which then gets
    /// `recovery_digests` as its recovery codes.
    pub async fn take_factor_step(
        &self,
        contact_center_id: &str,
        user_id: &str,
        step: i64,
        recovery_digests: &[String],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let confirmed: Option<bool> = sqlx::query(
            "UPDATE user_factors SET last_step = $3, confirmed = $4 \
             WHERE contact_center_id = $1 AND user_id = $2 AND last_step < $3 \
             RETURNING confirmed",
        )
        .bind(contact_center_id)
        .bind(user_id)
        .bind(step)
        .bind(true)
        .written(&mut *tx)
        .await?
        .map(|r| get_bool(&r, "confirmed"))
        .transpose()?;
        if confirmed.is_none() {
            return Ok(false);
        }
        for digest in recovery_digests {
            sqlx::query(
                "INSERT INTO user_recovery_codes (contact_center_id, user_id, code_digest) \
                 VALUES ($1, $2, $3)",
            )
            .bind(contact_center_id)
            .bind(user_id)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Uses the recovery code with this digest: `true` once, then never again.
    pub async fn use_recovery_code(
        &self,
        contact_center_id: &str,
        user_id: &str,
        digest: &str,
    ) -> Result<bool> {
        let deleted = sqlx::query(
            "DELETE FROM user_recovery_codes WHERE contact_center_id = $1 AND user_id = $2 \
             AND code_digest = $3",
        )
        .bind(contact_center_id)
        .bind(user_id)
        .bind(digest)
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(deleted == 1)
    }

    /// Removes the user's factors: the TOTP secret with its recovery codes,
    /// and every passkey; `false` if they had none.
    pub async fn delete_factors(&self, contact_center_id: &str, user_id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let mut deleted = 0;
        for table in ["user_factors", "user_passkeys"] {
            deleted += sqlx::query(&format!(
                "DELETE FROM {table} WHERE contact_center_id = $1 AND user_id = $2"
            ))
            .bind(contact_center_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }
}
