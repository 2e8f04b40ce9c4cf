//! Users checked against their environment's Configuration Server.
//!
//! `connection` keeps the session (primary/backup failover, timeouts, TLS,
//! backoff), `protocol` is the boundary to the wire (Tollgate's own
//! newline-delimited JSON; wire compatibility with a Genesys Configuration
//! Server is not claimed), `simulator` serves that protocol for tests and
//! demos (`tollgate-cs-sim`).

pub mod connection;
mod directory;
pub mod metrics;
pub mod protocol;
pub mod simulator;

pub use directory::{ConfigServerDirectory, ConfigServerSettings};
