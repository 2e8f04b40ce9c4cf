//! A sign-in in flight at the provider: what the callback needs, kept in the
//! ephemeral store under the digest of `state` for ten minutes and taken
//! once. It is bound to the browser that started it by a cookie, so an
//! answer meant for one browser cannot sign in another (login CSRF).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::sessions;
use crate::state::Services;
use crate::tokens::token_digest;

const TTL: Duration = Duration::from_secs(600);
const COOKIE: &str = "tollgate_oidc";

#[derive(Serialize, Deserialize)]
pub struct Flight {
    pub contact_center_id: String,
    pub issuer: String,
    /// The pending authorization request to continue.
    pub request: Option<String>,
    pub verifier: String,
    pub nonce: String,
    /// The cookie value given to the browser.
    pub browser: String,
}

fn key(state: &str) -> String {
    format!("oidc:flight:{}", token_digest(state))
}

/// Stores the flight; returns the cookie binding it to the browser.
pub async fn save(
    services: &Services,
    state: &str,
    flight: &Flight,
) -> Result<Option<HeaderValue>, tollgate_store::StoreError> {
    let bytes = serde_json::to_vec(flight)
        .map_err(|e| tollgate_store::StoreError::Corrupt(e.to_string()))?;
    services.ephemeral.put(&key(state), &bytes, TTL).await?;
    Ok(sessions::set_cookie(services, COOKIE, &flight.browser))
}

pub fn clear_cookie(services: &Services) -> Option<HeaderValue> {
    sessions::clear_cookie(services, COOKIE)
}

/// Takes the flight of `state` (once); the inner error is the refusal reason.
pub async fn take(
    services: &Services,
    state: &str,
    headers: &HeaderMap,
) -> Result<Result<Flight, &'static str>, tollgate_store::StoreError> {
    let Some(bytes) = services.ephemeral.take(&key(state)).await? else {
        return Ok(Err("unknown, expired or used state"));
    };
    let Ok(flight) = serde_json::from_slice::<Flight>(&bytes) else {
        return Ok(Err("unreadable state record"));
    };
    let cookie = sessions::cookie(headers, COOKIE).unwrap_or("");
    if !bool::from(cookie.as_bytes().ct_eq(flight.browser.as_bytes())) {
        return Ok(Err("state not started by this browser"));
    }
    Ok(Ok(flight))
}
