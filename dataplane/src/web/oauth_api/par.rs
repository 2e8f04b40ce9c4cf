//! `POST /auth/v3/oauth/par`: pushed authorization requests (RFC 9126).
//! The client authenticates as at the token endpoint; the request is
//! checked by [`tollgate_core::oauth::authorize::push`] and kept by
//! [`tollgate_core::oauth::par`].

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_store::model::now;

use crate::web::bearer::At;
use crate::web::client_cert::PeerCert;
use crate::web::client_ip::ClientIp;
use crate::web::dpop;
use crate::web::form::OAuthBody;
use crate::web::oauth_api::schemas::{PushedAuthorizationRequest, PushedAuthorizationResponse};
use crate::web::oauth_error::{OAuthErrorResponse, OAuthResponse};
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::oauth::{authorize, client_auth};
use tollgate_core::protection::rate_limit;
use tollgate_core::services::AppState;

#[utoipa::path(post, path = "/auth/v3/oauth/par", tag = "oauth",
    request_body(content = PushedAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 201, body = PushedAuthorizationResponse),
        (status = 400, body = OAuthErrorResponse), (status = 401, body = OAuthErrorResponse),
        (status = 429, body = OAuthErrorResponse), (status = 503, body = OAuthErrorResponse)))]
pub async fn push(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PeerCert(cert): PeerCert,
    at: At,
    headers: HeaderMap,
    OAuthBody(form): OAuthBody,
) -> Result<Response, OAuthResponse> {
    let ip = ip.as_deref();
    rate_limit::check(&state, "par", ip, now())
        .await
        .map_err(OAuthError::too_many_requests)?;
    let client = client_auth::authenticate(&state, &headers, &form, ip, cert.as_ref()).await?;
    // RFC 9449 §10.1: a proof binds the authorization code to its key.
    let proof = dpop::proof(&state, &headers, &at.method, &at.path, None).await?;
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let pushed = authorize::push(&state, &client, &form, jkt).await?;
    state
        .audit("authorize.pushed")
        .client(&client.client_id)
        .ip(ip)
        .record();
    let mut res = (StatusCode::CREATED, axum::Json(pushed)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
