//! ID token checks (through `openidconnect`) and the claim mapping that
//! turns a verified token into a [`FederatedIdentity`]. Plain functions over
//! the provider's metadata, so tests drive them without a network.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use tollgate_store::model::OidcProviderConfig;

use crate::federation::users::FederatedIdentity;

/// The longest accepted age of an ID token at the callback: it was minted
/// for this code exchange moments ago.
const MAX_AGE_SECS: i64 = 600;

/// Only asymmetric signatures: an HMAC "signed" with a public key or with
/// the client secret proves nothing about the provider.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdTokenError {
    /// No key of the provider's JWK set matches; the set may have rotated.
    #[error("no key of the provider matches the ID token's kid")]
    UnknownKey,
    #[error("invalid ID token: {0}")]
    Invalid(String),
}

/// Verifies the ID token: signature with the provider's JWK set (asymmetric
/// algorithms only), `iss`, `aud` (and `azp` when there are several
/// audiences or it is present), `exp` and `iat` within `leeway` seconds,
/// and `nonce`. Returns all of its claims.
pub fn verify(
    metadata: &crate::federation::oidc::discovery::Metadata,
    client_id: &str,
    token: &CoreIdToken,
    nonce: &str,
    leeway: i64,
) -> Result<Map<String, Value>, IdTokenError> {
    let skew = chrono::Duration::seconds(leeway);
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_string()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(ALGORITHMS)
    // `exp` is checked against this time: a clock slightly ahead of the provider's is forgiven.
    .set_time_fn(move || chrono::Utc::now() - skew)
    .set_issue_time_verifier_fn(move |iat| {
        let now = chrono::Utc::now();
        if iat > now + skew {
            Err(format!("issued in the future ({iat})"))
        } else if iat < now - chrono::Duration::seconds(MAX_AGE_SECS) - skew {
            Err(format!("issued too long ago ({iat})"))
        } else {
            Ok(())
        }
    });
    let expected = nonce.as_bytes().to_vec();
    let checked = token.claims(&verifier, move |got: Option<&Nonce>| match got {
        Some(n) if bool::from(n.secret().as_bytes().ct_eq(&expected)) => Ok(()),
        Some(_) => Err("the nonce does not match".to_string()),
        None => Err("the nonce is missing".to_string()),
    });
    if let Err(e) = checked {
        return Err(match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => IdTokenError::UnknownKey,
            other => IdTokenError::Invalid(crate::federation::oidc::discovery::error_chain(&other)),
        });
    }
    // The library verified the token; its claims are read as JSON for the
    // mapping (the configured claim names may be any).
    let claims = raw_claims(&token.to_string())
        .ok_or_else(|| IdTokenError::Invalid("unreadable claims".into()))?;
    let audiences = match claims.get("aud") {
        Some(Value::Array(a)) => a.len(),
        _ => 1,
    };
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => {}
        Some(_) => return Err(IdTokenError::Invalid("azp is not this client".into())),
        None if audiences > 1 => {
            return Err(IdTokenError::Invalid("several audiences and no azp".into()))
        }
        None => {}
    }
    Ok(claims)
}

fn raw_claims(compact: &str) -> Option<Map<String, Value>> {
    let payload = compact.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("the claim {0} naming the user is missing or empty")]
    NoUsername(String),
    #[error("the user's email is not verified by the provider")]
    EmailNotVerified,
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Whether the mapping needs claims the ID token lacks (then userinfo is asked).
pub fn misses_claims(p: &OidcProviderConfig, claims: &Map<String, Value>) -> bool {
    let c = &p.claims;
    [&c.username, &c.first_name, &c.last_name, &c.email]
        .into_iter()
        .chain(p.groups_claim.as_ref())
        .any(|name| !claims.contains_key(name.as_str()))
}

/// The identity the provider vouches for, by the contact center's mapping.
pub fn identity(
    p: &OidcProviderConfig,
    claims: &Map<String, Value>,
) -> Result<FederatedIdentity, MappingError> {
    let username = string_claim(claims, &p.claims.username)
        .ok_or_else(|| MappingError::NoUsername(p.claims.username.clone()))?;
    // An address the provider has not verified names nobody in particular.
    if p.claims.username == "email" && claims.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(MappingError::EmailNotVerified);
    }
    let groups: Vec<String> = match p.groups_claim.as_ref().and_then(|g| claims.get(g)) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    };
    let mut authorities: Vec<String> = vec![];
    for g in &p.group_authorities {
        if groups.contains(&g.group) && !authorities.contains(&g.authority) {
            authorities.push(g.authority.clone());
        }
    }
    Ok(FederatedIdentity {
        username,
        first_name: string_claim(claims, &p.claims.first_name),
        last_name: string_claim(claims, &p.claims.last_name),
        email: string_claim(claims, &p.claims.email),
        authorities,
        provider: p.issuer.clone(),
    })
}
