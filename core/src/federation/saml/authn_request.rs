//! The signed AuthnRequest of an SP-initiated sign-in, in the contact
//! center's binding. Built with samael's types; the enveloped signature
//! (HTTP-POST) is libxmlsec1's and the query signature (HTTP-Redirect,
//! SAML bindings §3.4.4.1, RSA-SHA256) samael's on OpenSSL.

use base64::Engine as _;
use openssl::pkey::{PKey, Private};
use samael::crypto::CertificateDer;
use samael::metadata::{EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING};
use samael::schema::{AuthnRequest, Issuer, NameIdPolicy};
use samael::service_provider::ServiceProvider;
use samael::signature::{DigestAlgorithm, Signature};
use tollgate_store::model::SamlBinding;

const ENTITY_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
/// The configuration has no NameID format: the IdP picks its configured one.
const UNSPECIFIED_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Who asks: the SP of one contact center.
pub struct Requester<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub key: &'a PKey<Private>,
    pub certificate_der: Vec<u8>,
}

/// How the browser carries the request to the IdP.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A form posted to `action` (HTTP-POST binding).
    Post {
        action: String,
        saml_request: String,
        relay_state: String,
    },
    /// A URL with the deflated request and its query signature (HTTP-Redirect binding).
    Redirect { url: String },
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the IdP metadata names no SingleSignOnService for the {0} binding")]
    NoSsoService(&'static str),
    #[error("cannot sign the AuthnRequest: {0}")]
    Signing(String),
}

/// A new AuthnRequest id: an NCName (starts with `_`), 128 random bits.
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

/// The IdP's SSO endpoint for `binding`.
pub fn sso_location(idp: &EntityDescriptor, binding: &str) -> Option<String> {
    ServiceProvider {
        idp_metadata: idp.clone(),
        ..ServiceProvider::default()
    }
    .sso_binding_location(binding)
}

/// The AuthnRequest `id` to the IdP `idp` in `binding`, with `relay_state`.
pub fn build(
    idp: &EntityDescriptor,
    binding: SamlBinding,
    requester: &Requester<'_>,
    id: &str,
    relay_state: &str,
) -> Result<Outgoing, BuildError> {
    crate::federation::saml::xmlsec_log::install();
    let binding_uri = match binding {
        SamlBinding::Post => HTTP_POST_BINDING,
        SamlBinding::Redirect => HTTP_REDIRECT_BINDING,
    };
    let destination =
        sso_location(idp, binding_uri).ok_or(BuildError::NoSsoService(binding_name(binding)))?;
    let mut request = AuthnRequest {
        id: id.to_string(),
        version: "2.0".into(),
        issue_instant: chrono::Utc::now(),
        destination: Some(destination.clone()),
        issuer: Some(Issuer {
            format: Some(ENTITY_FORMAT.into()),
            value: Some(requester.entity_id.to_string()),
            ..Issuer::default()
        }),
        name_id_policy: Some(NameIdPolicy {
            format: Some(UNSPECIFIED_FORMAT.into()),
            allow_create: Some(true),
            ..NameIdPolicy::default()
        }),
        force_authn: Some(false),
        assertion_consumer_service_url: Some(requester.acs_url.to_string()),
        // The answer always comes back by POST: the ACS has that binding only.
        protocol_binding: Some(HTTP_POST_BINDING.into()),
        ..AuthnRequest::default()
    };
    let signing = |e: Box<dyn std::error::Error>| BuildError::Signing(e.to_string());
    match binding {
        SamlBinding::Post => {
            request.signature = Some(signature_template(id, &requester.certificate_der));
            let der = requester
                .key
                .private_key_to_der()
                .map_err(|e| BuildError::Signing(e.to_string()))?;
            let signed = request.to_signed_xml(&der).map_err(signing)?;
            Ok(Outgoing::Post {
                action: destination,
                saml_request: base64::engine::general_purpose::STANDARD.encode(signed),
                relay_state: relay_state.to_string(),
            })
        }
        SamlBinding::Redirect => {
            // The query carries the signature; the XML carries none.
            let url = request
                .signed_redirect(relay_state, requester.key)
                .map_err(signing)?
                .ok_or(BuildError::NoSsoService("redirect"))?;
            Ok(Outgoing::Redirect {
                url: url.to_string(),
            })
        }
    }
}

/// An enveloped RSA-SHA256 signature template over the element `id`, for
/// libxmlsec1 to fill in. samael's template digests with SHA-1, which IdPs
/// (Keycloak) rightly refuse, so the digest is set to SHA-256.
pub fn signature_template(id: &str, certificate_der: &[u8]) -> Signature {
    let mut signature = Signature::template(id, &CertificateDer::from(certificate_der.to_vec()));
    for reference in &mut signature.signed_info.reference {
        reference.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    signature
}

fn binding_name(binding: SamlBinding) -> &'static str {
    match binding {
        SamlBinding::Post => "HTTP-POST",
        SamlBinding::Redirect => "HTTP-Redirect",
    }
}
