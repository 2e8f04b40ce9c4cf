//! The parts of an OAuth client both the ops client API and the operator set.

use crate::model::ExchangePolicy;

/// An RFC 8693 policy names clients and audiences; an empty name is a mistake.
pub fn check_exchange_policy(p: &ExchangePolicy) -> Result<(), String> {
    if p.subject_clients
        .iter()
        .chain(&p.subject_issuers)
        .chain(&p.audiences)
        .any(|s| s.trim().is_empty())
    {
        return Err(
            "tokenExchange: subjectClients, subjectIssuers and audiences must not contain \
             empty names"
                .into(),
        );
    }
    Ok(())
}

/// Shortest `client_secret_jwt` secret: HS256 wants a key at least as long
/// as its output (RFC 7518 §3.2).
pub const MIN_HMAC_SECRET: usize = 32;

pub fn check_hmac_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_HMAC_SECRET {
        return Err(format!(
            "a client_secret_jwt client_secret must be at least {MIN_HMAC_SECRET} bytes"
        ));
    }
    Ok(())
}
