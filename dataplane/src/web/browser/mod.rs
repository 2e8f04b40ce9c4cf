//! The browser-facing flows: authorization, sign-in, password change,
//! consent, sign-out and single sign-on, rendered as pages and redirects.

pub mod assets;
pub mod authorize;
pub mod change_password;
pub mod consent;
pub mod dev_callback;
pub mod i18n;
pub mod logout;
pub mod page;
pub mod pages;
pub mod second_factor;
pub mod sign_in;
pub mod sign_out;
pub mod signed_out;
pub mod sso;
