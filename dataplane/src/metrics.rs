//! Prometheus metrics, served on the management port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabel {
    pub grant_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub tokens_issued: Family<GrantLabel, Counter>,
    pub oauth_errors: Family<ErrorLabel, Counter>,
    pub http_responses: Family<StatusLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let tokens_issued = Family::<GrantLabel, Counter>::default();
        let oauth_errors = Family::<ErrorLabel, Counter>::default();
        let http_responses = Family::<StatusLabel, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        registry.register(
            "oauth_errors",
            "OAuth error responses, by error code",
            oauth_errors.clone(),
        );
        registry.register(
            "http_responses",
            "HTTP responses, by status code",
            http_responses.clone(),
        );
        Metrics {
            registry,
            tokens_issued,
            oauth_errors,
            http_responses,
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
