//! The rules of an OAuth client record, for every writer: the ops client
//! API and the operator call [`check_client`] on the record they are about
//! to store, so a client refused by one is refused by the other.

use crate::model::grant_type::{
    CLIENT_CREDENTIALS, JWT_BEARER, PASSWORD, SAML2_BEARER, TOKEN_EXCHANGE,
};
use crate::model::{Client, ClientAuthMethod, ClientType, ExchangePolicy};
use crate::validate::{check_jwks_uri, check_public_jwks};

/// Grants only a client that can keep a secret may hold: each turns a
/// credential other than a browser sign-in at this server (a client's own,
/// a user's password, another token or an assertion) into tokens, and a
/// public client's id is no proof of who is asking (RFC 9700 §2.4, RFC 8693
/// §2.1, RFC 7521 §4.2).
pub const CONFIDENTIAL_ONLY_GRANTS: [&str; 5] = [
    CLIENT_CREDENTIALS,
    PASSWORD,
    TOKEN_EXCHANGE,
    JWT_BEARER,
    SAML2_BEARER,
];

/// Whether a client of this type may use the grant at all.
pub fn grant_allowed(client_type: ClientType, grant: &str) -> bool {
    client_type == ClientType::Confidential || !CONFIDENTIAL_ONLY_GRANTS.contains(&grant)
}

/// Checks a client record as it will be stored: its authentication method
/// fits its type, a public client holds no grant that needs a secret, the
/// redirect URIs are exact-match safe, the keys belong to its method, and
/// the exchange policy and MAC secret are well formed.
pub fn check_client(c: &Client) -> Result<(), String> {
    check_auth_method(c.client_type, c.auth_method)?;
    if let Some(g) = c
        .authorized_grant_types
        .iter()
        .find(|g| !grant_allowed(c.client_type, g))
    {
        return Err(format!(
            "authorizedGrantTypes: a PUBLIC client cannot use the {g} grant"
        ));
    }
    c.redirect_uris
        .iter()
        .try_for_each(|u| check_redirect_uri(u))?;
    check_keys(c)?;
    if let Some(policy) = &c.token_exchange {
        check_exchange_policy(policy)?;
    }
    if let Some(secret) = &c.hmac_secret {
        check_hmac_secret(secret.expose())?;
    }
    if let Some(b) = &c.backchannel_logout {
        check_backchannel_logout_uri(&b.uri)?;
    }
    Ok(())
}

fn check_auth_method(client_type: ClientType, method: ClientAuthMethod) -> Result<(), String> {
    match (client_type, method) {
        (ClientType::Public, ClientAuthMethod::None)
        | (ClientType::Confidential, ClientAuthMethod::ClientSecret)
        | (ClientType::Confidential, ClientAuthMethod::PrivateKeyJwt)
        | (ClientType::Confidential, ClientAuthMethod::ClientSecretJwt)
        | (ClientType::Confidential, ClientAuthMethod::TlsClientAuth)
        | (ClientType::Confidential, ClientAuthMethod::SelfSignedTlsClientAuth) => Ok(()),
        (ClientType::Public, _) => Err("a PUBLIC client has tokenEndpointAuthMethod none".into()),
        (ClientType::Confidential, _) => {
            Err("tokenEndpointAuthMethod none is for PUBLIC clients only".into())
        }
    }
}

/// Keys are for `private_key_jwt` clients, which need at least one source,
/// and `self_signed_tls_client_auth` ones, which need certificates in
/// `jwks` (`x5c` or `x5t#S256`). The certificate name is for
/// `tls_client_auth` clients only, which need it.
fn check_keys(c: &Client) -> Result<(), String> {
    let has_keys = c.jwks.is_some() || c.jwks_uri.is_some();
    match c.auth_method {
        ClientAuthMethod::PrivateKeyJwt if !has_keys => {
            return Err("a private_key_jwt client needs 'jwks', 'jwksUri' or both".into())
        }
        ClientAuthMethod::PrivateKeyJwt => {}
        ClientAuthMethod::SelfSignedTlsClientAuth => check_certificates(c)?,
        _ if has_keys => {
            return Err(
                "'jwks' and 'jwksUri' are for tokenEndpointAuthMethod private_key_jwt \
                 or self_signed_tls_client_auth"
                    .into(),
            )
        }
        _ => {}
    }
    match (c.auth_method, &c.tls_client_auth_subject) {
        (ClientAuthMethod::TlsClientAuth, None) => return Err(
            "a tls_client_auth client needs 'tlsClientAuth' (its certificate's subject DN or SAN)"
                .into(),
        ),
        (ClientAuthMethod::TlsClientAuth, Some(s)) if s.value().is_empty() => {
            return Err("tlsClientAuth: the value must not be empty".into())
        }
        (ClientAuthMethod::TlsClientAuth, _) | (_, None) => {}
        (_, Some(_)) => {
            return Err("'tlsClientAuth' is for tokenEndpointAuthMethod tls_client_auth".into())
        }
    }
    if let Some(jwks) = &c.jwks {
        check_public_jwks(jwks).map_err(|why| format!("jwks {why}"))?;
    }
    if let Some(uri) = &c.jwks_uri {
        check_jwks_uri(uri)?;
    }
    Ok(())
}

/// RFC 8705 §2.2.2: a self-signed client's certificates are registered
/// inline, each key with `x5c` or `x5t#S256`.
fn check_certificates(c: &Client) -> Result<(), String> {
    let why = "a self_signed_tls_client_auth client needs 'jwks' whose keys carry x5c or x5t#S256";
    if c.jwks_uri.is_some() {
        return Err("a self_signed_tls_client_auth client registers its certificates in 'jwks', not 'jwksUri'".into());
    }
    let keys = c
        .jwks
        .as_ref()
        .and_then(|j| j.get("keys"))
        .and_then(serde_json::Value::as_array)
        .ok_or(why)?;
    let certified = |k: &serde_json::Value| k.get("x5c").is_some() || k.get("x5t#S256").is_some();
    if keys.is_empty() || !keys.iter().all(certified) {
        return Err(why.into());
    }
    Ok(())
}

/// Exact-match redirect URIs (RFC 9700 §4.1): absolute, no fragment, and
/// plain http only for loopback; native apps' private-use schemes (RFC 8252
/// §7.1) contain a dot.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| format!("redirectURIs: '{uri}' {why}");
    let u = url::Url::parse(uri).map_err(|_| bad("is not an absolute URI"))?;
    if u.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(bad(
                "must use https (plain http is allowed only for localhost)",
            )),
        },
        s if s.contains('.') => Ok(()),
        _ => Err(bad(
            "must use https, loopback http, or a reverse-domain private scheme",
        )),
    }
}

/// OIDC Back-Channel Logout 1.0 §2.2: an absolute URI without a fragment.
/// Plain http is allowed: relying parties are often reached inside a
/// cluster, and a logout token is signed, short-lived and names no secret.
pub fn check_backchannel_logout_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| format!("backchannelLogoutUri: '{uri}' {why}");
    let u = url::Url::parse(uri).map_err(|_| bad("is not an absolute URI"))?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err(bad("must be an http or https URL"));
    }
    if u.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    Ok(())
}

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

/// Shortest client secret accepted by default. `--min-client-secret-length`
/// may lower it for a migration (the original's sample payloads register
/// `"client_secret": "secret"`); each shorter secret is then audited.
pub const MIN_CLIENT_SECRET: usize = 8;

/// Whether a client secret is long enough under the configured `minimum`;
/// `Ok(true)` when it is only because the minimum was lowered below
/// [`MIN_CLIENT_SECRET`] (a weak secret to audit).
pub fn check_client_secret(secret: &str, minimum: usize) -> Result<bool, String> {
    let length = secret.chars().count();
    if length < minimum {
        return Err(format!(
            "client_secret must be at least {minimum} characters \
             (setting min-client-secret-length, TOLLGATE_MIN_CLIENT_SECRET_LENGTH)"
        ));
    }
    Ok(length < MIN_CLIENT_SECRET)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::grant_type::{AUTHORIZATION_CODE, REFRESH_TOKEN};

    fn client(client_type: ClientType, grants: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "c".into(),
            description: String::new(),
            secret_hash: None,
            client_type,
            internal_client: false,
            authorities: vec![],
            scope: vec![],
            authorized_grant_types: grants.iter().map(|g| g.to_string()).collect(),
            redirect_uris: vec!["https://app.example/cb".into()],
            access_token_expiration_timeout: 60,
            refresh_token_expiration_timeout: 60,
            contact_center_ids: vec![],
            token_exchange: None,
            auth_method: match client_type {
                ClientType::Public => ClientAuthMethod::None,
                ClientType::Confidential => ClientAuthMethod::ClientSecret,
            },
            jwks: None,
            jwks_uri: None,
            hmac_secret: None,
            require_pushed_authorization_requests: false,
            backchannel_logout: None,
            require_dpop: false,
            access_token_format: crate::model::AccessTokenFormat::Jwt,
            tls_client_auth_subject: None,
            tls_client_certificate_bound_access_tokens: false,
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn public_clients_get_no_grant_that_needs_a_secret() {
        let browser = [AUTHORIZATION_CODE, REFRESH_TOKEN, "implicit"];
        assert_eq!(check_client(&client(ClientType::Public, &browser)), Ok(()));
        for g in CONFIDENTIAL_ONLY_GRANTS {
            let err =
                check_client(&client(ClientType::Public, &[AUTHORIZATION_CODE, g])).expect_err(g);
            assert!(err.contains(g) && err.contains("PUBLIC"), "{err}");
            assert_eq!(
                check_client(&client(ClientType::Confidential, &[g])),
                Ok(())
            );
        }
    }

    #[test]
    fn backchannel_logout_uri_rules() {
        assert!(check_backchannel_logout_uri("https://rp.example/logout?x=1").is_ok());
        assert!(check_backchannel_logout_uri("http://rp.ns.svc:8080/bcl").is_ok());
        assert!(check_backchannel_logout_uri("https://rp.example/logout#f").is_err());
        assert!(check_backchannel_logout_uri("/logout").is_err());
        assert!(check_backchannel_logout_uri("ftp://rp.example/logout").is_err());
        let mut c = client(ClientType::Confidential, &[]);
        c.backchannel_logout = Some(crate::model::BackchannelLogout {
            uri: "mailto:rp@example.com".into(),
            session_required: false,
        });
        assert!(check_client(&c).is_err());
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://localhost:8080/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://app.example.com/cb").is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(check_redirect_uri("/relative").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        let mut c = client(ClientType::Confidential, &[AUTHORIZATION_CODE]);
        c.redirect_uris.push("http://app.example.com/cb".into());
        assert!(check_client(&c).unwrap_err().contains("redirectURIs"));
    }

    #[test]
    fn methods_and_keys_fit_the_client_type() {
        let mut c = client(ClientType::Public, &[AUTHORIZATION_CODE]);
        c.auth_method = ClientAuthMethod::ClientSecret;
        assert!(check_client(&c).is_err());
        let mut c = client(ClientType::Confidential, &[CLIENT_CREDENTIALS]);
        c.auth_method = ClientAuthMethod::None;
        assert!(check_client(&c).is_err());
        c.auth_method = ClientAuthMethod::PrivateKeyJwt;
        assert!(check_client(&c).unwrap_err().contains("jwks"));
        c.auth_method = ClientAuthMethod::ClientSecret;
        c.jwks_uri = Some("https://keys.example/jwks".into());
        assert!(check_client(&c).unwrap_err().contains("private_key_jwt"));
    }
}
