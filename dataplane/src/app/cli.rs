//! The `tollgate` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::config::{CommonArgs, LogFormat, StoreArgs};
use crate::app::import::{self, ImportArgs};
use crate::app::key_import::{self, KeyImportArgs};
use crate::app::serve::{self, Role};
use crate::app::telemetry;
use tollgate_store::ephemeral::MemoryLimits;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth 2.0 / OpenID Connect authentication for contact-center platforms"
)]
pub struct Cli {
    /// TOML file of settings (keys are the long flag names); flags and TOLLGATE_* variables win.
    #[arg(long, global = true, env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process on SQLite and the in-process store, with demo data.
    Dev {
        /// Where the SQLite database and the dev encryption key live.
        #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = ".tollgate")]
        data_dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Serve in production mode.
    Serve {
        #[arg(value_enum)]
        role: Role,
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Import clients, environments and contact centers from the original's API exports
    /// (files, or fetched from a running original with --from-url).
    Import(ImportArgs),
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Import an existing signing key (a migration): sign with it, or only publish it until a date.
    Import(KeyImportArgs),
}

pub async fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    crate::app::config::load_file_into_env(&args).map_err(|e| anyhow::anyhow!(e))?;
    let cli = Cli::parse();
    match cli.command {
        Command::Dev { data_dir, common } => dev(data_dir, common).await,
        Command::Serve {
            role,
            common,
            store,
        } => {
            let _telemetry = telemetry::init(
                common.log_format,
                &common.log,
                common.otlp_endpoint.as_deref(),
            )?;
            let listen = common
                .listen
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8095)));
            let mgmt = common
                .management_listen
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 9095)));
            let (db, ephemeral) = serve::open_stores(&store).await?;
            db.migrate().await.context("applying migrations")?;
            let state = serve::build(&common, listen, db, ephemeral).await?;
            let app = serve::app(state.clone(), role);
            serve::run(
                state,
                app,
                listen,
                mgmt,
                &common.tls,
                |p, m| tracing::info!(listen = %p, management = %m, role = ?role, "serving"),
            )
            .await
        }
        Command::Migrate { store } => {
            let (db, _) = serve::open_stores(&store).await?;
            db.migrate().await.context("applying migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Import(args) => {
            let (db, _) = serve::open_stores(&args.store).await?;
            // A dry run writes nothing, not even the schema.
            if !args.dry_run {
                db.migrate().await.context("applying migrations")?;
            }
            println!("{}", import::run(&db, &args).await?);
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Import(args),
        } => {
            let (db, _) = serve::open_stores(&args.store).await?;
            db.migrate().await.context("applying migrations")?;
            let done = key_import::import(&db, &args, tollgate_store::model::now()).await?;
            println!("{done}");
            Ok(())
        }
    }
}

async fn dev(data_dir: PathBuf, mut common: CommonArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if common.log_format == LogFormat::Json && std::env::var_os("TOLLGATE_LOG_FORMAT").is_none() {
        common.log_format = LogFormat::Text;
    }
    if std::env::var_os("TOLLGATE_LOG").is_none() {
        common.log = "warn".into();
    }
    let _telemetry = telemetry::init(
        common.log_format,
        &common.log,
        common.otlp_endpoint.as_deref(),
    )?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("--data-dir: cannot create {}", data_dir.display()))?;
    let listen = common
        .listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8095)));
    let mgmt = common
        .management_listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9095)));
    // Identity providers and directories on this machine, for trying things out.
    if common.outbound_allow.is_empty() {
        common.outbound_allow = tollgate_core::outbound::LOOPBACK
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let creds = crate::app::dev::DemoCredentials::from_env();
    common.ops_password = Some(creds.ops_password.clone());
    common.ops_password_hash = None;
    let store = StoreArgs {
        database_url: Some(format!("sqlite:{}", data_dir.join("tollgate.db").display())),
        database_ca_file: None,
        database_max_connections: tollgate_store::durable::DEFAULT_POSTGRES_CONNECTIONS,
        // The embedded database has no outages to fail fast on, only a
        // single writer that may keep others waiting under load.
        database_acquire_timeout: 10,
        redis_url: None,
        redis_cluster: false,
        redis_ca_file: None,
        memory_store_max_entries: MemoryLimits::default().max_entries,
        memory_store_max_bytes: MemoryLimits::default().max_bytes,
        encryption_key: Some(crate::app::dev::dev_encryption_key(&data_dir)?),
    };
    let (db, ephemeral) = serve::open_stores(&store).await?;
    db.migrate().await.context("applying migrations")?;
    let scheme = if common.tls.enabled() {
        "https"
    } else {
        "http"
    };
    let base = common
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{listen}"));
    crate::app::dev::seed(&db, &creds, &base).await?;
    if common.default_contact_center.is_none() {
        common.default_contact_center = Some(crate::app::dev::DEMO_CONTACT_CENTER.into());
    }
    let state = serve::build(&common, listen, db, ephemeral).await?;
    let ops_user = common.ops_username.clone();
    let tls = common.tls.clone();
    // The demo client's redirect URI is a page of this process.
    let app = serve::layered(
        state.clone(),
        serve::routes(state.clone(), Role::All).merge(crate::app::router::dev(
            state.clone(),
            creds.client_id.clone(),
        )),
    );
    let start =
        crate::web::browser::dev_callback::start_url(base.trim_end_matches('/'), &creds.client_id);
    serve::run(state, app, listen, mgmt, &tls, move |public, management| {
        let base = base.trim_end_matches('/');
        println!("Tollgate dev is ready in {} ms", started.elapsed().as_millis());
        println!();
        println!("  Authentication API  {base}/auth/v3");
        println!("  Environment API     {base}/environment/v3  (OpenAPI: {base}/environment/v3/openapi.json)");
        println!("  Discovery           {base}/.well-known/openid-configuration");
        println!("  Health, metrics     http://{management}/health/ready  http://{management}/metrics");
        println!("  Listening on        {public}");
        println!();
        println!("  Operator (ops API)  {ops_user} / {}", creds.ops_password);
        println!("  Client              {} / {}", creds.client_id, creds.client_secret);
        println!("  User                demo\\{} / {}", creds.username, creds.password);
        println!();
        println!("  Sign in with a browser: {start}");
        println!();
        println!("  curl -s -u '{}:{}' -d grant_type=client_credentials {base}/auth/v3/oauth/token", creds.client_id, creds.client_secret);
        println!("  curl -s -u '{}:{}' --data-urlencode 'username=demo\\{}' --data-urlencode 'password={}' -d grant_type=password {base}/auth/v3/oauth/token", creds.client_id, creds.client_secret, creds.username, creds.password);
    })
    .await
}
