//! Minting the token response shared by every grant: access token, optional
//! refresh token (a new family) and optional ID token.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::{
    AccessTokenFormat, Client, ClientType, ContactCenter, RefreshFamily, RefreshToken, Timestamp,
};

use crate::directory::DirectoryUser;
use crate::oauth::backchannel::{targets, Target};
use crate::oauth::claims::{self, ClaimsRequest, Person, SCOPE_ALL};
use crate::oauth::error::OAuthError;
use crate::second_factor::passkey::KeyKind;
use crate::services::Services;
use crate::tokens::{self, opaque, AccessClaims, Confirmation};

/// The user a token speaks for, as carried from sign-in into refreshed tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserPrincipal {
    pub contact_center_id: String,
    pub environment_id: String,
    pub user_name: String,
    pub dbid: i64,
    pub authorities: Vec<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    pub auth_time: Timestamp,
    /// Authorities an identity provider's group mapping added at sign-in
    /// (single sign-on): kept when the directory's are read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_authorities: Vec<String>,
    /// The browser session this sign-in belongs to (a public id, not the
    /// cookie): tokens issued through it carry it, and end with the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_session: Option<String>,
    /// A one-time code (TOTP or a recovery code) was given at sign-in, after
    /// the password: the ID token's `amr` says `otp`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub second_factor: bool,
    /// The second factor was a passkey, not a code: `amr` names how its key
    /// is kept instead of `otp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<KeyKind>,
    /// The directory's standard claims beyond names and e-mail (phone,
    /// address, ...), for ID tokens issued without the directory.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub standard_claims: serde_json::Map<String, serde_json::Value>,
}

impl UserPrincipal {
    pub fn new(cc: &ContactCenter, user: &DirectoryUser, auth_time: Timestamp) -> Self {
        UserPrincipal {
            contact_center_id: cc.id.clone(),
            environment_id: cc.environment_id.clone(),
            user_name: user.username.clone(),
            dbid: user.dbid,
            authorities: user.authorities.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
            auth_time,
            provider_authorities: vec![],
            browser_session: None,
            second_factor: false,
            passkey: None,
            standard_claims: claims::standard_properties(&user.properties),
        }
    }

    /// What this user's OpenID Connect claims are made of.
    pub fn person(&self) -> Person<'_> {
        Person {
            first_name: &self.first_name,
            last_name: &self.last_name,
            email: &self.email,
            user_name: &self.user_name,
            properties: &self.standard_claims,
        }
    }

    /// The same sign-in with the directory's current record of the user:
    /// what a refreshed token or a new code from an old session carries.
    pub fn refreshed(&self, cc: &ContactCenter, now: &DirectoryUser) -> Self {
        let mut next = UserPrincipal::new(cc, now, self.auth_time);
        // The subject stays the one signed in (the directory may spell the name differently).
        next.user_name = self.user_name.clone();
        for a in &self.provider_authorities {
            if !next.authorities.contains(a) {
                next.authorities.push(a.clone());
            }
        }
        next.provider_authorities = self.provider_authorities.clone();
        next.browser_session = self.browser_session.clone();
        next.second_factor = self.second_factor;
        next.passkey = self.passkey;
        next
    }

    /// Stable, system-wide unique subject: contact center and login name.
    pub fn subject(&self) -> String {
        crate::tokens::user_subject(&self.contact_center_id, &self.user_name)
    }
}

/// The scope to grant: what was asked, if the client may have all of it;
/// the client's registered scope when nothing was asked.
pub fn grant_scope(client: &Client, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.scope.clone());
    };
    let mut out: Vec<String> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !client.scope.iter().any(|c| c == SCOPE_ALL || c == s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope '{s}' is not allowed for this client"
            )));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// The token endpoint's success body.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// Who the token speaks for, for the audit trail; not sent.
    #[serde(skip)]
    pub subject: String,
    #[serde(skip)]
    pub contact_center_id: Option<String>,
    /// The access token's `jti` and refresh family, to revoke them later.
    #[serde(skip)]
    pub jti: String,
    #[serde(skip)]
    pub family: Option<String>,
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1, token exchange only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

pub struct Issue<'a> {
    pub client: &'a Arc<Client>,
    pub scope: Vec<String>,
    pub user: Option<UserPrincipal>,
    /// Continue this refresh family instead of starting one.
    pub family: Option<String>,
    pub with_refresh: bool,
    pub nonce: Option<String>,
    /// The authorization request carried `acr_values` (OIDC Core §3.1.2.1).
    pub acr_requested: bool,
    /// The authorization request's `claims` parameter (OIDC Core §5.5).
    pub claims: ClaimsRequest,
    /// Set by token exchange: never an ID token, maybe another audience and an actor.
    pub exchange: Option<Exchanged>,
    /// What the request proved it holds: the access token is bound to it.
    /// A DPoP key (RFC 9449 §6) binds a refresh family a public client
    /// starts too; a client certificate (RFC 8705 §3) only access tokens.
    pub cnf: Confirmation,
    /// The hybrid flow's code issued beside these tokens (the ID token's `c_hash`).
    pub code: Option<String>,
}

impl<'a> Issue<'a> {
    /// Tokens for `client` with `scope`, bound to what the request proved:
    /// no user, no refresh token, nothing an authorization request added.
    /// Each grant sets what it has beyond that.
    pub fn new(client: &'a Arc<Client>, scope: Vec<String>, cnf: &Confirmation) -> Issue<'a> {
        Issue {
            client,
            scope,
            user: None,
            family: None,
            with_refresh: false,
            nonce: None,
            acr_requested: false,
            claims: ClaimsRequest::default(),
            exchange: None,
            cnf: cnf.clone(),
            code: None,
        }
    }
}

/// What token exchange (RFC 8693) adds to an access token.
pub struct Exchanged {
    /// `aud` instead of this server's own audience.
    pub audience: Option<String>,
    /// The `act` claim (§4.1).
    pub act: Option<serde_json::Value>,
}

fn has_scope(scope: &[String], s: &str) -> bool {
    scope.iter().any(|x| x == s)
}

/// Signs an access token (and an ID token for a user with `openid`, unless
/// exchanged), starting a refresh token family when one is asked for.
pub async fn issue(
    state: &Services,
    req: Issue<'_>,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let client = req.client;
    let lifetime = client
        .access_token_expiration_timeout
        .clamp(1, state.settings.max_token_lifetime);
    let (sid, refresh_token) = if req.with_refresh && req.family.is_none() {
        let (family_id, value) = start_family(state, &req, now).await?;
        (Some(family_id), Some(value))
    } else {
        (req.family.clone(), None)
    };
    let claims = access_claims(state, &req, sid, now, lifetime);
    let access_token = access_token(state, client, &claims, now).await?;
    let id_token = match &req.user {
        Some(user) if req.exchange.is_none() && has_scope(&req.scope, "openid") => Some(id_token(
            state,
            client,
            user,
            &req.scope,
            Some(&access_token),
            IdTokenAsk {
                nonce: req.nonce.as_deref(),
                acr_requested: req.acr_requested,
                code: req.code.as_deref(),
                claims: &req.claims.id_token,
            },
            now,
            lifetime,
        )?),
        _ => None,
    };
    if let (Some(user), Some(_), None) = (&req.user, &id_token, &req.family) {
        remember_relying_party(state, client, user).await;
    }
    Ok(TokenResponse {
        subject: claims.sub,
        contact_center_id: claims.contact_center_id,
        jti: claims.jti,
        family: claims.sid,
        access_token,
        token_type: if claims.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
            "DPoP"
        } else {
            "bearer"
        },
        expires_in: lifetime,
        refresh_token,
        scope: claims.scope,
        id_token,
        issued_token_type: None,
    })
}

/// The access token in the client's format: a signed JWT, or an opaque
/// value whose claims are kept (one write each to both stores).
async fn access_token(
    state: &Services,
    client: &Client,
    claims: &AccessClaims,
    now: Timestamp,
) -> Result<String, OAuthError> {
    match client.access_token_format {
        AccessTokenFormat::Jwt => tokens::sign(&state.keys, "at+jwt", claims, now).map_err(|e| {
            tracing::error!(error = %e, "cannot sign access token");
            OAuthError::server_error()
        }),
        AccessTokenFormat::Opaque => {
            let value = opaque::new_value();
            opaque::keep(&state.ephemeral, &state.db, &value, claims, now).await?;
            Ok(value)
        }
    }
}

/// A new refresh token family for the request's client, user and scope,
/// with its first token; returns the family's id and the token.
async fn start_family(
    state: &Services,
    req: &Issue<'_>,
    now: Timestamp,
) -> Result<(String, String), OAuthError> {
    let value = tokens::random_token();
    let family = RefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: req.client.client_id.clone(),
        contact_center_id: req.user.as_ref().map(|u| u.contact_center_id.clone()),
        username: req.user.as_ref().map(|u| u.user_name.clone()),
        scope: req.scope.clone(),
        claims: serde_json::to_value(&req.user).map_err(|_| OAuthError::server_error())?,
        created_at: now,
        expires_at: now + state.settings.refresh_family_lifetime,
        revoked_at: None,
        // A confidential client's refresh token is bound by its
        // authentication; a public client's to its DPoP key (RFC 9449 §5).
        dpop_jkt: match req.client.client_type {
            ClientType::Public => req.cnf.jkt.clone(),
            ClientType::Confidential => None,
        },
    };
    let first = new_refresh(&family.id, req.client, family.expires_at, &value, now);
    state.db.create_refresh_family(&family, &first).await?;
    Ok((family.id, value))
}

/// The access token's claims: the user's (or, without one, the client's),
/// with the exchange's audience and actor.
fn access_claims(
    state: &Services,
    req: &Issue<'_>,
    sid: Option<String>,
    now: Timestamp,
    lifetime: i64,
) -> AccessClaims {
    let client = req.client;
    let user = req.user.as_ref();
    let sub = user
        .map(UserPrincipal::subject)
        .unwrap_or_else(|| client.client_id.clone());
    let iat = state.revocations.issue_time(&sub, now);
    AccessClaims {
        iss: state.settings.issuer.clone(),
        sub,
        aud: req
            .exchange
            .as_ref()
            .and_then(|x| x.audience.clone())
            .unwrap_or_else(|| state.settings.audience.clone()),
        exp: iat + lifetime,
        iat,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.client_id.clone(),
        scope: req.scope.join(" "),
        auth_time: user.map(|u| u.auth_time),
        contact_center_id: user.map(|u| u.contact_center_id.clone()),
        environment_id: user.map(|u| u.environment_id.clone()),
        user_name: user.map(|u| u.user_name.clone()),
        dbid: user.map(|u| u.dbid),
        authorities: match user {
            Some(u) => u.authorities.clone(),
            None => client.authorities.clone(),
        },
        sid,
        browser_session: user.and_then(|u| u.browser_session.clone()),
        act: req.exchange.as_ref().and_then(|x| x.act.clone()),
        cnf: Some(req.cnf.clone()).filter(|c| c.jkt.is_some() || c.x5t_s256.is_some()),
        userinfo_claims: req.claims.userinfo.clone(),
    }
}

/// A refresh token record for `value`, expiring per the client but never after its family.
pub fn new_refresh(
    family_id: &str,
    client: &Client,
    family_expires_at: Timestamp,
    value: &str,
    now: Timestamp,
) -> RefreshToken {
    RefreshToken {
        hash: tokens::token_digest(value),
        family_id: family_id.to_string(),
        created_at: now,
        expires_at: (now + client.refresh_token_expiration_timeout.max(1)).min(family_expires_at),
        used_at: None,
    }
}

/// A client with a back-channel logout URI got an ID token for `user`: it
/// will hear of the user's sign-out. Should the store fail, the sign-in
/// still stands.
pub async fn remember_relying_party(state: &Services, client: &Client, user: &UserPrincipal) {
    if client.backchannel_logout.is_none() {
        return;
    }
    let target = Target {
        client_id: client.client_id.clone(),
        sid: user.browser_session.clone(),
    };
    let ttl = state.backchannel_ttl();
    if let Err(e) = targets::remember(&state.ephemeral, &user.subject(), target, ttl).await {
        tracing::warn!(error = %e, client_id = %client.client_id, "relying party not remembered for back-channel logout");
    }
}

/// What the authorization request asked of its ID token.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdTokenAsk<'a> {
    pub nonce: Option<&'a str>,
    /// `acr_values` was sent: the token says how the user signed in.
    pub acr_requested: bool,
    /// The hybrid flow's code sent with the token (`c_hash`, OIDC Core §3.3.2.11).
    pub code: Option<&'a str>,
    /// Claims the `claims` parameter asked for in the ID token.
    pub claims: &'a [String],
}

/// How a signed-in user was authenticated (OIDC Core §2), in ISO/IEC 29115
/// levels: a password alone is level 1.
pub const ACR_PASSWORD: &str = "1";
/// A password and a one-time code (a second factor): level 2. An
/// authorization request whose `acr_values` names it gets the second factor
/// asked at sign-in where the contact center allows one.
pub const ACR_SECOND_FACTOR: &str = "2";

/// An ID token (OIDC Core §2, §5.4): `at_hash` when an access token goes
/// with it. Only what was asked for: the scopes' claims when the response
/// brings no access token, not even through a code (otherwise the client
/// reads them at userinfo), the
/// claims the `claims` parameter named, the original's claims (contact
/// center, environment, user name, dbid) with the original's scope `*`,
/// `acr` and `amr` when `acr_values` or the `claims` parameter asked.
#[allow(clippy::too_many_arguments)]
pub fn id_token(
    state: &Services,
    client: &Client,
    user: &UserPrincipal,
    scope: &[String],
    access_token: Option<&str>,
    ask: IdTokenAsk<'_>,
    now: Timestamp,
    lifetime: i64,
) -> Result<String, OAuthError> {
    let mut claims = json!({
        "iss": state.settings.issuer,
        "sub": user.subject(),
        "aud": client.client_id,
        "azp": client.client_id,
        "exp": now + lifetime,
        "iat": now,
        "auth_time": user.auth_time,
    });
    let all = has_scope(scope, SCOPE_ALL);
    if all {
        claims["contact_center_id"] = json!(user.contact_center_id);
        claims["environment_id"] = json!(user.environment_id);
        claims["user_name"] = json!(user.user_name);
        claims["dbid"] = json!(user.dbid);
    }
    if let Some(at) = access_token {
        claims["at_hash"] = json!(tokens::half_hash(at));
    }
    if let Some(code) = ask.code {
        claims["c_hash"] = json!(tokens::half_hash(code));
    }
    if let Some(n) = ask.nonce {
        claims["nonce"] = json!(n);
    }
    // The browser session, which back-channel logout tokens name too.
    if let Some(sid) = &user.browser_session {
        claims["sid"] = json!(sid);
    }
    if ask.acr_requested || ask.claims.iter().any(|c| c == "acr") {
        if user.second_factor {
            claims["acr"] = json!(ACR_SECOND_FACTOR);
            let factor = user.passkey.map_or("otp", KeyKind::amr);
            claims["amr"] = json!(["pwd", factor]);
        } else {
            claims["acr"] = json!(ACR_PASSWORD);
            claims["amr"] = json!(["pwd"]);
        }
    }
    let no_access_token = access_token.is_none() && ask.code.is_none();
    let by_scope: &[String] = if no_access_token || all { scope } else { &[] };
    for (name, value) in claims::released(&user.person(), by_scope, ask.claims) {
        claims[name] = value;
    }
    tokens::sign(&state.keys, "JWT", &claims, now).map_err(|_| OAuthError::server_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scope: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "c".into(),
            description: String::new(),
            secret_hash: None,
            client_type: ClientType::Confidential,
            internal_client: false,
            authorities: vec![],
            scope: scope.iter().map(|s| s.to_string()).collect(),
            authorized_grant_types: vec![],
            redirect_uris: vec![],
            access_token_expiration_timeout: 60,
            refresh_token_expiration_timeout: 60,
            contact_center_ids: vec![],
            token_exchange: None,
            auth_method: tollgate_store::model::ClientAuthMethod::ClientSecret,
            jwks: None,
            jwks_uri: None,
            hmac_secret: None,
            require_pushed_authorization_requests: false,
            backchannel_logout: None,
            require_dpop: false,
            access_token_format: tollgate_store::model::AccessTokenFormat::Jwt,
            tls_client_auth_subject: None,
            tls_client_certificate_bound_access_tokens: false,
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn star_allows_any_scope_and_default_is_registered_scope() {
        let c = client(&["*"]);
        assert_eq!(
            grant_scope(&c, Some("openid profile openid")).unwrap(),
            vec!["openid", "profile"]
        );
        assert_eq!(grant_scope(&c, None).unwrap(), vec!["*"]);
    }

    #[test]
    fn scope_outside_registration_is_refused() {
        let c = client(&["openid"]);
        assert_eq!(
            grant_scope(&c, Some("openid email")).unwrap_err().code,
            "invalid_scope"
        );
    }

    #[test]
    fn refresh_expiry_never_passes_family() {
        let mut c = client(&["*"]);
        c.refresh_token_expiration_timeout = 1000;
        assert_eq!(new_refresh("f", &c, 500, "v", 100).expires_at, 500);
        assert_eq!(new_refresh("f", &c, 5000, "v", 100).expires_at, 1100);
    }
}
