//! Refresh token grant (RFC 6749 §6) with rotation on every use and reuse
//! detection that revokes the whole family (RFC 9700 §4.14.2).

use std::sync::Arc;

use serde_json::json;
use tollgate_store::model::{Client, RefreshFamily, RotateOutcome, Timestamp};

use crate::oauth::claims::SCOPE_ALL;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{issue, new_refresh, Issue, TokenResponse, UserPrincipal};
use crate::oauth::recheck::{recheck, Recheck};
use crate::services::Services;
use crate::tokens;
use crate::tokens::Confirmation;

/// Rotates the refresh token and issues an access token for the grant's
/// scope (or a narrower one) and its user as the directory knows them now.
pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    let hash = tokens::token_digest(presented);
    let Some((_, family)) = state.db.find_refresh_token(&hash).await? else {
        return Err(invalid());
    };
    // Checked before rotating, so another client cannot burn someone's token.
    if family.client_id != client.client_id {
        return Err(invalid());
    }
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    match (&family.dpop_jkt, cnf.jkt.as_deref()) {
        (Some(_), None) => {
            return Err(OAuthError::invalid_dpop_proof(
                "the refresh token is bound to a DPoP key: send a proof of it",
            ))
        }
        (Some(bound), Some(proven)) if bound != proven => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to another DPoP key",
            ))
        }
        _ => {}
    }
    let scope = match form.get("scope") {
        None => family.scope.clone(),
        Some(asked) => narrowed_scope(&family.scope, asked)?,
    };
    let user = current_user(state, &family, now).await?;
    let value = tokens::random_token();
    let next = new_refresh(&family.id, client, family.expires_at, &value, now);
    match state.db.rotate_refresh_token(&hash, &next, now).await? {
        RotateOutcome::Rotated(family) => {
            let mut res = issue(
                state,
                Issue {
                    client,
                    scope,
                    user,
                    family: Some(family.id.clone()),
                    with_refresh: false,
                    nonce: None,
                    acr_requested: false,
                    claims: Default::default(),
                    exchange: None,
                    cnf: cnf.clone(),
                    code: None,
                },
                now,
            )
            .await?;
            res.refresh_token = Some(value);
            Ok(res)
        }
        RotateOutcome::Reused { family_id } => {
            Err(reused(state, &family, &family_id, ip, now).await)
        }
        RotateOutcome::Expired | RotateOutcome::Revoked | RotateOutcome::NotFound => Err(invalid()),
    }
}

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// The scope asked for, which must be within the scope the grant has.
fn narrowed_scope(granted: &[String], asked: &str) -> Result<Vec<String>, OAuthError> {
    let asked: Vec<String> = asked
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // A grant of `*` covers every scope, as it does at the first grant.
    let covered = |s: &String| granted.iter().any(|g| g == SCOPE_ALL || g == s);
    if let Some(extra) = asked.iter().find(|s| !covered(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{extra}' was not granted originally"
        )));
    }
    Ok(asked)
}

/// The grant's user as the directory knows them now (`None` for a grant
/// without a user); the grant ends with the browser session it came from.
async fn current_user(
    state: &Services,
    family: &RefreshFamily,
    now: Timestamp,
) -> Result<Option<UserPrincipal>, OAuthError> {
    let signed_in: Option<UserPrincipal> =
        serde_json::from_value(family.claims.clone()).map_err(|_| OAuthError::server_error())?;
    // Signed in through a browser session that has ended since: so has the grant.
    let session = signed_in
        .as_ref()
        .and_then(|u| u.browser_session.as_deref());
    if session.is_some_and(|id| state.revocations.id_revoked(id)) {
        state.revoke_family(&family.id, now).await?;
        return Err(invalid());
    }
    // The user must still exist and be enabled (a disabled account must not
    // keep its grant alive by refreshing), and the new tokens carry what the
    // directory says now, not what it said at sign-in.
    let Some(u) = &signed_in else {
        return Ok(None);
    };
    match recheck(state, u).await {
        Recheck::Current(now) => Ok(Some(*now)),
        Recheck::Unavailable(retry_after) => Err(OAuthError::temporarily_unavailable(retry_after)),
        Recheck::Gone => Err(invalid()),
    }
}

/// A refresh token presented again: the store already revoked the family's
/// refresh tokens; its access tokens end too, and the reuse is audited.
async fn reused(
    state: &Services,
    family: &RefreshFamily,
    family_id: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> OAuthError {
    if let Err(e) = state.revoke_family(family_id, now).await {
        return e.into();
    }
    state
        .audit("token.refresh_reused")
        .client(&family.client_id)
        .contact_center(family.contact_center_id.as_deref())
        .subject(family.username.as_deref())
        .ip(ip)
        .detail(json!({"family": family_id}))
        .record();
    OAuthError::invalid_grant(
        "the refresh token was already used; every token of its grant is now revoked",
    )
}
