//! `Tollgate`: the platform, one per installation — image and version,
//! replicas and resources of the three services, PostgreSQL and Redis by
//! Secret reference, signing-key policy, operator credentials, ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, ResourceRequirements, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretKeyRef;

/// Replicas and resources of one service (auth, ui or environment).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Pods of this service; the HorizontalPodAutoscaler never goes below it.
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self >= 1").message("replicas must be at least 1"))]
    pub replicas: i32,
    /// Upper bound for the HorizontalPodAutoscaler (default: replicas, i.e. no scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Average CPU utilization (% of requests) the autoscaler aims at (default 75).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("targetCpuUtilization must be 1 to 100"))]
    pub target_cpu_utilization: Option<i32>,
    /// HTTPS of this service alone: replaces the platform's `tls` for it
    /// (e.g. its own certificate, or TLS on this service only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServiceTlsSpec>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            replicas: default_replicas(),
            max_replicas: None,
            resources: None,
            target_cpu_utilization: None,
            tls: None,
        }
    }
}

/// Where and how the pods (services and migration Jobs) run: the usual
/// scheduling knobs, passed to every pod as given.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodsSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra annotations of the pods (e.g. for a service mesh or log shipper).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub probes: ProbeTimings,
}

/// Timings of the readiness and liveness probes (`/health/ready`, `/health/live`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTimings {
    /// Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
}

/// PostgreSQL: the `TOLLGATE_DATABASE_URL` from a Secret.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    /// Secret key holding a `postgres://` URL.
    pub url_secret_ref: SecretKeyRef,
    /// Connections per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i32>,
    /// Secret key holding the CA certificate (PEM) of PostgreSQL's server
    /// certificate: the pods then verify it and the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub enum RedisMode {
    #[default]
    Standalone,
    Tls,
    Cluster,
}

/// Redis: the `TOLLGATE_REDIS_URL` from a Secret.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisSpec {
    /// Secret key holding a `redis://` or `rediss://` URL (with the password).
    pub url_secret_ref: SecretKeyRef,
    /// standalone, tls or cluster.
    #[serde(default)]
    pub mode: RedisMode,
    /// Secret key holding the CA certificate (PEM) for TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

/// Token-signing keys and the key that encrypts them at rest.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeySpec {
    /// ES256, RS256 or EdDSA.
    #[serde(default = "default_algorithm")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new("self in ['ES256', 'RS256', 'EdDSA']").message("algorithm must be ES256, RS256 or EdDSA"))]
    pub algorithm: String,
    /// How often the signing key rotates, e.g. `30d`.
    #[serde(default = "default_rotation")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("rotationInterval must be a number with s, m, h or d"))]
    pub rotation_interval: String,
    /// Secret key with the at-rest encryption key (64 hex digits). Without
    /// it the operator generates the Secret `<name>-signing-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_secret_ref: Option<SecretKeyRef>,
}

impl Default for SigningKeySpec {
    fn default() -> Self {
        SigningKeySpec {
            algorithm: default_algorithm(),
            rotation_interval: default_rotation(),
            encryption_key_secret_ref: None,
        }
    }
}

/// How the services behave, as typed fields instead of `extraEnv`: each is
/// one `tollgate serve` setting (docs/configuration.md); an unset field
/// keeps the service's default. Durations are a number with s, m, h or d.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsSpec {
    /// A browser session ends after this long unused (`TOLLGATE_SESSION_IDLE_TIMEOUT`, default 30m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("sessionIdleTimeout must be a number with s, m, h or d"))]
    pub session_idle_timeout: Option<String>,
    /// A browser session ends this long after sign-in (`TOLLGATE_SESSION_MAX_AGE`, default 12h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("sessionMaxAge must be a number with s, m, h or d"))]
    pub session_max_age: Option<String>,
    /// Failed sign-ins of one name from one address that lock it there (`TOLLGATE_LOCKOUT_THRESHOLD`, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("lockoutThreshold must be at least 1"))]
    pub lockout_threshold: Option<i32>,
    /// How long failures count and a lock lasts (`TOLLGATE_LOCKOUT_DURATION`, default 15m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("lockoutDuration must be a number with s, m, h or d"))]
    pub lockout_duration: Option<String>,
    /// Requests per client address and minute on the sign-in and token endpoints (`TOLLGATE_RATE_LIMIT_PER_MINUTE`, default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("rateLimitPerMinute must be at least 1"))]
    pub rate_limit_per_minute: Option<i32>,
    /// Cap on any access or ID token's lifetime (`TOLLGATE_MAX_TOKEN_LIFETIME`, default 1d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("maxTokenLifetime must be a number with s, m, h or d"))]
    pub max_token_lifetime: Option<String>,
    /// A refresh-token family ends this long after sign-in (`TOLLGATE_REFRESH_FAMILY_LIFETIME`, default 90d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+[smhd]$')").message("refreshFamilyLifetime must be a number with s, m, h or d"))]
    pub refresh_family_lifetime: Option<String>,
    /// Contact center (id or domain) of user names without a `domain\` prefix (`TOLLGATE_DEFAULT_CONTACT_CENTER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub default_contact_center: Option<String>,
    /// Shortest password the built-in directory accepts (`TOLLGATE_PASSWORD_MIN_LENGTH`, default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("passwordMinLength must be at least 1"))]
    pub password_min_length: Option<i32>,
    /// Internal networks or hosts tenants' directories and identity providers may be on
    /// (`TOLLGATE_OUTBOUND_ALLOW`; CIDR blocks or host names). Private ranges are refused
    /// otherwise, in-cluster Services included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    pub outbound_allow: Vec<String>,
    /// Earlier passwords a new one must differ from (`TOLLGATE_PASSWORD_HISTORY`, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("passwordHistory must not be negative"))]
    pub password_history: Option<i32>,
    /// DPoP proofs must carry a server nonce (RFC 9449 §8, `TOLLGATE_DPOP_NONCE`, default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_nonce: Option<bool>,
    /// Header in which a `trustedProxies` proxy that terminates TLS passes the client's
    /// certificate for mutual TLS (`TOLLGATE_TLS_CLIENT_CERT_HEADER`; URL-encoded PEM as
    /// ingress-nginx's `ssl-client-cert`, or base64 DER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9-]+$')").message("tlsClientCertHeader must be a header name"))]
    pub tls_client_cert_header: Option<String>,
}

impl SettingsSpec {
    /// The set fields as the services' environment variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let text = |name, v: &Option<String>| v.clone().map(|v| (name, v));
        let number = |name, v: Option<i32>| v.map(|v| (name, v.to_string()));
        [
            text("TOLLGATE_SESSION_IDLE_TIMEOUT", &self.session_idle_timeout),
            text("TOLLGATE_SESSION_MAX_AGE", &self.session_max_age),
            number("TOLLGATE_LOCKOUT_THRESHOLD", self.lockout_threshold),
            text("TOLLGATE_LOCKOUT_DURATION", &self.lockout_duration),
            number("TOLLGATE_RATE_LIMIT_PER_MINUTE", self.rate_limit_per_minute),
            text("TOLLGATE_MAX_TOKEN_LIFETIME", &self.max_token_lifetime),
            text(
                "TOLLGATE_REFRESH_FAMILY_LIFETIME",
                &self.refresh_family_lifetime,
            ),
            text(
                "TOLLGATE_DEFAULT_CONTACT_CENTER",
                &self.default_contact_center,
            ),
            number("TOLLGATE_PASSWORD_MIN_LENGTH", self.password_min_length),
            number("TOLLGATE_PASSWORD_HISTORY", self.password_history),
            (!self.outbound_allow.is_empty())
                .then(|| ("TOLLGATE_OUTBOUND_ALLOW", self.outbound_allow.join(","))),
            self.dpop_nonce
                .map(|on| ("TOLLGATE_DPOP_NONCE", on.to_string())),
            text(
                "TOLLGATE_TLS_CLIENT_CERT_HEADER",
                &self.tls_client_cert_header,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// HTTPS on the services' own listeners (end-to-end TLS inside the cluster).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTlsSpec {
    /// Secret of type `kubernetes.io/tls` (`tls.crt` with the full chain,
    /// `tls.key`) whose certificate names the three Services; cert-manager's
    /// renewals are picked up without a restart.
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("secretName must not be empty"))]
    pub secret_name: String,
    /// Serve health and metrics over HTTPS too (probes follow).
    #[serde(default)]
    pub management: bool,
    /// Secret key holding the CA certificates (PEM) of mutual TLS (RFC 8705,
    /// `TOLLGATE_TLS_CLIENT_CA_FILE`): the listener asks clients for a certificate,
    /// and one chained to these CAs can authenticate a `tls_client_auth` client.
    /// Read at start: a new CA rolls out with the pods' next restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_secret_ref: Option<SecretKeyRef>,
}

/// The Ingress in front of the services.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host names routed to Tollgate; no hosts, no Ingress.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Secret (type kubernetes.io/tls) for the hosts; no secret, plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations of the Ingress (the controller's settings, cert-manager's issuer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The Tollgate platform: one per installation.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "Tollgate",
    plural = "tollgates",
    shortname = "tg",
    namespaced,
    status = "TollgateStatus",
    doc = "A Tollgate installation: the auth, ui and environment services, their configuration, secrets and ingress. Version changes run migrations before the rollout.",
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Running", type_ = "string", json_path = ".status.version"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TollgateSpec {
    /// Tollgate version: the image tag. Changing it runs `tollgate migrate` first.
    #[schemars(length(max = 128))]
    #[x_kube(validation = Rule::new("self.size() > 0").message("version must not be empty"))]
    pub version: String,
    /// Image repository (the tag is `version`).
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default)]
    pub auth: ServiceSpec,
    #[serde(default)]
    pub ui: ServiceSpec,
    #[serde(default)]
    pub environment: ServiceSpec,
    pub database: DatabaseSpec,
    pub redis: RedisSpec,
    #[serde(default)]
    pub signing_keys: SigningKeySpec,
    /// Secret with `username` and `password` of the operator (ops) API.
    /// Without it the operator generates `<name>-operator-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_credentials_secret: Option<String>,
    /// Public URL of the Authentication API (issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(default)]
    pub ingress: IngressSpec,
    /// Proxies in front of the pods (CIDR blocks or addresses, e.g. the ingress
    /// controller's pod network) whose `X-Forwarded-For` names the client's
    /// address (`TOLLGATE_TRUSTED_PROXIES`). Empty: the socket peer is the
    /// client, so behind a proxy every user shares its address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub trusted_proxies: Vec<String>,
    /// Secret key holding the CA certificate (PEM) of the Configuration
    /// Servers of `tlsEnabled` environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_server_ca_secret_ref: Option<SecretKeyRef>,
    /// Sessions, lockout, rate limits, token lifetimes and password rules.
    #[serde(default)]
    pub settings: SettingsSpec,
    /// HTTPS on the services' listeners; without it they serve plain HTTP
    /// behind the Ingress. A service's own `tls` takes its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServiceTlsSpec>,
    /// Scheduling, pull secrets, annotations and probe timings of the pods.
    #[serde(default)]
    pub pods: PodsSpec,
    /// Extra environment variables for every service (e.g. TOLLGATE_LOG).
    #[serde(default)]
    pub extra_env: Vec<EnvVar>,
    /// Extra labels for every child object.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Status of the platform.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TollgateStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The version the Deployments run (migrations applied for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Hash of the configuration the pods were rolled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

fn default_replicas() -> i32 {
    2
}
fn default_image() -> String {
    "ghcr.io/tollgate-dev/tollgate".into()
}
fn default_algorithm() -> String {
    "ES256".into()
}
fn default_rotation() -> String {
    "30d".into()
}
