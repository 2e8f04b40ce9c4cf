//! Tollgate's storage. One owner per table: every query lives here, so the
//! Environment API, the Authentication API and the operator never disagree
//! about a row.
//!
//! - [`durable::Db`]: PostgreSQL in production, SQLite as the embedded default.
//! - [`ephemeral::Ephemeral`]: Redis in production, in-process as the embedded default.

pub mod breaker;
pub mod cipher;
pub mod durable;
pub mod ephemeral;
pub mod error;
pub mod metrics;
pub mod model;
pub mod saml;
pub mod secrets;
pub mod validate;

pub use cipher::Cipher;
pub use durable::Db;
pub use ephemeral::Ephemeral;
pub use error::{Result, StoreError};
