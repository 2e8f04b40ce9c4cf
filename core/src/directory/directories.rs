//! The directory contract (what a directory answers) and the registry that
//! picks each contact center's directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tollgate_store::metrics::{Dependency, DependencyTimes};
use tollgate_store::model::{AuthScheme, ContactCenter};
use tollgate_store::Db;

use super::{builtin, config_server, ldap, password_policy};

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
    /// As [`Directory::lookup`], where an answer remembered since the user
    /// last changed will do: for the refresh grant, whose family ends in
    /// the same transaction that disables or deletes its user.
    async fn lookup_remembered(
        &self,
        cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.lookup(cc, username).await
    }
    async fn change_password(
        &self,
        cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError>;
}

/// How long a caller of a contact center without a usable directory
/// configuration (LDAP settings, its environment's Configuration Servers)
/// should wait: an administrator has to act.
const UNCONFIGURED_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The directory of a contact center whose LDAP or Configuration Server
/// settings are missing or unusable: every call answers `Unavailable` (503), so the cause
/// is on the server side, not the user's.
struct Unconfigured;

#[async_trait]
impl Directory for Unconfigured {
    async fn authenticate(
        &self,
        _cc: &ContactCenter,
        _username: &str,
        _password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        Err(unconfigured())
    }
    async fn lookup(
        &self,
        _cc: &ContactCenter,
        _username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        Err(unconfigured())
    }
    async fn change_password(
        &self,
        _cc: &ContactCenter,
        _username: &str,
        _old: &str,
        _new: &str,
    ) -> Result<(), DirectoryError> {
        Err(unconfigured())
    }
}

fn unconfigured() -> DirectoryError {
    DirectoryError::Unavailable {
        retry_after: UNCONFIGURED_RETRY_AFTER,
    }
}

/// Picks the directory for a contact center. LDAP directories (per contact
/// center) and Configuration Server connectors (per environment) are built
/// from the stored settings on first use and kept (with their connections)
/// until the change feed says the settings changed (`forget`,
/// `forget_environment`).
pub struct Directories {
    pub builtin: Arc<builtin::BuiltinDirectory>,
    db: Db,
    /// Per contact center: its LDAP directory, or `None` when none is stored.
    ldap: Mutex<HashMap<String, Option<Arc<dyn Directory>>>>,
    config_server: config_server::ConfigServerSettings,
    config_servers: Mutex<HashMap<String, Arc<dyn Directory>>>,
    /// Which addresses LDAP URLs may reach; unrestricted unless set.
    outbound: Option<Arc<crate::outbound::Policy>>,
    /// Where LDAP and Configuration Server calls are measured, if anywhere.
    times: Option<DependencyTimes>,
}

impl Directories {
    pub fn new(
        builtin: builtin::BuiltinDirectory,
        db: Db,
        config_server: config_server::ConfigServerSettings,
    ) -> Self {
        Directories {
            builtin: Arc::new(builtin),
            db,
            ldap: Mutex::new(HashMap::new()),
            config_server,
            config_servers: Mutex::new(HashMap::new()),
            outbound: None,
            times: None,
        }
    }

    /// LDAP and Configuration Server calls are measured in `times`.
    pub fn with_times(mut self, times: DependencyTimes) -> Self {
        self.times = Some(times);
        self
    }

    fn timed(&self, dependency: Dependency, inner: Arc<dyn Directory>) -> Arc<dyn Directory> {
        match &self.times {
            Some(times) => Arc::new(super::timed::Timed {
                inner,
                dependency,
                times: times.clone(),
            }),
            None => inner,
        }
    }

    /// LDAP directories connect only to addresses `outbound` allows.
    pub fn with_outbound(mut self, outbound: Arc<crate::outbound::Policy>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    /// The directory that checks passwords of the contact center's users;
    /// `None` when its users do not sign in with a password here (SSO).
    pub async fn for_contact_center(&self, cc: &ContactCenter) -> Option<Arc<dyn Directory>> {
        match cc.auth {
            AuthScheme::Builtin => Some(self.builtin.clone()),
            AuthScheme::Ldap => Some(match self.ldap_for(&cc.id).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    tracing::warn!(
                        contact_center = cc.id.as_str(),
                        "auth is ldap but no LDAP directory is configured"
                    );
                    Arc::new(Unconfigured)
                }
                Err(()) => Arc::new(Unconfigured),
            }),
            AuthScheme::ConfigServer => Some(self.config_server_for(&cc.environment_id).await),
            _ => None,
        }
    }

    /// The LDAP directory that knows the users of a single-sign-on contact
    /// center (`auth: saml` or `oidc`), or `None` when it has none stored and
    /// its built-in users are the ones. Used to look users up, never to
    /// check passwords.
    pub async fn for_federated_users(
        &self,
        cc: &ContactCenter,
    ) -> Result<Option<Arc<dyn Directory>>, DirectoryError> {
        self.ldap_for(&cc.id)
            .await
            .map_err(|()| DirectoryError::Unavailable {
                retry_after: Duration::from_secs(5),
            })
    }

    /// The connector of an environment, shared by its contact centers.
    async fn config_server_for(&self, environment_id: &str) -> Arc<dyn Directory> {
        if let Some(d) = lock(&self.config_servers).get(environment_id).cloned() {
            return d;
        }
        let built: Arc<dyn Directory> = match self.db.get_environment(environment_id).await {
            Ok(Some(env)) => {
                match config_server::ConfigServerDirectory::from_environment(
                    &env,
                    &self.config_server,
                ) {
                    Ok(d) => self.timed(Dependency::ConfigServer, Arc::new(d)),
                    Err(e) => {
                        tracing::warn!(environment = environment_id, error = %e, "unusable Configuration Server settings");
                        Arc::new(Unconfigured)
                    }
                }
            }
            Ok(None) => Arc::new(Unconfigured),
            // Not kept: the next sign-in tries the database again.
            Err(e) => {
                tracing::warn!(environment = environment_id, error = %e, "cannot read the environment");
                return Arc::new(Unconfigured);
            }
        };
        // A concurrent first use may have won; keep one connector per environment.
        lock(&self.config_servers)
            .entry(environment_id.to_string())
            .or_insert(built)
            .clone()
    }

    /// Drops the environment's Configuration Server connector (closing its
    /// session); the next use rebuilds it from the stored environment.
    pub fn forget_environment(&self, environment_id: &str) {
        lock(&self.config_servers).remove(environment_id);
    }

    /// `Err` when the settings cannot be read now (not kept: the next call
    /// tries the database again).
    async fn ldap_for(&self, contact_center_id: &str) -> Result<Option<Arc<dyn Directory>>, ()> {
        if let Some(d) = self.cached(contact_center_id) {
            return Ok(d);
        }
        let built: Option<Arc<dyn Directory>> = match self
            .db
            .get_ldap_directory(contact_center_id)
            .await
        {
            Ok(Some(config)) => match ldap::LdapDirectory::new(ldap::LdapConfig::from(&config)) {
                Ok(d) => Some(self.timed(
                    Dependency::Ldap,
                    Arc::new(d.with_outbound(self.outbound.clone())),
                )),
                Err(e) => {
                    tracing::warn!(contact_center = contact_center_id, error = %e, "unusable LDAP settings");
                    Some(Arc::new(Unconfigured))
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(contact_center = contact_center_id, error = %e, "cannot read the LDAP settings");
                return Err(());
            }
        };
        // A concurrent first use may have won; keep one pool per contact center.
        Ok(lock(&self.ldap)
            .entry(contact_center_id.to_string())
            .or_insert(built)
            .clone())
    }

    fn cached(&self, contact_center_id: &str) -> Option<Option<Arc<dyn Directory>>> {
        lock(&self.ldap).get(contact_center_id).cloned()
    }

    /// Drops the contact center's LDAP directory; the next use rebuilds it
    /// from the stored settings.
    pub fn forget(&self, contact_center_id: &str) {
        lock(&self.ldap).remove(contact_center_id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
