//! LDAP directories, one per contact center. The service account password is
//! sealed with the context `ldap_directory:<contact center id>`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{
    delete_settings, get_bool, json_column, on_settings_write, stale_or_missing, to_json, Written,
};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, LdapBind, LdapDirectoryConfig};

const COLUMNS: &str = "contact_center_id, urls, start_tls, ca_pem, bind_mode, bind_template, \
    service_dn, service_password_sealed, base_dn, user_filter, group_filter, attributes, \
    group_authorities, timeout_ms, pool_size, active_directory, version, created_at, updated_at";

const ENTITY: &str = "LDAP directory";
const DIRECT: &str = "direct";
const SEARCH_THEN_BIND: &str = "searchThenBind";

fn context(contact_center_id: &str) -> String {
    format!("ldap_directory:{contact_center_id}")
}

/// The bind columns: mode, template, service DN, sealed password.
type BindColumns = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

impl Db {
    fn bind_columns(&self, config: &LdapDirectoryConfig) -> Result<BindColumns> {
        Ok(match &config.bind {
            LdapBind::Direct { template } => (DIRECT, Some(template.clone()), None, None),
            LdapBind::SearchThenBind {
                service_dn,
                service_password,
            } => (
                SEARCH_THEN_BIND,
                None,
                Some(service_dn.clone()),
                Some(self.cipher.seal(
                    &context(&config.contact_center_id),
                    service_password.as_bytes(),
                )?),
            ),
        })
    }

    fn ldap_directory_from_row(&self, row: &AnyRow) -> Result<LdapDirectoryConfig> {
        let id: String = row.try_get("contact_center_id")?;
        let what = format!("LDAP directory of {id}");
        let mode: String = row.try_get("bind_mode")?;
        let bind = match mode.as_str() {
            DIRECT => LdapBind::Direct {
                template: row
                    .try_get::<Option<String>, _>("bind_template")?
                    .ok_or_else(|| StoreError::Corrupt(format!("{what}: no bind_template")))?,
            },
            SEARCH_THEN_BIND => {
                let sealed: Option<Vec<u8>> = row.try_get("service_password_sealed")?;
                let sealed = sealed.ok_or_else(|| {
                    StoreError::Corrupt(format!("{what}: no service_password_sealed"))
                })?;
                let clear = self.cipher.open(&context(&id), &sealed)?;
                LdapBind::SearchThenBind {
                    service_dn: row
                        .try_get::<Option<String>, _>("service_dn")?
                        .ok_or_else(|| StoreError::Corrupt(format!("{what}: no service_dn")))?,
                    service_password: String::from_utf8(clear).map_err(|_| {
                        StoreError::Corrupt(format!("{what}: password is not UTF-8"))
                    })?,
                }
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "{what}: unknown bind_mode {other}"
                )))
            }
        };
        Ok(LdapDirectoryConfig {
            urls: json_column(row, "urls", &what)?,
            start_tls: get_bool(row, "start_tls")?,
            ca_pem: row.try_get("ca_pem")?,
            bind,
            base_dn: row.try_get("base_dn")?,
            user_filter: row.try_get("user_filter")?,
            group_filter: row.try_get("group_filter")?,
            attributes: json_column(row, "attributes", &what)?,
            group_authorities: json_column(row, "group_authorities", &what)?,
            timeout_ms: row.try_get("timeout_ms")?,
            pool_size: row.try_get("pool_size")?,
            active_directory: get_bool(row, "active_directory")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            contact_center_id: id,
        })
    }

    pub async fn get_ldap_directory(
        &self,
        contact_center_id: &str,
    ) -> Result<Option<LdapDirectoryConfig>> {
        let sql = format!("SELECT {COLUMNS} FROM ldap_directories WHERE contact_center_id = $1");
        let row = sqlx::query(&sql)
            .bind(contact_center_id)
            .fetch_optional(self.live()?)
            .await?;
        row.map(|row| self.ldap_directory_from_row(&row))
            .transpose()
    }

    /// Stores the contact center's directory. `config.version` 0 creates it
    /// (`VersionConflict` when one exists already); any other version
    /// replaces it only while the stored version still equals it
    /// (`VersionConflict`, or `NotFound` when it is gone). Bumps the version.
    /// `MissingReference` when the contact center does not exist.
    pub async fn put_ldap_directory(
        &self,
        config: &LdapDirectoryConfig,
    ) -> Result<LdapDirectoryConfig> {
        let now = now();
        let (mode, template, service_dn, sealed) = self.bind_columns(config)?;
        let sql = if config.version == 0 {
            format!(
                "INSERT INTO ldap_directories ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12, $13, $14, $15, $16, $17 + 1, $18, $18) RETURNING {COLUMNS}"
            )
        } else {
            format!(
                "UPDATE ldap_directories SET urls = $2, start_tls = $3, ca_pem = $4, \
                 bind_mode = $5, bind_template = $6, service_dn = $7, \
                 service_password_sealed = $8, base_dn = $9, user_filter = $10, \
                 group_filter = $11, attributes = $12, group_authorities = $13, \
                 timeout_ms = $14, pool_size = $15, active_directory = $16, \
                 version = version + 1, updated_at = $18 \
                 WHERE contact_center_id = $1 AND version = $17 RETURNING {COLUMNS}"
            )
        };
        let row = sqlx::query(&sql)
            .bind(&config.contact_center_id)
            .bind(to_json(&config.urls)?)
            .bind(config.start_tls)
            .bind(&config.ca_pem)
            .bind(mode)
            .bind(template)
            .bind(service_dn)
            .bind(sealed)
            .bind(&config.base_dn)
            .bind(&config.user_filter)
            .bind(&config.group_filter)
            .bind(to_json(&config.attributes)?)
            .bind(to_json(&config.group_authorities)?)
            .bind(config.timeout_ms)
            .bind(config.pool_size)
            .bind(config.active_directory)
            .bind(config.version)
            .bind(now)
            .written(self.live()?)
            .await
            .map_err(|e| on_settings_write(e, &config.contact_center_id, ENTITY))?;
        match row {
            Some(row) => self.ldap_directory_from_row(&row),
            None => Err(stale_or_missing(
                self.live()?,
                "ldap_directories",
                "contact_center_id = $1",
                &[&config.contact_center_id],
                ENTITY,
            )
            .await?),
        }
    }

    pub async fn delete_ldap_directory(&self, contact_center_id: &str) -> Result<()> {
        delete_settings(self.live()?, "ldap_directories", contact_center_id, ENTITY).await
    }
}
