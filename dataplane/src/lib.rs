//! Tollgate's data plane: the Authentication API (and, as they arrive, the
//! Authentication UI and the Environment API) over the `tollgate-store` crate.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dev;
pub mod directory;
pub mod envelope;
pub mod metrics;
pub mod revocations;
pub mod secrets;
pub mod server;
pub mod state;
pub mod tokens;
