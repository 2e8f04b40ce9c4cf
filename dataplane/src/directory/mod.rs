//! User directories: where a contact center's users are checked. Chosen per
//! contact center by its `auth` field. The built-in directory lives in the
//! store; LDAP (`ldap`) and the Configuration Server plug in behind the same
//! trait.

pub mod builtin;
pub mod ldap;
pub mod password_policy;

use std::time::Duration;

use async_trait::async_trait;
use tollgate_store::model::ContactCenter;

/// A user as a directory reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryUser {
    pub username: String,
    pub dbid: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub authorities: Vec<String>,
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DirectoryError {
    /// Unknown user or wrong password: deliberately indistinguishable.
    #[error("bad credentials")]
    BadCredentials,
    #[error("account locked or disabled")]
    Locked,
    /// The password must be changed before the user may sign in.
    #[error("password expired")]
    PasswordExpired,
    /// The new password breaks the directory's password rules.
    #[error("password rejected: {0}")]
    PasswordRejected(password_policy::PolicyViolation),
    #[error("directory unavailable")]
    Unavailable { retry_after: Duration },
    #[error("this contact center's directory is not available in this server")]
    Unsupported,
}

#[async_trait]
pub trait Directory: Send + Sync {
    async fn authenticate(
        &self,
        cc: &ContactCenter,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError>;
    /// Finds a user without a password (token exchange, assertions, userinfo).
    async fn lookup(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError>;
    async fn change_password(
        &self,
        cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError>;
}

/// Picks the directory for a contact center.
pub struct Directories {
    pub builtin: builtin::BuiltinDirectory,
}

impl Directories {
    pub fn for_contact_center(&self, cc: &ContactCenter) -> Option<&dyn Directory> {
        match cc.auth {
            tollgate_store::model::AuthScheme::Builtin => Some(&self.builtin),
            _ => None,
        }
    }
}
