//! OAuth clients. List fields are JSON text; `contact_center_ids` is not a
//! foreign key, a client may name contact centers the service checks later.
//! A `client_secret_jwt` client's secret is sealed with the context
//! `client_hmac_secret:<client id>`.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::owners::{binds, OWNER_COLUMNS};
use super::sql::{get_bool, json_column, on_unique, stale_or_missing, to_json, Written};
use super::Db;
use crate::error::{Result, StoreError};
use crate::model::{
    now, AccessTokenFormat, BackchannelLogout, CertSubject, Client, ClientAuthMethod, ClientType,
    HmacSecret, RowOwner,
};

const COLUMNS: &str = "client_id, name, description, secret_hash, client_type, internal_client, \
    authorities, scope, authorized_grant_types, redirect_uris, access_token_expiration_timeout, \
    refresh_token_expiration_timeout, contact_center_ids, token_exchange, auth_method, jwks, jwks_uri, hmac_secret_sealed, require_par, backchannel_logout_uri, backchannel_logout_session_required, require_dpop, access_token_format, tls_client_auth_kind, tls_client_auth_value, tls_bound_tokens, version, created_at, updated_at";

const ENTITY: &str = "client";

fn context(client_id: &str) -> String {
    format!("client_hmac_secret:{client_id}")
}

fn from_row(row: &AnyRow, hmac_secret: Option<HmacSecret>) -> Result<Client> {
    let client_id: String = row.try_get("client_id")?;
    let what = format!("client {client_id}");
    let kind: String = row.try_get("client_type")?;
    let client_type = ClientType::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: unknown client type {kind:?}")))?;
    let method: String = row.try_get("auth_method")?;
    let auth_method = ClientAuthMethod::parse(&method)
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: unknown auth method {method:?}")))?;
    let format: String = row.try_get("access_token_format")?;
    let access_token_format = AccessTokenFormat::parse(&format).ok_or_else(|| {
        StoreError::Corrupt(format!("{what}: unknown access token format {format:?}"))
    })?;
    let jwks = row
        .try_get::<Option<String>, _>("jwks")?
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("{what}: jwks: {e}")))
        })
        .transpose()?;
    Ok(Client {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        secret_hash: row.try_get("secret_hash")?,
        client_type,
        internal_client: get_bool(row, "internal_client")?,
        authorities: json_column(row, "authorities", &what)?,
        scope: json_column(row, "scope", &what)?,
        authorized_grant_types: json_column(row, "authorized_grant_types", &what)?,
        redirect_uris: json_column(row, "redirect_uris", &what)?,
        access_token_expiration_timeout: row.try_get("access_token_expiration_timeout")?,
        refresh_token_expiration_timeout: row.try_get("refresh_token_expiration_timeout")?,
        contact_center_ids: json_column(row, "contact_center_ids", &what)?,
        token_exchange: row
            .try_get::<Option<String>, _>("token_exchange")?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("{what}: token_exchange: {e}")))
            })
            .transpose()?,
        auth_method,
        jwks,
        jwks_uri: row.try_get("jwks_uri")?,
        hmac_secret,
        require_pushed_authorization_requests: get_bool(row, "require_par")?,
        backchannel_logout: row
            .try_get::<Option<String>, _>("backchannel_logout_uri")?
            .map(|uri| -> Result<BackchannelLogout> {
                Ok(BackchannelLogout {
                    uri,
                    session_required: get_bool(row, "backchannel_logout_session_required")?,
                })
            })
            .transpose()?,
        require_dpop: get_bool(row, "require_dpop")?,
        access_token_format,
        tls_client_auth_subject: cert_subject(row, &what)?,
        tls_client_certificate_bound_access_tokens: get_bool(row, "tls_bound_tokens")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        client_id,
    })
}

fn cert_subject(row: &AnyRow, what: &str) -> Result<Option<CertSubject>> {
    let kind: Option<String> = row.try_get("tls_client_auth_kind")?;
    let value: Option<String> = row.try_get("tls_client_auth_value")?;
    match (kind, value) {
        (Some(kind), Some(value)) => CertSubject::new(&kind, value).map(Some).ok_or_else(|| {
            StoreError::Corrupt(format!("{what}: unknown certificate name {kind:?}"))
        }),
        _ => Ok(None),
    }
}

fn policy_json(client: &Client) -> Result<Option<String>> {
    client.token_exchange.as_ref().map(to_json).transpose()
}

/// One column of the registered certificate name (`kind` or `value`).
fn tls_name<'a>(client: &'a Client, part: fn(&'a CertSubject) -> &'a str) -> Option<&'a str> {
    client.tls_client_auth_subject.as_ref().map(part)
}

fn backchannel_uri(client: &Client) -> Option<&str> {
    client.backchannel_logout.as_ref().map(|b| b.uri.as_str())
}

fn backchannel_session_required(client: &Client) -> bool {
    client
        .backchannel_logout
        .as_ref()
        .is_some_and(|b| b.session_required)
}

fn jwks_json(client: &Client) -> Result<Option<String>> {
    client.jwks.as_ref().map(to_json).transpose()
}

impl Db {
    fn seal_hmac_secret(&self, client: &Client) -> Result<Option<Vec<u8>>> {
        client
            .hmac_secret
            .as_ref()
            .map(|s| {
                self.cipher
                    .seal(&context(&client.client_id), s.expose().as_bytes())
            })
            .transpose()
    }

    fn client_from_row(&self, row: &AnyRow) -> Result<Client> {
        let sealed: Option<Vec<u8>> = row.try_get("hmac_secret_sealed")?;
        let hmac_secret = match sealed {
            Some(sealed) => {
                let id: String = row.try_get("client_id")?;
                let clear = self.cipher.open(&context(&id), &sealed)?;
                Some(HmacSecret::new(String::from_utf8(clear).map_err(|_| {
                    StoreError::Corrupt(format!("client {id}: HMAC secret is not UTF-8"))
                })?))
            }
            None => None,
        };
        from_row(row, hmac_secret)
    }

    /// Created through the API: the operator leaves it alone.
    pub async fn create_client(&self, client: &Client) -> Result<Client> {
        self.create_client_as(client, &RowOwner::Api).await
    }

    /// Created with `owner` recorded as the one managing it.
    pub async fn create_client_as(&self, client: &Client, owner: &RowOwner) -> Result<Client> {
        let (managed_by, namespace, name, uid) = binds(owner);
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}, {OWNER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $24, $25, $26, $27, $28, $29, $30, $31, 1, $19, $19, $20, $21, $22, $23) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&client.client_id)
            .bind(&client.name)
            .bind(&client.description)
            .bind(&client.secret_hash)
            .bind(client.client_type.as_str())
            .bind(client.internal_client)
            .bind(to_json(&client.authorities)?)
            .bind(to_json(&client.scope)?)
            .bind(to_json(&client.authorized_grant_types)?)
            .bind(to_json(&client.redirect_uris)?)
            .bind(client.access_token_expiration_timeout)
            .bind(client.refresh_token_expiration_timeout)
            .bind(to_json(&client.contact_center_ids)?)
            .bind(policy_json(client)?)
            .bind(client.auth_method.as_str())
            .bind(jwks_json(client)?)
            .bind(&client.jwks_uri)
            .bind(self.seal_hmac_secret(client)?)
            .bind(now())
            .bind(managed_by)
            .bind(namespace)
            .bind(name)
            .bind(uid)
            .bind(client.require_pushed_authorization_requests)
            .bind(backchannel_uri(client))
            .bind(backchannel_session_required(client))
            .bind(client.require_dpop)
            .bind(client.access_token_format.as_str())
            .bind(tls_name(client, CertSubject::kind))
            .bind(tls_name(client, CertSubject::value))
            .bind(client.tls_client_certificate_bound_access_tokens)
            .written_one(self.live()?)
            .await
            .map_err(|e| {
                on_unique(e, |_| StoreError::Duplicate {
                    entity: ENTITY,
                    detail: format!("client id {}", client.client_id),
                })
            })?;
        self.client_from_row(&row)
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Option<Client>> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE client_id = $1");
        let row = sqlx::query(&sql)
            .bind(client_id)
            .fetch_optional(self.live()?)
            .await?;
        row.as_ref().map(|r| self.client_from_row(r)).transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY client_id");
        let rows = sqlx::query(&sql).fetch_all(self.live()?).await?;
        rows.iter().map(|r| self.client_from_row(r)).collect()
    }

    /// Fails with `VersionConflict` unless the stored version equals `client.version`; bumps it.
    pub async fn update_client(&self, client: &Client) -> Result<Client> {
        let sql = format!(
            "UPDATE clients SET name = $3, description = $4, secret_hash = $5, client_type = $6, \
             internal_client = $7, authorities = $8, scope = $9, authorized_grant_types = $10, \
             redirect_uris = $11, access_token_expiration_timeout = $12, \
             refresh_token_expiration_timeout = $13, contact_center_ids = $14, \
             token_exchange = $15, auth_method = $16, jwks = $17, jwks_uri = $18, \
             hmac_secret_sealed = $19, require_par = $21, \
             backchannel_logout_uri = $22, backchannel_logout_session_required = $23, \
             require_dpop = $24, access_token_format = $25, tls_client_auth_kind = $26, \
             tls_client_auth_value = $27, tls_bound_tokens = $28, version = version + 1, \
             updated_at = $20 \
             WHERE client_id = $1 AND version = $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&client.client_id)
            .bind(client.version)
            .bind(&client.name)
            .bind(&client.description)
            .bind(&client.secret_hash)
            .bind(client.client_type.as_str())
            .bind(client.internal_client)
            .bind(to_json(&client.authorities)?)
            .bind(to_json(&client.scope)?)
            .bind(to_json(&client.authorized_grant_types)?)
            .bind(to_json(&client.redirect_uris)?)
            .bind(client.access_token_expiration_timeout)
            .bind(client.refresh_token_expiration_timeout)
            .bind(to_json(&client.contact_center_ids)?)
            .bind(policy_json(client)?)
            .bind(client.auth_method.as_str())
            .bind(jwks_json(client)?)
            .bind(&client.jwks_uri)
            .bind(self.seal_hmac_secret(client)?)
            .bind(now())
            .bind(client.require_pushed_authorization_requests)
            .bind(backchannel_uri(client))
            .bind(backchannel_session_required(client))
            .bind(client.require_dpop)
            .bind(client.access_token_format.as_str())
            .bind(tls_name(client, CertSubject::kind))
            .bind(tls_name(client, CertSubject::value))
            .bind(client.tls_client_certificate_bound_access_tokens)
            .written(self.live()?)
            .await?;
        match row {
            Some(row) => self.client_from_row(&row),
            None => Err(stale_or_missing(
                self.live()?,
                "clients",
                "client_id = $1",
                &[&client.client_id],
                ENTITY,
            )
            .await?),
        }
    }

    /// Also revokes the client's refresh-token families: a deleted client's
    /// grants must not outlive it.
    pub async fn delete_client(&self, client_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
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
