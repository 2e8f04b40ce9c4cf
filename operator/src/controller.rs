//! The four controllers, run together in one process.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::{controller, reflector, watcher, Controller, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::context::{error_policy, Context};
use crate::crd::{ContactCenter, Environment, OAuthClient, Tollgate};

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + DeserializeOwned,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A controller whose cache keeps no `managedFields`: the reconcilers never
/// read them, and with thousands of resources they are much of the memory.
fn lean<K>(api: Api<K>, config: watcher::Config) -> Controller<K>
where
    K: Resource<DynamicType = ()>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let objects = reflector(
        writer,
        watcher(api, config).modify(|o| o.managed_fields_mut().clear()),
    )
    .applied_objects();
    Controller::for_stream(objects, reader)
}

/// Logs a failed reconcile or watch error (including objects that do not
/// deserialize): reported, and the controller carries on.
async fn report<T, E: std::fmt::Display>(kind: &'static str, result: Result<T, E>) {
    if let Err(e) = result {
        tracing::warn!(kind, error = %e, "controller event");
    }
}

/// Runs every controller until they all stop (they do not, normally).
/// `namespace`: watch one namespace, or all with `None`. The platform
/// resource and its workloads are watched in the platform namespace only,
/// when there is one, so the operator needs no rights on workloads elsewhere.
pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let client = ctx.client.clone();
    let config = watcher::Config::default();
    let queue = controller::Config::default().concurrency(ctx.concurrency);
    let platform_ns = ctx.platform_namespace.clone();
    let platform_ns = platform_ns.as_deref().or(namespace);
    let platform = Controller::new(api::<Tollgate>(&client, platform_ns), config.clone())
        .owns(api::<Deployment>(&client, platform_ns), config.clone())
        .owns(api::<Job>(&client, platform_ns), config.clone())
        .with_config(queue.clone())
        .shutdown_on_signal()
        .run(crate::platform::reconcile, error_policy, ctx.clone())
        .for_each(|r| report("Tollgate", r));
    let environments = lean(api::<Environment>(&client, namespace), config.clone())
        .with_config(queue.clone())
        .shutdown_on_signal()
        .run(
            crate::rows::reconcile::<Environment>,
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| report("Environment", r));
    let contact_centers = lean(api::<ContactCenter>(&client, namespace), config.clone())
        .with_config(queue.clone())
        .shutdown_on_signal()
        .run(
            crate::rows::reconcile::<ContactCenter>,
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| report("ContactCenter", r));
    let clients = lean(api::<OAuthClient>(&client, namespace), config)
        .with_config(queue)
        .shutdown_on_signal()
        .run(
            crate::rows::reconcile::<OAuthClient>,
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| report("OAuthClient", r));
    futures::join!(platform, environments, contact_centers, clients);
}
