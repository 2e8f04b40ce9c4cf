//! Domain types shared by every service and the operator. Plain data: no I/O.
//!
//! Times are Unix seconds (`i64`) so both backends store them the same way.

use serde::{Deserialize, Serialize};

/// Unix time in seconds.
pub type Timestamp = i64;

/// Now as Unix seconds.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One Configuration Server (primary and optional backup) of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigServer {
    pub primary_address: String,
    pub primary_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_port: Option<u16>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub locations: String,
}

/// How to reach a tenant's Configuration Server. `password` is the service
/// account's password in clear in memory; the store encrypts it at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub username: String,
    pub password: Option<String>,
    pub connection_protocol: String,
    pub local_timeout: i64,
    pub remote_timeout: i64,
    pub tenant: String,
    pub app_name: String,
    pub trace_mode: String,
    pub tls_enabled: bool,
    pub config_servers: Vec<ConfigServer>,
    /// Optimistic-concurrency version, bumped by every update.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Environment {
    /// A new environment with the original's defaults (ADDP, timeouts of 60
    /// and 90 s, tenant `Environment`, application `Cloud`), no servers yet.
    pub fn defaults(id: String, now: Timestamp) -> Self {
        Environment {
            id,
            username: String::new(),
            password: None,
            connection_protocol: "addp".into(),
            local_timeout: 60,
            remote_timeout: 90,
            tenant: "Environment".into(),
            app_name: "Cloud".into(),
            trace_mode: "CFGTMBoth".into(),
            tls_enabled: false,
            config_servers: vec![],
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Which user directory checks a contact center's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthScheme {
    ConfigServer,
    Ldap,
    Builtin,
    Saml,
    Oidc,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::ConfigServer => "configServer",
            AuthScheme::Ldap => "ldap",
            AuthScheme::Builtin => "builtin",
            AuthScheme::Saml => "saml",
            AuthScheme::Oidc => "oidc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "configServer" => AuthScheme::ConfigServer,
            "ldap" => AuthScheme::Ldap,
            "builtin" => AuthScheme::Builtin,
            "saml" => AuthScheme::Saml,
            "oidc" => AuthScheme::Oidc,
            _ => return None,
        })
    }
}

/// A tenant. `domains` are the tenant names users type (`tenant\user`);
/// they are unique across all contact centers, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCenter {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub environment_id: String,
    pub auth: AuthScheme,
    /// Whether its built-in users sign in with a second factor.
    pub second_factor: SecondFactorPolicy,
    pub enabled: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A contact center's rule for second factors (TOTP) of its built-in users;
/// users of other directories are not asked (an identity provider does its
/// own multi-factor authentication).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecondFactorPolicy {
    /// Never asked.
    #[default]
    Off,
    /// Users who enrolled must give a code; others sign in with a password.
    Optional,
    /// Every user gives a code, enrolling at their next sign-in if need be.
    Required,
}

impl SecondFactorPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorPolicy::Off => "off",
            SecondFactorPolicy::Optional => "optional",
            SecondFactorPolicy::Required => "required",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => SecondFactorPolicy::Off,
            "optional" => SecondFactorPolicy::Optional,
            "required" => SecondFactorPolicy::Required,
            _ => return None,
        })
    }
}

/// A built-in user's TOTP factor, the secret in clear (sealed at rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFactor {
    pub contact_center_id: String,
    pub user_id: String,
    /// The raw secret (20 random bytes).
    pub secret: Vec<u8>,
    /// False until the user typed a first code from it.
    pub confirmed: bool,
    /// The last TOTP time step accepted.
    pub last_step: i64,
    pub created_at: Timestamp,
}

/// A WebAuthn passkey of a built-in user, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPasskey {
    pub contact_center_id: String,
    pub user_id: String,
    /// base64url of the credential id.
    pub credential_id: String,
    /// The credential as webauthn-rs serialises it (JSON).
    pub passkey: String,
    /// The authenticator's signature counter at the last use (0: it keeps none).
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A contact-center setting such as `cors-origins`, unique by `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub contact_center_id: String,
    pub name: String,
    pub location: String,
    pub shared: bool,
    pub value: String,
    pub updated_at: Timestamp,
}

/// An issuer whose signed JWTs (RFC 7523 assertions) speak for users of one
/// contact center.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedIssuer {
    /// The `iss` of its assertions, exactly.
    pub issuer: String,
    pub contact_center_id: String,
    /// Static keys: a JWK Set (`{"keys":[…]}`).
    pub jwks: Option<serde_json::Value>,
    /// Keys fetched from this URL (and fetched again for an unknown `kid`).
    pub jwks_uri: Option<String>,
    /// Accepted JWS algorithms (asymmetric only).
    pub algorithms: Vec<String>,
    /// Longest accepted assertion life (`exp - iat`), seconds.
    pub max_lifetime: i64,
    pub updated_at: Timestamp,
}

/// How an LDAP directory binds its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdapBind {
    /// Bind as the template with `{username}` replaced, e.g.
    /// `uid={username},ou=people,dc=example,dc=org` or `{username}@corp.example`.
    Direct { template: String },
    /// Find the user's DN as the service account, then bind as the user.
    /// The password is in clear in memory; the store encrypts it at rest.
    SearchThenBind {
        service_dn: String,
        service_password: String,
    },
}

/// An LDAP attribute copied into a user property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapProperty {
    pub attribute: String,
    pub property: String,
}

/// Which LDAP attributes fill a user record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapAttributes {
    pub dbid: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default)]
    pub properties: Vec<LdapProperty>,
}

/// A group (DN or CN, ignoring case) whose members get an authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapGroupAuthority {
    pub group: String,
    pub authority: String,
}

/// The LDAP / Active Directory directory of one contact center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapDirectoryConfig {
    pub contact_center_id: String,
    /// `ldap://` or `ldaps://`, tried in order.
    pub urls: Vec<String>,
    pub start_tls: bool,
    /// CA that signed the server's certificate; absent: the system's roots.
    pub ca_pem: Option<String>,
    pub bind: LdapBind,
    pub base_dn: String,
    /// `{username}` is replaced (filter-escaped).
    pub user_filter: String,
    /// `{dn}` is the user's DN (filter-escaped).
    pub group_filter: String,
    pub attributes: LdapAttributes,
    pub group_authorities: Vec<LdapGroupAuthority>,
    /// Bound on connecting and on each operation.
    pub timeout_ms: i64,
    /// Idle service-account connections kept.
    pub pool_size: i64,
    /// Active Directory: passwords change through `unicodePwd`.
    pub active_directory: bool,
    /// Optimistic-concurrency version; 0 on a config not stored yet.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How the AuthnRequest travels to the identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SamlBinding {
    /// HTTP-POST: an auto-submitting form (the default).
    Post,
    /// HTTP-Redirect: deflated into the query, signed in the query.
    Redirect,
}

/// Only users whose assertion carries `value` in `attribute` may sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlAccessGroup {
    pub attribute: String,
    pub value: String,
}

/// One signing/encryption key pair of the service provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlSpKey {
    pub id: String,
    /// PKCS#8 PEM; sealed at rest with the rest of the key list.
    pub private_key_pem: String,
    /// Self-signed X.509 PEM published in the SP metadata.
    pub certificate_pem: String,
    pub created_at: Timestamp,
}

/// The SAML 2.0 service provider settings of one contact center (`auth: saml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProviderConfig {
    pub contact_center_id: String,
    /// The IdP's metadata XML: uploaded, or the last one fetched from
    /// `idp_metadata_url`.
    pub idp_metadata: String,
    /// Where the metadata is fetched again on a schedule; absent: uploaded.
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_fetched_at: Option<Timestamp>,
    /// The assertion attribute naming the user; absent: the NameID.
    pub username_attribute: Option<String>,
    /// The name is the user's external id rather than their user name.
    pub use_external_user_id: bool,
    pub access_group: Option<SamlAccessGroup>,
    pub binding: SamlBinding,
    /// Users the contact center does not know are created on first sign-in.
    pub just_in_time_users: bool,
    /// Unsolicited (IdP-initiated) answers are accepted at the ACS; off,
    /// only answers to this SP's own requests are.
    pub allow_idp_initiated: bool,
    /// Newest first: the first signs and decrypts; all are published in the
    /// SP metadata until retired, so the IdP can move to the new one.
    pub sp_keys: Vec<SamlSpKey>,
    /// Optimistic-concurrency version; 0 on a config not stored yet.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One allowed browser origin (`scheme://host[:port]`) of a contact center,
/// from the per-origin `/environment/v3/cors` API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin {
    pub contact_center_id: String,
    pub origin: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "CONFIDENTIAL",
            ClientType::Public => "PUBLIC",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CONFIDENTIAL" => Some(ClientType::Confidential),
            "PUBLIC" => Some(ClientType::Public),
            _ => None,
        }
    }
}

/// The OAuth grant types a client may be registered for.
pub mod grant_type {
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    pub const PASSWORD: &str = "password";
    pub const IMPLICIT: &str = "implicit";
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    pub const SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
}

/// The form of a client's access tokens. `Opaque` tokens are random UUIDs
/// (the original's shape) whose claims the server keeps: resource servers
/// introspect them, and they die the moment they are revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormat {
    #[default]
    Jwt,
    Opaque,
}

impl AccessTokenFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccessTokenFormat::Jwt => "jwt",
            AccessTokenFormat::Opaque => "opaque",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jwt" => Some(AccessTokenFormat::Jwt),
            "opaque" => Some(AccessTokenFormat::Opaque),
            _ => None,
        }
    }
}

/// How a client authenticates at the token, introspection and revocation
/// endpoints. A client is pinned to one: a `PrivateKeyJwt` client cannot use
/// a secret, a `ClientSecret` client cannot send a signed assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuthMethod {
    /// `client_secret_basic` or `client_secret_post`.
    ClientSecret,
    /// RFC 7523 §2.2 assertion signed with a key of the client's JWK Set.
    PrivateKeyJwt,
    /// RFC 7523 §2.2 assertion MACed (HS256/384/512) with the client's secret.
    ClientSecretJwt,
    /// Public clients.
    None,
    /// RFC 8705 §2.1: a client certificate chained to the configured client
    /// CA whose subject DN or SAN is the registered one.
    TlsClientAuth,
    /// RFC 8705 §2.2: a client certificate that is one of the client's
    /// registered keys (`x5c` or `x5t#S256` of its JWK Set).
    SelfSignedTlsClientAuth,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecret => "client_secret",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::ClientSecretJwt => "client_secret_jwt",
            ClientAuthMethod::None => "none",
            ClientAuthMethod::TlsClientAuth => "tls_client_auth",
            ClientAuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret" => Some(ClientAuthMethod::ClientSecret),
            "private_key_jwt" => Some(ClientAuthMethod::PrivateKeyJwt),
            "client_secret_jwt" => Some(ClientAuthMethod::ClientSecretJwt),
            "none" => Some(ClientAuthMethod::None),
            "tls_client_auth" => Some(ClientAuthMethod::TlsClientAuth),
            "self_signed_tls_client_auth" => Some(ClientAuthMethod::SelfSignedTlsClientAuth),
            _ => None,
        }
    }
}

/// The shared secret of a `client_secret_jwt` client. The server must hold
/// it to check a MAC, so it is sealed at rest and in clear only in memory;
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacSecret(String);

impl HmacSecret {
    pub fn new(secret: String) -> Self {
        HmacSecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret(..)")
    }
}

/// An OAuth client with the original's fields. `secret_hash` is an argon2id
/// PHC string; the clear secret is never stored, except the sealed
/// `hmac_secret` of a `client_secret_jwt` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub secret_hash: Option<String>,
    pub client_type: ClientType,
    pub internal_client: bool,
    pub authorities: Vec<String>,
    pub scope: Vec<String>,
    pub authorized_grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// Seconds.
    pub access_token_expiration_timeout: i64,
    /// Seconds.
    pub refresh_token_expiration_timeout: i64,
    pub contact_center_ids: Vec<String>,
    /// RFC 8693: what this client may exchange; `None` = no token exchange.
    pub token_exchange: Option<ExchangePolicy>,
    pub auth_method: ClientAuthMethod,
    /// `PrivateKeyJwt`: the client's public keys, a JWK Set (`{"keys":[…]}`)…
    pub jwks: Option<serde_json::Value>,
    /// …and/or a URL they are fetched from.
    pub jwks_uri: Option<String>,
    /// `ClientSecretJwt` only: the secret its assertions are MACed with.
    pub hmac_secret: Option<HmacSecret>,
    /// RFC 9126 §6: authorization requests must be pushed first (PAR).
    pub require_pushed_authorization_requests: bool,
    /// OIDC Back-Channel Logout 1.0: where this client hears of sign-outs.
    pub backchannel_logout: Option<BackchannelLogout>,
    /// RFC 9449: token requests must carry a DPoP proof (bound tokens only).
    pub require_dpop: bool,
    /// What this client's access tokens look like: signed JWTs or opaque references.
    pub access_token_format: AccessTokenFormat,
    /// RFC 8705 §2.1.2, `TlsClientAuth` only: the value the certificate must carry.
    pub tls_client_auth_subject: Option<CertSubject>,
    /// RFC 8705 §3: access tokens issued to a request with a client
    /// certificate are bound to it (`cnf.x5t#S256`).
    pub tls_client_certificate_bound_access_tokens: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which name of a client certificate identifies a `tls_client_auth`
/// client (RFC 8705 §2.1.2), with its expected value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSubject {
    /// `tls_client_auth_subject_dn`: the subject DN, RFC 4514 string form.
    SubjectDn(String),
    /// `tls_client_auth_san_dns`
    SanDns(String),
    /// `tls_client_auth_san_uri`
    SanUri(String),
    /// `tls_client_auth_san_ip`: IPv4 or IPv6 text form.
    SanIp(String),
    /// `tls_client_auth_san_email`
    SanEmail(String),
}

impl CertSubject {
    /// The metadata name (RFC 8705 §2.1.2) without its `tls_client_auth_` prefix.
    pub fn kind(&self) -> &'static str {
        match self {
            CertSubject::SubjectDn(_) => "subject_dn",
            CertSubject::SanDns(_) => "san_dns",
            CertSubject::SanUri(_) => "san_uri",
            CertSubject::SanIp(_) => "san_ip",
            CertSubject::SanEmail(_) => "san_email",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            CertSubject::SubjectDn(v)
            | CertSubject::SanDns(v)
            | CertSubject::SanUri(v)
            | CertSubject::SanIp(v)
            | CertSubject::SanEmail(v) => v,
        }
    }

    pub fn new(kind: &str, value: String) -> Option<Self> {
        Some(match kind {
            "subject_dn" => CertSubject::SubjectDn(value),
            "san_dns" => CertSubject::SanDns(value),
            "san_uri" => CertSubject::SanUri(value),
            "san_ip" => CertSubject::SanIp(value),
            "san_email" => CertSubject::SanEmail(value),
            _ => return None,
        })
    }
}

/// A relying party's back-channel logout registration (OIDC Back-Channel
/// Logout 1.0 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogout {
    /// Absolute `http(s)` URL without a fragment; logout tokens are posted to it.
    pub uri: String,
    /// The client needs `sid` in every logout token (it keys its sessions by it).
    pub session_required: bool,
}

/// Which tokens a client may exchange (RFC 8693) and for what.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangePolicy {
    /// Clients whose tokens may be the subject; `*` any client. The
    /// requesting client's own tokens are always allowed.
    #[serde(default)]
    pub subject_clients: Vec<String>,
    /// Trusted issuers (`iss`, registered per contact center) whose JWTs
    /// or ID tokens may be the subject; none unless listed.
    #[serde(default)]
    pub subject_issuers: Vec<String>,
    /// `audience`/`resource` values it may ask for, exactly. Without one
    /// the token is for this server's own audience, which is always allowed.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// With an `actor_token`: the new token records the actor in `act`.
    #[serde(default)]
    pub delegation: bool,
    /// Without an `actor_token`: the client gets a token that simply is the subject.
    #[serde(default)]
    pub impersonation: bool,
}

/// A user of the built-in directory. `username` is unique per contact
/// center, compared case-insensitively. `password_hash` is argon2id PHC.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub contact_center_id: String,
    pub username: String,
    pub password_hash: String,
    /// Numeric id as the original's Configuration Server users have.
    pub dbid: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub authorities: Vec<String>,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub enabled: bool,
    /// Set for a generated temporary password: the user must change it.
    pub must_change_password: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Paging and search over a contact center's users.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of username, names or email.
    pub search: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    ES256,
    RS256,
    EdDSA,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(KeyAlgorithm::ES256),
            "RS256" => Some(KeyAlgorithm::RS256),
            "EdDSA" => Some(KeyAlgorithm::EdDSA),
            _ => None,
        }
    }
}

/// A token-signing key. `private_pkcs8` is clear in memory only; the store
/// encrypts it at rest. Lifecycle: published at `created_at`, signs from
/// `activates_at` until `retires_at`, stays in JWKS until `expires_at`.
/// A `publish_only` key (imported to verify another issuer's tokens) never
/// signs: it is only published until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub private_pkcs8: Vec<u8>,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: Timestamp,
    pub activates_at: Timestamp,
    pub retires_at: Timestamp,
    pub expires_at: Timestamp,
    pub publish_only: bool,
}

/// A chain of refresh tokens born from one grant. Revoking the family
/// revokes every token in it (reuse detection, sign-out).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: String,
    pub contact_center_id: Option<String>,
    /// The user's login name within the contact center; `None` for a client-only grant.
    pub username: Option<String>,
    pub scope: Vec<String>,
    /// Snapshot of the principal (authorities, dbid, names…) carried into refreshed tokens.
    pub claims: serde_json::Value,
    pub created_at: Timestamp,
    /// Absolute end of the family, whatever rotations happen.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// RFC 9449 §5: the DPoP key (thumbprint) a public client's refresh
    /// tokens are bound to.
    pub dpop_jkt: Option<String>,
}

/// One refresh token, known only by the SHA-256 hex digest of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub hash: String,
    pub family_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The token was fresh: it is now used and `new` is stored in its family.
    Rotated(RefreshFamily),
    /// The token had been used before: the whole family is now revoked.
    Reused {
        family_id: String,
    },
    Expired,
    Revoked,
    NotFound,
}

/// A revoked access token (`Jti`) or every token of a subject issued at or
/// before `issued_before` (`Subject`, for global sign-out and deletions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Jti {
        jti: String,
        expires_at: Timestamp,
    },
    Subject {
        subject: String,
        issued_before: Timestamp,
        expires_at: Timestamp,
    },
}

/// A durable row changed; caches reload `(entity, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub entity: String,
    pub id: String,
}

/// Something worth an audit trail: sign-ins, failures, tokens, revocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    /// e.g. `token.issued`, `token.refreshed`, `token.revoked`, `client.auth_failed`, `user.auth_failed`.
    pub kind: String,
    pub client_id: Option<String>,
    pub contact_center_id: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

/// How Tollgate authenticates at an OpenID provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OidcClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl OidcClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            OidcClientAuth::ClientSecretBasic => "client_secret_basic",
            OidcClientAuth::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(s: &str) -> Option<OidcClientAuth> {
        match s {
            "client_secret_basic" => Some(OidcClientAuth::ClientSecretBasic),
            "client_secret_post" => Some(OidcClientAuth::ClientSecretPost),
            _ => None,
        }
    }
}

/// Which ID token (or userinfo) claims fill the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcClaims {
    /// The login name in the contact center: `preferred_username`, `email` or `sub`.
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

/// Members of a provider group (a value of the groups claim) get an authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcGroupAuthority {
    pub group: String,
    pub authority: String,
}

/// The OpenID Connect identity provider of one contact center (`auth: oidc`);
/// Tollgate is its relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderConfig {
    pub contact_center_id: String,
    /// The provider's issuer; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_auth: OidcClientAuth,
    /// In clear in memory; the store encrypts it at rest.
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub claims: OidcClaims,
    /// The claim listing the user's groups, if groups map to authorities.
    pub groups_claim: Option<String>,
    pub group_authorities: Vec<OidcGroupAuthority>,
    /// Create unknown users as built-in users (when no LDAP directory is stored).
    pub just_in_time: bool,
    /// Extra authorization request parameters, e.g. `prompt`.
    pub authorize_params: std::collections::BTreeMap<String, String>,
    /// Optimistic-concurrency version; 0 on a config not stored yet.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The rows a custom resource can manage: each records who manages it, so
/// the operator never writes or deletes a row another resource (or the API)
/// created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedRow {
    Environment,
    ContactCenter,
    Client,
}

/// The custom resource that manages a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Authorities that open the Environment API to a client; without a
/// contact-center binding such a client manages every tenant.
pub const MANAGEMENT_AUTHORITIES: [&str; 2] =
    ["ROLE_MANAGEMENT_APPLICATION", "ROLE_INTERNAL_CLIENT"];

/// Who manages a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOwner {
    /// Created through the Environment or ops API; the operator leaves it alone.
    Api,
    /// Created before owners were recorded.
    Unknown,
    /// Created or adopted by this custom resource.
    Resource(ResourceRef),
}
