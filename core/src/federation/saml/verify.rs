//! Checks a SAML Response (or, for the RFC 7522 bearer grant, a bare
//! Assertion) from a contact center's identity provider.
//!
//! XML signature verification, canonicalization, the pruning of everything
//! the signature does not cover (XSW defence) and assertion decryption are
//! libxmlsec1's, through samael; this module only decides what Tollgate
//! demands on top: a signing certificate from the IdP's metadata and nothing
//! else, strong algorithms, exactly one assertion, an audience, a bearer
//! subject confirmation for the expected recipient, bounded clock skew.

use chrono::{DateTime, Duration, Utc};
use openssl::pkey::{PKey, Private};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::EntityDescriptor;
use samael::schema::Assertion;
use samael::service_provider::{Error as SamlError, ServiceProvider};

const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Reference transforms a SAML signature uses. Anything else (XSLT, XPath)
/// would make libxmlsec1 run attacker-chosen programs before the digest.
const TRANSFORMS: &[&[u8]] = &[
    b"http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    b"http://www.w3.org/2001/10/xml-exc-c14n#",
    b"http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];

/// Clocks of the IdP and Tollgate may differ by this much.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// How old an IssueInstant may be: the browser round trip, not longer.
pub const MAX_ISSUE_DELAY_SECS: i64 = 300;

/// SHA-1 (and DSA-SHA1) signatures are refused; these are accepted.
pub const ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What the answer must say to be accepted.
pub struct Expected<'a> {
    /// The IdP: its entity id and signing certificates (from its metadata).
    pub idp: &'a EntityDescriptor,
    /// The SP entity id, the only accepted `Audience`.
    pub audience: &'a str,
    /// The ACS URL (or the token endpoint for RFC 7522): `Destination` and
    /// `Recipient`.
    pub recipient: &'a str,
    /// The AuthnRequest id this answers; `None` for an unsolicited answer
    /// (IdP-initiated sign-in, bearer grant), which must not name one.
    pub in_response_to: Option<&'a str>,
    /// The SP's private key, for encrypted assertions.
    pub decryption_key: Option<&'a PKey<Private>>,
}

/// A checked assertion, reduced to what sign-in needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// Its `ID`: single use until `expires_at`.
    pub id: String,
    pub issuer: String,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// Attribute name → values, in document order.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Until when the assertion could be presented again (replay cache).
    pub expires_at: DateTime<Utc>,
}

impl VerifiedAssertion {
    /// The values of the attribute `name` (its `Name` or `FriendlyName`).
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Why an answer was refused; `reason()` goes into the audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the identity provider's metadata has no signing certificate")]
    NoIdpCertificate,
    #[error("the XML is not a single SAML response or assertion")]
    Malformed,
    #[error("the answer carries more than one assertion")]
    MultipleAssertions,
    #[error("no valid signature by the identity provider's key")]
    Signature,
    #[error("a signature uses a transform other than enveloped-signature and c14n")]
    Transform,
    #[error("Destination is not this service provider's endpoint")]
    Destination,
    #[error("Recipient is not this service provider's endpoint")]
    Recipient,
    #[error("InResponseTo does not match the request")]
    InResponseTo,
    #[error("the audience is not this service provider")]
    Audience,
    #[error("the issuer is not the identity provider")]
    Issuer,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the identity provider answered with a failure status")]
    Status,
    #[error("no bearer subject confirmation")]
    SubjectConfirmation,
    #[error("the encrypted assertion cannot be decrypted")]
    Decryption,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoIdpCertificate => "no_idp_certificate",
            Refusal::Malformed => "malformed",
            Refusal::MultipleAssertions => "multiple_assertions",
            Refusal::Signature => "signature",
            Refusal::Transform => "transform",
            Refusal::Destination => "destination",
            Refusal::Recipient => "recipient",
            Refusal::InResponseTo => "in_response_to",
            Refusal::Audience => "audience",
            Refusal::Issuer => "issuer",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Status => "status",
            Refusal::SubjectConfirmation => "subject_confirmation",
            Refusal::Decryption => "decryption",
        }
    }
}

impl From<SamlError> for Refusal {
    fn from(e: SamlError) -> Self {
        match e {
            SamlError::DestinationValidationError { .. } => Refusal::Destination,
            SamlError::AssertionExpired { .. }
            | SamlError::ResponseExpired { .. }
            | SamlError::AssertionConditionExpired { .. }
            | SamlError::AssertionSubjectConfirmationExpired { .. } => Refusal::Expired,
            SamlError::AssertionConditionExpiredBefore { .. }
            | SamlError::AssertionSubjectConfirmationExpiredBefore { .. } => Refusal::NotYetValid,
            SamlError::AssertionBearerSubjectConfirmationMissing
            | SamlError::AssertionSubjectConfirmationMissing => Refusal::SubjectConfirmation,
            SamlError::AssertionIssuerMismatch { .. } | SamlError::ResponseIssuerMismatch { .. } => {
                Refusal::Issuer
            }
            SamlError::AssertionConditionAudienceRestrictionFailed { .. } => Refusal::Audience,
            SamlError::AssertionRecipientMismatch { .. } => Refusal::Recipient,
            SamlError::AssertionInResponseToInvalid { .. }
            | SamlError::ResponseInResponseToInvalid { .. } => Refusal::InResponseTo,
            SamlError::ResponseBadStatusCode { .. } => Refusal::Status,
            SamlError::FailedToValidateSignature | SamlError::CryptoXmlError(_) => {
                Refusal::Signature
            }
            SamlError::MissingPrivateKeySP
            | SamlError::MissingEncryptedKeyInfo
            | SamlError::MissingEncryptedValueInfo
            | SamlError::EncryptedAssertionKeyMethodUnsupported { .. }
            | SamlError::EncryptedAssertionValueMethodUnsupported { .. }
            | SamlError::EncryptedAssertionInvalid
            | SamlError::EncryptedAssertionsNotYetSupported
            | SamlError::FailedToDecryptAssertion
            // OpenSSL refusing the key transport: encrypted for another key.
            | SamlError::CryptoProviderError(_) => Refusal::Decryption,
            _ => Refusal::Malformed,
        }
    }
}

/// Verifies `xml` (a `samlp:Response` or a `saml:Assertion`) as `expected`
/// asks. Only content covered by a valid IdP signature is looked at.
pub fn verify(xml: &str, expected: &Expected<'_>) -> Result<VerifiedAssertion, Refusal> {
    crate::federation::saml::xmlsec_log::install();
    // None at all is left to samael: a signed failure status says why.
    if prescan(xml)? > 1 {
        return Err(Refusal::MultipleAssertions);
    }
    let sp = ServiceProvider {
        entity_id: Some(expected.audience.to_string()),
        acs_url: Some(expected.recipient.to_string()),
        key: expected.decryption_key.cloned(),
        idp_metadata: expected.idp.clone(),
        allow_idp_initiated: expected.in_response_to.is_none(),
        max_clock_skew: Duration::seconds(CLOCK_SKEW_SECS),
        max_issue_delay: Duration::seconds(MAX_ISSUE_DELAY_SECS),
        allowed_signature_algorithms: Some(ALGORITHMS.to_vec()),
        ..ServiceProvider::default()
    };
    // Without a certificate samael would accept unsigned XML.
    match sp.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => {}
        _ => return Err(Refusal::NoIdpCertificate),
    }
    let ids: Vec<&str> = expected.in_response_to.into_iter().collect();
    let assertion = sp.parse_xml_response(xml, Some(&ids))?;
    check_beyond_library(&assertion, expected)?;
    Ok(reduce(assertion))
}

/// What samael leaves optional but Tollgate requires.
fn check_beyond_library(a: &Assertion, expected: &Expected<'_>) -> Result<(), Refusal> {
    let audiences = a
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_ref())
        .map(|r| r.iter().flat_map(|r| r.audience.iter()).count())
        .unwrap_or(0);
    if audiences == 0 {
        return Err(Refusal::Audience);
    }
    // An unsolicited answer naming a request answers someone else's request.
    if expected.in_response_to.is_none() {
        let names_request = bearer_data(a).any(|d| d.in_response_to.is_some());
        if names_request {
            return Err(Refusal::InResponseTo);
        }
    }
    Ok(())
}

fn bearer_data(
    a: &Assertion,
) -> impl Iterator<Item = &samael::schema::SubjectConfirmationData> + '_ {
    a.subject
        .iter()
        .flat_map(|s| s.subject_confirmations.iter().flatten())
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
}

fn reduce(a: Assertion) -> VerifiedAssertion {
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    let latest = bearer_data(&a)
        .filter_map(|d| d.not_on_or_after)
        .chain(a.conditions.iter().filter_map(|c| c.not_on_or_after))
        .max()
        .unwrap_or(a.issue_instant + Duration::seconds(MAX_ISSUE_DELAY_SECS));
    let attributes = a
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| s.attributes.iter())
        .filter_map(|attr| {
            let name = attr.name.clone().or_else(|| attr.friendly_name.clone())?;
            let values = attr.values.iter().filter_map(|v| v.value.clone()).collect();
            Some((name, values))
        })
        .collect();
    VerifiedAssertion {
        id: a.id.clone(),
        issuer: a.issuer.value.clone().unwrap_or_default(),
        name_id: a
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .map(|n| n.value.clone()),
        name_id_format: a
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .and_then(|n| n.format.clone()),
        session_index: a
            .authn_statements
            .iter()
            .flatten()
            .find_map(|s| s.session_index.clone()),
        attributes,
        expires_at: latest + skew,
    }
}

/// The `Issuer` of a document that is one bare SAML `Assertion` (the RFC
/// 7522 grant's), read before anything is trusted: it only selects the
/// contact center whose IdP then verifies the whole assertion. A Response,
/// an `EncryptedAssertion` or any other root is `Malformed`.
pub(crate) fn bare_assertion_issuer(xml: &str) -> Result<String, Refusal> {
    let mut reader = NsReader::from_str(xml);
    // The root, then its first child, which SAML core (§2.3.3) makes the Issuer.
    let mut expect: &[u8] = b"Assertion";
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::Malformed)?;
        let in_ns = matches!(ns, ResolveResult::Bound(ref n) if n.as_ref() == ASSERTION_NS);
        match event {
            Event::Start(e) if in_ns && e.local_name().as_ref() == expect => {
                if expect == b"Issuer" {
                    let raw = reader.read_text(e.name()).map_err(|_| Refusal::Malformed)?;
                    let raw = raw.decode().map_err(|_| Refusal::Malformed)?;
                    let issuer =
                        quick_xml::escape::unescape(&raw).map_err(|_| Refusal::Malformed)?;
                    return Ok(issuer.trim().to_string());
                }
                expect = b"Issuer";
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Text(_) => {}
            _ => return Err(Refusal::Malformed),
        }
    }
}

/// Counts SAML `Assertion` and `EncryptedAssertion` elements anywhere in the
/// document, signed or not: a second one is a wrapping attempt or an answer
/// Tollgate cannot attribute, so it is refused before any signature work.
/// A DOCTYPE (entity expansion) and unusual signature transforms are refused
/// too, before libxmlsec1 sees the document.
pub fn prescan(xml: &str) -> Result<usize, Refusal> {
    let mut reader = NsReader::from_str(xml);
    let mut count = 0;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::Malformed)?;
        match event {
            Event::DocType(_) => return Err(Refusal::Malformed),
            Event::Start(e) | Event::Empty(e) => {
                let in_ns =
                    |want: &[u8]| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want);
                let local = e.local_name();
                if matches!(local.as_ref(), b"Assertion" | b"EncryptedAssertion")
                    && in_ns(ASSERTION_NS)
                {
                    count += 1;
                }
                if local.as_ref() == b"Transform" && in_ns(DSIG_NS) {
                    let algorithm = e
                        .try_get_attribute("Algorithm")
                        .map_err(|_| Refusal::Malformed)?
                        .map(|a| a.value.into_owned())
                        .unwrap_or_default();
                    if !TRANSFORMS.contains(&algorithm.as_slice()) {
                        return Err(Refusal::Transform);
                    }
                }
            }
            Event::Eof => return Ok(count),
            _ => {}
        }
    }
}
