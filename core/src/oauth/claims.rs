//! A user's OpenID Connect claims (OIDC Core §5.1): scopes release groups
//! of them (§5.4), the `claims` request parameter single ones (§5.5).
//!
//! Directories give the names and the e-mail address; the other standard
//! claims come from the user's properties of the same name (a built-in
//! user's `properties.phone_number`, say) when their JSON type is the one
//! §5.1 gives the claim, so a wrongly typed property is never released.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::directory::DirectoryUser;

/// The original's scope `*`: every scope a client may have, every claim.
pub const SCOPE_ALL: &str = "*";

/// What each scope releases (§5.4).
const SCOPES: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// The scopes that release claims, for discovery.
pub fn claim_scopes() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().map(|(scope, _)| *scope)
}

/// Every claim a scope or the `claims` parameter can release.
pub fn standard_claims() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().flat_map(|(_, names)| names.iter().copied())
}

fn is_standard(name: &str) -> bool {
    standard_claims().any(|n| n == name)
}

/// Longest `claims` parameter read; a real one names a few claims.
const MAX_CLAIMS_PARAMETER: usize = 4096;

/// The `claims` request parameter (§5.5): the claims asked for by name, in
/// the ID token and at the userinfo endpoint. Only names this server can
/// release are kept (the others are ignored, §5.5.1), so what a request
/// makes it store stays small. `essential` and `value(s)` change nothing:
/// a claim is released when the user has it, whatever was asked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    /// Parses the parameter; an error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<ClaimsRequest, &'static str> {
        if raw.len() > MAX_CLAIMS_PARAMETER {
            return Err("claims is too long");
        }
        let Ok(Value::Object(request)) = serde_json::from_str::<Value>(raw) else {
            return Err("claims must be a JSON object");
        };
        Ok(ClaimsRequest {
            id_token: member(&request, "id_token", &["acr", "auth_time"])?,
            userinfo: member(&request, "userinfo", &[])?,
        })
    }

    /// Whether the ID token must say how the user signed in.
    pub fn wants_acr(&self) -> bool {
        self.id_token.iter().any(|n| n == "acr")
    }
}

/// The names of one member (`id_token` or `userinfo`) that this server
/// releases: standard claims, and `also` there.
fn member(
    request: &Map<String, Value>,
    key: &str,
    also: &[&str],
) -> Result<Vec<String>, &'static str> {
    let Some(asked) = request.get(key) else {
        return Ok(Vec::new());
    };
    let Value::Object(asked) = asked else {
        return Err("the members of claims must be JSON objects");
    };
    if asked.values().any(|v| !(v.is_null() || v.is_object())) {
        return Err("each claim asked for must be null or a JSON object");
    }
    let mut names: Vec<String> = asked
        .keys()
        .filter(|n| is_standard(n) || also.contains(&n.as_str()))
        .cloned()
        .collect();
    names.sort_unstable();
    Ok(names)
}

/// What a user's claims are made of.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub user_name: &'a str,
    /// The directory's properties (only standard claim names are read).
    pub properties: &'a Map<String, Value>,
}

impl<'a> Person<'a> {
    pub fn of(user: &'a DirectoryUser) -> Self {
        Person {
            first_name: &user.first_name,
            last_name: &user.last_name,
            email: &user.email,
            user_name: &user.username,
            properties: &user.properties,
        }
    }

    /// The claim `name`, when the user has it.
    fn claim(&self, name: &str) -> Option<Value> {
        let text = |s: &str| (!s.is_empty()).then(|| json!(s));
        match name {
            "name" => text(format!("{} {}", self.first_name, self.last_name).trim()),
            "given_name" => text(self.first_name),
            "family_name" => text(self.last_name),
            "preferred_username" => text(self.user_name),
            "email" => text(self.email),
            // Without the directory saying so, nothing proves the address is the user's.
            "email_verified" if !self.email.is_empty() => Some(
                self.property(name)
                    .filter(Value::is_boolean)
                    .unwrap_or(json!(false)),
            ),
            "email_verified" => None,
            _ if from_property(name) => self.property(name).filter(|v| typed_right(name, v)),
            _ => None,
        }
    }

    fn property(&self, name: &str) -> Option<Value> {
        self.properties.get(name).cloned()
    }
}

/// Claims made of the directory's own fields, never of properties.
const FROM_FIELDS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
];

/// Whether a property has the JSON type §5.1 gives the claim.
fn typed_right(name: &str, v: &Value) -> bool {
    match name {
        "email_verified" | "phone_number_verified" => v.is_boolean(),
        "updated_at" => v.is_i64(),
        "address" => v.is_object(),
        _ => v.as_str().is_some_and(|s| !s.is_empty()),
    }
}

/// Whether `name` is a standard claim that a property of that name gives.
fn from_property(name: &str) -> bool {
    is_standard(name) && !FROM_FIELDS.contains(&name)
}

/// A user's standard claims among the properties: what a sign-in keeps so
/// its ID tokens can carry them without the directory.
pub fn standard_properties(properties: &Map<String, Value>) -> Map<String, Value> {
    properties
        .iter()
        .filter(|(k, v)| from_property(k) && typed_right(k, v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Refuses a property named like a standard claim whose JSON type is not
/// the claim's (it would never be released), naming it.
pub fn check_properties(properties: &Map<String, Value>) -> Result<(), String> {
    match properties
        .iter()
        .find(|(k, v)| from_property(k) && !typed_right(k, v))
    {
        None => Ok(()),
        Some((k, _)) => Err(format!(
            "properties.{k} is the OpenID Connect claim of that name and must be {}",
            match k.as_str() {
                "email_verified" | "phone_number_verified" => "true or false",
                "updated_at" => "a number of seconds since 1970",
                "address" =>
                    "an object (formatted, street_address, locality, region, postal_code, country)",
                _ => "a non-empty string",
            }
        )),
    }
}

/// The claims of `person` that `scope` and the `names` asked for release,
/// those the user has.
pub fn released(person: &Person<'_>, scope: &[String], names: &[String]) -> Map<String, Value> {
    let all = scope.iter().any(|s| s == SCOPE_ALL);
    let by_scope = SCOPES
        .iter()
        .filter(|(s, _)| all || scope.iter().any(|x| x == s))
        .flat_map(|(_, names)| names.iter().copied());
    let by_name = names.iter().map(String::as_str).filter(|n| is_standard(n));
    by_scope
        .chain(by_name)
        .filter_map(|n| Some((n.to_string(), person.claim(n)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(properties: &Map<String, Value>) -> Person<'_> {
        Person {
            first_name: "Ada",
            last_name: "Lovelace",
            email: "ada@example.com",
            user_name: "ada",
            properties,
        }
    }

    fn scope(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn scopes_release_their_claims_the_user_has() {
        let props = json!({"phone_number": "+1 555 0100", "nickname": "countess",
            "address": {"country": "UK"}, "birthdate": 1815, "department": "R&D"});
        let props = props.as_object().unwrap();
        let c = released(&person(props), &scope("openid profile"), &[]);
        assert_eq!(c["name"], "Ada Lovelace");
        assert_eq!(c["nickname"], "countess");
        assert!(!c.contains_key("birthdate"), "a number is not a birthdate");
        assert!(!c.contains_key("email") && !c.contains_key("phone_number"));
        let c = released(&person(props), &scope("openid phone address email"), &[]);
        assert_eq!(c["phone_number"], "+1 555 0100");
        assert_eq!(c["address"], json!({"country": "UK"}));
        assert_eq!(c["email_verified"], false);
        assert!(!c.contains_key("department"), "not a standard claim");
        let c = released(&person(props), &scope("*"), &[]);
        assert_eq!(c["phone_number"], "+1 555 0100");
    }

    #[test]
    fn names_asked_for_are_released_without_their_scope() {
        let props = Map::new();
        let asked = ClaimsRequest::parse(
            r#"{"userinfo": {"name": {"essential": true}, "email": null, "dbid": null},
                "id_token": {"acr": {"values": ["2"]}, "given_name": null}}"#,
        )
        .unwrap();
        assert_eq!(asked.userinfo, vec!["email", "name"]);
        assert!(asked.wants_acr());
        let c = released(&person(&props), &scope("openid"), &asked.userinfo);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c["name"], "Ada Lovelace");
    }

    #[test]
    fn properties_named_as_claims_must_have_their_type() {
        let ok = json!({"phone_number": "+1", "updated_at": 1700000000, "department": 7,
            "address": {"locality": "Paris"}, "phone_number_verified": true, "name": 3});
        assert_eq!(check_properties(ok.as_object().unwrap()), Ok(()));
        for bad in [
            json!({"locale": 5}),
            json!({"address": "Paris"}),
            json!({"updated_at": "yesterday"}),
            json!({"email_verified": "yes"}),
            json!({"picture": ""}),
        ] {
            let e = check_properties(bad.as_object().unwrap()).unwrap_err();
            let name = bad.as_object().unwrap().keys().next().unwrap().clone();
            assert!(e.contains(&format!("properties.{name}")), "{e}");
        }
    }

    #[test]
    fn malformed_claims_parameters_are_refused() {
        for bad in [
            "[]",
            "not json",
            r#"{"userinfo": ["name"]}"#,
            r#"{"id_token": {"name": true}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"userinfo": {{"{}": null}}}}"#, "x".repeat(5000));
        assert!(ClaimsRequest::parse(&long).is_err());
        assert_eq!(
            ClaimsRequest::parse(r#"{"userinfo": {"shoe_size": null}}"#).unwrap(),
            ClaimsRequest::default(),
            "unknown claims are ignored"
        );
    }
}
