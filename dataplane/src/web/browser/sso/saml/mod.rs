//! SAML 2.0 service provider per contact center (`auth: saml`). [`start`]
//! sends the browser to the IdP with a signed AuthnRequest; [`acs::acs`]
//! takes the IdP's Response (solicited or IdP-initiated), verifies it with
//! [`verify`] and signs the user in through [`crate::web::browser::sso::finish_sign_in`].

pub mod acs;
pub mod metadata;
pub mod slo;
pub mod sp_logout;
mod start;

pub use start::{post_page, refuse, start, Flight};
