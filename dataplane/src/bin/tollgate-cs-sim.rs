//! `tollgate-cs-sim`: a Configuration Server simulator speaking Tollgate's
//! own protocol (newline-delimited JSON; see
//! `tollgate_core::directory::config_server::protocol`), for tests and demos.
//! It is not a Genesys Configuration Server and does not speak its wire
//! protocol. Prints `listening on <address>` once it accepts connections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tollgate_core::directory::config_server::simulator::{tls_acceptor, Options, Seed, Simulator};

#[derive(Parser)]
#[command(
    version,
    about = "Configuration Server simulator (Tollgate's protocol, not Genesys')"
)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// JSON seed file: the service account and the users.
    #[arg(long)]
    users: PathBuf,
    /// Delay before each command's answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Register clients, then never answer a command (a hung server).
    #[arg(long)]
    hang_commands: bool,
    /// Refuse password changes.
    #[arg(long)]
    read_only: bool,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let seed: Seed = serde_json::from_slice(
        &std::fs::read(&args.users).with_context(|| format!("reading {}", args.users.display()))?,
    )
    .with_context(|| format!("parsing {}", args.users.display()))?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let options = Options {
        latency: Duration::from_millis(args.latency_ms),
        hang_commands: args.hang_commands,
        read_only: args.read_only,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    Arc::new(Simulator::new(seed, options))
        .serve(listener, tls)
        .await;
    Ok(())
}
