//! The Authentication API's machine endpoints: token, introspection and
//! revocation, discovery and keys, user info, token conversion and the ops
//! client registry.

pub mod convert;
pub mod discovery;
pub mod introspect;
pub mod ops_clients;
pub mod ops_keys;
pub mod par;
pub mod schemas;
pub mod session;
pub mod token;
pub mod user_info;
