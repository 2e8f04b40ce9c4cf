//! SAML 2.0 bearer assertion grant (RFC 7522 §2.1): a contact center's
//! SAML identity provider vouches for a user with one signed Assertion in
//! `assertion`. It is checked exactly as the ACS checks a sign-in
//! (`sso::saml::acs::check`), with the token endpoint as `Recipient` and
//! the contact center's SP entity id as the only `Audience` (RFC 7522 §3
//! allows either; the SP entity id is what the IdP already knows the SP
//! by). Its id is spent in the ACS's replay cache, and the user is the one
//! SAML sign-in would sign in (attribute mapping, directory, just-in-time).

use std::sync::Arc;

use base64::Engine as _;
use tollgate_store::model::{AuthScheme, Client, ContactCenter, Timestamp};
use tollgate_store::validate::saml::idp_entity_id;

use crate::directory::DirectoryError;
use crate::federation::saml::identity::identity;
use crate::federation::saml::provider::{check, first_use};
use crate::federation::saml::provider::{provider, Provider};
use crate::federation::saml::verify::bare_assertion_issuer;
use crate::federation::users::{resolve_user, ResolveError, UnknownUsers};
use crate::oauth::endpoints::token_endpoint;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{grant_scope, issue, Issue, TokenResponse, UserPrincipal};
use crate::services::Services;
use crate::tokens::Confirmation;

/// The assertion's XML from base64url; padding and the standard alphabet
/// are tolerated, as many SAML libraries emit them.
fn decode(value: &str) -> Option<String> {
    let normalized: String = value
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(normalized)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The one enabled `auth: saml` contact center, among those the client may
/// serve, whose IdP is `issuer`.
async fn contact_center(
    state: &Services,
    client: &Client,
    issuer: &str,
) -> Result<(Arc<ContactCenter>, Provider), OAuthError> {
    let mut found = Vec::new();
    for cc in state.catalog.contact_centers() {
        let eligible = cc.enabled
            && cc.auth == AuthScheme::Saml
            && (client.contact_center_ids.is_empty() || client.contact_center_ids.contains(&cc.id));
        if !eligible {
            continue;
        }
        if let Some(p) = provider(state, &cc.id).await? {
            if idp_entity_id(&p.config.idp_metadata).as_deref() == Some(issuer) {
                found.push((cc, p));
            }
        }
    }
    match (found.pop(), found.is_empty()) {
        (Some(one), true) => Ok(one),
        (Some(_), false) => Err(OAuthError::invalid_grant(
            "the assertion's issuer is the identity provider of several tenants",
        )),
        (None, _) => Err(OAuthError::invalid_grant(
            "the assertion's issuer is not the identity provider of a tenant of this client",
        )),
    }
}

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let xml = decode(form.require("assertion")?)
        .ok_or_else(|| OAuthError::invalid_request("'assertion' is not base64url"))?;
    let scope = grant_scope(client, form.get("scope"))?;
    let refused = |cc: Option<&str>, issuer: Option<&str>, reason: &str| {
        state
            .audit("assertion.refused")
            .client(&client.client_id)
            .contact_center(cc)
            .ip(ip)
            .detail(serde_json::json!({"protocol": "saml", "issuer": issuer, "reason": reason}))
            .record();
    };
    let issuer = bare_assertion_issuer(&xml).map_err(|r| {
        refused(None, None, r.reason());
        OAuthError::invalid_grant("the assertion is not one SAML 2.0 Assertion")
    })?;
    let (cc, provider) = contact_center(state, client, &issuer).await?;
    let recipient = token_endpoint(&state.settings.issuer);
    let assertion = check(state, &provider, &cc, &xml, &recipient, None).map_err(|r| {
        refused(Some(&cc.id), Some(&issuer), r.reason());
        OAuthError::invalid_grant(r.to_string())
    })?;
    if !first_use(state, &assertion).await? {
        refused(Some(&cc.id), Some(&issuer), "replayed");
        return Err(OAuthError::invalid_grant(
            "the assertion has been used before",
        ));
    }
    let identity = identity(&provider.config, &assertion).map_err(|r| {
        refused(Some(&cc.id), Some(&issuer), r.reason());
        OAuthError::invalid_grant(r.to_string())
    })?;
    let unknown = if provider.config.just_in_time_users {
        UnknownUsers::CreateJustInTime
    } else {
        UnknownUsers::Refuse
    };
    let user = match resolve_user(state, &cc, &identity, unknown).await {
        Ok(u) => u,
        Err(ResolveError::Directory(DirectoryError::Unavailable { retry_after })) => {
            return Err(OAuthError::temporarily_unavailable(
                retry_after.as_secs().max(1),
            ))
        }
        Err(e) => {
            refused(Some(&cc.id), Some(&issuer), "user");
            return Err(OAuthError::invalid_grant(e.to_string()));
        }
    };
    issue(
        state,
        Issue {
            user: Some(UserPrincipal::new(&cc, &user, now)),
            ..Issue::new(client, scope, cnf)
        },
        now,
    )
    .await
}
