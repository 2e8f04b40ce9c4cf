//! Pushed authorization requests (RFC 9126), the keeping part: a pushed
//! request's parameters wait in the ephemeral store for [`PUSHED_TTL`]
//! under a random reference, and are taken once. Checking a request when it
//! is pushed and reading it back at the authorization endpoint are
//! `crate::oauth::authorize`'s.

use std::time::Duration;

use serde::Serialize;

use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::services::Services;
use crate::tokens;

/// RFC 9126 §2.2: the prefix of every `request_uri` this server hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request waits for the browser (RFC 9126 §2.2 suggests
/// a short lifetime; the browser follows the client's redirect at once).
pub const PUSHED_TTL: Duration = Duration::from_secs(60);

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: u64,
}

fn pushed_key(reference: &str) -> String {
    format!("par:{}", tokens::token_digest(reference))
}

/// Keeps checked parameters; the `request_uri` that refers to them.
pub async fn keep(state: &Services, params: &OAuthForm) -> Result<Pushed, OAuthError> {
    let reference = tokens::random_token();
    let bytes = serde_json::to_vec(&params.0).map_err(|_| OAuthError::server_error())?;
    state
        .ephemeral
        .put(&pushed_key(&reference), &bytes, PUSHED_TTL)
        .await?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: PUSHED_TTL.as_secs(),
    })
}

/// Whether `request_uri` is one of this server's (it may still be unknown).
pub fn reference(request_uri: &str) -> Option<&str> {
    request_uri.strip_prefix(REQUEST_URI_PREFIX)
}

/// The parameters kept under `reference`, taken: a request URI works once.
/// `Ok(None)` when unknown, used or expired.
pub async fn take(
    state: &Services,
    reference: &str,
) -> Result<Option<OAuthForm>, tollgate_store::StoreError> {
    Ok(state
        .ephemeral
        .take(&pushed_key(reference))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(OAuthForm))
}
