//! The Configuration Server as a [`Directory`]: settings, the connector per
//! environment, and the mapping of its answers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tollgate_store::model::{ContactCenter, Environment};

use super::connection::{Backoff, ConnectError, Connector, ConnectorConfig, Endpoint};
use super::metrics::ConfigServerMetrics;
use super::protocol::{Command, Hello, JsonLines, Refusal, Reply, UserRecord};
use crate::directory::password_policy::{PolicyViolation, MAX_PASSWORD_BYTES};
use crate::directory::{Directory, DirectoryError, DirectoryUser};

/// Server-wide settings of every Configuration Server connector.
#[derive(Clone)]
pub struct ConfigServerSettings {
    /// CA (PEM) that signs the servers' certificates, for `tlsEnabled`
    /// environments.
    pub ca_pem: Option<String>,
    pub metrics: ConfigServerMetrics,
    pub backoff: Backoff,
    pub probe_interval: Duration,
}

impl ConfigServerSettings {
    pub fn new(ca_pem: Option<String>, metrics: ConfigServerMetrics) -> Self {
        ConfigServerSettings {
            ca_pem,
            metrics,
            backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// How long a caller should wait after a command went unanswered.
const RETRY_AFTER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller should wait when the server refuses our registration or
/// the request: an administrator has to act.
const RETRY_AFTER_MISCONFIGURED: Duration = Duration::from_secs(60);

pub struct ConfigServerDirectory {
    connector: Connector,
    read_only: bool,
}

impl ConfigServerDirectory {
    /// The connector for `env`: its `configServers` in order (each primary,
    /// then its backup), `localTimeout`/`remoteTimeout` in seconds, TLS when
    /// `tlsEnabled`, registered as `appName` with the service account.
    pub fn from_environment(
        env: &Environment,
        settings: &ConfigServerSettings,
    ) -> Result<Self, String> {
        let mut endpoints = Vec::new();
        for cs in &env.config_servers {
            endpoints.push(Endpoint {
                host: cs.primary_address.clone(),
                port: cs.primary_port,
            });
            if let (Some(host), Some(port)) = (&cs.backup_address, cs.backup_port) {
                endpoints.push(Endpoint {
                    host: host.clone(),
                    port,
                });
            }
        }
        if endpoints.is_empty() {
            return Err("the environment has no configServers".into());
        }
        let tls = if env.tls_enabled {
            let ca = settings
                .ca_pem
                .as_deref()
                .ok_or("tlsEnabled needs the Configuration Server CA (--config-server-ca)")?;
            Some(crate::directory::ldap::tls_config(ca)?)
        } else {
            None
        };
        let seconds = |s: i64| Duration::from_secs(s.clamp(1, 600) as u64);
        let config = ConnectorConfig {
            environment_id: env.id.clone(),
            endpoints,
            connect_timeout: seconds(env.local_timeout),
            command_timeout: seconds(env.remote_timeout),
            tls,
            hello: Hello {
                app_name: env.app_name.clone(),
                user_name: env.username.clone(),
                password: env.password.clone().unwrap_or_default(),
            },
            backoff: settings.backoff,
            probe_interval: settings.probe_interval,
        };
        let read_only = env.config_servers.first().is_some_and(|cs| cs.read_only);
        Ok(Self::new(config, read_only, settings.metrics.clone()))
    }

    /// A directory over an explicit connector configuration (tests use short timeouts).
    pub fn new(config: ConnectorConfig, read_only: bool, metrics: ConfigServerMetrics) -> Self {
        ConfigServerDirectory {
            connector: Connector::new(config, Arc::new(JsonLines), metrics),
            read_only,
        }
    }

    /// Index of the server in use (0: the primary), if connected.
    pub async fn active_server(&self) -> Option<usize> {
        self.connector.active().await
    }

    async fn call(&self, command: Command) -> Result<Reply, DirectoryError> {
        self.connector.call(command).await.map_err(|e| match e {
            ConnectError::Down { retry_after } => DirectoryError::Unavailable { retry_after },
            ConnectError::TimedOut => DirectoryError::Unavailable {
                retry_after: RETRY_AFTER_TIMEOUT,
            },
        })
    }
}

fn refused(refusal: Refusal) -> DirectoryError {
    match refusal {
        Refusal::BadCredentials => DirectoryError::BadCredentials,
        Refusal::Locked => DirectoryError::Locked,
        Refusal::PasswordExpired => DirectoryError::PasswordExpired,
        Refusal::PasswordRejected => {
            DirectoryError::PasswordRejected(PolicyViolation::RefusedByDirectory)
        }
        Refusal::ReadOnly => DirectoryError::Unsupported,
        // Our side is misconfigured or out of step: never the user's fault.
        Refusal::ServiceAccountRejected | Refusal::NotRegistered | Refusal::BadRequest => {
            tracing::warn!(?refusal, "the Configuration Server refused a request");
            DirectoryError::Unavailable {
                retry_after: RETRY_AFTER_MISCONFIGURED,
            }
        }
    }
}

fn user_of(record: UserRecord) -> DirectoryUser {
    DirectoryUser {
        username: record.user_name,
        dbid: record.dbid,
        first_name: record.first_name,
        last_name: record.last_name,
        email: record.email,
        authorities: record.authorities,
        properties: record.properties,
    }
}

#[async_trait]
impl Directory for ConfigServerDirectory {
    async fn authenticate(
        &self,
        _cc: &ContactCenter,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        // Nothing to ask the server about an empty name or password.
        if username.is_empty() || password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(DirectoryError::BadCredentials);
        }
        let command = Command::Authenticate {
            user_name: username.to_string(),
            password: password.to_string(),
        };
        match self.call(command).await? {
            Ok(Some(record)) => Ok(user_of(record)),
            // A server that accepts without naming the user is out of step.
            Ok(None) => Err(refused(Refusal::BadRequest)),
            Err(refusal) => Err(refused(refusal)),
        }
    }

    async fn lookup(
        &self,
        _cc: &ContactCenter,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        if username.is_empty() {
            return Ok(None);
        }
        let command = Command::Lookup {
            user_name: username.to_string(),
        };
        match self.call(command).await? {
            Ok(record) => Ok(record.map(user_of)),
            Err(refusal) => Err(refused(refusal)),
        }
    }

    async fn change_password(
        &self,
        _cc: &ContactCenter,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), DirectoryError> {
        if self.read_only {
            return Err(DirectoryError::Unsupported);
        }
        if new.len() > MAX_PASSWORD_BYTES {
            return Err(DirectoryError::PasswordRejected(PolicyViolation::TooLong));
        }
        if username.is_empty() || old.is_empty() || old.len() > MAX_PASSWORD_BYTES {
            return Err(DirectoryError::BadCredentials);
        }
        let command = Command::ChangePassword {
            user_name: username.to_string(),
            old_password: old.to_string(),
            new_password: new.to_string(),
        };
        match self.call(command).await? {
            Ok(_) => Ok(()),
            Err(refusal) => Err(refused(refusal)),
        }
    }
}
