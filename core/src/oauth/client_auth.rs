//! Client authentication at the token, introspection and revocation
//! endpoints: HTTP Basic, form post, or none for public clients (RFC 6749
//! §2.3), and a JWT (RFC 7523 §2.2 and OIDC Core §9) signed with the
//! client's private key (`private_key_jwt`) or MACed with its secret
//! (`client_secret_jwt`), or a client certificate (RFC 8705:
//! `tls_client_auth`, `self_signed_tls_client_auth`). Each client is pinned
//! to the one method it is registered with.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, HeaderMap};
use serde_json::json;
use tollgate_store::model::{now, Client, ClientAuthMethod};

use crate::oauth::assertion::{self, AssertionError, Expect, Keys};
use crate::oauth::error::OAuthError;
use crate::oauth::form::{percent_decode, OAuthForm};
use crate::oauth::mtls::ClientCert;
use crate::services::{AuthSettings, Services};

/// Credentials as presented, before checking them.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    None {
        id: String,
    },
    /// `client_assertion`; the client is the form's `client_id` or else the
    /// assertion's `sub`.
    Jwt {
        id: String,
        assertion: String,
    },
}

/// `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest accepted client assertion (`exp - iat`). An hour is what common
/// client libraries (authlib among them) sign by default; each `jti` is
/// single use whatever the lifetime.
const MAX_LIFETIME: i64 = 3600;

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
    let assertion_type = form.get("client_assertion_type");
    let client_assertion = form.get("client_assertion");
    if assertion_type.is_some() || client_assertion.is_some() {
        if form_secret.is_some() || headers.contains_key(header::AUTHORIZATION) {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not client_assertion and a secret",
            ));
        }
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION}"
            )));
        }
        let assertion = client_assertion
            .ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        let id = match form_id {
            Some(id) => id.to_string(),
            None => assertion::unverified_claim(assertion, "sub").ok_or_else(|| {
                OAuthError::invalid_client("the client assertion names no client (sub)")
            })?,
        };
        return Ok(Presented::Jwt {
            id,
            assertion: assertion.to_string(),
        });
    }
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
/// `cert` is the request's client certificate, if any.
pub async fn authenticate(
    state: &Services,
    headers: &HeaderMap,
    form: &OAuthForm,
    ip: Option<&str>,
    cert: Option<&ClientCert>,
) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(headers, form)?;
    let id = match &presented {
        Presented::Basic { id, .. }
        | Presented::Post { id, .. }
        | Presented::None { id }
        | Presented::Jwt { id, .. } => id.as_str(),
    };
    let fail = |reason: &str| {
        state
            .audit("client.auth_failed")
            .client(id)
            .ip(ip)
            .detail(json!({"reason": reason}))
            .record();
        OAuthError::invalid_client("client authentication failed")
    };
    let Some(client) = state.client(id) else {
        return Err(fail("unknown client"));
    };
    match (client.auth_method, &presented) {
        (ClientAuthMethod::None, Presented::None { .. }) => Ok(client),
        (
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth,
            Presented::None { .. },
        ) => match certificate_fits(&client, cert) {
            Ok(()) => Ok(client),
            Err(why) => Err(fail(why)),
        },
        (
            ClientAuthMethod::ClientSecret,
            Presented::Basic { secret, .. } | Presented::Post { secret, .. },
        ) => match client.secret_hash.as_deref() {
            Some(hash) if state.secrets.verify(&client.client_id, hash, secret).await => Ok(client),
            Some(_) => Err(fail("wrong secret")),
            None => Err(fail("client has no secret")),
        },
        (
            ClientAuthMethod::PrivateKeyJwt | ClientAuthMethod::ClientSecretJwt,
            Presented::Jwt { assertion, .. },
        ) => match verify_assertion(state, &client, assertion).await {
            Ok(()) => Ok(client),
            Err(AssertionError::KeysUnavailable) => {
                fail(&AssertionError::KeysUnavailable.to_string());
                Err(OAuthError::temporarily_unavailable(30))
            }
            Err(e) => Err(fail(&e.to_string())),
        },
        (_, Presented::None { .. }) => Err(fail("missing credentials")),
        (method, _) => Err(fail(match method {
            ClientAuthMethod::ClientSecret => "the client must authenticate with its secret",
            ClientAuthMethod::PrivateKeyJwt => "the client must authenticate with private_key_jwt",
            ClientAuthMethod::ClientSecretJwt => {
                "the client must authenticate with client_secret_jwt"
            }
            ClientAuthMethod::None => "a public client presented credentials",
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth => {
                "the client must authenticate with its TLS client certificate"
            }
        })),
    }
}

/// RFC 8705 §2: the request's certificate authenticates `client`: chained
/// to the client CA and naming the client (§2.1), or one it registered (§2.2).
fn certificate_fits(client: &Client, cert: Option<&ClientCert>) -> Result<(), &'static str> {
    let cert = cert.ok_or("no client certificate")?;
    match (client.auth_method, &client.tls_client_auth_subject) {
        (ClientAuthMethod::TlsClientAuth, _) if !cert.chained => {
            Err("the client certificate is not from the client CA")
        }
        (ClientAuthMethod::TlsClientAuth, Some(name)) if cert.has_name(name) => Ok(()),
        (ClientAuthMethod::TlsClientAuth, _) => {
            Err("the client certificate does not carry the registered name")
        }
        _ if client.jwks.as_ref().is_some_and(|j| cert.in_jwks(j)) => Ok(()),
        _ => Err("the client certificate is not one the client registered"),
    }
}

/// The `aud` a client assertion must carry: this server's issuer
/// identifier, so an assertion made for any other URL (one an attacker's
/// metadata pointed the client at, say) is useless here
/// (draft-ietf-oauth-rfc7523bis). The token endpoint only where a
/// deployment opts in for clients of RFC 7523's older wording; never the
/// introspection or revocation endpoint.
fn assertion_audiences(settings: &AuthSettings) -> Vec<String> {
    let iss = &settings.issuer;
    let mut audiences = vec![iss.clone()];
    if settings.client_assertion_token_endpoint_audience {
        audiences.push(crate::oauth::endpoints::token_endpoint(iss));
    }
    audiences
}

/// RFC 7523 §3: `iss` and `sub` are the client, `aud` is this server (see
/// `assertion_audiences`), signed with an asymmetric key of the client's
/// keys or, for `client_secret_jwt`, MACed with its secret (HMAC algorithms
/// only, so a signature can never be checked against the wrong kind of key).
async fn verify_assertion(
    state: &Services,
    client: &Client,
    token: &str,
) -> Result<(), AssertionError> {
    let audiences = assertion_audiences(&state.settings);
    let (keys, family) = match (client.auth_method, &client.hmac_secret) {
        (ClientAuthMethod::ClientSecretJwt, Some(secret)) => {
            (Keys::Secret(secret.expose().as_bytes()), assertion::HMAC)
        }
        (ClientAuthMethod::ClientSecretJwt, None) => return Err(AssertionError::UnknownKey),
        _ => (
            Keys::Public {
                jwks: client.jwks.as_ref(),
                jwks_uri: client.jwks_uri.as_deref(),
            },
            assertion::ASYMMETRIC,
        ),
    };
    let algorithms: Vec<String> = family.iter().map(|a| a.to_string()).collect();
    assertion::accept(
        state,
        keys,
        &algorithms,
        &Expect {
            issuer: &client.client_id,
            subject: Some(&client.client_id),
            audiences: &audiences,
            max_lifetime: MAX_LIFETIME,
        },
        token,
        "client-assertion",
        now(),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
