//! What every reconciler shares: the Kubernetes client, the database, the
//! event recorder, metrics, and the small Kubernetes helpers they all use
//! (status by server-side apply, Secret look-ups, events).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tollgate_store::secrets::SecretVerifier;
use tollgate_store::{Db, StoreError};

use crate::conditions::{self, Outcome};
use crate::crd::{ConfigMapKeyRef, SecretKeyRef};
use crate::metrics::Metrics;

/// Reconciles of one kind at once, by default: enough to keep the
/// database pool and the API server busy, few enough to bound memory.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// Finalizer guarding the rows a resource owns in the database.
pub const FINALIZER: &str = "tollgate.dev/cleanup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Invalid(String),
    /// Deletion must wait (e.g. an environment still in use).
    #[error("{0}")]
    Blocked(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a reconcile step went no further: an outcome for status (something
/// the user must fix, or work under way), or an error to retry.
#[derive(Debug)]
pub enum Stop {
    Report(Outcome),
    Fail(Error),
}

/// A reconcile step: its value, or why it stopped.
pub type Step<T> = std::result::Result<T, Stop>;

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Fail(e)
    }
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Stop {
        Stop::Fail(e.into())
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Fail(e.into())
    }
}

impl Stop {
    /// A spec the store's rules refuse is the user's to fix (`Stalled`,
    /// reason `Invalid`); any other error is retried.
    pub fn invalid(e: Error) -> Stop {
        match e {
            Error::Invalid(message) => Stop::Report(Outcome::Stalled {
                reason: "Invalid".into(),
                message,
            }),
            e => Stop::Fail(e),
        }
    }

    /// `Stalled` with `reason`.
    pub fn stalled(reason: &str, message: String) -> Stop {
        Stop::Report(Outcome::Stalled {
            reason: reason.into(),
            message,
        })
    }
}

/// Whether an empty value counts as a missing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    Accepted,
    Missing,
}

/// The value, or `Stalled` with `reason` naming the missing object and key.
fn required(
    value: Option<String>,
    kind: &str,
    name: &str,
    key: &str,
    reason: &str,
    empty: Empty,
) -> Step<String> {
    match value {
        Some(v) if empty == Empty::Accepted || !v.is_empty() => Ok(v),
        _ => Err(Stop::stalled(
            reason,
            format!(
                "{kind} {name} (key {key}) not found{}",
                if empty == Empty::Missing {
                    " or empty"
                } else {
                    ""
                }
            ),
        )),
    }
}

pub struct Context {
    pub client: Client,
    pub db: Db,
    /// Folds a warning that repeats while its problem lasts into one
    /// event series (see [`Context::event`]).
    pub warnings: Recorder,
    pub reporter: Reporter,
    pub field_manager: String,
    /// How often a Ready resource is checked again, so rows changed behind
    /// the operator's back are restored.
    pub resync: Duration,
    /// How soon a resource waiting on something (a Secret, a Job) is retried.
    pub retry: Duration,
    pub metrics: Arc<Metrics>,
    /// Remembers which client secrets were verified against which stored
    /// hash, so resyncs of unchanged clients run no argon2.
    pub secrets: SecretVerifier,
    /// Rows older than recorded owners are adopted by the first resource
    /// naming them (an upgrade step; off by default).
    pub adopt_unowned_rows: bool,
    /// The platform team's namespace: the platform resource and its
    /// workloads live there, and only there may an `OAuthClient` hold a
    /// management role without contact-center binding.
    pub platform_namespace: Option<String>,
    /// Unbound management clients are accepted from every watched namespace.
    pub allow_unbound_management_clients: bool,
    /// Reconciles of one kind run at once. Bounded, so that thousands of
    /// resources applied together queue instead of each holding a request,
    /// a database connection wait and its buffers at the same time.
    pub concurrency: u16,
}

impl Context {
    pub fn new(client: Client, db: Db, field_manager: &str, metrics: Arc<Metrics>) -> Context {
        let reporter = Reporter {
            controller: field_manager.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            warnings: Recorder::new(client.clone(), reporter.clone()),
            reporter,
            client,
            db,
            field_manager: field_manager.into(),
            resync: Duration::from_secs(60),
            retry: Duration::from_secs(5),
            metrics,
            secrets: SecretVerifier::default(),
            adopt_unowned_rows: false,
            platform_namespace: None,
            allow_unbound_management_clients: false,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Writes `status` through the status subresource with this operator's
    /// field manager (server-side apply).
    pub async fn apply_status<K>(&self, obj: &K, status: serde_json::Value) -> Result<()>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> =
            Api::namespaced(self.client.clone(), &obj.namespace().unwrap_or_default());
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(&self.field_manager).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        Ok(())
    }

    /// A value from a Secret in `namespace`; `None` when the Secret or the key is missing.
    pub async fn secret_value(&self, namespace: &str, r: &SecretKeyRef) -> Result<Option<String>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let Some(secret) = api.get_opt(&r.name).await? else {
            return Ok(None);
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key).cloned())
            });
        Ok(value)
    }

    /// A value from a Secret the spec requires; when it is missing, the
    /// resource is `Stalled` with `reason` until it appears.
    pub async fn required_secret(
        &self,
        namespace: &str,
        r: &SecretKeyRef,
        reason: &str,
        empty: Empty,
    ) -> Step<String> {
        let value = self.secret_value(namespace, r).await?;
        required(value, "Secret", &r.name, &r.key, reason, empty)
    }

    /// A value from a ConfigMap the spec requires, as [`Self::required_secret`].
    pub async fn required_config_map(
        &self,
        namespace: &str,
        r: &ConfigMapKeyRef,
        reason: &str,
    ) -> Step<String> {
        let value = self.config_map_value(namespace, r).await?;
        required(value, "ConfigMap", &r.name, &r.key, reason, Empty::Accepted)
    }

    /// A value from a ConfigMap in `namespace`; `None` when the ConfigMap or the key is missing.
    pub async fn config_map_value(
        &self,
        namespace: &str,
        r: &ConfigMapKeyRef,
    ) -> Result<Option<String>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let Some(map) = api.get_opt(&r.name).await? else {
            return Ok(None);
        };
        Ok(map.data.and_then(|mut d| d.remove(&r.key)))
    }

    /// Records an Event on `obj`; a failure to record is logged, never fatal.
    ///
    /// A normal event marks one change, so it skips the recorder's cache of
    /// recent events (kept for six minutes to fold repeats into a series),
    /// which at 10,000 resources held each one's last events: tens of MiB.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        let once;
        let recorder = if warning {
            &self.warnings
        } else {
            once = Recorder::new(self.client.clone(), self.reporter.clone());
            &once
        };
        if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "could not record an event");
        }
    }

    /// Sets the conditions for `outcome` (keeping transition times), records
    /// an Event when `Ready` changes, and says when to look again.
    pub async fn report<K>(
        &self,
        obj: &K,
        previous: &[Condition],
        outcome: &Outcome,
        extra: serde_json::Value,
    ) -> Result<Action>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let generation = obj.meta().generation;
        let next = conditions::next(
            previous,
            outcome,
            generation,
            k8s_openapi::jiff::Timestamp::now(),
        );
        let mut status = json!({"observedGeneration": generation, "conditions": next});
        if let (Some(status), serde_json::Value::Object(extra)) = (status.as_object_mut(), extra) {
            status.extend(extra);
        }
        self.apply_status(obj, status).await?;
        let was = previous.iter().find(|c| c.type_ == conditions::READY);
        let now = next.iter().find(|c| c.type_ == conditions::READY);
        let changed = was.map(|c| (&c.status, &c.reason)) != now.map(|c| (&c.status, &c.reason));
        match outcome {
            Outcome::Ready { message } => {
                if changed {
                    self.event(obj, false, "Reconciled", message.clone()).await;
                }
                Ok(Action::requeue(self.resync))
            }
            Outcome::Progressing { reason, message } => {
                if changed {
                    self.event(obj, false, reason, message.clone()).await;
                }
                Ok(Action::requeue(self.retry))
            }
            Outcome::Stalled { reason, message } => {
                if changed {
                    self.event(obj, true, reason, message.clone()).await;
                }
                Ok(Action::requeue(self.retry))
            }
        }
    }
}

/// The namespace of a namespaced object (always set on objects read from the API).
pub fn namespace<K: Resource>(obj: &K) -> Result<String> {
    obj.meta()
        .namespace
        .clone()
        .ok_or_else(|| Error::Invalid("the object has no namespace".into()))
}

/// What the controller does after a failed reconcile: count it, log it, retry.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    tracing::warn!(kind = %K::kind(&()), name = %obj.meta().name.clone().unwrap_or_default(), error = %error, "reconcile failed");
    ctx.metrics.failure(&K::kind(&()));
    Action::requeue(ctx.retry)
}
