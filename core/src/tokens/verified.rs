//! A bounded memo of access tokens whose signature and claims were already
//! checked. Resource servers introspect the same token many times over its
//! life, and an ECDSA verification costs several times a signature; the
//! memo turns repeats into a hash lookup. Only the cryptographic result is
//! remembered: expiry, revocation and tenant checks run on every use. An
//! entry holds for the keyring generation it was verified under: once the
//! keys change (an imported key's window closed), tokens are checked again.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::tokens::AccessClaims;

const SHARDS: usize = 16;
const PER_SHARD: usize = 512;
/// Bytes one shard may hold: tokens and their claims (about as large again).
const PER_SHARD_BYTES: usize = 1024 * 1024;

/// What one memo entry costs: the token, its decoded claims, bookkeeping.
fn cost(token: &str) -> usize {
    token.len() * 2 + 256
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, (u64, Arc<AccessClaims>)>,
    bytes: usize,
}

pub struct VerifiedTokens {
    shards: Vec<Mutex<Shard>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, token: &str) -> &Mutex<Shard> {
        let mut h = DefaultHasher::new();
        token.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// The claims of `token` if it was verified under keyring `generation`.
    pub fn get(&self, token: &str, generation: u64) -> Option<Arc<AccessClaims>> {
        match self.shard(token).lock().ok()?.map.get(token) {
            Some((g, claims)) if *g == generation => Some(claims.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, token: &str, claims: Arc<AccessClaims>, generation: u64) {
        let cost = cost(token);
        if cost > PER_SHARD_BYTES {
            return;
        }
        if let Ok(mut shard) = self.shard(token).lock() {
            // Crude but bounded: a full shard starts over; the cost is a re-verification.
            if shard.map.len() >= PER_SHARD || shard.bytes + cost > PER_SHARD_BYTES {
                *shard = Shard::default();
            }
            if shard
                .map
                .insert(token.into(), (generation, claims))
                .is_none()
            {
                shard.bytes += cost;
            }
        }
    }

    /// Entries held and the bytes they account for.
    pub fn usage(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| match s.lock() {
            Ok(s) => (n + s.map.len(), b + s.bytes),
            Err(_) => (n, b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 10,
            iat: 1,
            jti: jti.into(),
            client_id: "c".into(),
            scope: String::new(),
            auth_time: None,
            contact_center_id: None,
            environment_id: None,
            user_name: None,
            dbid: None,
            authorities: vec![],
            sid: None,
            browser_session: None,
            act: None,
            cnf: None,
            userinfo_claims: vec![],
        })
    }

    #[test]
    fn remembers_exact_tokens_and_stays_bounded() {
        let v = VerifiedTokens::default();
        v.insert("a.b.c", claims("1"), 0);
        assert_eq!(v.get("a.b.c", 0).map(|c| c.jti.clone()), Some("1".into()));
        assert!(v.get("a.b.d", 0).is_none());
        for i in 0..(SHARDS * PER_SHARD * 3) {
            v.insert(&format!("t{i}"), claims("x"), 0);
        }
        assert!(v.usage().0 <= SHARDS * PER_SHARD);
    }

    #[test]
    fn stays_bounded_in_bytes() {
        let v = VerifiedTokens::default();
        let long = "x".repeat(20_000);
        for i in 0..10_000 {
            v.insert(&format!("{long}{i}"), claims("x"), 0);
        }
        let (n, bytes) = v.usage();
        assert!(bytes <= SHARDS * PER_SHARD_BYTES, "{bytes}");
        assert!(n < SHARDS * PER_SHARD);
    }

    #[test]
    fn forgets_tokens_verified_under_other_keys() {
        let v = VerifiedTokens::default();
        v.insert("a.b.c", claims("1"), 1);
        assert!(v.get("a.b.c", 1).is_some());
        assert!(v.get("a.b.c", 2).is_none());
    }
}
