//! Password rules of the built-in directory, from configuration
//! (`--password-min-length`, `--password-history`): applied when a user
//! changes their password and when an administrator sets one. Directories
//! with their own rules (LDAP, the Configuration Server) enforce those.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tollgate_store::model::User;
use tollgate_store::{Db, StoreError};

use crate::secrets::{run_slow, verify_hash};

/// Hashing cost grows with the input; an unbounded password is a
/// denial-of-service lever.
pub const MAX_PASSWORD_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Shortest password, in characters.
    pub min_length: u32,
    /// A new password may not repeat the last `history` ones, the current
    /// one included; 0 allows any.
    pub history: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            history: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("the password must be at least {0} characters")]
    TooShort(u32),
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("the password may not repeat any of the last {0}")]
    Reused(u32),
    /// The directory's own rules (an LDAP server's password policy).
    #[error("the directory refused the new password under its password rules")]
    RefusedByDirectory,
}

impl PasswordPolicy {
    /// The rules a password can be checked against on its own.
    pub fn check_form(&self, password: &str) -> Result<(), PolicyViolation> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PolicyViolation::TooLong);
        }
        if password.chars().count() < self.min_length as usize {
            return Err(PolicyViolation::TooShort(self.min_length));
        }
        Ok(())
    }

    /// Whether `password` is the user's current one or one of the previous
    /// `history - 1`, checked against the stored hashes.
    pub async fn reused(
        &self,
        db: &Db,
        user: &User,
        password: &str,
        slow_work: &Arc<Semaphore>,
    ) -> Result<bool, StoreError> {
        if self.history == 0 {
            return Ok(false);
        }
        let mut hashes = vec![user.password_hash.clone()];
        hashes.extend(
            db.password_history(
                &user.contact_center_id,
                &user.id,
                i64::from(self.history) - 1,
            )
            .await?,
        );
        let password = password.to_string();
        // Each check is a deliberate slow hash: off the async workers.
        let work = move || hashes.iter().any(|h| verify_hash(h, &password));
        Ok(run_slow(slow_work, work).await.unwrap_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters_and_caps_bytes() {
        let p = PasswordPolicy {
            min_length: 4,
            history: 0,
        };
        assert_eq!(p.check_form("abc"), Err(PolicyViolation::TooShort(4)));
        assert_eq!(p.check_form("ééé"), Err(PolicyViolation::TooShort(4)));
        assert_eq!(p.check_form("éééé"), Ok(()));
        assert_eq!(
            p.check_form(&"é".repeat(MAX_PASSWORD_BYTES / 2 + 1)),
            Err(PolicyViolation::TooLong)
        );
    }
}
