//! The platform reconciler: generated Secrets, the migration Job on a
//! version change, then the children applied with server-side apply,
//! unwanted ones pruned, readiness rolled up.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::ByteString;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::children::{self, Inputs, SERVICES};
use super::upgrade::{deployments_ready, migration_state, MigrationState};
use crate::conditions::Outcome;
use crate::context::{namespace, Context, Empty, Error, Result, Step, Stop};
use crate::crd::{SecretKeyRef, Tollgate, TollgateStatus};

pub async fn reconcile(obj: Arc<Tollgate>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = apply(&obj, &ctx).await;
    ctx.metrics.reconciled("Tollgate", started);
    result
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Creates a Secret owned by the platform unless it exists (its values are
/// generated once and never rewritten).
async fn ensure_secret(
    tg: &Tollgate,
    ctx: &Context,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace(tg)?);
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: tg.controller_owner_ref(&()).map(|o| vec![o]),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    ctx.field_manager.clone(),
                ),
                (children::PLATFORM_LABEL.to_string(), tg.name_any()),
            ])),
            ..Default::default()
        },
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            ctx.event(
                tg,
                false,
                "SecretGenerated",
                format!("generated Secret {name}"),
            )
            .await;
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Server-side apply of one child with the operator's field manager.
async fn apply_child<K>(ctx: &Context, ns: &str, obj: &K) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    Ok(api
        .patch(
            &obj.name_any(),
            &PatchParams::apply(&ctx.field_manager).force(),
            &Patch::Apply(obj),
        )
        .await?)
}

/// Deletes this platform's children of kind `K` that are no longer wanted.
async fn prune<K>(ctx: &Context, ns: &str, tg: &Tollgate, keep: &[String]) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!(
        "{}={},app.kubernetes.io/managed-by={}",
        children::PLATFORM_LABEL,
        tg.name_any(),
        ctx.field_manager
    );
    for obj in api.list(&ListParams::default().labels(&selector)).await? {
        let name = obj.name_any();
        let owned = obj
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == tg.metadata.uid.as_ref());
        if owned && !keep.contains(&name) {
            api.delete(&name, &DeleteParams::background()).await?;
            ctx.event(
                tg,
                false,
                "Pruned",
                format!("deleted {} {name}", K::kind(&())),
            )
            .await;
        }
    }
    Ok(())
}

async fn apply(tg: &Tollgate, ctx: &Context) -> Result<Action> {
    let status = tg.status.clone().unwrap_or_default();
    let (outcome, extra) = match converge(tg, &status, ctx).await {
        Ok(done) => done,
        Err(Stop::Report(outcome)) => (outcome, json!({})),
        Err(Stop::Fail(e)) => return Err(e),
    };
    ctx.report(tg, &status.conditions, &outcome, extra).await
}

/// The platform brought towards its spec: the outcome and the status fields
/// besides the conditions.
async fn converge(
    tg: &Tollgate,
    status: &TollgateStatus,
    ctx: &Context,
) -> Step<(Outcome, serde_json::Value)> {
    let ns = namespace(tg)?;
    let mut inputs = inputs(tg, status, ctx).await?;
    // The migration Job reads its settings from the ConfigMap too (envFrom):
    // without it the Job's pod cannot start.
    apply_child(ctx, &ns, &children::config_map(tg, &inputs)).await?;
    let waiting = migrate(tg, status, &mut inputs, ctx).await?;
    // Nothing runs before the first migration succeeded.
    if inputs.running_version.is_empty() {
        return Err(Stop::Report(waiting.unwrap_or(Outcome::Progressing {
            reason: "Migrating".into(),
            message: String::new(),
        })));
    }
    let config_hash = children::config_hash(tg, &inputs);
    let deployments = apply_workloads(tg, &inputs, ctx).await?;
    let outcome = rollout_outcome(waiting, &deployments, &inputs.running_version);
    let extra = json!({ "version": inputs.running_version, "configHash": config_hash });
    Ok((outcome, extra))
}

/// What the children are built from: the generated Secrets are made and
/// every Secret they name must exist.
async fn inputs(tg: &Tollgate, status: &TollgateStatus, ctx: &Context) -> Step<Inputs> {
    let ns = namespace(tg)?;
    let owner = tg
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Invalid("the platform has no uid".into()))?;
    let encryption_key = encryption_key(tg, ctx).await?;
    let operator_credentials = operator_credentials(tg, ctx).await?;
    let credentials_ref = SecretKeyRef {
        name: operator_credentials.clone(),
        key: "password".into(),
    };
    for r in [
        &tg.spec.database.url_secret_ref,
        &tg.spec.redis.url_secret_ref,
        &encryption_key,
        &credentials_ref,
    ] {
        ctx.required_secret(&ns, r, "SecretNotFound", Empty::Accepted)
            .await?;
    }
    Ok(Inputs {
        owner,
        field_manager: ctx.field_manager.clone(),
        encryption_key,
        operator_credentials,
        running_version: status.version.clone().unwrap_or_default(),
    })
}

/// The signing keys' encryption key: the spec's, or one generated once.
async fn encryption_key(tg: &Tollgate, ctx: &Context) -> Result<SecretKeyRef> {
    if let Some(r) = &tg.spec.signing_keys.encryption_key_secret_ref {
        return Ok(r.clone());
    }
    let name = children::name(tg, "signing-key");
    let data = BTreeMap::from([("encryption-key".into(), random_hex(32))]);
    ensure_secret(tg, ctx, &name, data).await?;
    Ok(SecretKeyRef {
        name,
        key: "encryption-key".into(),
    })
}

/// The Secret with the operator's own ops-API credentials: the spec's, or
/// one generated once.
async fn operator_credentials(tg: &Tollgate, ctx: &Context) -> Result<String> {
    if let Some(name) = &tg.spec.operator_credentials_secret {
        return Ok(name.clone());
    }
    let name = children::name(tg, "operator-credentials");
    let data = BTreeMap::from([
        ("username".into(), "ops".into()),
        ("password".into(), random_hex(24)),
    ]);
    ensure_secret(tg, ctx, &name, data).await?;
    Ok(name)
}

/// A new version migrates first; the Deployments keep the old one meanwhile.
/// Once the Job succeeded, `inputs` run the new version; until then, the
/// outcome to wait with.
async fn migrate(
    tg: &Tollgate,
    status: &TollgateStatus,
    inputs: &mut Inputs,
    ctx: &Context,
) -> Result<Option<Outcome>> {
    if status.version.as_deref() == Some(tg.spec.version.as_str()) {
        return Ok(None);
    }
    let job = migration_job(tg, inputs, ctx).await?;
    Ok(match migration_state(&job) {
        MigrationState::Succeeded => {
            inputs.running_version = tg.spec.version.clone();
            let note = format!("migrations for {} applied; rolling out", tg.spec.version);
            ctx.event(tg, false, "Migrated", note).await;
            None
        }
        MigrationState::Failed { reason, message } => Some(Outcome::Stalled {
            reason: "MigrationFailed".into(),
            message: format!(
                "Job {} failed ({reason}): {message}; still running {}",
                job.name_any(),
                status.version.clone().unwrap_or_else(|| "nothing".into())
            ),
        }),
        MigrationState::Running => Some(Outcome::Progressing {
            reason: "Migrating".into(),
            message: format!("waiting for Job {}", job.name_any()),
        }),
    })
}

/// The migration Job of the spec's version, started when there is none.
async fn migration_job(tg: &Tollgate, inputs: &Inputs, ctx: &Context) -> Result<Job> {
    let ns = namespace(tg)?;
    let job = children::migration_job(tg, inputs, &tg.spec.version);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(existing) = jobs.get_opt(&job.name_any()).await? {
        return Ok(existing);
    }
    let created = apply_child(ctx, &ns, &job).await?;
    let note = format!(
        "started Job {} for version {}",
        created.name_any(),
        tg.spec.version
    );
    ctx.event(tg, false, "Migrating", note).await;
    Ok(created)
}

/// Applies the services' workloads and the shared children, prunes those
/// no longer wanted; returns the Deployments as applied.
async fn apply_workloads(tg: &Tollgate, inputs: &Inputs, ctx: &Context) -> Result<Vec<Deployment>> {
    let ns = namespace(tg)?;
    let mut deployments = Vec::new();
    let mut autoscalers = Vec::new();
    for svc in SERVICES {
        deployments.push(apply_child(ctx, &ns, &children::deployment(tg, inputs, svc)).await?);
        apply_child(ctx, &ns, &children::service(tg, inputs, svc)).await?;
        apply_child(ctx, &ns, &children::pod_disruption_budget(tg, inputs, svc)).await?;
        if let Some(hpa) = children::autoscaler(tg, inputs, svc) {
            autoscalers.push(apply_child(ctx, &ns, &hpa).await?.name_any());
        }
    }
    apply_child(ctx, &ns, &children::network_policy(tg, inputs)).await?;
    let ingress = match children::ingress(tg, inputs) {
        Some(i) => vec![apply_child(ctx, &ns, &i).await?.name_any()],
        None => vec![],
    };
    let names: Vec<String> = SERVICES.iter().map(|s| children::name(tg, s)).collect();
    prune::<HorizontalPodAutoscaler>(ctx, &ns, tg, &autoscalers).await?;
    prune::<Ingress>(ctx, &ns, tg, &ingress).await?;
    prune::<Deployment>(ctx, &ns, tg, &names).await?;
    prune::<Service>(ctx, &ns, tg, &names).await?;
    prune::<PodDisruptionBudget>(ctx, &ns, tg, &names).await?;
    prune::<ConfigMap>(ctx, &ns, tg, &[children::name(tg, "config")]).await?;
    prune::<NetworkPolicy>(ctx, &ns, tg, &[children::name(tg, "pods")]).await?;
    Ok(deployments)
}

/// Ready once nothing waits and every Deployment rolled out.
fn rollout_outcome(waiting: Option<Outcome>, deployments: &[Deployment], version: &str) -> Outcome {
    match (waiting, deployments_ready(deployments)) {
        (Some(waiting), _) => waiting,
        (None, Ok(())) => Outcome::Ready {
            message: format!("version {version} running, all services available"),
        },
        (None, Err(message)) => Outcome::Progressing {
            reason: "RollingOut".into(),
            message,
        },
    }
}
