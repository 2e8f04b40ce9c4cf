//! The service provider's endpoints, derived from the deployment's public
//! URL (the token issuer) and the contact center, and its SAML metadata.

use base64::Engine as _;
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    EncryptionMethod, Endpoint, EntityDescriptor, IndexedEndpoint, KeyDescriptor, SpSsoDescriptor,
    HTTP_POST_BINDING, HTTP_REDIRECT_BINDING,
};
use samael::traits::ToXml;
use tollgate_store::model::SamlProviderConfig;

use crate::federation::saml::keys;

/// The SP entity id of a contact center: its metadata URL.
pub fn entity_id(issuer: &str, contact_center_id: &str) -> String {
    format!("{issuer}/auth/v3/sso/saml/{contact_center_id}/metadata")
}

/// The assertion consumer service (HTTP-POST).
pub fn acs_url(issuer: &str, contact_center_id: &str) -> String {
    format!("{issuer}/auth/v3/sso/saml/{contact_center_id}/acs")
}

/// The single logout URL (both bindings).
pub fn slo_url(issuer: &str, contact_center_id: &str) -> String {
    format!("{issuer}/auth/v3/sso/saml/{contact_center_id}/slo")
}

/// What the SP can decrypt (samael's supported content and key transport).
const ENCRYPTION_METHODS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

/// The SP's metadata: every kept key pair for signing and for encryption.
pub fn document(issuer: &str, config: &SamlProviderConfig) -> Result<String, String> {
    let cc = &config.contact_center_id;
    let mut descriptors = Vec::new();
    for key in &config.sp_keys {
        let der = keys::certificate_der(key).map_err(|e| e.to_string())?;
        let info = KeyInfo {
            id: None,
            x509_data: Some(X509Data {
                certificates: vec![base64::engine::general_purpose::STANDARD.encode(der)],
            }),
        };
        descriptors.push(KeyDescriptor {
            key_use: Some("signing".into()),
            key_info: info.clone(),
            encryption_methods: None,
        });
        descriptors.push(KeyDescriptor {
            key_use: Some("encryption".into()),
            key_info: info,
            encryption_methods: Some(
                ENCRYPTION_METHODS
                    .iter()
                    .map(|a| EncryptionMethod {
                        algorithm: (*a).into(),
                    })
                    .collect(),
            ),
        });
    }
    let entity = EntityDescriptor {
        entity_id: Some(entity_id(issuer, cc)),
        sp_sso_descriptors: Some(vec![SpSsoDescriptor {
            protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".into()),
            key_descriptors: Some(descriptors),
            authn_requests_signed: Some(true),
            want_assertions_signed: Some(true),
            single_logout_services: Some(
                [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
                    .iter()
                    .map(|binding| Endpoint {
                        binding: (*binding).into(),
                        location: slo_url(issuer, cc),
                        response_location: None,
                    })
                    .collect(),
            ),
            assertion_consumer_services: vec![IndexedEndpoint {
                binding: HTTP_POST_BINDING.into(),
                location: acs_url(issuer, cc),
                response_location: None,
                index: 0,
                is_default: Some(true),
            }],
            ..SpSsoDescriptor::default()
        }]),
        ..EntityDescriptor::default()
    };
    entity.to_string().map_err(|e| e.to_string())
}
