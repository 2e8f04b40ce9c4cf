//! Token minting and verification: JWT access tokens (RFC 9068), ID tokens
//! (OpenID Connect Core), opaque access tokens and opaque refresh tokens.

pub mod import;
mod jwt;
pub mod keyring;
pub mod keys;
pub mod opaque;
pub mod verified;

pub use jwt::{
    half_hash, random_token, sign, token_digest, user_subject, verify_access, verify_id_token,
    verify_id_token_hint, AccessClaims, Confirmation, TokenError, USER_INFO_AUDIENCE,
    USER_INFO_TYP,
};
pub use keyring::{KeyPolicy, Keyring};
