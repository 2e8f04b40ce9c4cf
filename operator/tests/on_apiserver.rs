//! The operator against a real kube-apiserver and etcd (started by
//! `scripts/provision/kube.sh`, which exports TOLLGATE_TEST_KUBECONFIG) and
//! a real PostgreSQL (TOLLGATE_TEST_POSTGRES_URL). The controllers run
//! in-process, each test in its own namespace and database.
//!
//! There is no kubelet and no controller-manager: Jobs never run and
//! Deployments never get pods. Where the platform scenarios need a Job to
//! finish or a rollout to complete, the test writes that status itself
//! through the status subresource, as the Job and Deployment controllers
//! would, and then asserts what the operator does with it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use sqlx::{Connection, Executor};
use tokio::sync::OnceCell;
use tollgate_operator::context::Context;
use tollgate_operator::crd::{ContactCenter, Environment, OAuthClient, Tollgate};
use tollgate_operator::leader::Elector;
use tollgate_operator::metrics::Metrics;
use tollgate_store::{Cipher, Db};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CRDS: OnceCell<()> = OnceCell::const_new();
const WAIT: Duration = Duration::from_secs(60);

fn required(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var("TOLLGATE_REQUIRE_SERVICES").as_deref() == Ok("1") => panic!(
            "{var} is not set, and TOLLGATE_REQUIRE_SERVICES=1 requires the operator tests to \
             run: source scripts/provision/kube.sh and scripts/provision/postgres.sh first"
        ),
        _ => {
            eprintln!("note: {var} is not set; the operator tests did not run");
            None
        }
    }
}

struct Harness {
    client: Client,
    db: Db,
    ns: String,
    ctx: Arc<Context>,
}

async fn kube_client() -> Option<Client> {
    let path = required("TOLLGATE_TEST_KUBECONFIG")?;
    let kubeconfig = Kubeconfig::read_from(&path).expect("reading TOLLGATE_TEST_KUBECONFIG");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Some(Client::try_from(config).expect("client"))
}

/// The generated CRDs, applied once per test binary and waited on until served.
async fn install_crds(client: &Client) {
    CRDS.get_or_init(|| async {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        for (_, crd) in tollgate_operator::crd::all() {
            api.patch(
                &crd.name_any(),
                &PatchParams::apply("tollgate-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("the API server accepts the CRD");
        }
        for (_, crd) in tollgate_operator::crd::all() {
            let name = crd.name_any();
            eventually("CRD established", || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    crd.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            })
            .await;
        }
    })
    .await;
}

async fn database(test: &str) -> Option<Db> {
    let admin_url = required("TOLLGATE_TEST_POSTGRES_URL")?;
    let name = format!(
        "op_{}_{}_{test}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL");
    let mut attempt = 0;
    while let Err(e) = admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
    {
        attempt += 1;
        assert!(attempt < 10, "CREATE DATABASE {name}: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin.close().await.ok();
    let (base, _) = admin_url.rsplit_once('/').expect("URL with a database");
    let db = Db::connect(&format!("{base}/{name}"), Cipher::new(&[7u8; 32]).unwrap())
        .await
        .expect("test database");
    db.migrate().await.expect("migrations");
    Some(db)
}

/// A namespace and a database of its own, with the controllers running on them.
async fn harness(test: &str) -> Option<Harness> {
    let client = kube_client().await?;
    let db = database(test).await?;
    install_crds(&client).await;
    let ns = format!(
        "{}-{}-{}",
        test.replace('_', "-"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("namespace");
    let mut ctx = Context::new(
        client.clone(),
        db.clone(),
        "tollgate-operator",
        Arc::new(Metrics::default()),
    );
    ctx.resync = Duration::from_secs(2);
    ctx.retry = Duration::from_secs(1);
    let ctx = Arc::new(ctx);
    let run = ctx.clone();
    let watched = ns.clone();
    tokio::spawn(async move { tollgate_operator::controller::run(run, Some(&watched)).await });
    Some(Harness {
        client,
        db,
        ns,
        ctx,
    })
}

impl Harness {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + DeserializeOwned,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create<K>(&self, value: serde_json::Value) -> K
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + DeserializeOwned
            + serde::Serialize
            + Clone
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(value).expect("test object");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create")
    }

    async fn secret(&self, name: &str, data: serde_json::Value) {
        self.create::<Secret>(json!({"metadata": {"name": name}, "stringData": data}))
            .await;
    }
}

/// Polls `check` until it returns `Some`, failing the test after [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn condition<'a>(conditions: &'a [Condition], kind: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == kind)
}

/// Waits until `Ready` has `status` (and `reason`, when given); returns the conditions.
async fn ready_is<K>(h: &Harness, name: &str, status: &str, reason: Option<&str>) -> Vec<Condition>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + serde::Serialize,
{
    let api = h.api::<K>();
    eventually(
        &format!("{} {name} Ready={status} {reason:?}", K::kind(&())),
        || {
            let api = api.clone();
            async move {
                let obj = serde_json::to_value(api.get(name).await.ok()?).ok()?;
                let conditions: Vec<Condition> =
                    serde_json::from_value(obj.pointer("/status/conditions")?.clone()).ok()?;
                let generation = obj.pointer("/metadata/generation").and_then(|g| g.as_i64());
                let observed = obj
                    .pointer("/status/observedGeneration")
                    .and_then(|g| g.as_i64());
                let ready = condition(&conditions, "Ready")?;
                (observed == generation
                    && ready.status == status
                    && reason.is_none_or(|r| ready.reason == r))
                .then_some(conditions.clone())
            }
        },
    )
    .await
}

fn environment(name: &str, password_secret: &str) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "username": "svc-tollgate",
            "passwordSecretRef": {"name": password_secret, "key": "password"},
            "tenant": "Resources",
            "configServers": [{"primaryAddress": "cs1.example", "primaryPort": 8888}]
        }
    })
}

fn contact_center(name: &str, env: &str) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": name},
        "spec": {
            "environmentRef": env,
            "domains": [name, format!("{name}.example")],
            "auth": "builtin",
            "settings": {"corsOrigins": ["https://App.Example:443"]}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_follow_resources_drift_is_restored_and_deletion_cleans_up() {
    let Some(h) = harness("rows").await else {
        return;
    };
    h.secret("cs-password", json!({"password": "s3cret"})).await;
    h.create::<Environment>(environment("prod", "cs-password"))
        .await;
    h.create::<ContactCenter>(contact_center("acme", "prod"))
        .await;
    h.create::<OAuthClient>(json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "web"},
        "spec": {
            "authorizedGrantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["https://app.example/cb"],
            "contactCenterRefs": ["acme"]
        }
    }))
    .await;

    ready_is::<Environment>(&h, "prod", "True", None).await;
    ready_is::<ContactCenter>(&h, "acme", "True", None).await;
    let conditions = ready_is::<OAuthClient>(&h, "web", "True", None).await;
    assert_eq!(condition(&conditions, "Stalled").unwrap().status, "False");
    assert_eq!(
        condition(&conditions, "Reconciling").unwrap().status,
        "False"
    );

    // The rows, through the same store the Environment API uses.
    let env =
        h.db.get_environment("prod")
            .await
            .unwrap()
            .expect("environment row");
    assert_eq!(env.password.as_deref(), Some("s3cret"));
    assert_eq!(env.tenant, "Resources");
    assert_eq!(env.config_servers[0].primary_port, 8888);
    let cc =
        h.db.get_contact_center("acme")
            .await
            .unwrap()
            .expect("contact center row");
    assert_eq!(cc.domains, ["acme", "acme.example"]);
    assert_eq!(cc.environment_id, "prod");
    let origins: Vec<String> =
        h.db.list_cors_origins(Some("acme"))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.origin)
            .collect();
    assert_eq!(origins, ["https://app.example"]);
    let client = h.db.get_client("web").await.unwrap().expect("client row");
    assert_eq!(client.contact_center_ids, ["acme"]);
    // The generated secret is in an owned Secret; the row has only its hash.
    let secret = h
        .api::<Secret>()
        .get("web-client-secret")
        .await
        .expect("generated Secret");
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("OAuthClient", "web")
    );
    let value = String::from_utf8(secret.data.unwrap()["client_secret"].0.clone()).unwrap();
    let hash = client.secret_hash.clone().expect("a hash");
    assert!(!hash.contains(&value));
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    argon2::Argon2::default()
        .verify_password(value.as_bytes(), &PasswordHash::new(&hash).unwrap())
        .expect("the stored hash is the generated secret's");

    // Edited behind the operator's back: restored on a later reconcile.
    h.db.pool()
        .execute("UPDATE environments SET tenant = 'edited by hand' WHERE id = 'prod'")
        .await
        .unwrap();
    h.db.delete_client("web").await.unwrap();
    h.db.delete_cors_origin("acme", "https://app.example")
        .await
        .unwrap();
    eventually("rows restored", || async {
        let env = h.db.get_environment("prod").await.ok()??;
        let client = h.db.get_client("web").await.ok()??;
        let origins = h.db.list_cors_origins(Some("acme")).await.ok()?;
        // A recreated row gets a fresh hash (new salt) of the same secret.
        let hash = PasswordHash::new(client.secret_hash.as_deref()?).ok()?;
        let verifies = argon2::Argon2::default()
            .verify_password(value.as_bytes(), &hash)
            .is_ok();
        (env.tenant == "Resources" && verifies && origins.len() == 1).then_some(())
    })
    .await;

    // A spec change reaches the row.
    h.api::<ContactCenter>()
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"enabled": false}})),
        )
        .await
        .unwrap();
    eventually("spec change written", || async {
        (!h.db.get_contact_center("acme").await.ok()??.enabled).then_some(())
    })
    .await;

    // An environment still in use is kept, with its finalizer, until its contact centers go.
    h.api::<Environment>()
        .delete("prod", &DeleteParams::default())
        .await
        .unwrap();
    ready_is::<Environment>(&h, "prod", "False", Some("InUse")).await;
    assert!(h.db.get_environment("prod").await.unwrap().is_some());
    h.api::<OAuthClient>()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    h.api::<ContactCenter>()
        .delete("acme", &DeleteParams::default())
        .await
        .unwrap();
    eventually("rows deleted and finalizers released", || async {
        let gone = h.db.get_contact_center("acme").await.ok()?.is_none()
            && h.db.get_client("web").await.ok()?.is_none()
            && h.db.get_environment("prod").await.ok()?.is_none();
        let objects_gone = h
            .api::<ContactCenter>()
            .get_opt("acme")
            .await
            .ok()?
            .is_none()
            && h.api::<OAuthClient>().get_opt("web").await.ok()?.is_none()
            && h.api::<Environment>().get_opt("prod").await.ok()?.is_none();
        (gone && objects_gone).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_references_are_reported_and_retried() {
    let Some(h) = harness("refs").await else {
        return;
    };
    h.create::<ContactCenter>(contact_center("beta", "later"))
        .await;
    h.create::<Environment>(environment("later", "not-yet"))
        .await;
    let conditions = ready_is::<Environment>(&h, "later", "False", Some("SecretNotFound")).await;
    let stalled = condition(&conditions, "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(stalled.message.contains("not-yet"), "{}", stalled.message);
    assert!(h.db.get_environment("later").await.unwrap().is_none());
    ready_is::<ContactCenter>(&h, "beta", "False", None).await;
    let first_transition = condition(&conditions, "Ready")
        .unwrap()
        .last_transition_time
        .clone();

    h.secret("not-yet", json!({"password": "pw"})).await;
    let conditions = ready_is::<Environment>(&h, "later", "True", None).await;
    assert!(
        condition(&conditions, "Ready")
            .unwrap()
            .last_transition_time
            .0
            >= first_transition.0
    );
    assert_eq!(
        h.db.get_environment("later")
            .await
            .unwrap()
            .unwrap()
            .password
            .as_deref(),
        Some("pw")
    );
    ready_is::<ContactCenter>(&h, "beta", "True", None).await;
    assert_eq!(
        h.db.get_contact_center("beta")
            .await
            .unwrap()
            .unwrap()
            .environment_id,
        "later"
    );

    // An Event says what happened.
    let events: Api<k8s_openapi::api::events::v1::Event> = h.api();
    eventually("events recorded", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
            (reasons.iter().any(|r| r == "SecretNotFound")
                && reasons.iter().any(|r| r == "Reconciled"))
            .then_some(())
        }
    })
    .await;
}

/// Sets a Job's status as the Job controller would when its pod finished.
async fn finish_job(h: &Harness, name: &str, succeeded: bool) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut conditions = vec![];
    if succeeded {
        conditions.push(json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastTransitionTime": now, "lastProbeTime": now}));
        conditions.push(json!({"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastTransitionTime": now, "lastProbeTime": now}));
    } else {
        conditions.push(json!({"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": now, "lastProbeTime": now}));
        conditions.push(json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": now, "lastProbeTime": now}));
    }
    let mut status = json!({"startTime": now, "conditions": conditions, "ready": 0, "active": 0, "terminating": 0});
    if succeeded {
        status["succeeded"] = json!(1);
        status["completionTime"] = json!(now);
    } else {
        status["failed"] = json!(3);
    }
    h.api::<Job>()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap_or_else(|e| panic!("setting the status of Job {name}: {e}"));
}

/// Marks every Deployment of the platform rolled out, as the Deployment controller would.
async fn finish_rollouts(h: &Harness) {
    for svc in ["auth", "ui", "environment"] {
        let name = format!("prod-{svc}");
        let d = h.api::<Deployment>().get(&name).await.unwrap();
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        h.api::<Deployment>()
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {
                    "observedGeneration": d.metadata.generation,
                    "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas
                }})),
            )
            .await
            .unwrap();
    }
}

async fn images(h: &Harness) -> Vec<String> {
    let mut images = vec![];
    for svc in ["auth", "ui", "environment"] {
        if let Some(d) = h
            .api::<Deployment>()
            .get_opt(&format!("prod-{svc}"))
            .await
            .unwrap()
        {
            images.push(
                d.spec.unwrap().template.spec.unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap(),
            );
        }
    }
    images
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_upgrades_migrate_first_and_a_failed_migration_keeps_the_old_version() {
    let Some(h) = harness("platform").await else {
        return;
    };
    h.secret("db", json!({"url": "postgres://tollgate@db/tollgate"}))
        .await;
    h.secret("redis", json!({"url": "redis://redis:6379"}))
        .await;
    h.create::<Tollgate>(json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "Tollgate",
        "metadata": {"name": "prod"},
        "spec": {
            "version": "1.0.0",
            "database": {"urlSecretRef": {"name": "db", "key": "url"}},
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}},
            "ingress": {"hosts": ["auth.example"]}
        }
    }))
    .await;

    // First install: the migration Job, and nothing running before it succeeded.
    ready_is::<Tollgate>(&h, "prod", "False", Some("Migrating")).await;
    let job = h
        .api::<Job>()
        .get("prod-migrate-1-0-0")
        .await
        .expect("migration Job");
    let container = &job.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(
        container.args.as_deref(),
        Some(&["migrate".to_string()][..])
    );
    assert!(
        images(&h).await.is_empty(),
        "no Deployment before the migration"
    );
    // The generated Secrets exist already.
    h.api::<Secret>()
        .get("prod-signing-key")
        .await
        .expect("signing-key Secret");
    h.api::<Secret>()
        .get("prod-operator-credentials")
        .await
        .expect("operator credentials");

    finish_job(&h, "prod-migrate-1-0-0", true).await;
    ready_is::<Tollgate>(&h, "prod", "False", Some("RollingOut")).await;
    assert_eq!(
        images(&h).await,
        vec!["ghcr.io/tollgate-dev/tollgate:1.0.0"; 3]
    );
    let d = h.api::<Deployment>().get("prod-auth").await.unwrap();
    let strategy = d.spec.unwrap().strategy.unwrap().rolling_update.unwrap();
    assert_eq!(
        strategy.max_unavailable,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0))
    );
    for svc in ["auth", "ui", "environment"] {
        let name = format!("prod-{svc}");
        h.api::<Service>().get(&name).await.expect("Service");
        h.api::<PodDisruptionBudget>()
            .get(&name)
            .await
            .expect("PodDisruptionBudget");
    }
    h.api::<ConfigMap>()
        .get("prod-config")
        .await
        .expect("ConfigMap");
    h.api::<NetworkPolicy>()
        .get("prod-pods")
        .await
        .expect("NetworkPolicy");
    h.api::<Ingress>()
        .get("prod-ingress")
        .await
        .expect("Ingress");
    finish_rollouts(&h).await;
    ready_is::<Tollgate>(&h, "prod", "True", None).await;

    // A configuration change rolls the pods (new hash), without a migration;
    // dropping the hosts prunes the Ingress; maxReplicas adds an autoscaler.
    let hash = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()["tollgate.dev/config-hash"]
            .clone()
    };
    let before = hash(&h.api::<Deployment>().get("prod-ui").await.unwrap());
    h.api::<Tollgate>()
        .patch(
            "prod",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "extraEnv": [{"name": "TOLLGATE_LOG", "value": "debug"}],
                "ingress": {"hosts": []},
                "auth": {"replicas": 2, "maxReplicas": 5}
            }})),
        )
        .await
        .unwrap();
    eventually("pods rolled for the new configuration", || async {
        let d = h.api::<Deployment>().get("prod-ui").await.ok()?;
        (hash(&d) != before).then_some(())
    })
    .await;
    eventually("Ingress pruned, autoscaler added", || async {
        let no_ingress = h
            .api::<Ingress>()
            .get_opt("prod-ingress")
            .await
            .ok()?
            .is_none();
        let hpa = h
            .api::<HorizontalPodAutoscaler>()
            .get_opt("prod-auth")
            .await
            .ok()?;
        (no_ingress && hpa.is_some()).then_some(())
    })
    .await;
    assert!(h
        .api::<Job>()
        .get_opt("prod-migrate-1-0-1")
        .await
        .unwrap()
        .is_none());
    finish_rollouts(&h).await;
    ready_is::<Tollgate>(&h, "prod", "True", None).await;

    // Version bump: the Job first, the old version keeps running meanwhile.
    h.api::<Tollgate>()
        .patch(
            "prod",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "1.1.0"}})),
        )
        .await
        .unwrap();
    ready_is::<Tollgate>(&h, "prod", "False", Some("Migrating")).await;
    h.api::<Job>()
        .get("prod-migrate-1-1-0")
        .await
        .expect("migration Job for 1.1.0");
    assert_eq!(
        images(&h).await,
        vec!["ghcr.io/tollgate-dev/tollgate:1.0.0"; 3]
    );
    finish_job(&h, "prod-migrate-1-1-0", true).await;
    eventually("Deployments rolled to 1.1.0", || async {
        (images(&h).await == vec!["ghcr.io/tollgate-dev/tollgate:1.1.0"; 3]).then_some(())
    })
    .await;
    finish_rollouts(&h).await;
    ready_is::<Tollgate>(&h, "prod", "True", None).await;
    let tg = h.api::<Tollgate>().get("prod").await.unwrap();
    assert_eq!(tg.status.unwrap().version.as_deref(), Some("1.1.0"));

    // A failed migration: Stalled with the Job's reason, 1.1.0 keeps running.
    h.api::<Tollgate>()
        .patch(
            "prod",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "1.2.0"}})),
        )
        .await
        .unwrap();
    ready_is::<Tollgate>(&h, "prod", "False", Some("Migrating")).await;
    finish_job(&h, "prod-migrate-1-2-0", false).await;
    let conditions = ready_is::<Tollgate>(&h, "prod", "False", Some("MigrationFailed")).await;
    let stalled = condition(&conditions, "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(
        stalled.message.contains("BackoffLimitExceeded"),
        "{}",
        stalled.message
    );
    assert_eq!(
        images(&h).await,
        vec!["ghcr.io/tollgate-dev/tollgate:1.1.0"; 3]
    );
    let tg = h.api::<Tollgate>().get("prod").await.unwrap();
    assert_eq!(tg.status.unwrap().version.as_deref(), Some("1.1.0"));
    assert!(h
        .ctx
        .metrics
        .encode()
        .contains("tollgate_operator_reconciles_total{kind=\"Tollgate\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_lead_at_once() {
    let Some(client) = kube_client().await else {
        return;
    };
    let lease = format!("tollgate-operator-test-{}", std::process::id());
    let duration = Duration::from_secs(3);
    let a = Elector::new(client.clone(), "default", &lease, "replica-a", duration);
    let b = Elector::new(client.clone(), "default", &lease, "replica-b", duration);
    // Racing for a fresh Lease: exactly one wins.
    let (ra, rb) = tokio::join!(a.try_acquire(), b.try_acquire());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra ^ rb, "exactly one leader (a: {ra}, b: {rb})");
    let (leader, follower) = if ra { (&a, &b) } else { (&b, &a) };
    // The leader renews; the follower keeps being refused.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(leader.try_acquire().await.unwrap());
        assert!(!follower.try_acquire().await.unwrap());
    }
    // The leader stops renewing (it died): after the lease runs out the follower takes over.
    tokio::time::sleep(duration + Duration::from_secs(2)).await;
    assert!(follower.try_acquire().await.unwrap());
    assert!(
        !leader.try_acquire().await.unwrap(),
        "{} must not lead again",
        leader.identity()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_enforces_the_cel_rules() {
    let Some(h) = harness("schema").await else {
        return;
    };
    let refused = |r: Result<ContactCenter, kube::Error>| match r {
        Err(kube::Error::Api(e)) => e.message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let api = h.api::<ContactCenter>();
    let mut bad = contact_center("x", "prod");
    bad["spec"]["domains"] = json!([]);
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("domains must list at least one domain"),
        "{message}"
    );
    let mut bad = contact_center("y", "prod");
    bad["spec"]["auth"] = json!("kerberos");
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("auth must be configServer, ldap, builtin, saml or oidc"),
        "{message}"
    );
    let mut bad = contact_center("z", "prod");
    bad["spec"]["settings"]["corsOrigins"] = json!(["not an origin"]);
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await,
    );
    assert!(message.contains("corsOrigins must be origins"), "{message}");

    // id is immutable once set.
    let mut good = contact_center("fixed", "prod");
    good["spec"]["id"] = json!("cc-1");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(good).unwrap(),
    )
    .await
    .unwrap();
    let message = refused(
        api.patch(
            "fixed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"id": "cc-2"}})),
        )
        .await,
    );
    assert!(message.contains("id is immutable"), "{message}");

    let envs = h.api::<Environment>();
    let mut bad = environment("e", "pw");
    bad["spec"]["traceMode"] = json!("loud");
    bad["spec"]["localTimeout"] = json!(4000);
    match envs
        .create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert!(e.message.contains("traceMode must be"), "{}", e.message);
            assert!(
                e.message.contains("localTimeout must be from 0 to 3600"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let clients = h.api::<OAuthClient>();
    let bad: OAuthClient = serde_json::from_value(json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "spa"},
        "spec": {"clientType": "PUBLIC", "secretRef": {"name": "s", "key": "k"}}
    }))
    .unwrap();
    match clients.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(e)) => assert!(
            e.message.contains("a PUBLIC client has no secret"),
            "{}",
            e.message
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
