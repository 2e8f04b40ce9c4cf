//! The caller's access token, verified: `Authorization: Bearer` (RFC 6750
//! §2.1), or `Authorization: DPoP` with a proof of the token's key made for
//! this request (RFC 9449 §7). A DPoP-bound token is refused as a bearer
//! token, and a bearer token as a DPoP one. A certificate-bound token
//! (RFC 8705 §3) is accepted only from a request with that certificate.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};

use crate::web::client_cert::PeerCert;
use crate::web::dpop;
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::oauth::mtls::ClientCert;
use tollgate_core::services::{AppState, Services};
use tollgate_core::tokens::{AccessClaims, TokenError};

/// The request a token comes with (method and path, as the client sent
/// them: a DPoP proof must name them) and its client certificate.
#[derive(Debug, Clone)]
pub struct At {
    pub method: Method,
    pub path: String,
    pub cert: Option<ClientCert>,
}

impl At {
    pub fn of(parts: &Parts, state: &Services) -> Self {
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |o| &o.0);
        At {
            method: parts.method.clone(),
            path: uri.path().to_string(),
            cert: PeerCert::of(parts, state),
        }
    }
}

impl FromRequestParts<AppState> for At {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(At::of(parts, state))
    }
}

/// How the token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// Reads `Authorization` and verifies its token.
pub async fn bearer(
    state: &Services,
    headers: &HeaderMap,
    at: &At,
) -> Result<Arc<AccessClaims>, OAuthError> {
    let required = || OAuthError::invalid_token("a bearer token is required");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(required)?;
    let (scheme, token) = match value.split_once(' ') {
        Some((s, t)) if s.eq_ignore_ascii_case("bearer") => (Scheme::Bearer, t.trim()),
        Some((s, t)) if s.eq_ignore_ascii_case("dpop") => (Scheme::Dpop, t.trim()),
        _ => return Err(required()),
    };
    presented(state, headers, at, scheme, token).await
}

/// Verifies a token presented as `scheme` (in the header, or in a form
/// body as a bearer token).
pub async fn presented(
    state: &Services,
    headers: &HeaderMap,
    at: &At,
    scheme: Scheme,
    token: &str,
) -> Result<Arc<AccessClaims>, OAuthError> {
    // One path for both formats: a JWT is verified, an opaque token looked up.
    let claims = state
        .verify_access_token(token)
        .await
        .map_err(|e| match e {
            TokenError::Unavailable => OAuthError::temporarily_unavailable(2),
            e => OAuthError::invalid_token(e.to_string()),
        })?;
    let cnf = claims.cnf.as_ref();
    if let Some(x5t) = cnf.and_then(|c| c.x5t_s256.as_deref()) {
        if at.cert.as_ref().map(|c| c.thumbprint.as_str()) != Some(x5t) {
            return Err(OAuthError::invalid_token(
                "the token is bound to a client certificate this request was not made with",
            ));
        }
    }
    let bound = cnf.and_then(|c| c.jkt.as_deref());
    match (bound, scheme) {
        (None, Scheme::Bearer) => Ok(claims),
        (Some(jkt), Scheme::Dpop) => {
            let proof = dpop::proof(state, headers, &at.method, &at.path, Some(token))
                .await
                .map_err(at_resource)?;
            match proof {
                Some(p) if p.jkt == jkt => Ok(claims),
                Some(_) => Err(at_resource(OAuthError::invalid_dpop_proof(
                    "the DPoP proof is signed by another key than the token's",
                ))),
                None => Err(at_resource(OAuthError::invalid_dpop_proof(
                    "a DPoP proof is required with this token",
                ))),
            }
        }
        (Some(_), Scheme::Bearer) => Err(OAuthError::invalid_token(
            "the token is DPoP-bound: present it as Authorization: DPoP with a proof",
        )),
        (None, Scheme::Dpop) => Err(OAuthError::invalid_token(
            "the token is not DPoP-bound: present it as a bearer token",
        )),
    }
}

/// §7.1, §9: a resource answers a bad proof, or one without a current
/// nonce, 401 (the token endpoint 400).
fn at_resource(mut e: OAuthError) -> OAuthError {
    if e.code == "invalid_dpop_proof" || e.code == "use_dpop_nonce" {
        e.status = StatusCode::UNAUTHORIZED;
    }
    e
}
