//! Public keys given by an operator (trusted issuers, `private_key_jwt`
//! clients): a JWK Set inline, and/or a URL it is fetched from.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

/// The only algorithms a signed assertion may use: asymmetric ones.
pub const ASYMMETRIC: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Checks a JWK Set given by an operator: public asymmetric keys only, each
/// with a distinct `kid` when there are several.
pub fn check_public_jwks(v: &Value) -> Result<JwkSet, String> {
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("must be a JWK Set: {\"keys\": [...]}")?;
    if keys.is_empty() {
        return Err("has no keys".into());
    }
    for k in keys {
        // Private parts of RSA, EC and OKP keys, and any symmetric key.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|p| k.get(p).is_some())
        {
            return Err("must hold public keys only (no private or symmetric keys)".into());
        }
    }
    let set: JwkSet =
        serde_json::from_value(v.clone()).map_err(|e| format!("is not a valid JWK Set: {e}"))?;
    let mut kids: Vec<&str> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect();
    if set.keys.len() > 1 && kids.len() != set.keys.len() {
        return Err("needs a kid on every key when it has several".into());
    }
    kids.sort_unstable();
    if kids.windows(2).any(|w| w[0] == w[1]) {
        return Err("has two keys with the same kid".into());
    }
    if let Some(k) = set.keys.iter().find(|k| DecodingKey::from_jwk(k).is_err()) {
        return Err(format!(
            "has a key that cannot verify signatures ({})",
            k.common.key_id.as_deref().unwrap_or("without kid")
        ));
    }
    Ok(set)
}

/// A JWKS URL: HTTPS, or plain http for localhost only.
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| format!("jwksUri: '{uri}' {why}");
    let u = url::Url::parse(uri).map_err(|_| bad("is not an absolute URL"))?;
    match (u.scheme(), u.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("localhost" | "127.0.0.1" | "[::1]")) => Ok(()),
        _ => Err(bad("must use https (plain http only for localhost)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operator_keys_must_be_public_and_named() {
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(check_public_jwks(&json!({"keys": [ec]})).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(check_public_jwks(&json!({"keys": [private]})).is_err());
        assert!(check_public_jwks(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
        let mut b = ec.clone();
        b["kid"] = json!("a");
        assert!(check_public_jwks(&json!({"keys": [ec.clone(), b]})).is_err());
        assert!(check_public_jwks(&json!({"keys": []})).is_err());
        assert!(check_public_jwks(&json!([ec])).is_err());
    }

    #[test]
    fn jwks_uris_use_https_except_on_loopback() {
        assert!(check_jwks_uri("https://idp.example/jwks").is_ok());
        assert!(check_jwks_uri("http://localhost:8080/jwks").is_ok());
        assert!(check_jwks_uri("http://idp.example/jwks").is_err());
        assert!(check_jwks_uri("/jwks").is_err());
    }
}
