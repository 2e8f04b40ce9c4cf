//! Single sign-on protocols: Tollgate as a SAML 2.0 service provider and as
//! an OpenID Connect relying party. Protocol parts only; the browser flows
//! live in [`crate::web::browser::sso`].

pub mod oidc;
pub mod saml;
pub mod users;
