//! Who manages an environment, contact center or client row: `managed_by`
//! (`api`, `resource` or `unknown`) and, for a resource, its namespace, name
//! and uid. Rows created through the API are `api`; the operator creates
//! rows with its resource as owner and changes an owner only from the one it
//! read (compare-and-set), so two reconciles cannot both take a row.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{ManagedRow, ResourceRef, RowOwner};

/// The owner columns, in the order [`binds`] returns their values.
pub(super) const OWNER_COLUMNS: &str = "managed_by, owner_namespace, owner_name, owner_uid";

impl ManagedRow {
    fn table(self) -> &'static str {
        match self {
            ManagedRow::Environment => "environments",
            ManagedRow::ContactCenter => "contact_centers",
            ManagedRow::Client => "clients",
        }
    }

    fn key(self) -> &'static str {
        match self {
            ManagedRow::Client => "client_id",
            _ => "id",
        }
    }
}

/// The values of [`OWNER_COLUMNS`] for `owner`.
pub(super) fn binds(
    owner: &RowOwner,
) -> (&'static str, Option<String>, Option<String>, Option<String>) {
    match owner {
        RowOwner::Api => ("api", None, None, None),
        RowOwner::Unknown => ("unknown", None, None, None),
        RowOwner::Resource(r) => (
            "resource",
            Some(r.namespace.clone()),
            Some(r.name.clone()),
            Some(r.uid.clone()),
        ),
    }
}

fn from_row(row: &AnyRow, what: &str) -> Result<RowOwner> {
    let managed_by: String = row.try_get("managed_by")?;
    match managed_by.as_str() {
        "api" => Ok(RowOwner::Api),
        "unknown" => Ok(RowOwner::Unknown),
        "resource" => {
            let get = |column: &str| -> Result<String> {
                row.try_get::<Option<String>, _>(column)?
                    .ok_or_else(|| StoreError::Corrupt(format!("{what}: {column} is missing")))
            };
            Ok(RowOwner::Resource(ResourceRef {
                namespace: get("owner_namespace")?,
                name: get("owner_name")?,
                uid: get("owner_uid")?,
            }))
        }
        other => Err(StoreError::Corrupt(format!(
            "{what}: unknown managed_by {other:?}"
        ))),
    }
}

impl Db {
    /// Who manages the row; `None` when there is no such row.
    pub async fn row_owner(&self, kind: ManagedRow, id: &str) -> Result<Option<RowOwner>> {
        let sql = format!(
            "SELECT {OWNER_COLUMNS} FROM {} WHERE {} = $1",
            kind.table(),
            kind.key()
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.live()?)
            .await?;
        row.map(|row| from_row(&row, &format!("{} {id}", kind.table())))
            .transpose()
    }

    /// Makes `owner` the row's owner if it is still `seen`; false when the
    /// row is gone or its owner changed in between.
    pub async fn set_row_owner(
        &self,
        kind: ManagedRow,
        id: &str,
        seen: &RowOwner,
        owner: &RowOwner,
    ) -> Result<bool> {
        let (seen_by, _, _, seen_uid) = binds(seen);
        let (managed_by, namespace, name, uid) = binds(owner);
        let sql = format!(
            "UPDATE {} SET managed_by = $2, owner_namespace = $3, owner_name = $4, owner_uid = $5 \
             WHERE {} = $1 AND managed_by = $6 AND COALESCE(owner_uid, '') = $7",
            kind.table(),
            kind.key()
        );
        let changed = sqlx::query(&sql)
            .bind(id)
            .bind(managed_by)
            .bind(namespace)
            .bind(name)
            .bind(uid)
            .bind(seen_by)
            .bind(seen_uid.unwrap_or_default())
            .execute(self.live()?)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }
}
