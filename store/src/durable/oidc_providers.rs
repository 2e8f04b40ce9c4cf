//! OpenID Connect identity providers, one per contact center. The client
//! secret is sealed with the context `oidc_provider:<contact center id>`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::{
    delete_settings, get_bool, json_column, on_settings_write, stale_or_missing, to_json, Written,
};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{now, OidcClientAuth, OidcProviderConfig};

const COLUMNS: &str = "contact_center_id, issuer, client_id, client_auth, client_secret_sealed, \
    scopes, claims, groups_claim, group_authorities, just_in_time, authorize_params, version, \
    created_at, updated_at";

const ENTITY: &str = "OIDC provider";

fn context(contact_center_id: &str) -> String {
    format!("oidc_provider:{contact_center_id}")
}

impl Db {
    fn oidc_provider_from_row(&self, row: &AnyRow) -> Result<OidcProviderConfig> {
        let id: String = row.try_get("contact_center_id")?;
        let what = format!("OIDC provider of {id}");
        let auth: String = row.try_get("client_auth")?;
        let client_auth = OidcClientAuth::parse(&auth)
            .ok_or_else(|| StoreError::Corrupt(format!("{what}: unknown client_auth {auth}")))?;
        let sealed: Vec<u8> = row.try_get("client_secret_sealed")?;
        let secret = String::from_utf8(self.cipher.open(&context(&id), &sealed)?)
            .map_err(|_| StoreError::Corrupt(format!("{what}: secret is not UTF-8")))?;
        Ok(OidcProviderConfig {
            issuer: row.try_get("issuer")?,
            client_id: row.try_get("client_id")?,
            client_auth,
            client_secret: secret,
            scopes: json_column(row, "scopes", &what)?,
            claims: json_column(row, "claims", &what)?,
            groups_claim: row.try_get("groups_claim")?,
            group_authorities: json_column(row, "group_authorities", &what)?,
            just_in_time: get_bool(row, "just_in_time")?,
            authorize_params: json_column(row, "authorize_params", &what)?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            contact_center_id: id,
        })
    }

    pub async fn get_oidc_provider(
        &self,
        contact_center_id: &str,
    ) -> Result<Option<OidcProviderConfig>> {
        let sql = format!("SELECT {COLUMNS} FROM oidc_providers WHERE contact_center_id = $1");
        let row = sqlx::query(&sql)
            .bind(contact_center_id)
            .fetch_optional(self.live()?)
            .await?;
        row.map(|row| self.oidc_provider_from_row(&row)).transpose()
    }

    /// Stores the contact center's provider. `config.version` 0 creates it
    /// (`VersionConflict` when one exists already); any other version
    /// replaces it only while the stored version still equals it
    /// (`VersionConflict`, or `NotFound` when it is gone). Bumps the version.
    /// `MissingReference` when the contact center does not exist.
    pub async fn put_oidc_provider(
        &self,
        config: &OidcProviderConfig,
    ) -> Result<OidcProviderConfig> {
        let now = now();
        let sealed = self.cipher.seal(
            &context(&config.contact_center_id),
            config.client_secret.as_bytes(),
        )?;
        let sql = if config.version == 0 {
            format!(
                "INSERT INTO oidc_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12 + 1, $13, $13) RETURNING {COLUMNS}"
            )
        } else {
            format!(
                "UPDATE oidc_providers SET issuer = $2, client_id = $3, client_auth = $4, \
                 client_secret_sealed = $5, scopes = $6, claims = $7, groups_claim = $8, \
                 group_authorities = $9, just_in_time = $10, authorize_params = $11, \
                 version = version + 1, updated_at = $13 \
                 WHERE contact_center_id = $1 AND version = $12 RETURNING {COLUMNS}"
            )
        };
        let row = sqlx::query(&sql)
            .bind(&config.contact_center_id)
            .bind(&config.issuer)
            .bind(&config.client_id)
            .bind(config.client_auth.as_str())
            .bind(sealed)
            .bind(to_json(&config.scopes)?)
            .bind(to_json(&config.claims)?)
            .bind(&config.groups_claim)
            .bind(to_json(&config.group_authorities)?)
            .bind(config.just_in_time)
            .bind(to_json(&config.authorize_params)?)
            .bind(config.version)
            .bind(now)
            .written(self.live()?)
            .await
            .map_err(|e| on_settings_write(e, &config.contact_center_id, ENTITY))?;
        match row {
            Some(row) => self.oidc_provider_from_row(&row),
            None => Err(stale_or_missing(
                self.live()?,
                "oidc_providers",
                "contact_center_id = $1",
                &[&config.contact_center_id],
                ENTITY,
            )
            .await?),
        }
    }

    pub async fn delete_oidc_provider(&self, contact_center_id: &str) -> Result<()> {
        delete_settings(self.live()?, "oidc_providers", contact_center_id, ENTITY).await
    }
}
