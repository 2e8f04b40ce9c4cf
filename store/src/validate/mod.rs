//! The rules a stored record must follow, shared by every writer (the
//! Environment API, the ops client API and the operator), so a setting
//! refused by one is refused by all, with the same words. Each check takes
//! the record as it will be stored, defaults already filled in, and returns
//! a message naming the offending field.

pub mod client;
pub mod jwks;
pub mod ldap_directory;
pub mod oidc_provider;
pub mod saml;
pub mod trusted_issuer;

pub use client::{check_client_secret, check_exchange_policy, check_hmac_secret};
pub use jwks::{check_jwks_uri, check_public_jwks, ASYMMETRIC};
pub use ldap_directory::check_ldap_directory;
pub use oidc_provider::check_oidc_provider;
pub use saml::check_saml_provider;
pub use trusted_issuer::check_trusted_issuer;
