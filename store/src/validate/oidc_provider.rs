//! The OpenID Connect provider of a contact center (`auth: oidc`).

use crate::model::{OidcClaims, OidcProviderConfig};

pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];
/// Claims that may name the user: stable and meant as a login name.
pub const USERNAME_CLAIMS: [&str; 3] = ["preferred_username", "email", "sub"];
/// Parameters Tollgate sets itself on every authorization request.
pub const RESERVED_PARAMS: [&str; 10] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "request",
];

/// The standard claims: preferred_username, given_name, family_name, email.
impl Default for OidcClaims {
    fn default() -> Self {
        OidcClaims {
            username: "preferred_username".into(),
            first_name: "given_name".into(),
            last_name: "family_name".into(),
            email: "email".into(),
        }
    }
}

/// `https://`, or `http://` on a loopback host; no query, fragment or user info.
pub fn check_issuer(issuer: &str) -> Result<(), String> {
    let bad = |why: &str| format!("'issuer' {why}");
    let url = url::Url::parse(issuer).map_err(|_| bad("must be an absolute URL"))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be an https:// URL")),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must not have a query, fragment or user info"));
    }
    Ok(())
}

/// A claim or scope name: printable ASCII without spaces or quotes.
fn token_like(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{field}' must be 1-200 printable characters without spaces: '{value}'"
        ))
    }
}

/// Checks everything that can be checked without asking the provider.
/// Messages never contain the client secret.
pub fn check_oidc_provider(c: &OidcProviderConfig) -> Result<(), String> {
    if c.issuer.trim().is_empty() {
        return Err("'issuer' is required".into());
    }
    check_issuer(&c.issuer)?;
    if c.client_id.trim().is_empty() {
        return Err("'clientId' is required".into());
    }
    if c.client_secret.is_empty() {
        return Err("'clientSecret' must not be empty".into());
    }
    for s in &c.scopes {
        token_like("scopes", s)?;
    }
    if !c.scopes.iter().any(|s| s == "openid") {
        return Err("'scopes' must include openid".into());
    }
    if !USERNAME_CLAIMS.contains(&c.claims.username.as_str()) {
        return Err("'claims.username' must be preferred_username, email or sub".into());
    }
    token_like("claims.firstName", &c.claims.first_name)?;
    token_like("claims.lastName", &c.claims.last_name)?;
    token_like("claims.email", &c.claims.email)?;
    if let Some(g) = &c.groups_claim {
        token_like("groupsClaim", g)?;
    }
    if !c.group_authorities.is_empty() && c.groups_claim.is_none() {
        return Err("'groupAuthorities' needs 'groupsClaim'".into());
    }
    if let Some(g) = c
        .group_authorities
        .iter()
        .find(|g| g.group.trim().is_empty() || g.authority.trim().is_empty())
    {
        return Err(format!(
            "groupAuthorities: group '{}' needs a group and an authority",
            g.group
        ));
    }
    for name in c.authorize_params.keys() {
        if RESERVED_PARAMS.contains(&name.as_str()) {
            return Err(format!(
                "'authorizeParams' must not set {name}: Tollgate sets it"
            ));
        }
        token_like("authorizeParams", name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OidcClientAuth, OidcGroupAuthority};

    fn config() -> OidcProviderConfig {
        OidcProviderConfig {
            contact_center_id: "cc".into(),
            issuer: "https://login.example.com/realms/acme".into(),
            client_id: "tollgate".into(),
            client_auth: OidcClientAuth::ClientSecretBasic,
            client_secret: "s3cret".into(),
            scopes: DEFAULT_SCOPES.map(String::from).to_vec(),
            claims: OidcClaims::default(),
            groups_claim: None,
            group_authorities: vec![],
            just_in_time: false,
            authorize_params: Default::default(),
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn each_rule_names_its_field_and_never_the_secret() {
        assert_eq!(check_oidc_provider(&config()), Ok(()));
        let mut local = config();
        local.issuer = "http://127.0.0.1:9000/idp".into();
        assert_eq!(check_oidc_provider(&local), Ok(()));
        type Change = fn(&mut OidcProviderConfig);
        let cases: Vec<(Change, &str)> = vec![
            (|c| c.issuer = " ".into(), "'issuer' is required"),
            (|c| c.issuer = "http://idp.example".into(), "'issuer'"),
            (|c| c.issuer = "https://idp.example/?a=b".into(), "'issuer'"),
            (|c| c.client_id = String::new(), "'clientId'"),
            (|c| c.client_secret = String::new(), "'clientSecret'"),
            (|c| c.scopes = vec!["profile".into()], "'scopes'"),
            (|c| c.scopes.push("a b".into()), "'scopes'"),
            (|c| c.claims.username = "name".into(), "'claims.username'"),
            (|c| c.claims.email = String::new(), "'claims.email'"),
            (
                |c| {
                    c.group_authorities = vec![OidcGroupAuthority {
                        group: "agents".into(),
                        authority: "ROLE_AGENT".into(),
                    }]
                },
                "'groupAuthorities' needs 'groupsClaim'",
            ),
            (
                |c| {
                    c.groups_claim = Some("groups".into());
                    c.group_authorities = vec![OidcGroupAuthority {
                        group: "agents".into(),
                        authority: " ".into(),
                    }]
                },
                "groupAuthorities: group 'agents'",
            ),
            (
                |c| {
                    c.authorize_params.insert("nonce".into(), "x".into());
                },
                "'authorizeParams' must not set nonce",
            ),
        ];
        for (change, field) in cases {
            let mut c = config();
            change(&mut c);
            let err = check_oidc_provider(&c).expect_err(field);
            assert!(err.contains(field), "{err} should name {field}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
}
