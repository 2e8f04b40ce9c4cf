//! OpenID Connect relying party: provider discovery, its HTTP client and ID
//! token verification.

pub mod discovery;
pub mod http;
pub mod id_token;
pub mod redirect;
