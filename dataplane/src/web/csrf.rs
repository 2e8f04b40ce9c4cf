//! Stateless CSRF tokens (signed double submit): the browser holds a random
//! pre-session cookie (`tollgate_csrf`) and each form carries an HMAC of it
//! under the server's key. Nothing is stored, so anonymous page loads cannot
//! grow the ephemeral store, and every replica sharing the key checks them.

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use tollgate_core::services::Services;
use tollgate_core::sessions::{cookie, set_cookie, CSRF_COOKIE};
use tollgate_core::tokens;

/// A cookie longer than a random token is not one of ours.
const MAX_COOKIE: usize = 128;

fn bound_cookie<'a>(state: &Services, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(state, headers, CSRF_COOKIE).filter(|c| c.len() <= MAX_COOKIE)
}

fn token_for(state: &Services, cookie: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.db.cipher().mac("csrf", cookie.as_bytes()))
}

/// The token for a form, and the cookie to set when the browser has none yet.
pub fn token(state: &Services, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(c) = bound_cookie(state, headers) {
        return (token_for(state, c), None);
    }
    let c = tokens::random_token();
    (token_for(state, &c), set_cookie(state, CSRF_COOKIE, &c))
}

/// True when the form's token is the one bound to the browser's cookie.
pub fn verify(state: &Services, headers: &HeaderMap, presented: Option<&str>) -> bool {
    let (Some(c), Some(p)) = (bound_cookie(state, headers), presented) else {
        return false;
    };
    token_for(state, c).as_bytes().ct_eq(p.as_bytes()).into()
}
