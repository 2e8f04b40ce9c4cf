//! A small Configuration Server that speaks Tollgate's protocol
//! (`protocol.rs`), for tests and demos; `tollgate-cs-sim` runs it. Users
//! come from a JSON seed file; password changes live in memory until the
//! process ends. It is not a Genesys Configuration Server.
//!
//! Seed file:
//!
//! ```json
//! {"serviceAccount": {"userName": "default", "password": "…"},
//!  "users": [{"userName": "alice", "password": "…", "dbid": 1001,
//!             "firstName": "Alice", "lastName": "Liddell", "email": "…",
//!             "authorities": ["ROLE_SUPERVISOR"], "properties": {},
//!             "locked": false, "passwordExpired": false}]}
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::directory::config_server::protocol::{
    line_of, read_line, Command, Refusal, Reply, Request, RequestBody, Response, Stream, UserRecord,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    pub user_name: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedUser {
    #[serde(flatten)]
    pub record: UserRecord,
    pub password: String,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub password_expired: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    pub service_account: Account,
    pub users: Vec<SeedUser>,
}

/// Behaviour switches for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Delay before each command's answer.
    pub latency: Duration,
    /// Register clients, then never answer a command (a hung server).
    pub hang_commands: bool,
    /// Refuse password changes.
    pub read_only: bool,
}

pub struct Simulator {
    account: Account,
    users: Mutex<HashMap<String, SeedUser>>,
    options: Options,
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Simulator {
    pub fn new(seed: Seed, options: Options) -> Self {
        let users = seed
            .users
            .into_iter()
            .map(|u| (u.record.user_name.clone(), u))
            .collect();
        Simulator {
            account: seed.service_account,
            users: Mutex::new(users),
            options,
        }
    }

    /// Accepts connections until the listener fails; TLS when `tls` is set.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) {
        while let Ok((tcp, peer)) = listener.accept().await {
            let sim = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => sim.session(stream).await,
                        Err(e) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                    },
                    None => sim.session(tcp).await,
                }
            });
        }
    }

    async fn session(self: Arc<Self>, stream: impl Stream) {
        let (read, write) = tokio::io::split(stream);
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let mut reader = BufReader::new(read);
        let mut registered = false;
        while let Ok(Some(line)) = read_line(&mut reader).await {
            let Ok(request) = serde_json::from_slice::<Request>(&line) else {
                let mut w = writer.lock().await;
                let _ = w
                    .write_all(&line_of(&Response::answer(0, Err(Refusal::BadRequest))))
                    .await;
                return;
            };
            let id = request.id;
            let reply = match request.body {
                RequestBody::Hello(hello) => {
                    registered = same(&hello.user_name, &self.account.user_name)
                        & same(&hello.password, &self.account.password);
                    if registered {
                        Ok(None)
                    } else {
                        Err(Refusal::ServiceAccountRejected)
                    }
                }
                RequestBody::Command(_) if !registered => Err(Refusal::NotRegistered),
                RequestBody::Command(_) if self.options.hang_commands => continue,
                RequestBody::Command(command) => {
                    // Answered concurrently, in whatever order they finish.
                    let sim = self.clone();
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(sim.options.latency).await;
                        let reply = sim.run(command);
                        let _ = writer
                            .lock()
                            .await
                            .write_all(&line_of(&Response::answer(id, reply)))
                            .await;
                    });
                    continue;
                }
            };
            if writer
                .lock()
                .await
                .write_all(&line_of(&Response::answer(id, reply)))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn run(&self, command: Command) -> Reply {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        match command {
            Command::Lookup { user_name } => Ok(users.get(&user_name).map(|u| u.record.clone())),
            Command::Authenticate {
                user_name,
                password,
            } => {
                let user = users
                    .get(&user_name)
                    .filter(|u| same(&u.password, &password))
                    .ok_or(Refusal::BadCredentials)?;
                if user.locked {
                    Err(Refusal::Locked)
                } else if user.password_expired {
                    Err(Refusal::PasswordExpired)
                } else {
                    Ok(Some(user.record.clone()))
                }
            }
            Command::ChangePassword {
                user_name,
                old_password,
                new_password,
            } => {
                if self.options.read_only {
                    return Err(Refusal::ReadOnly);
                }
                let user = users
                    .get_mut(&user_name)
                    .filter(|u| same(&u.password, &old_password))
                    .ok_or(Refusal::BadCredentials)?;
                if user.locked {
                    return Err(Refusal::Locked);
                }
                if new_password.is_empty() || same(&new_password, &old_password) {
                    return Err(Refusal::PasswordRejected);
                }
                user.password = new_password;
                user.password_expired = false;
                Ok(None)
            }
        }
    }
}

/// A TLS acceptor for the certificate chain and key in these PEM files.
pub fn tls_acceptor(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert_pem.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key_pem).map_err(|e| format!("{}: {e}", key_pem.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
