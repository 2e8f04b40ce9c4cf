//! One module per grant type at the token endpoint.

pub mod authorization_code;
pub mod client_credentials;
pub mod jwt_bearer;
pub mod password;
pub mod refresh;
pub mod saml_bearer;
pub mod token_exchange;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const PASSWORD: &str = "password";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const IMPLICIT: &str = "implicit";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";

/// Every grant type a client may be registered for.
pub const KNOWN: &[&str] = &[
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    PASSWORD,
    IMPLICIT,
    TOKEN_EXCHANGE,
    JWT_BEARER,
    SAML2_BEARER,
];

/// The grants this server answers at the token endpoint today.
pub const SUPPORTED: &[&str] = &[
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    PASSWORD,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    JWT_BEARER,
    SAML2_BEARER,
];

/// Grant types advertised in discovery (the token endpoint's plus implicit).
pub const ADVERTISED: &[&str] = &[
    AUTHORIZATION_CODE,
    IMPLICIT,
    CLIENT_CREDENTIALS,
    PASSWORD,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    JWT_BEARER,
    SAML2_BEARER,
];
