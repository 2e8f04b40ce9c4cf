//! SAML 2.0 service provider: AuthnRequests, response verification, logout
//! messages, keys and IdP metadata.

pub mod authn_request;
pub mod fetch;
pub mod identity;
pub mod keys;
pub mod logout_binding;
pub mod logout_message;
pub mod metadata;
pub mod provider;
pub mod refresh;
pub mod verify;
mod xmlsec_log;

/// The test IdP, shared with the integration tests (`dataplane/tests/sso_saml.rs`).
#[cfg(test)]
#[path = "../../../../dataplane/tests/saml_idp/mod.rs"]
mod test_idp;
#[cfg(test)]
mod tests;
