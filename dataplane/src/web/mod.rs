//! The HTTP edges: extractors, cookies and CSRF, the envelope and CORS shared
//! by all, and the three APIs, which never import each other.

pub mod admin_api;
pub mod bearer;
pub mod browser;
pub mod client_cert;
pub mod client_ip;
pub mod cors;
pub mod csrf;
pub mod data;
pub mod dpop;
pub mod envelope;
pub mod form;
pub mod oauth_api;
pub mod oauth_error;
pub mod openapi;
pub mod ops_auth;
