//! SAML service provider settings, one per contact center. The SP's key
//! pairs are sealed together with the context `saml_provider:<contact
//! center id>`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{get_bool, on_foreign_key, on_unique, stale_or_missing, to_json, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, SamlAccessGroup, SamlBinding, SamlProviderConfig, SamlSpKey};

const COLUMNS: &str = "contact_center_id, idp_metadata, idp_metadata_url, \
    idp_metadata_fetched_at, username_attribute, use_external_user_id, access_group, binding, \
    just_in_time_users, sp_keys_sealed, version, created_at, updated_at, allow_idp_initiated";

const ENTITY: &str = "SAML provider";
const POST: &str = "post";
const REDIRECT: &str = "redirect";

fn context(contact_center_id: &str) -> String {
    format!("saml_provider:{contact_center_id}")
}

impl Db {
    fn saml_provider_from_row(&self, row: &AnyRow) -> Result<SamlProviderConfig> {
        let id: String = row.try_get("contact_center_id")?;
        let what = format!("SAML provider of {id}");
        let binding: String = row.try_get("binding")?;
        let binding = match binding.as_str() {
            POST => SamlBinding::Post,
            REDIRECT => SamlBinding::Redirect,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "{what}: unknown binding {other}"
                )))
            }
        };
        let access_group: Option<String> = row.try_get("access_group")?;
        let access_group = access_group
            .map(|g| serde_json::from_str::<SamlAccessGroup>(&g))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{what}: access_group: {e}")))?;
        let sealed: Vec<u8> = row.try_get("sp_keys_sealed")?;
        let clear = self.cipher.open(&context(&id), &sealed)?;
        let sp_keys: Vec<SamlSpKey> = serde_json::from_slice(&clear)
            .map_err(|e| StoreError::Corrupt(format!("{what}: sp_keys: {e}")))?;
        Ok(SamlProviderConfig {
            idp_metadata: row.try_get("idp_metadata")?,
            idp_metadata_url: row.try_get("idp_metadata_url")?,
            idp_metadata_fetched_at: row.try_get("idp_metadata_fetched_at")?,
            username_attribute: row.try_get("username_attribute")?,
            use_external_user_id: get_bool(row, "use_external_user_id")?,
            access_group,
            binding,
            just_in_time_users: get_bool(row, "just_in_time_users")?,
            allow_idp_initiated: get_bool(row, "allow_idp_initiated")?,
            sp_keys,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            contact_center_id: id,
        })
    }

    pub async fn get_saml_provider(
        &self,
        contact_center_id: &str,
    ) -> Result<Option<SamlProviderConfig>> {
        let sql = format!("SELECT {COLUMNS} FROM saml_providers WHERE contact_center_id = $1");
        let row = sqlx::query(&sql)
            .bind(contact_center_id)
            .fetch_optional(self.live()?)
            .await?;
        row.map(|row| self.saml_provider_from_row(&row)).transpose()
    }

    /// Stores the contact center's SAML settings. `config.version` 0 creates
    /// them (`VersionConflict` when they exist already); any other version
    /// replaces them only while the stored version still equals it
    /// (`VersionConflict`, or `NotFound` when they are gone). Bumps the
    /// version. `MissingReference` when the contact center does not exist.
    pub async fn put_saml_provider(
        &self,
        config: &SamlProviderConfig,
    ) -> Result<SamlProviderConfig> {
        let now = now();
        let binding = match config.binding {
            SamlBinding::Post => POST,
            SamlBinding::Redirect => REDIRECT,
        };
        let access_group = config.access_group.as_ref().map(to_json).transpose()?;
        let sealed = self.cipher.seal(
            &context(&config.contact_center_id),
            to_json(&config.sp_keys)?.as_bytes(),
        )?;
        let sql = if config.version == 0 {
            format!(
                "INSERT INTO saml_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11 + 1, $12, $12, $13) RETURNING {COLUMNS}"
            )
        } else {
            format!(
                "UPDATE saml_providers SET idp_metadata = $2, idp_metadata_url = $3, \
                 idp_metadata_fetched_at = $4, username_attribute = $5, \
                 use_external_user_id = $6, access_group = $7, binding = $8, \
                 just_in_time_users = $9, sp_keys_sealed = $10, version = version + 1, \
                 updated_at = $12, allow_idp_initiated = $13 WHERE contact_center_id = $1 AND version = $11 \
                 RETURNING {COLUMNS}"
            )
        };
        let row = sqlx::query(&sql)
            .bind(&config.contact_center_id)
            .bind(&config.idp_metadata)
            .bind(&config.idp_metadata_url)
            .bind(config.idp_metadata_fetched_at)
            .bind(&config.username_attribute)
            .bind(config.use_external_user_id)
            .bind(access_group)
            .bind(binding)
            .bind(config.just_in_time_users)
            .bind(sealed)
            .bind(config.version)
            .bind(now)
            .bind(config.allow_idp_initiated)
            .written(self.live()?)
            .await
            .map_err(|e| {
                let e = on_foreign_key(e, || StoreError::MissingReference {
                    entity: "contact center",
                    detail: config.contact_center_id.clone(),
                });
                match e {
                    StoreError::Database(e) => {
                        on_unique(e, |_| StoreError::VersionConflict { entity: ENTITY })
                    }
                    other => other,
                }
            })?;
        match row {
            Some(row) => self.saml_provider_from_row(&row),
            None => Err(stale_or_missing(
                self.live()?,
                "saml_providers",
                "contact_center_id = $1",
                &[&config.contact_center_id],
                ENTITY,
            )
            .await?),
        }
    }

    /// The contact centers whose IdP metadata comes from a URL, with it,
    /// ordered by contact center (what the scheduled refresh walks).
    pub async fn list_saml_metadata_urls(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT contact_center_id, idp_metadata_url FROM saml_providers \
             WHERE idp_metadata_url IS NOT NULL ORDER BY contact_center_id",
        )
        .fetch_all(self.live()?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("contact_center_id")?,
                    r.try_get("idp_metadata_url")?,
                ))
            })
            .collect()
    }

    pub async fn delete_saml_provider(&self, contact_center_id: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM saml_providers WHERE contact_center_id = $1")
            .bind(contact_center_id)
            .execute(self.live()?)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound { entity: ENTITY });
        }
        Ok(())
    }
}
