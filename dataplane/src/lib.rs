//! Tollgate's data plane: the Authentication API, the Authentication UI and
//! the Environment API over the `tollgate-store` crate.
//!
//! Imports go one way: `app` → `web` → `tollgate_core` (→ `tollgate_store`).
//! The core crate holds the domain (OAuth, federation, sessions, directory,
//! protection, tokens) and has no HTTP framework among its dependencies;
//! `web` turns its outcomes into responses; `app` wires the services,
//! routers and listeners.

pub mod app;
pub mod web;
