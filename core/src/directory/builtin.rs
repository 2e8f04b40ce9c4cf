//! The built-in directory: users stored in Tollgate's own database, with
//! argon2id password hashes.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tollgate_store::model::{ContactCenter, User};
use tollgate_store::Db;

use crate::directory::password_policy::PasswordPolicy;
use crate::directory::recent_users::RecentUsers;
use crate::directory::{Directory, DirectoryError, DirectoryUser};
use crate::secrets::{decoy_hash, hash_secret, run_slow, verify_hash};

pub struct BuiltinDirectory {
    db: Db,
    policy: PasswordPolicy,
    /// Shared with client-secret checks: slow hashes running at once.
    slow_work: Arc<Semaphore>,
    /// Users looked up again, until the change feed reports them changed.
    recent: RecentUsers,
}

impl BuiltinDirectory {
    pub fn new(db: Db, policy: PasswordPolicy, slow_work: Arc<Semaphore>) -> Self {
        BuiltinDirectory {
            db,
            policy,
            slow_work,
            recent: RecentUsers::default(),
        }
    }

    /// Whether `password` is one the policy's history forbids for `user`.
    pub async fn reused(
        &self,
        user: &User,
        password: &str,
    ) -> Result<bool, tollgate_store::StoreError> {
        self.policy
            .reused(&self.db, user, password, &self.slow_work)
            .await
    }

    async fn verify(&self, hash: String, password: String) -> bool {
        run_slow(&self.slow_work, move || verify_hash(&hash, &password))
            .await
            .unwrap_or(false)
    }

    /// The change feed reported a change to the user it names
    /// "contact center id:user id".
    pub fn forget_user(&self, change_id: &str) {
        self.recent.forget(change_id);
    }

    async fn find_enabled(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<User>, DirectoryError> {
        let user = self
            .db
            .find_user_by_name(&cc.id, username)
            .await
            .map_err(unavailable)?;
        Ok(user.filter(|u| u.enabled))
    }

    /// The rules new passwords of this directory follow.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }
}

fn unavailable(e: tollgate_store::StoreError) -> DirectoryError {
    if !matches!(e, tollgate_store::StoreError::Unavailable(_)) {
        tracing::error!(error = %e, "built-in directory unavailable");
    }
    DirectoryError::Unavailable {
        retry_after: std::time::Duration::from_secs(5),
    }
}

fn to_directory_user(u: &User) -> DirectoryUser {
    DirectoryUser {
        username: u.username.clone(),
        dbid: u.dbid,
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.clone(),
        authorities: u.authorities.clone(),
        properties: u.properties.clone(),
    }
}

#[async_trait]
impl Directory for BuiltinDirectory {
    async fn authenticate(
        &self,
        cc: &ContactCenter,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        let user = self
            .db
            .find_user_by_name(&cc.id, username)
            .await
            .map_err(unavailable)?;
        let Some(user) = user else {
            // Same work as a real check, so timing does not reveal who exists.
            self.verify(decoy_hash().to_string(), password.to_string())
                .await;
            return Err(DirectoryError::BadCredentials);
        };
        if !self
            .verify(user.password_hash.clone(), password.to_string())
            .await
        {
            return Err(DirectoryError::BadCredentials);
        }
        // Only after the password is right, so these do not reveal accounts either.
        if !user.enabled {
            return Err(DirectoryError::Locked);
        }
        if user.must_change_password {
            return Err(DirectoryError::PasswordExpired);
        }
        Ok(to_directory_user(&user))
    }

    async fn lookup(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let user = self.find_enabled(cc, username).await?;
        Ok(user.as_ref().map(to_directory_user))
    }

    async fn lookup_remembered(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let ticket = match self.recent.get(&cc.id, username) {
            Ok(user) => return Ok(Some(user)),
            Err(ticket) => ticket,
        };
        let Some(user) = self.find_enabled(cc, username).await? else {
            return Ok(None);
        };
        let found = to_directory_user(&user);
        self.recent.put(ticket, &cc.id, &user.id, &found);
        Ok(Some(found))
    }

    async fn change_password(
        &self,
        cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError> {
        let user = self
            .db
            .find_user_by_name(&cc.id, username)
            .await
            .map_err(unavailable)?;
        let Some(mut user) = user else {
            return Err(DirectoryError::BadCredentials);
        };
        if !self
            .verify(user.password_hash.clone(), old.to_string())
            .await
        {
            return Err(DirectoryError::BadCredentials);
        }
        // Only after the old password is right: the rules say nothing to a guesser.
        self.policy
            .check_form(new)
            .map_err(DirectoryError::PasswordRejected)?;
        if self.reused(&user, new).await.map_err(unavailable)? {
            return Err(DirectoryError::PasswordRejected(
                crate::directory::password_policy::PolicyViolation::Reused(self.policy.history),
            ));
        }
        let new = new.to_string();
        user.password_hash = run_slow(&self.slow_work, move || hash_secret(&new).ok())
            .await
            .flatten()
            .ok_or(DirectoryError::Unavailable {
                retry_after: std::time::Duration::from_secs(1),
            })?;
        user.must_change_password = false;
        self.db.update_user(&user).await.map_err(unavailable)?;
        Ok(())
    }
}
