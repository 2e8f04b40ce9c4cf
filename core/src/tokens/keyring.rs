//! The set of signing keys in use, with scheduled rotation.
//!
//! A new key is published (in JWKS) `publish_ahead` before it starts signing,
//! so relying parties that cache JWKS already know it; a retired key stays
//! published until every token it signed has expired.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey};
use tollgate_store::model::{KeyAlgorithm, Timestamp};
use tollgate_store::Db;

use crate::tokens::keys::{generate, LoadedKey};

#[derive(Debug, Clone)]
pub struct KeyPolicy {
    pub algorithm: KeyAlgorithm,
    /// Seconds a key signs before the next one takes over.
    pub rotation_interval: i64,
    /// Seconds a key is published before it signs.
    pub publish_ahead: i64,
    /// Longest access/ID token lifetime, so retired keys outlive their tokens.
    pub max_token_lifetime: i64,
}

struct KeySet {
    keys: Vec<Arc<LoadedKey>>,
    decoding: HashMap<String, (DecodingKey, Algorithm)>,
    jwks: Arc<str>,
}

pub struct Keyring {
    set: ArcSwap<KeySet>,
    policy: KeyPolicy,
    /// Counts reloads, so memos of verified tokens know the keys changed.
    generation: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Store(#[from] tollgate_store::StoreError),
    #[error(transparent)]
    Key(#[from] crate::tokens::keys::KeyError),
}

fn jwt_alg(alg: KeyAlgorithm) -> Algorithm {
    match alg {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

impl KeySet {
    fn build(mut keys: Vec<Arc<LoadedKey>>) -> KeySet {
        keys.sort_by(|a, b| b.activates_at.cmp(&a.activates_at).then(a.kid.cmp(&b.kid)));
        let mut decoding = HashMap::new();
        let mut published = Vec::new();
        for k in &keys {
            if let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.jwk.clone()) {
                if let Ok(dk) = DecodingKey::from_jwk(&jwk) {
                    decoding.insert(k.kid.clone(), (dk, jwt_alg(k.algorithm)));
                }
            }
            published.push(k.jwk.clone());
        }
        let jwks = serde_json::json!({ "keys": published }).to_string();
        KeySet {
            keys,
            decoding,
            jwks: jwks.into(),
        }
    }
}

impl Keyring {
    /// Loads the stored keys and makes sure one can sign now.
    pub async fn load(db: &Db, policy: KeyPolicy, now: Timestamp) -> Result<Keyring, KeyringError> {
        let ring = Keyring {
            set: ArcSwap::from_pointee(KeySet::build(Vec::new())),
            policy,
            generation: AtomicU64::new(0),
        };
        ring.reload(db).await?;
        ring.rotate(db, now).await?;
        Ok(ring)
    }

    /// Re-reads the keys from the store (after a change by another replica).
    pub async fn reload(&self, db: &Db) -> Result<(), KeyringError> {
        let mut loaded = Vec::new();
        for record in db.list_signing_keys().await? {
            match LoadedKey::from_record(&record) {
                Ok(k) => loaded.push(Arc::new(k)),
                // One bad row must not stop signing with the good ones.
                Err(e) => {
                    tracing::error!(kid = %record.kid, error = %e, "skipping unreadable signing key")
                }
            }
        }
        self.set.store(Arc::new(KeySet::build(loaded)));
        // After the swap: a token verified with the old set is never
        // remembered under the new generation.
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Changes whenever the keys are reloaded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Creates the next key when due, removes expired ones. Idempotent; safe on every replica.
    pub async fn rotate(&self, db: &Db, now: Timestamp) -> Result<(), KeyringError> {
        let p = &self.policy;
        let set = self.set.load();
        let mut changed = false;
        for k in set.keys.iter().filter(|k| k.expires_at <= now) {
            db.delete_signing_key(&k.kid)
                .await
                .or_else(ignore_missing)?;
            changed = true;
        }
        // Publish-only keys never sign, so the schedule ignores them; of keys
        // activated the same second (an import), the one retiring last.
        let newest = set
            .keys
            .iter()
            .filter(|k| k.expires_at > now && !k.publish_only)
            .max_by_key(|k| (k.activates_at, k.retires_at));
        let activates_at = match newest {
            // Nothing usable: sign at once, there are no tokens to confuse.
            None => Some(now),
            Some(k) if k.retires_at <= now => Some(now),
            Some(k) if k.activates_at <= now && now >= k.retires_at - p.publish_ahead => {
                Some(k.retires_at)
            }
            _ => None,
        };
        if let Some(activates_at) = activates_at {
            let record = self.new_key(now, activates_at).await?;
            let newest_seen = newest.map(|k| k.activates_at);
            if db
                .insert_signing_key_unless_newer(&record, newest_seen, now)
                .await?
            {
                tracing::info!(kid = %record.kid, alg = record.algorithm.as_str(), activates_at, "signing key created");
            }
            // Created here or by another replica at the same moment: load it.
            changed = true;
        }
        if changed {
            self.reload(db).await?;
        }
        Ok(())
    }

    /// A new key of the policy's algorithm signing from `activates_at` for
    /// one interval, published until its tokens expire; made off the async
    /// threads (RSA generation is slow).
    async fn new_key(
        &self,
        now: Timestamp,
        activates_at: Timestamp,
    ) -> Result<tollgate_store::model::SigningKey, KeyringError> {
        let p = &self.policy;
        let algorithm = p.algorithm;
        let retires_at = activates_at + p.rotation_interval;
        let expires_at = retires_at + p.max_token_lifetime;
        let record = tokio::task::spawn_blocking(move || {
            generate(algorithm, now, activates_at, retires_at, expires_at)
        })
        .await
        .map_err(|_| crate::tokens::keys::KeyError::Generate)??;
        Ok(record)
    }

    /// Replaces the signing key at once (an administrator's rotation, e.g.
    /// after a suspected leak): a new key signs from `now` for one interval,
    /// and the one signing until now retires but stays published while its
    /// tokens live. Other replicas load it from the change log. Returns its `kid`.
    pub async fn rotate_now(&self, db: &Db, now: Timestamp) -> Result<String, KeyringError> {
        let record = self.new_key(now, now).await?;
        db.import_signing_key(&record, now).await?;
        tracing::info!(kid = %record.kid, alg = record.algorithm.as_str(), "signing key replaced on request");
        self.reload(db).await?;
        Ok(record.kid)
    }

    /// The key that signs now: the most recently activated one not retired
    /// (an imported key retires the one it replaces in the same second), or
    /// the last retired one while rotation has not caught up.
    pub fn signing_key(&self, now: Timestamp) -> Option<Arc<LoadedKey>> {
        let set = self.set.load();
        let active = |k: &&Arc<LoadedKey>| k.activates_at <= now && !k.publish_only;
        let mut usable = set.keys.iter().filter(active);
        usable
            .clone()
            .find(|k| k.retires_at > now)
            .or_else(|| usable.next())
            .cloned()
    }

    pub fn decoding_key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.set.load().decoding.get(kid).cloned()
    }

    /// The JWKS document (every key not yet expired, including the next one).
    pub fn jwks(&self) -> Arc<str> {
        self.set.load().jwks.clone()
    }

    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = self
            .set
            .load()
            .keys
            .iter()
            .map(|k| k.algorithm.as_str())
            .collect();
        algs.sort_unstable();
        algs.dedup();
        algs
    }
}

fn ignore_missing(e: tollgate_store::StoreError) -> Result<(), tollgate_store::StoreError> {
    match e {
        tollgate_store::StoreError::NotFound { .. } => Ok(()),
        e => Err(e),
    }
}
