//! The Environment API (`/environment/v3`): environments, contact centers,
//! their settings and built-in users, and CORS origins, in the original's
//! `{"status":{"code":0},"data":…}` envelope. Every write goes through the
//! store; the catalog picks it up from the change feed (at once in this
//! process, within a second in the others).

pub mod access;
pub mod contact_centers;
pub mod cors;
pub mod directory;
pub mod environments;
pub mod oidc_provider;
pub mod openapi;
mod protocol;
pub mod saml;
pub mod settings;
pub(crate) mod sub_resource;
pub mod trusted_issuers;
pub mod users;

pub use crate::web::data::{lenient_bool, parse_data, Data};
pub use protocol::{
    check_id, check_version, expected_version, first_change, keep_secret_only_in_place, new_id,
    propagate, with_etag, Created, Envelope, ErrorEnvelope, ErrorStatus, OkEnvelope, OkStatus,
    BASE,
};
