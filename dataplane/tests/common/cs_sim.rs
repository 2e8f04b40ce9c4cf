//! The Configuration Server simulator (`tollgate-cs-sim`) as a real process
//! on a real socket, and environments pointing at it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollgate_store::model::{ConfigServer, Environment};

/// The service account of the seed file.
pub const SERVICE_USER: &str = "default";
pub const SERVICE_PASSWORD: &str = "cs-service-password";

pub fn seed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config-server-users.json")
}

pub struct Sim {
    child: Child,
    pub addr: SocketAddr,
}

impl Sim {
    /// Starts the simulator with the seed users and `args`; returns once it listens.
    pub async fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-cs-sim"))
            .arg("--users")
            .arg(seed())
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting tollgate-cs-sim");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("tollgate-cs-sim did not start")
        .expect("reading its stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .expect("an address");
        Sim { child, addr }
    }

    /// SIGKILL: the process dies with its sockets, as a crashed server does.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("wait");
    }
}

/// An environment whose Configuration Server pair is `primary` and `backup`.
pub fn environment(
    id: &str,
    primary: SocketAddr,
    backup: Option<SocketAddr>,
    timeout_secs: i64,
) -> Environment {
    Environment {
        id: id.into(),
        username: SERVICE_USER.into(),
        password: Some(SERVICE_PASSWORD.into()),
        connection_protocol: "addp".into(),
        local_timeout: timeout_secs,
        remote_timeout: timeout_secs,
        tenant: "Resources".into(),
        app_name: "Cloud".into(),
        trace_mode: "CFGTMBoth".into(),
        tls_enabled: false,
        config_servers: vec![ConfigServer {
            primary_address: primary.ip().to_string(),
            primary_port: primary.port(),
            backup_address: backup.map(|b| b.ip().to_string()),
            backup_port: backup.map(|b| b.port()),
            read_only: false,
            locations: String::new(),
        }],
        version: 1,
        created_at: 0,
        updated_at: 0,
    }
}
