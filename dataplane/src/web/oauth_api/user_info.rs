//! The original's user models, built once from a verified access token and
//! its directory entry: CloudUserDetails (`/auth/v3/userinfo`, and the
//! claims of the user JWT), OpenIdUserInfo (`/auth/v3/openid/userinfo`) and
//! their UserRole authorities. In the JSON models an authority is an object;
//! in JWT claims it stays a string.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use tollgate_core::directory::DirectoryUser;
use tollgate_core::oauth::claims::SCOPE_ALL;
use tollgate_core::oauth::claims::{self, Person};
use tollgate_core::tokens::AccessClaims;

/// An authority granted to the user or client.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRole {
    #[schema(example = "ROLE_AGENT")]
    pub name: String,
    /// Tollgate grants roles only; the list is always present and empty.
    pub privileges: Vec<String>,
}

fn roles(authorities: &[String]) -> Vec<UserRole> {
    authorities
        .iter()
        .map(|name| UserRole {
            name: name.clone(),
            privileges: Vec::new(),
        })
        .collect()
}

/// The user in the system: a contact center's user, or a client acting for itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudUserDetails {
    /// System-wide unique: `<contactCenterId>:<dbid>:<cmeUserName>` for a
    /// contact center's user (without `<dbid>:` when the directory has none),
    /// the client id for a client.
    pub username: String,
    pub authorities: Vec<UserRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cme_user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub login_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub contact_center_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub environment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Int64, nullable = false)]
    pub dbid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub properties: Option<BTreeMap<String, String>>,
}

/// The user's claims as the OpenID Connect UserInfo endpoint returns them
/// (OpenID Connect Core §5.3): names with `profile`, the address with
/// `email`, the original's fields with scope `*`; as further members, the
/// other standard claims the user has (`nickname`, `phone_number`,
/// `address`, ...) with their scopes or asked for by the `claims` parameter.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct OpenIdUserInfo {
    pub sub: String,
    pub authorities: Vec<UserRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// With `email`: always false, no directory proves the address is the user's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub environment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub contact_center_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Int64, nullable = false)]
    pub dbid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub properties: Option<BTreeMap<String, String>>,
    /// The other standard claims (OIDC Core §5.1), as members of their own.
    #[serde(flatten)]
    #[schema(ignore)]
    pub standard_claims: serde_json::Map<String, serde_json::Value>,
}

/// The models declare properties as strings: other JSON values are sent as
/// their JSON text.
fn string_properties(user: &DirectoryUser) -> BTreeMap<String, String> {
    user.properties
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k.clone(), s.clone()),
            other => (k.clone(), other.to_string()),
        })
        .collect()
}

/// CloudUserDetails of a token: the user, or the client itself.
pub fn cloud_user_details(c: &AccessClaims, user: Option<&DirectoryUser>) -> CloudUserDetails {
    let authorities = roles(&c.authorities);
    let (Some(name), Some(cc)) = (&c.user_name, &c.contact_center_id) else {
        return CloudUserDetails {
            username: c.client_id.clone(),
            authorities,
            cme_user_name: None,
            login_name: None,
            contact_center_id: None,
            environment_id: None,
            dbid: None,
            properties: None,
        };
    };
    let username = match c.dbid {
        Some(dbid) => format!("{cc}:{dbid}:{name}"),
        None => format!("{cc}:{name}"),
    };
    CloudUserDetails {
        username,
        authorities,
        cme_user_name: Some(name.clone()),
        login_name: Some(name.clone()),
        contact_center_id: Some(cc.clone()),
        environment_id: c.environment_id.clone(),
        dbid: c.dbid,
        properties: Some(user.map(string_properties).unwrap_or_default()),
    }
}

/// A token's granted scopes; `*` grants every one.
pub struct Scopes<'a>(Vec<&'a str>);

impl<'a> Scopes<'a> {
    pub fn of(c: &'a AccessClaims) -> Self {
        Scopes(c.scopes().collect())
    }
    fn all(&self) -> bool {
        self.0.contains(&SCOPE_ALL)
    }
    pub fn has(&self, scope: &str) -> bool {
        self.all() || self.0.contains(&scope)
    }
}

/// OpenIdUserInfo of a user's token, limited to what its scopes allow.
pub fn openid_user_info(
    c: &AccessClaims,
    scopes: &Scopes<'_>,
    user: Option<&DirectoryUser>,
) -> OpenIdUserInfo {
    let mut info = OpenIdUserInfo {
        sub: c.sub.clone(),
        authorities: roles(&c.authorities),
        ..OpenIdUserInfo::default()
    };
    if let Some(u) = user {
        let scope: Vec<String> = c.scopes().map(str::to_string).collect();
        let mut claims = claims::released(&Person::of(u), &scope, &c.userinfo_claims);
        let mut text = |name| {
            claims
                .remove(name)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        info.given_name = text("given_name");
        info.family_name = text("family_name");
        info.name = text("name");
        info.email = text("email");
        // The name signed in with, however the directory spells it now.
        info.preferred_username = text("preferred_username").and(c.user_name.clone());
        info.email_verified = claims.remove("email_verified").and_then(|v| v.as_bool());
        info.standard_claims = claims;
    }
    if scopes.all() {
        info.aud = Some(c.client_id.clone());
        info.environment_id = c.environment_id.clone();
        info.contact_center_id = c.contact_center_id.clone();
        info.dbid = c.dbid;
        info.user_name = c.user_name.clone();
        info.properties = user.map(string_properties);
    }
    info
}
