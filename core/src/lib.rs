//! Tollgate's domain: everything it decides, with no HTTP framework (the
//! manifest has none). The edges in the `tollgate` crate call it and render
//! its outcomes.

pub mod audit;
pub mod catalog;
pub mod directory;
pub mod federation;
pub mod fetch_cache;
pub mod metrics;
pub mod oauth;
pub mod origins;
pub mod outbound;
pub mod protection;
pub mod revocations;
pub mod second_factor;
pub mod secrets;
pub mod services;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
