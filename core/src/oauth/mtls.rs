//! Mutual TLS (RFC 8705): the client certificate a request came with, how
//! it names a `tls_client_auth` client (§2.1.2) or matches a
//! `self_signed_tls_client_auth` client's registered certificates (§2.2),
//! and its thumbprint, which certificate-bound tokens carry (`cnf.x5t#S256`, §3.1).

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_store::model::CertSubject;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Where a request's client certificate can come from.
#[derive(Debug, Clone, Default)]
pub struct MtlsSettings {
    /// The TLS listener asks clients for certificates.
    pub listener: bool,
    /// A trusted proxy passes the client's certificate in this header.
    pub header: Option<http::HeaderName>,
    /// Checks a chain against the client CA (`--tls-client-ca-file`).
    pub ca: Option<Arc<dyn ClientCertVerifier>>,
}

impl MtlsSettings {
    /// Clients can authenticate with certificates, so discovery lists the methods.
    pub fn enabled(&self) -> bool {
        self.listener || self.header.is_some()
    }

    /// A proxy's header value: URL-encoded PEM (leaf first, then
    /// intermediates) or the leaf's base64 DER.
    pub fn from_header(&self, value: &str) -> Option<ClientCert> {
        let text = crate::oauth::form::percent_decode(value)?;
        let chain: Vec<CertificateDer<'static>> = if text.contains("-----BEGIN") {
            CertificateDer::pem_slice_iter(text.as_bytes())
                .collect::<Result<_, _>>()
                .ok()?
        } else {
            vec![CertificateDer::from(STANDARD.decode(text.trim()).ok()?)]
        };
        let (leaf, intermediates) = chain.split_first()?;
        Some(ClientCert::new(leaf, self.chained(leaf, intermediates)))
    }

    /// `leaf` (with `intermediates`) chains to the client CA.
    pub fn chained(&self, leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> bool {
        self.ca.as_ref().is_some_and(|ca| {
            ca.verify_client_cert(leaf, intermediates, UnixTime::now())
                .is_ok()
        })
    }
}

/// The leaf certificate of the request's client, put in the request's
/// extensions by the listener (its TLS handshake proved the client holds
/// the key) or read from a trusted proxy's header.
#[derive(Debug, Clone)]
pub struct ClientCert {
    der: Arc<[u8]>,
    /// Chained to a CA of `--tls-client-ca-file`; only such a certificate
    /// can authenticate a `tls_client_auth` client.
    pub chained: bool,
    /// base64url SHA-256 of the DER (RFC 8705 §3.1).
    pub thumbprint: String,
}

impl ClientCert {
    pub fn new(der: &[u8], chained: bool) -> Self {
        ClientCert {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(der)),
            der: der.into(),
            chained,
        }
    }

    /// §2.1.2: the certificate carries `name`: the subject DN, compared
    /// attribute by attribute in RFC 4514 order (types and values
    /// case-insensitively), or one SAN of the kind, exactly (DNS names and
    /// e-mail addresses case-insensitively, IP addresses as addresses).
    pub fn has_name(&self, name: &CertSubject) -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(&self.der) else {
            return false;
        };
        if let CertSubject::SubjectDn(want) = name {
            return subject_dn(&cert).is_some_and(|dn| dn_matches(&dn, want));
        }
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return false;
        };
        san.value.general_names.iter().any(|g| match (name, g) {
            (CertSubject::SanDns(w), GeneralName::DNSName(v)) => w.eq_ignore_ascii_case(v),
            (CertSubject::SanUri(w), GeneralName::URI(v)) => w == v,
            (CertSubject::SanEmail(w), GeneralName::RFC822Name(v)) => w.eq_ignore_ascii_case(v),
            (CertSubject::SanIp(w), GeneralName::IPAddress(v)) => ip_matches(w, v),
            _ => false,
        })
    }

    /// §2.2: the certificate is one of the JWK Set's: the first of a key's
    /// `x5c`, or its `x5t#S256`.
    pub fn in_jwks(&self, jwks: &Value) -> bool {
        let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
            return false;
        };
        keys.iter().any(|k| {
            let leaf = k
                .get("x5c")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
                .and_then(Value::as_str)
                .and_then(|b| STANDARD.decode(b).ok());
            leaf.is_some_and(|l| *l == *self.der)
                || k.get("x5t#S256").and_then(Value::as_str) == Some(self.thumbprint.as_str())
        })
    }
}

/// The subject's attributes in RFC 4514 order (last RDN first), as
/// (upper-case type, value); `None` if an attribute is not a string.
fn subject_dn(cert: &X509Certificate<'_>) -> Option<Vec<(String, String)>> {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<_> = cert.subject().iter_rdn().collect();
    let mut out = Vec::new();
    for rdn in rdns.into_iter().rev() {
        for attr in rdn.iter() {
            let kind = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                .map(str::to_string)
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            out.push((kind.to_ascii_uppercase(), attr.as_str().ok()?.to_string()));
        }
    }
    Some(out)
}

/// A DN string (`CN=app,O=Example`; `\,` escapes a comma; `+` joins the
/// attributes of one RDN) against the certificate's attributes.
fn dn_matches(cert: &[(String, String)], want: &str) -> bool {
    let want = split_dn(want);
    want.len() == cert.len()
        && want
            .iter()
            .zip(cert)
            .all(|(w, (kind, value))| match w.split_once('=') {
                Some((k, v)) => {
                    k.trim().eq_ignore_ascii_case(kind)
                        && v.trim().eq_ignore_ascii_case(value.trim())
                }
                None => false,
            })
}

fn split_dn(dn: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), parts.last_mut()) {
                    last.push(next);
                }
            }
            ',' | '+' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    parts
}

fn ip_matches(want: &str, got: &[u8]) -> bool {
    let got = match got.len() {
        4 => <[u8; 4]>::try_from(got).map(IpAddr::from).ok(),
        16 => <[u8; 16]>::try_from(got).map(IpAddr::from).ok(),
        _ => None,
    };
    match (want.parse::<IpAddr>(), got) {
        (Ok(w), Some(g)) => w == g,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dn: &[(rcgen::DnType, &str)], sans: &[rcgen::SanType]) -> ClientCert {
        let mut params = rcgen::CertificateParams::default();
        let mut name = rcgen::DistinguishedName::new();
        for (k, v) in dn {
            name.push(k.clone(), *v);
        }
        params.distinguished_name = name;
        params.subject_alt_names = sans.to_vec();
        let key = rcgen::KeyPair::generate().unwrap();
        ClientCert::new(params.self_signed(&key).unwrap().der(), true)
    }

    #[test]
    fn names_match_as_rfc_8705_registers_them() {
        use rcgen::{DnType, SanType};
        let c = cert(
            &[
                (DnType::OrganizationName, "Example"),
                (DnType::CommonName, "app"),
            ],
            &[
                SanType::DnsName("app.example".try_into().unwrap()),
                SanType::URI("spiffe://example/app".try_into().unwrap()),
                SanType::IpAddress("10.0.0.1".parse().unwrap()),
            ],
        );
        assert!(c.has_name(&CertSubject::SubjectDn("CN=app,O=Example".into())));
        assert!(c.has_name(&CertSubject::SubjectDn("cn=APP, o=example".into())));
        assert!(!c.has_name(&CertSubject::SubjectDn("O=Example,CN=app".into())));
        assert!(!c.has_name(&CertSubject::SubjectDn("CN=app".into())));
        assert!(!c.has_name(&CertSubject::SubjectDn("CN=app\\,O=Example".into())));
        assert!(c.has_name(&CertSubject::SanDns("APP.example".into())));
        assert!(!c.has_name(&CertSubject::SanDns("other.example".into())));
        assert!(c.has_name(&CertSubject::SanUri("spiffe://example/app".into())));
        assert!(!c.has_name(&CertSubject::SanDns("spiffe://example/app".into())));
        assert!(c.has_name(&CertSubject::SanIp("10.0.0.1".into())));
        assert!(!c.has_name(&CertSubject::SanIp("10.0.0.2".into())));
        assert!(!c.has_name(&CertSubject::SanEmail("app@example".into())));
    }

    #[test]
    fn certificates_match_by_x5c_or_thumbprint() {
        let c = cert(&[(rcgen::DnType::CommonName, "self")], &[]);
        let other = cert(&[(rcgen::DnType::CommonName, "self")], &[]);
        let x5c = serde_json::json!({"keys": [{"kty": "EC", "x5c": [STANDARD.encode(&*c.der)]}]});
        assert!(c.in_jwks(&x5c));
        assert!(!other.in_jwks(&x5c));
        let x5t = serde_json::json!({"keys": [{"kty": "EC", "x5t#S256": c.thumbprint}]});
        assert!(c.in_jwks(&x5t));
        assert!(!other.in_jwks(&x5t));
    }
}
