//! Prometheus metrics, served on the management port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::directory::config_server::metrics::ConfigServerMetrics;
pub use tollgate_store::metrics::{Dependency, DependencyTimes};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabel {
    pub grant_type: &'static str,
}

/// A refused token request: the grant asked for (a supported grant's name,
/// `other` or `none`, never the caller's text) and the OAuth error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenErrorLabels {
    pub grant_type: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: &'static str,
}

/// One series per route template (not per path, so callers cannot make
/// new series), method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's template (`/auth/v3/sso/saml/{contact_center_id}/metadata`),
    /// or `unmatched`.
    pub route: String,
    /// A standard method, or `other`.
    pub method: &'static str,
    /// `1xx` to `5xx`.
    pub status: &'static str,
}

/// Latency buckets from 1 ms to about 16 s.
#[derive(Clone)]
pub struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.001, 2.0, 15))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// The name a metric labels a token request with: a supported grant's own
/// name, `none` when absent, `other` for anything else (so a caller cannot
/// make new series).
pub fn grant_label(grant_type: &str) -> &'static str {
    match crate::oauth::grants::SUPPORTED
        .iter()
        .find(|g| **g == grant_type)
    {
        Some(g) => g,
        None if grant_type.is_empty() => "none",
        None => "other",
    }
}

pub struct Metrics {
    pub registry: Registry,
    pub tokens_issued: Family<GrantLabel, Counter>,
    pub oauth_errors: Family<TokenErrorLabels, Counter>,
    pub http_requests: Family<RouteLabels, Histogram, LatencyBuckets>,
    pub saml_metadata_refreshes: Family<OutcomeLabel, Counter>,
    pub audit_events_dropped: Counter,
    /// Logout tokens posted to relying parties, by outcome.
    pub backchannel_logouts: Family<OutcomeLabel, Counter>,
    pub config_server: ConfigServerMetrics,
    pub dependencies: DependencyTimes,
    /// PostgreSQL or SQLite pool connections, `idle` and `in_use`.
    pub database_pool: Family<StateLabel, Gauge>,
    /// When the signing key in use is due to be replaced (unix seconds).
    pub signing_key_retires: Gauge,
    /// When the listeners' TLS certificate expires (unix seconds).
    pub tls_certificate_expiry: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        // Tollgate's own metrics carry the `tollgate_` prefix; the
        // Configuration Server's keep the original's names (`auth_cs_…`).
        let mut registry = Registry::default();
        let config_server = ConfigServerMetrics::default();
        config_server.register(&mut registry);
        let tollgate = registry.sub_registry_with_prefix("tollgate");
        let tokens_issued = Family::<GrantLabel, Counter>::default();
        let oauth_errors = Family::<TokenErrorLabels, Counter>::default();
        let http_requests = Family::new_with_constructor(LatencyBuckets);
        let saml_metadata_refreshes = Family::<OutcomeLabel, Counter>::default();
        let audit_events_dropped = Counter::default();
        let backchannel_logouts = Family::<OutcomeLabel, Counter>::default();
        tollgate.register(
            "backchannel_logouts",
            "Logout tokens posted to relying parties, by outcome (delivered, refused, failed, dropped)",
            backchannel_logouts.clone(),
        );
        tollgate.register(
            "tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        tollgate.register(
            "oauth_errors",
            "Refused token requests, by grant type and OAuth error code",
            oauth_errors.clone(),
        );
        tollgate.register(
            "http_request_duration_seconds",
            "HTTP requests of the public listener, by route template, method and status class",
            http_requests.clone(),
        );
        tollgate.register(
            "saml_metadata_refreshes",
            "Fetches of SAML IdP metadata URLs, by outcome (unchanged, updated, failed)",
            saml_metadata_refreshes.clone(),
        );
        tollgate.register(
            "audit_events_dropped",
            "Audit events that never reached the store (queue full, or the store failed for minutes)",
            audit_events_dropped.clone(),
        );
        let dependencies = DependencyTimes::default();
        tollgate.register(
            "dependency_duration_seconds",
            "Calls to the database (a probe every few seconds), Redis, directories and identity providers, by outcome",
            dependencies.family(),
        );
        let database_pool = Family::<StateLabel, Gauge>::default();
        tollgate.register(
            "database_pool_connections",
            "Database pool connections, idle and in use",
            database_pool.clone(),
        );
        let signing_key_retires = Gauge::default();
        tollgate.register(
            "signing_key_retires_timestamp_seconds",
            "When the signing key in use is due to be replaced; in the past means rotation is overdue",
            signing_key_retires.clone(),
        );
        let tls_certificate_expiry = Gauge::default();
        tollgate.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the TLS certificate the listeners serve expires (only with TLS on)",
            tls_certificate_expiry.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        tollgate.register("build_info", "The running version", build_info);
        Metrics {
            registry,
            dependencies,
            database_pool,
            signing_key_retires,
            tls_certificate_expiry,
            tokens_issued,
            oauth_errors,
            http_requests,
            saml_metadata_refreshes,
            audit_events_dropped,
            backchannel_logouts,
            config_server,
        }
    }
}

impl Metrics {
    /// Times a probe query through the pool (the wait for a connection
    /// included, which is where an outage or an exhausted pool shows) and
    /// notes the pool's connections.
    pub async fn probe_database(&self, db: &tollgate_store::Db) {
        let _ = self
            .dependencies
            .time(Dependency::Database, db.ping())
            .await;
        let pool = db.pool();
        let (size, idle) = (i64::from(pool.size()), pool.num_idle() as i64);
        let state = |state| self.database_pool.get_or_create(&StateLabel { state });
        state("idle").set(idle);
        state("in_use").set(size - idle);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tollgate_metrics_keep_their_prefix_and_config_server_ones_the_originals_names() {
        let m = Metrics::default();
        m.tokens_issued
            .get_or_create(&GrantLabel {
                grant_type: "password",
            })
            .inc();
        m.config_server.command_timeout("env-1");
        m.config_server.connection_timeout("env-1");
        let text = m.encode();
        for line in [
            r#"tollgate_tokens_issued_total{grant_type="password"} 1"#,
            r#"auth_cs_command_timeouts_total{environment="env-1"} 1"#,
            r#"auth_cs_connection_timeouts_total{environment="env-1"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }
}
