//! Authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636). A code is
//! taken from the store atomically, so it is redeemed at most once; a second
//! presentation revokes what the first issued (RFC 6749 §4.1.2).
//!
//! A second presentation can arrive while the first is still issuing, before
//! there is anything to revoke. Each side writes its mark before reading the
//! other's (the redemption what it issued, the replay a `code-replayed` mark),
//! so at least one of them sees the other and revokes.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_store::model::{Client, Revocation, Timestamp};

use crate::oauth::claims::ClaimsRequest;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::grants::REFRESH_TOKEN;
use crate::oauth::issue::{issue, Issue, TokenResponse, UserPrincipal};
use crate::services::Services;
use crate::tokens;
use crate::tokens::Confirmation;

/// Lifetime of an authorization code.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// What an authorization code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_given: bool,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// The request carried `acr_values`.
    #[serde(default)]
    pub acr_requested: bool,
    /// The request's `claims` parameter.
    #[serde(default)]
    pub claims: ClaimsRequest,
    pub scope: Vec<String>,
    pub user: UserPrincipal,
    /// The DPoP key the code is bound to (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// The ephemeral-store key of a code (its digest: the store never holds a usable code).
pub fn code_key(code: &str) -> String {
    format!("code:{}", tokens::token_digest(code))
}

/// How long a redeemed code is remembered, to catch replays.
const USED_TTL: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize, Default)]
struct Used {
    jti: Option<String>,
    family: Option<String>,
}

fn used_key(code: &str) -> String {
    format!("code-used:{}", tokens::token_digest(code))
}

fn replayed_key(code: &str) -> String {
    format!("code-replayed:{}", tokens::token_digest(code))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Redeems a code once, for the client it was issued to with the request's
/// redirect URI and PKCE verifier; a replay found meanwhile revokes what
/// was issued.
pub async fn grant(
    state: &Services,
    client: &Arc<Client>,
    form: &OAuthForm,
    ip: Option<&str>,
    now: Timestamp,
    cnf: &Confirmation,
) -> Result<TokenResponse, OAuthError> {
    let code = form.require("code")?;
    let record = take_code(state, client, code, ip, now).await?;
    check_redemption(client, &record, form)?;
    check_key(record.dpop_jkt.as_deref(), cnf.jkt.as_deref())?;
    let with_refresh = client
        .authorized_grant_types
        .iter()
        .any(|g| g == REFRESH_TOKEN);
    let res = issue(
        state,
        Issue {
            user: Some(record.user),
            with_refresh,
            nonce: record.nonce,
            acr_requested: record.acr_requested,
            claims: record.claims,
            ..Issue::new(client, record.scope, cnf)
        },
        now,
    )
    .await?;
    let issued = Used {
        jti: Some(res.jti.clone()),
        family: res.family.clone(),
    };
    mark_used(state, code, &issued).await?;
    remember_durably(state, code, &issued, now).await?;
    if state.ephemeral.get(&replayed_key(code)).await?.is_some() {
        return Err(revoke_issued(state, client, &issued, ip, now).await);
    }
    Ok(res)
}

/// The code's record, taken from the store and marked used before anything
/// else can fail or race; a code already taken is a replay.
async fn take_code(
    state: &Services,
    client: &Client,
    code: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> Result<CodeRecord, OAuthError> {
    let Some(bytes) = state.ephemeral.take(&code_key(code)).await? else {
        return Err(replayed(state, client, code, ip, now).await);
    };
    mark_used(state, code, &Used::default()).await?;
    serde_json::from_slice(&bytes).map_err(|_| OAuthError::server_error())
}

/// Remembers the code as used, with what it issued (for revoking on a replay).
async fn mark_used(state: &Services, code: &str, used: &Used) -> Result<(), OAuthError> {
    let used = serde_json::to_vec(used).map_err(|_| OAuthError::server_error())?;
    state
        .ephemeral
        .put(&used_key(code), &used, USED_TTL)
        .await?;
    Ok(())
}

/// Keeps what a redemption issued in the database too, so a replay after the
/// ephemeral store lost its data (a Redis restart) still revokes it.
async fn remember_durably(
    state: &Services,
    code: &str,
    issued: &Used,
    now: Timestamp,
) -> Result<(), OAuthError> {
    let detail = serde_json::to_string(issued).map_err(|_| OAuthError::server_error())?;
    let expires_at = now + USED_TTL.as_secs() as i64;
    state
        .db
        .first_use_with(&used_key(code), expires_at, Some(&detail))
        .await?;
    Ok(())
}

/// What the database remembers of a redemption, when the ephemeral store
/// no longer does.
async fn remembered(
    state: &Services,
    code: &str,
    now: Timestamp,
) -> Result<Option<Used>, OAuthError> {
    let detail = state.db.use_of(&used_key(code), now).await?.flatten();
    Ok(detail.and_then(|d| serde_json::from_str(&d).ok()))
}

/// The token request must repeat the authorization request: same client,
/// same redirect URI (when it had one), the verifier of its challenge.
/// A code bound to a DPoP key is redeemed only with a proof of that key.
fn check_key(bound: Option<&str>, proven: Option<&str>) -> Result<(), OAuthError> {
    match (bound, proven) {
        (Some(_), None) => Err(OAuthError::invalid_dpop_proof(
            "the code is bound to a DPoP key: send a proof of it",
        )),
        (Some(b), Some(p)) if b != p => Err(OAuthError::invalid_grant(
            "the code is bound to another DPoP key",
        )),
        _ => Ok(()),
    }
}

fn check_redemption(
    client: &Client,
    record: &CodeRecord,
    form: &OAuthForm,
) -> Result<(), OAuthError> {
    let invalid = |d: &'static str| OAuthError::invalid_grant(d);
    if record.client_id != client.client_id {
        return Err(invalid("the code was issued to another client"));
    }
    match form.get("redirect_uri") {
        Some(uri) if uri != record.redirect_uri => {
            return Err(invalid(
                "redirect_uri differs from the authorization request",
            ))
        }
        None if record.redirect_given => {
            return Err(invalid(
                "redirect_uri is required: the authorization request had one",
            ))
        }
        _ => {}
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) || !pkce_matches(verifier, challenge) {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(invalid("code_verifier is required")),
        (None, Some(_)) => {
            return Err(invalid(
                "code_verifier given, but the authorization request had no code_challenge",
            ))
        }
        (None, None) => {}
    }
    Ok(())
}

/// A code that is not (or no longer) in the store: if it was redeemed, end
/// everything that redemption issued (or will have issued: see the module).
async fn replayed(
    state: &Services,
    client: &Client,
    code: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> OAuthError {
    let invalid = OAuthError::invalid_grant("the code is invalid, expired or already used");
    let used = match state.ephemeral.get(&used_key(code)).await {
        Ok(Some(b)) => serde_json::from_slice::<Used>(&b).unwrap_or_default(),
        Ok(None) => match remembered(state, code, now).await {
            Ok(Some(used)) => return revoke_issued(state, client, &used, ip, now).await,
            Ok(None) => return invalid,
            Err(e) => return e,
        },
        Err(e) => return e.into(),
    };
    if let Err(e) = state
        .ephemeral
        .put(&replayed_key(code), b"1", USED_TTL)
        .await
    {
        return e.into();
    }
    // Read again after the mark: a redemption that finished meanwhile did not see it.
    let used = match state.ephemeral.get(&used_key(code)).await {
        Ok(Some(b)) => serde_json::from_slice::<Used>(&b).unwrap_or(used),
        Ok(None) => used,
        Err(e) => return e.into(),
    };
    revoke_issued(state, client, &used, ip, now).await
}

/// Revokes what a redemption of a code presented twice issued, and says so.
async fn revoke_issued(
    state: &Services,
    client: &Client,
    used: &Used,
    ip: Option<&str>,
    now: Timestamp,
) -> OAuthError {
    if let Some(family) = &used.family {
        if let Err(e) = state.revoke_family(family, now).await {
            return e.into();
        }
    }
    if let Some(jti) = &used.jti {
        let revocation = Revocation::Jti {
            jti: jti.clone(),
            expires_at: now + state.settings.max_token_lifetime,
        };
        if let Err(e) = state.revocations.revoke(&state.db, revocation).await {
            return e.into();
        }
    }
    state
        .audit("token.code_reused")
        .client(&client.client_id)
        .ip(ip)
        .detail(json!({"family": used.family}))
        .record();
    OAuthError::invalid_grant("the code was already used; every token issued for it is now revoked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "x",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
