//! Secret hashing and verification live in the store crate, shared with the
//! operator so both hash and check client secrets the same way.

pub use tollgate_store::secrets::*;
