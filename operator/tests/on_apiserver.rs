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
    Some(watching(client, db, test, None, false).await)
}

/// A fresh namespace watched by controllers writing to `db`; `platform`: the
/// platform namespace the operator is told (default: the watched one);
/// `adopt`: `--adopt-unowned-rows`.
async fn watching(
    client: Client,
    db: Db,
    test: &str,
    platform: Option<&str>,
    adopt: bool,
) -> Harness {
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
    // As the binary defaults it: the watched namespace.
    ctx.platform_namespace = Some(platform.unwrap_or(&ns).to_string());
    ctx.adopt_unowned_rows = adopt;
    let ctx = Arc::new(ctx);
    let run = ctx.clone();
    let watched = ns.clone();
    tokio::spawn(async move { tollgate_operator::controller::run(run, Some(&watched)).await });
    Harness {
        client,
        db,
        ns,
        ctx,
    }
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
    // What the Job's pod reads exists already: its ConfigMap (envFrom)
    // and the generated Secrets.
    let config = container.env_from.as_ref().unwrap()[0]
        .config_map_ref
        .as_ref()
        .unwrap()
        .name
        .clone();
    h.api::<ConfigMap>()
        .get(&config)
        .await
        .expect("the ConfigMap the migration Job reads");
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

/// A self-signed CA certificate (EC P-256, no key kept), for the directory's
/// `caCertificateFrom`.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgIUcGLxsj+aT7HtGyy2dWGlKlEIjWcwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZVG9sbGdhdGUgb3BlcmF0b3IgdGVzdCBDQTAgFw0yNjExMjIy
MDI5NDZaGA8yMTI2MTAyOTIwMjk0NlowJDEiMCAGA1UEAwwZVG9sbGdhdGUgb3Bl
cmF0b3IgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGXVFfCpQDOI
+oqRdvnICyWn7THQu63+a4mUf4wyLnb6Sn6mtL1D9FrT5H286SDa+xKyMjlLzshe
5hLDaxEiSHWjUzBRMB0GA1UdDgQWBBQf0b+SVGvC9xnicp6ZD2zQEsGFrzAfBgNV
HSMEGDAWgBQf0b+SVGvC9xnicp6ZD2zQEsGFrzAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0cAMEQCIBro4EJUQbAdoStom47yrffyfpk2vyXno8TCJhWisYWw
AiBL7TV5vxVSO7KytysRygq+ZboBnvFE8ynkdlXmr4oMjw==
-----END CERTIFICATE-----
";

/// A public EC P-256 key as a JWK.
fn public_jwk(kid: &str) -> serde_json::Value {
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
}

fn ldap_contact_center(name: &str, env: &str, directory: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": name},
        "spec": {"environmentRef": env, "domains": [name], "auth": "ldap", "directory": directory}
    })
}

fn search_then_bind() -> serde_json::Value {
    json!({
        "urls": ["ldaps://ldap.corp.example:636"],
        "bindMode": "searchThenBind",
        "serviceDn": "cn=reader,dc=corp,dc=example",
        "bindPasswordSecretRef": {"name": "ldap-bind", "key": "password"},
        "baseDn": "dc=corp,dc=example",
        "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}]
    })
}

async fn stored_password(h: &Harness, id: &str) -> Option<String> {
    match h.db.get_ldap_directory(id).await.ok()??.bind {
        tollgate_store::model::LdapBind::SearchThenBind {
            service_password, ..
        } => Some(service_password),
        tollgate_store::model::LdapBind::Direct { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ldap_directory_follows_the_spec_and_its_secrets() {
    let Some(h) = harness("ldap").await else {
        return;
    };
    h.secret("cs-password", json!({"password": "s3cret"})).await;
    h.create::<Environment>(environment("prod", "cs-password"))
        .await;
    h.create::<ContactCenter>(ldap_contact_center("corp", "prod", search_then_bind()))
        .await;

    // The bind password's Secret is missing: stalled, named, retried.
    let conditions =
        ready_is::<ContactCenter>(&h, "corp", "False", Some("BindPasswordSecretNotFound")).await;
    let stalled = condition(&conditions, "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(stalled.message.contains("ldap-bind"), "{}", stalled.message);
    assert!(h.db.get_ldap_directory("corp").await.unwrap().is_none());
    assert!(
        h.db.get_contact_center("corp").await.unwrap().is_some(),
        "the contact center itself is written"
    );

    h.secret("ldap-bind", json!({"password": "Read3r-s3cret"}))
        .await;
    ready_is::<ContactCenter>(&h, "corp", "True", None).await;
    let stored = h.db.get_ldap_directory("corp").await.unwrap().unwrap();
    assert_eq!(stored.urls, ["ldaps://ldap.corp.example:636"]);
    assert_eq!(
        stored.user_filter, "(uid={username})",
        "the store's default"
    );
    assert_eq!(stored.group_authorities[0].authority, "ROLE_AGENT");
    assert_eq!(
        stored_password(&h, "corp").await.as_deref(),
        Some("Read3r-s3cret"),
        "the Secret's value, opened through the store"
    );
    // Sealed at rest: the column does not hold the clear password.
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT service_password_sealed FROM ldap_directories WHERE contact_center_id = 'corp'",
    )
    .fetch_one(h.db.pool())
    .await
    .unwrap();
    assert!(!sealed.windows(13).any(|w| w == b"Read3r-s3cret"));

    // The Secret changes: the row follows (on the resync).
    h.api::<Secret>()
        .patch(
            "ldap-bind",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"password": "N3w-s3cret"}})),
        )
        .await
        .unwrap();
    eventually("the new password stored", || async {
        (stored_password(&h, "corp").await.as_deref() == Some("N3w-s3cret")).then_some(())
    })
    .await;
    let version =
        h.db.get_ldap_directory("corp")
            .await
            .unwrap()
            .unwrap()
            .version;
    // Unchanged, a resync does not rewrite the row.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        h.db.get_ldap_directory("corp")
            .await
            .unwrap()
            .unwrap()
            .version,
        version
    );

    // A CA from a ConfigMap that is not there yet.
    let api = h.api::<ContactCenter>();
    api.patch(
        "corp",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"directory": {
            "caCertificateFrom": {"configMapKeyRef": {"name": "ldap-ca", "key": "ca.crt"}}
        }}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "corp", "False", Some("CaCertificateNotFound")).await;
    h.create::<ConfigMap>(
        json!({"metadata": {"name": "ldap-ca"}, "data": {"ca.crt": "not a PEM"}}),
    )
    .await;
    let conditions = ready_is::<ContactCenter>(&h, "corp", "False", Some("InvalidDirectory")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("caCertificate"), "{message}");
    h.api::<ConfigMap>()
        .patch(
            "ldap-ca",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"ca.crt": TEST_CA}})),
        )
        .await
        .unwrap();
    ready_is::<ContactCenter>(&h, "corp", "True", None).await;
    assert_eq!(
        h.db.get_ldap_directory("corp")
            .await
            .unwrap()
            .unwrap()
            .ca_pem
            .as_deref(),
        Some(TEST_CA)
    );

    // The directory removed from the spec: removed from the store; an ldap
    // contact center without one is not Ready, and says why.
    api.patch(
        "corp",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"directory": null}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "corp", "False", Some("DirectoryMissing")).await;
    assert!(h.db.get_ldap_directory("corp").await.unwrap().is_none());
    api.patch(
        "corp",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"auth": "builtin"}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "corp", "True", None).await;

    // What the schema refuses outright.
    let refused = |r: Result<ContactCenter, kube::Error>| match r {
        Err(kube::Error::Api(e)) => e.message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut not_ldap = ldap_contact_center("x", "prod", search_then_bind());
    not_ldap["spec"]["auth"] = json!("builtin");
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(not_ldap).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("directory is only for auth: ldap"),
        "{message}"
    );
    let mut no_secret = search_then_bind();
    no_secret["bindPasswordSecretRef"] = serde_json::Value::Null;
    no_secret["urls"] = json!(["http://ldap.example"]);
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(ldap_contact_center("y", "prod", no_secret)).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("takes serviceDn and bindPasswordSecretRef"),
        "{message}"
    );
    assert!(
        message.contains("each url must be ldap:// or ldaps://"),
        "{message}"
    );
}

fn oidc_contact_center(name: &str, env: &str, provider: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": name},
        "spec": {"environmentRef": env, "domains": [name], "auth": "oidc", "oidcProvider": provider}
    })
}

fn oidc_provider_spec() -> serde_json::Value {
    json!({
        "issuer": "https://login.corp.example/realms/agents",
        "clientId": "tollgate",
        "clientSecretRef": {"name": "idp-client", "key": "clientSecret"},
        "clientAuthentication": "client_secret_post",
        "scopes": ["openid", "email", "groups"],
        "claims": {"username": "email", "firstName": "given"},
        "groupsClaim": "groups",
        "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}],
        "justInTime": true,
        "authorizeParams": {"prompt": "login"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oidc_provider_follows_the_spec_and_its_secret() {
    use tollgate_store::model::{OidcClaims, OidcClientAuth, OidcGroupAuthority};
    let Some(h) = harness("oidc").await else {
        return;
    };
    h.secret("cs-password", json!({"password": "s3cret"})).await;
    h.create::<Environment>(environment("prod", "cs-password"))
        .await;
    h.create::<ContactCenter>(oidc_contact_center("sso", "prod", oidc_provider_spec()))
        .await;

    // The client secret's Secret is missing: stalled, named, retried.
    let conditions =
        ready_is::<ContactCenter>(&h, "sso", "False", Some("ClientSecretNotFound")).await;
    let stalled = condition(&conditions, "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(
        stalled.message.contains("idp-client"),
        "{}",
        stalled.message
    );
    assert!(h.db.get_oidc_provider("sso").await.unwrap().is_none());
    assert!(
        h.db.get_contact_center("sso").await.unwrap().is_some(),
        "the contact center itself is written"
    );

    h.secret("idp-client", json!({"clientSecret": "Cl13nt-s3cret"}))
        .await;
    ready_is::<ContactCenter>(&h, "sso", "True", None).await;
    let stored = h.db.get_oidc_provider("sso").await.unwrap().unwrap();
    assert_eq!(stored.issuer, "https://login.corp.example/realms/agents");
    assert_eq!(stored.client_id, "tollgate");
    assert_eq!(stored.client_auth, OidcClientAuth::ClientSecretPost);
    assert_eq!(
        stored.client_secret, "Cl13nt-s3cret",
        "the Secret's value, opened through the store"
    );
    assert_eq!(stored.scopes, ["openid", "email", "groups"]);
    assert_eq!(
        stored.claims,
        OidcClaims {
            username: "email".into(),
            first_name: "given".into(),
            ..OidcClaims::default()
        },
        "omitted claims take the store's defaults"
    );
    assert_eq!(stored.groups_claim.as_deref(), Some("groups"));
    assert_eq!(
        stored.group_authorities,
        [OidcGroupAuthority {
            group: "agents".into(),
            authority: "ROLE_AGENT".into()
        }]
    );
    assert!(stored.just_in_time);
    assert_eq!(stored.authorize_params["prompt"], "login");
    // Sealed at rest: the column does not hold the clear secret.
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT client_secret_sealed FROM oidc_providers WHERE contact_center_id = 'sso'",
    )
    .fetch_one(h.db.pool())
    .await
    .unwrap();
    assert!(!sealed.windows(13).any(|w| w == b"Cl13nt-s3cret"));

    // Unchanged, a resync does not rewrite the row.
    let version = stored.version;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        h.db.get_oidc_provider("sso")
            .await
            .unwrap()
            .unwrap()
            .version,
        version
    );

    // What only the store's rules refuse: stalled, the message names the
    // field and never the secret; the stored provider is left alone.
    let api = h.api::<ContactCenter>();
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"oidcProvider": {"authorizeParams": {"nonce": "x"}}}})),
    )
    .await
    .unwrap();
    let conditions =
        ready_is::<ContactCenter>(&h, "sso", "False", Some("InvalidOidcProvider")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("authorizeParams"), "{message}");
    assert!(!message.contains("Cl13nt-s3cret"), "{message}");
    assert_eq!(
        h.db.get_oidc_provider("sso")
            .await
            .unwrap()
            .unwrap()
            .version,
        version
    );
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"oidcProvider": {"authorizeParams": {"nonce": null}}}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "sso", "True", None).await;

    // The provider removed from the spec: removed from the store; an oidc
    // contact center without one is not Ready, and says why.
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"oidcProvider": null}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "sso", "False", Some("OidcProviderMissing")).await;
    assert!(h.db.get_oidc_provider("sso").await.unwrap().is_none());

    // What the schema refuses outright.
    let refused = |r: Result<ContactCenter, kube::Error>| match r {
        Err(kube::Error::Api(e)) => e.message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut not_oidc = oidc_contact_center("x", "prod", oidc_provider_spec());
    not_oidc["spec"]["auth"] = json!("builtin");
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(not_oidc).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("oidcProvider is only for auth: oidc"),
        "{message}"
    );
    let mut bad = oidc_provider_spec();
    bad["issuer"] = json!("http://login.corp.example");
    bad["scopes"] = json!(["email"]);
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(oidc_contact_center("y", "prod", bad)).unwrap(),
        )
        .await,
    );
    assert!(
        message.contains("issuer must be an https:// URL"),
        "{message}"
    );
    assert!(message.contains("scopes must include openid"), "{message}");
}

/// IdP metadata with a fresh signing certificate (a PEM body is the
/// certificate's base64 DER), naming `entity`.
fn saml_idp_metadata(entity: &str) -> String {
    let pem = tollgate_store::saml::generate_sp_key("idp")
        .unwrap()
        .certificate_pem;
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.corp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn saml_contact_center(name: &str, env: &str, saml: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": name},
        "spec": {"environmentRef": env, "domains": [name], "auth": "saml", "saml": saml}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_settings_follow_the_spec_and_keep_their_key_pairs() {
    use tollgate_store::model::SamlBinding;
    let Some(h) = harness("saml").await else {
        return;
    };
    h.secret("cs-password", json!({"password": "s3cret"})).await;
    h.create::<Environment>(environment("prod", "cs-password"))
        .await;
    h.create::<ContactCenter>(saml_contact_center(
        "sso",
        "prod",
        json!({
            "idpMetadataConfigMapRef": {"name": "idp-metadata", "key": "metadata.xml"},
            "usernameAttribute": "uid",
            "accessGroup": {"attribute": "groups", "value": "agents"},
            "justInTimeUsers": true
        }),
    ))
    .await;

    // The metadata's ConfigMap is missing: stalled, named, retried.
    let conditions =
        ready_is::<ContactCenter>(&h, "sso", "False", Some("IdpMetadataNotFound")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("idp-metadata"), "{message}");
    assert!(h.db.get_saml_provider("sso").await.unwrap().is_none());
    assert!(h.db.get_contact_center("sso").await.unwrap().is_some());

    let first_idp = saml_idp_metadata("https://idp.corp.example/saml");
    h.create::<ConfigMap>(json!({
        "metadata": {"name": "idp-metadata"},
        "data": {"metadata.xml": first_idp}
    }))
    .await;
    ready_is::<ContactCenter>(&h, "sso", "True", None).await;
    let stored = h.db.get_saml_provider("sso").await.unwrap().unwrap();
    assert_eq!(stored.idp_metadata, first_idp);
    assert_eq!(stored.idp_metadata_url, None);
    assert_eq!(stored.username_attribute.as_deref(), Some("uid"));
    assert_eq!(stored.access_group.as_ref().unwrap().attribute, "groups");
    assert_eq!(stored.binding, SamlBinding::Post, "the default binding");
    assert!(stored.just_in_time_users);
    assert!(!stored.use_external_user_id);
    assert_eq!(
        stored.sp_keys.len(),
        1,
        "one key pair, generated on first write"
    );
    let keys = stored.sp_keys.clone();

    // Unchanged, a resync does not rewrite the row (nor make new keys).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        h.db.get_saml_provider("sso")
            .await
            .unwrap()
            .unwrap()
            .version,
        stored.version
    );

    // A spec change is written and keeps the key pairs; so does a key
    // rotated through the Environment API (the store's own rotation).
    let mut rotated = h.db.get_saml_provider("sso").await.unwrap().unwrap();
    tollgate_store::saml::rotate_sp_keys(
        &mut rotated.sp_keys,
        tollgate_store::saml::generate_sp_key("sso").unwrap(),
    );
    let rotated = h.db.put_saml_provider(&rotated).await.unwrap();
    let api = h.api::<ContactCenter>();
    let second_idp = saml_idp_metadata("https://idp2.corp.example/saml");
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"saml": {
            "idpMetadataConfigMapRef": null,
            "idpMetadata": second_idp,
            "binding": "redirect",
            "useExternalUserId": true
        }}})),
    )
    .await
    .unwrap();
    let changed = eventually("the spec change stored", || async {
        let s = h.db.get_saml_provider("sso").await.ok()??;
        (s.idp_metadata == second_idp).then_some(s)
    })
    .await;
    assert_eq!(changed.binding, SamlBinding::Redirect);
    assert!(changed.use_external_user_id);
    assert_eq!(
        changed.sp_keys, rotated.sp_keys,
        "the stored key pairs are kept"
    );
    assert_eq!(changed.sp_keys[1], keys[0]);
    ready_is::<ContactCenter>(&h, "sso", "True", None).await;

    // Metadata only the store's rules refuse: stalled, the stored settings
    // are left alone.
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"saml": {"idpMetadata": "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>"}}})),
    )
    .await
    .unwrap();
    let conditions = ready_is::<ContactCenter>(&h, "sso", "False", Some("InvalidSaml")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("SingleSignOnService"), "{message}");
    assert_eq!(
        h.db.get_saml_provider("sso")
            .await
            .unwrap()
            .unwrap()
            .version,
        changed.version
    );

    // Removed from the spec: removed from the store; saml without settings
    // is not Ready, and says why.
    api.patch(
        "sso",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"saml": null}})),
    )
    .await
    .unwrap();
    ready_is::<ContactCenter>(&h, "sso", "False", Some("SamlMissing")).await;
    assert!(h.db.get_saml_provider("sso").await.unwrap().is_none());

    // What the schema refuses outright.
    let refused = |r: Result<ContactCenter, kube::Error>| match r {
        Err(kube::Error::Api(e)) => e.message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut not_saml = saml_contact_center("x", "prod", json!({"idpMetadata": "x"}));
    not_saml["spec"]["auth"] = json!("oidc");
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(not_saml).unwrap(),
        )
        .await,
    );
    assert!(message.contains("saml is only for auth: saml"), "{message}");
    let two_sources = json!({
        "idpMetadata": "x",
        "idpMetadataUrl": "http://idp.corp.example/md",
        "binding": "artifact"
    });
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(saml_contact_center("y", "prod", two_sources)).unwrap(),
        )
        .await,
    );
    assert!(message.contains("exactly one of idpMetadata"), "{message}");
    assert!(
        message.contains("idpMetadataUrl must be an https:// URL"),
        "{message}"
    );
    assert!(
        message.contains("binding must be post or redirect"),
        "{message}"
    );
    let message = refused(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(saml_contact_center("z", "prod", json!({}))).unwrap(),
        )
        .await,
    );
    assert!(message.contains("exactly one of idpMetadata"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_issuers_match_the_spec_exactly() {
    let Some(h) = harness("issuers").await else {
        return;
    };
    h.secret("cs-password", json!({"password": "s3cret"})).await;
    h.create::<Environment>(environment("prod", "cs-password"))
        .await;
    let mut cc = contact_center("acme", "prod");
    cc["spec"]["trustedIssuers"] = json!([
        {"issuer": "https://idp.example", "jwks": {"keys": [public_jwk("k1")]}, "algorithms": ["ES256"]},
        {"issuer": "https://old.example", "jwksUri": "https://old.example/jwks"}
    ]);
    h.create::<ContactCenter>(cc).await;
    ready_is::<ContactCenter>(&h, "acme", "True", None).await;
    let stored = h.db.list_trusted_issuers("acme").await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].issuer, "https://idp.example");
    assert_eq!(stored[0].jwks, Some(json!({"keys": [public_jwk("k1")]})));
    assert_eq!(stored[0].algorithms, ["ES256"]);
    assert_eq!(stored[1].algorithms, ["RS256", "ES256"], "the default");
    assert_eq!(stored[1].max_lifetime, 600);

    // Added another way (as through the Environment API): removed, the spec owns the list.
    h.db.upsert_trusted_issuer(&tollgate_store::model::TrustedIssuer {
        issuer: "https://by-hand.example".into(),
        contact_center_id: "acme".into(),
        jwks: None,
        jwks_uri: Some("https://by-hand.example/jwks".into()),
        algorithms: vec!["RS256".into()],
        max_lifetime: 60,
        updated_at: 0,
    })
    .await
    .unwrap();
    // Changed, removed and added in the spec.
    h.api::<ContactCenter>()
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"trustedIssuers": [
                {"issuer": "https://idp.example", "jwks": {"keys": [public_jwk("k1")]}, "algorithms": ["ES256"], "maxLifetime": 120},
                {"issuer": "https://new.example", "jwksUri": "https://new.example/jwks"}
            ]}})),
        )
        .await
        .unwrap();
    eventually("the stored issuers equal the spec", || async {
        let stored = h.db.list_trusted_issuers("acme").await.ok()?;
        let seen: Vec<(String, i64)> = stored
            .iter()
            .map(|t| (t.issuer.clone(), t.max_lifetime))
            .collect();
        (seen
            == [
                ("https://idp.example".to_string(), 120),
                ("https://new.example".to_string(), 600),
            ])
        .then_some(())
    })
    .await;

    // Keys the schema lets through but the store's rules refuse: a private key.
    let mut private = public_jwk("k2");
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    h.api::<ContactCenter>()
        .patch(
            "acme",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"trustedIssuers": [
                {"issuer": "https://idp.example", "jwks": {"keys": [private]}}
            ]}})),
        )
        .await
        .unwrap();
    let conditions =
        ready_is::<ContactCenter>(&h, "acme", "False", Some("InvalidTrustedIssuer")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("public keys only"), "{message}");
    assert!(
        !message.contains("jpsQnnGQ"),
        "no key material in status: {message}"
    );

    // The schema refuses an issuer without keys and an HMAC algorithm.
    let mut bad = contact_center("bad", "prod");
    bad["spec"]["trustedIssuers"] =
        json!([{"issuer": "https://idp.example", "algorithms": ["HS256"]}]);
    match h
        .api::<ContactCenter>()
        .create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert!(
                e.message.contains("needs jwks, jwksUri or both"),
                "{}",
                e.message
            );
            assert!(e.message.contains("algorithms must be"), "{}", e.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_jwt_client_with_an_exchange_policy() {
    let Some(h) = harness("pkjwt").await else {
        return;
    };
    h.create::<OAuthClient>(json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "backend"},
        "spec": {
            "tokenEndpointAuthMethod": "private_key_jwt",
            "jwks": {"keys": [public_jwk("k1")]},
            "authorizedGrantTypes": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "tokenExchange": {"subjectClients": ["web"], "audiences": ["https://api.example"], "delegation": true}
        }
    }))
    .await;
    ready_is::<OAuthClient>(&h, "backend", "True", None).await;
    let row = h.db.get_client("backend").await.unwrap().unwrap();
    assert_eq!(
        row.auth_method,
        tollgate_store::model::ClientAuthMethod::PrivateKeyJwt
    );
    assert_eq!(row.jwks, Some(json!({"keys": [public_jwk("k1")]})));
    assert_eq!(
        row.secret_hash, None,
        "no secret for a key-authenticated client"
    );
    let policy = row.token_exchange.expect("a policy");
    assert_eq!(policy.subject_clients, ["web"]);
    assert_eq!(policy.audiences, ["https://api.example"]);
    assert!(policy.delegation && !policy.impersonation);
    assert!(
        h.api::<Secret>()
            .get_opt("backend-client-secret")
            .await
            .unwrap()
            .is_none(),
        "no generated secret"
    );
    let client = h.api::<OAuthClient>().get("backend").await.unwrap();
    assert_eq!(client.status.unwrap().secret_name, None);

    // Keys that the store's rules refuse: Ready=False with the reason.
    h.api::<OAuthClient>()
        .patch(
            "backend",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"jwks": null, "jwksUri": "http://keys.example/jwks"}})),
        )
        .await
        .unwrap();
    let conditions = ready_is::<OAuthClient>(&h, "backend", "False", Some("Invalid")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("must use https"), "{message}");

    // Combinations the schema refuses.
    let clients = h.api::<OAuthClient>();
    for (spec, expected) in [
        (
            json!({"clientType": "PUBLIC", "tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "https://k.example/jwks"}),
            "none is for PUBLIC clients",
        ),
        (
            json!({"tokenEndpointAuthMethod": "private_key_jwt"}),
            "needs jwks, jwksUri or both",
        ),
        (
            json!({"tokenEndpointAuthMethod": "client_secret_post", "jwksUri": "https://k.example/jwks"}),
            "other methods take neither",
        ),
        (
            json!({"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "https://k.example/jwks", "secretRef": {"name": "s", "key": "k"}}),
            "a private_key_jwt or mutual-TLS client has no secret",
        ),
        (
            json!({"tokenEndpointAuthMethod": "tls_client_auth"}),
            "a tls_client_auth client needs tlsClientAuth",
        ),
        (
            json!({"tokenEndpointAuthMethod": "mutual_tls"}),
            "tokenEndpointAuthMethod must be",
        ),
        (
            json!({"tokenExchange": {"audiences": [""]}}),
            "audiences must not contain empty names",
        ),
    ] {
        let bad: OAuthClient = serde_json::from_value(json!({
            "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": "bad"}, "spec": spec
        }))
        .unwrap();
        match clients.create(&PostParams::default(), &bad).await {
            Err(kube::Error::Api(e)) => assert!(e.message.contains(expected), "{}", e.message),
            other => panic!("expected a refusal of {spec}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_jwt_client_keeps_its_secret_sealed_not_hashed() {
    let Some(h) = harness("csjwt").await else {
        return;
    };
    let secret = "a-mac-key-of-more-than-thirty-two-bytes";
    h.secret("mac", json!({"key": secret})).await;
    h.secret("short", json!({"key": "too-short"})).await;
    for (name, secret_name) in [("signer", "mac"), ("weak", "short")] {
        h.create::<OAuthClient>(json!({
            "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name},
            "spec": {
                "tokenEndpointAuthMethod": "client_secret_jwt",
                "secretRef": {"name": secret_name, "key": "key"},
                "authorizedGrantTypes": ["client_credentials"]
            }
        }))
        .await;
    }
    ready_is::<OAuthClient>(&h, "signer", "True", None).await;
    let row = h.db.get_client("signer").await.unwrap().unwrap();
    assert_eq!(
        row.auth_method,
        tollgate_store::model::ClientAuthMethod::ClientSecretJwt
    );
    assert_eq!(row.hmac_secret.as_ref().map(|s| s.expose()), Some(secret));
    assert_eq!(row.secret_hash, None, "a MAC key is sealed, not hashed");

    // The store's length rule for MAC keys holds here too.
    let conditions = ready_is::<OAuthClient>(&h, "weak", "False", Some("Invalid")).await;
    let message = &condition(&conditions, "Ready").unwrap().message;
    assert!(message.contains("at least 32 bytes"), "{message}");
    assert!(
        !message.contains("too-short"),
        "no secret in status: {message}"
    );
    assert!(h.db.get_client("weak").await.unwrap().is_none());
}

/// An `OAuthClient` resource (`spec` merged into a confidential client).
fn oauth_client(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": name},
        "spec": spec
    })
}

/// Waits for `Ready=False` with `reason` and returns the message.
async fn stalled<K>(h: &Harness, name: &str, reason: &str) -> String
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + serde::Serialize,
{
    let conditions = ready_is::<K>(h, name, "False", Some(reason)).await;
    assert_eq!(condition(&conditions, "Stalled").unwrap().status, "True");
    condition(&conditions, "Ready").unwrap().message.clone()
}

/// Two tenants' namespaces on one database: resources of the second that
/// name the first's rows (by `spec.id`, `clientId` or the same resource name)
/// or reference them are refused with `OwnedElsewhere`, write nothing, and
/// delete nothing when they go; a row created through the API is never
/// adopted; an unbound management client comes only from the platform
/// namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_cannot_take_over_or_delete_rows() {
    let Some(a) = harness("owner_a").await else {
        return;
    };
    let b = watching(
        a.client.clone(),
        a.db.clone(),
        "owner_b",
        Some(&a.ns),
        false,
    )
    .await;
    let platform = a.ns.clone();
    // Tenant A, the victim.
    a.secret("cs-password", json!({"password": "a-password"}))
        .await;
    a.create::<Environment>(environment("prod", "cs-password"))
        .await;
    a.create::<ContactCenter>(contact_center("acme", "prod"))
        .await;
    a.create::<OAuthClient>(oauth_client(
        "web",
        json!({"authorizedGrantTypes": ["authorization_code"], "redirectUris": ["https://app.example/cb"], "contactCenterRefs": ["acme"]}),
    ))
    .await;
    ready_is::<Environment>(&a, "prod", "True", None).await;
    ready_is::<ContactCenter>(&a, "acme", "True", None).await;
    ready_is::<OAuthClient>(&a, "web", "True", None).await;
    let env_before = a.db.get_environment("prod").await.unwrap().unwrap();
    let cc_before = a.db.get_contact_center("acme").await.unwrap().unwrap();
    let client_before = a.db.get_client("web").await.unwrap().unwrap();

    // Tenant B, the attacker: the same names, an explicit spec.id, a
    // reference to B's own (refused) Environment of A's row id.
    b.secret("cs-password", json!({"password": "b-password"}))
        .await;
    let mut evil_env = environment("prod", "cs-password");
    evil_env["spec"]["configServers"][0]["primaryAddress"] = json!("attacker.example");
    b.create::<Environment>(evil_env).await;
    let mut evil_cc = contact_center("evil", "prod");
    evil_cc["spec"]["id"] = json!("acme");
    evil_cc["spec"]["domains"] = json!(["evil"]);
    b.create::<ContactCenter>(evil_cc).await;
    let mut reparented = contact_center("beta", "prod");
    reparented["spec"]["id"] = json!("beta-b");
    b.create::<ContactCenter>(reparented).await;
    b.create::<OAuthClient>(oauth_client(
        "web",
        json!({"authorizedGrantTypes": ["authorization_code"], "redirectUris": ["https://attacker.example/cb"]}),
    ))
    .await;
    b.create::<OAuthClient>(oauth_client(
        "admin",
        json!({"clientId": "admin-b", "authorities": ["ROLE_MANAGEMENT_APPLICATION"]}),
    ))
    .await;

    let message = stalled::<Environment>(&b, "prod", "OwnedElsewhere").await;
    assert!(message.contains("another resource"), "{message}");
    assert!(
        !message.contains(&a.ns),
        "another tenant's namespace is not named: {message}"
    );
    stalled::<ContactCenter>(&b, "evil", "OwnedElsewhere").await;
    let message = stalled::<ContactCenter>(&b, "beta", "OwnedElsewhere").await;
    assert!(message.contains("environment prod"), "{message}");
    stalled::<OAuthClient>(&b, "web", "OwnedElsewhere").await;
    let message = stalled::<OAuthClient>(&b, "admin", "UnboundManagementClient").await;
    assert!(message.contains(&platform), "{message}");
    // A few resyncs later A's rows are untouched and B's got none.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        a.db.get_environment("prod").await.unwrap().unwrap(),
        env_before
    );
    assert_eq!(
        a.db.get_contact_center("acme").await.unwrap().unwrap(),
        cc_before
    );
    assert_eq!(
        a.db.get_client("web").await.unwrap().unwrap(),
        client_before
    );
    assert!(a.db.get_contact_center("beta-b").await.unwrap().is_none());
    assert!(a.db.get_client("admin-b").await.unwrap().is_none());
    assert!(a
        .db
        .find_contact_center_by_domain("evil")
        .await
        .unwrap()
        .is_none());

    // The same unbound management client is fine from the platform namespace.
    a.create::<OAuthClient>(oauth_client(
        "admin",
        json!({"clientId": "admin-a", "authorities": ["ROLE_MANAGEMENT_APPLICATION"]}),
    ))
    .await;
    ready_is::<OAuthClient>(&a, "admin", "True", None).await;

    // A row created through the API stays the API's, even in the platform namespace.
    let mut by_api = client_before.clone();
    by_api.client_id = "made-by-api".into();
    by_api.contact_center_ids = vec![];
    a.db.create_client(&by_api).await.unwrap();
    a.create::<OAuthClient>(oauth_client(
        "takeover",
        json!({"clientId": "made-by-api", "redirectUris": ["https://attacker.example/cb"]}),
    ))
    .await;
    let message = stalled::<OAuthClient>(&a, "takeover", "OwnedElsewhere").await;
    assert!(message.contains("API"), "{message}");
    let kept = a.db.get_client("made-by-api").await.unwrap().unwrap();
    assert_eq!(kept.redirect_uris, by_api.redirect_uris);

    // Deleting the refused resources deletes none of the rows they named,
    // and does not hang on the finalizer.
    a.api::<OAuthClient>()
        .delete("takeover", &DeleteParams::default())
        .await
        .unwrap();
    for name in ["evil", "beta"] {
        b.api::<ContactCenter>()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    for name in ["web", "admin"] {
        b.api::<OAuthClient>()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    b.api::<Environment>()
        .delete("prod", &DeleteParams::default())
        .await
        .unwrap();
    eventually("B's resources gone", || async {
        let none = b
            .api::<ContactCenter>()
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            && b.api::<OAuthClient>()
                .list(&Default::default())
                .await
                .ok()?
                .items
                .is_empty()
            && b.api::<Environment>()
                .list(&Default::default())
                .await
                .ok()?
                .items
                .is_empty()
            && a.api::<OAuthClient>()
                .get_opt("takeover")
                .await
                .ok()?
                .is_none();
        none.then_some(())
    })
    .await;
    assert_eq!(
        a.db.get_environment("prod").await.unwrap().unwrap(),
        env_before
    );
    assert_eq!(
        a.db.get_contact_center("acme").await.unwrap().unwrap(),
        cc_before
    );
    assert_eq!(
        a.db.get_client("web").await.unwrap().unwrap(),
        client_before
    );
    assert!(a.db.get_client("made-by-api").await.unwrap().is_some());
    ready_is::<OAuthClient>(&a, "web", "True", None).await;

    // The owner still cleans up its own rows.
    a.api::<OAuthClient>()
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("A's client row deleted", || async {
        a.db.get_client("web").await.ok()?.is_none().then_some(())
    })
    .await;
}

/// A ContactCenter uses another namespace's Environment only when it names
/// the namespace and the Environment shares itself with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespaces_environment_is_used_only_when_shared() {
    let Some(a) = harness("shared_a").await else {
        return;
    };
    let b = watching(
        a.client.clone(),
        a.db.clone(),
        "shared_b",
        Some(&a.ns),
        false,
    )
    .await;
    a.secret("cs-password", json!({"password": "pw"})).await;
    a.create::<Environment>(environment("shared", "cs-password"))
        .await;
    ready_is::<Environment>(&a, "shared", "True", None).await;
    let mut cc = contact_center("tenant", "shared");
    cc["spec"]["environmentNamespace"] = json!(a.ns);
    b.create::<ContactCenter>(cc).await;
    let message = stalled::<ContactCenter>(&b, "tenant", "EnvironmentNotFound").await;
    assert!(message.contains("not shared"), "{message}");
    assert!(a.db.get_contact_center("tenant").await.unwrap().is_none());

    a.api::<Environment>()
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sharedWithNamespaces": [b.ns]}})),
        )
        .await
        .unwrap();
    ready_is::<ContactCenter>(&b, "tenant", "True", None).await;
    let row = a.db.get_contact_center("tenant").await.unwrap().unwrap();
    assert_eq!(row.environment_id, "shared");
}

/// Rows older than recorded owners are refused until the operator runs with
/// `--adopt-unowned-rows`; a row created through the API never is adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_older_than_owners_are_adopted_only_when_asked() {
    let Some(a) = harness("legacy").await else {
        return;
    };
    let mut old = tollgate_operator::environment::desired(
        "old",
        &serde_json::from_value(json!({"username": "legacy", "tenant": "Legacy"})).unwrap(),
        None,
    )
    .unwrap();
    a.db.create_environment(&old).await.unwrap();
    old.id = "by-api".into();
    a.db.create_environment(&old).await.unwrap();
    // What migration 0010 leaves on rows it found.
    a.db.pool()
        .execute("UPDATE environments SET managed_by = 'unknown' WHERE id = 'old'")
        .await
        .unwrap();
    a.secret("cs-password", json!({"password": "pw"})).await;
    a.create::<Environment>(environment("old", "cs-password"))
        .await;
    let message = stalled::<Environment>(&a, "old", "OwnedElsewhere").await;
    assert!(message.contains("--adopt-unowned-rows"), "{message}");
    assert_eq!(
        a.db.get_environment("old").await.unwrap().unwrap().tenant,
        "Legacy"
    );

    let c = watching(a.client.clone(), a.db.clone(), "legacy_adopt", None, true).await;
    c.secret("cs-password", json!({"password": "pw"})).await;
    c.create::<Environment>(environment("old", "cs-password"))
        .await;
    let mut by_api = environment("api", "cs-password");
    by_api["spec"]["id"] = json!("by-api");
    c.create::<Environment>(by_api).await;
    ready_is::<Environment>(&c, "old", "True", None).await;
    assert_eq!(
        a.db.get_environment("old").await.unwrap().unwrap().tenant,
        "Resources"
    );
    let owner =
        a.db.row_owner(tollgate_store::model::ManagedRow::Environment, "old")
            .await
            .unwrap();
    assert!(
        matches!(&owner, Some(tollgate_store::model::RowOwner::Resource(r)) if r.namespace == c.ns && r.name == "old"),
        "{owner:?}"
    );
    let message = stalled::<Environment>(&c, "api", "OwnedElsewhere").await;
    assert!(message.contains("API"), "{message}");
    assert_eq!(
        a.db.get_environment("by-api")
            .await
            .unwrap()
            .unwrap()
            .tenant,
        "Legacy"
    );
}
