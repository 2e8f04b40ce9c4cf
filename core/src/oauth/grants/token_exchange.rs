//! Token exchange (RFC 8693, the original's "Token Convert"): a client trades
//! a token that speaks for a user (an access token, refresh token or ID token
//! of this server, or a JWT or ID token of a contact center's trusted issuer)
//! for a new access token of that user, maybe for another audience, with a
//! narrower scope, and with the actor recorded in `act`.
//!
//! What a client may do is its `tokenExchange` policy (ops client API):
//! whose tokens it may exchange (clients of this server, trusted issuers),
//! for which audiences, and whether it may
//! impersonate (no `actor_token`) or act as a delegate (`actor_token`). An
//! exchange issues no refresh token and no ID token: a refreshed token would
//! lose the audience and the actor, silently widening what the holder has.

use std::sync::Arc;

use serde_json::{json, Value};
use tollgate_store::model::{Client, ExchangePolicy, Timestamp};

use crate::directory::DirectoryError;
use crate::oauth::assertion::{self, AssertionError};
use crate::oauth::claims::SCOPE_ALL;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::grants::jwt_bearer;
use crate::oauth::issue::{grant_scope, issue, Exchanged, Issue, TokenResponse, UserPrincipal};
use crate::services::Services;
use crate::tokens::Confirmation;
use crate::tokens::{self, TokenError};

pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// What a presented subject or actor token says, once verified.
#[derive(Debug)]
struct Presented {
    sub: String,
    /// The client the token was issued to (empty for a trusted issuer's).
    client_id: String,
    /// The trusted issuer that signed it; `None` for this server's tokens.
    issuer: Option<String>,
    /// The user, for a user's token: contact center and login name.
    user: Option<(String, String)>,
    auth_time: Option<Timestamp>,
    /// Scope the token carries; `None` for an ID token (it carries none).
    scope: Option<Vec<String>>,
    act: Option<Value>,
}

fn invalid(which: &str, why: impl std::fmt::Display) -> OAuthError {
    // RFC 8693 §2.2.2: a bad subject or actor token is invalid_request.
    OAuthError::invalid_request(format!("the {which} is not valid: {why}"))
}

/// A token that could not be read: invalid, or (an opaque token whose
/// store is down) neither valid nor invalid, which the client may retry.
fn unreadable(which: &str, e: TokenError) -> OAuthError {
    match e {
        TokenError::Unavailable => OAuthError::temporarily_unavailable(2),
        e => invalid(which, e),
    }
}

fn from_access(claims: &tokens::AccessClaims) -> Presented {
    Presented {
        sub: claims.sub.clone(),
        client_id: claims.client_id.clone(),
        user: claims
            .contact_center_id
            .clone()
            .zip(claims.user_name.clone()),
        issuer: None,
        auth_time: claims.auth_time,
        scope: Some(claims.scopes().map(str::to_string).collect()),
        act: claims.act.clone(),
    }
}

/// Checks an ID token of this server, with the same live checks as an
/// access token: its client and tenant still exist, its user was not signed
/// out everywhere after it was issued.
fn from_id_token(state: &Services, which: &str, token: &str) -> Result<Presented, OAuthError> {
    let c = tokens::verify_id_token(
        &state.keys,
        &state.settings.issuer,
        token,
        state.settings.leeway,
    )
    .map_err(|e| invalid(which, e))?;
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(sub), Some(client_id)) = (text("sub"), text("aud")) else {
        return Err(invalid(which, "it names no subject or client"));
    };
    let iat = c.get("iat").and_then(Value::as_i64).unwrap_or(0);
    let client_ok = state
        .client(&client_id)
        .is_some_and(|cl| iat >= cl.created_at);
    // The original's claims are there with scope `*`; otherwise `sub` is
    // `<contact center>:<user name>` (an ID token is always a user's).
    let user = text("contact_center_id")
        .zip(text("user_name"))
        .or_else(|| {
            sub.split_once(':')
                .map(|(cc, name)| (cc.to_string(), name.to_string()))
        });
    let tenant_ok = user.as_ref().is_none_or(|(cc, _)| {
        state
            .catalog
            .contact_center(cc)
            .is_some_and(|cc| cc.enabled)
    });
    if !client_ok || !tenant_ok || state.revocations.subject_revoked(&sub, iat) {
        return Err(invalid(which, TokenError::Invalid));
    }
    Ok(Presented {
        sub,
        client_id,
        issuer: None,
        user,
        auth_time: c.get("auth_time").and_then(Value::as_i64),
        scope: None,
        act: None,
    })
}

/// A refresh token is bound to its client (RFC 6749 §6): only that client
/// may present it, and only while it is current and its family unrevoked.
async fn from_refresh(
    state: &Services,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Presented, OAuthError> {
    let which = "subject_token";
    let (rt, family) = state
        .db
        .find_refresh_token(&tokens::token_digest(token))
        .await?
        .ok_or_else(|| invalid(which, "unknown refresh token"))?;
    if family.client_id != client.client_id {
        return Err(invalid(
            which,
            "the refresh token belongs to another client",
        ));
    }
    if rt.used_at.is_some() || rt.expires_at <= now || family.revoked_at.is_some() {
        return Err(invalid(
            which,
            "the refresh token is used, expired or revoked",
        ));
    }
    let user: Option<UserPrincipal> =
        serde_json::from_value(family.claims).map_err(|_| OAuthError::server_error())?;
    let Some(user) = user else {
        return Err(invalid(which, "the refresh token speaks for no user"));
    };
    Ok(Presented {
        sub: user.subject(),
        client_id: family.client_id,
        issuer: None,
        user: Some((user.contact_center_id, user.user_name)),
        auth_time: Some(user.auth_time),
        scope: Some(family.scope),
        act: None,
    })
}

/// A subject token of a contact center's trusted issuer, validated like a
/// JWT bearer assertion (its keys, `aud` this server, bounded lifetime,
/// `jti` once). The policy is checked first, so a client that may not
/// present this issuer neither spends the token nor makes us fetch keys.
async fn from_trusted_issuer(
    state: &Services,
    client: &Client,
    policy: &ExchangePolicy,
    issuer: &str,
    token: &str,
    now: Timestamp,
) -> Result<Presented, OAuthError> {
    let which = "subject_token";
    let trusted = state
        .db
        .get_trusted_issuer(issuer)
        .await?
        .ok_or_else(|| invalid(which, "its issuer is not trusted"))?;
    if !policy.subject_issuers.iter().any(|i| i == issuer) {
        return Err(OAuthError::unauthorized_client(
            "this client may not exchange tokens of that issuer",
        ));
    }
    let verified = match jwt_bearer::verify(state, &trusted, token, now).await {
        Ok(v) => v,
        Err(AssertionError::KeysUnavailable) => {
            return Err(OAuthError::temporarily_unavailable(30))
        }
        Err(e) => {
            state
                .audit("exchange.refused")
                .client(&client.client_id)
                .contact_center(&trusted.contact_center_id)
                .detail(json!({"issuer": issuer, "reason": e.to_string()}))
                .record();
            return Err(invalid(which, e));
        }
    };
    Ok(Presented {
        sub: verified.sub.clone(),
        client_id: String::new(),
        issuer: Some(trusted.issuer),
        user: Some((trusted.contact_center_id, verified.sub)),
        auth_time: None,
        scope: None,
        act: None,
    })
}

async fn verify(
    state: &Services,
    client: &Client,
    policy: &ExchangePolicy,
    which: &str,
    token: &str,
    token_type: &str,
    now: Timestamp,
) -> Result<Presented, OAuthError> {
    // Another issuer's JWT or ID token can only be a subject, from a
    // trusted issuer; the unverified `iss` only picks whose keys to use.
    if which == "subject_token" && matches!(token_type, JWT | ID_TOKEN) {
        if let Some(iss) =
            assertion::unverified_claim(token, "iss").filter(|iss| *iss != state.settings.issuer)
        {
            return from_trusted_issuer(state, client, policy, &iss, token, now).await;
        }
    }
    match token_type {
        ACCESS_TOKEN => state
            .verify_access_token(token)
            .await
            .map(|c| from_access(&c))
            .map_err(|e| unreadable(which, e)),
        ID_TOKEN => from_id_token(state, which, token),
        // A JWT of this server is an access token or an ID token; its `typ` says which.
        JWT => match state.verify_access_token(token).await {
            Ok(c) => Ok(from_access(&c)),
            Err(TokenError::Unavailable) => Err(unreadable(which, TokenError::Unavailable)),
            Err(_) => from_id_token(state, which, token),
        },
        REFRESH_TOKEN if which == "subject_token" => from_refresh(state, client, token, now).await,
        other => Err(OAuthError::invalid_request(format!(
            "{which}_type '{other}' is not supported here"
        ))),
    }
}

/// `audience` or `resource` (RFC 8707), at most one target; the target must
/// be this server's own audience or listed in the policy.
fn target(
    state: &Services,
    policy: &ExchangePolicy,
    form: &OAuthForm,
) -> Result<Option<String>, OAuthError> {
    let resource = form.get("resource");
    if let Some(r) = resource {
        if url::Url::parse(r).is_err() {
            return Err(OAuthError::invalid_target(
                "resource must be an absolute URI (RFC 8707)",
            ));
        }
    }
    let wanted = match (form.get("audience"), resource) {
        (Some(a), Some(r)) if a != r => {
            return Err(OAuthError::invalid_target(
                "one target at a time: audience and resource differ",
            ))
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => return Ok(None),
    };
    if wanted == state.settings.audience {
        return Ok(None);
    }
    if !policy.audiences.iter().any(|a| a == wanted) {
        return Err(OAuthError::invalid_target(format!(
            "this client may not obtain tokens for '{wanted}'"
        )));
    }
    Ok(Some(wanted.to_string()))
}

/// The scope of the new token: what was asked (or the subject's), never
/// more than the subject token has nor than the client is registered for.
fn narrowed_scope(
    client: &Client,
    subject: &Presented,
    requested: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let default = subject.scope.as_ref().map(|s| s.join(" "));
    let scope = grant_scope(client, requested.or(default.as_deref()))?;
    if let Some(held) = &subject.scope {
        if !held.iter().any(|s| s == SCOPE_ALL) {
            if let Some(extra) = scope.iter().find(|s| !held.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope '{extra}' is wider than the subject token's scope"
                )));
            }
        }
    }
    Ok(scope)
}

/// The `act` claim (RFC 8693 §4.1): the actor, with any earlier actor of
/// the actor token nested inside.
fn act_claim(actor: &Presented) -> Value {
    let mut act = json!({"sub": actor.sub, "client_id": actor.client_id});
    if let Some(prior) = &actor.act {
        act["act"] = prior.clone();
    }
    act
}

/// Verifies the subject (and actor) token, checks them against the
/// client's policy and issues an access token for the subject's user.
pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let subject_token = form.require("subject_token")?;
    let subject_type = form.require("subject_token_type")?;
    let issued_type = requested_token_type(form)?;
    let policy = client.token_exchange.as_ref().ok_or_else(|| {
        OAuthError::unauthorized_client("this client has no token exchange policy")
    })?;
    let actor = actor(state, client, policy, form, now).await?;
    let subject = verify(
        state,
        client,
        policy,
        "subject_token",
        subject_token,
        subject_type,
        now,
    )
    .await?;
    check_subject_client(client, policy, &subject)?;
    let act = act(client, policy, actor.as_ref())?;
    let audience = target(state, policy, form)?;
    let scope = narrowed_scope(client, &subject, form.get("scope"))?;
    let principal = subject_user(state, client, &subject, now).await?;
    let mut res = issue(
        state,
        Issue {
            user: Some(principal),
            exchange: Some(Exchanged { audience, act }),
            ..Issue::new(client, scope, cnf)
        },
        now,
    )
    .await?;
    res.issued_token_type = Some(issued_type);
    Ok(res)
}

/// The token type to issue: an access token (the default) or a JWT, which
/// is the same token.
fn requested_token_type(form: &OAuthForm) -> Result<&'static str, OAuthError> {
    match form.get("requested_token_type") {
        None | Some(ACCESS_TOKEN) => Ok(ACCESS_TOKEN),
        Some(JWT) => Ok(JWT),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "requested_token_type '{other}' is not supported; ask for an access token or a JWT"
        ))),
    }
}

/// The verified actor token, if one was presented (with its type).
async fn actor(
    state: &Services,
    client: &Client,
    policy: &ExchangePolicy,
    form: &OAuthForm,
    now: Timestamp,
) -> Result<Option<Presented>, OAuthError> {
    match (form.get("actor_token"), form.get("actor_token_type")) {
        (Some(token), Some(kind)) => Ok(Some(
            verify(state, client, policy, "actor_token", token, kind, now).await?,
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "actor_token_type is required with actor_token",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "actor_token_type was given without actor_token",
        )),
        (None, None) => Ok(None),
    }
}

/// Whether the client may exchange tokens issued to the subject token's
/// client: its own, or those its policy names. A trusted issuer's token was
/// checked against `subjectIssuers` already.
fn check_subject_client(
    client: &Client,
    policy: &ExchangePolicy,
    subject: &Presented,
) -> Result<(), OAuthError> {
    let own = subject.client_id == client.client_id;
    if subject.issuer.is_none()
        && !own
        && !policy
            .subject_clients
            .iter()
            .any(|c| c == "*" || *c == subject.client_id)
    {
        return Err(OAuthError::unauthorized_client(
            "this client may not exchange tokens issued to that client",
        ));
    }
    Ok(())
}

/// The `act` claim for a delegation, or none for an impersonation, each
/// only if the policy allows it.
fn act(
    client: &Client,
    policy: &ExchangePolicy,
    actor: Option<&Presented>,
) -> Result<Option<Value>, OAuthError> {
    match actor {
        Some(actor) => {
            if !policy.delegation {
                return Err(OAuthError::unauthorized_client(
                    "this client may not exchange tokens on behalf of an actor (delegation)",
                ));
            }
            // The actor token must be the caller's own: a client cannot
            // name someone else as the one acting.
            if actor.client_id != client.client_id {
                return Err(OAuthError::invalid_request(
                    "the actor_token was not issued to this client",
                ));
            }
            Ok(Some(act_claim(actor)))
        }
        None if policy.impersonation => Ok(None),
        None => Err(OAuthError::unauthorized_client(
            "this client may not impersonate a subject; present an actor_token",
        )),
    }
}

/// The user the subject token speaks for, as its tenant's directory knows
/// them now (the tenant enabled and served by the client).
async fn subject_user(
    state: &Services,
    client: &Client,
    subject: &Presented,
    now: Timestamp,
) -> Result<UserPrincipal, OAuthError> {
    let Some((cc_id, user_name)) = &subject.user else {
        return Err(OAuthError::invalid_request(
            "the subject_token must speak for a user",
        ));
    };
    let cc = state
        .catalog
        .contact_center(cc_id)
        .filter(|cc| cc.enabled)
        .ok_or_else(|| invalid("subject_token", "its tenant is gone or disabled"))?;
    if !client.contact_center_ids.is_empty() && !client.contact_center_ids.contains(&cc.id) {
        return Err(OAuthError::unauthorized_client(
            "this client may not obtain tokens for users of this tenant",
        ));
    }
    let directory = state
        .directories
        .for_contact_center(&cc)
        .await
        .ok_or_else(|| invalid("subject_token", "its tenant's directory is not available"))?;
    let user = match directory.lookup(&cc, user_name).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(invalid("subject_token", "its user no longer exists")),
        Err(DirectoryError::Unavailable { retry_after }) => {
            return Err(OAuthError::temporarily_unavailable(
                retry_after.as_secs().max(1),
            ))
        }
        Err(e) => return Err(invalid("subject_token", e)),
    };
    Ok(UserPrincipal::new(
        &cc,
        &user,
        subject.auth_time.unwrap_or(now),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(scope: Option<&[&str]>) -> Presented {
        Presented {
            sub: "cc:agent".into(),
            client_id: "web".into(),
            issuer: None,
            user: Some(("cc".into(), "agent".into())),
            auth_time: None,
            scope: scope.map(|s| s.iter().map(|x| x.to_string()).collect()),
            act: Some(json!({"sub": "first"})),
        }
    }

    fn client(scope: &[&str]) -> Client {
        Client {
            client_id: "api".into(),
            name: "api".into(),
            description: String::new(),
            secret_hash: None,
            client_type: tollgate_store::model::ClientType::Confidential,
            internal_client: false,
            authorities: vec![],
            scope: scope.iter().map(|s| s.to_string()).collect(),
            authorized_grant_types: vec![],
            redirect_uris: vec![],
            access_token_expiration_timeout: 60,
            refresh_token_expiration_timeout: 60,
            contact_center_ids: vec![],
            token_exchange: None,
            auth_method: tollgate_store::model::ClientAuthMethod::ClientSecret,
            jwks: None,
            jwks_uri: None,
            hmac_secret: None,
            require_pushed_authorization_requests: false,
            backchannel_logout: None,
            require_dpop: false,
            access_token_format: tollgate_store::model::AccessTokenFormat::Jwt,
            tls_client_auth_subject: None,
            tls_client_certificate_bound_access_tokens: false,
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn scope_only_narrows() {
        let c = client(&["*"]);
        let held = presented(Some(&["openid", "read"]));
        assert_eq!(narrowed_scope(&c, &held, Some("read")).unwrap(), ["read"]);
        assert_eq!(narrowed_scope(&c, &held, None).unwrap(), ["openid", "read"]);
        assert_eq!(
            narrowed_scope(&c, &held, Some("read write"))
                .unwrap_err()
                .code,
            "invalid_scope"
        );
        // A subject holding `*` narrows to whatever the client may have.
        let star = presented(Some(&["*"]));
        assert_eq!(narrowed_scope(&c, &star, Some("write")).unwrap(), ["write"]);
        let narrow_client = client(&["read"]);
        assert_eq!(
            narrowed_scope(&narrow_client, &star, Some("write"))
                .unwrap_err()
                .code,
            "invalid_scope"
        );
    }

    #[test]
    fn act_nests_the_actor_tokens_own_actor() {
        assert_eq!(
            act_claim(&presented(None)),
            json!({"sub": "cc:agent", "client_id": "web", "act": {"sub": "first"}})
        );
    }
}
