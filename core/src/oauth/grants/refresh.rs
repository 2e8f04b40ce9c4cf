//! Refresh token grant (RFC 6749 §6) with rotation on every use and reuse
//! detection that revokes the whole family (RFC 9700 §4.14.2).

use std::sync::Arc;

use serde_json::json;
use tollgate_store::model::{Client, RotateOutcome, Timestamp};

use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{issue, new_refresh, Issue, TokenResponse, UserPrincipal, SCOPE_ALL};
use crate::oauth::recheck::{recheck, Recheck};
use crate::services::Services;
use crate::tokens;

pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    let hash = tokens::token_digest(presented);
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some((_, family)) = state.db.find_refresh_token(&hash).await? else {
        return Err(invalid());
    };
    // Checked before rotating, so another client cannot burn someone's token.
    if family.client_id != client.client_id {
        return Err(invalid());
    }
    let scope = match form.get("scope") {
        None => family.scope.clone(),
        Some(asked) => {
            let asked: Vec<String> = asked
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            // A grant of `*` covers every scope, as it does at the first grant.
            let granted = |s: &String| family.scope.iter().any(|g| g == SCOPE_ALL || g == s);
            if let Some(extra) = asked.iter().find(|s| !granted(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope '{extra}' was not granted originally"
                )));
            }
            asked
        }
    };
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
    let user = match &signed_in {
        None => None,
        Some(u) => match recheck(state, u).await {
            Recheck::Current(now) => Some(*now),
            Recheck::Unavailable(retry_after) => {
                return Err(OAuthError::temporarily_unavailable(retry_after))
            }
            Recheck::Gone => return Err(invalid()),
        },
    };
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
                    exchange: None,
                },
                now,
            )
            .await?;
            res.refresh_token = Some(value);
            Ok(res)
        }
        RotateOutcome::Reused { family_id } => {
            // The store already revoked the family's refresh tokens; end its access tokens too.
            state.revoke_family(&family_id, now).await?;
            state
                .audit("token.refresh_reused")
                .client(&client.client_id)
                .contact_center(family.contact_center_id.as_deref())
                .subject(family.username.as_deref())
                .ip(ip)
                .detail(json!({"family": family_id}))
                .record();
            Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its grant is now revoked",
            ))
        }
        RotateOutcome::Expired | RotateOutcome::Revoked | RotateOutcome::NotFound => Err(invalid()),
    }
}
