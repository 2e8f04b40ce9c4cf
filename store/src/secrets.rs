//! Secret hashes, the one implementation the services and the operator
//! share: argon2id hashing, verification of argon2 and bcrypt hashes, and
//! checks that do not pay a slow hash on every call: a secret is verified
//! once against its hash, then a keyed digest (HMAC with a per-process random
//! key) is kept and compared in constant time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type HmacSha256 = Hmac<Sha256>;

struct Verified {
    /// The stored hash this digest was verified against; a new hash invalidates it.
    hash: String,
    digest: [u8; 32],
}

pub struct SecretVerifier {
    key: [u8; 32],
    verified: RwLock<HashMap<String, Verified>>,
    /// Slow (argon2/bcrypt) verifications run, for metrics and tests.
    slow: AtomicU64,
    /// Bounds slow hashes running at once (each argon2 holds 19 MiB and a core).
    slow_work: Arc<Semaphore>,
}

/// Every permit to run a slow hash is taken: answer 503 and let the caller retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saturated;

impl Default for SecretVerifier {
    fn default() -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SecretVerifier {
            key,
            verified: RwLock::new(HashMap::new()),
            slow: AtomicU64::new(0),
            slow_work: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl SecretVerifier {
    fn digest(&self, secret: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Checks `presented` for the identity `who` against `stored_hash`.
    pub async fn verify(&self, who: &str, stored_hash: &str, presented: &str) -> bool {
        let digest = self.digest(presented);
        if let Ok(map) = self.verified.read() {
            if let Some(v) = map.get(who) {
                if v.hash == stored_hash {
                    return bool::from(v.digest.ct_eq(&digest));
                }
            }
        }
        // Waits for a permit: bounded work, unbounded patience (callers are rate-limited).
        let Ok(permit) = self.slow_work.clone().acquire_owned().await else {
            return false;
        };
        self.slow_check(who, stored_hash, presented, digest, permit)
            .await
    }

    /// True only when `presented` is the secret already verified for `who`
    /// against `stored_hash`: a fast yes, never a fast no. Callers that throttle
    /// guesses run every other case through [`SecretVerifier::try_verify_slow`],
    /// so a wrong guess costs the same before and after a good login.
    pub fn known(&self, who: &str, stored_hash: &str, presented: &str) -> bool {
        let digest = self.digest(presented);
        self.verified.read().is_ok_and(|map| {
            map.get(who)
                .is_some_and(|v| v.hash == stored_hash && bool::from(v.digest.ct_eq(&digest)))
        })
    }

    /// The slow check, without the cache, refused at once when every permit
    /// for slow hashes is taken. A success is remembered for [`Self::known`].
    pub async fn try_verify_slow(
        &self,
        who: &str,
        stored_hash: &str,
        presented: &str,
    ) -> Result<bool, Saturated> {
        let permit = self
            .slow_work
            .clone()
            .try_acquire_owned()
            .map_err(|_| Saturated)?;
        let digest = self.digest(presented);
        Ok(self
            .slow_check(who, stored_hash, presented, digest, permit)
            .await)
    }

    async fn slow_check(
        &self,
        who: &str,
        stored_hash: &str,
        presented: &str,
        digest: [u8; 32],
        permit: OwnedSemaphorePermit,
    ) -> bool {
        self.slow.fetch_add(1, Ordering::Relaxed);
        let hash = stored_hash.to_string();
        let secret = presented.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            let ok = verify_hash(&hash, &secret);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        if ok {
            self.remember_digest(who, stored_hash, digest);
        }
        ok
    }

    /// The permits for slow hashes (as many as cores): tests hold them all to
    /// see a saturated server.
    pub fn slow_work(&self) -> Arc<Semaphore> {
        self.slow_work.clone()
    }

    /// Records that `stored_hash` (just made from `secret`) verifies it, so
    /// the next check of `who` costs no slow hash.
    pub fn remember(&self, who: &str, stored_hash: &str, secret: &str) {
        self.remember_digest(who, stored_hash, self.digest(secret));
    }

    fn remember_digest(&self, who: &str, stored_hash: &str, digest: [u8; 32]) {
        if let Ok(mut map) = self.verified.write() {
            map.insert(
                who.to_string(),
                Verified {
                    hash: stored_hash.to_string(),
                    digest,
                },
            );
        }
    }

    /// How many slow (argon2/bcrypt) verifications ran.
    pub fn slow_verifications(&self) -> u64 {
        self.slow.load(Ordering::Relaxed)
    }
}

/// Runs `work` (a slow hash) on the blocking pool once one of `permits` is
/// free, so a burst of sign-ins queues instead of holding 19 MiB each at
/// once. `None` when the work could not run.
pub async fn run_slow<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(permit);
        out
    })
    .await
    .ok()
}

/// Verifies a secret against an argon2 PHC string or a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
pub fn verify_hash(stored: &str, secret: &str) -> bool {
    if stored.starts_with("$2") {
        return bcrypt::verify(secret, stored).unwrap_or(false);
    }
    PasswordHash::new(stored).is_ok_and(|parsed| verify_argon2(&parsed, secret))
}

/// argon2 of `secret` with the stored hash's own parameters and salt,
/// compared in constant time.
fn verify_argon2(stored: &PasswordHash, secret: &str) -> bool {
    let (Some(expected), Some(salt)) = (&stored.hash, &stored.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(expected.len(), |out| {
        with_argon2_memory(blocks, |memory| {
            argon2.hash_password_into_with_memory(secret.as_bytes(), salt, out, memory)
        })
        .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .is_ok_and(|computed| computed == *expected)
}

/// Hashes a secret with argon2id (default parameters, random salt).
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let hash = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        with_argon2_memory(params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(secret.as_bytes(), salt_bytes, out, memory)
        })
        .map_err(|_| argon2::password_hash::Error::Crypto)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string())
}

/// argon2's working memory (19 MiB at the default parameters), kept for the
/// next hash: allocated per hash, each blocking thread's malloc arena kept
/// one, and a process grew by hundreds of MB after a burst of sign-ins.
/// Slow hashes run under permits, so few are ever in use at once.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());
/// Buffers kept, and the largest kept (64 MiB): an imported hash with a
/// bigger cost still verifies, with memory of its own.
const KEPT_BUFFERS: usize = 8;
const KEPT_BLOCKS: usize = 64 * 1024;

fn with_argon2_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let kept = ARGON2_MEMORY.lock().ok().and_then(|mut pool| pool.pop());
    let mut memory = kept.unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let out = work(&mut memory[..blocks]);
    if memory.len() <= KEPT_BLOCKS {
        if let Ok(mut pool) = ARGON2_MEMORY.lock() {
            if pool.len() < KEPT_BUFFERS {
                pool.push(memory);
            }
        }
    }
    out
}

/// A hash to compare against when the identity is unknown, so unknown and
/// known identities take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret("decoy-secret-never-matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_argon2_and_caches() {
        let v = SecretVerifier::default();
        let h = hash_secret("s3cret").unwrap();
        assert!(v.verify("c", &h, "s3cret").await);
        assert!(!v.verify("c", &h, "wrong").await);
        // Cached path still refuses a wrong secret and accepts the right one.
        assert!(v.verify("c", &h, "s3cret").await);
        // A new hash for the same identity invalidates the cached digest.
        let h2 = hash_secret("other").unwrap();
        assert!(!v.verify("c", &h2, "s3cret").await);
        assert!(v.verify("c", &h2, "other").await);
        assert_eq!(
            v.slow_verifications(),
            3,
            "one per new (identity, hash, secret)"
        );
        // A remembered hash is checked without a slow verification.
        let h3 = hash_secret("third").unwrap();
        v.remember("c", &h3, "third");
        assert!(v.verify("c", &h3, "third").await);
        assert!(!v.verify("c", &h3, "wrong").await);
        assert_eq!(v.slow_verifications(), 3);
    }

    #[tokio::test]
    async fn throttled_path_never_answers_no_fast() {
        let v = SecretVerifier::default();
        let h = hash_secret("s3cret").unwrap();
        assert!(!v.known("c", &h, "s3cret"), "nothing verified yet");
        assert_eq!(v.try_verify_slow("c", &h, "s3cret").await, Ok(true));
        assert!(v.known("c", &h, "s3cret"));
        assert!(!v.known("c", &h, "wrong"));
        // A wrong guess after the good one still costs a slow hash.
        assert_eq!(v.try_verify_slow("c", &h, "wrong").await, Ok(false));
        assert_eq!(v.slow_verifications(), 2);
        // No permit left: refused at once, nothing run.
        let work = v.slow_work();
        let all = work.available_permits() as u32;
        let _held = work.acquire_many(all).await.unwrap();
        assert_eq!(v.try_verify_slow("c", &h, "wrong").await, Err(Saturated));
        assert_eq!(v.slow_verifications(), 2);
    }

    #[test]
    fn verifies_bcrypt() {
        let h = bcrypt::hash("ops", 4).unwrap();
        assert!(verify_hash(&h, "ops"));
        assert!(!verify_hash(&h, "nope"));
        assert!(!verify_hash("garbage", "ops"));
    }

    /// Hashes made by the argon2 crate's own hasher, with other parameters
    /// and variants, verify through the reused memory, and ours verify with
    /// the crate's own verifier.
    #[test]
    fn pooled_argon2_agrees_with_the_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        for (alg, m, t) in [
            (Algorithm::Argon2id, 19_456, 2),
            (Algorithm::Argon2i, 4_096, 3),
            (Algorithm::Argon2d, 8, 1),
        ] {
            let params = Params::new(m, t, 1, None).unwrap();
            let theirs = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"s3cret", &salt)
                .unwrap()
                .to_string();
            assert!(verify_hash(&theirs, "s3cret"), "{theirs}");
            assert!(!verify_hash(&theirs, "s3creT"), "{theirs}");
        }
        let ours = hash_secret("s3cret").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(!verify_hash(&ours, "other"));
        assert!(!verify_hash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            "s3cret"
        ));
    }
}
