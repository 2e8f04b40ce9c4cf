//! Single sign-on: contact centers whose users prove who they are at their
//! own identity provider (`auth: saml` or `auth: oidc`). A protocol module
//! verifies the provider's answer and hands a [`FederatedIdentity`] to
//! [`finish_sign_in`], which finds (or creates) the user and starts the
//! browser session exactly as a password sign-in does.

pub mod flight;
mod flow;
pub mod oidc;
pub mod saml;

pub use flow::{finish_sign_in, not_configured, start};
