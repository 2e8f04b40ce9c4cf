//! Users of the built-in directory. Usernames are unique per contact center
//! case-insensitively, through the folded `username_key` column.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{
    fold, get_bool, json_column, map_violation, on_unique, page_limit, stale_or_missing, to_json,
    violation_message, Written,
};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, User, UserQuery};

const COLUMNS: &str = "contact_center_id, id, username, password_hash, dbid, first_name, \
    last_name, email, authorities, properties, enabled, must_change_password, version, \
    created_at, updated_at";

const ENTITY: &str = "user";

/// Previous password hashes kept per user (Active Directory's maximum too).
pub const MAX_PASSWORD_HISTORY: i64 = 24;

fn from_row(row: &AnyRow) -> Result<User> {
    let contact_center_id: String = row.try_get("contact_center_id")?;
    let id: String = row.try_get("id")?;
    let what = format!("user {contact_center_id}:{id}");
    Ok(User {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        dbid: row.try_get("dbid")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        authorities: json_column(row, "authorities", &what)?,
        properties: json_column(row, "properties", &what)?,
        enabled: get_bool(row, "enabled")?,
        must_change_password: get_bool(row, "must_change_password")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        contact_center_id,
        id,
    })
}

/// Which of the user's unique keys a violation hit; the driver message names
/// the column (SQLite) or the constraint, which contains it (PostgreSQL).
fn duplicate(err: &sqlx::Error, user: &User, dbid: i64) -> StoreError {
    let message = violation_message(err);
    let detail = if message.contains("username_key") {
        format!(
            "username {:?} in contact center {}",
            user.username, user.contact_center_id
        )
    } else if message.contains("dbid") {
        format!("dbid {dbid} in contact center {}", user.contact_center_id)
    } else {
        format!(
            "id {} in contact center {}",
            user.id, user.contact_center_id
        )
    };
    StoreError::Duplicate {
        entity: ENTITY,
        detail,
    }
}

/// `LIKE` pattern for a case-insensitive substring search.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::from("%");
    for c in fold(search).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Db {
    /// A `dbid` of 0 asks the store for the next one; an explicit dbid is kept
    /// and moves the generator past it, so later generated ones never clash.
    pub async fn create_user(&self, user: &User) -> Result<User> {
        let mut tx = self.begin().await?;
        let dbid: i64 = if user.dbid == 0 {
            sqlx::query(
                "UPDATE counters SET value = value + 1 WHERE name = 'user_dbid' RETURNING value",
            )
            .written_one(&mut *tx)
            .await?
            .try_get(0)?
        } else {
            sqlx::query(
                "UPDATE counters SET value = CASE WHEN value < $1 THEN $1 ELSE value END \
                 WHERE name = 'user_dbid'",
            )
            .bind(user.dbid)
            .execute(&mut *tx)
            .await?;
            user.dbid
        };
        let sql = format!(
            "INSERT INTO users ({COLUMNS}, username_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13, $14) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&user.contact_center_id)
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(dbid)
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(&user.email)
            .bind(to_json(&user.authorities)?)
            .bind(to_json(&user.properties)?)
            .bind(user.enabled)
            .bind(user.must_change_password)
            .bind(now())
            .bind(fold(&user.username))
            .written_one(&mut *tx)
            .await
            .map_err(|e| {
                map_violation(
                    e,
                    |e| duplicate(e, user, dbid),
                    || StoreError::MissingReference {
                        entity: "contact center",
                        detail: user.contact_center_id.clone(),
                    },
                )
            })?;
        let stored = from_row(&row)?;
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn get_user(&self, contact_center_id: &str, id: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE contact_center_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(contact_center_id)
            .bind(id)
            .fetch_optional(self.live()?)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Case-insensitive on `username`.
    pub async fn find_user_by_name(
        &self,
        contact_center_id: &str,
        username: &str,
    ) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE contact_center_id = $1 AND username_key = $2"
        );
        let row = sqlx::query(&sql)
            .bind(contact_center_id)
            .bind(fold(username))
            .fetch_optional(self.live_reader()?)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Returns one page, ordered by username, and the total count matching
    /// the search. A non-positive `limit` means 100; at most 1000 per page.
    pub async fn list_users(
        &self,
        contact_center_id: &str,
        query: &UserQuery,
    ) -> Result<(Vec<User>, i64)> {
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // SQL lower() on names and email folds ASCII only on SQLite; the
        // username uses the store-folded key.
        let filter = if search.is_some() {
            "contact_center_id = $1 AND (username_key LIKE $2 ESCAPE '\\' \
             OR lower(first_name) LIKE $2 ESCAPE '\\' OR lower(last_name) LIKE $2 ESCAPE '\\' \
             OR lower(email) LIKE $2 ESCAPE '\\')"
        } else {
            "contact_center_id = $1"
        };
        let pattern = search.map(like_pattern);
        let count_sql = format!("SELECT COUNT(*) FROM users WHERE {filter}");
        let mut count = sqlx::query_scalar(&count_sql).bind(contact_center_id);
        if let Some(pattern) = &pattern {
            count = count.bind(pattern);
        }
        let total: i64 = count.fetch_one(self.live()?).await?;
        let (limit_at, offset_at) = if pattern.is_some() { (3, 4) } else { (2, 3) };
        let page_sql = format!(
            "SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY username_key, id \
             LIMIT ${limit_at} OFFSET ${offset_at}"
        );
        let mut page = sqlx::query(&page_sql).bind(contact_center_id);
        if let Some(pattern) = &pattern {
            page = page.bind(pattern);
        }
        let rows = page
            .bind(page_limit(query.limit))
            .bind(query.offset.max(0))
            .fetch_all(self.live()?)
            .await?;
        let users = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok((users, total))
    }

    /// Fails with `VersionConflict` unless the stored version equals
    /// `user.version`; bumps it. `dbid` is fixed at creation and not changed.
    /// Saving a disabled user revokes their refresh-token families in the same
    /// transaction: a disabled account's sessions must not outlive the change.
    /// A changed password hash moves the old one into the user's password
    /// history (the newest [`MAX_PASSWORD_HISTORY`] are kept), in the same
    /// transaction.
    pub async fn update_user(&self, user: &User) -> Result<User> {
        let mut tx = self.begin().await?;
        // Before the update, so it sees the hash being replaced; a stale
        // version matches no row here and fails below.
        let replaced = sqlx::query(
            "INSERT INTO user_password_history \
             (contact_center_id, user_id, version, password_hash, replaced_at) \
             SELECT contact_center_id, id, version, password_hash, $5 FROM users \
             WHERE contact_center_id = $1 AND id = $2 AND version = $3 AND password_hash <> $4",
        )
        .bind(&user.contact_center_id)
        .bind(&user.id)
        .bind(user.version)
        .bind(&user.password_hash)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if replaced > 0 {
            sqlx::query(
                "DELETE FROM user_password_history \
                 WHERE contact_center_id = $1 AND user_id = $2 AND version NOT IN \
                 (SELECT version FROM user_password_history \
                  WHERE contact_center_id = $1 AND user_id = $2 ORDER BY version DESC LIMIT $3)",
            )
            .bind(&user.contact_center_id)
            .bind(&user.id)
            .bind(MAX_PASSWORD_HISTORY)
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!(
            "UPDATE users SET username = $4, username_key = $5, password_hash = $6, \
             first_name = $7, last_name = $8, email = $9, authorities = $10, properties = $11, \
             enabled = $12, must_change_password = $13, version = version + 1, updated_at = $14 \
             WHERE contact_center_id = $1 AND id = $2 AND version = $3 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&user.contact_center_id)
            .bind(&user.id)
            .bind(user.version)
            .bind(&user.username)
            .bind(fold(&user.username))
            .bind(&user.password_hash)
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(&user.email)
            .bind(to_json(&user.authorities)?)
            .bind(to_json(&user.properties)?)
            .bind(user.enabled)
            .bind(user.must_change_password)
            .bind(now())
            .written(&mut *tx)
            .await
            .map_err(|e| on_unique(e, |e| duplicate(e, user, user.dbid)))?;
        let Some(row) = row else {
            return Err(stale_or_missing(
                &mut *tx,
                "users",
                "contact_center_id = $1 AND id = $2",
                &[&user.contact_center_id, &user.id],
                ENTITY,
            )
            .await?);
        };
        let stored = from_row(&row)?;
        if !stored.enabled {
            Self::revoke_user_families_in(
                &mut tx,
                &stored.contact_center_id,
                &fold(&stored.username),
                now(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Also revokes the user's refresh-token families: a deleted user's
    /// sessions must not outlive them.
    pub async fn delete_user(&self, contact_center_id: &str, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM users WHERE contact_center_id = $1 AND id = $2 RETURNING username_key",
        )
        .bind(contact_center_id)
        .bind(id)
        .written(&mut *tx)
        .await?;
        let Some(username_key) = deleted.map(|r| r.try_get::<String, _>(0)).transpose()? else {
            return Err(StoreError::NotFound { entity: ENTITY });
        };
        Self::revoke_user_families_in(&mut tx, contact_center_id, &username_key, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's previous password hashes, newest first, at most `limit`
    /// (and at most [`MAX_PASSWORD_HISTORY`]); the current one is not included.
    pub async fn password_history(
        &self,
        contact_center_id: &str,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT password_hash FROM user_password_history \
             WHERE contact_center_id = $1 AND user_id = $2 ORDER BY version DESC LIMIT $3",
        )
        .bind(contact_center_id)
        .bind(user_id)
        .bind(limit.clamp(0, MAX_PASSWORD_HISTORY))
        .fetch_all(self.live()?)
        .await?)
    }
}
