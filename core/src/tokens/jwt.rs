//! JWTs Tollgate signs and verifies (access tokens, RFC 9068; ID tokens,
//! OpenID Connect Core), and the random opaque tokens and their digests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_store::model::Timestamp;

use super::keyring::Keyring;

/// Claims of an access token. Standard claims first (RFC 9068 §2.2), then the
/// Genesys-compatible ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_center_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbid: Option<i64>,
    #[serde(default)]
    pub authorities: Vec<String>,
    /// The refresh-token family that issued this token, so sign-out can end both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The browser session the user signed in with, so ending it (sign-out,
    /// single logout) ends the tokens issued through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_session: Option<String>,
    /// RFC 8693 §4.1: the actor of a delegated token, nested for a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// RFC 7800: what the token is bound to; it is only accepted with a
    /// DPoP proof signed by that key (RFC 9449 §6.1), over a connection
    /// with that client certificate (RFC 8705 §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Claims the authorization request's `claims` parameter asked the
    /// userinfo endpoint for (OIDC Core §5.5), beyond the scopes' own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
}

/// A token's confirmation claim (RFC 7800): the SHA-256 thumbprint of a
/// DPoP key (RFC 9449 §6.1) and/or of a client certificate (RFC 8705 §3.1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

impl AccessClaims {
    pub fn is_user(&self) -> bool {
        self.user_name.is_some()
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no signing key is available")]
    NoKey,
    #[error("signing failed")]
    Sign,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's key is unknown")]
    UnknownKey,
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    /// An opaque token could not be looked up: neither valid nor invalid.
    #[error("the token store is unavailable")]
    Unavailable,
}

/// `typ` and `aud` of the user-info JWT of convert-token and jwt-userinfo.
pub const USER_INFO_TYP: &str = "gws-user+jwt";
pub const USER_INFO_AUDIENCE: &str = "urn:tollgate:gws-user";

/// Signs claims as a compact JWS with the current key and the given `typ`.
pub fn sign<T: Serialize>(
    keyring: &Keyring,
    typ: &str,
    claims: &T,
    now: Timestamp,
) -> Result<String, TokenError> {
    let key = keyring.signing_key(now).ok_or(TokenError::NoKey)?;
    let header = serde_json::json!({"alg": key.algorithm.as_str(), "typ": typ, "kid": key.kid});
    let header = serde_json::to_vec(&header).map_err(|_| TokenError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Sign)?;
    let mut input = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 4);
    B64.encode_string(header, &mut input);
    input.push('.');
    B64.encode_string(payload, &mut input);
    key.sign_compact(input).map_err(|_| TokenError::Sign)
}

/// Verifies an access token's signature, `typ`, issuer, audience and expiry.
/// Revocation and tenant checks are the caller's (they need live state).
pub fn verify_access(
    keyring: &Keyring,
    issuer: &str,
    audience: &str,
    token: &str,
    leeway: u64,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if !header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    }) {
        return Err(TokenError::Invalid);
    }
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    let (key, alg) = keyring.decoding_key(&kid).ok_or(TokenError::UnknownKey)?;
    // The algorithm comes from our key, never from the token header (no alg confusion).
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.leeway = leeway;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    match jsonwebtoken::decode::<AccessClaims>(token, &key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        }),
    }
}

/// Verifies an ID token this server issued (`id_token_hint`): signature and
/// issuer only, since an expired ID token is still a fine hint. Returns the claims.
pub fn verify_id_token_hint(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
) -> Result<serde_json::Value, TokenError> {
    decode_id_token(keyring, issuer, token, None)
}

/// Verifies an ID token this server issued as a credential (a token-exchange
/// subject): like the hint, and it must not have expired.
pub fn verify_id_token(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
    leeway: u64,
) -> Result<serde_json::Value, TokenError> {
    decode_id_token(keyring, issuer, token, Some(leeway))
}

fn decode_id_token(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
    expiry_leeway: Option<u64>,
) -> Result<serde_json::Value, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    // Our ID tokens are typed `JWT`; access tokens and user-info JWTs are
    // signed with the same keys but typed otherwise.
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
    {
        return Err(TokenError::Invalid);
    }
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    let (key, alg) = keyring.decoding_key(&kid).ok_or(TokenError::UnknownKey)?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    match expiry_leeway {
        Some(leeway) => {
            validation.leeway = leeway;
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        }
        None => {
            validation.validate_exp = false;
            validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        }
    }
    match jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation) {
        // Every ID token names its client in `azp` too; the user-info JWTs
        // issued before they had their own `typ` do not, nor does any other
        // JWT this server signs.
        Ok(d) if !is_id_token(&d.claims) => Err(TokenError::Invalid),
        Ok(d) => Ok(d.claims),
        Err(e) => Err(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        }),
    }
}

fn is_id_token(claims: &serde_json::Value) -> bool {
    let azp = claims.get("azp").and_then(serde_json::Value::as_str);
    azp.is_some() && claims.get("aud").and_then(serde_json::Value::as_str) == azp
}

/// The `sub` of a user's tokens: the contact center and the user name,
/// case-folded (directories compare names without case).
pub fn user_subject(contact_center_id: &str, user_name: &str) -> String {
    format!("{contact_center_id}:{}", user_name.to_lowercase())
}

/// `at_hash` / `c_hash`: left half of SHA-256 (all our algorithms hash with SHA-256).
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    B64.encode(&digest[..16])
}

/// A fresh opaque token value: 256 random bits, base64url.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// Refresh tokens are stored only as this digest.
pub fn token_digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_store::model::KeyAlgorithm;

    #[test]
    fn half_hash_matches_oidc_example_shape() {
        // 16 bytes → 22 base64url characters.
        assert_eq!(half_hash("abc").len(), 22);
    }

    #[test]
    fn random_tokens_differ_and_digest_is_hex() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(token_digest(&a).len(), 64);
    }

    #[test]
    fn access_claims_round_trip_skips_empty_user_fields() {
        let c = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "*".into(),
            auth_time: None,
            contact_center_id: None,
            environment_id: None,
            user_name: None,
            dbid: None,
            authorities: vec![],
            sid: None,
            browser_session: None,
            act: None,
            cnf: None,
            userinfo_claims: vec![],
        };
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("user_name").is_none());
        assert!(!c.is_user());
        let _ = KeyAlgorithm::ES256;
    }
}
