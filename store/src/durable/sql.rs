//! Small helpers shared by the repositories: decoding what the two backends
//! return differently, JSON columns, and mapping constraint violations.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::error::ErrorKind;
use sqlx::query::Query;
use sqlx::{Any, Executor, Row};

use crate::error::{Result, StoreError};

/// Booleans come back as BOOLEAN from PostgreSQL and as INTEGER 0/1 from
/// SQLite (see the SQLite migration); accept both.
pub(super) fn get_bool(row: &AnyRow, column: &str) -> Result<bool> {
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode JSON: {e}")))
}

/// Decodes a JSON text column; `what` names the row and column for the error.
pub(super) fn json_column<T: DeserializeOwned>(
    row: &AnyRow,
    column: &str,
    what: &str,
) -> Result<T> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {column}: {e}")))
}

/// A statement that writes and returns rows (`RETURNING`), read to its end.
///
/// sqlx's `Any` driver answers `fetch_optional` and `fetch_one` on
/// PostgreSQL with the first row, before the server has ended the
/// statement: outside a transaction, before its commit. A commit that then
/// fails (the WAL cannot grow, the server crashes) would go unnoticed, and
/// the caller would promise a write the database does not have. Reading
/// every row waits for the statement's end, and so for its commit.
pub(super) trait Written<'q>: Sized {
    fn written<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<Option<AnyRow>, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = Any>;

    /// As [`Written::written`], for a statement that returns a row or fails.
    fn written_one<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<AnyRow, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = Any>,
    {
        let written = self.written(executor);
        async move { written.await?.ok_or(sqlx::Error::RowNotFound) }
    }
}

impl<'q> Written<'q> for Query<'q, Any, AnyArguments<'q>> {
    async fn written<'e, 'c: 'e, E>(self, executor: E) -> Result<Option<AnyRow>, sqlx::Error>
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = Any>,
    {
        Ok(self.fetch_all(executor).await?.into_iter().next())
    }
}

/// Case-insensitive keys (domains, usernames) are folded here rather than
/// with SQL `lower()`, which on SQLite only folds ASCII: both backends must
/// agree on what counts as the same name.
pub(super) fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// The kind of constraint a statement broke, if that is why it failed.
pub(super) fn violation(err: &sqlx::Error) -> Option<ErrorKind> {
    match err {
        sqlx::Error::Database(db) => match db.kind() {
            kind @ (ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation) => Some(kind),
            _ => None,
        },
        _ => None,
    }
}

/// The driver's message for a constraint violation: it names the constraint
/// (PostgreSQL) or the columns (SQLite), which tells which unique key clashed.
pub(super) fn violation_message(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            format!("{} {}", db.constraint().unwrap_or_default(), db.message())
        }
        _ => String::new(),
    }
}

/// Maps a unique violation to `Duplicate` and a foreign-key violation to
/// `MissingReference`; anything else stays a database error.
pub(super) fn map_violation(
    err: sqlx::Error,
    duplicate: impl FnOnce(&sqlx::Error) -> StoreError,
    missing: impl FnOnce() -> StoreError,
) -> StoreError {
    match violation(&err) {
        Some(ErrorKind::UniqueViolation) => duplicate(&err),
        Some(ErrorKind::ForeignKeyViolation) => missing(),
        _ => StoreError::Database(err),
    }
}

/// Maps a unique violation to `Duplicate` (built by `duplicate`); anything
/// else stays a database error.
pub(super) fn on_unique(
    err: sqlx::Error,
    duplicate: impl FnOnce(&sqlx::Error) -> StoreError,
) -> StoreError {
    match violation(&err) {
        Some(ErrorKind::UniqueViolation) => duplicate(&err),
        _ => StoreError::Database(err),
    }
}

/// Maps a foreign-key violation to `MissingReference` (built by `missing`);
/// anything else stays a database error.
pub(super) fn on_foreign_key(err: sqlx::Error, missing: impl FnOnce() -> StoreError) -> StoreError {
    match violation(&err) {
        Some(ErrorKind::ForeignKeyViolation) => missing(),
        _ => StoreError::Database(err),
    }
}

/// A failed write of a contact center's one-row settings (LDAP directory,
/// OIDC provider): its contact center is gone, or a concurrent first write
/// took the row; anything else stays a database error.
pub(super) fn on_settings_write(
    err: sqlx::Error,
    contact_center_id: &str,
    entity: &'static str,
) -> StoreError {
    match violation(&err) {
        Some(ErrorKind::ForeignKeyViolation) => StoreError::MissingReference {
            entity: "contact center",
            detail: contact_center_id.to_string(),
        },
        Some(ErrorKind::UniqueViolation) => StoreError::VersionConflict { entity },
        _ => StoreError::Database(err),
    }
}

/// Deletes a contact center's one-row settings from `table` (a constant of
/// the caller, never caller input).
pub(super) async fn delete_settings<'e>(
    executor: impl Executor<'e, Database = Any>,
    table: &str,
    contact_center_id: &str,
    entity: &'static str,
) -> Result<()> {
    let sql = format!("DELETE FROM {table} WHERE contact_center_id = $1");
    let deleted = sqlx::query(&sql)
        .bind(contact_center_id)
        .execute(executor)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound { entity });
    }
    Ok(())
}

/// Why a versioned update matched no row: the row is gone (`NotFound`) or
/// its version moved on (`VersionConflict`). `table` and `filter` are
/// constants of the caller, never caller input; `keys` bind `$1, $2…`.
pub(super) async fn stale_or_missing<'e>(
    executor: impl Executor<'e, Database = Any>,
    table: &str,
    filter: &str,
    keys: &[&str],
    entity: &'static str,
) -> Result<StoreError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
    let mut query = sqlx::query_scalar(&sql);
    for key in keys {
        query = query.bind(*key);
    }
    let count: i64 = query.fetch_one(executor).await?;
    Ok(if count == 0 {
        StoreError::NotFound { entity }
    } else {
        StoreError::VersionConflict { entity }
    })
}

/// Clamps a caller's page size: non-positive means the default.
pub(super) fn page_limit(limit: i64) -> i64 {
    const DEFAULT: i64 = 100;
    const MAX: i64 = 1_000;
    if limit <= 0 {
        DEFAULT
    } else {
        limit.min(MAX)
    }
}
