//! From a verified assertion to the user it names: the contact center's
//! attribute mapping and access group. Shared by the browser sign-in (ACS)
//! and the RFC 7522 bearer grant.

use tollgate_store::model::SamlProviderConfig;

use crate::federation::saml::verify::VerifiedAssertion;
use crate::federation::users::FederatedIdentity;

/// Attribute names IdPs commonly use for names and email (Keycloak's and
/// ADFS/Entra's claim URIs); the first one present wins.
const FIRST_NAME: &[&str] = &[
    "firstName",
    "givenName",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
];
const LAST_NAME: &[&str] = &[
    "lastName",
    "surname",
    "sn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
];
const EMAIL: &[&str] = &[
    "email",
    "mail",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];

/// Why a verified assertion still does not sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingRefusal {
    #[error("the assertion does not name the user (no NameID or username attribute)")]
    NoUsername,
    #[error("the user is not in the contact center's access group")]
    NotInAccessGroup,
    /// Tollgate's users carry no external id to match against.
    #[error("matching users by external id is not supported")]
    ExternalIdUnsupported,
}

impl MappingRefusal {
    /// The audit reason.
    pub fn reason(&self) -> &'static str {
        match self {
            MappingRefusal::NoUsername => "no_username",
            MappingRefusal::NotInAccessGroup => "access_group",
            MappingRefusal::ExternalIdUnsupported => "external_user_id_unsupported",
        }
    }
}

/// The identity `assertion` vouches for under the contact center's mapping.
pub fn identity(
    config: &SamlProviderConfig,
    assertion: &VerifiedAssertion,
) -> Result<FederatedIdentity, MappingRefusal> {
    if config.use_external_user_id {
        return Err(MappingRefusal::ExternalIdUnsupported);
    }
    if let Some(group) = &config.access_group {
        let member = assertion
            .attribute(&group.attribute)
            .is_some_and(|values| values.iter().any(|v| v == &group.value));
        if !member {
            return Err(MappingRefusal::NotInAccessGroup);
        }
    }
    let username = match &config.username_attribute {
        Some(name) => first_value(assertion, &[name.as_str()]),
        None => assertion.name_id.clone(),
    }
    .map(|u| u.trim().to_string())
    .filter(|u| !u.is_empty())
    .ok_or(MappingRefusal::NoUsername)?;
    Ok(FederatedIdentity {
        username,
        first_name: first_value(assertion, FIRST_NAME),
        last_name: first_value(assertion, LAST_NAME),
        email: first_value(assertion, EMAIL),
        authorities: vec![],
        provider: assertion.issuer.clone(),
    })
}

fn first_value(assertion: &VerifiedAssertion, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| assertion.attribute(n).and_then(|v| v.first()))
        .filter(|v| !v.is_empty())
        .cloned()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tollgate_store::model::{SamlAccessGroup, SamlBinding};

    use super::*;

    fn config() -> SamlProviderConfig {
        SamlProviderConfig {
            contact_center_id: "cc1".into(),
            idp_metadata: String::new(),
            idp_metadata_url: None,
            idp_metadata_fetched_at: None,
            username_attribute: None,
            use_external_user_id: false,
            access_group: None,
            binding: SamlBinding::Post,
            just_in_time_users: false,
            allow_idp_initiated: false,
            sp_keys: vec![],
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn assertion() -> VerifiedAssertion {
        VerifiedAssertion {
            id: "_a1".into(),
            issuer: "https://idp.test".into(),
            name_id: Some("alice".into()),
            name_id_format: None,
            session_index: Some("s1".into()),
            attributes: vec![
                ("uid".into(), vec!["alice.smith".into()]),
                ("givenName".into(), vec!["Alice".into()]),
                ("sn".into(), vec!["Smith".into()]),
                ("email".into(), vec!["alice@example.com".into()]),
                ("groups".into(), vec!["agents".into(), "supervisors".into()]),
            ],
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn the_name_id_names_the_user_by_default_with_names_and_email() {
        let id = identity(&config(), &assertion()).unwrap();
        assert_eq!(id.username, "alice");
        assert_eq!(id.first_name.as_deref(), Some("Alice"));
        assert_eq!(id.last_name.as_deref(), Some("Smith"));
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.provider, "https://idp.test");
    }

    #[test]
    fn a_username_attribute_replaces_the_name_id() {
        let mut c = config();
        c.username_attribute = Some("uid".into());
        assert_eq!(identity(&c, &assertion()).unwrap().username, "alice.smith");
        c.username_attribute = Some("missing".into());
        assert_eq!(identity(&c, &assertion()), Err(MappingRefusal::NoUsername));
    }

    #[test]
    fn no_name_id_and_no_attribute_is_refused() {
        let mut a = assertion();
        a.name_id = Some("  ".into());
        assert_eq!(identity(&config(), &a), Err(MappingRefusal::NoUsername));
        a.name_id = None;
        assert_eq!(identity(&config(), &a), Err(MappingRefusal::NoUsername));
    }

    #[test]
    fn the_access_group_needs_the_value_among_the_attribute_values() {
        let mut c = config();
        c.access_group = Some(SamlAccessGroup {
            attribute: "groups".into(),
            value: "supervisors".into(),
        });
        assert!(identity(&c, &assertion()).is_ok());
        c.access_group = Some(SamlAccessGroup {
            attribute: "groups".into(),
            value: "admins".into(),
        });
        let refused = identity(&c, &assertion()).unwrap_err();
        assert_eq!(refused.reason(), "access_group");
        c.access_group = Some(SamlAccessGroup {
            attribute: "roles".into(),
            value: "agents".into(),
        });
        assert_eq!(
            identity(&c, &assertion()),
            Err(MappingRefusal::NotInAccessGroup)
        );
    }

    #[test]
    fn external_user_ids_are_refused_rather_than_matched_as_names() {
        let mut c = config();
        c.use_external_user_id = true;
        let refused = identity(&c, &assertion()).unwrap_err();
        assert_eq!(refused.reason(), "external_user_id_unsupported");
    }
}
