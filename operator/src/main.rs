//! `tollgate-operator`: reconciles Tollgate's custom resources. Flags and
//! environment variables are listed by `--help`; logs are JSON on stdout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tollgate_operator::context::Context;
use tollgate_operator::leader::Elector;
use tollgate_operator::metrics::Metrics;
use tollgate_store::{Cipher, Db};

#[derive(Parser, Debug)]
#[command(name = "tollgate-operator", version, about)]
struct Args {
    /// Watch only this namespace (empty: all namespaces).
    #[arg(long, env = "TOLLGATE_OPERATOR_NAMESPACE", default_value = "")]
    namespace: String,
    /// The platform team's namespace: the only one where `Tollgate` platform
    /// resources (and the Deployments and Jobs they own) are watched, and
    /// where an OAuthClient may hold a management role without
    /// contactCenterRefs. Empty: the watched namespace, else the operator's
    /// own (POD_NAMESPACE).
    #[arg(long, env = "TOLLGATE_OPERATOR_PLATFORM_NAMESPACE", default_value = "")]
    platform_namespace: String,
    /// Accept OAuthClients with a management role and no contactCenterRefs
    /// from every watched namespace, not only the platform namespace.
    #[arg(long, env = "TOLLGATE_OPERATOR_ALLOW_UNBOUND_MANAGEMENT_CLIENTS", default_value_t = false, action = clap::ArgAction::Set)]
    allow_unbound_management_clients: bool,
    /// Let the first resource that names a row older than recorded owners
    /// adopt it (once, when upgrading; rows created through the API are never
    /// adopted).
    #[arg(long, env = "TOLLGATE_OPERATOR_ADOPT_UNOWNED_ROWS", default_value_t = false, action = clap::ArgAction::Set)]
    adopt_unowned_rows: bool,
    /// Tollgate's PostgreSQL (the same database as the services).
    #[arg(long, env = "TOLLGATE_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The at-rest encryption key of the services (64 hex digits or base64 of
    /// 32 bytes): environment passwords are sealed with it.
    #[arg(long, env = "TOLLGATE_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: String,
    /// Health and metrics listener.
    #[arg(long, env = "TOLLGATE_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Reconcile only while holding the Lease `tollgate-operator`.
    #[arg(long, env = "TOLLGATE_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Server-side apply field manager.
    #[arg(
        long,
        env = "TOLLGATE_OPERATOR_FIELD_MANAGER",
        default_value = "tollgate-operator"
    )]
    field_manager: String,
    /// Seconds between checks of a Ready resource (restores drifted rows).
    #[arg(long, env = "TOLLGATE_OPERATOR_RESYNC_SECONDS", default_value_t = 60)]
    resync_seconds: u64,
    /// Reconciles of one kind of resource run at once (0: no bound).
    #[arg(long, env = "TOLLGATE_OPERATOR_CONCURRENCY", default_value_t = tollgate_operator::context::DEFAULT_CONCURRENCY)]
    concurrency: u16,
    #[arg(long, env = "TOLLGATE_LOG", default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).context("--log")?)
        .init();

    let cipher = Cipher::from_config(&args.encryption_key).context("--encryption-key")?;
    let db = Db::connect(&args.database_url, cipher)
        .await
        .context("connecting to the database")?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let metrics = Arc::new(Metrics::default());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let router = tollgate_operator::http::router(db.clone(), metrics.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "health listener stopped");
        }
    });

    let mut ctx = Context::new(client.clone(), db, &args.field_manager, metrics);
    ctx.resync = Duration::from_secs(args.resync_seconds.max(1));
    ctx.concurrency = args.concurrency;
    let namespace = (!args.namespace.is_empty()).then_some(args.namespace.as_str());
    ctx.platform_namespace = [
        Some(args.platform_namespace.clone()),
        namespace.map(String::from),
    ]
    .into_iter()
    .flatten()
    .chain(std::env::var("POD_NAMESPACE").ok())
    .find(|ns| !ns.is_empty());
    ctx.allow_unbound_management_clients = args.allow_unbound_management_clients;
    ctx.adopt_unowned_rows = args.adopt_unowned_rows;
    let ctx = Arc::new(ctx);

    if !args.leader_election {
        tollgate_operator::controller::run(ctx, namespace).await;
        return Ok(());
    }
    let lease_namespace = std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "default".into());
    let identity = std::env::var("POD_NAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| format!("tollgate-operator-{}", std::process::id()));
    let elector = Elector::new(
        client,
        &lease_namespace,
        "tollgate-operator",
        &identity,
        Duration::from_secs(15),
    );
    tracing::info!(identity = %identity, "waiting for the Lease tollgate-operator");
    elector.acquire().await;
    tracing::info!(identity = %identity, "leading");
    tokio::select! {
        () = tollgate_operator::controller::run(ctx, namespace) => Ok(()),
        () = elector.hold() => {
            // Another replica leads now: stop, and let Kubernetes restart us as a follower.
            anyhow::bail!("lost the Lease tollgate-operator")
        }
    }
}
