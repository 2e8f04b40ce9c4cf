//! OpenID Connect Back-Channel Logout 1.0: relying parties that registered a
//! `backchannel_logout_uri` hear of a sign-out by a signed logout token
//! posted to it, server to server.
//!
//! [`targets`] remembers which of them a user signed in to, [`token`] signs
//! the logout token, [`delivery`] posts it with retries from a bounded queue.

pub mod delivery;
pub mod targets;
pub mod token;

pub use delivery::Backchannel;
pub use targets::Target;
