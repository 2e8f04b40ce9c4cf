//! One module per grant type at the token endpoint.

pub mod authorization_code;
pub mod client_credentials;
pub mod jwt_bearer;
pub mod password;
pub mod refresh;
pub mod saml_bearer;
pub mod token_exchange;

pub use tollgate_store::model::grant_type::{
    AUTHORIZATION_CODE, CLIENT_CREDENTIALS, IMPLICIT, JWT_BEARER, PASSWORD, REFRESH_TOKEN,
    SAML2_BEARER, TOKEN_EXCHANGE,
};

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
