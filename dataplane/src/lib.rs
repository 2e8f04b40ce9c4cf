//! Tollgate's data plane: the Authentication API, the Environment API (and,
//! as it arrives, the Authentication UI) over the `tollgate-store` crate.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dev;
pub mod directory;
pub mod envelope;
pub mod environment;
pub mod fetch_cache;
pub mod metrics;
pub mod operator;
pub mod origins;
pub mod outbound;
pub mod protection;
pub mod revocations;
pub mod secrets;
pub mod server;
pub mod sessions;
pub mod sso;
pub mod state;
pub mod tls;
pub mod tokens;
pub mod ui;
