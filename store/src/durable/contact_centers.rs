//! Contact centers and their domains. Domains live in their own table so a
//! primary key on the folded domain keeps them unique across all contact
//! centers; `position` keeps the order they were given in.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::owners::{binds, OWNER_COLUMNS};
use super::sql::{
    fold, get_bool, map_violation, on_foreign_key, on_unique, stale_or_missing, Written,
};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, AuthScheme, ContactCenter, RowOwner, SecondFactorPolicy, Timestamp};

const COLUMNS: &str =
    "id, name, environment_id, auth_scheme, second_factor, enabled, version, created_at, updated_at";

const ENTITY: &str = "contact center";

/// Builds a contact center from its row; domains are loaded separately.
fn from_row(row: &AnyRow, domains: Vec<String>) -> Result<ContactCenter> {
    let id: String = row.try_get("id")?;
    let scheme: String = row.try_get("auth_scheme")?;
    let auth = AuthScheme::parse(&scheme).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "contact center {id}: unknown auth scheme {scheme:?}"
        ))
    })?;
    let policy: String = row.try_get("second_factor")?;
    let second_factor = SecondFactorPolicy::parse(&policy).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "contact center {id}: unknown second factor policy {policy:?}"
        ))
    })?;
    Ok(ContactCenter {
        name: row.try_get("name")?,
        domains,
        environment_id: row.try_get("environment_id")?,
        auth,
        second_factor,
        enabled: get_bool(row, "enabled")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        id,
    })
}

async fn load_domains(conn: &mut AnyConnection, id: &str) -> Result<Vec<String>> {
    let domains = sqlx::query_scalar(
        "SELECT domain FROM contact_center_domains WHERE contact_center_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(domains)
}

async fn insert_domains(conn: &mut AnyConnection, id: &str, domains: &[String]) -> Result<()> {
    for (position, domain) in domains.iter().enumerate() {
        sqlx::query(
            "INSERT INTO contact_center_domains (domain_key, domain, contact_center_id, position) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(fold(domain))
        .bind(domain)
        .bind(id)
        .bind(position as i64)
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            on_unique(e, |_| StoreError::Duplicate {
                entity: ENTITY,
                detail: format!("domain {domain:?} is already taken"),
            })
        })?;
    }
    Ok(())
}

fn missing_environment(cc: &ContactCenter) -> StoreError {
    StoreError::MissingReference {
        entity: "environment",
        detail: cc.environment_id.clone(),
    }
}

impl Db {
    /// Created through the API: the operator leaves it alone.
    pub async fn create_contact_center(&self, cc: &ContactCenter) -> Result<ContactCenter> {
        self.create_contact_center_as(cc, &RowOwner::Api).await
    }

    /// Created with `owner` recorded as the one managing it.
    pub async fn create_contact_center_as(
        &self,
        cc: &ContactCenter,
        owner: &RowOwner,
    ) -> Result<ContactCenter> {
        let now = now();
        let (managed_by, namespace, name, uid) = binds(owner);
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO contact_centers ({COLUMNS}, {OWNER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $11, $5, 1, $6, $6, $7, $8, $9, $10) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&cc.id)
            .bind(&cc.name)
            .bind(&cc.environment_id)
            .bind(cc.auth.as_str())
            .bind(cc.enabled)
            .bind(now)
            .bind(managed_by)
            .bind(namespace)
            .bind(name)
            .bind(uid)
            .bind(cc.second_factor.as_str())
            .written_one(&mut *tx)
            .await
            .map_err(|e| {
                map_violation(
                    e,
                    |_| StoreError::Duplicate {
                        entity: ENTITY,
                        detail: format!("id {}", cc.id),
                    },
                    || missing_environment(cc),
                )
            })?;
        insert_domains(&mut tx, &cc.id, &cc.domains).await?;
        let stored = from_row(&row, cc.domains.clone())?;
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn get_contact_center(&self, id: &str) -> Result<Option<ContactCenter>> {
        let mut conn = self.live()?.acquire().await?;
        let sql = format!("SELECT {COLUMNS} FROM contact_centers WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let domains = load_domains(&mut conn, id).await?;
        from_row(&row, domains).map(Some)
    }

    pub async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>> {
        let mut conn = self.live()?.acquire().await?;
        let sql = format!("SELECT {COLUMNS} FROM contact_centers ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
        let domain_rows = sqlx::query(
            "SELECT contact_center_id, domain FROM contact_center_domains \
             ORDER BY contact_center_id, position",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut domains: HashMap<String, Vec<String>> = HashMap::new();
        for row in &domain_rows {
            domains
                .entry(row.try_get("contact_center_id")?)
                .or_default()
                .push(row.try_get("domain")?);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                from_row(row, domains.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    /// Case-insensitive.
    pub async fn find_contact_center_by_domain(
        &self,
        domain: &str,
    ) -> Result<Option<ContactCenter>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT contact_center_id FROM contact_center_domains WHERE domain_key = $1",
        )
        .bind(fold(domain))
        .fetch_optional(self.live()?)
        .await?;
        match id {
            Some(id) => self.get_contact_center(&id).await,
            None => Ok(None),
        }
    }

    /// Fails with `VersionConflict` unless the stored version equals `cc.version`; bumps it.
    pub async fn update_contact_center(&self, cc: &ContactCenter) -> Result<ContactCenter> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE contact_centers SET name = $3, environment_id = $4, auth_scheme = $5, \
             enabled = $6, second_factor = $8, version = version + 1, updated_at = $7 \
             WHERE id = $1 AND version = $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&cc.id)
            .bind(cc.version)
            .bind(&cc.name)
            .bind(&cc.environment_id)
            .bind(cc.auth.as_str())
            .bind(cc.enabled)
            .bind(now())
            .bind(cc.second_factor.as_str())
            .written(&mut *tx)
            .await
            .map_err(|e| on_foreign_key(e, || missing_environment(cc)))?;
        let Some(row) = row else {
            return Err(stale_or_missing(
                &mut *tx,
                "contact_centers",
                "id = $1",
                &[&cc.id],
                ENTITY,
            )
            .await?);
        };
        // Rewrite domains only when they changed, so the change feed is not
        // flooded with domain rows on every rename.
        if load_domains(&mut tx, &cc.id).await? != cc.domains {
            sqlx::query("DELETE FROM contact_center_domains WHERE contact_center_id = $1")
                .bind(&cc.id)
                .execute(&mut *tx)
                .await?;
            insert_domains(&mut tx, &cc.id, &cc.domains).await?;
        }
        let stored = from_row(&row, cc.domains.clone())?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Removes its domains, settings and users (foreign keys cascade) and
    /// revokes its refresh-token families.
    pub async fn delete_contact_center(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::delete_contact_center_in(&mut tx, id, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn delete_contact_center_in(
        tx: &mut Transaction<'static, Any>,
        id: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 \
             WHERE contact_center_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM contact_centers WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        Ok(())
    }
}
