//! Client authentication at the token, introspection and revocation
//! endpoints: HTTP Basic, form post, or none for public clients (RFC 6749 §2.3).

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tollgate_store::model::{Client, ClientType};

use super::error::OAuthError;
use super::form::{percent_decode, OAuthForm};
use crate::state::Services;

/// Credentials as presented, before checking them.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None { id: String },
}

/// Reads `Authorization: Basic` (case-insensitive scheme) if present.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_client("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "client authentication must use the Basic scheme",
        ));
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    // RFC 6749 asks for form-encoding, but many clients send credentials raw:
    // text that is not valid percent-encoding is taken as it is.
    let id = percent_decode(id).unwrap_or_else(|| id.to_string());
    let secret = percent_decode(secret).unwrap_or_else(|| secret.to_string());
    Ok(Some((id, secret)))
}

pub fn presented(headers: &HeaderMap, form: &OAuthForm) -> Result<Presented, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    match basic_credentials(headers)? {
        Some((id, secret)) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and client_secret together",
                ));
            }
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            Ok(Presented::Basic { id, secret })
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Ok(Presented::Post {
                id: id.to_string(),
                secret: secret.to_string(),
            }),
            (Some(id), None) => Ok(Presented::None { id: id.to_string() }),
            (None, _) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
        },
    }
}

/// Authenticates the calling client, recording failures in the audit trail.
pub async fn authenticate(
    state: &Services,
    headers: &HeaderMap,
    form: &OAuthForm,
    ip: Option<&str>,
) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(headers, form)?;
    let (id, secret) = match &presented {
        Presented::Basic { id, secret } | Presented::Post { id, secret } => {
            (id.as_str(), Some(secret.as_str()))
        }
        Presented::None { id } => (id.as_str(), None),
    };
    let fail = |reason: &'static str| {
        state.audit(
            "client.auth_failed",
            Some(id),
            None,
            None,
            ip,
            json!({"reason": reason}),
        );
        OAuthError::invalid_client("client authentication failed")
    };
    let Some(client) = state.client(id) else {
        return Err(fail("unknown client"));
    };
    match (client.client_type, secret, client.secret_hash.as_deref()) {
        (ClientType::Public, None, _) => Ok(client),
        (ClientType::Public, Some(_), _) => Err(fail("public client presented a secret")),
        (ClientType::Confidential, None, _) => Err(fail("missing secret")),
        (ClientType::Confidential, Some(_), None) => Err(fail("client has no secret")),
        (ClientType::Confidential, Some(secret), Some(hash)) => {
            if state.secrets.verify(&client.client_id, hash, secret).await {
                Ok(client)
            } else {
                Err(fail("wrong secret"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_is_parsed_and_decoded() {
        let h = headers(&format!("basic {}", STANDARD.encode("my%20app:s%3Acret")));
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my app".into(), "s:cret".into()))
        );
    }

    #[test]
    fn two_methods_are_refused() {
        let h = headers(&format!("Basic {}", STANDARD.encode("a:b")));
        let f = OAuthForm::parse(b"client_secret=b").unwrap();
        assert_eq!(presented(&h, &f).unwrap_err().code, "invalid_request");
    }

    #[test]
    fn mismatched_client_id_is_refused() {
        let h = headers(&format!("Basic {}", STANDARD.encode("a:b")));
        let f = OAuthForm::parse(b"client_id=other").unwrap();
        assert_eq!(presented(&h, &f).unwrap_err().code, "invalid_request");
    }

    #[test]
    fn garbage_basic_is_invalid_client() {
        assert_eq!(
            basic_credentials(&headers("Basic !!!")).unwrap_err().code,
            "invalid_client"
        );
        assert_eq!(
            basic_credentials(&headers("Bearer x")).unwrap_err().code,
            "invalid_client"
        );
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {}", STANDARD.encode("nocolon"))))
                .unwrap_err()
                .code,
            "invalid_client"
        );
    }

    #[test]
    fn public_client_by_form() {
        let f = OAuthForm::parse(b"client_id=spa").unwrap();
        assert_eq!(
            presented(&HeaderMap::new(), &f).unwrap(),
            Presented::None { id: "spa".into() }
        );
        assert_eq!(
            presented(&HeaderMap::new(), &OAuthForm::default())
                .unwrap_err()
                .code,
            "invalid_client"
        );
    }
}
