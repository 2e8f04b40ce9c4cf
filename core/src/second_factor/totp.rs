//! TOTP second factors (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of clock skew either way) and single-use recovery codes.
//!
//! - A code is accepted once: the store takes its time step only when it is
//!   later than the last one taken, in one conditional update.
//! - Codes count in the password's lockout: a wrong one is a failure of the
//!   same user name; the password does not forgive earlier failures while a
//!   code is still owed (else a known password would reopen the guessing).
//! - Recovery codes are 80 random bits, so a plain SHA-256 digest keeps them
//!   as safely as a slow hash would (nothing to guess offline), and lets the
//!   store find and delete the one used in a single statement.

use rand::RngCore;
use tollgate_store::model::ContactCenter;
use tollgate_store::StoreError;
use totp_rs::{Algorithm, Builder, Totp};

use crate::protection::lockout::{self, Admission};
use crate::services::Services;
use crate::tokens;

/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// TOTP secret length: 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;

/// A new TOTP secret for `user_id`, kept unconfirmed until a first code;
/// returns what the enrolment page shows. A confirmed factor is never
/// replaced (`None`).
pub async fn start_enrolment(
    state: &Services,
    cc: &ContactCenter,
    user_id: &str,
    username: &str,
) -> Result<Option<Enrolment>, StoreError> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut secret);
    if !state.db.start_factor(&cc.id, user_id, &secret).await? {
        return Ok(None);
    }
    let totp = totp(secret, Some((&cc.name, username)))?;
    Ok(Some(Enrolment {
        secret: totp.secret().to_base32(),
        uri: totp.to_url().unwrap_or_default(),
    }))
}

/// What an authenticator app needs: the base32 secret and its otpauth:// URI.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
}

/// The outcome of a code.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Right: for a first code of an enrolment, with the recovery codes to
    /// show once.
    Accepted { recovery_codes: Vec<String> },
    /// Wrong, already used, or from no factor.
    Refused,
    /// Too many failures; retry after this many seconds.
    LockedOut { retry_after: u64 },
}

/// Checks `code` (a TOTP code, or a recovery code unless `enrolling`) of
/// the user, counted in the lockout of `cc_id`/`username` from `ip`.
pub async fn check(
    state: &Services,
    cc_id: &str,
    username: &str,
    ip: Option<&str>,
    code: &str,
    enrolling: bool,
) -> Result<Checked, StoreError> {
    let attempt = match lockout::admit(state, cc_id, username, ip).await? {
        Admission::Admitted(a) => a,
        Admission::Locked(retry_after) => return Ok(Checked::LockedOut { retry_after }),
    };
    let outcome = match verify(state, cc_id, username, code, enrolling).await {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Err(e) = lockout::unanswered(state, &attempt).await {
                tracing::warn!(error = %e, "could not give back the lockout slot of an unchecked code");
            }
            return Err(e);
        }
    };
    let (event, detail) = match &outcome {
        Checked::Accepted { .. } => {
            if let Err(e) = lockout::succeeded(state, &attempt).await {
                tracing::warn!(error = %e, "could not reset the lockout counters after a right code");
            }
            if !enrolling {
                return Ok(outcome);
            }
            (
                "user.factor_enrolled",
                serde_json::json!({"factor": "totp"}),
            )
        }
        _ => {
            lockout::failed(state, &attempt).await;
            let reason = "bad second factor code";
            (
                "user.auth_failed",
                serde_json::json!({"reason": reason, "form": "second-factor"}),
            )
        }
    };
    state
        .audit(event)
        .contact_center(cc_id)
        .subject(username)
        .ip(ip)
        .detail(detail)
        .record();
    Ok(outcome)
}

async fn verify(
    state: &Services,
    cc_id: &str,
    username: &str,
    code: &str,
    enrolling: bool,
) -> Result<Checked, StoreError> {
    let Some(f) = state.db.factor_by_username(cc_id, username).await? else {
        return Ok(Checked::Refused);
    };
    // An enrolment confirms with a TOTP code, a sign-in with either kind.
    if f.confirmed == enrolling {
        return Ok(Checked::Refused);
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(tollgate_store::model::now()).unwrap_or(0);
    let step = totp(f.secret.clone(), None)
        .ok()
        .and_then(|t| t.check(&code, now));
    if let Some(step) = step {
        let codes = if enrolling { recovery_codes() } else { vec![] };
        let digests: Vec<String> = codes.iter().map(|c| recovery_digest(c)).collect();
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        return Ok(
            if state
                .db
                .take_factor_step(cc_id, &f.user_id, step, &digests)
                .await?
            {
                Checked::Accepted {
                    recovery_codes: codes,
                }
            } else {
                Checked::Refused
            },
        );
    }
    if !enrolling
        && state
            .db
            .use_recovery_code(cc_id, &f.user_id, &recovery_digest(&code))
            .await?
    {
        return Ok(Checked::Accepted {
            recovery_codes: vec![],
        });
    }
    Ok(Checked::Refused)
}

/// The TOTP of `secret`; `label` (issuer, account) for an otpauth:// URI,
/// whose parts may not hold a colon.
fn totp(secret: Vec<u8>, label: Option<(&str, &str)>) -> Result<Totp, StoreError> {
    let mut b = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret);
    if let Some((issuer, account)) = label {
        b = b
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "));
    }
    b.build()
        .map_err(|e| StoreError::Corrupt(format!("TOTP factor: {e}")))
}

/// Ten codes like `abcd-efgh-ijkl-mnop`: 16 base32 letters, 80 bits.
fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            let letters: Vec<char> = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(b & 31)] as char)
                .collect();
            letters
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// The stored form of a recovery code, as typed: case, spaces and dashes
/// do not matter.
fn recovery_digest(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    tokens::token_digest(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let loose = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_digest(&loose), recovery_digest(&codes[0]));
    }

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
        let t = totp(b"12345678901234567890".to_vec(), None).unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.check("287082", 59 + 30), Some(1));
        assert_eq!(t.check("287082", 59 + 90), None);
    }
}
