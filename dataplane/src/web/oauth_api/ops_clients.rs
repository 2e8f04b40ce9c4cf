//! The OAuth client registry of the original: `/auth/v3/ops/clients`, under
//! the operator's HTTP Basic credentials, in the `{"status","data"}` envelope.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tollgate_store::model::{
    now, AccessTokenFormat, BackchannelLogout, CertSubject, Client, ClientAuthMethod, ClientType,
    ExchangePolicy, HmacSecret,
};
use tollgate_store::validate::client::check_client;
use tollgate_store::validate::client::MIN_CLIENT_SECRET;
use tollgate_store::validate::{
    check_client_secret, check_exchange_policy, check_hmac_secret, check_jwks_uri,
};
use utoipa::ToSchema;

use crate::web::client_ip::ClientIp;
use crate::web::data::{lenient_bool, nullable, parse_data, Data};
use crate::web::envelope::{self, ApiError, ApiResponse, ApiResponseOf, ErrorResponse};
use crate::web::ops_auth::require as require_ops;
use tollgate_core::oauth::assertion::check_public_jwks;
use tollgate_core::oauth::grants;
use tollgate_core::services::{AppState, Services};

const DEFAULT_ACCESS_TIMEOUT: i64 = 43_200;
const DEFAULT_REFRESH_TIMEOUT: i64 = 2_592_000;
const MAX_ACCESS_TIMEOUT: i64 = 31_536_000;
const MAX_REFRESH_TIMEOUT: i64 = 5 * 31_536_000;

/// A registered client as the API shows it: every field but the secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuthClient)]
pub struct ClientView {
    #[serde(rename = "client_id")]
    client_id: String,
    name: String,
    description: String,
    #[schema(value_type = ClientTypeName)]
    client_type: &'static str,
    internal_client: bool,
    authorities: Vec<String>,
    scope: Vec<String>,
    authorized_grant_types: Vec<String>,
    #[serde(rename = "redirectURIs")]
    redirect_uris: Vec<String>,
    #[schema(minimum = 1, maximum = 31_536_000)]
    access_token_expiration_timeout: i64,
    #[schema(minimum = 1, maximum = 157_680_000)]
    refresh_token_expiration_timeout: i64,
    contact_center_ids: Vec<String>,
    #[schema(value_type = Option<TokenExchangePolicy>)]
    token_exchange: Option<ExchangePolicy>,
    #[schema(value_type = AuthMethodName)]
    token_endpoint_auth_method: &'static str,
    /// The client's public keys (a JWK Set), for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    jwks: Option<Value>,
    #[schema(format = "uri")]
    jwks_uri: Option<String>,
    /// Authorization requests must be pushed first (RFC 9126 PAR).
    require_pushed_authorization_requests: bool,
    /// Token requests must carry a DPoP proof (RFC 9449).
    require_dpop: bool,
    /// `jwt`: signed access tokens; `opaque`: UUID references, validated by introspection.
    #[schema(value_type = AccessTokenFormatName)]
    access_token_format: &'static str,
    /// `tls_client_auth`: the name its certificate must carry (RFC 8705 §2.1.2).
    #[schema(value_type = Option<TlsClientAuth>)]
    tls_client_auth: Option<TlsClientAuth>,
    /// Access tokens issued over mutual TLS are bound to the client's certificate (RFC 8705 §3).
    tls_client_certificate_bound_access_tokens: bool,
    /// Where sign-outs are posted as logout tokens (OIDC Back-Channel Logout 1.0).
    #[schema(format = "uri")]
    backchannel_logout_uri: Option<String>,
    /// Every logout token names the session (`sid`).
    backchannel_logout_session_required: bool,
    /// Only in the answer of the write that generated it: shown once, never again.
    #[serde(rename = "client_secret", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

impl ClientView {
    pub(crate) fn of(c: &Client, generated_secret: Option<String>) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            client_type: c.client_type.as_str(),
            internal_client: c.internal_client,
            authorities: c.authorities.clone(),
            scope: c.scope.clone(),
            authorized_grant_types: c.authorized_grant_types.clone(),
            redirect_uris: c.redirect_uris.clone(),
            access_token_expiration_timeout: c.access_token_expiration_timeout,
            refresh_token_expiration_timeout: c.refresh_token_expiration_timeout,
            contact_center_ids: c.contact_center_ids.clone(),
            token_exchange: c.token_exchange.clone(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_dpop: c.require_dpop,
            access_token_format: c.access_token_format.as_str(),
            tls_client_auth: c.tls_client_auth_subject.as_ref().map(TlsClientAuth::of),
            tls_client_certificate_bound_access_tokens: c
                .tls_client_certificate_bound_access_tokens,
            backchannel_logout_uri: c.backchannel_logout.as_ref().map(|b| b.uri.clone()),
            backchannel_logout_session_required: c
                .backchannel_logout
                .as_ref()
                .is_some_and(|b| b.session_required),
            client_secret: generated_secret,
        }
    }
}

/// The fields of a client write; an absent field keeps its value (on
/// create, its default).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OAuthClientInput)]
pub struct ClientInput {
    /// Required on create: 1-128 letters, digits and `._~:@-`. It cannot change.
    #[serde(rename = "client_id")]
    #[schema(pattern = "^[A-Za-z0-9._~:@-]{1,128}$", nullable = false)]
    pub(crate) client_id: Option<String>,
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    description: Option<String>,
    /// Kept hashed, never returned. At least `--min-client-secret-length`
    /// characters (32 unless lowered for a migration). Without one a
    /// confidential client gets a generated secret, returned once.
    #[serde(rename = "client_secret")]
    #[schema(nullable = false, write_only)]
    pub(crate) client_secret: Option<String>,
    #[schema(value_type = Option<ClientTypeName>, nullable = false)]
    client_type: Option<ClientType>,
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(nullable = false)]
    internal_client: Option<bool>,
    #[schema(nullable = false)]
    authorities: Option<Vec<String>>,
    #[schema(nullable = false)]
    scope: Option<Vec<String>>,
    /// Grant types by their names or URNs (`client_credentials`, `password`,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`, ...).
    #[schema(nullable = false)]
    authorized_grant_types: Option<Vec<String>>,
    #[serde(rename = "redirectURIs")]
    #[schema(nullable = false)]
    redirect_uris: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 31_536_000, nullable = false)]
    access_token_expiration_timeout: Option<i64>,
    #[schema(minimum = 1, maximum = 157_680_000, nullable = false)]
    refresh_token_expiration_timeout: Option<i64>,
    /// Existing contact centers only.
    #[schema(nullable = false)]
    contact_center_ids: Option<Vec<String>>,
    /// `null` forbids token exchange.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TokenExchangePolicy>)]
    token_exchange: Option<Option<ExchangePolicy>>,
    /// Without one the client type decides (`none` for PUBLIC clients).
    #[schema(value_type = Option<AuthMethodName>, nullable = false)]
    token_endpoint_auth_method: Option<String>,
    /// `private_key_jwt` clients only; `null` removes them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    jwks: Option<Option<Value>>,
    /// `private_key_jwt` clients only; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    jwks_uri: Option<Option<String>>,
    /// `true`: the authorization endpoint refuses requests that were not
    /// pushed to `/auth/v3/oauth/par` first (RFC 9126 §6).
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(nullable = false)]
    require_pushed_authorization_requests: Option<bool>,
    /// `true`: the token endpoint refuses this client's requests without a
    /// DPoP proof (RFC 9449), so every access token it gets is bound to its key.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(nullable = false)]
    require_dpop: Option<bool>,
    /// `jwt` (the default): access tokens are signed JWTs. `opaque`: they
    /// are random UUIDs, as the original's, that resource servers validate
    /// by introspection and that die at once when revoked.
    #[schema(value_type = Option<AccessTokenFormatName>, nullable = false)]
    access_token_format: Option<AccessTokenFormat>,
    /// `tls_client_auth` clients only: exactly one name their certificate
    /// must carry (RFC 8705 §2.1.2); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TlsClientAuth>)]
    tls_client_auth: Option<Option<TlsClientAuth>>,
    /// `true`: access tokens issued to a request with a client certificate
    /// are bound to it (`cnf.x5t#S256`, RFC 8705 §3).
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(nullable = false)]
    tls_client_certificate_bound_access_tokens: Option<bool>,
    /// An absolute http(s) URL without a fragment: sign-outs of users who
    /// signed in to this client are posted to it as logout tokens (OIDC
    /// Back-Channel Logout 1.0). `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    backchannel_logout_uri: Option<Option<String>>,
    /// `true`: every logout token names the browser session (`sid`); needs
    /// a `backchannelLogoutUri`.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(nullable = false)]
    backchannel_logout_session_required: Option<bool>,
}

/// `clientType` values.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClientTypeName {
    Confidential,
    Public,
}

/// `accessTokenFormat` values.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormatName {
    Jwt,
    Opaque,
}

/// `tokenEndpointAuthMethod` values.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethodName {
    ClientSecret,
    PrivateKeyJwt,
    ClientSecretJwt,
    None,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
}

/// The certificate name of a `tls_client_auth` client (RFC 8705 §2.1.2):
/// exactly one member.
#[derive(Serialize, Deserialize, ToSchema, Default, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsClientAuth {
    /// The subject DN in RFC 4514 form, e.g. `CN=app,O=Example`.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_dn: Option<String>,
    /// A dNSName SAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    san_dns: Option<String>,
    /// A uniformResourceIdentifier SAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    san_uri: Option<String>,
    /// An iPAddress SAN (IPv4 or IPv6 text form).
    #[serde(skip_serializing_if = "Option::is_none")]
    san_ip: Option<String>,
    /// An rfc822Name SAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    san_email: Option<String>,
}

impl TlsClientAuth {
    fn of(s: &CertSubject) -> Self {
        let v = Some(s.value().to_string());
        match s {
            CertSubject::SubjectDn(_) => Self {
                subject_dn: v,
                ..Self::default()
            },
            CertSubject::SanDns(_) => Self {
                san_dns: v,
                ..Self::default()
            },
            CertSubject::SanUri(_) => Self {
                san_uri: v,
                ..Self::default()
            },
            CertSubject::SanIp(_) => Self {
                san_ip: v,
                ..Self::default()
            },
            CertSubject::SanEmail(_) => Self {
                san_email: v,
                ..Self::default()
            },
        }
    }

    fn subject(self) -> Result<CertSubject, ApiError> {
        let given = [
            self.subject_dn.map(CertSubject::SubjectDn),
            self.san_dns.map(CertSubject::SanDns),
            self.san_uri.map(CertSubject::SanUri),
            self.san_ip.map(CertSubject::SanIp),
            self.san_email.map(CertSubject::SanEmail),
        ];
        let mut given = given.into_iter().flatten();
        match (given.next(), given.next()) {
            (Some(s), None) => Ok(s),
            _ => Err(ApiError::bad_request(
                "tlsClientAuth: give exactly one of subjectDn, sanDns, sanUri, sanIp, sanEmail",
            )),
        }
    }
}

/// Which tokens the client may exchange (RFC 8693) and for what.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // the shape of `tollgate_store::model::ExchangePolicy`
pub struct TokenExchangePolicy {
    /// Clients whose tokens may be the subject; `*` any client.
    subject_clients: Vec<String>,
    /// Trusted issuers whose JWTs or ID tokens may be the subject.
    subject_issuers: Vec<String>,
    /// `audience`/`resource` values it may ask for.
    audiences: Vec<String>,
    /// With an `actor_token`: the new token records the actor in `act`.
    delegation: bool,
    /// Without an `actor_token`: the client gets a token that is the subject.
    impersonation: bool,
}

/// A lifetime in whole seconds, from 1 to `max`.
fn seconds(v: Option<i64>, key: &str, max: i64) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if !(1..=max).contains(&n) => Err(ApiError::bad_request(format!(
            "'{key}' must be a whole number of seconds from 1 to {max}"
        ))),
        v => Ok(v),
    }
}

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:@-".contains(&b))
}

/// `tokenExchange`: an RFC 8693 policy, or `None` to forbid exchange.
fn exchange_policy(v: Option<ExchangePolicy>) -> Result<Option<ExchangePolicy>, ApiError> {
    if let Some(policy) = &v {
        check_exchange_policy(policy).map_err(ApiError::bad_request)?;
    }
    Ok(v)
}

/// `tokenEndpointAuthMethod`, `jwks` and `jwksUri`. Without a method the
/// client type decides (`none` for PUBLIC, `client_secret` for a
/// CONFIDENTIAL client that had `none`). Keys belong to `private_key_jwt`
/// clients only, which need at least one of them.
fn client_keys(c: &mut Client, d: &ClientInput) -> Result<(), ApiError> {
    if let Some(v) = &d.token_endpoint_auth_method {
        c.auth_method = ClientAuthMethod::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "'tokenEndpointAuthMethod' must be client_secret, private_key_jwt, \
                 client_secret_jwt, tls_client_auth, self_signed_tls_client_auth or none",
            )
        })?;
    } else {
        c.auth_method = match (c.client_type, c.auth_method) {
            (ClientType::Public, _) => ClientAuthMethod::None,
            (ClientType::Confidential, ClientAuthMethod::None) => ClientAuthMethod::ClientSecret,
            (_, m) => m,
        };
    }
    if let Some(jwks) = &d.jwks {
        if let Some(v) = jwks {
            check_public_jwks(v).map_err(|why| ApiError::bad_request(format!("jwks {why}")))?;
        }
        c.jwks = jwks.clone();
    }
    if let Some(uri) = &d.jwks_uri {
        if let Some(uri) = uri {
            check_jwks_uri(uri).map_err(ApiError::bad_request)?;
        }
        c.jwks_uri = uri.clone();
    }
    if let Some(v) = &d.tls_client_auth {
        c.tls_client_auth_subject = v.clone().map(TlsClientAuth::subject).transpose()?;
    }
    if c.auth_method != ClientAuthMethod::TlsClientAuth
        && !matches!(d.tls_client_auth, Some(Some(_)))
    {
        c.tls_client_auth_subject = None;
    }
    let keys_given = matches!(d.jwks, Some(Some(_))) || matches!(d.jwks_uri, Some(Some(_)));
    if matches!(
        c.auth_method,
        ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::SelfSignedTlsClientAuth
    ) {
        // `check_client` requires its keys.
    } else if keys_given {
        return Err(ApiError::bad_request(
            "'jwks' and 'jwksUri' are for tokenEndpointAuthMethod private_key_jwt \
             or self_signed_tls_client_auth",
        ));
    } else {
        c.jwks = None;
        c.jwks_uri = None;
    }
    Ok(())
}

/// What a write did to the client's secret.
#[derive(Default)]
pub(crate) struct SecretOutcome {
    /// A secret generated here, in clear (shown once).
    pub(crate) generated: Option<String>,
    /// The secret given is shorter than the default minimum, accepted
    /// because `--min-client-secret-length` was lowered: audited.
    pub(crate) weak: bool,
}

/// What a client write is checked against besides its own fields; the ops
/// API and `tollgate import` each say where they look.
pub(crate) struct ClientRules<'a> {
    /// `--min-client-secret-length`.
    pub(crate) min_secret_length: usize,
    pub(crate) contact_center_exists: &'a dyn Fn(&str) -> bool,
}

/// Applies the fields present in `d` to `c`.
fn apply(
    state: &Services,
    c: &mut Client,
    d: ClientInput,
    creating: bool,
) -> Result<SecretOutcome, ApiError> {
    let rules = ClientRules {
        min_secret_length: state.settings.min_client_secret_length,
        contact_center_exists: &|id| state.catalog.contact_center(id).is_some(),
    };
    apply_input(c, d, creating, &rules)
}

/// Applies the fields present in `d` to `c`, checked by every rule of a
/// client write.
pub(crate) fn apply_input(
    c: &mut Client,
    d: ClientInput,
    creating: bool,
    rules: &ClientRules,
) -> Result<SecretOutcome, ApiError> {
    apply_settings(rules, c, &d)?;
    client_keys(c, &d)?;
    let secret = d.client_secret.filter(|s| !s.is_empty());
    // The rules the operator applies too, before any secret is hashed.
    check_client(c).map_err(ApiError::bad_request)?;
    apply_secret(c, secret, creating, rules.min_secret_length)
}

/// A weak secret accepted under a lowered minimum leaves a warning in the
/// log and the audit trail, so a migration's leftovers can be found.
fn audit_weak_secret(state: &Services, client_id: &str, outcome: &SecretOutcome) {
    if !outcome.weak {
        return;
    }
    tracing::warn!(
        client_id,
        "client secret shorter than {MIN_CLIENT_SECRET} characters accepted: min-client-secret-length is lowered"
    );
    state
        .audit("client.weak_secret")
        .client(client_id)
        .detail(json!({
            "default_minimum": MIN_CLIENT_SECRET,
            "configured_minimum": state.settings.min_client_secret_length,
        }))
        .record();
}

/// Every field but the authentication method, keys and secret.
fn apply_settings(rules: &ClientRules, c: &mut Client, d: &ClientInput) -> Result<(), ApiError> {
    let access = seconds(
        d.access_token_expiration_timeout,
        "accessTokenExpirationTimeout",
        MAX_ACCESS_TIMEOUT,
    )?;
    let refresh = seconds(
        d.refresh_token_expiration_timeout,
        "refreshTokenExpirationTimeout",
        MAX_REFRESH_TIMEOUT,
    )?;
    if let Some(v) = &d.authorized_grant_types {
        c.authorized_grant_types = known_grant_types(v.clone())?;
    }
    if let Some(v) = &d.contact_center_ids {
        c.contact_center_ids = known_contact_centers(rules, v.clone())?;
    }
    if let Some(v) = &d.token_exchange {
        c.token_exchange = exchange_policy(v.clone())?;
    }
    set(&d.name, &mut c.name);
    set(&d.description, &mut c.description);
    set(&d.client_type, &mut c.client_type);
    set(&d.internal_client, &mut c.internal_client);
    set(
        &d.require_pushed_authorization_requests,
        &mut c.require_pushed_authorization_requests,
    );
    set(&d.require_dpop, &mut c.require_dpop);
    set(&d.access_token_format, &mut c.access_token_format);
    set(
        &d.tls_client_certificate_bound_access_tokens,
        &mut c.tls_client_certificate_bound_access_tokens,
    );
    apply_backchannel_logout(c, d)?;
    set(&d.authorities, &mut c.authorities);
    set(&d.scope, &mut c.scope);
    set(&d.redirect_uris, &mut c.redirect_uris);
    set(&access, &mut c.access_token_expiration_timeout);
    set(&refresh, &mut c.refresh_token_expiration_timeout);
    Ok(())
}

/// The back-channel logout URI and its `sid` requirement, which needs a URI.
fn apply_backchannel_logout(c: &mut Client, d: &ClientInput) -> Result<(), ApiError> {
    if let Some(uri) = &d.backchannel_logout_uri {
        let session_required = c
            .backchannel_logout
            .as_ref()
            .is_some_and(|b| b.session_required);
        c.backchannel_logout = uri.clone().map(|uri| BackchannelLogout {
            uri,
            session_required,
        });
    }
    match (
        d.backchannel_logout_session_required,
        &mut c.backchannel_logout,
    ) {
        (Some(required), Some(b)) => b.session_required = required,
        (Some(true), None) => {
            return Err(ApiError::bad_request(
                "backchannelLogoutSessionRequired: needs a backchannelLogoutUri",
            ))
        }
        _ => {}
    }
    Ok(())
}

/// A field given replaces the client's; an absent one keeps it.
fn set<T: Clone>(given: &Option<T>, field: &mut T) {
    if let Some(v) = given {
        field.clone_from(v);
    }
}

fn known_grant_types(v: Vec<String>) -> Result<Vec<String>, ApiError> {
    match v.iter().find(|g| !grants::KNOWN.contains(&g.as_str())) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "authorizedGrantTypes: unknown grant type '{bad}'"
        ))),
        None => Ok(v),
    }
}

fn known_contact_centers(rules: &ClientRules, v: Vec<String>) -> Result<Vec<String>, ApiError> {
    match v.iter().find(|id| !(rules.contact_center_exists)(id)) {
        Some(bad) => Err(ApiError::bad_request(format!(
            "contactCenterIds: unknown contact center '{bad}'"
        ))),
        None => Ok(v),
    }
}

/// Keeps only the secret the client's authentication method uses, setting
/// the one given (at least `minimum` characters) or generating one when it
/// has none.
fn apply_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
    minimum: usize,
) -> Result<SecretOutcome, ApiError> {
    if c.auth_method != ClientAuthMethod::ClientSecretJwt {
        c.hmac_secret = None;
    }
    match c.auth_method {
        ClientAuthMethod::PrivateKeyJwt => without_secret(
            c,
            secret,
            "a private_key_jwt client must not have a client_secret",
        ),
        ClientAuthMethod::None => {
            without_secret(c, secret, "a PUBLIC client must not have a client_secret")
        }
        ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth => {
            without_secret(
                c,
                secret,
                "a mutual-TLS client must not have a client_secret",
            )
        }
        ClientAuthMethod::ClientSecretJwt => {
            c.secret_hash = None;
            let generated = apply_hmac_secret(c, secret, creating)?;
            Ok(SecretOutcome {
                generated,
                weak: false,
            })
        }
        ClientAuthMethod::ClientSecret => apply_client_secret(c, secret, creating, minimum),
    }
}

/// A client authenticating without a shared secret: one given is refused.
fn without_secret(
    c: &mut Client,
    secret: Option<String>,
    refusal: &'static str,
) -> Result<SecretOutcome, ApiError> {
    if secret.is_some() {
        return Err(ApiError::bad_request(refusal));
    }
    c.secret_hash = None;
    Ok(SecretOutcome::default())
}

/// A strong random secret, and the same to show once.
fn generated_secret() -> (String, Option<String>) {
    let s = tollgate_core::tokens::random_token();
    (s.clone(), Some(s))
}

/// The server keeps a `client_secret_jwt` secret (sealed) to check MACs,
/// and only that: the client cannot fall back to sending it in clear.
fn apply_hmac_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
) -> Result<Option<String>, ApiError> {
    let (s, generated) = match secret {
        Some(s) => {
            check_hmac_secret(&s).map_err(ApiError::bad_request)?;
            (s, None)
        }
        None if creating || c.hmac_secret.is_none() => generated_secret(),
        None => return Ok(None),
    };
    c.hmac_secret = Some(HmacSecret::new(s));
    Ok(generated)
}

/// A confidential client's secret, kept hashed; one is generated when the
/// client has none.
fn apply_client_secret(
    c: &mut Client,
    secret: Option<String>,
    creating: bool,
    minimum: usize,
) -> Result<SecretOutcome, ApiError> {
    let (s, outcome) = match secret {
        Some(s) => {
            let weak = check_client_secret(&s, minimum).map_err(ApiError::bad_request)?;
            let outcome = SecretOutcome {
                generated: None,
                weak,
            };
            (s, outcome)
        }
        None if creating || c.secret_hash.is_none() => {
            let (s, generated) = generated_secret();
            (
                s,
                SecretOutcome {
                    generated,
                    weak: false,
                },
            )
        }
        None => return Ok(SecretOutcome::default()),
    };
    c.secret_hash =
        Some(tollgate_core::secrets::hash_secret(&s).map_err(|_| ApiError::internal())?);
    Ok(outcome)
}

#[utoipa::path(get, path = "/auth/v3/ops/clients", tag = "ops",
    security(("ops" = [])),
    responses(
        (status = 200, body = ApiResponseOf<Vec<ClientView>>),
        (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let clients = state.db.list_clients().await?;
    let views: Vec<_> = clients.iter().map(|c| ClientView::of(c, None)).collect();
    Ok(envelope::ok(views))
}

#[utoipa::path(get, path = "/auth/v3/ops/clients/{client_id}", tag = "ops",
    params(("client_id" = String, Path)),
    security(("ops" = [])),
    responses(
        (status = 200, body = ApiResponseOf<ClientView>),
        (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 429, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let c = found(&state, &id).await?;
    Ok(envelope::ok(ClientView::of(&c, None)))
}

async fn found(state: &Services, id: &str) -> Result<Client, ApiError> {
    state
        .db
        .get_client(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("client '{id}' not found")))
}

#[utoipa::path(post, path = "/auth/v3/ops/clients", tag = "ops",
    request_body = Data<ClientInput>,
    security(("ops" = [])),
    responses(
        (status = 201, description = "Created; `client_secret` only when it was generated", body = ApiResponseOf<ClientView>),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 409, description = "The client_id is taken", body = ErrorResponse),
        (status = 429, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let d: ClientInput = parse_data(&body)?;
    let mut c = new_client_of(&d)?;
    let id = c.client_id.clone();
    let secret = apply(&state, &mut c, d, true)?;
    let stored = state.db.create_client(&c).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state.audit("client.created").client(&id).record();
    audit_weak_secret(&state, &id, &secret);
    // The only time a secret is ever returned: it was generated here.
    Ok(envelope::created(
        ClientView::of(&stored, secret.generated),
        format!("/auth/v3/ops/clients/{id}"),
    ))
}

/// A new client with the id a create's fields give, before they apply.
pub(crate) fn new_client_of(d: &ClientInput) -> Result<Client, ApiError> {
    let id = d
        .client_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("'client_id' is required"))?;
    if !valid_client_id(&id) {
        return Err(ApiError::bad_request(
            "'client_id' must be 1-128 characters of letters, digits and . _ ~ : @ -",
        ));
    }
    Ok(new_client(id))
}

/// A client with the original's defaults, before the body applies.
fn new_client(id: String) -> Client {
    let t = now();
    Client {
        name: id.clone(),
        client_id: id,
        description: String::new(),
        secret_hash: None,
        client_type: ClientType::Confidential,
        internal_client: false,
        authorities: vec![],
        scope: vec!["*".into()],
        authorized_grant_types: vec![grants::CLIENT_CREDENTIALS.into()],
        redirect_uris: vec![],
        access_token_expiration_timeout: DEFAULT_ACCESS_TIMEOUT,
        refresh_token_expiration_timeout: DEFAULT_REFRESH_TIMEOUT,
        contact_center_ids: vec![],
        token_exchange: None,
        auth_method: ClientAuthMethod::ClientSecret,
        jwks: None,
        jwks_uri: None,
        hmac_secret: None,
        require_pushed_authorization_requests: false,
        backchannel_logout: None,
        require_dpop: false,
        access_token_format: AccessTokenFormat::Jwt,
        tls_client_auth_subject: None,
        tls_client_certificate_bound_access_tokens: false,
        version: 1,
        created_at: t,
        updated_at: t,
    }
}

#[utoipa::path(put, path = "/auth/v3/ops/clients/{client_id}", tag = "ops",
    params(("client_id" = String, Path)),
    request_body = Data<ClientInput>,
    security(("ops" = [])),
    responses(
        (status = 200, description = "Updated; `client_secret` only when one was generated", body = ApiResponseOf<ClientView>),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 429, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn update(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    let d: ClientInput = parse_data(&body)?;
    check_same_id(&d, &id)?;
    let secret_changed = d.client_secret.is_some();
    let mut c = found(&state, &id).await?;
    let secret = apply(&state, &mut c, d, false)?;
    let stored = state.db.update_client(&c).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state
        .audit("client.updated")
        .client(&id)
        .detail(json!({"secret_changed": secret_changed}))
        .record();
    audit_weak_secret(&state, &id, &secret);
    Ok(envelope::ok(ClientView::of(&stored, secret.generated)))
}

/// An update may repeat the client's id, never change it.
pub(crate) fn check_same_id(d: &ClientInput, id: &str) -> Result<(), ApiError> {
    if d.client_id.as_ref().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request("'client_id' cannot be changed"));
    }
    Ok(())
}

#[utoipa::path(delete, path = "/auth/v3/ops/clients/{client_id}", tag = "ops",
    params(("client_id" = String, Path)),
    security(("ops" = [])),
    responses(
        (status = 200, description = "Deleted; its refresh tokens are revoked", body = ApiResponse),
        (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 429, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_ops(&state, &headers, ip.as_deref()).await?;
    state.db.delete_client(&id).await?;
    state.db.revoke_client_refresh_families(&id, now()).await?;
    state.catalog.reload_client(&state.db, &id).await?;
    state.audit("client.deleted").client(&id).record();
    Ok(envelope::ok_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(valid_client_id("external_api_client"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("has space"));
        assert!(!valid_client_id(&"x".repeat(129)));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_by_name() {
        // No Debug on the input: it carries the secret.
        let Err(e) = parse_data::<ClientInput>(br#"{"data": {"secret": "x"}}"#) else {
            panic!("an unknown field was accepted");
        };
        assert!(
            e.message.contains("unknown field `secret`"),
            "{}",
            e.message
        );
        let Err(e) = parse_data::<ClientInput>(br#"{"data": {"scope": "x"}}"#) else {
            panic!("a string was accepted for a list");
        };
        assert!(e.message.starts_with("'scope'"), "{}", e.message);
    }

    #[test]
    fn null_clears_keys_and_absence_keeps_them() {
        let Ok(d) = parse_data::<ClientInput>(br#"{"data": {"jwksUri": null}}"#) else {
            panic!("null was refused");
        };
        assert!(matches!(d.jwks_uri, Some(None)));
        assert!(d.jwks.is_none());
    }
}
