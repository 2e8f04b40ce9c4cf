//! The service provider's key pairs in the form SAML messages need them
//! (generated and rotated by `tollgate_store::saml`). The newest signs AuthnRequests and decrypts assertions;
//! the one before stays published in the SP metadata (and keeps decrypting)
//! until the next rotation retires it, so the IdP can pick up the new one.

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use tollgate_store::model::SamlSpKey;

/// The private key of a stored pair.
pub fn private_key(key: &SamlSpKey) -> Result<PKey<Private>, ErrorStack> {
    PKey::private_key_from_pem(key.private_key_pem.as_bytes())
}

/// The DER of a stored pair's certificate.
pub fn certificate_der(key: &SamlSpKey) -> Result<Vec<u8>, ErrorStack> {
    X509::from_pem(key.certificate_pem.as_bytes())?.to_der()
}
