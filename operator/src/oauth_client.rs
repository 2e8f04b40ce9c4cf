//! `OAuthClient` → the `clients` row, through the store. A confidential
//! client's secret comes from the referenced Secret, or the operator
//! generates one into a Secret it owns; the row keeps only an argon2 hash.
//! A `client_secret_jwt` client's secret is sealed rather than hashed (it
//! keys MACs); a `private_key_jwt` client has keys (a JWK Set, a JWKS URL)
//! instead.
//!
//! Checking that the stored hash still matches the Secret is an argon2
//! verification; the store's `SecretVerifier` does it once per (client,
//! stored hash, secret) and compares a keyed digest after that, so the
//! periodic resync of unchanged clients costs no slow hash.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tollgate_store::model::{
    AccessTokenFormat, BackchannelLogout, CertSubject, Client as Row, ClientAuthMethod, ClientType,
    ExchangePolicy, HmacSecret, ManagedRow, RowOwner, MANAGEMENT_AUTHORITIES,
};
use tollgate_store::secrets::{hash_secret, SecretVerifier};
use tollgate_store::validate::check_hmac_secret;
use tollgate_store::validate::client::check_client;
use tollgate_store::StoreError;

use crate::conditions::Outcome;
use crate::context::{namespace, Context, Empty, Error, Result, Step, Stop};
use crate::crd::{ContactCenter, OAuthClient, OAuthClientSpec, SecretKeyRef, TlsClientAuthSpec};
use crate::ownership;
use crate::rows::RowResource;

/// Key of the generated Secret that holds the client secret.
pub const SECRET_KEY: &str = "client_secret";

pub fn client_id(c: &OAuthClient) -> String {
    c.spec.client_id.clone().unwrap_or_else(|| c.name_any())
}

/// Where the secret lives: the reference, or the Secret the operator owns.
/// Only confidential clients that authenticate with a secret have one.
pub fn secret_ref(c: &OAuthClient) -> Option<SecretKeyRef> {
    if c.spec.client_type != "CONFIDENTIAL"
        || matches!(
            c.spec.token_endpoint_auth_method.as_deref(),
            Some("private_key_jwt" | "tls_client_auth" | "self_signed_tls_client_auth")
        )
    {
        return None;
    }
    Some(c.spec.secret_ref.clone().unwrap_or_else(|| SecretKeyRef {
        name: format!("{}-client-secret", c.name_any()),
        key: SECRET_KEY.into(),
    }))
}

/// The store's method for `tokenEndpointAuthMethod` (default: by client
/// type); `client_secret_basic` and `client_secret_post` are one method, the
/// token endpoint accepts either form.
pub fn auth_method(spec: &OAuthClientSpec, client_type: ClientType) -> Result<ClientAuthMethod> {
    let method = match spec.token_endpoint_auth_method.as_deref() {
        None => match client_type {
            ClientType::Confidential => ClientAuthMethod::ClientSecret,
            ClientType::Public => ClientAuthMethod::None,
        },
        Some("client_secret_basic" | "client_secret_post") => ClientAuthMethod::ClientSecret,
        Some("private_key_jwt") => ClientAuthMethod::PrivateKeyJwt,
        Some("client_secret_jwt") => ClientAuthMethod::ClientSecretJwt,
        Some("none") => ClientAuthMethod::None,
        Some("tls_client_auth") => ClientAuthMethod::TlsClientAuth,
        Some("self_signed_tls_client_auth") => ClientAuthMethod::SelfSignedTlsClientAuth,
        Some(other) => {
            return Err(Error::Invalid(format!(
                "tokenEndpointAuthMethod '{other}' must be client_secret_basic, \
                 client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, \
                 self_signed_tls_client_auth or none"
            )))
        }
    };
    // Whether it fits the client type is `check_client`'s to say.
    Ok(method)
}

/// Why a client may not be written from `namespace`: one with a management
/// authority and no contact-center binding manages every tenant, so it comes
/// only from the platform namespace, or from anywhere with the operator's
/// explicit setting.
pub fn unbound_management_refusal(
    spec: &OAuthClientSpec,
    namespace: &str,
    platform_namespace: Option<&str>,
    allow_anywhere: bool,
) -> Option<String> {
    let manages = spec
        .authorities
        .iter()
        .any(|a| MANAGEMENT_AUTHORITIES.contains(&a.as_str()));
    if !manages
        || !spec.contact_center_refs.is_empty()
        || allow_anywhere
        || platform_namespace == Some(namespace)
    {
        return None;
    }
    Some(format!(
        "a client with {} and no contactCenterRefs manages every contact center: it is accepted \
         only in the platform namespace{}, or with --allow-unbound-management-clients",
        MANAGEMENT_AUTHORITIES.join(" or "),
        platform_namespace
            .map(|ns| format!(" ({ns})"))
            .unwrap_or_default()
    ))
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
    let auth_method = auth_method(spec, client_type)?;
    let access_token_format =
        AccessTokenFormat::parse(&spec.access_token_format).ok_or_else(|| {
            Error::Invalid(format!(
                "accessTokenFormat '{}' must be jwt or opaque",
                spec.access_token_format
            ))
        })?;
    let token_exchange = spec.token_exchange.as_ref().map(|t| ExchangePolicy {
        subject_clients: t.subject_clients.clone(),
        subject_issuers: t.subject_issuers.clone(),
        audiences: t.audiences.clone(),
        delegation: t.delegation,
        impersonation: t.impersonation,
    });
    let row = Row {
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
        token_exchange,
        auth_method,
        jwks: spec.jwks.clone(),
        jwks_uri: spec.jwks_uri.clone(),
        hmac_secret: None,
        require_pushed_authorization_requests: spec.require_pushed_authorization_requests,
        backchannel_logout: backchannel_logout(spec)?,
        require_dpop: spec.require_dpop,
        access_token_format,
        tls_client_auth_subject: spec
            .tls_client_auth
            .as_ref()
            .map(cert_subject)
            .transpose()?,
        tls_client_certificate_bound_access_tokens: spec.tls_client_certificate_bound_access_tokens,
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    // The ops client API's rules, from the store: grants a public client
    // may hold, redirect URIs, keys, exchange policy.
    check_client(&row).map_err(Error::Invalid)?;
    Ok(row)
}

/// `tlsClientAuth`: exactly one name (the CRD's rule says so too).
fn cert_subject(t: &TlsClientAuthSpec) -> Result<CertSubject> {
    let given = [
        t.subject_dn.clone().map(CertSubject::SubjectDn),
        t.san_dns.clone().map(CertSubject::SanDns),
        t.san_uri.clone().map(CertSubject::SanUri),
        t.san_ip.clone().map(CertSubject::SanIp),
        t.san_email.clone().map(CertSubject::SanEmail),
    ];
    let mut given = given.into_iter().flatten();
    match (given.next(), given.next()) {
        (Some(s), None) => Ok(s),
        _ => Err(Error::Invalid(
            "tlsClientAuth: give exactly one of subjectDn, sanDns, sanUri, sanIp, sanEmail".into(),
        )),
    }
}

/// The back-channel logout registration; `sid` required needs a URI.
fn backchannel_logout(spec: &OAuthClientSpec) -> Result<Option<BackchannelLogout>> {
    match &spec.backchannel_logout_uri {
        Some(uri) => Ok(Some(BackchannelLogout {
            uri: uri.clone(),
            session_required: spec.backchannel_logout_session_required,
        })),
        None if spec.backchannel_logout_session_required => Err(Error::Invalid(
            "backchannelLogoutSessionRequired needs a backchannelLogoutUri".into(),
        )),
        None => Ok(None),
    }
}

/// A fresh client secret: 256 random bits, base64url.
pub fn generate_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored hash when it still verifies `secret`, else a new argon2id
/// hash. `verifier` remembers what it checked (and the hash made here), so
/// only a changed secret or a hash changed behind the operator's back costs
/// an argon2 run.
async fn hash_for(
    verifier: &SecretVerifier,
    client_id: &str,
    stored: Option<String>,
    secret: String,
) -> Result<String> {
    if let Some(hash) = stored {
        if verifier.verify(client_id, &hash, &secret).await {
            return Ok(hash);
        }
    }
    let clear = secret.clone();
    let hash = tokio::task::spawn_blocking(move || hash_secret(&clear))
        .await
        .map_err(|_| Error::Invalid("the hashing task failed".into()))?
        .map_err(|_| Error::Invalid("could not hash the client secret".into()))?;
    verifier.remember(client_id, &hash, &secret);
    Ok(hash)
}

impl RowResource for OAuthClient {
    const ROW: ManagedRow = ManagedRow::Client;
    type Row = Row;

    fn row_id(&self) -> String {
        client_id(self)
    }

    fn conditions(&self) -> Vec<Condition> {
        self.status.clone().unwrap_or_default().conditions
    }

    fn status_extra(&self, id: &str) -> serde_json::Value {
        json!({ "clientId": id, "secretName": secret_ref(self).map(|r| r.name) })
    }

    fn refusal(&self, ctx: &Context) -> Step<()> {
        match unbound_management_refusal(
            &self.spec,
            &namespace(self)?,
            ctx.platform_namespace.as_deref(),
            ctx.allow_unbound_management_clients,
        ) {
            Some(message) => Err(Stop::stalled("UnboundManagementClient", message)),
            None => Ok(()),
        }
    }

    async fn wanted(&self, id: &str, stored: Option<&Row>, ctx: &Context) -> Step<Row> {
        let secret = client_secret(self, ctx).await?;
        let contact_center_ids = contact_center_rows(self, ctx).await?;
        let mut want = desired(id, &self.spec, contact_center_ids).map_err(Stop::invalid)?;
        // A `client_secret_jwt` client's secret keys MACs: the store seals it
        // instead of hashing it.
        (want.secret_hash, want.hmac_secret) = match secret {
            Some(secret) if want.auth_method == ClientAuthMethod::ClientSecretJwt => {
                check_hmac_secret(&secret).map_err(|m| Stop::stalled("Invalid", m))?;
                (None, Some(HmacSecret::new(secret)))
            }
            Some(secret) => {
                let stored_hash = stored.and_then(|s| s.secret_hash.clone());
                let hash = hash_for(&ctx.secrets, id, stored_hash, secret).await?;
                (Some(hash), None)
            }
            None => (None, None),
        };
        Ok(want)
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<Row>> {
        Ok(ctx.db.get_client(id).await?)
    }

    async fn create(ctx: &Context, row: &Row, owner: &RowOwner) -> Result<(), StoreError> {
        ctx.db.create_client_as(row, owner).await.map(drop)
    }

    async fn update(ctx: &Context, row: &Row) -> Result<(), StoreError> {
        ctx.db.update_client(row).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_client(id).await
    }

    fn write_refused(err: &StoreError) -> Option<Outcome> {
        match err {
            StoreError::MissingReference { detail, .. } => Some(Outcome::Progressing {
                reason: "ContactCenterNotReady".into(),
                message: format!("{detail} is not in the database yet"),
            }),
            _ => None,
        }
    }
}

/// The client secret, for a client that has one (generated into the
/// operator's own Secret unless the spec names one).
async fn client_secret(c: &OAuthClient, ctx: &Context) -> Step<Option<String>> {
    let Some(r) = secret_ref(c) else {
        return Ok(None);
    };
    if c.spec.secret_ref.is_none() {
        ensure_generated_secret(c, &r, ctx).await?;
    }
    let secret = ctx
        .required_secret(&namespace(c)?, &r, "SecretNotFound", Empty::Missing)
        .await?;
    Ok(Some(secret))
}

/// The row ids of the referenced contact centers, each in the database and
/// managed by its resource.
async fn contact_center_rows(c: &OAuthClient, ctx: &Context) -> Step<Vec<String>> {
    let ns = namespace(c)?;
    let ccs: Api<ContactCenter> = Api::namespaced(ctx.client.clone(), &ns);
    let mut ids = Vec::new();
    for name in &c.spec.contact_center_refs {
        let Some(cc) = ccs.get_opt(name).await? else {
            return Err(Stop::stalled(
                "ContactCenterNotFound",
                format!("ContactCenter {name} not found"),
            ));
        };
        let cc_id = crate::contact_center::row_id(&cc);
        let reference = ownership::Reference {
            row: ManagedRow::ContactCenter,
            id: &cc_id,
            kind: "ContactCenter",
            namespace: &ns,
            name,
            not_ready: "ContactCenterNotReady",
        };
        if let Some(outcome) = ownership::check_reference(ctx, &reference).await? {
            return Err(Stop::Report(outcome));
        }
        ids.push(cc_id);
    }
    Ok(ids)
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
        assert_eq!(row.access_token_format, AccessTokenFormat::Jwt);
    }

    #[test]
    fn access_token_format_is_carried_and_checked() {
        let spec = |format: &str| -> OAuthClientSpec {
            serde_json::from_value(json!({"accessTokenFormat": format})).unwrap()
        };
        let row = desired("api", &spec("opaque"), vec![]).unwrap();
        assert_eq!(row.access_token_format, AccessTokenFormat::Opaque);
        assert!(matches!(
            desired("api", &spec("paseto"), vec![]),
            Err(Error::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_hash_is_kept_while_it_verifies_and_replaced_when_not() {
        let v = SecretVerifier::default();
        let first = hash_for(&v, "c", None, "s3cret".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_eq!(
            hash_for(&v, "c", Some(first.clone()), "s3cret".into())
                .await
                .unwrap(),
            first
        );
        assert_eq!(
            v.slow_verifications(),
            0,
            "the hash made here is remembered"
        );
        assert_ne!(
            hash_for(&v, "c", Some(first.clone()), "other".into())
                .await
                .unwrap(),
            first
        );
        // A fresh verifier (an operator restart) checks the hash once.
        let fresh = SecretVerifier::default();
        assert_eq!(
            hash_for(&fresh, "c", Some(first.clone()), "s3cret".into())
                .await
                .unwrap(),
            first
        );
        assert_eq!(fresh.slow_verifications(), 1);
    }

    /// A resync of 1,000 unchanged clients verifies nothing with argon2: each
    /// (client, hash, secret) is verified once, then compared by digest.
    #[tokio::test]
    async fn a_resync_of_unchanged_clients_runs_no_argon2() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        // Cheap parameters: the count of verifications is what is measured.
        let cheap = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"fixed-test-salt").unwrap();
        let hash = cheap.hash_password(b"s3cret", &salt).unwrap().to_string();
        let v = SecretVerifier::default();
        let ids: Vec<String> = (0..1000).map(|i| format!("client-{i}")).collect();
        for id in &ids {
            let kept = hash_for(&v, id, Some(hash.clone()), "s3cret".into())
                .await
                .unwrap();
            assert_eq!(kept, hash);
        }
        assert_eq!(v.slow_verifications(), 1000, "first sight: one check each");
        for id in &ids {
            let kept = hash_for(&v, id, Some(hash.clone()), "s3cret".into())
                .await
                .unwrap();
            assert_eq!(kept, hash);
        }
        assert_eq!(v.slow_verifications(), 1000, "the resync ran no argon2");
    }

    #[test]
    fn auth_methods_follow_the_client_type() {
        let spec = |v: serde_json::Value| -> OAuthClientSpec { serde_json::from_value(v).unwrap() };
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
        let row = desired(
            "svc",
            &spec(json!({
                "tokenEndpointAuthMethod": "private_key_jwt",
                "jwks": jwks,
                "tokenExchange": {"subjectClients": ["web"], "audiences": ["https://api.example"], "delegation": true}
            })),
            vec![],
        )
        .unwrap();
        assert_eq!(row.auth_method, ClientAuthMethod::PrivateKeyJwt);
        assert_eq!(row.jwks.as_ref(), Some(&jwks));
        let policy = row.token_exchange.unwrap();
        assert_eq!(policy.subject_clients, ["web"]);
        assert!(policy.delegation && !policy.impersonation);
        let public = desired(
            "spa",
            &spec(json!({"clientType": "PUBLIC", "authorizedGrantTypes": ["authorization_code"]})),
            vec![],
        )
        .unwrap();
        assert_eq!(public.auth_method, ClientAuthMethod::None);
        for bad in [
            json!({"clientType": "PUBLIC", "tokenEndpointAuthMethod": "client_secret_post"}),
            json!({"tokenEndpointAuthMethod": "none"}),
            json!({"tokenEndpointAuthMethod": "private_key_jwt"}),
            json!({"jwksUri": "https://keys.example/jwks"}),
            json!({"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "http://keys.example/jwks"}),
            json!({"tokenEndpointAuthMethod": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            json!({"tokenExchange": {"audiences": [" "]}}),
        ] {
            assert!(
                matches!(
                    desired("c", &spec(bad.clone()), vec![]),
                    Err(Error::Invalid(_))
                ),
                "{bad}"
            );
        }
    }

    /// Issue 14, finding 18: the operator stored what the ops API refuses.
    #[test]
    fn the_ops_api_rules_apply_to_resources() {
        let spec = |v: serde_json::Value| -> OAuthClientSpec { serde_json::from_value(v).unwrap() };
        for (bad, field) in [
            (
                json!({"clientType": "PUBLIC", "authorizedGrantTypes": ["password"]}),
                "password",
            ),
            (
                json!({"clientType": "PUBLIC", "authorizedGrantTypes":
                    ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
                "token-exchange",
            ),
            (
                json!({"clientType": "PUBLIC", "authorizedGrantTypes":
                    ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
                "jwt-bearer",
            ),
            (
                json!({"redirectUris": ["http://app.example/cb"]}),
                "redirectURIs",
            ),
            (
                json!({"redirectUris": ["https://app.example/cb#x"]}),
                "redirectURIs",
            ),
        ] {
            match desired("c", &spec(bad.clone()), vec![]) {
                Err(Error::Invalid(message)) => assert!(message.contains(field), "{message}"),
                other => panic!("{bad}: {:?}", other.map(|r| r.client_id)),
            }
        }
    }

    #[test]
    fn mutual_tls_clients_carry_their_certificate_name() {
        let spec = |v: serde_json::Value| -> OAuthClientSpec { serde_json::from_value(v).unwrap() };
        let row = desired(
            "c",
            &spec(json!({"tokenEndpointAuthMethod": "tls_client_auth",
                "tlsClientAuth": {"sanDns": "app.example"},
                "tlsClientCertificateBoundAccessTokens": true})),
            vec![],
        )
        .unwrap();
        assert_eq!(row.auth_method, ClientAuthMethod::TlsClientAuth);
        assert_eq!(
            row.tls_client_auth_subject,
            Some(CertSubject::SanDns("app.example".into()))
        );
        assert!(row.tls_client_certificate_bound_access_tokens);
        for bad in [
            json!({"tokenEndpointAuthMethod": "tls_client_auth"}),
            json!({"tokenEndpointAuthMethod": "tls_client_auth",
                "tlsClientAuth": {"sanDns": "a.example", "subjectDn": "CN=a"}}),
            json!({"tokenEndpointAuthMethod": "self_signed_tls_client_auth"}),
        ] {
            assert!(desired("c", &spec(bad.clone()), vec![]).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unbound_management_client_comes_only_from_the_platform_namespace() {
        let spec = |v: serde_json::Value| -> OAuthClientSpec { serde_json::from_value(v).unwrap() };
        let unbound = spec(json!({"authorities": ["ROLE_MANAGEMENT_APPLICATION"]}));
        let refusal = unbound_management_refusal(&unbound, "tenant-b", Some("tollgate"), false);
        assert!(
            refusal.as_deref().is_some_and(|m| m.contains("(tollgate)")),
            "{refusal:?}"
        );
        assert!(unbound_management_refusal(&unbound, "tenant-b", None, false).is_some());
        let internal = spec(json!({"authorities": ["ROLE_INTERNAL_CLIENT"]}));
        assert!(
            unbound_management_refusal(&internal, "tenant-b", Some("tollgate"), false).is_some()
        );
        // Allowed: the platform namespace, the explicit setting, a bound
        // client, a client without a management authority.
        assert_eq!(
            unbound_management_refusal(&unbound, "tollgate", Some("tollgate"), false),
            None
        );
        assert_eq!(
            unbound_management_refusal(&unbound, "tenant-b", Some("tollgate"), true),
            None
        );
        let bound = spec(
            json!({"authorities": ["ROLE_MANAGEMENT_APPLICATION"], "contactCenterRefs": ["acme"]}),
        );
        assert_eq!(
            unbound_management_refusal(&bound, "tenant-b", Some("tollgate"), false),
            None
        );
        let agent = spec(json!({"authorities": ["ROLE_AGENT"]}));
        assert_eq!(
            unbound_management_refusal(&agent, "tenant-b", Some("tollgate"), false),
            None
        );
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
