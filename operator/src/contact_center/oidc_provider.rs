//! `spec.oidcProvider` → the contact center's OpenID Connect provider in the
//! store. The client secret comes from a Secret and is sealed by the store;
//! the record is checked by the same rules as the Environment API's. The
//! resource owns the provider: without `spec.oidcProvider` any stored one is
//! removed.

use tollgate_store::model::{OidcClaims, OidcClientAuth, OidcGroupAuthority, OidcProviderConfig};
use tollgate_store::validate::check_oidc_provider;
use tollgate_store::StoreError;

use super::part::Part;
use crate::context::{namespace, Context, Empty, Result, Step, Stop};
use crate::crd::{ContactCenter, OidcProviderSpec};

/// The record `spec` asks for, once the client secret is read.
pub fn desired(
    id: &str,
    spec: &OidcProviderSpec,
    client_secret: String,
) -> Result<OidcProviderConfig, String> {
    let client_auth = OidcClientAuth::parse(&spec.client_authentication).ok_or_else(|| {
        "'clientAuthentication' must be client_secret_basic or client_secret_post".to_string()
    })?;
    let c = &spec.claims;
    let record = OidcProviderConfig {
        contact_center_id: id.into(),
        issuer: spec.issuer.trim().to_string(),
        client_id: spec.client_id.trim().to_string(),
        client_auth,
        client_secret,
        scopes: spec.scopes.clone(),
        claims: OidcClaims {
            username: c.username.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
        },
        // As the Environment API: a blank claim is no claim.
        groups_claim: spec.groups_claim.clone().filter(|g| !g.trim().is_empty()),
        group_authorities: spec
            .group_authorities
            .iter()
            .map(|g| OidcGroupAuthority {
                group: g.group.clone(),
                authority: g.authority.clone(),
            })
            .collect(),
        just_in_time: spec.just_in_time,
        authorize_params: spec.authorize_params.clone(),
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    check_oidc_provider(&record)?;
    Ok(record)
}

/// The contact center's OpenID provider, for [`sync_optional`](super::part::sync_optional).
pub struct OidcProvider;

impl Part for OidcProvider {
    type Spec = OidcProviderSpec;
    type Record = OidcProviderConfig;
    const NAME: &'static str = "OIDC provider";
    const REASON: &'static str = "OidcProvider";
    const AUTH: &'static str = "oidc";
    const FIELD: &'static str = "spec.oidcProvider";

    fn spec(cc: &ContactCenter) -> Option<&OidcProviderSpec> {
        cc.spec.oidc_provider.as_ref()
    }

    async fn read(ctx: &Context, id: &str) -> Result<Option<OidcProviderConfig>> {
        Ok(ctx.db.get_oidc_provider(id).await?)
    }

    async fn wanted(
        cc: &ContactCenter,
        id: &str,
        spec: &OidcProviderSpec,
        _stored: Option<&OidcProviderConfig>,
        ctx: &Context,
    ) -> Step<OidcProviderConfig> {
        let r = &spec.client_secret_ref;
        let secret = ctx
            .required_secret(&namespace(cc)?, r, "ClientSecretNotFound", Empty::Missing)
            .await?;
        desired(id, spec, secret).map_err(|m| Stop::stalled("InvalidOidcProvider", m))
    }

    async fn put(ctx: &Context, record: &OidcProviderConfig) -> Result<(), StoreError> {
        ctx.db.put_oidc_provider(record).await.map(drop)
    }

    async fn delete(ctx: &Context, id: &str) -> Result<(), StoreError> {
        ctx.db.delete_oidc_provider(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> OidcProviderSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_spec_takes_the_secret_and_the_store_defaults() {
        let s = spec(json!({
            "issuer": "https://login.example.com/realms/acme",
            "clientId": "tollgate",
            "clientSecretRef": {"name": "idp", "key": "clientSecret"},
            "groupsClaim": "groups",
            "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}],
            "authorizeParams": {"prompt": "login"}
        }));
        let row = desired("cc", &s, "pw".into()).unwrap();
        assert_eq!(row.client_secret, "pw");
        assert_eq!(row.client_auth, OidcClientAuth::ClientSecretBasic);
        assert_eq!(row.scopes, ["openid", "profile", "email"]);
        assert_eq!(row.claims, OidcClaims::default());
        assert_eq!(row.group_authorities[0].authority, "ROLE_AGENT");
        assert_eq!(row.authorize_params["prompt"], "login");
    }

    #[test]
    fn the_store_rules_refuse_what_the_schema_lets_through() {
        let mut s = spec(json!({
            "issuer": "https://login.example.com",
            "clientId": "tollgate",
            "clientSecretRef": {"name": "idp", "key": "clientSecret"}
        }));
        assert!(desired("cc", &s, "pw".into()).is_ok());
        s.authorize_params.insert("nonce".into(), "x".into());
        let err = desired("cc", &s, "pw".into()).unwrap_err();
        assert!(err.contains("authorizeParams"), "{err}");
        assert!(!err.contains("pw"), "{err}");
        s.authorize_params.clear();
        s.issuer = "https://login.example.com/?tenant=a".into();
        assert!(desired("cc", &s, "pw".into()).is_err());
    }
}
