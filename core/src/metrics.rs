//! Prometheus metrics, served on the management port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::directory::config_server::metrics::ConfigServerMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabel {
    pub grant_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub error: String,
}

/// One series per route template (not per path, so callers cannot make
/// new series), method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's template (`/auth/v3/sso/saml/{contact_center_id}/metadata`),
    /// or `unmatched`.
    pub route: String,
    /// A standard method, or `other`.
    pub method: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status: String,
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

pub struct Metrics {
    pub registry: Registry,
    pub tokens_issued: Family<GrantLabel, Counter>,
    pub oauth_errors: Family<ErrorLabel, Counter>,
    pub http_requests: Family<RouteLabels, Histogram, LatencyBuckets>,
    pub saml_metadata_refreshes: Family<OutcomeLabel, Counter>,
    pub audit_events_dropped: Counter,
    pub config_server: ConfigServerMetrics,
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
        let oauth_errors = Family::<ErrorLabel, Counter>::default();
        let http_requests = Family::new_with_constructor(LatencyBuckets);
        let saml_metadata_refreshes = Family::<OutcomeLabel, Counter>::default();
        let audit_events_dropped = Counter::default();
        tollgate.register(
            "tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        tollgate.register(
            "oauth_errors",
            "OAuth error responses, by error code",
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
        Metrics {
            registry,
            tokens_issued,
            oauth_errors,
            http_requests,
            saml_metadata_refreshes,
            audit_events_dropped,
            config_server,
        }
    }
}

impl Metrics {
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
                grant_type: "password".into(),
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
