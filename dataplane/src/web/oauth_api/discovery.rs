//! OpenID Connect discovery, RFC 8414 metadata and the JWKS.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::web::oauth_api::schemas::{JsonWebKeySet, ProviderMetadata};
use tollgate_core::oauth::endpoints::token_endpoint;
use tollgate_core::oauth::{assertion, claims, grants, issue};
use tollgate_core::services::AppState;

/// RFC 8705 §2's client authentication methods.
const MTLS_METHODS: [&str; 2] = ["tls_client_auth", "self_signed_tls_client_auth"];

fn metadata(state: &AppState) -> serde_json::Value {
    let iss = &state.settings.issuer;
    // private_key_jwt clients sign with the first, client_secret_jwt clients MAC with the second.
    let signing_algs: Vec<&str> = assertion::ASYMMETRIC
        .iter()
        .chain(assertion::HMAC)
        .copied()
        .collect();
    // RFC 8705: only where client certificates can reach Tollgate.
    let mtls = state.settings.mtls.enabled();
    let with_mtls = |methods: &[&'static str]| -> Vec<&'static str> {
        let extra: &[&str] = if mtls { &MTLS_METHODS } else { &[] };
        methods.iter().chain(extra).copied().collect()
    };
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/auth/v3/oauth/authorize"),
        "token_endpoint": token_endpoint(iss),
        "end_session_endpoint": format!("{iss}/auth/v3/end-session"),
        "jwks_uri": format!("{iss}/auth/v3/jwks"),
        "userinfo_endpoint": format!("{iss}/auth/v3/openid/userinfo"),
        "introspection_endpoint": format!("{iss}/auth/v3/oauth/introspect"),
        "revocation_endpoint": format!("{iss}/auth/v3/oauth/revoke"),
        "grant_types_supported": grants::ADVERTISED,
        "response_types_supported": [
            "code", "token", "id_token", "id_token token",
            "code id_token", "code token", "code id_token token",
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        // RFC 9126: pushed requests; a client may be made to use them.
        "pushed_authorization_request_endpoint": format!("{iss}/auth/v3/oauth/par"),
        "require_pushed_authorization_requests": false,
        // RFC 9449 §5.1: DPoP proofs at the token and PAR endpoints.
        "dpop_signing_alg_values_supported": tollgate_core::oauth::dpop::ALGORITHMS,
        // OIDC Back-Channel Logout 1.0 §2.1: logout tokens name the session.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // OIDC Discovery §3: request_uri support defaults to true; say it is
        // not (only the request_uri values the PAR endpoint hands out work).
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "subject_types_supported": ["public"],
        // The levels `acr_values` may ask for: a password, or a password and a second factor.
        "acr_values_supported": [issue::ACR_PASSWORD, issue::ACR_SECOND_FACTOR],
        "id_token_signing_alg_values_supported": state.keys.algorithms(),
        "token_endpoint_auth_methods_supported": with_mtls(&["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"]),
        "tls_client_certificate_bound_access_tokens": mtls,
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_methods_supported": with_mtls(&["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"]),
        "introspection_endpoint_auth_signing_alg_values_supported": signing_algs,
        "revocation_endpoint_auth_methods_supported": with_mtls(&["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt", "none"]),
        "revocation_endpoint_auth_signing_alg_values_supported": signing_algs,
        "scopes_supported": scopes_supported(),
        "claims_supported": claims_supported(),
        "claims_parameter_supported": true,
    })
}

fn scopes_supported() -> Vec<&'static str> {
    let mut scopes = vec!["openid"];
    scopes.extend(claims::claim_scopes());
    scopes.extend(["offline_access", "*"]);
    scopes
}

/// The ID token's own claims, the standard ones, and the original's (scope `*`).
fn claims_supported() -> Vec<&'static str> {
    let own = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "c_hash",
        "sid",
        "acr",
        "amr",
    ];
    let genesys = ["contact_center_id", "environment_id", "user_name", "dbid"];
    own.into_iter()
        .chain(claims::standard_claims())
        .chain(genesys)
        .collect()
}

fn cacheable(body: String, max_age: &'static str) -> Response {
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    res
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    security(()), responses((status = 200, body = ProviderMetadata)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cacheable(metadata(&state).to_string(), "public, max-age=300")
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    security(()), responses((status = 200, body = ProviderMetadata)))]
pub async fn oauth_authorization_server(State(state): State<AppState>) -> Response {
    cacheable(metadata(&state).to_string(), "public, max-age=300")
}

#[utoipa::path(get, path = "/auth/v3/jwks", tag = "discovery",
    security(()), responses((status = 200, body = JsonWebKeySet, content_type = "application/jwk-set+json")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = cacheable(state.keys.jwks().to_string(), "public, max-age=300");
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    res
}
