//! Wiring: the command line, configuration, the routers each `serve` role
//! mounts, and the listeners.

pub mod auth_openapi;
pub mod cli;
pub mod config;
pub mod dev;
pub mod edge;
pub mod import;
pub mod key_import;
pub mod router;
pub mod serve;
pub mod telemetry;
pub mod tls;
