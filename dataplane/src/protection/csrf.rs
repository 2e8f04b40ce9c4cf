//! Synchronizer CSRF tokens bound to a pre-session cookie (`tollgate_csrf`):
//! the store keeps the token under the cookie's digest.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::sessions::{cookie, set_cookie, CSRF_COOKIE};
use crate::state::Services;
use crate::tokens;

const TTL: Duration = Duration::from_secs(12 * 3600);

fn key(cookie: &str) -> String {
    format!("csrf:{}", tokens::token_digest(cookie))
}

/// The token for a form, and the cookie to set when the browser has none yet.
pub async fn token(
    state: &Services,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), tollgate_store::StoreError> {
    if let Some(c) = cookie(state, headers, CSRF_COOKIE) {
        if let Some(t) = state.ephemeral.get(&key(c)).await? {
            if let Ok(t) = String::from_utf8(t) {
                return Ok((t, None));
            }
        }
    }
    let c = tokens::random_token();
    let t = tokens::random_token();
    state.ephemeral.put(&key(&c), t.as_bytes(), TTL).await?;
    Ok((t, set_cookie(state, CSRF_COOKIE, &c)))
}

/// True when the form's token is the one bound to the browser's cookie.
pub async fn verify(
    state: &Services,
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Result<bool, tollgate_store::StoreError> {
    let (Some(c), Some(p)) = (cookie(state, headers, CSRF_COOKIE), presented) else {
        return Ok(false);
    };
    let Some(expected) = state.ephemeral.get(&key(c)).await? else {
        return Ok(false);
    };
    Ok(expected.ct_eq(p.as_bytes()).into())
}
