//! An issuer whose RFC 7523 assertions a contact center trusts.

use super::jwks::{check_jwks_uri, check_public_jwks, ASYMMETRIC};
use crate::model::TrustedIssuer;

pub const DEFAULT_MAX_LIFETIME: i64 = 600;
pub const MAX_LIFETIME: std::ops::RangeInclusive<i64> = 1..=86_400;

/// Algorithms accepted when none are given.
pub fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

pub fn check_trusted_issuer(t: &TrustedIssuer) -> Result<(), String> {
    if t.issuer.trim().is_empty() {
        return Err("'issuer' is required".into());
    }
    if t.issuer.len() > 512 {
        return Err("'issuer' must be at most 512 characters".into());
    }
    if t.jwks.is_none() && t.jwks_uri.is_none() {
        return Err("give 'jwks', 'jwksUri' or both".into());
    }
    if let Some(jwks) = &t.jwks {
        check_public_jwks(jwks).map_err(|why| format!("jwks {why}"))?;
    }
    if let Some(uri) = &t.jwks_uri {
        check_jwks_uri(uri)?;
    }
    if t.algorithms.is_empty() {
        return Err("'algorithms' must not be empty".into());
    }
    if let Some(bad) = t
        .algorithms
        .iter()
        .find(|a| !ASYMMETRIC.contains(&a.as_str()))
    {
        return Err(format!(
            "algorithms: '{bad}' is not accepted; use {}",
            ASYMMETRIC.join(", ")
        ));
    }
    if !MAX_LIFETIME.contains(&t.max_lifetime) {
        return Err("'maxLifetime' must be from 1 to 86400 seconds".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_need_keys_asymmetric_algorithms_and_a_bounded_lifetime() {
        let ok = TrustedIssuer {
            issuer: "https://idp.example".into(),
            contact_center_id: "cc".into(),
            jwks: None,
            jwks_uri: Some("https://idp.example/jwks".into()),
            algorithms: default_algorithms(),
            max_lifetime: DEFAULT_MAX_LIFETIME,
            updated_at: 0,
        };
        assert_eq!(check_trusted_issuer(&ok), Ok(()));
        let no_keys = TrustedIssuer {
            jwks_uri: None,
            ..ok.clone()
        };
        assert!(check_trusted_issuer(&no_keys).unwrap_err().contains("jwks"));
        let hmac = TrustedIssuer {
            algorithms: vec!["HS256".into()],
            ..ok.clone()
        };
        assert!(check_trusted_issuer(&hmac).unwrap_err().contains("HS256"));
        let long = TrustedIssuer {
            max_lifetime: 86_401,
            ..ok
        };
        assert!(check_trusted_issuer(&long)
            .unwrap_err()
            .contains("maxLifetime"));
    }
}
