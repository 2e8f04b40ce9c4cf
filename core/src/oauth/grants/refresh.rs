//! Refresh token grant (RFC 6749 §6) with rotation on every use and reuse
//! detection that revokes the whole family (RFC 9700 §4.14.2).
//!
//! A rotation whose commit is in doubt (the database failed after the
//! statement was sent) may have landed although its client got a 503; the
//! client's retry would then look like reuse and end its grant. So a
//! token's successor is derived from it (a MAC under the store's key), and
//! a rotation that failed in doubt is remembered for a while: a retry of
//! exactly that token is answered with the successor that rotation stored,
//! once, as long as nobody has used it. A token presented again without
//! such a failure is reuse, as before. A request that ends while its
//! rotation is out (its deadline passed, its client hung up) counts as
//! such a failure: the database may still commit the statement.

use std::sync::Arc;

use serde_json::json;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use tollgate_store::model::{Client, RefreshFamily, RefreshToken, RotateOutcome, Timestamp};
use tollgate_store::StoreError;

use crate::oauth::claims::SCOPE_ALL;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::issue::{issue, new_refresh, Issue, TokenResponse, UserPrincipal};
use crate::oauth::recheck::{recheck, Freshness, Recheck};
use crate::services::{AppState, Services};
use crate::tokens;
use crate::tokens::Confirmation;

/// Rotates the refresh token and issues an access token for the grant's
/// scope (or a narrower one) and its user as the directory knows them now.
pub async fn grant(
    state: &AppState,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let presented = form.require("refresh_token")?;
    let hash = tokens::token_digest(presented);
    let pending = Pending::arm(state, &hash, now);
    let res = rotate(state, client, form, presented, &hash, ip, now, cnf).await;
    pending.settle();
    res
}

/// A rotation under way: should the request end before it settles (the
/// future dropped at its deadline or by a client gone), the rotation is in
/// doubt, remembered by a task of its own.
struct Pending {
    armed: Option<(AppState, String, Timestamp)>,
}

impl Pending {
    fn arm(state: &AppState, hash: &str, now: Timestamp) -> Pending {
        Pending {
            armed: Some((state.clone(), hash.to_string(), now)),
        }
    }

    /// The grant answered (an error answer has settled its doubt itself).
    fn settle(mut self) {
        self.armed = None;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some((state, hash, now)) = self.armed.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { remember_in_doubt(&state, &hash, now).await });
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn rotate(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    presented: &str,
    hash: &str,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let value = successor(state, presented);
    // The common case in one step, committed with the rotations asked at
    // the same time: rotate, then ask the directory.
    // A narrower scope is checked first, so a refused one uses nothing up.
    if form.get("scope").is_none() {
        if let Some(family) = rotate_at_once(state, client, hash, &value, cnf, now).await? {
            let user = match current_user(state, &family, now).await {
                Ok(user) => user,
                Err(e) => return Err(after_rotation_failed(state, &family, hash, e, now).await),
            };
            let scope = family.scope.clone();
            return answer_rotated(state, client, scope, user, &family, hash, value, cnf, now)
                .await;
        }
    }
    let Some((token, family)) = state.db.find_refresh_token(hash).await? else {
        return Err(invalid("unknown token"));
    };
    // Checked before rotating, so another client cannot burn someone's token.
    if family.client_id != client.client_id {
        return Err(invalid("issued to another client"));
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
    if let Some(used_at) = token.used_at {
        if is_retry_in_doubt(state, &token, used_at, &value, now).await? {
            let res = answer(state, client, scope, user, &family.id, value, cnf, now).await?;
            let _ = state.ephemeral.delete(&in_doubt_key(hash, used_at)).await;
            return Ok(res);
        }
    }
    let next = new_refresh(&family.id, client, family.expires_at, &value, now);
    let outcome = match state.db.rotate_refresh_token(hash, &next, now).await {
        Ok(outcome) => outcome,
        Err(e) => return Err(rotation_failed(state, hash, e, now).await),
    };
    match outcome {
        RotateOutcome::Rotated(family) => {
            answer_rotated(state, client, scope, user, &family, hash, value, cnf, now).await
        }
        RotateOutcome::Reused { family_id } => {
            Err(reused(state, &family, &family_id, ip, now).await)
        }
        RotateOutcome::Expired => Err(invalid("expired")),
        RotateOutcome::Revoked => Err(invalid("its grant was revoked")),
        RotateOutcome::NotFound => Err(invalid("unknown token")),
    }
}

/// The one-step rotation of a token of `client`'s whose DPoP key (if
/// bound) was proven; `None` when it did not rotate that way.
async fn rotate_at_once(
    state: &Services,
    client: &Arc<Client>,
    hash: &str,
    value: &str,
    cnf: &Confirmation,
    now: Timestamp,
) -> Result<Option<RefreshFamily>, OAuthError> {
    // The family's own expiry caps the successor's in the statement.
    let next = new_refresh("", client, Timestamp::MAX, value, now);
    let jkt = cnf.jkt.as_deref();
    let rotated = state
        .db
        .rotate_refresh_token_at_once(hash, &client.client_id, jkt, &next, now)
        .await;
    match rotated {
        Ok(family) => Ok(family),
        Err(e) => Err(rotation_failed(state, hash, e, now).await),
    }
}

/// A rotation statement failed: in doubt, unless it never left (the breaker).
async fn rotation_failed(
    state: &Services,
    hash: &str,
    e: StoreError,
    now: Timestamp,
) -> OAuthError {
    if !matches!(e, StoreError::Unavailable(_)) {
        remember_in_doubt(state, hash, now).await;
    }
    e.into()
}

/// The token was used, and the grant cannot go on: its user is gone (the
/// family ends) or cannot be looked up now (the client will retry).
async fn after_rotation_failed(
    state: &Services,
    family: &RefreshFamily,
    hash: &str,
    e: OAuthError,
    now: Timestamp,
) -> OAuthError {
    if e.status.is_server_error() {
        remember_in_doubt(state, hash, now).await;
    } else if let Err(revoking) = state.revoke_family(&family.id, now).await {
        return revoking.into();
    }
    e
}

/// [`answer`] for a token just rotated: should it fail, the client's retry
/// of the same token is answered with the successor.
#[allow(clippy::too_many_arguments)]
async fn answer_rotated(
    state: &Services,
    client: &Arc<Client>,
    scope: Vec<String>,
    user: Option<UserPrincipal>,
    family: &RefreshFamily,
    hash: &str,
    value: String,
    cnf: &Confirmation,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let res = answer(state, client, scope, user, &family.id, value, cnf, now).await;
    if res.is_err() {
        remember_in_doubt(state, hash, now).await;
    }
    res
}

/// The access token (and the new refresh token) for a rotated grant.
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &Services,
    client: &Arc<Client>,
    scope: Vec<String>,
    user: Option<UserPrincipal>,
    family_id: &str,
    refresh_token: String,
    cnf: &Confirmation,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let mut res = issue(
        state,
        Issue {
            user,
            family: Some(family_id.to_string()),
            ..Issue::new(client, scope, cnf)
        },
        now,
    )
    .await?;
    res.refresh_token = Some(refresh_token);
    Ok(res)
}

/// How long a rotation in doubt can be retried: longer than an outage a
/// client waits out, short enough to keep the exception narrow.
const IN_DOUBT_TTL: Duration = Duration::from_secs(15 * 60);

/// The refresh token that rotating `presented` gives: the same on every
/// replica and every retry, unguessable without the store's key.
fn successor(state: &Services, presented: &str) -> String {
    B64.encode(
        state
            .db
            .cipher()
            .mac("refresh-successor", presented.as_bytes()),
    )
}

/// One key per attempt: a client retrying through an outage may leave
/// several rotations in doubt, and whichever of them landed (its `used_at`)
/// must still be found.
fn in_doubt_key(hash: &str, at: Timestamp) -> String {
    format!("refresh-in-doubt:{hash}:{at}")
}

/// The rotation of `hash` at `now` may have happened without its client
/// getting the successor. If the ephemeral store is down too, the retry is
/// treated as reuse.
async fn remember_in_doubt(state: &Services, hash: &str, now: Timestamp) {
    let _ = state
        .ephemeral
        .put(&in_doubt_key(hash, now), b"1", IN_DOUBT_TTL)
        .await;
}

/// `token` was used by a rotation that failed in doubt, and that rotation's
/// successor (`value`) is stored, unused and live: the rotation landed and
/// this is its client asking again.
async fn is_retry_in_doubt(
    state: &Services,
    token: &RefreshToken,
    used_at: Timestamp,
    value: &str,
    now: Timestamp,
) -> Result<bool, OAuthError> {
    // The remembered failure must be the rotation that used the token.
    let key = in_doubt_key(&token.hash, used_at);
    if state.ephemeral.get(&key).await?.is_none() {
        return Ok(false);
    }
    let next = state
        .db
        .find_refresh_token(&tokens::token_digest(value))
        .await?;
    Ok(next.is_some_and(|(next, family)| {
        next.family_id == token.family_id
            && next.used_at.is_none()
            && next.created_at == used_at
            && family.revoked_at.is_none()
            && next.expires_at > now
            && family.expires_at > now
    }))
}

/// One answer for every refusal (RFC 6749 §5.2), its reason in the log only.
fn invalid(why: &'static str) -> OAuthError {
    tracing::info!(reason = why, "refresh token refused");
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
        return Err(invalid("its browser session ended"));
    }
    // The user must still exist and be enabled (a disabled account must not
    // keep its grant alive by refreshing), and the new tokens carry what the
    // directory says now, not what it said at sign-in.
    let Some(u) = &signed_in else {
        return Ok(None);
    };
    match recheck(state, u, Freshness::Remembered).await {
        Recheck::Current(now) => Ok(Some(*now)),
        Recheck::Unavailable(retry_after) => Err(OAuthError::temporarily_unavailable(retry_after)),
        Recheck::Gone(why) => Err(invalid(why)),
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
