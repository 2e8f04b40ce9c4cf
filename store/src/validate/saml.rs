//! The SAML 2.0 service provider settings of a contact center (`auth: saml`).

use samael::metadata::EntityDescriptor;
use samael::service_provider::ServiceProvider;

use crate::model::SamlProviderConfig;

/// Metadata documents larger than this are refused.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;
const MAX_ATTRIBUTE_NAME: usize = 512;

/// The entity id of IdP metadata Tollgate can use: an entity id, an
/// IDPSSODescriptor with a single sign-on service and a signing
/// certificate. `field` names where the document came from.
pub fn check_idp_metadata(field: &str, xml: &str) -> Result<String, String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(format!(
            "'{field}' is larger than {MAX_METADATA_BYTES} bytes"
        ));
    }
    let parsed: EntityDescriptor = xml
        .parse()
        .map_err(|_| format!("'{field}' is not SAML metadata (md:EntityDescriptor)"))?;
    let entity_id = match parsed.entity_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => return Err(format!("'{field}' has no entityID")),
    };
    let sso = parsed
        .idp_sso_descriptors
        .iter()
        .flatten()
        .any(|d| !d.single_sign_on_services.is_empty());
    if !sso {
        return Err(format!(
            "'{field}' has no IDPSSODescriptor with a SingleSignOnService"
        ));
    }
    let sp = ServiceProvider {
        idp_metadata: parsed,
        ..ServiceProvider::default()
    };
    match sp.idp_signing_certs() {
        Ok(Some(c)) if !c.is_empty() => Ok(entity_id),
        _ => Err(format!(
            "'{field}' has no signing certificate (KeyDescriptor with X509Certificate)"
        )),
    }
}

/// The IdP's entity id named by stored metadata (already checked).
pub fn idp_entity_id(xml: &str) -> Option<String> {
    xml.parse::<EntityDescriptor>()
        .ok()
        .and_then(|m| m.entity_id)
}

/// An absolute `https://` URL without user info.
pub fn check_idp_metadata_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| "'idpMetadataUrl' is not a URL".to_string())?;
    if parsed.scheme() != "https" {
        return Err("'idpMetadataUrl' must be an https:// URL".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("'idpMetadataUrl' must not carry user info".into());
    }
    Ok(())
}

fn attribute_name(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.len() > MAX_ATTRIBUTE_NAME {
        return Err(format!(
            "'{field}' must be 1-{MAX_ATTRIBUTE_NAME} characters, not blank"
        ));
    }
    Ok(())
}

/// Checks the settings as they will be stored (the SP key pairs aside:
/// the writer generates them once the rest is acceptable).
pub fn check_saml_provider(c: &SamlProviderConfig) -> Result<(), String> {
    let field = if c.idp_metadata_url.is_some() {
        "idpMetadataUrl"
    } else {
        "idpMetadata"
    };
    check_idp_metadata(field, &c.idp_metadata)?;
    if let Some(url) = &c.idp_metadata_url {
        check_idp_metadata_url(url)?;
    }
    if let Some(a) = &c.username_attribute {
        attribute_name("usernameAttribute", a)?;
    }
    if let Some(g) = &c.access_group {
        if g.attribute.trim().is_empty() || g.value.trim().is_empty() {
            return Err("'accessGroup' needs an attribute and a value".into());
        }
        attribute_name("accessGroup.attribute", &g.attribute)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SamlAccessGroup, SamlBinding};
    use base64::Engine as _;

    fn metadata(key_descriptor: &str, sso: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/realms/demo"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptor}{sso}</md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    fn signing_key() -> String {
        let key = crate::saml::generate_sp_key("idp").unwrap();
        let der = openssl::x509::X509::from_pem(key.certificate_pem.as_bytes())
            .unwrap()
            .to_der()
            .unwrap();
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    const SSO: &str = r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso"/>"#;

    fn config() -> SamlProviderConfig {
        SamlProviderConfig {
            contact_center_id: "cc".into(),
            idp_metadata: metadata(&signing_key(), SSO),
            idp_metadata_url: None,
            idp_metadata_fetched_at: None,
            username_attribute: None,
            use_external_user_id: false,
            access_group: None,
            binding: SamlBinding::Post,
            just_in_time_users: false,
            allow_idp_initiated: false,
            sp_keys: vec![],
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn usable_metadata_names_its_entity() {
        let c = config();
        assert_eq!(
            check_idp_metadata("idpMetadata", &c.idp_metadata).as_deref(),
            Ok("https://idp.example/realms/demo")
        );
        assert_eq!(
            idp_entity_id(&c.idp_metadata).as_deref(),
            Some("https://idp.example/realms/demo")
        );
        assert_eq!(check_saml_provider(&c), Ok(()));
    }

    #[test]
    fn each_rule_names_its_field() {
        type Change = fn(&mut SamlProviderConfig);
        let cases: Vec<(Change, &str)> = vec![
            (|c| c.idp_metadata = "no XML <".into(), "not SAML metadata"),
            (
                |c| c.idp_metadata = metadata("", SSO),
                "no signing certificate",
            ),
            (
                |c| c.idp_metadata = metadata(&signing_key(), ""),
                "no IDPSSODescriptor with a SingleSignOnService",
            ),
            (
                |c| {
                    c.idp_metadata = c
                        .idp_metadata
                        .replace(" entityID=\"https://idp.example/realms/demo\"", "")
                },
                "no entityID",
            ),
            (
                |c| c.idp_metadata_url = Some("http://idp.example/md".into()),
                "'idpMetadataUrl' must be an https:// URL",
            ),
            (
                |c| c.idp_metadata_url = Some("https://u:p@idp.example/md".into()),
                "user info",
            ),
            (
                |c| c.username_attribute = Some(" ".into()),
                "'usernameAttribute'",
            ),
            (
                |c| {
                    c.access_group = Some(SamlAccessGroup {
                        attribute: "groups".into(),
                        value: "".into(),
                    })
                },
                "'accessGroup'",
            ),
        ];
        for (change, words) in cases {
            let mut c = config();
            change(&mut c);
            let err = check_saml_provider(&c).expect_err(words);
            assert!(err.contains(words), "{err} should say {words}");
        }
        let mut fetched = config();
        fetched.idp_metadata = "no XML <".into();
        fetched.idp_metadata_url = Some("https://idp.example/md".into());
        let err = check_saml_provider(&fetched).unwrap_err();
        assert!(err.starts_with("'idpMetadataUrl'"), "{err}");
    }
}
