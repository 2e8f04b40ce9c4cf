//! What every writer of a contact center's SAML settings needs besides the
//! rules in [`crate::validate::saml`]: the service provider's key pairs
//! (generated when settings are first stored, rotated on request). The
//! fetch of an IdP's metadata URL is I/O and lives in `tollgate-core`
//! (`federation::saml::fetch`).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};

use crate::model::{now, SamlSpKey};

/// Key pairs kept: the current one and the one it replaced.
pub const KEPT_SP_KEYS: usize = 2;
const CERTIFICATE_DAYS: u32 = 3650;

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
}
