//! Second factors of built-in users: TOTP with single-use recovery codes
//! ([`totp`]) and WebAuthn passkeys ([`passkey`]). A user may have both;
//! either one confirmed means the factor is owed at sign-in ([`step`]).
//!
//! Only built-in contact centers ask for them: an LDAP or Configuration
//! Server directory has no place here to keep a secret, and a single
//! sign-on provider does its own multi-factor authentication.

pub mod passkey;
mod step;
mod totp;

pub use step::{step_for, Step};
pub use totp::{check, start_enrolment, Checked, Enrolment, RECOVERY_CODES};
