//! A test identity provider whose key the tests control: it writes SAML
//! answers, signs them with samael (libxmlsec1) and encrypts assertions
//! for the SP with OpenSSL, so forged variants can be built from real ones.
//! Used by the verification unit tests (`src/sso/saml/tests.rs`) and the
//! in-process sign-in tests (`tests/sso_saml.rs`), which use different parts.
#![allow(dead_code)]

use base64::Engine as _;
use chrono::{Duration, SecondsFormat, Utc};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::symm::Cipher;
use openssl::x509::{X509Name, X509};
use samael::crypto::{Crypto, CryptoProvider};

pub const SP_ENTITY: &str = "https://tollgate.test/auth/v3/sso/saml/cc1/metadata";
pub const ACS: &str = "https://tollgate.test/auth/v3/sso/saml/cc1/acs";
pub const IDP_ENTITY: &str = "https://idp.test/realms/cc1";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct KeyPair {
    pub key: PKey<Private>,
    pub cert_der: Vec<u8>,
}

impl KeyPair {
    pub fn generate(cn: &str) -> KeyPair {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509Name::builder().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert_der = b.build().to_der().unwrap();
        KeyPair { key, cert_der }
    }

    /// Signs every `<ds:Signature>` template in `xml` (the first found).
    pub fn sign(&self, xml: &str) -> String {
        let der = self.key.private_key_to_der().unwrap();
        strip_declaration(&Crypto::sign_xml(xml, &der).unwrap())
    }
}

/// The fields of one answer; tests change one to forge a variant.
#[derive(Clone)]
pub struct Answer {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub destination: String,
    pub recipient: String,
    pub audience: String,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub issued: chrono::DateTime<Utc>,
    pub not_on_or_after: chrono::DateTime<Utc>,
    pub status: String,
}

impl Default for Answer {
    fn default() -> Self {
        let now = Utc::now();
        Answer {
            response_id: format!("_r{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            issuer: IDP_ENTITY.into(),
            destination: ACS.into(),
            recipient: ACS.into(),
            audience: SP_ENTITY.into(),
            in_response_to: Some("_req1".into()),
            name_id: "alice".into(),
            issued: now,
            not_on_or_after: now + Duration::minutes(5),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
        }
    }
}

fn t(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn strip_declaration(xml: &str) -> String {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, r)| r)
            .unwrap_or(rest)
            .trim_start()
            .to_string(),
        None => xml.to_string(),
    }
}

/// An enveloped RSA-SHA256 signature template over the element `id`.
pub fn signature_template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"##
    )
}

impl Answer {
    /// The assertion, with a signature template when `signed`.
    pub fn assertion(&self, signed: bool) -> String {
        let irt = self
            .in_response_to
            .as_ref()
            .map(|id| format!(r#" InResponseTo="{id}""#))
            .unwrap_or_default();
        let sig = if signed {
            signature_template(&self.assertion_id)
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{name}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="{noa}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{issued}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="s-{id}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{name}@example.com</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups"><saml:AttributeValue>agents</saml:AttributeValue><saml:AttributeValue>supervisors</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
            id = self.assertion_id,
            issued = t(self.issued),
            issuer = self.issuer,
            name = self.name_id,
            noa = t(self.not_on_or_after),
            recipient = self.recipient,
            aud = self.audience,
        )
    }

    /// The Response around `inner` (an assertion or encrypted assertion),
    /// with a signature template when `signed`.
    pub fn response(&self, inner: &str, signed: bool) -> String {
        let irt = self
            .in_response_to
            .as_ref()
            .map(|id| format!(r#" InResponseTo="{id}""#))
            .unwrap_or_default();
        let sig = if signed {
            signature_template(&self.response_id)
        } else {
            String::new()
        };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}" Destination="{dest}"{irt}><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{inner}</samlp:Response>"#,
            id = self.response_id,
            issued = t(self.issued),
            dest = self.destination,
            issuer = self.issuer,
            status = self.status,
        )
    }
}

/// IdP metadata naming `cert` as its signing certificate.
pub fn idp_metadata(entity_id: &str, cert_der: &[u8]) -> String {
    idp_metadata_with_slo(entity_id, cert_der, &[])
}

pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The IdP's SingleLogoutService in each binding.
pub const IDP_SLO_REDIRECT: &str = "https://idp.test/slo-redirect";
pub const IDP_SLO_POST: &str = "https://idp.test/slo";

/// IdP metadata with a SingleLogoutService in each of `slo_bindings`.
pub fn idp_metadata_with_slo(entity_id: &str, cert_der: &[u8], slo_bindings: &[&str]) -> String {
    let slo: String = slo_bindings
        .iter()
        .map(|b| {
            let location = if *b == REDIRECT_BINDING {
                IDP_SLO_REDIRECT
            } else {
                IDP_SLO_POST
            };
            format!(r#"<md:SingleLogoutService Binding="{b}" Location="{location}"/>"#)
        })
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>{slo}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/sso"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso-redirect"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        cert = B64.encode(cert_der)
    )
}

/// Content encryption of an `EncryptedAssertion`.
#[derive(Clone, Copy)]
pub enum Content {
    Aes128Cbc,
    Aes128Gcm,
}

/// `assertion` encrypted for the holder of `sp_cert` (RSA-OAEP key
/// transport), as an `EncryptedAssertion`.
pub fn encrypt(assertion: &str, sp_cert_der: &[u8], content: Content) -> String {
    let cert = X509::from_der(sp_cert_der).unwrap();
    let rsa = cert.public_key().unwrap().rsa().unwrap();
    let mut key = [0u8; 16];
    let mut iv = [0u8; 16];
    openssl::rand::rand_bytes(&mut key).unwrap();
    openssl::rand::rand_bytes(&mut iv).unwrap();
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)
        .unwrap();
    wrapped.truncate(n);
    let (data, method) = match content {
        Content::Aes128Cbc => {
            let mut data = iv.to_vec();
            data.extend(
                openssl::symm::encrypt(
                    Cipher::aes_128_cbc(),
                    &key,
                    Some(&iv),
                    assertion.as_bytes(),
                )
                .unwrap(),
            );
            (data, "http://www.w3.org/2001/04/xmlenc#aes128-cbc")
        }
        Content::Aes128Gcm => {
            let mut tag = [0u8; 16];
            let mut data = iv[..12].to_vec();
            data.extend(
                openssl::symm::encrypt_aead(
                    Cipher::aes_128_gcm(),
                    &key,
                    Some(&iv[..12]),
                    &[],
                    assertion.as_bytes(),
                    &mut tag,
                )
                .unwrap(),
            );
            data.extend(tag);
            (data, "http://www.w3.org/2009/xmlenc11#aes128-gcm")
        }
    };
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{method}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>{k}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{v}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        k = B64.encode(&wrapped),
        v = B64.encode(&data)
    )
}

/// An IdP's LogoutRequest; tests change a field to forge a variant.
#[derive(Clone)]
pub struct Logout {
    pub id: String,
    pub issuer: String,
    pub destination: String,
    pub name_id: String,
    pub session_index: Option<String>,
    pub issued: chrono::DateTime<Utc>,
}

impl Logout {
    pub fn new(destination: &str, name_id: &str) -> Logout {
        Logout {
            id: format!("_l{}", uuid::Uuid::new_v4().simple()),
            issuer: IDP_ENTITY.into(),
            destination: destination.into(),
            name_id: name_id.into(),
            session_index: None,
            issued: Utc::now(),
        }
    }

    /// The XML, with a signature template when `signed`.
    pub fn request(&self, signed: bool) -> String {
        let sig = if signed {
            signature_template(&self.id)
        } else {
            String::new()
        };
        let index = self
            .session_index
            .as_ref()
            .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
            .unwrap_or_default();
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{name}</saml:NameID>{index}</samlp:LogoutRequest>"#,
            id = self.id,
            issued = t(self.issued),
            dest = self.destination,
            issuer = self.issuer,
            name = self.name_id,
        )
    }
}

/// The HTTP-Redirect binding query of `xml` (deflated), signed with
/// RSA-SHA256 by `key` when given (bindings §3.4.4.1).
pub fn redirect_query(
    field: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&PKey<Private>>,
) -> String {
    use std::io::Write as _;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    let deflated = enc.finish().unwrap();
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair(field, &B64.encode(deflated));
    if let Some(r) = relay_state {
        q.append_pair("RelayState", r);
    }
    q.append_pair(
        "SigAlg",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
    let mut query = q.finish();
    if let Some(key) = key {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).unwrap();
        signer.update(query.as_bytes()).unwrap();
        let signature = B64.encode(signer.sign_to_vec().unwrap());
        query.push_str("&Signature=");
        query.push_str(&form_urlencoded::byte_serialize(signature.as_bytes()).collect::<String>());
    }
    query
}

/// The XML of an HTTP-Redirect binding's deflated, base64 `value`.
pub fn inflate(value: &str) -> String {
    use std::io::Read as _;
    let deflated = B64.decode(value).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}
