//! Tollgate's own endpoint URLs that protocol checks compare against.

/// The token endpoint's URL: an assertion's audience or recipient.
pub fn token_endpoint(issuer: &str) -> String {
    format!("{issuer}/auth/v3/oauth/token")
}
