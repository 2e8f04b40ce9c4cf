//! A bounded memo of access tokens whose signature and claims were already
//! checked. Resource servers introspect the same token many times over its
//! life, and an ECDSA verification costs several times a signature; the
//! memo turns repeats into a hash lookup. Only the cryptographic result is
//! remembered: expiry, revocation and tenant checks run on every use.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use super::AccessClaims;

const SHARDS: usize = 16;
const PER_SHARD: usize = 512;

pub struct VerifiedTokens {
    shards: Vec<Mutex<HashMap<Box<str>, Arc<AccessClaims>>>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, token: &str) -> &Mutex<HashMap<Box<str>, Arc<AccessClaims>>> {
        let mut h = DefaultHasher::new();
        token.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    pub fn get(&self, token: &str) -> Option<Arc<AccessClaims>> {
        self.shard(token).lock().ok()?.get(token).cloned()
    }

    pub fn insert(&self, token: &str, claims: Arc<AccessClaims>) {
        if let Ok(mut map) = self.shard(token).lock() {
            // Crude but bounded: a full shard starts over; the cost is a re-verification.
            if map.len() >= PER_SHARD {
                map.clear();
            }
            map.insert(token.into(), claims);
        }
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
            act: None,
        })
    }

    #[test]
    fn remembers_exact_tokens_and_stays_bounded() {
        let v = VerifiedTokens::default();
        v.insert("a.b.c", claims("1"));
        assert_eq!(v.get("a.b.c").map(|c| c.jti.clone()), Some("1".into()));
        assert!(v.get("a.b.d").is_none());
        for i in 0..(SHARDS * PER_SHARD * 3) {
            v.insert(&format!("t{i}"), claims("x"));
        }
        let total: usize = v.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * PER_SHARD);
    }
}
