//! The `ContactCenter` reconciler: its row (`row.rs`) and the parts it owns.

mod directory;
mod oidc_provider;
mod part;
mod row;
mod saml;
mod trusted_issuers;

pub use row::{desired, normalize_origin, origin_changes, row_id};
