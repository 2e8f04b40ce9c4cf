//! Tollgate's data plane: the Authentication API, the Authentication UI and
//! the Environment API over the `tollgate-store` crate.
//!
//! Imports go one way: `app` → `web` → `core` (→ `tollgate-store`). `core`
//! holds the domain (OAuth, federation, sessions, directory, protection,
//! tokens) and knows no HTTP framework; `web` turns its outcomes into
//! responses; `app` wires the services, routers and listeners.

pub mod app;
pub mod core;
pub mod web;
