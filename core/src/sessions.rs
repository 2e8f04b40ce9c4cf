//! Browser sessions: the `tollgate_session` cookie holds a random id; the
//! ephemeral store keeps the record under the id's digest, with an idle and an
//! absolute timeout.
//!
//! Every cookie is host-only with `Path=/`; in a secure context (an `https://`
//! public URL) its name carries the `__Host-` prefix, so a sibling subdomain or
//! a plain-http answer cannot set or shadow it (RFC 6265bis §4.1.3.2).

use std::borrow::Cow;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tollgate_store::model::Timestamp;

use crate::oauth::issue::UserPrincipal;
use crate::services::Services;
use crate::tokens;

pub const SESSION_COOKIE: &str = "tollgate_session";
pub const CSRF_COOKIE: &str = "tollgate_csrf";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user: UserPrincipal,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
    /// For a SAML sign-in: what the IdP's single logout names it by.
    #[serde(default)]
    pub saml: Option<SamlSession>,
}

/// The IdP's names for a SAML-signed-in session (SAML core §3.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSession {
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
}

/// One session in a (contact center, NameID) index.
#[derive(Serialize, Deserialize)]
struct Indexed {
    /// The session's store key (the digest of its id, never the id).
    key: String,
    session_index: Option<String>,
}

/// The name of cookie `name` on the wire: `__Host-` prefixed with secure
/// cookies; plain on an `http://` deployment, where browsers refuse the prefix.
pub fn wire_name<'a>(state: &Services, name: &'a str) -> Cow<'a, str> {
    if state.settings.browser.secure_cookies {
        Cow::Owned(format!("__Host-{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The value of cookie `name`, if the request carries it (under its wire name).
pub fn cookie<'a>(state: &Services, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    named_cookie(headers, &wire_name(state, name))
}

fn named_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: host-only, `Path=/`, `HttpOnly`, `SameSite=Lax`.
pub fn set_cookie(state: &Services, name: &str, value: &str) -> Option<HeaderValue> {
    let secure = if state.settings.browser.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let name = wire_name(state, name);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// A `Set-Cookie` value that a cross-site POST (an identity provider's
/// answer) carries back: `SameSite=None`, which browsers accept only with
/// `Secure`. Without secure cookies (a plain-http deployment, tests) it is
/// `SameSite=Lax`, which still works when the provider is same-site (same
/// host, another port).
pub fn set_cross_site_cookie(state: &Services, name: &str, value: &str) -> Option<HeaderValue> {
    if !state.settings.browser.secure_cookies {
        return set_cookie(state, name, value);
    }
    let name = wire_name(state, name);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=None; Secure"
    ))
    .ok()
}

/// A `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(state: &Services, name: &str) -> Option<HeaderValue> {
    let secure = if state.settings.browser.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let name = wire_name(state, name);
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .ok()
}

fn key(id: &str) -> String {
    format!("session:{}", tokens::token_digest(id))
}

fn ttl(state: &Services, s: &Session, now: Timestamp) -> Option<Duration> {
    let b = &state.settings.browser;
    let left = (s.created_at + b.session_max_age - now).min(b.session_idle_timeout);
    (left > 0).then(|| Duration::from_secs(left as u64))
}

fn corrupt(e: serde_json::Error) -> tollgate_store::StoreError {
    tollgate_store::StoreError::Corrupt(e.to_string())
}

/// The key listing the sessions of one NameID in one contact center.
fn saml_index_key(contact_center_id: &str, name_id: &str) -> String {
    format!(
        "saml:sessions:{}",
        tokens::token_digest(&format!("{contact_center_id}\n{name_id}"))
    )
}

/// Starts a session (of a SAML sign-in when `saml` is given); returns the
/// cookie value and the principal as the session holds it (with the
/// session's public id, which the tokens issued through it carry).
pub async fn create(
    state: &Services,
    mut user: UserPrincipal,
    now: Timestamp,
    saml: Option<SamlSession>,
) -> Result<(String, UserPrincipal), tollgate_store::StoreError> {
    let id = tokens::random_token();
    // After any cut-off on the user made in this same second (a password
    // reset just before this sign-in), so the new session is not born ended.
    let created_at = state.revocations.issue_time(&user.subject(), now);
    user.browser_session = Some(uuid::Uuid::new_v4().simple().to_string());
    let s = Session {
        user,
        created_at,
        last_seen: now,
        saml,
    };
    let ttl = ttl(state, &s, now).unwrap_or(Duration::from_secs(1));
    let bytes = serde_json::to_vec(&s).map_err(corrupt)?;
    state.ephemeral.put(&key(&id), &bytes, ttl).await?;
    if let Some(saml) = &s.saml {
        let entry = Indexed {
            key: key(&id),
            session_index: saml.session_index.clone(),
        };
        let index = saml_index_key(&s.user.contact_center_id, &saml.name_id);
        let mut entries = read_index(state, &index).await?;
        entries.push(entry);
        write_index(state, &index, &entries).await?;
    }
    Ok((id, s.user))
}

async fn read_index(
    state: &Services,
    index: &str,
) -> Result<Vec<Indexed>, tollgate_store::StoreError> {
    Ok(state
        .ephemeral
        .get(index)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Kept as long as the longest session it can list may live.
async fn write_index(
    state: &Services,
    index: &str,
    entries: &[Indexed],
) -> Result<(), tollgate_store::StoreError> {
    if entries.is_empty() {
        return state.ephemeral.delete(index).await.map(|_| ());
    }
    let max_age = state.settings.browser.session_max_age.max(1) as u64;
    let bytes = serde_json::to_vec(entries).map_err(corrupt)?;
    state
        .ephemeral
        .put(index, &bytes, Duration::from_secs(max_age))
        .await
}

/// Ends the sessions a SAML IdP's LogoutRequest names: those of `name_id`
/// in the contact center, only those of `session_indexes` when it lists
/// any. Returns how many live sessions ended. The index is read, changed
/// and written back (the ephemeral store has no sets), so it is not
/// atomic: a sign-in of the same NameID at the same instant can drop out
/// of the index (its session then ends only by timeout or sign-out).
pub async fn end_saml(
    state: &Services,
    contact_center_id: &str,
    name_id: &str,
    session_indexes: &[String],
) -> Result<usize, tollgate_store::StoreError> {
    let index = saml_index_key(contact_center_id, name_id);
    let entries = read_index(state, &index).await?;
    let (ending, kept): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| {
        session_indexes.is_empty()
            || e.session_index
                .as_ref()
                .is_some_and(|i| session_indexes.contains(i))
    });
    let mut ended = 0;
    for e in &ending {
        let Some(bytes) = state.ephemeral.take(&e.key).await? else {
            continue;
        };
        ended += 1;
        if let Ok(s) = serde_json::from_slice::<Session>(&bytes) {
            end_tokens(state, &s).await?;
            tell_relying_parties(state, &s).await;
        }
    }
    write_index(state, &index, &kept).await?;
    Ok(ended)
}

/// The live session the request's cookie names, touched (idle timeout restarts).
pub async fn current(
    state: &Services,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Option<Session>, tollgate_store::StoreError> {
    let Some(id) = cookie(state, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let k = key(id);
    let Some(bytes) = state.ephemeral.get(&k).await? else {
        return Ok(None);
    };
    let Ok(mut s) = serde_json::from_slice::<Session>(&bytes) else {
        return Ok(None);
    };
    let b = &state.settings.browser;
    // Disabling, deleting or resetting the user (or a global sign-out) cuts
    // off everything of theirs issued until then, sessions included.
    if now - s.created_at >= b.session_max_age
        || now - s.last_seen >= b.session_idle_timeout
        || state
            .revocations
            .subject_revoked(&s.user.subject(), s.created_at)
    {
        state.ephemeral.delete(&k).await?;
        return Ok(None);
    }
    if now > s.last_seen {
        s.last_seen = now;
        if let (Some(ttl), Ok(bytes)) = (ttl(state, &s, now), serde_json::to_vec(&s)) {
            // Only while it still exists: a sign-out between the read above and
            // this write must not bring the session back.
            if !state.ephemeral.put_if_present(&k, &bytes, ttl).await? {
                return Ok(None);
            }
        }
    }
    Ok(Some(s))
}

/// Ends the session the request's cookie names; returns it if there was one.
pub async fn end(
    state: &Services,
    headers: &HeaderMap,
) -> Result<Option<Session>, tollgate_store::StoreError> {
    let Some(id) = cookie(state, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let bytes = state.ephemeral.take(&key(id)).await?;
    let session: Option<Session> = bytes.and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(s) = &session {
        end_tokens(state, s).await?;
        tell_relying_parties(state, s).await;
    }
    Ok(session)
}

/// Tells the relying parties signed in through an ended session.
async fn tell_relying_parties(state: &Services, s: &Session) {
    if let Some(sid) = &s.user.browser_session {
        let now = tollgate_store::model::now();
        state.session_ended(&s.user.subject(), sid, now).await;
    }
}

/// Ends the tokens issued through an ended session (they carry its id, and
/// so do their refresh families).
async fn end_tokens(state: &Services, s: &Session) -> Result<(), tollgate_store::StoreError> {
    let Some(id) = &s.user.browser_session else {
        return Ok(());
    };
    let settings = &state.settings;
    let outlives = settings
        .max_token_lifetime
        .max(settings.refresh_family_lifetime);
    let revocation = tollgate_store::model::Revocation::Jti {
        jti: id.clone(),
        expires_at: tollgate_store::model::now() + outlives,
    };
    state.revocations.revoke(&state.db, revocation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tollgate_session=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(named_cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(named_cookie(&h, "b"), Some("2"));
        assert_eq!(named_cookie(&h, "c"), None);
    }
}
