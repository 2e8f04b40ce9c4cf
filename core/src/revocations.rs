//! Revoked access tokens, held in memory on every replica and fed from the
//! durable `revocations` table, so losing Redis can never let a revoked
//! token through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::RwLock;

use tollgate_store::model::{Revocation, Timestamp};
use tollgate_store::{Db, Result};

use crate::tokens::AccessClaims;

#[derive(Default)]
struct Sets {
    /// jti → expiry.
    jtis: HashMap<String, Timestamp>,
    /// subject → (issued_before, expiry).
    subjects: HashMap<String, (Timestamp, Timestamp)>,
}

#[derive(Default)]
pub struct Revocations {
    sets: RwLock<Sets>,
    seq: AtomicI64,
}

impl Revocations {
    /// A token is revoked by its own `jti`, by its refresh family (`sid`, kept
    /// in the same set: both are UUIDs) or by a cut-off on its subject.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let Ok(sets) = self.sets.read() else {
            return true;
        };
        sets.jtis.contains_key(&claims.jti)
            || [&claims.sid, &claims.browser_session]
                .into_iter()
                .flatten()
                .any(|id| sets.jtis.contains_key(id))
            || Self::before_subject_revocation(&sets, &claims.sub, claims.iat)
    }

    /// Whether `id` (a token, refresh family or browser session) was revoked.
    pub fn id_revoked(&self, id: &str) -> bool {
        self.sets
            .read()
            .map_or(true, |sets| sets.jtis.contains_key(id))
    }

    /// Whether a token of `subject` issued at `iat` predates a revocation of
    /// all of that subject's tokens (global sign-out, disabled user).
    pub fn subject_revoked(&self, subject: &str, iat: Timestamp) -> bool {
        match self.sets.read() {
            Ok(sets) => Self::before_subject_revocation(&sets, subject, iat),
            Err(_) => true,
        }
    }

    fn before_subject_revocation(sets: &Sets, subject: &str, iat: Timestamp) -> bool {
        sets.subjects
            .get(subject)
            .is_some_and(|(before, _)| iat <= *before)
    }

    /// The `iat` for a new token of `subject`: after any cut-off made in the
    /// same second, so a sign-in right after a global sign-out is not born dead.
    pub fn issue_time(&self, subject: &str, now: Timestamp) -> Timestamp {
        let Ok(sets) = self.sets.read() else {
            return now;
        };
        match sets.subjects.get(subject) {
            Some((before, _)) if *before >= now => *before + 1,
            _ => now,
        }
    }

    /// Records a revocation durably, then locally so this replica sees it at once.
    pub async fn revoke(&self, db: &Db, revocation: Revocation) -> Result<()> {
        db.insert_revocation(&revocation).await?;
        self.apply(revocation);
        Ok(())
    }

    /// Pulls revocations written by other replicas.
    pub async fn refresh(&self, db: &Db, now: Timestamp) -> Result<()> {
        let list = db
            .revocations_since(self.seq.load(Ordering::Acquire), now)
            .await?;
        for (seq, r) in list {
            self.apply(r);
            self.seq.fetch_max(seq, Ordering::AcqRel);
        }
        if let Ok(mut sets) = self.sets.write() {
            sets.jtis.retain(|_, exp| *exp > now);
            sets.subjects.retain(|_, (_, exp)| *exp > now);
        }
        Ok(())
    }

    fn apply(&self, r: Revocation) {
        let Ok(mut sets) = self.sets.write() else {
            return;
        };
        match r {
            Revocation::Jti { jti, expires_at } => {
                sets.jtis.insert(jti, expires_at);
            }
            Revocation::Subject {
                subject,
                issued_before,
                expires_at,
            } => {
                let entry = sets
                    .subjects
                    .entry(subject)
                    .or_insert((issued_before, expires_at));
                entry.0 = entry.0.max(issued_before);
                entry.1 = entry.1.max(expires_at);
            }
        }
    }
}
