//! A sign-in in flight at an identity provider: what the provider's answer
//! needs (PKCE verifier and nonce, AuthnRequest id, the pending
//! authorization request), kept in the ephemeral store under the digest of
//! the round trip's opaque key (OIDC `state`, SAML `RelayState`) for ten
//! minutes and taken once. It is bound to the browser that started it by a
//! cookie, so an answer meant for one browser cannot sign in another (login
//! CSRF).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use tollgate_core::services::Services;
use tollgate_core::sessions;
use tollgate_core::tokens::{random_token, token_digest};

const TTL: Duration = Duration::from_secs(600);

/// Which protocol's flights: their store prefix and binding cookie.
#[derive(Clone, Copy)]
pub struct Kind {
    prefix: &'static str,
    cookie: &'static str,
    /// The answer arrives by a cross-site POST (SAML HTTP-POST binding), which
    /// a `SameSite=Lax` cookie would not accompany.
    cross_site_post: bool,
}

pub const OIDC: Kind = Kind {
    prefix: "oidc:flight:",
    cookie: "tollgate_oidc",
    cross_site_post: false,
};

pub const SAML: Kind = Kind {
    prefix: "saml:flight:",
    cookie: "tollgate_saml",
    cross_site_post: true,
};

/// An SP-initiated SAML logout waiting for the IdP's LogoutResponse.
pub const SAML_LOGOUT: Kind = Kind {
    prefix: "saml:logout:",
    cookie: "tollgate_saml_logout",
    cross_site_post: true,
};

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    /// The cookie value given to the browser.
    browser: String,
    flight: T,
}

fn key(kind: Kind, round_trip: &str) -> String {
    format!("{}{}", kind.prefix, token_digest(round_trip))
}

/// Stores `flight` under `round_trip`; returns the cookie binding it to the browser.
pub async fn save<T: Serialize>(
    services: &Services,
    kind: Kind,
    round_trip: &str,
    flight: &T,
) -> Result<Option<HeaderValue>, tollgate_store::StoreError> {
    let stored = Stored {
        browser: random_token(),
        flight,
    };
    let bytes = serde_json::to_vec(&stored)
        .map_err(|e| tollgate_store::StoreError::Corrupt(e.to_string()))?;
    services
        .ephemeral
        .put(&key(kind, round_trip), &bytes, TTL)
        .await?;
    Ok(if kind.cross_site_post {
        sessions::set_cross_site_cookie(services, kind.cookie, &stored.browser)
    } else {
        sessions::set_cookie(services, kind.cookie, &stored.browser)
    })
}

pub fn clear_cookie(services: &Services, kind: Kind) -> Option<HeaderValue> {
    sessions::clear_cookie(services, kind.cookie)
}

/// Takes the flight of `round_trip` (once); the inner error is the refusal reason.
pub async fn take<T: DeserializeOwned>(
    services: &Services,
    kind: Kind,
    round_trip: &str,
    headers: &HeaderMap,
) -> Result<Result<T, &'static str>, tollgate_store::StoreError> {
    let Some(bytes) = services.ephemeral.take(&key(kind, round_trip)).await? else {
        return Ok(Err("unknown, expired or used state"));
    };
    let Ok(stored) = serde_json::from_slice::<Stored<T>>(&bytes) else {
        return Ok(Err("unreadable state record"));
    };
    let cookie = sessions::cookie(services, headers, kind.cookie).unwrap_or("");
    if !bool::from(cookie.as_bytes().ct_eq(stored.browser.as_bytes())) {
        return Ok(Err("state not started by this browser"));
    }
    Ok(Ok(stored.flight))
}
