//! The data plane's integration tests, in one binary: every file beside this
//! one is a module, so the crate and its dependencies are linked once.

#[macro_use]
mod common;
mod saml_idp;

mod abuse;
mod architecture;
mod audit_trail;
mod authorize;
mod backchannel_logout;
mod client_jwt_auth;
mod client_secret_jwt;
mod config_server;
mod directory_contract;
mod discovery_keys;
mod dpop;
mod environment_api;
mod genesys_models;
mod introspection_session;
mod jwt_bearer;
mod key_import;
mod mtls;
mod opaque_tokens;
mod openapi;
mod ops_clients;
mod outbound;
mod par;
mod passkeys;
mod propagation;
mod refresh_in_doubt;
mod request_metrics;
mod saml_bearer;
mod saml_metadata_refresh;
mod saml_settings;
mod saml_xmlsec_stderr;
mod second_factor;
mod session_security;
mod sign_in;
mod sso_oidc;
mod sso_saml;
mod sso_saml_logout;
mod storage_bounds;
mod sub_resource_writes;
mod tls_listener;
mod token_endpoint;
mod token_exchange;
mod token_exchange_issuers;
mod trace_context;
