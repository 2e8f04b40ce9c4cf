//! `POST /auth/v3/oauth/token`: authenticates the client, then hands the
//! request to its grant.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_store::model::now;
use tollgate_store::validate::client::grant_allowed;

use crate::web::bearer::At;
use crate::web::client_cert::PeerCert;
use crate::web::client_ip::ClientIp;
use crate::web::dpop;
use crate::web::form::OAuthBody;
use crate::web::oauth_api::schemas::{DefaultOAuth2AccessToken, TokenRequest};
use crate::web::oauth_error::OAuthErrorResponse;
use crate::web::oauth_error::OAuthResponse;
use tollgate_core::metrics::{GrantLabel, TokenErrorLabels};
use tollgate_core::oauth::client_auth;
use tollgate_core::oauth::dpop::Proof;
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::oauth::grants::{
    self, authorization_code, client_credentials, jwt_bearer, password, refresh, saml_bearer,
    token_exchange,
};
use tollgate_core::oauth::mtls::ClientCert;
use tollgate_core::services::AppState;
use tollgate_core::tokens::Confirmation;
use tollgate_store::model::{Client, ClientAuthMethod};

/// RFC 6749 §3.2: every grant; errors in RFC 6749 §5.2 form.
#[utoipa::path(post, path = "/auth/v3/oauth/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = [])),
    responses(
        (status = 200, body = DefaultOAuth2AccessToken),
        (status = 400, body = OAuthErrorResponse), (status = 401, body = OAuthErrorResponse),
        (status = 429, body = OAuthErrorResponse), (status = 503, body = OAuthErrorResponse)))]
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PeerCert(cert): PeerCert,
    at: At,
    headers: HeaderMap,
    OAuthBody(form): OAuthBody,
) -> Response {
    let grant_type = form.get("grant_type").unwrap_or("");
    // An address already over its limit is refused before any work is done.
    if let Err(retry_after) =
        tollgate_core::protection::rate_limit::over(&state, "token", ip.as_deref(), now()).await
    {
        return OAuthResponse(too_many(&state, &form, ip.as_deref(), retry_after)).into_response();
    }
    let req = Req {
        headers: &headers,
        at: &at,
        form: &form,
        ip: ip.as_deref(),
        cert: cert.as_ref(),
    };
    match handle(&state, &req, grant_type).await {
        Ok(res) => {
            state
                .metrics
                .tokens_issued
                .get_or_create(&GrantLabel {
                    grant_type: tollgate_core::metrics::grant_label(grant_type),
                })
                .inc();
            let mut res = axum::Json(res).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => {
            state
                .metrics
                .oauth_errors
                .get_or_create(&TokenErrorLabels {
                    grant_type: tollgate_core::metrics::grant_label(grant_type),
                    error: e.code,
                })
                .inc();
            OAuthResponse(e).into_response()
        }
    }
}

/// What a token request brings besides its grant type.
struct Req<'a> {
    headers: &'a HeaderMap,
    at: &'a At,
    form: &'a OAuthForm,
    ip: Option<&'a str>,
    cert: Option<&'a ClientCert>,
}

async fn handle(
    state: &AppState,
    req: &Req<'_>,
    grant_type: &str,
) -> Result<tollgate_core::oauth::issue::TokenResponse, OAuthError> {
    let (headers, form, ip) = (req.headers, req.form, req.ip);
    if grant_type.is_empty() {
        limit(state, form, ip, None).await?;
        return Err(OAuthError::invalid_request(
            "parameter 'grant_type' is required",
        ));
    }
    if !grants::SUPPORTED.contains(&grant_type) {
        limit(state, form, ip, None).await?;
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant type '{grant_type}' is not supported"
        )));
    }
    let client = match client_auth::authenticate(state, headers, form, ip, req.cert).await {
        Ok(c) => c,
        Err(e) => {
            limit(state, form, ip, None).await?;
            return Err(e);
        }
    };
    limit(state, form, ip, Some(&client)).await?;
    if !client
        .authorized_grant_types
        .iter()
        .any(|g| g == grant_type)
    {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the '{grant_type}' grant"
        )));
    }
    // Also for a public client registered before the rule was enforced.
    if !grant_allowed(client.client_type, grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "a public client may not use the '{grant_type}' grant"
        )));
    }
    let proof = sender_key(state, headers, req.at, &client).await?;
    let cnf = Confirmation {
        jkt: proof.map(|p| p.jkt),
        // RFC 8705 §3: bound to the certificate the request came with.
        x5t_s256: req
            .cert
            .filter(|_| client.tls_client_certificate_bound_access_tokens)
            .map(|c| c.thumbprint.clone()),
    };
    let now = now();
    let res = match grant_type {
        grants::AUTHORIZATION_CODE => {
            authorization_code::grant(state, &client, form, ip, now, &cnf).await?
        }
        grants::CLIENT_CREDENTIALS => {
            client_credentials::grant(state, &client, form, now, &cnf).await?
        }
        grants::PASSWORD => password::grant(state, &client, form, ip, now, &cnf).await?,
        grants::REFRESH_TOKEN => refresh::grant(state, &client, form, ip, now, &cnf).await?,
        grants::JWT_BEARER => jwt_bearer::grant(state, &client, form, ip, now, &cnf).await?,
        grants::SAML2_BEARER => saml_bearer::grant(state, &client, form, ip, now, &cnf).await?,
        grants::TOKEN_EXCHANGE => token_exchange::grant(state, &client, form, now, &cnf).await?,
        _ => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant type '{grant_type}' is not supported"
            )))
        }
    };
    state
        .audit("token.issued")
        .client(&client.client_id)
        .contact_center(res.contact_center_id.as_deref())
        .subject(&res.subject)
        .ip(ip)
        .detail(json!({"grant_type": grant_type, "scope": res.scope,
            "refresh": res.refresh_token.is_some(), "dpop": cnf.jkt.is_some(),
            "mtls_bound": cnf.x5t_s256.is_some()}))
        .record();
    Ok(res)
}

/// The DPoP proof of the request (RFC 9449 §5), required of a client
/// registered with `requireDpop`.
async fn sender_key(
    state: &AppState,
    headers: &HeaderMap,
    at: &At,
    client: &Client,
) -> Result<Option<Proof>, OAuthError> {
    let proof = dpop::proof(state, headers, &at.method, &at.path, None).await?;
    if client.require_dpop && proof.is_none() {
        return Err(OAuthError::invalid_dpop_proof(
            "this client must send a DPoP proof",
        ));
    }
    Ok(proof)
}

/// Counts the request: an authenticated confidential client against its id,
/// so a gateway that signs in many users from one address does not throttle
/// itself (nor is throttled by its neighbours); public clients and failed
/// client authentications against the address.
async fn limit(
    state: &AppState,
    form: &OAuthForm,
    ip: Option<&str>,
    client: Option<&Client>,
) -> Result<(), OAuthError> {
    let (scope, who) = match client {
        Some(c) if c.auth_method != ClientAuthMethod::None => {
            ("token-client", Some(c.client_id.as_str()))
        }
        _ => ("token", ip),
    };
    tollgate_core::protection::rate_limit::check(state, scope, who, now())
        .await
        .map_err(|retry_after| too_many(state, form, ip, retry_after))
}

fn too_many(state: &AppState, form: &OAuthForm, ip: Option<&str>, retry_after: u64) -> OAuthError {
    state
        .audit("rate_limited")
        .client(form.get("client_id"))
        .ip(ip)
        .detail(json!({"endpoint": "token"}))
        .record();
    OAuthError::too_many_requests(retry_after)
}
