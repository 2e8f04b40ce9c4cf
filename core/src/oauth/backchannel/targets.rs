//! Which relying parties to tell when a user signs out: those with a
//! back-channel logout URI that received an ID token for the user, each
//! with the browser session (`sid`) it came through, if any.
//!
//! One list per user in the ephemeral store, read, changed and written back
//! (it has no sets): a sign-in to a second relying party at the very instant
//! of another can drop out of the list, and that one then hears of no
//! sign-out. The list is bounded ([`MAX_TARGETS`], oldest first out) and
//! lives as long as the longest session or refresh family it can stand for.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_store::{Ephemeral, StoreError};

/// Relying parties remembered per user.
pub const MAX_TARGETS: usize = 64;

/// One relying party a user signed in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub client_id: String,
    /// The browser session of the sign-in (the ID token's `sid`).
    #[serde(default)]
    pub sid: Option<String>,
}

fn key(subject: &str) -> String {
    format!("backchannel:{subject}")
}

async fn read(store: &Ephemeral, subject: &str) -> Result<Vec<Target>, StoreError> {
    Ok(store
        .get(&key(subject))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

async fn write(
    store: &Ephemeral,
    subject: &str,
    targets: &[Target],
    ttl: Duration,
) -> Result<(), StoreError> {
    if targets.is_empty() {
        return store.delete(&key(subject)).await.map(|_| ());
    }
    let bytes = serde_json::to_vec(targets)
        .map_err(|e| StoreError::Corrupt(format!("back-channel targets: {e}")))?;
    store.put(&key(subject), &bytes, ttl).await
}

/// Notes that `target` signed `subject` in; kept for `ttl`.
pub async fn remember(
    store: &Ephemeral,
    subject: &str,
    target: Target,
    ttl: Duration,
) -> Result<(), StoreError> {
    let mut targets = read(store, subject).await?;
    if targets.contains(&target) {
        return Ok(());
    }
    targets.push(target);
    let excess = targets.len().saturating_sub(MAX_TARGETS);
    targets.drain(..excess);
    write(store, subject, &targets, ttl).await
}

/// Takes the targets of one browser session of `subject`.
pub async fn take_session(
    store: &Ephemeral,
    subject: &str,
    sid: &str,
    ttl: Duration,
) -> Result<Vec<Target>, StoreError> {
    let (ending, kept): (Vec<_>, Vec<_>) = read(store, subject)
        .await?
        .into_iter()
        .partition(|t| t.sid.as_deref() == Some(sid));
    if !ending.is_empty() {
        write(store, subject, &kept, ttl).await?;
    }
    Ok(ending)
}

/// Takes every target of `subject` (all of the user's sign-ins ended).
pub async fn take_all(store: &Ephemeral, subject: &str) -> Result<Vec<Target>, StoreError> {
    let targets = read(store, subject).await?;
    if !targets.is_empty() {
        store.delete(&key(subject)).await?;
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(client: &str, sid: Option<&str>) -> Target {
        Target {
            client_id: client.into(),
            sid: sid.map(Into::into),
        }
    }

    #[tokio::test]
    async fn sessions_are_taken_alone_and_the_list_is_bounded() {
        let store = Ephemeral::memory();
        let ttl = Duration::from_secs(60);
        remember(&store, "u", t("a", Some("s1")), ttl)
            .await
            .unwrap();
        remember(&store, "u", t("a", Some("s1")), ttl)
            .await
            .unwrap();
        remember(&store, "u", t("b", Some("s2")), ttl)
            .await
            .unwrap();
        remember(&store, "u", t("c", None), ttl).await.unwrap();
        let s1 = take_session(&store, "u", "s1", ttl).await.unwrap();
        assert_eq!(s1, vec![t("a", Some("s1"))]);
        let rest = take_all(&store, "u").await.unwrap();
        assert_eq!(rest, vec![t("b", Some("s2")), t("c", None)]);
        assert!(take_all(&store, "u").await.unwrap().is_empty());

        for i in 0..MAX_TARGETS + 3 {
            remember(&store, "v", t(&format!("c{i}"), None), ttl)
                .await
                .unwrap();
        }
        let all = take_all(&store, "v").await.unwrap();
        assert_eq!(all.len(), MAX_TARGETS);
        assert_eq!(all[0], t("c3", None), "the oldest go first");
    }
}
