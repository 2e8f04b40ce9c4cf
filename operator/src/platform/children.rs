//! The platform's children as plain objects: `Tollgate` in, Deployments,
//! Services, ConfigMap, PodDisruptionBudgets, HorizontalPodAutoscalers,
//! NetworkPolicy, Ingress and the migration Job out. No I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SecretKeySelector, SecretVolumeSource, SecurityContext, Service,
    ServicePort, ServiceSpec as CoreServiceSpec, SleepAction, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec as CoreIngressSpec, IngressTLS, NetworkPolicy,
    NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::crd::{RedisMode, SecretKeyRef, ServiceSpec, ServiceTlsSpec, Tollgate};

/// The three services, each one Deployment of the same image.
pub const SERVICES: [&str; 3] = ["auth", "ui", "environment"];
pub const HTTP_PORT: i32 = 8095;
pub const MANAGEMENT_PORT: i32 = 9095;
pub const PLATFORM_LABEL: &str = "tollgate.dev/platform";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
pub const CONFIG_HASH: &str = "tollgate.dev/config-hash";
/// Label of a service's Service: `https` when its management port serves
/// TLS, else `http` (the chart's ServiceMonitor sets the scrape scheme from it).
pub const MANAGEMENT_SCHEME_LABEL: &str = "tollgate.dev/management-scheme";
/// Where the CA certificates of the platform's `caSecretRef`s are mounted, one folder each.
const CA_ROOT: &str = "/etc/tollgate";
/// Where the TLS Secret (`spec.tls` or the service's own) is mounted.
const TLS_DIR: &str = "/etc/tollgate/tls";
/// Seconds a terminating pod keeps serving before SIGTERM: the time for
/// kube-proxy and ingress controllers to stop sending it new connections.
/// 5 and then 10 s were not enough on a busy node: a new connection still
/// reached a pod whose network was already gone ("no route to host").
pub const DRAIN_SECONDS: i64 = 15;
/// Seconds a new pod must stay ready before it counts as available and an
/// old one is stopped: the time for its endpoint to reach every node.
pub const MIN_READY_SECONDS: i32 = 5;

/// Everything the rendering needs besides the spec: the owner reference,
/// the names of the Secrets actually in use, and the version running now.
pub struct Inputs {
    pub owner: OwnerReference,
    pub field_manager: String,
    pub encryption_key: SecretKeyRef,
    pub operator_credentials: String,
    /// The version whose migrations are applied; Deployments run it.
    pub running_version: String,
}

pub fn name(tg: &Tollgate, suffix: &str) -> String {
    format!(
        "{}-{suffix}",
        tg.metadata.name.as_deref().unwrap_or("tollgate")
    )
}

pub fn labels(tg: &Tollgate, inputs: &Inputs, component: Option<&str>) -> BTreeMap<String, String> {
    let mut l = tg.spec.labels.clone();
    l.insert("app.kubernetes.io/name".into(), "tollgate".into());
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        inputs.field_manager.clone(),
    );
    l.insert(
        PLATFORM_LABEL.into(),
        tg.metadata.name.clone().unwrap_or_default(),
    );
    if let Some(c) = component {
        l.insert(COMPONENT_LABEL.into(), c.into());
    }
    l
}

fn selector(tg: &Tollgate, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            PLATFORM_LABEL.to_string(),
            tg.metadata.name.clone().unwrap_or_default(),
        ),
        (COMPONENT_LABEL.to_string(), component.to_string()),
    ])
}

fn meta(tg: &Tollgate, inputs: &Inputs, name: String, component: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: tg.metadata.namespace.clone(),
        labels: Some(labels(tg, inputs, component)),
        owner_references: Some(vec![inputs.owner.clone()]),
        ..Default::default()
    }
}

fn service_spec<'a>(tg: &'a Tollgate, service: &str) -> &'a ServiceSpec {
    match service {
        "auth" => &tg.spec.auth,
        "ui" => &tg.spec.ui,
        _ => &tg.spec.environment,
    }
}

/// The HTTPS settings of `service`: its own `tls`, else the platform's.
pub fn service_tls<'a>(tg: &'a Tollgate, service: &str) -> Option<&'a ServiceTlsSpec> {
    service_spec(tg, service)
        .tls
        .as_ref()
        .or(tg.spec.tls.as_ref())
}

/// The non-secret settings, one ConfigMap shared by the three services.
pub fn config_map(tg: &Tollgate, inputs: &Inputs) -> ConfigMap {
    let s = &tg.spec;
    let mut data = BTreeMap::from([
        ("TOLLGATE_LOG_FORMAT".to_string(), "json".to_string()),
        (
            "TOLLGATE_LISTEN".to_string(),
            format!("0.0.0.0:{HTTP_PORT}"),
        ),
        (
            "TOLLGATE_MANAGEMENT_LISTEN".to_string(),
            format!("0.0.0.0:{MANAGEMENT_PORT}"),
        ),
        (
            "TOLLGATE_SIGNING_ALGORITHM".to_string(),
            s.signing_keys.algorithm.clone(),
        ),
        (
            "TOLLGATE_KEY_ROTATION_INTERVAL".to_string(),
            s.signing_keys.rotation_interval.clone(),
        ),
        (
            "TOLLGATE_REDIS_CLUSTER".to_string(),
            (s.redis.mode == RedisMode::Cluster).to_string(),
        ),
    ]);
    if let Some(url) = &s.public_url {
        data.insert("TOLLGATE_PUBLIC_URL".into(), url.clone());
    }
    if !s.trusted_proxies.is_empty() {
        data.insert(
            "TOLLGATE_TRUSTED_PROXIES".into(),
            s.trusted_proxies.join(","),
        );
    }
    data.extend(
        s.settings
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    if let Some(n) = s.database.max_connections {
        data.insert("TOLLGATE_DATABASE_MAX_CONNECTIONS".into(), n.to_string());
    }
    ConfigMap {
        metadata: meta(tg, inputs, name(tg, "config"), None),
        data: Some(data),
        ..Default::default()
    }
}

fn secret_env(name: &str, r: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Secrets as environment variables (never in the ConfigMap), then the
/// user's extra variables. `tls`: the pod's HTTPS settings.
fn env(tg: &Tollgate, inputs: &Inputs, tls: Option<&ServiceTlsSpec>) -> Vec<EnvVar> {
    let s = &tg.spec;
    let mut env = vec![
        secret_env("TOLLGATE_DATABASE_URL", &s.database.url_secret_ref),
        secret_env("TOLLGATE_REDIS_URL", &s.redis.url_secret_ref),
        secret_env("TOLLGATE_ENCRYPTION_KEY", &inputs.encryption_key),
        secret_env(
            "TOLLGATE_OPS_USERNAME",
            &SecretKeyRef {
                name: inputs.operator_credentials.clone(),
                key: "username".into(),
            },
        ),
        secret_env(
            "TOLLGATE_OPS_PASSWORD",
            &SecretKeyRef {
                name: inputs.operator_credentials.clone(),
                key: "password".into(),
            },
        ),
    ];
    env.extend(mounted_file_env(tg, tls));
    env.extend(s.extra_env.iter().cloned());
    env
}

/// The settings that name a file the pod template mounts (CA certificates,
/// the TLS key pair) and go with it: in the template, not in the shared
/// ConfigMap, which changes at once. A pod of the previous template that
/// starts during a rollout (a restart, an autoscaler's scale-up) would
/// otherwise read a path its template does not mount and fail to start.
fn mounted_file_env(tg: &Tollgate, tls: Option<&ServiceTlsSpec>) -> Vec<EnvVar> {
    let mut settings: Vec<(&str, String)> = ca_files(tg, tls)
        .iter()
        .map(|ca| (ca.setting, ca_path(ca.volume)))
        .collect();
    if let Some(tls) = tls {
        settings.push(("TOLLGATE_TLS_CERT_FILE", format!("{TLS_DIR}/tls.crt")));
        settings.push(("TOLLGATE_TLS_KEY_FILE", format!("{TLS_DIR}/tls.key")));
        settings.push(("TOLLGATE_MANAGEMENT_TLS", tls.management.to_string()));
    }
    settings
        .into_iter()
        .map(|(name, value)| EnvVar {
            name: name.into(),
            value: Some(value),
            ..Default::default()
        })
        .collect()
}

fn image(tg: &Tollgate, version: &str) -> String {
    format!("{}:{version}", tg.spec.image)
}

fn security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(k8s_openapi::api::core::v1::Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A hash of everything the pods read at start: a change rolls them. (A
/// service's own `tls` changes its pod template, which rolls it anyway.)
pub fn config_hash(tg: &Tollgate, inputs: &Inputs) -> String {
    let cm = config_map(tg, inputs);
    let text = serde_json::json!({
        "config": cm.data,
        "env": env(tg, inputs, tg.spec.tls.as_ref()),
    })
    .to_string();
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// The image's container running `args`, with the HTTPS settings `tls`.
fn container(
    tg: &Tollgate,
    inputs: &Inputs,
    tls: Option<&ServiceTlsSpec>,
    version: &str,
    args: Vec<String>,
) -> Container {
    Container {
        name: "tollgate".into(),
        image: Some(image(tg, version)),
        image_pull_policy: tg.spec.image_pull_policy.clone(),
        args: Some(args),
        env: Some(env(tg, inputs, tls)),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name(tg, "config"),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        security_context: Some(security_context()),
        volume_mounts: volume_mounts(tg, tls),
        ..Default::default()
    }
}

/// A CA certificate from a Secret: its volume name, the setting that names
/// its file, and the Secret key.
struct CaFile<'a> {
    volume: &'static str,
    setting: &'static str,
    secret: &'a SecretKeyRef,
}

/// Every CA certificate the platform and the pod's `tls` reference, each mounted read-only at
/// `/etc/tollgate/<volume>/ca.crt` where its setting points.
fn ca_files<'a>(tg: &'a Tollgate, tls: Option<&'a ServiceTlsSpec>) -> Vec<CaFile<'a>> {
    let s = &tg.spec;
    [
        (
            "redis-ca",
            "TOLLGATE_REDIS_CA_FILE",
            s.redis.ca_secret_ref.as_ref(),
        ),
        (
            "postgres-ca",
            "TOLLGATE_DATABASE_CA_FILE",
            s.database.ca_secret_ref.as_ref(),
        ),
        (
            "config-server-ca",
            "TOLLGATE_CONFIG_SERVER_CA",
            s.config_server_ca_secret_ref.as_ref(),
        ),
        (
            "tls-client-ca",
            "TOLLGATE_TLS_CLIENT_CA_FILE",
            tls.and_then(|t| t.client_ca_secret_ref.as_ref()),
        ),
    ]
    .into_iter()
    .filter_map(|(volume, setting, secret)| {
        Some(CaFile {
            volume,
            setting,
            secret: secret?,
        })
    })
    .collect()
}

fn ca_path(volume: &str) -> String {
    format!("{CA_ROOT}/{volume}/ca.crt")
}

fn ca_volume(ca: &CaFile) -> Volume {
    Volume {
        name: ca.volume.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(ca.secret.name.clone()),
            items: Some(vec![KeyToPath {
                key: ca.secret.key.clone(),
                path: "ca.crt".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ca_mount(ca: &CaFile) -> VolumeMount {
    VolumeMount {
        name: ca.volume.into(),
        mount_path: format!("{CA_ROOT}/{}", ca.volume),
        read_only: Some(true),
        ..Default::default()
    }
}

fn volumes(tg: &Tollgate, tls: Option<&ServiceTlsSpec>) -> Option<Vec<Volume>> {
    let mut volumes: Vec<Volume> = ca_files(tg, tls).iter().map(ca_volume).collect();
    volumes.extend(tls.map(|tls| Volume {
        name: "tls".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(tls.secret_name.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }));
    some_vec(&volumes)
}

fn volume_mounts(tg: &Tollgate, tls: Option<&ServiceTlsSpec>) -> Option<Vec<VolumeMount>> {
    let mut mounts: Vec<VolumeMount> = ca_files(tg, tls).iter().map(ca_mount).collect();
    mounts.extend(tls.map(|_| VolumeMount {
        name: "tls".into(),
        mount_path: TLS_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    }));
    some_vec(&mounts)
}

/// The public port's name and the Service's port of `service`: `https` on
/// 443 when it serves TLS, else `http` on 80.
fn public_port(tg: &Tollgate, service: &str) -> (&'static str, i32) {
    if service_tls(tg, service).is_some() {
        ("https", 443)
    } else {
        ("http", 80)
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65_532),
        seccomp_profile: Some(k8s_openapi::api::core::v1::SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The user's pod annotations, then the configuration hash (which rolls the
/// pods when the configuration changes, so it cannot be overridden).
fn pod_annotations(tg: &Tollgate, inputs: &Inputs) -> BTreeMap<String, String> {
    let mut annotations = tg.spec.pods.annotations.clone();
    annotations.insert(CONFIG_HASH.to_string(), config_hash(tg, inputs));
    annotations
}

/// `Some(v)` unless empty: an empty list is left out of the object.
fn some_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// `pod` with the platform's scheduling knobs and pull secrets.
fn scheduled(tg: &Tollgate, pod: PodSpec) -> PodSpec {
    let p = &tg.spec.pods;
    PodSpec {
        image_pull_secrets: some_vec(&p.image_pull_secrets),
        node_selector: (!p.node_selector.is_empty()).then(|| p.node_selector.clone()),
        tolerations: some_vec(&p.tolerations),
        affinity: p.affinity.clone(),
        topology_spread_constraints: some_vec(&p.topology_spread_constraints),
        priority_class_name: p.priority_class_name.clone(),
        ..pod
    }
}

fn autoscaled(spec: &ServiceSpec) -> bool {
    spec.max_replicas.is_some_and(|m| m > spec.replicas)
}

/// The container serving `service`: its ports, probes, resources and drain.
fn server_container(tg: &Tollgate, inputs: &Inputs, service: &str) -> Container {
    let timings = &tg.spec.pods.probes;
    let tls = service_tls(tg, service);
    let management_tls = tls.is_some_and(|t| t.management);
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("management".into()),
            scheme: management_tls.then(|| "HTTPS".into()),
            ..Default::default()
        }),
        period_seconds: Some(timings.period_seconds.unwrap_or(5)),
        timeout_seconds: timings.timeout_seconds,
        failure_threshold: timings.failure_threshold,
        initial_delay_seconds: timings.initial_delay_seconds,
        ..Default::default()
    };
    let mut c = container(
        tg,
        inputs,
        tls,
        &inputs.running_version,
        vec!["serve".into(), service.into()],
    );
    c.ports = Some(vec![
        ContainerPort {
            name: Some(public_port(tg, service).0.into()),
            container_port: HTTP_PORT,
            ..Default::default()
        },
        ContainerPort {
            name: Some("management".into()),
            container_port: MANAGEMENT_PORT,
            ..Default::default()
        },
    ]);
    c.readiness_probe = Some(probe("/health/ready"));
    c.liveness_probe = Some(probe("/health/live"));
    c.resources = service_spec(tg, service).resources.clone();
    // Keep serving while the endpoint is removed everywhere, then drain
    // (SIGTERM: in-flight requests finish). The image has no shell: sleep
    // is the kubelet's own action.
    c.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction {
                seconds: DRAIN_SECONDS,
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    c
}

pub fn deployment(tg: &Tollgate, inputs: &Inputs, service: &str) -> Deployment {
    let spec = service_spec(tg, service);
    let c = server_container(tg, inputs, service);
    let mut pod_labels = selector(tg, service);
    pod_labels.extend(labels(tg, inputs, Some(service)));
    Deployment {
        metadata: meta(tg, inputs, name(tg, service), Some(service)),
        spec: Some(DeploymentSpec {
            // Left to the HorizontalPodAutoscaler when it scales this service.
            replicas: (!autoscaled(spec)).then_some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector(tg, service)),
                ..Default::default()
            },
            // Zero-downtime upgrades: a new pod must be ready (and routed to)
            // before an old one goes.
            min_ready_seconds: Some(MIN_READY_SECONDS),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations(tg, inputs)),
                    ..Default::default()
                }),
                spec: Some(scheduled(
                    tg,
                    PodSpec {
                        containers: vec![c],
                        volumes: volumes(tg, service_tls(tg, service)),
                        security_context: Some(pod_security()),
                        automount_service_account_token: Some(false),
                        ..Default::default()
                    },
                )),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The public port, and the management port (health and `/metrics`) for
/// scraping, labelled with the scheme the management port speaks.
pub fn service(tg: &Tollgate, inputs: &Inputs, service: &str) -> Service {
    let (public, port) = public_port(tg, service);
    let management_tls = service_tls(tg, service).is_some_and(|t| t.management);
    let mut metadata = meta(tg, inputs, name(tg, service), Some(service));
    metadata.labels.get_or_insert_with(BTreeMap::new).insert(
        MANAGEMENT_SCHEME_LABEL.into(),
        if management_tls { "https" } else { "http" }.into(),
    );
    let service_port = |name: &str, port: i32| ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::String(name.into())),
        ..Default::default()
    };
    Service {
        metadata,
        spec: Some(CoreServiceSpec {
            selector: Some(selector(tg, service)),
            ports: Some(vec![
                service_port(public, port),
                service_port("management", MANAGEMENT_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn pod_disruption_budget(tg: &Tollgate, inputs: &Inputs, service: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(tg, inputs, name(tg, service), Some(service)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(tg, service)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Only for a service whose `maxReplicas` is above `replicas`.
pub fn autoscaler(
    tg: &Tollgate,
    inputs: &Inputs,
    service: &str,
) -> Option<HorizontalPodAutoscaler> {
    let spec = service_spec(tg, service);
    if !autoscaled(spec) {
        return None;
    }
    Some(HorizontalPodAutoscaler {
        metadata: meta(tg, inputs, name(tg, service), Some(service)),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name(tg, service),
            },
            min_replicas: Some(spec.replicas),
            max_replicas: spec.max_replicas.unwrap_or(spec.replicas),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(spec.target_cpu_utilization.unwrap_or(75)),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Pods accept traffic on their HTTP and management ports only.
pub fn network_policy(tg: &Tollgate, inputs: &Inputs) -> NetworkPolicy {
    let port = |p: i32| NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    NetworkPolicy {
        metadata: meta(tg, inputs, name(tg, "pods"), None),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    PLATFORM_LABEL.to_string(),
                    tg.metadata.name.clone().unwrap_or_default(),
                )])),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                ports: Some(vec![port(HTTP_PORT), port(MANAGEMENT_PORT)]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// The public paths of the Ingress and the service behind each (longest
/// prefix wins): discovery, and everything under `/auth` (token, JWKS,
/// userinfo, sign-in, SSO) to auth, `/ui` to ui. The Environment API stays
/// off the public host (reach it through its Service), and so does the ops
/// API: its prefix goes to ui, which serves nothing there (404).
pub const PUBLIC_PATHS: [(&str, &str); 4] = [
    ("/.well-known", "auth"),
    ("/auth", "auth"),
    ("/auth/v3/ops", "ui"),
    ("/ui", "ui"),
];

/// Only when hosts are given: the public paths of [`PUBLIC_PATHS`].
pub fn ingress(tg: &Tollgate, inputs: &Inputs) -> Option<Ingress> {
    let spec = &tg.spec.ingress;
    if spec.hosts.is_empty() {
        return None;
    }
    let paths: Vec<HTTPIngressPath> = PUBLIC_PATHS
        .iter()
        .map(|(path, svc)| HTTPIngressPath {
            path: Some((*path).into()),
            path_type: "Prefix".into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: name(tg, svc),
                    port: Some(ServiceBackendPort {
                        name: Some(public_port(tg, svc).0.into()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            },
        })
        .collect();
    let mut metadata = meta(tg, inputs, name(tg, "ingress"), None);
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    Some(Ingress {
        metadata,
        spec: Some(CoreIngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(
                spec.hosts
                    .iter()
                    .map(|h| IngressRule {
                        host: Some(h.clone()),
                        http: Some(HTTPIngressRuleValue {
                            paths: paths.clone(),
                        }),
                    })
                    .collect(),
            ),
            tls: spec.tls_secret_name.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: Some(spec.hosts.clone()),
                    secret_name: Some(s.clone()),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The Job name for migrating to `version` (DNS-safe, at most 63 characters).
pub fn migration_job_name(tg: &Tollgate, version: &str) -> String {
    let v: String = version
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut n = name(tg, &format!("migrate-{}", v.trim_matches('-')));
    if n.len() > 63 {
        let h = hex::encode(Sha256::digest(n.as_bytes()));
        n = format!("{}-{}", &n[..50].trim_end_matches('-'), &h[..8]);
    }
    n
}

/// `tollgate migrate` with the new version's image, run once. It serves
/// nothing; it gets the platform's `tls` like the services' defaults.
pub fn migration_job(tg: &Tollgate, inputs: &Inputs, version: &str) -> Job {
    let tls = tg.spec.tls.as_ref();
    let mut meta = meta(tg, inputs, migration_job_name(tg, version), Some("migrate"));
    meta.annotations = Some(BTreeMap::from([(
        "tollgate.dev/version".to_string(),
        version.to_string(),
    )]));
    Job {
        metadata: meta,
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            ttl_seconds_after_finished: None,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(tg, inputs, Some("migrate"))),
                    ..Default::default()
                }),
                spec: Some(scheduled(
                    tg,
                    PodSpec {
                        containers: vec![container(
                            tg,
                            inputs,
                            tls,
                            version,
                            vec!["migrate".into()],
                        )],
                        restart_policy: Some("Never".into()),
                        volumes: volumes(tg, tls),
                        security_context: Some(pod_security()),
                        automount_service_account_token: Some(false),
                        ..Default::default()
                    },
                )),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A setting as the pod's container sees it from its own template.
    fn setting(pod: &PodSpec, name: &str) -> Option<String> {
        let env = pod.containers[0].env.as_ref()?;
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    }

    /// The shared ConfigMap changes before a rollout ends: a pod of the
    /// previous template that starts meanwhile must not find a file path
    /// its template does not mount.
    #[test]
    fn settings_naming_mounted_files_go_with_the_pod_template() {
        let tg = platform(json!({
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"},
                      "caSecretRef": {"name": "redis-tls", "key": "ca.pem"}},
            "database": {"urlSecretRef": {"name": "db", "key": "url"},
                         "caSecretRef": {"name": "db-tls", "key": "root.crt"}},
            "configServerCaSecretRef": {"name": "cs-tls", "key": "ca.crt"},
            "tls": {"secretName": "tollgate-tls"},
        }));
        let i = inputs(&tg);
        let data = config_map(&tg, &i).data.unwrap();
        let deployment_pod = deployment(&tg, &i, "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let job_pod = migration_job(&tg, &i, "1.2.0")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        for name in [
            "TOLLGATE_REDIS_CA_FILE",
            "TOLLGATE_DATABASE_CA_FILE",
            "TOLLGATE_CONFIG_SERVER_CA",
            "TOLLGATE_TLS_CERT_FILE",
            "TOLLGATE_TLS_KEY_FILE",
            "TOLLGATE_MANAGEMENT_TLS",
        ] {
            assert!(!data.contains_key(name), "{name} in the shared ConfigMap");
            for pod in [&deployment_pod, &job_pod] {
                assert!(
                    setting(pod, name).is_some(),
                    "{name} not in the pod template"
                );
            }
        }
    }

    fn platform(extra: serde_json::Value) -> Tollgate {
        let mut spec = json!({
            "version": "1.2.0",
            "database": {"urlSecretRef": {"name": "db", "key": "url"}},
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}, "mode": "cluster"},
        });
        if let (Some(s), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra) {
            s.extend(extra);
        }
        let mut tg = Tollgate::new("prod", serde_json::from_value(spec).unwrap());
        tg.metadata.namespace = Some("ns".into());
        tg.metadata.uid = Some("uid-1".into());
        tg
    }

    fn inputs(tg: &Tollgate) -> Inputs {
        Inputs {
            owner: tg.controller_owner_ref(&()).unwrap(),
            field_manager: "tollgate-operator".into(),
            encryption_key: SecretKeyRef {
                name: "prod-signing-key".into(),
                key: "encryption-key".into(),
            },
            operator_credentials: "prod-operator-credentials".into(),
            running_version: "1.1.0".into(),
        }
    }

    use kube::Resource;

    #[test]
    fn deployments_roll_without_unavailability_and_run_the_running_version() {
        let tg = platform(json!({}));
        let d = deployment(&tg, &inputs(&tg), "auth");
        let spec = d.spec.unwrap();
        let ru = spec.strategy.unwrap().rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(0)));
        let pod = spec.template.spec.unwrap();
        let c = &pod.containers[0];
        assert_eq!(
            c.image.as_deref(),
            Some("ghcr.io/tollgate-dev/tollgate:1.1.0")
        );
        assert_eq!(
            c.args.as_deref(),
            Some(&["serve".to_string(), "auth".to_string()][..])
        );
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(d.metadata.owner_references.unwrap()[0].uid, "uid-1");
        // Secrets reach the pod only by reference.
        let env = c.env.as_ref().unwrap();
        let db = env
            .iter()
            .find(|e| e.name == "TOLLGATE_DATABASE_URL")
            .unwrap();
        assert_eq!(db.value, None);
        assert_eq!(
            db.value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap()
                .name,
            "db"
        );
    }

    #[test]
    fn configuration_changes_change_the_pod_hash() {
        let tg = platform(json!({}));
        let before = config_hash(&tg, &inputs(&tg));
        let changed = platform(json!({"extraEnv": [{"name": "TOLLGATE_LOG", "value": "debug"}]}));
        assert_ne!(before, config_hash(&changed, &inputs(&changed)));
        // A version change alone is a rollout, not a configuration change.
        let mut bumped = platform(json!({}));
        bumped.spec.version = "2.0.0".into();
        assert_eq!(before, config_hash(&bumped, &inputs(&bumped)));
        assert_eq!(
            config_map(&tg, &inputs(&tg)).data.unwrap()["TOLLGATE_REDIS_CLUSTER"],
            "true"
        );
    }

    #[test]
    fn typed_settings_reach_the_pods() {
        let tg = platform(json!({}));
        let data = config_map(&tg, &inputs(&tg)).data.unwrap();
        for unset in ["TOLLGATE_LOCKOUT_THRESHOLD", "TOLLGATE_TRUSTED_PROXIES"] {
            assert!(!data.contains_key(unset), "default: the service's");
        }
        let set = platform(
            json!({"trustedProxies": ["10.0.0.0/8", "fd00::/8"], "settings": {
                "sessionIdleTimeout": "45m",
                "lockoutThreshold": 8,
                "rateLimitPerMinute": 1200,
                "maxTokenLifetime": "2h",
                "defaultContactCenter": "demo",
                "passwordHistory": 3,
                "outboundAllow": ["10.96.0.0/16", "ldap.corp.example"],
                "dpopNonce": true,
                "tlsClientCertHeader": "ssl-client-cert",
            }}),
        );
        let data = config_map(&set, &inputs(&set)).data.unwrap();
        for (k, v) in [
            ("TOLLGATE_SESSION_IDLE_TIMEOUT", "45m"),
            ("TOLLGATE_LOCKOUT_THRESHOLD", "8"),
            ("TOLLGATE_RATE_LIMIT_PER_MINUTE", "1200"),
            ("TOLLGATE_MAX_TOKEN_LIFETIME", "2h"),
            ("TOLLGATE_DEFAULT_CONTACT_CENTER", "demo"),
            ("TOLLGATE_PASSWORD_HISTORY", "3"),
            ("TOLLGATE_TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8"),
            ("TOLLGATE_OUTBOUND_ALLOW", "10.96.0.0/16,ldap.corp.example"),
            ("TOLLGATE_DPOP_NONCE", "true"),
            ("TOLLGATE_TLS_CLIENT_CERT_HEADER", "ssl-client-cert"),
        ] {
            assert_eq!(data.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(!data.contains_key("TOLLGATE_SESSION_MAX_AGE"));
        assert_ne!(
            config_hash(&tg, &inputs(&tg)),
            config_hash(&set, &inputs(&set))
        );
    }

    #[test]
    fn pod_knobs_reach_every_pod() {
        let tg = platform(json!({
            "auth": {"replicas": 2, "maxReplicas": 6, "targetCpuUtilization": 60},
            "ingress": {"hosts": ["auth.example.com"], "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
            "pods": {
                "imagePullSecrets": [{"name": "registry"}],
                "nodeSelector": {"pool": "auth"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "auth", "effect": "NoSchedule"}],
                "priorityClassName": "platform-critical",
                "annotations": {"mesh.example/inject": "false", CONFIG_HASH: "forged"},
                "probes": {"periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 6},
            },
        }));
        let i = inputs(&tg);
        let job = migration_job(&tg, &i, "2.0.0");
        let job_pod = job.spec.unwrap().template.spec.unwrap();
        for svc in SERVICES {
            let template = deployment(&tg, &i, svc).spec.unwrap().template;
            let pod = template.spec.unwrap();
            for p in [&pod, &job_pod] {
                assert_eq!(p.image_pull_secrets.as_ref().unwrap()[0].name, "registry");
                assert_eq!(p.node_selector.as_ref().unwrap()["pool"], "auth");
                assert_eq!(
                    p.tolerations.as_ref().unwrap()[0].key.as_deref(),
                    Some("dedicated")
                );
                assert_eq!(p.priority_class_name.as_deref(), Some("platform-critical"));
            }
            let annotations = template.metadata.unwrap().annotations.unwrap();
            assert_eq!(annotations["mesh.example/inject"], "false");
            assert_eq!(
                annotations[CONFIG_HASH],
                config_hash(&tg, &i),
                "the hash wins"
            );
            let probe = pod.containers[0].readiness_probe.clone().unwrap();
            assert_eq!(
                (
                    probe.period_seconds,
                    probe.timeout_seconds,
                    probe.failure_threshold
                ),
                (Some(10), Some(2), Some(6))
            );
        }
        let hpa = autoscaler(&tg, &i, "auth").unwrap().spec.unwrap();
        let metrics = hpa.metrics.unwrap();
        let target = &metrics[0].resource.as_ref().unwrap().target;
        assert_eq!(target.average_utilization, Some(60));
        let ingress = ingress(&tg, &i).unwrap();
        assert_eq!(
            ingress.metadata.annotations.unwrap()["cert-manager.io/cluster-issuer"],
            "letsencrypt"
        );
        // Nothing set: nothing added.
        let plain = platform(json!({}));
        let pod = deployment(&plain, &inputs(&plain), "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert!(
            pod.image_pull_secrets.is_none()
                && pod.node_selector.is_none()
                && pod.tolerations.is_none()
        );
    }

    #[test]
    fn optional_children_follow_the_spec() {
        let tg = platform(json!({}));
        assert!(ingress(&tg, &inputs(&tg)).is_none());
        assert!(autoscaler(&tg, &inputs(&tg), "auth").is_none());
        let tg = platform(json!({
            "ingress": {"hosts": ["auth.example"], "tlsSecretName": "tls"},
            "auth": {"replicas": 2, "maxReplicas": 6}
        }));
        let i = ingress(&tg, &inputs(&tg)).unwrap().spec.unwrap();
        assert_eq!(
            i.rules.as_ref().unwrap()[0]
                .http
                .as_ref()
                .unwrap()
                .paths
                .len(),
            4
        );
        assert_eq!(i.tls.unwrap()[0].secret_name.as_deref(), Some("tls"));
        let hpa = autoscaler(&tg, &inputs(&tg), "auth").unwrap().spec.unwrap();
        assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(2), 6));
        let d = deployment(&tg, &inputs(&tg), "auth");
        assert_eq!(
            d.spec.unwrap().replicas,
            None,
            "the autoscaler owns replicas"
        );
    }

    /// The service an Ingress controller picks for a path: the longest
    /// matching Prefix rule (Kubernetes' Ingress path semantics).
    fn routed(i: &Ingress, path: &str) -> Option<String> {
        let rule = &i.spec.as_ref()?.rules.as_ref()?[0];
        rule.http
            .as_ref()?
            .paths
            .iter()
            .filter(|p| {
                let prefix = p.path.as_deref().unwrap_or("/").trim_end_matches('/');
                path == prefix || path.starts_with(&format!("{prefix}/"))
            })
            .max_by_key(|p| p.path.as_deref().unwrap_or("").len())
            .and_then(|p| p.backend.service.as_ref().map(|s| s.name.clone()))
    }

    #[test]
    fn the_ingress_routes_every_public_path_and_keeps_the_admin_apis_off() {
        let tg = platform(json!({"ingress": {"hosts": ["auth.example"]}}));
        let i = ingress(&tg, &inputs(&tg)).unwrap();
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/auth/v3/jwks",
            "/auth/v3/oauth/token",
            "/auth/v3/oauth/authorize",
            "/auth/v3/oauth/introspect",
            "/auth/v3/userinfo",
            "/auth/v3/openid/userinfo",
            "/auth/v3/end-session",
            "/auth/v3/sso/oidc/callback",
            "/auth/v3/sso/saml/cc/acs",
        ] {
            assert_eq!(routed(&i, path).as_deref(), Some("prod-auth"), "{path}");
        }
        assert_eq!(routed(&i, "/ui/auth/sign-in").as_deref(), Some("prod-ui"));
        // The ops API reaches a service that does not serve it; the
        // Environment API matches no rule at all.
        assert_eq!(
            routed(&i, "/auth/v3/ops/clients").as_deref(),
            Some("prod-ui")
        );
        assert_eq!(routed(&i, "/environment/v3/contact-centers"), None);
        assert_eq!(routed(&i, "/auth/v3/opsx"), Some("prod-auth".into()));
    }

    #[test]
    fn pods_drain_before_they_stop() {
        let tg = platform(json!({}));
        let d = deployment(&tg, &inputs(&tg), "auth");
        let spec = d.spec.unwrap();
        assert_eq!(spec.min_ready_seconds, Some(MIN_READY_SECONDS));
        let pod = spec.template.spec.unwrap();
        let pre_stop = pod.containers[0]
            .lifecycle
            .clone()
            .unwrap()
            .pre_stop
            .unwrap();
        assert_eq!(pre_stop.sleep.unwrap().seconds, DRAIN_SECONDS);
        let grace = pod.termination_grace_period_seconds.unwrap_or(30);
        assert!(
            grace > DRAIN_SECONDS,
            "SIGTERM must come before the grace period ends"
        );
    }

    #[test]
    fn tls_serves_https_end_to_end() {
        let plain = platform(json!({"ingress": {"hosts": ["auth.example.com"]}}));
        let svc = service(&plain, &inputs(&plain), "auth")
            .spec
            .unwrap()
            .ports
            .unwrap();
        assert_eq!((svc[0].name.as_deref(), svc[0].port), (Some("http"), 80));
        let plain_pod = deployment(&plain, &inputs(&plain), "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(setting(&plain_pod, "TOLLGATE_TLS_CERT_FILE"), None);

        let tg = platform(json!({
            "ingress": {"hosts": ["auth.example.com"]},
            "tls": {"secretName": "tollgate-tls", "management": true},
        }));
        let i = inputs(&tg);
        let pod = deployment(&tg, &i, "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let volume = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "tls")
            .expect("volume");
        assert_eq!(
            volume.secret.as_ref().unwrap().secret_name.as_deref(),
            Some("tollgate-tls")
        );
        let c = &pod.containers[0];
        let mount = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == "tls")
            .expect("mount");
        assert_eq!(
            setting(&pod, "TOLLGATE_TLS_CERT_FILE"),
            Some(format!("{}/tls.crt", mount.mount_path))
        );
        assert_eq!(
            setting(&pod, "TOLLGATE_TLS_KEY_FILE"),
            Some(format!("{}/tls.key", mount.mount_path))
        );
        assert_eq!(
            setting(&pod, "TOLLGATE_MANAGEMENT_TLS").as_deref(),
            Some("true")
        );
        let probe = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(probe.scheme.as_deref(), Some("HTTPS"));
        assert_eq!(c.ports.as_ref().unwrap()[0].name.as_deref(), Some("https"));
        let svc = service(&tg, &i, "auth").spec.unwrap().ports.unwrap();
        assert_eq!((svc[0].name.as_deref(), svc[0].port), (Some("https"), 443));
        let rules = ingress(&tg, &i).unwrap().spec.unwrap().rules.unwrap();
        let backend = &rules[0].http.as_ref().unwrap().paths[0].backend;
        let port = backend.service.as_ref().unwrap().port.as_ref().unwrap();
        assert_eq!(port.name.as_deref(), Some("https"));
    }

    /// The template of `service`'s pods.
    fn pod(tg: &Tollgate, service: &str) -> PodSpec {
        deployment(tg, &inputs(tg), service)
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
    }

    /// The Secret behind the `tls` volume of a pod, if any.
    fn tls_secret(pod: &PodSpec) -> Option<String> {
        let volume = pod.volumes.as_ref()?.iter().find(|v| v.name == "tls")?;
        volume.secret.as_ref()?.secret_name.clone()
    }

    #[test]
    fn a_service_s_own_tls_replaces_the_platform_s() {
        let tg = platform(json!({
            "ingress": {"hosts": ["auth.example.com"]},
            "tls": {"secretName": "shared-tls", "management": true},
            "environment": {"tls": {"secretName": "environment-tls"}},
        }));
        let i = inputs(&tg);
        for svc in ["auth", "ui"] {
            assert_eq!(tls_secret(&pod(&tg, svc)).as_deref(), Some("shared-tls"));
        }
        let env_pod = pod(&tg, "environment");
        assert_eq!(tls_secret(&env_pod).as_deref(), Some("environment-tls"));
        // The override is whole: its management port stays plain.
        assert_eq!(
            setting(&env_pod, "TOLLGATE_MANAGEMENT_TLS").as_deref(),
            Some("false")
        );
        let probe = env_pod.containers[0].readiness_probe.clone().unwrap();
        assert_eq!(probe.http_get.unwrap().scheme, None);
        assert_eq!(
            setting(&env_pod, "TOLLGATE_TLS_CERT_FILE"),
            setting(&pod(&tg, "auth"), "TOLLGATE_TLS_CERT_FILE")
        );
        // The migration Job serves nothing: it keeps the platform's.
        let job = migration_job(&tg, &i, "1.2.0");
        assert_eq!(
            tls_secret(&job.spec.unwrap().template.spec.unwrap()).as_deref(),
            Some("shared-tls")
        );
    }

    #[test]
    fn tls_on_one_service_only() {
        let tg = platform(json!({
            "ingress": {"hosts": ["auth.example.com"]},
            "auth": {"tls": {"secretName": "auth-tls", "management": true}},
        }));
        let i = inputs(&tg);
        let auth = pod(&tg, "auth");
        assert_eq!(tls_secret(&auth).as_deref(), Some("auth-tls"));
        assert_eq!(
            auth.containers[0].ports.as_ref().unwrap()[0]
                .name
                .as_deref(),
            Some("https")
        );
        let ui = pod(&tg, "ui");
        assert_eq!(tls_secret(&ui), None);
        assert_eq!(setting(&ui, "TOLLGATE_TLS_CERT_FILE"), None);
        assert_eq!(
            ui.containers[0].ports.as_ref().unwrap()[0].name.as_deref(),
            Some("http")
        );
        let ports = |svc| service(&tg, &i, svc).spec.unwrap().ports.unwrap();
        assert_eq!(
            (ports("auth")[0].name.as_deref(), ports("auth")[0].port),
            (Some("https"), 443)
        );
        assert_eq!(
            (ports("ui")[0].name.as_deref(), ports("ui")[0].port),
            (Some("http"), 80)
        );
        // Each Ingress backend names its own Service's public port.
        let rules = ingress(&tg, &i).unwrap().spec.unwrap().rules.unwrap();
        for path in &rules[0].http.as_ref().unwrap().paths {
            let backend = path.backend.service.as_ref().unwrap();
            let expected = if backend.name == "prod-auth" {
                "https"
            } else {
                "http"
            };
            assert_eq!(
                backend.port.as_ref().unwrap().name.as_deref(),
                Some(expected)
            );
        }
        // No platform TLS: the Job has none.
        let job = migration_job(&tg, &i, "1.2.0");
        assert_eq!(tls_secret(&job.spec.unwrap().template.spec.unwrap()), None);
    }

    #[test]
    fn services_expose_the_management_port_with_its_scheme() {
        let tg = platform(json!({
            "tls": {"secretName": "shared-tls", "management": true},
            "ui": {"tls": {"secretName": "ui-tls"}},
        }));
        let i = inputs(&tg);
        let plain = platform(json!({}));
        for (tg, svc, scheme) in [
            (&tg, "auth", "https"),
            (&tg, "ui", "http"),
            (&plain, "environment", "http"),
        ] {
            let s = service(tg, &inputs(tg), svc);
            assert_eq!(
                s.metadata.labels.unwrap()[MANAGEMENT_SCHEME_LABEL],
                scheme,
                "{svc}"
            );
            let ports = s.spec.unwrap().ports.unwrap();
            let management = ports
                .iter()
                .find(|p| p.name.as_deref() == Some("management"))
                .expect("management port");
            assert_eq!(management.port, MANAGEMENT_PORT);
            assert_eq!(
                management.target_port,
                Some(IntOrString::String("management".into()))
            );
            // The pods' container port of that name, and the NetworkPolicy lets it in.
            let container_ports = pod(tg, svc).containers[0].ports.clone().unwrap();
            assert!(container_ports
                .iter()
                .any(|p| p.name.as_deref() == Some("management")
                    && p.container_port == MANAGEMENT_PORT));
        }
        let policy = network_policy(&tg, &i).spec.unwrap().ingress.unwrap();
        assert!(policy[0]
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .any(|p| p.port == Some(IntOrString::Int(MANAGEMENT_PORT))));
    }

    #[test]
    fn every_ca_secret_is_mounted_where_its_setting_points() {
        let tg = platform(json!({
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}, "mode": "tls",
                      "caSecretRef": {"name": "redis-tls", "key": "ca.pem"}},
            "database": {"urlSecretRef": {"name": "db", "key": "url"},
                         "caSecretRef": {"name": "db-tls", "key": "root.crt"}},
            "configServerCaSecretRef": {"name": "cs-tls", "key": "ca.crt"},
            "tls": {"secretName": "tollgate-tls",
                    "clientCaSecretRef": {"name": "partners-ca", "key": "ca.pem"}},
        }));
        let pod = deployment(&tg, &inputs(&tg), "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let volumes = pod.volumes.clone().unwrap();
        let mounts = pod.containers[0].volume_mounts.clone().unwrap();
        for (name, secret, key) in [
            ("TOLLGATE_REDIS_CA_FILE", "redis-tls", "ca.pem"),
            ("TOLLGATE_DATABASE_CA_FILE", "db-tls", "root.crt"),
            ("TOLLGATE_CONFIG_SERVER_CA", "cs-tls", "ca.crt"),
            ("TOLLGATE_TLS_CLIENT_CA_FILE", "partners-ca", "ca.pem"),
        ] {
            let volume = volumes
                .iter()
                .find(|v| v.secret.as_ref().unwrap().secret_name.as_deref() == Some(secret))
                .expect(secret);
            let item = &volume.secret.as_ref().unwrap().items.as_ref().unwrap()[0];
            assert_eq!(item.key, key);
            let mount = mounts
                .iter()
                .find(|m| m.name == volume.name)
                .expect("mounted");
            assert_eq!(mount.read_only, Some(true));
            assert_eq!(
                setting(&pod, name),
                Some(format!("{}/{}", mount.mount_path, item.path)),
                "{name}"
            );
        }
    }

    #[test]
    fn the_redis_ca_secret_is_mounted_where_the_config_points() {
        let tg = platform(json!({}));
        let pod = deployment(&tg, &inputs(&tg), "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert!(pod.volumes.is_none() && pod.containers[0].volume_mounts.is_none());
        let tg = platform(json!({
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}, "mode": "tls",
                      "caSecretRef": {"name": "redis-tls", "key": "ca.pem"}}
        }));
        let deployment_pod = deployment(&tg, &inputs(&tg), "auth")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        let job_pod = migration_job(&tg, &inputs(&tg), "1.2.0")
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        for pod in [deployment_pod, job_pod] {
            let file = setting(&pod, "TOLLGATE_REDIS_CA_FILE").unwrap();
            let volume = &pod.volumes.as_ref().unwrap()[0];
            let secret = volume.secret.as_ref().unwrap();
            assert_eq!(secret.secret_name.as_deref(), Some("redis-tls"));
            let item = &secret.items.as_ref().unwrap()[0];
            assert_eq!(item.key, "ca.pem");
            let mount = &pod.containers[0].volume_mounts.as_ref().unwrap()[0];
            assert_eq!(
                (mount.name.as_str(), mount.read_only),
                (volume.name.as_str(), Some(true))
            );
            assert_eq!(format!("{}/{}", mount.mount_path, item.path), file);
        }
    }

    #[test]
    fn migration_jobs_are_named_per_version() {
        let tg = platform(json!({}));
        assert_eq!(migration_job_name(&tg, "1.2.0"), "prod-migrate-1-2-0");
        let long = migration_job_name(&tg, &"x".repeat(100));
        assert!(long.len() <= 63);
        let job = migration_job(&tg, &inputs(&tg), "1.2.0");
        let pod = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(
            pod.containers[0].args.as_deref(),
            Some(&["migrate".to_string()][..])
        );
        assert_eq!(
            pod.containers[0].image.as_deref(),
            Some("ghcr.io/tollgate-dev/tollgate:1.2.0")
        );
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    }
}
