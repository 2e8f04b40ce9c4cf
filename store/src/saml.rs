//! What every writer of a contact center's SAML settings needs besides the
//! rules in [`crate::validate::saml`]: the service provider's key pairs
//! (generated when settings are first stored, rotated on request) and the
//! fetch of an IdP's metadata URL. The Environment API, the metadata
//! refresh and the operator all go through here.

use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};

use crate::model::{now, SamlSpKey};
use crate::validate::saml::{check_idp_metadata_url, MAX_METADATA_BYTES};

/// Key pairs kept: the current one and the one it replaced.
pub const KEPT_SP_KEYS: usize = 2;
const CERTIFICATE_DAYS: u32 = 3650;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A new RSA-2048 key pair with a self-signed certificate. The IdP trusts
/// the certificate because the SP metadata lists it, so its subject only
/// names the contact center for a human reading it.
pub fn generate_sp_key(contact_center_id: &str) -> Result<SamlSpKey, ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509Name::builder()?;
    // A CN is at most 64 characters.
    let cn: String = format!("Tollgate SAML SP {contact_center_id}")
        .chars()
        .take(64)
        .collect();
    name.append_entry_by_text("CN", &cn)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(CERTIFICATE_DAYS)?)?;
    b.sign(&key, MessageDigest::sha256())?;
    let pem = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    Ok(SamlSpKey {
        id: uuid::Uuid::new_v4().to_string(),
        private_key_pem: pem(key.private_key_to_pem_pkcs8()?),
        certificate_pem: pem(b.build().to_pem()?),
        created_at: now(),
    })
}

/// Puts `new` first and retires what is beyond [`KEPT_SP_KEYS`].
pub fn rotate_sp_keys(keys: &mut Vec<SamlSpKey>, new: SamlSpKey) {
    keys.insert(0, new);
    keys.truncate(KEPT_SP_KEYS);
}

/// The client metadata URLs are fetched with: bounded in time, no
/// redirects (a redirect could leave https), the system's roots plus
/// `extra_roots_pem` (a PEM bundle: a private CA of the IdPs).
pub fn metadata_http_client(extra_roots_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    metadata_http_client_with(reqwest::Client::builder(), extra_roots_pem)
}

/// [`metadata_http_client`] from a builder of the caller's (e.g. with a DNS
/// resolver that keeps connections off internal addresses).
pub fn metadata_http_client_with(
    builder: reqwest::ClientBuilder,
    extra_roots_pem: Option<&[u8]>,
) -> Result<reqwest::Client, String> {
    let mut builder = builder
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_roots_pem {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("the IdP metadata CA bundle cannot be read: {e}"))?;
        if roots.is_empty() {
            return Err("the IdP metadata CA bundle holds no certificate".into());
        }
        builder = builder.tls_certs_merge(roots);
    }
    builder
        .build()
        .map_err(|e| format!("the IdP metadata HTTP client cannot be built: {e}"))
}

/// The document at an IdP's metadata URL (not yet checked as metadata).
/// The error says why, in words fit for an administrator.
pub async fn fetch_idp_metadata(http: &reqwest::Client, url: &str) -> Result<String, String> {
    check_idp_metadata_url(url)?;
    let cannot = |e: reqwest::Error| format!("'idpMetadataUrl' cannot be fetched: {e}");
    let mut res = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(cannot)?;
    let too_large = || format!("'idpMetadataUrl' answers more than {MAX_METADATA_BYTES} bytes");
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(cannot)? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "'idpMetadataUrl' answers with no UTF-8 XML".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_newest_two() {
        let a = generate_sp_key("cc").unwrap();
        let b = generate_sp_key("cc").unwrap();
        let c = generate_sp_key("cc").unwrap();
        assert_ne!(a.private_key_pem, b.private_key_pem);
        let mut keys = vec![a];
        rotate_sp_keys(&mut keys, b.clone());
        rotate_sp_keys(&mut keys, c.clone());
        assert_eq!(keys, vec![c, b]);
        let cert = X509::from_pem(keys[0].certificate_pem.as_bytes()).unwrap();
        let key = PKey::private_key_from_pem(keys[0].private_key_pem.as_bytes()).unwrap();
        assert!(cert.public_key().unwrap().public_eq(&key));
    }

    #[tokio::test]
    async fn only_https_urls_are_fetched() {
        let http = metadata_http_client(None).unwrap();
        let err = fetch_idp_metadata(&http, "http://idp.example/metadata")
            .await
            .unwrap_err();
        assert!(err.contains("https://"), "{err}");
        let err = metadata_http_client(Some(b"no PEM here")).unwrap_err();
        assert!(err.contains("CA bundle"), "{err}");
    }
}
