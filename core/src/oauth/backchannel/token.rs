//! The logout token (OIDC Back-Channel Logout 1.0 §2.4): a JWT signed like
//! an ID token, `typ` `logout+jwt`, naming the user (`sub`) and, when known,
//! the browser session (`sid`); never a `nonce`.

use serde::Serialize;
use tollgate_store::model::Timestamp;

use crate::tokens::{self, Keyring, TokenError};

/// The event a logout token carries.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Seconds a logout token is valid: long enough for its retries.
pub const LIFETIME: i64 = 120;

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: Timestamp,
    exp: Timestamp,
    jti: String,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    events: serde_json::Value,
}

/// A logout token for `client_id` about `sub` (and its session `sid`).
pub fn logout_token(
    keys: &Keyring,
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: Option<&str>,
    now: Timestamp,
) -> Result<String, TokenError> {
    let claims = LogoutClaims {
        iss: issuer,
        aud: client_id,
        iat: now,
        exp: now + LIFETIME,
        jti: uuid::Uuid::new_v4().to_string(),
        sub,
        sid,
        events: serde_json::json!({ EVENT: {} }),
    };
    tokens::sign(keys, "logout+jwt", &claims, now)
}
