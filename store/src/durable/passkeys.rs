//! WebAuthn passkeys of built-in users (second factors beside TOTP). The
//! credential is kept as webauthn-rs serialises it; every statement names
//! the contact center, so one tenant's rows are never read or changed
//! through another's. A use takes the new signature counter only when it is
//! later than the stored one (or the authenticator keeps none), in one
//! conditional update, so a cloned authenticator racing the real one loses.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::get_bool;
use super::Db;
use crate::error::Result;
use crate::model::{now, UserPasskey};

const COLUMNS: &str = "contact_center_id, user_id, credential_id, passkey, counter, \
    backup_eligible, backup_state, created_at, last_used_at";

fn from_row(row: &AnyRow) -> Result<UserPasskey> {
    Ok(UserPasskey {
        contact_center_id: row.try_get("contact_center_id")?,
        user_id: row.try_get("user_id")?,
        credential_id: row.try_get("credential_id")?,
        passkey: row.try_get("passkey")?,
        counter: row.try_get("counter")?,
        backup_eligible: get_bool(row, "backup_eligible")?,
        backup_state: get_bool(row, "backup_state")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Db {
    /// The passkeys of user `user_id` of the contact center, oldest first.
    pub async fn passkeys(
        &self,
        contact_center_id: &str,
        user_id: &str,
    ) -> Result<Vec<UserPasskey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM user_passkeys WHERE contact_center_id = $1 AND user_id = $2 \
             ORDER BY created_at, credential_id"
        ))
        .bind(contact_center_id)
        .bind(user_id)
        .fetch_all(self.live()?)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Adds a registered passkey; `false` if the user already has this
    /// credential.
    pub async fn add_passkey(&self, p: &UserPasskey) -> Result<bool> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO user_passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(&p.contact_center_id)
        .bind(&p.user_id)
        .bind(&p.credential_id)
        .bind(&p.passkey)
        .bind(p.counter)
        .bind(p.backup_eligible)
        .bind(p.backup_state)
        .bind(now())
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Records a use of the passkey: its updated form, counter and backup
    /// state. `false` (nothing changed) when the authenticator counts and
    /// the counter is not later than the stored one: the assertion was
    /// replayed or the authenticator cloned.
    pub async fn use_passkey(&self, p: &UserPasskey) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE user_passkeys SET passkey = $4, counter = $5, backup_state = $6, \
             last_used_at = $7 WHERE contact_center_id = $1 AND user_id = $2 \
             AND credential_id = $3 AND (counter < $5 OR $5 = 0)",
        )
        .bind(&p.contact_center_id)
        .bind(&p.user_id)
        .bind(&p.credential_id)
        .bind(&p.passkey)
        .bind(p.counter)
        .bind(p.backup_state)
        .bind(now())
        .execute(self.live()?)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }
}
