//! Wiring: builds the services from configuration, mounts the routers, runs
//! the background loops and serves until a shutdown signal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tollgate_store::ephemeral::{MemoryLimits, RedisConfig};
use tollgate_store::model::now;
use tollgate_store::{Cipher, Db, Ephemeral};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::config::{CommonArgs, StoreArgs};
use crate::app::tls::{Listening, TlsArgs, TlsListener};
use axum::extract::ConnectInfo;
use axum::serve::IncomingStream;
use tollgate_core::audit::Audit;
use tollgate_core::catalog::Catalog;
use tollgate_core::directory::config_server::ConfigServerSettings;
use tollgate_core::directory::password_policy::PasswordPolicy;
use tollgate_core::directory::{builtin::BuiltinDirectory, Directories};
use tollgate_core::federation::saml::fetch::MetadataRefresh;
use tollgate_core::federation::saml::refresh::refresh_all;
use tollgate_core::metrics::Metrics;
use tollgate_core::revocations::Revocations;
use tollgate_core::secrets::SecretVerifier;
use tollgate_core::services::{AppState, AuthSettings, Services};
use tollgate_core::tokens::{KeyPolicy, Keyring};
use tower::ServiceExt;

/// Which service(s) this process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The Authentication API.
    Auth,
    /// The Environment API.
    Environment,
    /// The Authentication UI (sign-in, change-password, consent and signed-out pages).
    Ui,
    /// Every service in one process.
    All,
}

pub async fn open_stores(store: &StoreArgs) -> anyhow::Result<(Db, Ephemeral)> {
    let url = store
        .database_url
        .as_deref()
        .context("--database-url (TOLLGATE_DATABASE_URL) is required")?;
    let key = store
        .encryption_key
        .as_deref()
        .context("--encryption-key (TOLLGATE_ENCRYPTION_KEY) is required")?;
    let cipher = Cipher::from_config(key).map_err(|e| anyhow::anyhow!("--encryption-key: {e}"))?;
    let url = match &store.database_ca_file {
        Some(ca) => tollgate_store::durable::postgres_url_with_ca(url, ca)
            .map_err(|e| anyhow::anyhow!("--database-ca-file: {e}"))?,
        None => url.to_string(),
    };
    if store.database_acquire_timeout < 1 {
        anyhow::bail!("--database-acquire-timeout: must be at least 1s");
    }
    let acquire_timeout = Duration::from_secs(store.database_acquire_timeout.unsigned_abs());
    let db = Db::connect_with(
        &url,
        cipher,
        store.database_max_connections,
        acquire_timeout,
    )
    .await
    .map_err(|e| anyhow::anyhow!("--database-url: cannot connect: {e}"))?;
    let ephemeral = match store.redis_url.as_deref().filter(|s| !s.trim().is_empty()) {
        None => Ephemeral::memory_with_limits(MemoryLimits {
            max_entries: store.memory_store_max_entries,
            max_bytes: store.memory_store_max_bytes,
        }),
        Some(urls) => {
            let urls: Vec<String> = urls
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let ca_pem = match &store.redis_ca_file {
                Some(p) => Some(
                    std::fs::read(p)
                        .with_context(|| format!("--redis-ca-file: cannot read {}", p.display()))?,
                ),
                None => None,
            };
            let cluster = store.redis_cluster || urls.len() > 1;
            Ephemeral::connect(&RedisConfig {
                urls,
                cluster,
                ca_pem,
            })
            .await
            .map_err(|e| anyhow::anyhow!("--redis-url: cannot connect: {e}"))?
        }
    };
    Ok((db, ephemeral))
}

/// Builds every service from open stores; the stores must be migrated.
pub async fn build(
    common: &CommonArgs,
    listen: SocketAddr,
    db: Db,
    ephemeral: Ephemeral,
) -> anyhow::Result<AppState> {
    let issuer = issuer(common, listen)?;
    let ops_password_hash = ops_password_hash(common)?;
    let catalog = Catalog::load(&db)
        .await
        .context("loading clients and contact centers")?;
    let default_contact_center = default_contact_center(common, &catalog)?;
    let keys = Keyring::load(&db, key_policy(common), now())
        .await
        .context("loading signing keys")?;
    let metrics = Metrics::default();
    let (audit, _writer) = Audit::start(db.clone(), metrics.audit_events_dropped.clone());
    let revocations = Revocations::default();
    revocations.refresh(&db, now()).await?;
    let config_server_ca = common
        .config_server_ca
        .as_deref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        })
        .transpose()?;
    let saml_metadata_ca = common
        .saml_metadata_ca
        .as_deref()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let outbound = Arc::new(
        tollgate_core::outbound::Policy::parse(&common.outbound_allow)
            .map_err(|e| anyhow::anyhow!("--outbound-allow: {e}"))?,
    );
    let saml_metadata = saml_metadata(common, &outbound, saml_metadata_ca.as_deref())?;
    let secrets = SecretVerifier::default();
    let directories = directories(
        common,
        &db,
        secrets.slow_work(),
        ConfigServerSettings::new(config_server_ca, metrics.config_server.clone()),
        outbound.clone(),
    )
    .with_times(metrics.dependencies.clone());
    let ephemeral = ephemeral.with_times(metrics.dependencies.clone());
    let backchannel = tollgate_core::oauth::backchannel::Backchannel::start(
        &outbound,
        metrics.backchannel_logouts.clone(),
    );
    Ok(Arc::new(Services {
        settings: auth_settings(
            common,
            issuer,
            default_contact_center,
            ops_password_hash,
            crate::app::tls::mtls_settings(&common.tls)?,
        ),
        jwks: tollgate_core::oauth::jwks::JwksCache::new(&outbound),
        oidc: tollgate_core::federation::oidc::discovery::Discovery::new(
            &outbound,
            metrics.dependencies.clone(),
        ),
        saml_metadata,
        outbound,
        directories,
        db,
        ephemeral,
        local_counters: Ephemeral::memory_with_limits(LOCAL_COUNTER_LIMITS),
        catalog,
        keys,
        verified: Default::default(),
        revocations,
        secrets,
        audit,
        metrics,
        backchannel,
    }))
}

/// The public URL (by default the listen address), without a trailing slash.
fn issuer(common: &CommonArgs, listen: SocketAddr) -> anyhow::Result<String> {
    let issuer = common
        .public_url
        .clone()
        .unwrap_or_else(|| {
            let scheme = if common.tls.enabled() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{listen}")
        })
        .trim_end_matches('/')
        .to_string();
    url::Url::parse(&issuer)
        .map_err(|_| anyhow::anyhow!("--public-url: '{issuer}' is not an absolute URL"))?;
    Ok(issuer)
}

/// The operator password's hash: given, or made from the clear password.
fn ops_password_hash(common: &CommonArgs) -> anyhow::Result<String> {
    match (&common.ops_password_hash, &common.ops_password) {
        (Some(h), _) => {
            if !(h.starts_with("$2") || h.starts_with("$argon2")) {
                anyhow::bail!("--ops-password-hash: expected a bcrypt ($2a$/$2b$/$2y$) or argon2 ($argon2id$) hash");
            }
            Ok(h.clone())
        }
        (None, Some(p)) if !p.is_empty() => tollgate_core::secrets::hash_secret(p)
            .map_err(|_| anyhow::anyhow!("--ops-password: cannot hash")),
        _ => anyhow::bail!(
            "operator credentials are required: set --ops-password-hash or --ops-password"
        ),
    }
}

/// The id of the contact center named (by id or domain) as the default.
fn default_contact_center(
    common: &CommonArgs,
    catalog: &Catalog,
) -> anyhow::Result<Option<String>> {
    let Some(name) = &common.default_contact_center else {
        return Ok(None);
    };
    catalog
        .contact_center(name)
        .or_else(|| catalog.contact_center_by_domain(name))
        .map(|cc| Some(cc.id.clone()))
        .with_context(|| {
            format!("--default-contact-center: no contact center has id or domain '{name}'")
        })
}

/// The built-in directory with its password policy, and how the others are reached.
fn directories(
    common: &CommonArgs,
    db: &Db,
    slow_work: Arc<tokio::sync::Semaphore>,
    config_server: ConfigServerSettings,
    outbound: Arc<tollgate_core::outbound::Policy>,
) -> Directories {
    Directories::new(
        BuiltinDirectory::new(
            db.clone(),
            PasswordPolicy {
                min_length: common.password_min_length,
                history: common.password_history,
            },
            slow_work,
        ),
        db.clone(),
        config_server,
    )
    .with_outbound(outbound)
}

fn key_policy(common: &CommonArgs) -> KeyPolicy {
    KeyPolicy {
        algorithm: common.signing_algorithm.into(),
        rotation_interval: common.key_rotation_interval,
        publish_ahead: common
            .key_publish_ahead
            .min(common.key_rotation_interval / 2),
        max_token_lifetime: common.max_token_lifetime,
    }
}

/// How SAML metadata is fetched (through the outbound policy, trusting
/// `ca` too) and how often.
fn saml_metadata(
    common: &CommonArgs,
    outbound: &Arc<tollgate_core::outbound::Policy>,
    ca: Option<&[u8]>,
) -> anyhow::Result<MetadataRefresh> {
    Ok(MetadataRefresh {
        http: tollgate_core::federation::saml::fetch::metadata_http_client_with(
            outbound.client_builder(),
            ca,
        )
        .map_err(|e| anyhow::anyhow!("--saml-metadata-ca: {e}"))?,
        interval: Duration::from_secs(
            u64::try_from(common.saml_metadata_refresh_interval.max(1)).unwrap_or(300),
        ),
    })
}

fn auth_settings(
    common: &CommonArgs,
    issuer: String,
    default_contact_center: Option<String>,
    ops_password_hash: String,
    mtls: tollgate_core::oauth::mtls::MtlsSettings,
) -> AuthSettings {
    AuthSettings {
        audience: issuer.clone(),
        max_token_lifetime: common.max_token_lifetime,
        refresh_family_lifetime: common.refresh_family_lifetime,
        audit_retention: common.audit_retention,
        change_log_retention: common.change_log_retention,
        request_timeout: common.request_timeout,
        default_contact_center,
        ops_username: common.ops_username.clone(),
        ops_password_hash,
        leeway: 30,
        client_assertion_token_endpoint_audience: common.client_assertion_token_endpoint_audience,
        dpop_nonce: common.dpop_nonce,
        min_client_secret_length: common.min_client_secret_length,
        browser: tollgate_core::services::BrowserSettings {
            session_idle_timeout: common.session_idle_timeout,
            session_max_age: common.session_max_age,
            lockout_threshold: common.lockout_threshold,
            lockout_duration: common.lockout_duration,
            rate_limit_per_minute: common.rate_limit_per_minute,
            secure_cookies: !issuer.starts_with("http://"),
        },
        trusted_proxies: tollgate_core::protection::client_ip::TrustedProxies {
            networks: common.trusted_proxies.clone(),
            header: common.client_ip_header,
        },
        mtls,
        issuer,
    }
}

/// Bounds of the fallback counters (about 100 bytes an entry).
const LOCAL_COUNTER_LIMITS: MemoryLimits = MemoryLimits {
    max_entries: 100_000,
    max_bytes: 16 << 20,
};

/// One year; not `includeSubDomains`, which would bind sibling hosts Tollgate does not own.
const HSTS: &str = "max-age=31536000";

/// The public router for a role, with the cross-cutting layers.
pub fn app(state: AppState, role: Role) -> Router {
    layered(state.clone(), routes(state, role))
}

/// The routes a role serves, without the layers.
pub fn routes(state: AppState, role: Role) -> Router {
    let mut router = Router::new();
    if matches!(role, Role::Auth | Role::All) {
        router = router.merge(crate::app::router::auth(state.clone()));
    }
    if matches!(role, Role::Ui | Role::All) {
        router = router.merge(crate::app::router::ui(state.clone()));
    }
    if matches!(role, Role::Environment | Role::All) {
        router = router.merge(crate::app::router::environment(state));
    }
    router
}

/// `router` with the cross-cutting layers every answer goes through.
pub fn layered(state: AppState, mut router: Router) -> Router {
    // Unknown paths and methods answer in the shape of their API, like every
    // other error.
    router = router
        .fallback(|| async {
            crate::web::envelope::ApiError::not_found("no such endpoint").into_response()
        })
        .layer(crate::app::edge::EdgeLayer::new(state.clone()));
    // HSTS (RFC 6797) when clients reach this service over https (its public
    // URL). Browsers ignore it on plain http, so it needs no per-request check.
    if state.settings.browser.secure_cookies {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ));
    }
    // RFC 9449 §8.2: every answer carries the current nonce, so a client
    // has a fresh one before its previous one expires.
    if state.settings.dpop_nonce {
        let nonces = state.clone();
        router = router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("dpop-nonce"),
            move |_: &Response| {
                HeaderValue::from_str(&tollgate_core::oauth::dpop::nonce(&nonces, now())).ok()
            },
        ));
    }
    let x_request_id = HeaderName::from_static("x-request-id");
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(CatchPanicLayer::custom(|_| {
            crate::web::envelope::ApiError::internal().into_response()
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(crate::app::telemetry::request_span))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

#[derive(Clone)]
struct Management {
    state: AppState,
    ready: Arc<AtomicBool>,
}

/// Health and metrics, on their own port so they are never exposed by accident.
fn management(state: AppState, ready_flag: Arc<AtomicBool>) -> Router {
    async fn live() -> Response {
        crate::web::envelope::ok_empty()
    }
    async fn ready(State(m): State<Management>) -> Response {
        let db_ok = m.state.db.ping().await.is_ok();
        let eph_ok = m.state.ephemeral.ping().await.is_ok();
        if m.ready.load(Ordering::Acquire) && db_ok && eph_ok {
            crate::web::envelope::ok_empty()
        } else {
            crate::web::envelope::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not ready (database {}, ephemeral store {})",
                    if db_ok { "up" } else { "down" },
                    if eph_ok { "up" } else { "down" }
                ),
            )
            .into_response()
        }
    }
    async fn metrics(State(m): State<Management>) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            m.state.metrics.encode(),
        )
            .into_response()
    }
    Router::new()
        .route("/health", get(ready))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Management {
            state,
            ready: ready_flag,
        })
}

/// Keeps caches, revocations and keys current. Runs until the process ends.
pub fn spawn_background(state: AppState) {
    spawn_sync(state.clone(), SYNC_POLL);
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(s.saml_metadata.interval);
        // The first tick is immediate; settings were fetched when stored.
        tick.tick().await;
        loop {
            tick.tick().await;
            refresh_all(&s).await;
        }
    });
    let probed = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DATABASE_PROBE_INTERVAL);
        loop {
            tick.tick().await;
            probed.metrics.probe_database(&probed.db).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = state.keys.rotate(&state.db, now()).await {
                tracing::warn!(error = %e, "key rotation check failed; will retry");
            }
            if let Some(key) = state.keys.signing_key(now()) {
                state.metrics.signing_key_retires.set(key.retires_at);
            }
            housekeeping(&state).await;
        }
    });
}

/// How often the database is probed: its latency and pool for the metrics,
/// and whether queries should fail fast (an outage) or run again.
const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How often caches are synced without a notification (the safety net on
/// PostgreSQL, the only way on SQLite).
const SYNC_POLL: Duration = Duration::from_secs(1);

/// Syncs caches, revocations and keys at every change the database announces
/// and every `poll` in any case. Runs until the process ends.
pub fn spawn_sync(state: AppState, poll: Duration) {
    let changed = Arc::new(tokio::sync::Notify::new());
    let (db, heard) = (state.db.clone(), changed.clone());
    tokio::spawn(async move { db.listen_for_changes(&heard).await });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = changed.notified() => {}
            }
            if let Err(e) = state.sync(now()).await {
                tracing::warn!(error = %e, "sync with the store failed; will retry");
            }
        }
    });
}

/// One run of the database's housekeeping (one replica at a time).
pub async fn housekeeping(state: &Services) {
    let keep = tollgate_store::durable::housekeeping::Retention {
        audit: state.settings.audit_retention,
        change_log: state.settings.change_log_retention,
    };
    match state.db.prune(now(), keep).await {
        Ok(Some(pruned)) if pruned != Default::default() => {
            tracing::info!(?pruned, "housekeeping deleted expired rows")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
    }
}

/// Binds both listeners and serves until SIGINT/SIGTERM, then drains.
pub async fn run(
    state: AppState,
    app: Router,
    listen: SocketAddr,
    management_listen: SocketAddr,
    tls: &TlsArgs,
    on_ready: impl FnOnce(SocketAddr, SocketAddr),
) -> anyhow::Result<()> {
    let ready = Arc::new(AtomicBool::new(false));
    let expiry = state.metrics.tls_certificate_expiry.clone();
    let tls_config = crate::app::tls::server_config(tls, expiry)?;
    let public = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen: cannot bind {listen}"))?;
    let mgmt = tokio::net::TcpListener::bind(management_listen)
        .await
        .with_context(|| format!("--management-listen: cannot bind {management_listen}"))?;
    let (public_addr, mgmt_addr) = (public.local_addr()?, mgmt.local_addr()?);
    spawn_background(state.clone());
    let mgmt_app = management(state, ready.clone());
    // Client certificates are for the public endpoints only.
    let mgmt_tls = tls_config
        .clone()
        .filter(|_| tls.management_tls)
        .map(|l| Listening {
            client_ca: None,
            ..l
        });
    let mgmt_task = tokio::spawn(serve(mgmt, mgmt_tls, mgmt_app));
    ready.store(true, Ordering::Release);
    on_ready(public_addr, mgmt_addr);
    serve(public, tls_config, app).await?;
    ready.store(false, Ordering::Release);
    mgmt_task.await??;
    tracing::info!("stopped");
    Ok(())
}

/// Serves a router on a bound listener, over TLS when configured, until a
/// shutdown signal; in-flight requests are drained.
async fn serve(
    tcp: tokio::net::TcpListener,
    tls: Option<Listening>,
    app: Router,
) -> std::io::Result<()> {
    match tls {
        None => {
            // `tap_io` makes the peer address available as `ConnectInfo` for any listener.
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(tcp.tap_io(|_| {}), app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
        Some(Listening { config, client_ca }) => {
            // Each connection's requests carry its peer address and client certificate.
            let make = tower::service_fn(move |conn: IncomingStream<'_, TlsListener>| {
                let addr = *conn.remote_addr();
                let cert = crate::app::tls::client_cert(conn.io().get_ref().1, client_ca.as_ref());
                let app = app
                    .clone()
                    .map_request(move |mut req: axum::extract::Request| {
                        req.extensions_mut().insert(ConnectInfo(addr));
                        if let Some(cert) = &cert {
                            req.extensions_mut().insert(cert.clone());
                        }
                        req
                    });
                std::future::ready(Ok::<_, std::convert::Infallible>(app))
            });
            axum::serve(TlsListener::new(tcp, config)?, make)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
