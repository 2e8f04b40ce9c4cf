//! Bearer-token endpoints of the original: user info, sign-out and ping.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::{now, Revocation};

use super::error::OAuthError;
use super::ClientIp;
use crate::envelope::{self, ApiError};
use crate::state::{AppState, Services};
use crate::tokens::AccessClaims;

/// Reads `Authorization: Bearer` and verifies the token.
pub fn bearer(state: &Services, headers: &HeaderMap) -> Result<AccessClaims, OAuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| OAuthError::invalid_token("a bearer token is required"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(OAuthError::invalid_token("a bearer token is required")),
    };
    state
        .verify_access_token(token)
        .map_err(|e| OAuthError::invalid_token(e.to_string()))
}

async fn directory_user(
    state: &Services,
    c: &AccessClaims,
) -> Result<Option<crate::directory::DirectoryUser>, OAuthError> {
    let (Some(cc_id), Some(name)) = (&c.contact_center_id, &c.user_name) else {
        return Ok(None);
    };
    let cc = state
        .catalog
        .contact_center(cc_id)
        .ok_or_else(|| OAuthError::invalid_token("the token's tenant is gone"))?;
    let Some(dir) = state.directories.for_contact_center(&cc) else {
        return Ok(None);
    };
    match dir.lookup(&cc, name).await {
        Ok(Some(u)) => Ok(Some(u)),
        Ok(None) => Err(OAuthError::invalid_token(
            "the token's user no longer exists",
        )),
        Err(crate::directory::DirectoryError::Unavailable { retry_after }) => Err(
            OAuthError::temporarily_unavailable(retry_after.as_secs().max(1)),
        ),
        Err(_) => Err(OAuthError::invalid_token("the token's user is unavailable")),
    }
}

/// `GET /auth/v3/userinfo`: the original's CloudUserDetails.
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let c = bearer(&state, &headers)?;
    let user = directory_user(&state, &c).await?;
    let body = match &c.user_name {
        Some(name) => json!({
            "username": c.sub,
            "authorities": c.authorities,
            "cmeUserName": name,
            "loginName": name,
            "contactCenterId": c.contact_center_id,
            "environmentId": c.environment_id,
            "dbid": c.dbid,
            "properties": user.map(|u| u.properties).unwrap_or_default(),
        }),
        None => json!({"username": c.client_id, "authorities": c.authorities}),
    };
    Ok(axum::Json(body).into_response())
}

/// `GET /auth/v3/openid/userinfo`: OpenID Connect claims plus the original's.
pub async fn openid_userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let c = bearer(&state, &headers)?;
    if !c.is_user() {
        return Err(OAuthError::insufficient_scope(
            "this token does not represent a user",
        ));
    }
    let user = directory_user(&state, &c).await?;
    let mut body = json!({
        "sub": c.sub,
        "aud": c.client_id,
        "environment_id": c.environment_id,
        "contact_center_id": c.contact_center_id,
        "dbid": c.dbid,
        "user_name": c.user_name,
        "preferred_username": c.user_name,
        "authorities": c.authorities,
    });
    if let Some(u) = user {
        body["given_name"] = json!(u.first_name);
        body["family_name"] = json!(u.last_name);
        body["name"] = json!(format!("{} {}", u.first_name, u.last_name).trim());
        if !u.email.is_empty() {
            body["email"] = json!(u.email);
        }
        body["properties"] = json!(u.properties);
    }
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize, Default)]
pub struct SignOutQuery {
    #[serde(default)]
    global: Option<String>,
    #[serde(default, rename = "redirectUri")]
    redirect_uri: Option<String>,
}

fn parse_bool(v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request("'global' must be true or false")),
    }
}

/// Ends the token (and its refresh family); `global=true` ends every token of the user.
async fn sign_out(
    state: &Services,
    c: &AccessClaims,
    global: bool,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    let now = now();
    let until = now + state.settings.max_token_lifetime;
    if global {
        state
            .revocations
            .revoke(
                &state.db,
                Revocation::Subject {
                    subject: c.sub.clone(),
                    issued_before: now,
                    expires_at: until,
                },
            )
            .await?;
        // A client's own tokens never have refresh tokens; its users' sessions are theirs to end.
        if let (Some(cc), Some(user)) = (&c.contact_center_id, &c.user_name) {
            state.db.revoke_user_refresh_families(cc, user, now).await?;
        }
    } else {
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
        if let Some(family) = &c.sid {
            state.revoke_family(family, now).await?;
        }
    }
    state.audit(
        "user.signed_out",
        Some(&c.client_id),
        c.contact_center_id.as_deref(),
        Some(&c.sub),
        ip,
        json!({"global": global}),
    );
    Ok(())
}

pub async fn sign_out_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let claims = match bearer(&state, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match sign_out(&state, &claims, global, ip.as_deref()).await {
        Ok(()) => envelope::ok_empty(),
        Err(e) => e.into_response(),
    }
}

/// The GET form redirects afterwards, but only to a URI registered for the token's client.
pub async fn sign_out_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let claims = match bearer(&state, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(uri) = &q.redirect_uri {
        let allowed = state
            .client(&claims.client_id)
            .is_some_and(|c| c.redirect_uris.iter().any(|r| r == uri));
        if !allowed {
            return ApiError::bad_request("redirectUri is not registered for this client")
                .into_response();
        }
    }
    if let Err(e) = sign_out(&state, &claims, global, ip.as_deref()).await {
        return e.into_response();
    }
    match q.redirect_uri {
        // 302 as the original; the URI was checked against the client's registration above.
        Some(uri) => match axum::http::HeaderValue::from_str(&uri) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => ApiError::bad_request("redirectUri is not a valid URI").into_response(),
        },
        None => envelope::ok_empty(),
    }
}

/// `GET /auth/v3/ping`: 200 when the bearer token is good, else 403 (as the original).
pub async fn ping(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer(&state, &headers) {
        Ok(_) => envelope::ok_empty(),
        Err(_) => ApiError::new(StatusCode::FORBIDDEN, "not authenticated").into_response(),
    }
}
