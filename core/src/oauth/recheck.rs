//! Re-reading a signed-in user from their directory: a session or refresh
//! family carries what was true at sign-in; before it yields new tokens the
//! user must still exist and be enabled, and the tokens carry the
//! directory's current claims (authorities, dbid, names, email).

use tollgate_store::model::ContactCenter;

use crate::directory::{Directory, DirectoryError};
use crate::oauth::issue::UserPrincipal;
use crate::services::Services;

/// What the directory says of a signed-in user now.
#[derive(Debug)]
pub enum Recheck {
    /// Still there and enabled: the principal with today's claims.
    Current(Box<UserPrincipal>),
    /// Deleted, disabled, or their contact center is gone or disabled
    /// (which of them, for the log).
    Gone(&'static str),
    /// The directory cannot answer now; retry after this many seconds.
    Unavailable(u64),
}

/// The directory that knows the contact center's users without their
/// password: the password directory, or for single sign-on the one
/// `sso::resolve_user` reads (a stored LDAP directory, else the built-in
/// users). `Ok(None)` when the contact center has none.
async fn lookup_directory(
    state: &Services,
    cc: &ContactCenter,
) -> Result<Option<std::sync::Arc<dyn Directory>>, DirectoryError> {
    if crate::federation::users::signs_in_elsewhere(cc) {
        return Ok(Some(
            match state.directories.for_federated_users(cc).await? {
                Some(ldap) => ldap,
                None => state.directories.builtin.clone(),
            },
        ));
    }
    Ok(state.directories.for_contact_center(cc).await)
}

/// How fresh the directory's answer must be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Read now (a browser session about to yield a code).
    Live,
    /// One remembered since the user last changed will do (the refresh
    /// grant: disabling or deleting a user ends their refresh families).
    Remembered,
}

/// Looks `user` up again.
pub async fn recheck(state: &Services, user: &UserPrincipal, freshness: Freshness) -> Recheck {
    let Some(cc) = state
        .catalog
        .contact_center(&user.contact_center_id)
        .filter(|cc| cc.enabled)
    else {
        return Recheck::Gone("the contact center is gone or disabled");
    };
    let found = match lookup_directory(state, &cc).await {
        Ok(Some(directory)) if freshness == Freshness::Remembered => {
            directory.lookup_remembered(&cc, &user.user_name).await
        }
        Ok(Some(directory)) => directory.lookup(&cc, &user.user_name).await,
        // No directory to ask: what sign-in established stands.
        Ok(None) => return Recheck::Current(Box::new(user.clone())),
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(now)) => Recheck::Current(Box::new(user.refreshed(&cc, &now))),
        Ok(None) => Recheck::Gone("the user is gone or disabled"),
        Err(DirectoryError::Unavailable { retry_after }) => {
            Recheck::Unavailable(retry_after.as_secs().max(1))
        }
        Err(_) => Recheck::Gone("the directory refused the user"),
    }
}
