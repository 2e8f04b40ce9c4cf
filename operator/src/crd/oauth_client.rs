//! `OAuthClient`: an OAuth client with the original's fields. The secret is
//! read from a referenced Secret, or generated into a Secret the operator
//! owns; only its argon2 hash reaches the database. A `private_key_jwt`
//! client has no secret: it signs assertions with a key of its JWK Set.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{jwk_set_schema, SecretKeyRef};

/// An OAuth client, reconciled into Tollgate's database.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "OAuthClient",
    plural = "oauthclients",
    shortname = "tgclient",
    namespaced,
    status = "OAuthClientStatus",
    doc = "A Tollgate OAuth client. The secret comes from a referenced Secret or is generated into one the operator owns.",
    printcolumn(name = "Client", type_ = "string", json_path = ".status.clientId"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.clientType"),
    printcolumn(name = "Secret", type_ = "string", json_path = ".status.secretName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.clientId) || (has(self.clientId) && self.clientId == oldSelf.clientId)").message("clientId is immutable"))]
#[x_kube(validation = Rule::new("self.clientType == 'CONFIDENTIAL' || !has(self.secretRef)").message("a PUBLIC client has no secret"))]
#[x_kube(validation = Rule::new("!has(self.tokenEndpointAuthMethod) || (self.clientType == 'PUBLIC') == (self.tokenEndpointAuthMethod == 'none')").message("tokenEndpointAuthMethod none is for PUBLIC clients, and PUBLIC clients use none"))]
#[x_kube(validation = Rule::new("(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod in ['private_key_jwt', 'self_signed_tls_client_auth']) == (has(self.jwks) || has(self.jwksUri))").message("a private_key_jwt client needs jwks, jwksUri or both, a self_signed_tls_client_auth client jwks; other methods take neither"))]
#[x_kube(validation = Rule::new("!has(self.tokenEndpointAuthMethod) || !(self.tokenEndpointAuthMethod in ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']) || !has(self.secretRef)").message("a private_key_jwt or mutual-TLS client has no secret"))]
#[x_kube(validation = Rule::new("has(self.tlsClientAuth) == (has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'tls_client_auth')").message("a tls_client_auth client needs tlsClientAuth; other methods take none"))]
#[x_kube(validation = Rule::new("!has(self.backchannelLogoutSessionRequired) || !self.backchannelLogoutSessionRequired || has(self.backchannelLogoutUri)").message("backchannelLogoutSessionRequired needs a backchannelLogoutUri"))]
pub struct OAuthClientSpec {
    /// The OAuth `client_id` (default: the resource's name). Immutable. A
    /// client another resource manages, or one created through the API, is
    /// refused (`OwnedElsewhere`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._~:@-]{1,128}$')").message("clientId must be 1-128 characters of letters, digits and . _ ~ : @ -"))]
    pub client_id: Option<String>,
    /// Display name (default: the client id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// CONFIDENTIAL (has a secret) or PUBLIC.
    #[serde(default = "default_client_type")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['CONFIDENTIAL', 'PUBLIC']").message("clientType must be CONFIDENTIAL or PUBLIC"))]
    pub client_type: String,
    /// Where the secret is (key in a Secret). Without it the operator
    /// generates one into the Secret `<name>-client-secret`, key `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    #[serde(default)]
    pub internal_client: bool,
    /// RFC 9126 §6: the authorization endpoint refuses this client's
    /// requests unless they were pushed to `/auth/v3/oauth/par` first.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449: the token endpoint refuses this client's requests without
    /// a DPoP proof, so all its access tokens are bound to its key.
    #[serde(default)]
    pub require_dpop: bool,
    /// `jwt`: access tokens are signed JWTs. `opaque`: random UUIDs, as the
    /// original's, that resource servers validate by introspection and that
    /// die at once when revoked.
    #[serde(default = "default_access_token_format")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self in ['jwt', 'opaque']").message("accessTokenFormat must be jwt or opaque"))]
    pub access_token_format: String,
    /// RFC 8705 §2.1.2, `tls_client_auth` clients: the name their
    /// certificate (chained to the server's client CA) must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth: Option<TlsClientAuthSpec>,
    /// RFC 8705 §3: access tokens issued to a request with a client
    /// certificate are bound to it (`cnf.x5t#S256`).
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    #[serde(default)]
    pub authorities: Vec<String>,
    #[serde(default = "default_scope")]
    pub scope: Vec<String>,
    /// e.g. authorization_code, client_credentials, refresh_token, password.
    #[serde(default = "default_grants")]
    #[schemars(length(max = 16), inner(length(max = 128)))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("authorizedGrantTypes must not be empty"))]
    pub authorized_grant_types: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Seconds.
    #[serde(default = "default_access_timeout")]
    #[x_kube(validation = Rule::new("self > 0").message("accessTokenExpirationTimeout must be positive"))]
    pub access_token_expiration_timeout: i64,
    /// Seconds.
    #[serde(default = "default_refresh_timeout")]
    #[x_kube(validation = Rule::new("self > 0").message("refreshTokenExpirationTimeout must be positive"))]
    pub refresh_token_expiration_timeout: i64,
    /// Names of `ContactCenter` resources (same namespace) the client may serve.
    #[serde(default)]
    pub contact_center_refs: Vec<String>,
    /// How the client authenticates: client_secret_basic or
    /// client_secret_post (either form is accepted), client_secret_jwt
    /// (the secret, at least 32 bytes, keys HMAC-signed JWTs),
    /// private_key_jwt, tls_client_auth or self_signed_tls_client_auth
    /// (RFC 8705: a TLS client certificate), or none (PUBLIC clients). Default: client_secret_basic for CONFIDENTIAL,
    /// none for PUBLIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self in ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 'none']").message("tokenEndpointAuthMethod must be client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth or none"))]
    pub token_endpoint_auth_method: Option<String>,
    /// `private_key_jwt`: the client's public keys; `self_signed_tls_client_auth`:
    /// its certificates (each key with `x5c` or `x5t#S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "jwk_set_schema")]
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: where the client's public keys are fetched from
    /// (https; plain http only for localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub jwks_uri: Option<String>,
    /// RFC 8693 token exchange: what this client may exchange. Without it
    /// the client cannot exchange tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchangeSpec>,
    /// OIDC Back-Channel Logout 1.0: sign-outs of users who signed in to
    /// this client are posted here as logout tokens (an absolute http(s)
    /// URL without a fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub backchannel_logout_uri: Option<String>,
    /// Every logout token names the browser session (`sid`); needs
    /// `backchannelLogoutUri`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

/// The name a `tls_client_auth` client's certificate carries (RFC 8705
/// §2.1.2): exactly one of these.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.subjectDn), has(self.sanDns), has(self.sanUri), has(self.sanIp), has(self.sanEmail)].filter(x, x).size() == 1").message("tlsClientAuth takes exactly one of subjectDn, sanDns, sanUri, sanIp, sanEmail"))]
pub struct TlsClientAuthSpec {
    /// The subject DN in RFC 4514 form, e.g. `CN=app,O=Example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub subject_dn: Option<String>,
    /// A dNSName subject alternative name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub san_dns: Option<String>,
    /// A uniformResourceIdentifier subject alternative name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub san_uri: Option<String>,
    /// An iPAddress subject alternative name (IPv4 or IPv6 text form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 45))]
    pub san_ip: Option<String>,
    /// An rfc822Name subject alternative name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 320))]
    pub san_email: Option<String>,
}

/// Which tokens a client may exchange and for what (the ops client API's
/// `tokenExchange`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenExchangeSpec {
    /// Clients whose tokens may be the subject; `*` any client. The
    /// client's own tokens are always allowed.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 128)))]
    #[x_kube(validation = Rule::new("self.all(c, c.size() > 0)").message("subjectClients must not contain empty names"))]
    pub subject_clients: Vec<String>,
    /// Trusted issuers (of the client's contact centers) whose JWTs may be
    /// the subject; none by default.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 512)))]
    #[x_kube(validation = Rule::new("self.all(i, i.size() > 0)").message("subjectIssuers must not contain empty names"))]
    pub subject_issuers: Vec<String>,
    /// `audience`/`resource` values it may ask for, exactly.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 512)))]
    #[x_kube(validation = Rule::new("self.all(a, a.size() > 0)").message("audiences must not contain empty names"))]
    pub audiences: Vec<String>,
    /// With an `actor_token`: the new token records the actor in `act`.
    #[serde(default)]
    pub delegation: bool,
    /// Without an `actor_token`: the client gets a token that is the subject.
    #[serde(default)]
    pub impersonation: bool,
}

/// Status of an OAuth client.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The `client_id` in Tollgate's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The Secret holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

fn default_client_type() -> String {
    "CONFIDENTIAL".into()
}
fn default_scope() -> Vec<String> {
    vec!["*".into()]
}
fn default_grants() -> Vec<String> {
    vec!["client_credentials".into()]
}
fn default_access_token_format() -> String {
    "jwt".into()
}
fn default_access_timeout() -> i64 {
    43_200
}
fn default_refresh_timeout() -> i64 {
    2_592_000
}
