//! OAuth 2.0 and OpenID Connect: client authentication, assertions, the
//! grants, and issuing tokens.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod dpop;
pub mod endpoints;
pub mod error;
pub mod form;
pub mod grants;
pub mod issue;
pub mod jwks;
pub mod mtls;
pub mod par;
pub mod recheck;
pub mod sign_out;
