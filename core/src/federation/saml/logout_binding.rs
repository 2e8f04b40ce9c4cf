//! The SAML bindings of logout messages, both ways: checking the IdP's
//! signature (HTTP-Redirect query signature, HTTP-POST enveloped XML
//! signature by libxmlsec1) and signing Tollgate's own; where the IdP's
//! SingleLogoutService is.

use std::io::{Read, Write};

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use samael::crypto::{sign_url, CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::metadata::{EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING};
use samael::service_provider::ServiceProvider;

use crate::federation::saml::verify::{prescan, Refusal, ALGORITHMS};

/// A deflated request larger than this is not a LogoutRequest.
const MAX_INFLATED: u64 = 256 * 1024;

/// The IdP's signing certificates from its metadata (none: nothing verifies).
pub fn idp_certificates(idp: &EntityDescriptor) -> Result<Vec<CertificateDer>, Refusal> {
    let sp = ServiceProvider {
        idp_metadata: idp.clone(),
        ..ServiceProvider::default()
    };
    match sp.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => Ok(certs),
        _ => Err(Refusal::NoIdpCertificate),
    }
}

/// HTTP-Redirect binding: the signature covers the query parameters exactly
/// as the IdP encoded them (bindings §3.4.4.1), so the octets signed are
/// taken from the raw query, not re-encoded. RSA with SHA-2 only.
pub fn verify_query(
    query: &str,
    certs: &[CertificateDer],
) -> Result<(String, Option<String>), Refusal> {
    let mut raw: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if raw.iter().any(|(seen, _)| *seen == k) {
            return Err(Refusal::Malformed);
        }
        raw.push((k, v));
    }
    let get = |k: &str| raw.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (field, message) = match (get("SAMLRequest"), get("SAMLResponse")) {
        (Some(m), None) => ("SAMLRequest", m),
        (None, Some(m)) => ("SAMLResponse", m),
        _ => return Err(Refusal::Malformed),
    };
    let relay_state = get("RelayState");
    let (Some(sig_alg), Some(signature)) = (get("SigAlg"), get("Signature")) else {
        return Err(Refusal::Signature);
    };
    let digest = match unescape(sig_alg).as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
        _ => return Err(Refusal::Signature),
    };
    let mut signed = format!("{field}={message}");
    if let Some(r) = relay_state {
        signed.push_str(&format!("&RelayState={r}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg}"));
    let signature = base64::engine::general_purpose::STANDARD
        .decode(unescape(signature))
        .map_err(|_| Refusal::Signature)?;
    let valid = certs.iter().any(|cert| {
        let verify = || -> Result<bool, openssl::error::ErrorStack> {
            let key = X509::from_der(cert.der_data())?.public_key()?;
            if key.rsa().is_err() {
                return Ok(false);
            }
            let mut verifier = openssl::sign::Verifier::new(digest, &key)?;
            verifier.update(signed.as_bytes())?;
            verifier.verify(&signature)
        };
        verify().unwrap_or(false)
    });
    if !valid {
        return Err(Refusal::Signature);
    }
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(
            unescape(message)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        )
        .map_err(|_| Refusal::Malformed)?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED)
        .read_to_string(&mut xml)
        .map_err(|_| Refusal::Malformed)?;
    if prescan(&xml)? != 0 {
        return Err(Refusal::Malformed);
    }
    Ok((xml, relay_state.map(unescape)))
}

/// One query value, form-decoded.
fn unescape(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// HTTP-POST binding: libxmlsec1 verifies the enveloped signature with an
/// IdP certificate and returns only the signed content.
pub fn verify_enveloped(xml: &str, certs: &[CertificateDer]) -> Result<String, Refusal> {
    crate::federation::saml::xmlsec_log::install();
    // A logout message carries no assertion; the DOCTYPE and transform
    // checks are the ones the ACS makes.
    if prescan(xml)? != 0 {
        return Err(Refusal::Malformed);
    }
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certs,
        ReduceMode::default(),
        Some(ALGORITHMS),
    )
    .map_err(|_| Refusal::Signature)
}

/// The IdP's SingleLogoutService: HTTP-Redirect when offered, else
/// HTTP-POST; its `ResponseLocation` (if any) for a response.
pub fn idp_slo_service(
    idp: &EntityDescriptor,
    for_response: bool,
) -> Option<(&'static str, String)> {
    let services: Vec<_> = idp
        .idp_sso_descriptors
        .iter()
        .flatten()
        .flat_map(|d| d.single_logout_services.iter())
        .collect();
    [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
        .into_iter()
        .find_map(|binding| {
            services.iter().find(|s| s.binding == binding).map(|s| {
                let to = match &s.response_location {
                    Some(r) if for_response => r.clone(),
                    _ => s.location.clone(),
                };
                (binding, to)
            })
        })
}

/// HTTP-POST binding: `xml` (with a signature template) signed by
/// libxmlsec1, base64 for the form.
pub fn sign_enveloped(
    xml: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<String, String> {
    crate::federation::saml::xmlsec_log::install();
    let der = key.private_key_to_der().map_err(|e| e.to_string())?;
    let signed = Crypto::sign_xml(xml, &der).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signed))
}

/// HTTP-Redirect binding: the deflated message as `field` and the query
/// signature (RSA-SHA256).
pub fn redirect_url(
    field: &str,
    xml: &str,
    destination: &str,
    relay_state: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<String, String> {
    let mut deflated = Vec::new();
    {
        let mut encoder =
            flate2::write::DeflateEncoder::new(&mut deflated, flate2::Compression::default());
        encoder
            .write_all(xml.as_bytes())
            .map_err(|e| e.to_string())?;
        encoder.finish().map_err(|e| e.to_string())?;
    }
    let mut url = url::Url::parse(destination).map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair(
        field,
        &base64::engine::general_purpose::STANDARD.encode(&deflated),
    );
    if !relay_state.is_empty() {
        url.query_pairs_mut().append_pair("RelayState", relay_state);
    }
    sign_url(url, key)
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
}
