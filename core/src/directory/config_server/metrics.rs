//! The connector's metrics, named like the original's
//! (`auth_cs_command_timeouts_total`, `auth_cs_connection_timeouts_total`),
//! by environment.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvironmentLabel {
    pub environment: String,
}

#[derive(Clone, Default)]
pub struct ConfigServerMetrics {
    command_timeouts: Family<EnvironmentLabel, Counter>,
    connection_timeouts: Family<EnvironmentLabel, Counter>,
    switchovers: Family<EnvironmentLabel, Counter>,
    active: Family<EnvironmentLabel, Gauge>,
}

fn label(environment: &str) -> EnvironmentLabel {
    EnvironmentLabel {
        environment: environment.to_string(),
    }
}

impl ConfigServerMetrics {
    /// Registers the metrics at the registry's root (their names carry no prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "auth_cs_command_timeouts",
            "Configuration Server commands without an answer within remoteTimeout",
            self.command_timeouts.clone(),
        );
        registry.register(
            "auth_cs_connection_timeouts",
            "Configuration Server sessions not opened within localTimeout",
            self.connection_timeouts.clone(),
        );
        registry.register(
            "auth_cs_switchovers",
            "Changes of the Configuration Server in use (to the backup and back)",
            self.switchovers.clone(),
        );
        registry.register(
            "auth_cs_active_server",
            "Configuration Server in use: 0 primary, 1 backup (2… further ones), -1 none",
            self.active.clone(),
        );
    }

    pub fn command_timeout(&self, environment: &str) {
        self.command_timeouts
            .get_or_create(&label(environment))
            .inc();
    }

    pub fn connection_timeout(&self, environment: &str) {
        self.connection_timeouts
            .get_or_create(&label(environment))
            .inc();
    }

    pub fn switchover(&self, environment: &str) {
        self.switchovers.get_or_create(&label(environment)).inc();
    }

    pub fn set_active(&self, environment: &str, index: Option<usize>) {
        let value = index.map_or(-1, |i| i as i64);
        self.active.get_or_create(&label(environment)).set(value);
    }
}
