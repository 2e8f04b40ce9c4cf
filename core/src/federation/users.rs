//! Users vouched for by an identity provider: which contact centers sign in
//! elsewhere, and finding (or creating just in time) the Tollgate user for a
//! verified identity.

use serde_json::json;
use tollgate_store::model::{now, AuthScheme, ContactCenter, User};

use crate::directory::{DirectoryError, DirectoryUser};
use crate::services::Services;

/// Whether the contact center's users sign in at an identity provider.
pub fn signs_in_elsewhere(cc: &ContactCenter) -> bool {
    matches!(cc.auth, AuthScheme::Saml | AuthScheme::Oidc)
}

/// A user as the identity provider vouched for them, after the protocol
/// module's attribute or claim mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The login name in the contact center (from NameID or a mapped claim).
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Authorities from the provider's group mapping; added to the directory's.
    pub authorities: Vec<String>,
    /// Who vouched (SAML entity id, OIDC issuer), for the audit trail.
    pub provider: String,
}

/// What to do with a user the contact center's directory does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownUsers {
    Refuse,
    /// Create a built-in user (without a password) from the identity.
    CreateJustInTime,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResolveError {
    #[error("the user is not known in this contact center")]
    UnknownUser,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Finds the Tollgate user for an identity: in the contact center's LDAP
/// directory when one is stored, else among its built-in users, which may be
/// created just in time. The directory's record wins for dbid and names.
pub async fn resolve_user(
    state: &Services,
    cc: &ContactCenter,
    identity: &FederatedIdentity,
    unknown: UnknownUsers,
) -> Result<DirectoryUser, ResolveError> {
    let (directory, builtin) = match state.directories.for_federated_users(cc).await? {
        Some(ldap) => (ldap, false),
        None => (state.directories.builtin.clone() as _, true),
    };
    let found = directory.lookup(cc, &identity.username).await?;
    let mut user = match (found, unknown) {
        (Some(u), _) => u,
        (None, UnknownUsers::CreateJustInTime) if builtin => {
            create_just_in_time(state, cc, identity).await?
        }
        (None, _) => return Err(ResolveError::UnknownUser),
    };
    for a in &identity.authorities {
        if !user.authorities.contains(a) {
            user.authorities.push(a.clone());
        }
    }
    Ok(user)
}

/// A password that no hash check accepts: these users sign in only
/// through their identity provider.
const NO_PASSWORD: &str = "!sso";

async fn create_just_in_time(
    state: &Services,
    cc: &ContactCenter,
    identity: &FederatedIdentity,
) -> Result<DirectoryUser, ResolveError> {
    let t = now();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        contact_center_id: cc.id.clone(),
        username: identity.username.clone(),
        password_hash: NO_PASSWORD.to_string(),
        dbid: 0,
        first_name: identity.first_name.clone().unwrap_or_default(),
        last_name: identity.last_name.clone().unwrap_or_default(),
        email: identity.email.clone().unwrap_or_default(),
        authorities: vec![],
        properties: serde_json::Map::new(),
        enabled: true,
        must_change_password: false,
        version: 1,
        created_at: t,
        updated_at: t,
    };
    match state.db.create_user(&user).await {
        Ok(u) => {
            state
                .audit("user.created_just_in_time")
                .contact_center(&cc.id)
                .subject(&u.username)
                .detail(json!({"provider": identity.provider}))
                .record();
            Ok(DirectoryUser {
                username: u.username,
                dbid: u.dbid,
                first_name: u.first_name,
                last_name: u.last_name,
                email: u.email,
                authorities: u.authorities,
                properties: u.properties,
            })
        }
        // The name exists but lookup did not return it: a disabled user.
        Err(tollgate_store::StoreError::Duplicate { .. }) => {
            Err(ResolveError::Directory(DirectoryError::Locked))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot create a just-in-time user");
            Err(ResolveError::Directory(DirectoryError::Unavailable {
                retry_after: std::time::Duration::from_secs(5),
            }))
        }
    }
}
