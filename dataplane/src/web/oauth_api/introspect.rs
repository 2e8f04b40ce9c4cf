//! RFC 7662 token introspection and RFC 7009 revocation. Both authenticate
//! the calling client; neither reveals anything about tokens it may not see.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_store::model::{now, Client, ClientType, Revocation};

use crate::web::client_cert::PeerCert;
use crate::web::client_ip::ClientIp;
use crate::web::form::OAuthBody;
use crate::web::oauth_api::schemas::{TokenIntrospection, TokenRequestByValue};
use crate::web::oauth_error::OAuthErrorResponse;
use crate::web::oauth_error::OAuthResponse;
use tollgate_core::oauth::client_auth;
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::{AppState, Services};
use tollgate_core::tokens::{self, opaque, AccessClaims, TokenError};

/// Internal clients (resource servers of the platform) may see any token; others only their own.
fn may_see(caller: &Client, token_client: &str) -> bool {
    caller.client_id == token_client
        || caller.internal_client
        || caller
            .authorities
            .iter()
            .any(|a| a == "ROLE_INTERNAL_CLIENT")
}

/// A JWT or an opaque access token; anything else may be a refresh token.
fn looks_like_access_token(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2 || opaque::is_opaque(token)
}

/// The token's claims; `None` when it is not (or no longer) valid.
async fn access_claims(
    state: &Services,
    token: &str,
) -> Result<Option<std::sync::Arc<AccessClaims>>, OAuthError> {
    match state.verify_access_token(token).await {
        Ok(c) => Ok(Some(c)),
        Err(TokenError::Unavailable) => Err(OAuthError::temporarily_unavailable(2)),
        Err(_) => Ok(None),
    }
}

fn no_store(body: serde_json::Value) -> Response {
    let mut res = axum::Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(post, path = "/auth/v3/oauth/introspect", tag = "oauth",
    request_body(content = TokenRequestByValue, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, body = TokenIntrospection),
        (status = 400, body = OAuthErrorResponse), (status = 401, body = OAuthErrorResponse),
        (status = 429, body = OAuthErrorResponse), (status = 503, body = OAuthErrorResponse)))]
pub async fn introspect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    OAuthBody(form): OAuthBody,
) -> Result<Response, OAuthResponse> {
    let caller =
        client_auth::authenticate(&state, &headers, &form, ip.as_deref(), cert.as_ref()).await?;
    // A public client's id is no authentication (RFC 7662 §2.1, §4); discovery
    // advertises only secret-based methods for this endpoint.
    if caller.client_type == ClientType::Public {
        return Err(OAuthResponse(OAuthError::invalid_client(
            "public clients cannot introspect tokens",
        )));
    }
    let token = form.require("token")?;
    let inactive = || Ok(no_store(json!({"active": false})));
    if looks_like_access_token(token) {
        let Some(c) = access_claims(&state, token).await? else {
            return inactive();
        };
        if !may_see(&caller, &c.client_id) {
            return inactive();
        }
        return Ok(no_store(access_view(&c)));
    }
    let Some((rt, family)) = state
        .db
        .find_refresh_token(&tokens::token_digest(token))
        .await?
    else {
        return inactive();
    };
    let now = now();
    if rt.used_at.is_some()
        || family.revoked_at.is_some()
        || rt.expires_at <= now
        || !may_see(&caller, &family.client_id)
    {
        return inactive();
    }
    let mut body = json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": family.client_id,
        "scope": family.scope.join(" "),
        "exp": rt.expires_at,
        "iat": rt.created_at,
        "iss": state.settings.issuer,
    });
    if let (Some(cc), Some(user)) = (&family.contact_center_id, &family.username) {
        body["sub"] = json!(tollgate_core::tokens::user_subject(cc, user));
        body["username"] = json!(user);
        body["contact_center_id"] = json!(cc);
    } else {
        body["sub"] = json!(family.client_id);
    }
    Ok(no_store(body))
}

fn access_view(c: &AccessClaims) -> serde_json::Value {
    let mut v = json!({
        "active": true,
        "token_type": if c.cnf.as_ref().is_some_and(|b| b.jkt.is_some()) { "DPoP" } else { "Bearer" },
        "scope": c.scope,
        "client_id": c.client_id,
        "username": c.user_name.as_deref().unwrap_or(&c.client_id),
        "sub": c.sub,
        "aud": c.aud,
        "iss": c.iss,
        "exp": c.exp,
        "iat": c.iat,
        "jti": c.jti,
        "authorities": c.authorities,
    });
    for (k, val) in [
        (
            "contact_center_id",
            c.contact_center_id.as_ref().map(|s| json!(s)),
        ),
        (
            "environment_id",
            c.environment_id.as_ref().map(|s| json!(s)),
        ),
        ("dbid", c.dbid.map(|d| json!(d))),
        ("auth_time", c.auth_time.map(|t| json!(t))),
        // RFC 9449 §6.2 and RFC 8705 §3.2: the key or certificate the token is bound to.
        ("cnf", c.cnf.as_ref().map(|cnf| json!(cnf))),
    ] {
        if let Some(val) = val {
            v[k] = val;
        }
    }
    v
}

/// RFC 7009: unknown and foreign tokens get the same 200.
#[utoipa::path(post, path = "/auth/v3/oauth/revoke", tag = "oauth",
    request_body(content = TokenRequestByValue, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, body = OAuthErrorResponse), (status = 401, body = OAuthErrorResponse),
        (status = 429, body = OAuthErrorResponse), (status = 503, body = OAuthErrorResponse)))]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PeerCert(cert): PeerCert,
    headers: HeaderMap,
    OAuthBody(form): OAuthBody,
) -> Result<Response, OAuthResponse> {
    let caller =
        client_auth::authenticate(&state, &headers, &form, ip.as_deref(), cert.as_ref()).await?;
    let token = form.require("token")?;
    revoke_token(&state, &caller, token, ip.as_deref()).await?;
    // RFC 7009 §2.2: unknown or foreign tokens get the same 200.
    Ok(StatusCode::OK.into_response())
}

async fn revoke_token(
    state: &Services,
    caller: &Client,
    token: &str,
    ip: Option<&str>,
) -> Result<(), OAuthError> {
    let now = now();
    if looks_like_access_token(token) {
        let Some(c) = access_claims(state, token).await? else {
            return Ok(());
        };
        if c.client_id != caller.client_id {
            return Ok(());
        }
        state
            .revocations
            .revoke(
                &state.db,
                Revocation::Jti {
                    jti: c.jti.clone(),
                    expires_at: c.exp,
                },
            )
            .await?;
        if opaque::is_opaque(token) {
            opaque::forget(&state.ephemeral, &state.db, token).await?;
        }
        state
            .audit("token.revoked")
            .client(&caller.client_id)
            .contact_center(c.contact_center_id.as_deref())
            .subject(&c.sub)
            .ip(ip)
            .detail(json!({"type": "access_token"}))
            .record();
        return Ok(());
    }
    if let Some((_, family)) = state
        .db
        .find_refresh_token(&tokens::token_digest(token))
        .await?
    {
        if family.client_id == caller.client_id {
            state.revoke_family(&family.id, now).await?;
            state
                .audit("token.revoked")
                .client(&caller.client_id)
                .contact_center(family.contact_center_id.as_deref())
                .subject(family.username.as_deref())
                .ip(ip)
                .detail(json!({"type": "refresh_token", "family": family.id}))
                .record();
        }
    }
    Ok(())
}
