//! The row reconcilers against a mocked API server (a `tower_test` service
//! behind a `kube::Client`) and an in-memory SQLite store: each scenario
//! answers the exact requests a reconcile must make, in order, and fails on
//! any other. Nothing outside the process is needed.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::Client;
use serde_json::{json, Value};
use tollgate_store::model::{ResourceRef, RowOwner};
use tollgate_store::{Cipher, Db};

use crate::context::{Context, Error, FINALIZER};
use crate::crd::{ContactCenter, Environment};
use crate::metrics::Metrics;
use crate::rows::reconcile;

const NS: &str = "tenant";
const ENVIRONMENTS: &str = "/apis/tollgate.dev/v1alpha1/namespaces/tenant/environments";
const CONTACT_CENTERS: &str = "/apis/tollgate.dev/v1alpha1/namespaces/tenant/contactcenters";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/tenant/events?";
const STATUS_QUERY: &str = "status?&force=true&fieldManager=tollgate-operator";

/// The API server's side of the mock: the requests the reconciler sends.
struct ApiServer(tower_test::mock::Handle<Request<Body>, Response<Body>>);

impl ApiServer {
    /// Takes the next request, checks its method and URI, and answers
    /// `status` with `respond(request body)`; returns the request body.
    async fn expect(
        &mut self,
        method: Method,
        uri: &str,
        status: StatusCode,
        respond: impl FnOnce(&Value) -> Value,
    ) -> Value {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("no request came; expected {method} {uri}"))
            .unwrap_or_else(|| panic!("the client is gone; expected {method} {uri}"));
        assert_eq!(
            (request.method(), request.uri().to_string().as_str()),
            (&method, uri)
        );
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        let answer = serde_json::to_vec(&respond(&body)).unwrap();
        let response = Response::builder().status(status).body(Body::from(answer));
        send.send_response(response.unwrap());
        body
    }

    async fn ok(&mut self, method: Method, uri: &str, respond: Value) -> Value {
        self.expect(method, uri, StatusCode::OK, |_| respond).await
    }

    async fn not_found(&mut self, uri: &str) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"});
        self.expect(Method::GET, uri, StatusCode::NOT_FOUND, |_| status)
            .await;
    }

    /// Checks that no request follows the scenario's last one (an Event the
    /// reconciler failed to record would otherwise go unnoticed).
    async fn done(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.0.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected request: {} {}", request.method(), request.uri());
        }
    }

    /// An Event the reconciler records; returns it.
    async fn event(&mut self) -> Value {
        self.expect(Method::POST, EVENTS, StatusCode::CREATED, |e| e.clone())
            .await
    }

    /// The server-side-applied status of `path`'s object; returns the patch.
    async fn status(&mut self, path: &str, object: &Value) -> Value {
        let uri = format!("{path}/{STATUS_QUERY}");
        self.ok(Method::PATCH, &uri, object.clone()).await
    }
}

/// A context on the mocked API server and a fresh in-memory store.
async fn context() -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let db = Db::connect("sqlite::memory:", Cipher::new(&[7u8; 32]).unwrap())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let ctx = Context::new(client, db, "tollgate-operator", metrics);
    (Arc::new(ctx), ApiServer(handle))
}

fn environment(finalizers: &[&str], deleting: bool) -> Value {
    let mut env = json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "Environment",
        "metadata": {"name": "prod", "namespace": NS, "uid": "uid-env", "generation": 1,
            "finalizers": finalizers},
        "spec": {
            "username": "svc",
            "passwordSecretRef": {"name": "cs-password", "key": "password"},
            "configServers": [{"primaryAddress": "cs1.example", "primaryPort": 8888}]
        }
    });
    if deleting {
        env["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
    }
    env
}

fn contact_center() -> Value {
    json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ContactCenter",
        "metadata": {"name": "acme", "namespace": NS, "uid": "uid-cc", "generation": 2,
            "finalizers": [FINALIZER]},
        "spec": {
            "environmentRef": "prod",
            "domains": ["acme"],
            "auth": "oidc",
            "oidcProvider": {
                "issuer": "https://login.example.com",
                "clientId": "tollgate",
                "clientSecretRef": {"name": "idp", "key": "clientSecret"}
            }
        }
    })
}

fn owner(name: &str, uid: &str) -> RowOwner {
    RowOwner::Resource(ResourceRef {
        namespace: NS.into(),
        name: name.into(),
        uid: uid.into(),
    })
}

/// The row the environment resource above asks for, written by it.
async fn stored_environment(ctx: &Context) {
    let env: Environment = serde_json::from_value(environment(&[], false)).unwrap();
    let row = crate::environment::desired("prod", &env.spec, Some("pw".into())).unwrap();
    ctx.db
        .create_environment_as(&row, &owner("prod", "uid-env"))
        .await
        .unwrap();
}

fn condition<'a>(status_patch: &'a Value, kind: &str) -> &'a Value {
    status_patch["status"]["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status_patch}"))
}

#[tokio::test]
async fn the_finalizer_comes_first_then_the_row_then_the_status() {
    let (ctx, mut api) = context().await;
    let fresh = environment(&[], false);
    let obj: Environment = serde_json::from_value(fresh.clone()).unwrap();
    let server = tokio::spawn(async move {
        let mut with_finalizer = fresh.clone();
        with_finalizer["metadata"]["finalizers"] = json!([FINALIZER]);
        let patch = api
            .ok(
                Method::PATCH,
                &format!("{ENVIRONMENTS}/prod?"),
                with_finalizer,
            )
            .await;
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": null},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
            ])
        );
        api.done().await;
        api
    });
    let action = reconcile(Arc::new(obj), ctx.clone()).await.unwrap();
    assert_eq!(
        action,
        Action::await_change(),
        "the patch brings a new event"
    );
    let mut api = server.await.unwrap();
    assert!(ctx.db.get_environment("prod").await.unwrap().is_none());

    // The next reconcile sees the finalizer: Secret, row, status.
    let env = environment(&[FINALIZER], false);
    let obj: Environment = serde_json::from_value(env.clone()).unwrap();
    let server = tokio::spawn(async move {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cs-password", "namespace": NS},
            "data": {"password": "cHc="}});
        api.ok(
            Method::GET,
            "/api/v1/namespaces/tenant/secrets/cs-password",
            secret,
        )
        .await;
        let created = api.event().await;
        assert_eq!(
            (&created["reason"], &created["note"]),
            (&json!("Created"), &json!("environment prod created"))
        );
        let status = api.status(&format!("{ENVIRONMENTS}/prod"), &env).await;
        assert_eq!(status["status"]["id"], "prod");
        assert_eq!(status["status"]["observedGeneration"], 1);
        let ready = condition(&status, "Ready");
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("True"), &json!("Reconciled"))
        );
        assert_eq!(api.event().await["reason"], "Reconciled");
        api.done().await;
    });
    let action = reconcile(Arc::new(obj), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.resync));
    server.await.unwrap();
    let row = ctx.db.get_environment("prod").await.unwrap().unwrap();
    assert_eq!(
        (row.username.as_str(), row.password.as_deref()),
        ("svc", Some("pw"))
    );
}

#[tokio::test]
async fn a_missing_secret_stalls_and_writes_no_row() {
    let (ctx, mut api) = context().await;
    let env = environment(&[FINALIZER], false);
    let obj: Environment = serde_json::from_value(env.clone()).unwrap();
    let server = tokio::spawn(async move {
        api.not_found("/api/v1/namespaces/tenant/secrets/cs-password")
            .await;
        let status = api.status(&format!("{ENVIRONMENTS}/prod"), &env).await;
        let stalled = condition(&status, "Stalled");
        assert_eq!(stalled["status"], "True");
        assert_eq!(stalled["reason"], "SecretNotFound");
        assert_eq!(
            stalled["message"],
            "Secret cs-password (key password) not found"
        );
        assert_eq!(condition(&status, "Ready")["status"], "False");
        let event = api.event().await;
        assert_eq!(
            (&event["type"], &event["reason"]),
            (&json!("Warning"), &json!("SecretNotFound"))
        );
        api.done().await;
    });
    let action = reconcile(Arc::new(obj), ctx.clone()).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(ctx.retry),
        "retried until the Secret exists"
    );
    server.await.unwrap();
    assert!(ctx.db.get_environment("prod").await.unwrap().is_none());
}

#[tokio::test]
async fn deletion_removes_the_row_then_the_finalizer() {
    let (ctx, mut api) = context().await;
    stored_environment(&ctx).await;
    let env = environment(&["other.example/keep", FINALIZER], true);
    let obj: Environment = serde_json::from_value(env.clone()).unwrap();
    let server = tokio::spawn(async move {
        let patch = api
            .ok(Method::PATCH, &format!("{ENVIRONMENTS}/prod?"), env)
            .await;
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                {"op": "remove", "path": "/metadata/finalizers/1"}
            ])
        );
        api.done().await;
    });
    let action = reconcile(Arc::new(obj), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    server.await.unwrap();
    assert!(ctx.db.get_environment("prod").await.unwrap().is_none());
}

#[tokio::test]
async fn an_environment_in_use_keeps_its_row_and_its_finalizer() {
    let (ctx, mut api) = context().await;
    stored_environment(&ctx).await;
    let cc: ContactCenter = serde_json::from_value(contact_center()).unwrap();
    let row = crate::contact_center::desired("acme", &cc.spec, "prod").unwrap();
    let cc_owner = owner("acme", "uid-cc");
    ctx.db
        .create_contact_center_as(&row, &cc_owner)
        .await
        .unwrap();
    let env = environment(&[FINALIZER], true);
    let obj: Environment = serde_json::from_value(env.clone()).unwrap();
    let server = tokio::spawn(async move {
        let status = api.status(&format!("{ENVIRONMENTS}/prod"), &env).await;
        let stalled = condition(&status, "Stalled");
        assert_eq!(
            (&stalled["status"], &stalled["reason"]),
            (&json!("True"), &json!("InUse"))
        );
        assert_eq!(api.event().await["reason"], "InUse");
        // No finalizer patch follows.
        api.done().await;
    });
    let err = reconcile(Arc::new(obj), ctx.clone()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Finalizer(e) if e.to_string().contains("still used by")),
        "{err}"
    );
    server.await.unwrap();
    assert!(ctx.db.get_environment("prod").await.unwrap().is_some());
}

#[tokio::test]
async fn a_contact_center_part_without_its_secret_stalls_the_contact_center() {
    let (ctx, mut api) = context().await;
    stored_environment(&ctx).await;
    let cc = contact_center();
    let obj: ContactCenter = serde_json::from_value(cc.clone()).unwrap();
    let server = tokio::spawn(async move {
        let env = environment(&[FINALIZER], false);
        api.ok(Method::GET, &format!("{ENVIRONMENTS}/prod"), env)
            .await;
        assert_eq!(api.event().await["note"], "contact center acme written");
        api.not_found("/api/v1/namespaces/tenant/secrets/idp").await;
        let status = api.status(&format!("{CONTACT_CENTERS}/acme"), &cc).await;
        let stalled = condition(&status, "Stalled");
        assert_eq!(stalled["reason"], "ClientSecretNotFound");
        assert_eq!(
            stalled["message"],
            "Secret idp (key clientSecret) not found or empty"
        );
        assert_eq!(status["status"]["observedGeneration"], 2);
        assert_eq!(api.event().await["reason"], "ClientSecretNotFound");
        api.done().await;
    });
    let action = reconcile(Arc::new(obj), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(ctx.retry));
    server.await.unwrap();
    assert!(ctx.db.get_contact_center("acme").await.unwrap().is_some());
    assert!(ctx.db.get_oidc_provider("acme").await.unwrap().is_none());
}
