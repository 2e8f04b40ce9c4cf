//! Latency and errors of the services Tollgate depends on (database, Redis,
//! directories, identity providers): one histogram family, labelled by
//! dependency and outcome, so a dashboard or an alert reads them all alike.

use std::future::Future;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The dependencies measured. A closed set keeps the series bounded.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Dependency {
    Database,
    Redis,
    Ldap,
    ConfigServer,
    IdentityProvider,
}

impl Dependency {
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Database => "database",
            Dependency::Redis => "redis",
            Dependency::Ldap => "ldap",
            Dependency::ConfigServer => "config_server",
            Dependency::IdentityProvider => "identity_provider",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
    /// `ok`, or `error` when the dependency failed or did not answer in time
    /// (a wrong password is an answer, so `ok`).
    pub outcome: &'static str,
}

/// Buckets from 0.5 ms to about 16 s: a Redis command takes well under a
/// millisecond, a directory bind or an outage's timeout seconds.
#[derive(Clone, Debug)]
pub struct DependencyBuckets;

impl MetricConstructor<Histogram> for DependencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    }
}

/// The histogram family; cheap to clone (all clones record into one family).
#[derive(Clone, Debug)]
pub struct DependencyTimes(Family<DependencyLabels, Histogram, DependencyBuckets>);

impl Default for DependencyTimes {
    fn default() -> Self {
        DependencyTimes(Family::new_with_constructor(DependencyBuckets))
    }
}

impl DependencyTimes {
    /// The family, to register it once.
    pub fn family(&self) -> Family<DependencyLabels, Histogram, DependencyBuckets> {
        self.0.clone()
    }

    /// Records one call that started at `started`.
    pub fn record(&self, dependency: Dependency, started: Instant, ok: bool) {
        let labels = DependencyLabels {
            dependency: dependency.name(),
            outcome: if ok { "ok" } else { "error" },
        };
        self.0
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }

    /// Runs `call`, recording its time; an `Err` counts as the dependency's error.
    pub async fn time<T, E>(
        &self,
        dependency: Dependency,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        self.record(dependency, started, result.is_ok());
        result
    }
}
