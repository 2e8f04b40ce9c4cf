//! Importing an existing signing key, for a migration from another issuer:
//! either it signs from now (relying parties keep the key they trust), or
//! it is only published until a date so the tokens it signed there still
//! verify here. Either way the rotation schedule takes over afterwards.

use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use tollgate_store::model::{KeyAlgorithm, SigningKey, Timestamp};
use tollgate_store::{Db, StoreError};

use crate::tokens::keys::{record_from_pkcs8, KeyError, KeySchedule};

/// Weaker RSA keys are refused (NIST SP 800-131A); the signer takes at most 8192.
pub const MIN_RSA_BITS: u32 = 2048;
const MAX_RSA_BITS: u32 = 8192;
const MAX_KID_LEN: usize = 128;

/// What an imported key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Signs from now for one rotation interval, then stays published while
    /// its tokens live, like a generated key.
    Sign {
        rotation_interval: i64,
        max_token_lifetime: i64,
    },
    /// Never signs; published in JWKS (and trusted) until this time.
    PublishUntil(Timestamp),
}

/// A key to import: the file's bytes (PEM or PKCS#12) and its password.
pub struct KeyImport<'a> {
    pub kid: &'a str,
    pub material: &'a [u8],
    pub password: Option<&'a str>,
    pub usage: KeyUse,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a PEM private key (PKCS#1, SEC1 or PKCS#8) nor a PKCS#12 file")]
    Unreadable,
    #[error("the PKCS#12 file holds no private key")]
    NoPrivateKey,
    #[error("wrong or missing password for the PKCS#12 file")]
    Pkcs12Password,
    #[error("wrong or missing password for the encrypted PEM key")]
    PemPassword,
    #[error("{0} keys are not supported (RSA or EC P-256 only)")]
    UnsupportedType(String),
    #[error("EC curve {0} is not supported (P-256 only)")]
    UnsupportedCurve(String),
    #[error("an RSA key of {0} bits is too weak (at least {MIN_RSA_BITS})")]
    WeakRsa(u32),
    #[error("an RSA key of {0} bits is too large (at most {MAX_RSA_BITS})")]
    LargeRsa(u32),
    #[error("must be 1-{MAX_KID_LEN} characters of letters, digits and . _ ~ : @ -")]
    BadKid,
    #[error("'{0}' is already in use by a stored signing key")]
    KidInUse(String),
    #[error("must be in the future")]
    NotInFuture,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(StoreError),
}

impl ImportError {
    /// The setting the error is about, by its command-line name.
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            ImportError::Unreadable
            | ImportError::NoPrivateKey
            | ImportError::UnsupportedType(_)
            | ImportError::UnsupportedCurve(_)
            | ImportError::WeakRsa(_)
            | ImportError::LargeRsa(_) => Some("key-file"),
            ImportError::Pkcs12Password | ImportError::PemPassword => Some("key-password"),
            ImportError::BadKid | ImportError::KidInUse(_) => Some("kid"),
            ImportError::NotInFuture => Some("publish-until"),
            ImportError::Key(_) | ImportError::Store(_) => None,
        }
    }
}

/// Parses, checks and stores (sealed) the key; returns the stored record.
pub async fn import_key(
    db: &Db,
    request: KeyImport<'_>,
    now: Timestamp,
) -> Result<SigningKey, ImportError> {
    check_kid(request.kid)?;
    let schedule = schedule(request.usage, now)?;
    let (algorithm, pkcs8) = read_private_key(request.material, request.password)?;
    let record = record_from_pkcs8(request.kid.to_string(), algorithm, pkcs8, schedule)?;
    db.import_signing_key(&record, now)
        .await
        .map_err(|e| match e {
            StoreError::Duplicate { .. } => ImportError::KidInUse(request.kid.to_string()),
            e => ImportError::Store(e),
        })?;
    Ok(record)
}

fn check_kid(kid: &str) -> Result<(), ImportError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._~:@-".contains(c);
    if kid.is_empty() || kid.len() > MAX_KID_LEN || !kid.chars().all(allowed) {
        return Err(ImportError::BadKid);
    }
    Ok(())
}

fn schedule(usage: KeyUse, now: Timestamp) -> Result<KeySchedule, ImportError> {
    Ok(match usage {
        KeyUse::Sign {
            rotation_interval,
            max_token_lifetime,
        } => KeySchedule {
            created_at: now,
            activates_at: now,
            retires_at: now + rotation_interval,
            expires_at: now + rotation_interval + max_token_lifetime,
            publish_only: false,
        },
        KeyUse::PublishUntil(until) if until <= now => return Err(ImportError::NotInFuture),
        KeyUse::PublishUntil(until) => KeySchedule {
            created_at: now,
            activates_at: now,
            retires_at: now,
            expires_at: until,
            publish_only: true,
        },
    })
}

/// The key's signing algorithm and its PKCS#8 form, from PEM (PKCS#1,
/// SEC1, PKCS#8, encrypted or not) or PKCS#12.
pub fn read_private_key(
    material: &[u8],
    password: Option<&str>,
) -> Result<(KeyAlgorithm, Vec<u8>), ImportError> {
    let key = if material.trim_ascii_start().starts_with(b"-----BEGIN") {
        read_pem(material, password)?
    } else {
        read_pkcs12(material, password)?
    };
    let algorithm = algorithm_of(&key)?;
    let pkcs8 = key
        .private_key_to_pkcs8()
        .map_err(|_| ImportError::Unreadable)?;
    Ok((algorithm, pkcs8))
}

fn read_pem(pem: &[u8], password: Option<&str>) -> Result<PKey<Private>, ImportError> {
    let encrypted = pem.windows(9).any(|w| w == b"ENCRYPTED");
    // Always through the passphrase variant: the plain one lets OpenSSL
    // prompt on the terminal for an encrypted key.
    PKey::private_key_from_pem_passphrase(pem, password.unwrap_or_default().as_bytes()).map_err(
        |_| {
            if encrypted {
                ImportError::PemPassword
            } else {
                ImportError::Unreadable
            }
        },
    )
}

fn read_pkcs12(der: &[u8], password: Option<&str>) -> Result<PKey<Private>, ImportError> {
    let p12 = Pkcs12::from_der(der).map_err(|_| ImportError::Unreadable)?;
    let parsed = p12
        .parse2(password.unwrap_or_default())
        .map_err(|_| ImportError::Pkcs12Password)?;
    parsed.pkey.ok_or(ImportError::NoPrivateKey)
}

fn algorithm_of(key: &PKey<Private>) -> Result<KeyAlgorithm, ImportError> {
    match key.id() {
        Id::RSA => match key.bits() {
            bits if bits < MIN_RSA_BITS => Err(ImportError::WeakRsa(bits)),
            bits if bits > MAX_RSA_BITS => Err(ImportError::LargeRsa(bits)),
            _ => Ok(KeyAlgorithm::RS256),
        },
        Id::EC => {
            let curve = key
                .ec_key()
                .ok()
                .and_then(|ec| ec.group().curve_name())
                .ok_or_else(|| ImportError::UnsupportedCurve("(unnamed)".into()))?;
            match curve {
                Nid::X9_62_PRIME256V1 => Ok(KeyAlgorithm::ES256),
                other => Err(ImportError::UnsupportedCurve(
                    other.short_name().unwrap_or("(unknown)").into(),
                )),
            }
        }
        Id::ED25519 => Err(ImportError::UnsupportedType("Ed25519".into())),
        Id::DSA => Err(ImportError::UnsupportedType("DSA".into())),
        _ => Err(ImportError::UnsupportedType("these".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::rsa::Rsa;

    fn ec_pem(curve: Nid) -> Vec<u8> {
        let group = EcGroup::from_curve_name(curve).unwrap();
        let key = EcKey::generate(&group).unwrap();
        key.private_key_to_pem().unwrap()
    }

    #[test]
    fn reads_pkcs1_sec1_and_pkcs8_pem() {
        let rsa = Rsa::generate(2048).unwrap();
        let (alg, _) = read_private_key(&rsa.private_key_to_pem().unwrap(), None).unwrap();
        assert_eq!(alg, KeyAlgorithm::RS256);
        let pkcs8 = PKey::from_rsa(rsa)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        assert_eq!(
            read_private_key(&pkcs8, None).unwrap().0,
            KeyAlgorithm::RS256
        );
        let sec1 = ec_pem(Nid::X9_62_PRIME256V1);
        assert_eq!(
            read_private_key(&sec1, None).unwrap().0,
            KeyAlgorithm::ES256
        );
    }

    #[test]
    fn refuses_other_curves_types_and_weak_rsa() {
        let p384 = ec_pem(Nid::SECP384R1);
        assert!(matches!(
            read_private_key(&p384, None),
            Err(ImportError::UnsupportedCurve(c)) if c == "secp384r1"
        ));
        let weak = Rsa::generate(1024).unwrap().private_key_to_pem().unwrap();
        assert!(matches!(
            read_private_key(&weak, None),
            Err(ImportError::WeakRsa(1024))
        ));
        let ed = PKey::generate_ed25519()
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        let err = read_private_key(&ed, None).unwrap_err();
        assert!(matches!(err, ImportError::UnsupportedType(_)));
        assert_eq!(err.setting(), Some("key-file"));
        assert!(matches!(
            read_private_key(b"not a key", None),
            Err(ImportError::Unreadable)
        ));
    }

    #[test]
    fn encrypted_pem_needs_its_password() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let pem = key
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"pw")
            .unwrap();
        assert!(read_private_key(&pem, Some("pw")).is_ok());
        assert!(matches!(
            read_private_key(&pem, None),
            Err(ImportError::PemPassword)
        ));
    }

    #[test]
    fn kids() {
        assert!(check_kid("gws-auth-key").is_ok());
        assert!(check_kid("").is_err());
        assert!(check_kid("has space").is_err());
        assert!(check_kid(&"k".repeat(129)).is_err());
    }
}
