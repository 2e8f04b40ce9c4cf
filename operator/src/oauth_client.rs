//! `OAuthClient` → the `clients` row, through the store. A confidential
//! client's secret comes from the referenced Secret, or the operator
//! generates one into a Secret it owns; the row keeps only an argon2 hash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tollgate_store::model::{Client as Row, ClientAuthMethod, ClientType};
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Error, Result, FINALIZER};
use crate::crd::{ContactCenter, OAuthClient, OAuthClientSpec, SecretKeyRef};

/// Key of the generated Secret that holds the client secret.
pub const SECRET_KEY: &str = "client_secret";

pub fn client_id(c: &OAuthClient) -> String {
    c.spec.client_id.clone().unwrap_or_else(|| c.name_any())
}

/// Where the secret lives: the reference, or the Secret the operator owns.
pub fn secret_ref(c: &OAuthClient) -> Option<SecretKeyRef> {
    if c.spec.client_type != "CONFIDENTIAL" {
        return None;
    }
    Some(c.spec.secret_ref.clone().unwrap_or_else(|| SecretKeyRef {
        name: format!("{}-client-secret", c.name_any()),
        key: SECRET_KEY.into(),
    }))
}

/// The row the resource asks for. `secret_hash` is filled by the caller,
/// which keeps a stored hash that still verifies.
pub fn desired(id: &str, spec: &OAuthClientSpec, contact_center_ids: Vec<String>) -> Result<Row> {
    let client_type = ClientType::parse(&spec.client_type).ok_or_else(|| {
        Error::Invalid(format!(
            "clientType '{}' must be CONFIDENTIAL or PUBLIC",
            spec.client_type
        ))
    })?;
    Ok(Row {
        client_id: id.into(),
        name: spec.name.clone().unwrap_or_else(|| id.into()),
        description: spec.description.clone(),
        secret_hash: None,
        client_type,
        internal_client: spec.internal_client,
        authorities: spec.authorities.clone(),
        scope: spec.scope.clone(),
        authorized_grant_types: spec.authorized_grant_types.clone(),
        redirect_uris: spec.redirect_uris.clone(),
        access_token_expiration_timeout: spec.access_token_expiration_timeout,
        refresh_token_expiration_timeout: spec.refresh_token_expiration_timeout,
        contact_center_ids,
        // Token exchange policies and signed-JWT client keys are not part of
        // the resource yet; the resource owns the row, so they stay unset.
        token_exchange: None,
        auth_method: match client_type {
            ClientType::Confidential => ClientAuthMethod::ClientSecret,
            ClientType::Public => ClientAuthMethod::None,
        },
        jwks: None,
        jwks_uri: None,
        hmac_secret: None,
        version: 0,
        created_at: 0,
        updated_at: 0,
    })
}

pub fn matches(stored: &Row, want: &Row) -> bool {
    Row {
        version: stored.version,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        ..want.clone()
    } == *stored
}

/// A fresh client secret: 256 random bits, base64url.
pub fn generate_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored hash when it still verifies `secret`, else a new argon2id hash.
async fn hash_for(stored: Option<String>, secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        if let Some(hash) = stored {
            if PasswordHash::new(&hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &h)
                    .is_ok()
            }) {
                return Ok(hash);
            }
        }
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| Error::Invalid("could not hash the client secret".into()))
    })
    .await
    .map_err(|_| Error::Invalid("the hashing task failed".into()))?
}

pub async fn reconcile(obj: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<OAuthClient> = Api::namespaced(ctx.client.clone(), &namespace(&*obj)?);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(c) => apply(&c, &ctx).await,
            Event::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled("OAuthClient", started);
    result
}

async fn apply(c: &OAuthClient, ctx: &Context) -> Result<Action> {
    let id = client_id(c);
    let previous = c.status.clone().unwrap_or_default().conditions;
    let outcome = write_row(c, &id, ctx).await?;
    let secret_name = secret_ref(c).map(|r| r.name);
    ctx.report(
        c,
        &previous,
        &outcome,
        json!({ "clientId": id, "secretName": secret_name }),
    )
    .await
}

/// Creates the operator-owned Secret with a generated client secret, once.
async fn ensure_generated_secret(c: &OAuthClient, r: &SecretKeyRef, ctx: &Context) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace(c)?);
    if api.get_opt(&r.name).await?.is_some() {
        return Ok(());
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(r.name.clone()),
            owner_references: c.controller_owner_ref(&()).map(|o| vec![o]),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                ctx.field_manager.clone(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            r.key.clone(),
            ByteString(generate_secret().into_bytes()),
        )])),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            ctx.event(
                c,
                false,
                "SecretGenerated",
                format!("client secret generated into Secret {}", r.name),
            )
            .await;
            Ok(())
        }
        // Another reconcile created it first.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn write_row(c: &OAuthClient, id: &str, ctx: &Context) -> Result<Outcome> {
    let ns = namespace(c)?;
    let secret = match secret_ref(c) {
        None => None,
        Some(r) => {
            if c.spec.secret_ref.is_none() {
                ensure_generated_secret(c, &r, ctx).await?;
            }
            match ctx.secret_value(&ns, &r).await? {
                Some(s) if !s.is_empty() => Some(s),
                _ => {
                    return Ok(Outcome::Stalled {
                        reason: "SecretNotFound".into(),
                        message: format!("Secret {} (key {}) not found", r.name, r.key),
                    })
                }
            }
        }
    };
    let ccs: Api<ContactCenter> = Api::namespaced(ctx.client.clone(), &ns);
    let mut contact_center_ids = Vec::new();
    for name in &c.spec.contact_center_refs {
        let Some(cc) = ccs.get_opt(name).await? else {
            return Ok(Outcome::Stalled {
                reason: "ContactCenterNotFound".into(),
                message: format!("ContactCenter {name} not found"),
            });
        };
        contact_center_ids.push(crate::contact_center::row_id(&cc));
    }
    let mut want = match desired(id, &c.spec, contact_center_ids) {
        Ok(want) => want,
        Err(Error::Invalid(message)) => {
            return Ok(Outcome::Stalled {
                reason: "Invalid".into(),
                message,
            })
        }
        Err(e) => return Err(e),
    };
    let stored = ctx.db.get_client(id).await?;
    want.secret_hash = match secret {
        Some(secret) => {
            Some(hash_for(stored.as_ref().and_then(|s| s.secret_hash.clone()), secret).await?)
        }
        None => None,
    };
    let written = match stored {
        None => ctx.db.create_client(&want).await.map(Some),
        Some(stored) if matches(&stored, &want) => Ok(None),
        Some(stored) => ctx
            .db
            .update_client(&Row {
                version: stored.version,
                ..want
            })
            .await
            .map(Some),
    };
    match written {
        Ok(Some(_)) => {
            ctx.event(c, false, "Written", format!("client {id} written"))
                .await;
        }
        Ok(None) => {}
        Err(StoreError::MissingReference { detail, .. }) => {
            return Ok(Outcome::Progressing {
                reason: "ContactCenterNotReady".into(),
                message: format!("{detail} is not in the database yet"),
            })
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Outcome::Ready {
        message: format!("client {id} is in the database"),
    })
}

async fn cleanup(c: &OAuthClient, ctx: &Context) -> Result<Action> {
    match ctx.db.delete_client(&client_id(c)).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_row_keeps_the_original_fields() {
        let spec: OAuthClientSpec = serde_json::from_value(json!({
            "authorizedGrantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["https://app.example/cb"],
            "scope": ["openid"]
        }))
        .unwrap();
        let row = desired("web", &spec, vec!["cc1".into()]).unwrap();
        assert_eq!(row.client_type, ClientType::Confidential);
        assert_eq!(row.name, "web");
        assert_eq!(
            row.authorized_grant_types,
            ["authorization_code", "refresh_token"]
        );
        assert_eq!(row.access_token_expiration_timeout, 43_200);
        assert_eq!(row.contact_center_ids, ["cc1"]);
        assert_eq!(row.secret_hash, None, "the hash is the caller's business");
    }

    #[tokio::test]
    async fn a_hash_is_kept_while_it_verifies_and_replaced_when_not() {
        let first = hash_for(None, "s3cret".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_eq!(
            hash_for(Some(first.clone()), "s3cret".into())
                .await
                .unwrap(),
            first
        );
        assert_ne!(
            hash_for(Some(first.clone()), "other".into()).await.unwrap(),
            first
        );
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
