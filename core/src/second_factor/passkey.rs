//! WebAuthn passkeys (security keys, platform authenticators) as second
//! factors of built-in users, beside TOTP, through webauthn-rs.
//!
//! - The relying party is the issuer: its host is the RP id, its origin the
//!   only origin accepted. An issuer on an IP address (not a domain) cannot
//!   be a WebAuthn relying party: passkeys are then not offered.
//! - A ceremony's state (the challenge) stays on the server, in the
//!   ephemeral store under the pending sign-in's key, for as long as that
//!   step lives: one per pending sign-in (a new page replaces it), taken
//!   once by the answer.
//! - A refused assertion counts in the lockout like a wrong TOTP code.
//! - `amr` (RFC 8176 §2): `hwk` for a key bound to its authenticator,
//!   `swk` for one that may be copied to the user's other devices (a synced
//!   passkey: backup eligible), so a relying party that wants hardware-bound
//!   keys can tell.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_store::model::UserPasskey;
use tollgate_store::StoreError;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::protection::lockout::{self, Admission};
use crate::services::Services;
use crate::tokens;

/// How long a ceremony may take: the pending sign-in's own lifetime.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// How the key of an accepted passkey is kept (RFC 8176 `amr` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// Bound to its authenticator: `hwk`.
    #[serde(rename = "hwk")]
    Hardware,
    /// May be synchronised to other devices: `swk`.
    #[serde(rename = "swk")]
    Synced,
}

impl KeyKind {
    pub fn amr(self) -> &'static str {
        match self {
            KeyKind::Hardware => "hwk",
            KeyKind::Synced => "swk",
        }
    }
}

/// The outcome of an assertion.
#[derive(Debug, PartialEq, Eq)]
pub enum Asserted {
    Accepted(KeyKind),
    /// Not from a passkey of the user, not for this challenge, replayed, or
    /// the challenge is gone.
    Refused,
    /// Too many failures; retry after this many seconds.
    LockedOut {
        retry_after: u64,
    },
}

/// The relying party of `issuer`; `None` when the issuer has no host name.
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    let rp_id = url.domain()?.to_string();
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Tollgate")
        .timeout(Duration::from_secs(120))
        .build()
        .ok()
}

fn ceremony_key(pending: &str) -> String {
    format!("passkey:{}", tokens::token_digest(pending))
}

/// The WebAuthn user handle: stable per user, and naming neither the
/// contact center nor the user (it is stored in the authenticator).
fn user_handle(cc_id: &str, user_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("{cc_id}\n{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("passkey: {e}"))
}

async fn keep<T: Serialize>(state: &Services, pending: &str, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(corrupt)?;
    state
        .ephemeral
        .put(&ceremony_key(pending), &bytes, CEREMONY_TTL)
        .await
}

async fn take<T: for<'de> Deserialize<'de>>(
    state: &Services,
    pending: &str,
) -> Result<Option<T>, StoreError> {
    Ok(state
        .ephemeral
        .take(&ceremony_key(pending))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// The user's passkeys, as webauthn-rs reads them.
async fn passkeys(
    state: &Services,
    cc_id: &str,
    user_id: &str,
) -> Result<Vec<(UserPasskey, Passkey)>, StoreError> {
    let rows = state.db.passkeys(cc_id, user_id).await?;
    rows.into_iter()
        .map(|row| {
            let pk = serde_json::from_str(&row.passkey).map_err(corrupt)?;
            Ok((row, pk))
        })
        .collect()
}

/// Whether the user has registered a passkey.
pub async fn has_passkey(state: &Services, cc_id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(!state.db.passkeys(cc_id, user_id).await?.is_empty())
}

/// Starts registering a new passkey for the pending sign-in `pending`: the
/// options for `navigator.credentials.create` (JSON), or `None` when the
/// issuer cannot be a relying party.
pub async fn start_registration(
    state: &Services,
    pending: &str,
    cc_id: &str,
    user_id: &str,
    username: &str,
) -> Result<Option<String>, StoreError> {
    let Some(rp) = relying_party(&state.settings.issuer) else {
        return Ok(None);
    };
    let known = passkeys(state, cc_id, user_id).await?;
    let exclude = known.iter().map(|(_, pk)| pk.cred_id().clone()).collect();
    let (options, reg): (CreationChallengeResponse, PasskeyRegistration) = rp
        .start_passkey_registration(
            user_handle(cc_id, user_id),
            username,
            username,
            Some(exclude),
        )
        .map_err(corrupt)?;
    keep(state, pending, &reg).await?;
    serde_json::to_string(&options).map(Some).map_err(corrupt)
}

/// Finishes the registration `response` (the browser's credential, JSON)
/// and keeps the passkey: how its key is kept, when registered.
pub async fn finish_registration(
    state: &Services,
    pending: &str,
    cc_id: &str,
    user_id: &str,
    username: &str,
    ip: Option<&str>,
    response: &str,
) -> Result<Option<KeyKind>, StoreError> {
    let Some(rp) = relying_party(&state.settings.issuer) else {
        return Ok(None);
    };
    let Some(reg) = take::<PasskeyRegistration>(state, pending).await? else {
        return Ok(None);
    };
    let passkey = match serde_json::from_str::<RegisterPublicKeyCredential>(response)
        .map_err(|e| e.to_string())
        .and_then(|r| {
            rp.finish_passkey_registration(&r, &reg)
                .map_err(|e| e.to_string())
        }) {
        Ok(pk) => pk,
        Err(reason) => {
            tracing::info!(%reason, "passkey registration refused");
            return Ok(None);
        }
    };
    let row = stored(cc_id, user_id, &passkey)?;
    if !state.db.add_passkey(&row).await? {
        return Ok(None);
    }
    state
        .audit("user.factor_enrolled")
        .contact_center(cc_id)
        .subject(username)
        .ip(ip)
        .detail(serde_json::json!({"factor": "passkey"}))
        .record();
    Ok(Some(kind_of(row.backup_eligible)))
}

fn kind_of(backup_eligible: bool) -> KeyKind {
    if backup_eligible {
        KeyKind::Synced
    } else {
        KeyKind::Hardware
    }
}

/// The row of `passkey`, its counter and backup flags read from its
/// serialised form (webauthn-rs exposes them only there).
fn stored(cc_id: &str, user_id: &str, passkey: &Passkey) -> Result<UserPasskey, StoreError> {
    let json = serde_json::to_value(passkey).map_err(corrupt)?;
    let cred = &json["cred"];
    Ok(UserPasskey {
        contact_center_id: cc_id.to_string(),
        user_id: user_id.to_string(),
        credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref()),
        passkey: json.to_string(),
        counter: cred["counter"].as_i64().unwrap_or(0),
        backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: cred["backup_state"].as_bool().unwrap_or(false),
        created_at: 0,
        last_used_at: None,
    })
}

/// Starts an assertion for the pending sign-in: the options for
/// `navigator.credentials.get` (JSON), or `None` when the user has no
/// passkey or the issuer cannot be a relying party.
pub async fn start_authentication(
    state: &Services,
    pending: &str,
    cc_id: &str,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    let Some(rp) = relying_party(&state.settings.issuer) else {
        return Ok(None);
    };
    let known: Vec<Passkey> = passkeys(state, cc_id, user_id)
        .await?
        .into_iter()
        .map(|(_, pk)| pk)
        .collect();
    if known.is_empty() {
        return Ok(None);
    }
    let (options, auth): (RequestChallengeResponse, PasskeyAuthentication) =
        rp.start_passkey_authentication(&known).map_err(corrupt)?;
    keep(state, pending, &auth).await?;
    serde_json::to_string(&options).map(Some).map_err(corrupt)
}

/// Checks the assertion `response` (the browser's credential, JSON) of the
/// user, counted in the lockout of `cc_id`/`username` from `ip`.
pub async fn check(
    state: &Services,
    pending: &str,
    cc_id: &str,
    user_id: &str,
    username: &str,
    ip: Option<&str>,
    response: &str,
) -> Result<Asserted, StoreError> {
    let attempt = match lockout::admit(state, cc_id, username, ip).await? {
        Admission::Admitted(a) => a,
        Admission::Locked(retry_after) => return Ok(Asserted::LockedOut { retry_after }),
    };
    let outcome = match verify(state, pending, cc_id, user_id, response).await {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Err(e) = lockout::unanswered(state, &attempt).await {
                tracing::warn!(error = %e, "could not give back the lockout slot of an unchecked passkey");
            }
            return Err(e);
        }
    };
    if let Asserted::Accepted(_) = outcome {
        if let Err(e) = lockout::succeeded(state, &attempt).await {
            tracing::warn!(error = %e, "could not reset the lockout counters after a passkey");
        }
        return Ok(outcome);
    }
    lockout::failed(state, &attempt).await;
    state
        .audit("user.auth_failed")
        .contact_center(cc_id)
        .subject(username)
        .ip(ip)
        .detail(serde_json::json!({"reason": "bad passkey assertion", "form": "second-factor"}))
        .record();
    Ok(outcome)
}

async fn verify(
    state: &Services,
    pending: &str,
    cc_id: &str,
    user_id: &str,
    response: &str,
) -> Result<Asserted, StoreError> {
    let Some(rp) = relying_party(&state.settings.issuer) else {
        return Ok(Asserted::Refused);
    };
    let Some(auth) = take::<PasskeyAuthentication>(state, pending).await? else {
        return Ok(Asserted::Refused);
    };
    let result = match serde_json::from_str::<PublicKeyCredential>(response)
        .map_err(|e| e.to_string())
        .and_then(|r| {
            rp.finish_passkey_authentication(&r, &auth)
                .map_err(|e| e.to_string())
        }) {
        Ok(result) => result,
        Err(reason) => {
            tracing::info!(%reason, "passkey assertion refused");
            return Ok(Asserted::Refused);
        }
    };
    // The challenge named only this user's credentials; the row is read
    // again so that a passkey removed meanwhile no longer passes.
    let Some((_, mut passkey)) = passkeys(state, cc_id, user_id)
        .await?
        .into_iter()
        .find(|(_, pk)| pk.cred_id() == result.cred_id())
    else {
        return Ok(Asserted::Refused);
    };
    passkey.update_credential(&result);
    let mut row = stored(cc_id, user_id, &passkey)?;
    row.counter = i64::from(result.counter());
    if !state.db.use_passkey(&row).await? {
        return Ok(Asserted::Refused);
    }
    Ok(Asserted::Accepted(kind_of(result.backup_eligible())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_host_is_the_relying_party() {
        assert!(relying_party("http://localhost:8080").is_some());
        assert!(relying_party("https://auth.example.com/base").is_some());
        // WebAuthn relying parties are domains, never addresses.
        assert!(relying_party("http://127.0.0.1:8080").is_none());
        assert!(relying_party("not a url").is_none());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("cc", "u1"), user_handle("cc", "u1"));
        assert_ne!(user_handle("cc", "u1"), user_handle("cc", "u2"));
        assert_ne!(user_handle("cc", "u1"), user_handle("cc2", "u1"));
    }
}
