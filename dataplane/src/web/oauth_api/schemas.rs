//! The OpenAPI shapes of the standard endpoints' requests and answers, in
//! their RFC form (the handlers build them as JSON or read them as forms;
//! the schemathesis run checks that they match). The token answer keeps the
//! original's model name, DefaultOAuth2AccessToken.

use serde::Serialize;
use utoipa::ToSchema;

/// RFC 6749 §5.1 (and RFC 8693 §2.2.1 for token exchange).
#[derive(Serialize, ToSchema)]
pub struct DefaultOAuth2AccessToken {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Lifetime in seconds.
    #[schema(format = Int64, minimum = 0)]
    pub expires_in: i64,
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// With the `openid` scope.
    #[schema(nullable = false)]
    pub id_token: Option<String>,
    /// Token exchange only.
    #[schema(nullable = false)]
    pub issued_token_type: Option<String>,
}

/// The token request (RFC 6749 §4, RFC 7523, RFC 8693), form-encoded. Which
/// fields a grant needs depends on `grant_type`; the client authenticates
/// with HTTP Basic, `client_secret_post` or a client assertion.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    #[schema(example = "client_credentials")]
    grant_type: String,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
    #[schema(nullable = false)]
    client_assertion: Option<String>,
    #[schema(nullable = false)]
    client_assertion_type: Option<String>,
    #[schema(nullable = false)]
    code: Option<String>,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(nullable = false)]
    password: Option<String>,
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    assertion: Option<String>,
    #[schema(nullable = false)]
    subject_token: Option<String>,
    #[schema(nullable = false)]
    subject_token_type: Option<String>,
    #[schema(nullable = false)]
    actor_token: Option<String>,
    #[schema(nullable = false)]
    actor_token_type: Option<String>,
    #[schema(nullable = false)]
    audience: Option<String>,
    #[schema(nullable = false)]
    resource: Option<String>,
}

/// RFC 9126 §2.1: the parameters of an authorization request (as at the
/// authorization endpoint), form-encoded, with the client's authentication
/// as at the token endpoint. `request_uri` cannot be pushed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushedAuthorizationRequest {
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(example = "code")]
    response_type: String,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    state: Option<String>,
    #[schema(nullable = false)]
    nonce: Option<String>,
    #[schema(nullable = false)]
    code_challenge: Option<String>,
    #[schema(nullable = false, example = "S256")]
    code_challenge_method: Option<String>,
    #[schema(nullable = false)]
    prompt: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
    #[schema(nullable = false)]
    client_assertion: Option<String>,
    #[schema(nullable = false)]
    client_assertion_type: Option<String>,
}

/// RFC 9126 §2.2: where the browser's authorization request refers to.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushedAuthorizationResponse {
    /// `urn:ietf:params:oauth:request_uri:…`, usable once.
    request_uri: String,
    /// Seconds the request_uri stays usable.
    #[schema(minimum = 1)]
    expires_in: u64,
}

/// RFC 7662 §2.1 and RFC 7009 §2.1, form-encoded.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestByValue {
    token: String,
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// RFC 7662 §2.2: `{"active": false}` for a token the caller may not see.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenIntrospection {
    active: bool,
    #[schema(nullable = false)]
    token_type: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    username: Option<String>,
    #[schema(nullable = false)]
    sub: Option<String>,
    #[schema(nullable = false)]
    aud: Option<String>,
    #[schema(nullable = false)]
    iss: Option<String>,
    #[schema(format = Int64, nullable = false)]
    exp: Option<i64>,
    #[schema(format = Int64, nullable = false)]
    iat: Option<i64>,
    #[schema(nullable = false)]
    jti: Option<String>,
    #[schema(nullable = false)]
    authorities: Option<Vec<String>>,
    #[schema(nullable = false)]
    contact_center_id: Option<String>,
    #[schema(nullable = false)]
    environment_id: Option<String>,
    #[schema(format = Int64, nullable = false)]
    dbid: Option<i64>,
    #[schema(format = Int64, nullable = false)]
    auth_time: Option<i64>,
}

/// RFC 7517 §5: the public signing keys.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JsonWebKeySet {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// OpenID Connect Discovery §3 / RFC 8414 §2 (the required members; the
/// document carries the optional ones too).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: String,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    id_token_signing_alg_values_supported: Vec<String>,
}

/// RFC 6750 §2.2: the access token in a form body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AccessTokenForm {
    access_token: String,
}
