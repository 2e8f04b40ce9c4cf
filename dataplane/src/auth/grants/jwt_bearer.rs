//! JWT bearer grant (RFC 7523 §2.1, the original's "Assertion"): a trusted
//! issuer vouches for a user with a signed JWT in `assertion`. The issuer
//! (its `iss`) is registered for one contact center with its keys; `sub` is
//! a user name of that contact center's directory; `aud` names this server
//! (its issuer URL or token endpoint); each `jti` is accepted once.

use std::sync::Arc;
use std::time::Duration;

use tollgate_store::model::{Client, Timestamp, TrustedIssuer};

use crate::auth::assertion::{self, AssertionError, Expect};
use crate::auth::error::OAuthError;
use crate::auth::form::OAuthForm;
use crate::auth::issue::{grant_scope, issue, Issue, TokenResponse, UserPrincipal};
use crate::directory::DirectoryError;
use crate::state::Services;

/// The `aud` values that name this server.
pub fn audiences(state: &Services) -> Vec<String> {
    let iss = &state.settings.issuer;
    vec![iss.clone(), format!("{iss}/auth/v3/oauth/token")]
}

fn refused(e: AssertionError) -> OAuthError {
    match e {
        AssertionError::KeysUnavailable => OAuthError::temporarily_unavailable(30),
        e => OAuthError::invalid_grant(e.to_string()),
    }
}

/// Reads `iss` without trusting anything else yet: it only selects the
/// issuer record whose keys then verify the whole token.
fn claimed_issuer(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

async fn verify(
    state: &Services,
    trusted: &TrustedIssuer,
    token: &str,
    now: Timestamp,
) -> Result<assertion::Verified, AssertionError> {
    let (alg, kid) = assertion::algorithm(token, &trusted.algorithms)?;
    let static_key = trusted
        .jwks
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .and_then(|set| assertion::find_key(&set, kid.as_deref()).cloned());
    let key = match (static_key, &trusted.jwks_uri) {
        (Some(k), _) => k,
        (None, Some(uri)) => state.jwks.key(uri, kid.as_deref()).await?,
        (None, None) => return Err(AssertionError::UnknownKey),
    };
    let audiences = audiences(state);
    let verified = assertion::verify(
        token,
        alg,
        &key,
        &Expect {
            issuer: &trusted.issuer,
            audiences: &audiences,
            max_lifetime: trusted.max_lifetime,
        },
        now,
    )?;
    // Single use: remembered until it could no longer pass the expiry check.
    let ttl = (verified.exp - now + assertion::SKEW).max(1) as u64;
    let key = format!("jwt-bearer:jti:{}:{}", trusted.issuer, verified.jti);
    match state
        .ephemeral
        .put_if_absent(&key, b"1", Duration::from_secs(ttl))
        .await
    {
        Ok(true) => Ok(verified),
        Ok(false) => Err(AssertionError::Replayed),
        Err(e) => {
            tracing::error!(error = %e, "replay cache unavailable");
            Err(AssertionError::KeysUnavailable)
        }
    }
}

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let token = form.require("assertion")?;
    let scope = grant_scope(client, form.get("scope"))?;
    let issuer = claimed_issuer(token)
        .ok_or_else(|| OAuthError::invalid_grant(AssertionError::Malformed.to_string()))?;
    let trusted = state
        .db
        .get_trusted_issuer(&issuer)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the assertion's issuer is not trusted"))?;
    let verified = match verify(state, &trusted, token, now).await {
        Ok(v) => v,
        Err(e) => {
            state.audit(
                "assertion.refused",
                Some(&client.client_id),
                Some(&trusted.contact_center_id),
                None,
                ip,
                serde_json::json!({"issuer": issuer, "reason": e.to_string()}),
            );
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
            client,
            scope,
            user: Some(UserPrincipal::new(&cc, &user, now)),
            family: None,
            with_refresh: false,
            nonce: None,
            exchange: None,
        },
        now,
    )
    .await
}
