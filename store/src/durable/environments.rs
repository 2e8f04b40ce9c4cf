//! Environments: how to reach a tenant's Configuration Server. The service
//! account password is sealed with the context `environment:<id>`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::owners::{binds, OWNER_COLUMNS};
use super::sql::{get_bool, json_column, on_unique, stale_or_missing, to_json, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, Environment, RowOwner};

const COLUMNS: &str = "id, username, password_sealed, connection_protocol, local_timeout, \
    remote_timeout, tenant, app_name, trace_mode, tls_enabled, config_servers, version, \
    created_at, updated_at";

const ENTITY: &str = "environment";

fn context(id: &str) -> String {
    format!("environment:{id}")
}

impl Db {
    fn seal_password(&self, env: &Environment) -> Result<Option<Vec<u8>>> {
        env.password
            .as_deref()
            .map(|password| self.cipher.seal(&context(&env.id), password.as_bytes()))
            .transpose()
    }

    fn environment_from_row(&self, row: &AnyRow) -> Result<Environment> {
        let id: String = row.try_get("id")?;
        let sealed: Option<Vec<u8>> = row.try_get("password_sealed")?;
        let password = match sealed {
            Some(sealed) => {
                let clear = self.cipher.open(&context(&id), &sealed)?;
                Some(String::from_utf8(clear).map_err(|_| {
                    StoreError::Corrupt(format!("environment {id}: password is not UTF-8"))
                })?)
            }
            None => None,
        };
        let what = format!("environment {id}");
        Ok(Environment {
            username: row.try_get("username")?,
            password,
            connection_protocol: row.try_get("connection_protocol")?,
            local_timeout: row.try_get("local_timeout")?,
            remote_timeout: row.try_get("remote_timeout")?,
            tenant: row.try_get("tenant")?,
            app_name: row.try_get("app_name")?,
            trace_mode: row.try_get("trace_mode")?,
            tls_enabled: get_bool(row, "tls_enabled")?,
            config_servers: json_column(row, "config_servers", &what)?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
        })
    }

    /// Created through the API: the operator leaves it alone.
    pub async fn create_environment(&self, env: &Environment) -> Result<Environment> {
        self.create_environment_as(env, &RowOwner::Api).await
    }

    /// Created with `owner` recorded as the one managing it.
    pub async fn create_environment_as(
        &self,
        env: &Environment,
        owner: &RowOwner,
    ) -> Result<Environment> {
        let now = now();
        let (managed_by, namespace, name, uid) = binds(owner);
        let sql = format!(
            "INSERT INTO environments ({COLUMNS}, {OWNER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14, $15, $16) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&env.id)
            .bind(&env.username)
            .bind(self.seal_password(env)?)
            .bind(&env.connection_protocol)
            .bind(env.local_timeout)
            .bind(env.remote_timeout)
            .bind(&env.tenant)
            .bind(&env.app_name)
            .bind(&env.trace_mode)
            .bind(env.tls_enabled)
            .bind(to_json(&env.config_servers)?)
            .bind(now)
            .bind(managed_by)
            .bind(namespace)
            .bind(name)
            .bind(uid)
            .written_one(self.live()?)
            .await
            .map_err(|e| {
                on_unique(e, |_| StoreError::Duplicate {
                    entity: ENTITY,
                    detail: format!("id {}", env.id),
                })
            })?;
        self.environment_from_row(&row)
    }

    pub async fn get_environment(&self, id: &str) -> Result<Option<Environment>> {
        let sql = format!("SELECT {COLUMNS} FROM environments WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.live()?)
            .await?;
        row.map(|row| self.environment_from_row(&row)).transpose()
    }

    pub async fn list_environments(&self) -> Result<Vec<Environment>> {
        let sql = format!("SELECT {COLUMNS} FROM environments ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(self.live()?).await?;
        rows.iter()
            .map(|row| self.environment_from_row(row))
            .collect()
    }

    /// Fails with `VersionConflict` unless the stored version equals `env.version`; bumps it.
    pub async fn update_environment(&self, env: &Environment) -> Result<Environment> {
        let sql = format!(
            "UPDATE environments SET username = $3, password_sealed = $4, \
             connection_protocol = $5, local_timeout = $6, remote_timeout = $7, tenant = $8, \
             app_name = $9, trace_mode = $10, tls_enabled = $11, config_servers = $12, \
             version = version + 1, updated_at = $13 \
             WHERE id = $1 AND version = $2 \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&env.id)
            .bind(env.version)
            .bind(&env.username)
            .bind(self.seal_password(env)?)
            .bind(&env.connection_protocol)
            .bind(env.local_timeout)
            .bind(env.remote_timeout)
            .bind(&env.tenant)
            .bind(&env.app_name)
            .bind(&env.trace_mode)
            .bind(env.tls_enabled)
            .bind(to_json(&env.config_servers)?)
            .bind(now())
            .written(self.live()?)
            .await?;
        match row {
            Some(row) => self.environment_from_row(&row),
            None => {
                Err(
                    stale_or_missing(self.live()?, "environments", "id = $1", &[&env.id], ENTITY)
                        .await?,
                )
            }
        }
    }

    /// `InUse` when contact centers still point at it and `cascade` is false.
    /// With `cascade`, its contact centers go too (see `delete_contact_center`).
    pub async fn delete_environment(&self, id: &str, cascade: bool) -> Result<()> {
        let now = now();
        let mut tx = self.begin().await?;
        let dependents: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM contact_centers WHERE environment_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !dependents.is_empty() && !cascade {
            return Err(StoreError::InUse {
                entity: ENTITY,
                detail: format!("contact centers {}", dependents.join(", ")),
            });
        }
        for cc in &dependents {
            Self::delete_contact_center_in(&mut tx, cc, now).await?;
        }
        let deleted = sqlx::query("DELETE FROM environments WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        tx.commit().await?;
        Ok(())
    }
}
