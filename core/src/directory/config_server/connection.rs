//! Connection management for one environment's Configuration Servers:
//! the primary first, the backup when the primary fails or does not answer
//! in time, back to the primary as soon as a probe finds it again, and
//! exponential backoff with jitter while every server is down.
//!
//! `localTimeout` bounds opening a session (TCP connect, TLS, registration);
//! `remoteTimeout` bounds each command. One multiplexed session carries all
//! concurrent commands, so sign-ins do not queue behind each other.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::directory::config_server::metrics::ConfigServerMetrics;
use crate::directory::config_server::protocol::{
    Command, ConfigServerProtocol, Hello, Reply, Session, Stream, WireError,
};

/// One server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Delays between rounds of connection attempts while every server is down.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failed rounds: doubling from `initial` up to
    /// `max`, then a random part of it in its upper half, so replicas do not
    /// reconnect in step.
    pub fn delay(&self, failures: u32) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let capped = doubled.min(self.max);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

pub struct ConnectorConfig {
    /// Label of this connector's metrics and log lines.
    pub environment_id: String,
    /// Preferred first: the primary, then the backup.
    pub endpoints: Vec<Endpoint>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// TLS to every endpoint when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub hello: Hello,
    pub backoff: Backoff,
    /// How often a connector on a backup checks whether the primary is back.
    pub probe_interval: Duration,
}

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConnectError {
    /// No server could be reached (or registered with) in time; try again after.
    #[error("no Configuration Server available")]
    Down { retry_after: Duration },
    /// The command got no answer within `remoteTimeout`.
    #[error("the Configuration Server did not answer in time")]
    TimedOut,
}

struct Active {
    index: usize,
    session: Arc<dyn Session>,
}

#[derive(Default)]
struct State {
    active: Option<Active>,
    /// Failed rounds over every endpoint since the last success.
    failures: u32,
    /// No new round before this instant (backoff).
    not_before: Option<Instant>,
    /// The server whose command last went unanswered: tried last in the
    /// next round, so a server that registers but then hangs does not keep
    /// the sign-ins.
    suspect: Option<usize>,
    /// The server of the last session, open or not (for switchovers).
    last: Option<usize>,
}

struct Inner {
    config: ConnectorConfig,
    protocol: Arc<dyn ConfigServerProtocol>,
    metrics: ConfigServerMetrics,
    state: Mutex<State>,
}

/// The connection to one environment's Configuration Servers.
pub struct Connector {
    inner: Arc<Inner>,
    probe: tokio::task::JoinHandle<()>,
}

impl Drop for Connector {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

impl Connector {
    /// Must run inside a Tokio runtime (it starts the primary probe).
    pub fn new(
        config: ConnectorConfig,
        protocol: Arc<dyn ConfigServerProtocol>,
        metrics: ConfigServerMetrics,
    ) -> Self {
        metrics.set_active(&config.environment_id, None);
        let inner = Arc::new(Inner {
            config,
            protocol,
            metrics,
            state: Mutex::new(State::default()),
        });
        let probe = tokio::spawn(probe_primary(Arc::downgrade(&inner)));
        Connector { inner, probe }
    }

    /// Index (0: primary) of the server in use, if connected.
    pub async fn active(&self) -> Option<usize> {
        let state = self.inner.state.lock().await;
        state
            .active
            .as_ref()
            .filter(|a| !a.session.is_closed())
            .map(|a| a.index)
    }

    /// Runs a command. A command lost with its connection (the server died)
    /// is sent once more, on whichever server answers next, if it is safe to
    /// repeat.
    pub async fn call(&self, command: Command) -> Result<Reply, ConnectError> {
        let inner = &self.inner;
        let mut retried = false;
        loop {
            let session = inner.session().await?;
            match tokio::time::timeout(inner.config.command_timeout, session.call(command.clone()))
                .await
            {
                Ok(Ok(reply)) => return Ok(reply),
                Err(_) => {
                    inner.metrics.command_timeout(&inner.config.environment_id);
                    tracing::warn!(
                        environment = %inner.config.environment_id,
                        ?command,
                        "Configuration Server command timed out; reconnecting"
                    );
                    // A server that stops answering is treated as down: the
                    // next command opens a session anew, on the backup if the
                    // primary does not register in time either.
                    inner.suspect(&session).await;
                    return Err(ConnectError::TimedOut);
                }
                Ok(Err(e)) => {
                    tracing::warn!(
                        environment = %inner.config.environment_id,
                        error = %e,
                        ?command,
                        "Configuration Server connection lost"
                    );
                    inner.drop_session(&session).await;
                    if retried || !command.idempotent() {
                        return Err(ConnectError::Down {
                            retry_after: Duration::from_secs(1),
                        });
                    }
                    retried = true;
                }
            }
        }
    }
}

impl Inner {
    /// The current session, or a new one: each endpoint in order, unless a
    /// backoff is running.
    async fn session(&self) -> Result<Arc<dyn Session>, ConnectError> {
        let mut state = self.state.lock().await;
        if let Some(active) = &state.active {
            if !active.session.is_closed() {
                return Ok(active.session.clone());
            }
        }
        state.active = None;
        if let Some(not_before) = state.not_before {
            let now = Instant::now();
            if now < not_before {
                return Err(ConnectError::Down {
                    retry_after: (not_before - now).max(Duration::from_secs(1)),
                });
            }
        }
        let suspect = state.suspect;
        let order = (0..self.config.endpoints.len())
            .filter(|i| Some(*i) != suspect)
            .chain(suspect);
        for index in order {
            if let Some(session) = self.open(index).await {
                self.switched(&mut state, index);
                state.failures = 0;
                state.not_before = None;
                state.active = Some(Active {
                    index,
                    session: session.clone(),
                });
                return Ok(session);
            }
        }
        state.failures = state.failures.saturating_add(1);
        let wait = self.config.backoff.delay(state.failures);
        state.not_before = Some(Instant::now() + wait);
        self.metrics.set_active(&self.config.environment_id, None);
        tracing::warn!(
            environment = %self.config.environment_id,
            failures = state.failures,
            retry_in_ms = wait.as_millis() as u64,
            "no Configuration Server available"
        );
        Err(ConnectError::Down {
            retry_after: wait.max(Duration::from_secs(1)),
        })
    }

    fn switched(&self, state: &mut State, index: usize) {
        let env = &self.config.environment_id;
        self.metrics.set_active(env, Some(index));
        if state.last.replace(index).is_some_and(|p| p != index) {
            self.metrics.switchover(env);
        }
        tracing::info!(
            environment = %env,
            server = %self.config.endpoints[index],
            role = if index == 0 { "primary" } else { "backup" },
            "Configuration Server session open"
        );
    }

    /// Drops the session whose command timed out and remembers its server.
    async fn suspect(&self, session: &Arc<dyn Session>) {
        let mut state = self.state.lock().await;
        if let Some(active) = &state.active {
            if Arc::ptr_eq(&active.session, session) {
                state.suspect = Some(active.index);
                state.active = None;
            }
        }
    }

    async fn drop_session(&self, session: &Arc<dyn Session>) {
        let mut state = self.state.lock().await;
        if state
            .active
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(&a.session, session))
        {
            state.active = None;
        }
    }

    /// Connects, secures and registers within `localTimeout`.
    async fn open(&self, index: usize) -> Option<Arc<dyn Session>> {
        let endpoint = &self.config.endpoints[index];
        let env = &self.config.environment_id;
        match tokio::time::timeout(self.config.connect_timeout, self.open_unbounded(endpoint)).await
        {
            Ok(Ok(session)) => Some(session),
            Ok(Err(e)) => {
                tracing::warn!(environment = %env, server = %endpoint, error = %e, "cannot open a Configuration Server session");
                None
            }
            Err(_) => {
                self.metrics.connection_timeout(env);
                tracing::warn!(environment = %env, server = %endpoint, "Configuration Server connection timed out");
                None
            }
        }
    }

    /// A session that registers and also answers a command in time (a
    /// lookup of the service account's name): a primary that registers but
    /// then hangs must not take the sign-ins back.
    async fn open_answering(&self, index: usize) -> Option<Arc<dyn Session>> {
        let session = self.open(index).await?;
        let probe = Command::Lookup {
            user_name: self.config.hello.user_name.clone(),
        };
        match tokio::time::timeout(self.config.command_timeout, session.call(probe)).await {
            Ok(Ok(_)) => Some(session),
            _ => None,
        }
    }

    async fn open_unbounded(&self, endpoint: &Endpoint) -> Result<Arc<dyn Session>, String> {
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.config.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                    .map_err(|e| format!("server name: {e}"))?;
                let connector = tokio_rustls::TlsConnector::from(tls.clone());
                Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?,
                )
            }
            None => Box::new(tcp),
        };
        self.protocol
            .open(stream, &self.config.hello)
            .await
            .map_err(|e: WireError| e.to_string())
    }
}

/// While a backup is in use, tries the primary every `probe_interval` and
/// moves to it when it registers and answers. Ends with its connector.
async fn probe_primary(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.config.probe_interval) else {
        return;
    };
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let on_backup = {
            let state = inner.state.lock().await;
            state
                .active
                .as_ref()
                .is_some_and(|a| a.index != 0 && !a.session.is_closed())
        };
        if !on_backup {
            continue;
        }
        // Opened outside the lock: sign-ins continue on the backup meanwhile.
        if let Some(session) = inner.open_answering(0).await {
            let mut state = inner.state.lock().await;
            state.active = Some(Active { index: 0, session });
            state.suspect = None;
            inner.switched(&mut state, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for (failures, full) in [(1, 100), (2, 200), (3, 400), (6, 2000), (40, 2000)] {
            for _ in 0..20 {
                let d = b.delay(failures).as_millis() as u64;
                assert!(d >= full / 2 && d <= full, "{failures}: {d}");
            }
        }
    }
}
