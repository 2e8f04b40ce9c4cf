//! JWT bearer grant (RFC 7523 §2.1, the original's "Assertion"): a trusted
//! issuer vouches for a user with a signed JWT in `assertion`. The issuer
//! (its `iss`) is registered for one contact center with its keys; `sub` is
//! a user name of that contact center's directory; `aud` names this server
//! (its issuer URL or token endpoint); each `jti` is accepted once.

use std::sync::Arc;

use tollgate_store::model::{Client, Timestamp, TrustedIssuer};

use crate::directory::DirectoryError;
use crate::oauth::assertion::{self, AssertionError, Expect, Keys};
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{grant_scope, issue, Issue, TokenResponse, UserPrincipal};
use crate::services::Services;
use crate::tokens::Confirmation;

fn refused(e: AssertionError) -> OAuthError {
    match e {
        AssertionError::KeysUnavailable => OAuthError::temporarily_unavailable(30),
        e => OAuthError::invalid_grant(e.to_string()),
    }
}

/// Verifies a JWT of a trusted issuer and consumes its `jti`. Token
/// exchange uses it too, with the same replay scope: a JWT is spent once,
/// whether as an assertion or as a subject token.
pub(crate) async fn verify(
    state: &Services,
    trusted: &TrustedIssuer,
    token: &str,
    now: Timestamp,
) -> Result<assertion::Verified, AssertionError> {
    assertion::accept(
        state,
        Keys::Public {
            jwks: trusted.jwks.as_ref(),
            jwks_uri: trusted.jwks_uri.as_deref(),
        },
        &trusted.algorithms,
        &Expect {
            issuer: &trusted.issuer,
            subject: None,
            audiences: &assertion::audiences(state),
            max_lifetime: trusted.max_lifetime,
        },
        token,
        "jwt-bearer",
        now,
    )
    .await
}

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let token = form.require("assertion")?;
    let scope = grant_scope(client, form.get("scope"))?;
    let issuer = assertion::unverified_claim(token, "iss")
        .ok_or_else(|| OAuthError::invalid_grant(AssertionError::Malformed.to_string()))?;
    let trusted = state
        .db
        .get_trusted_issuer(&issuer)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the assertion's issuer is not trusted"))?;
    let verified = match verify(state, &trusted, token, now).await {
        Ok(v) => v,
        Err(e) => {
            state
                .audit("assertion.refused")
                .client(&client.client_id)
                .contact_center(&trusted.contact_center_id)
                .ip(ip)
                .detail(serde_json::json!({"issuer": issuer, "reason": e.to_string()}))
                .record();
            return Err(refused(e));
        }
    };
    let cc = state
        .catalog
        .contact_center(&trusted.contact_center_id)
        .filter(|cc| cc.enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the issuer's tenant is disabled"))?;
    if !client.contact_center_ids.is_empty() && !client.contact_center_ids.contains(&cc.id) {
        return Err(OAuthError::invalid_grant(
            "this client may not obtain tokens for users of this tenant",
        ));
    }
    let directory = state
        .directories
        .for_contact_center(&cc)
        .await
        .ok_or_else(|| {
            OAuthError::invalid_grant("this tenant's directory is not available in this server")
        })?;
    let user = match directory.lookup(&cc, &verified.sub).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(OAuthError::invalid_grant(
                "the assertion's subject is not a user of this tenant",
            ))
        }
        Err(DirectoryError::Unavailable { retry_after }) => {
            return Err(OAuthError::temporarily_unavailable(
                retry_after.as_secs().max(1),
            ))
        }
        Err(e) => return Err(OAuthError::invalid_grant(e.to_string())),
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
