//! The service provider's key pairs: generated on first use, rotated by the
//! Environment API. The newest signs AuthnRequests and decrypts assertions;
//! the one before stays published in the SP metadata (and keeps decrypting)
//! until the next rotation retires it, so the IdP can pick up the new one.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};
use tollgate_store::model::{now, SamlSpKey};

/// Key pairs kept: the current one and the one it replaced.
pub const KEPT: usize = 2;
const CERTIFICATE_DAYS: u32 = 3650;

/// A new RSA-2048 key pair with a self-signed certificate naming `entity_id`.
pub fn generate(entity_id: &str) -> Result<SamlSpKey, ErrorStack> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509Name::builder()?;
    // A CN is at most 64 characters; the entity id is in the metadata anyway.
    let cn: String = entity_id.chars().take(64).collect();
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
        id: crate::environment::new_id(),
        private_key_pem: pem(key.private_key_to_pem_pkcs8()?),
        certificate_pem: pem(b.build().to_pem()?),
        created_at: now(),
    })
}

/// Puts `new` first and retires what is beyond [`KEPT`].
pub fn rotate(keys: &mut Vec<SamlSpKey>, new: SamlSpKey) {
    keys.insert(0, new);
    keys.truncate(KEPT);
}

/// The private key of a stored pair.
pub fn private_key(key: &SamlSpKey) -> Result<PKey<Private>, ErrorStack> {
    PKey::private_key_from_pem(key.private_key_pem.as_bytes())
}

/// The DER of a stored pair's certificate.
pub fn certificate_der(key: &SamlSpKey) -> Result<Vec<u8>, ErrorStack> {
    X509::from_pem(key.certificate_pem.as_bytes())?.to_der()
}
