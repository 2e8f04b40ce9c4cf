//! The contact-center settings of the Environment API (LDAP directory, OIDC
//! provider, SAML, trusted issuers): the next sign-in uses each write, and
//! every write leaves this replica's caches current, so nothing waits for
//! the next poll. (The LDAP directory's sign-ins are in
//! `environment_api::ldap_contact_center_uses_its_stored_directory`.)

use crate::common;
use crate::jwt_bearer::{claims, key, sign, Key, IDP};
use crate::saml_idp::{idp_metadata, KeyPair, IDP_ENTITY};

use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use serde_json::{json, Value};
use tollgate::web::browser::i18n::Lang;

const CCS: &str = "/environment/v3/contact-centers";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

on_both!(
    oidc_provider_writes_are_used_at_once,
    saml_writes_are_used_at_once,
    trusted_issuer_writes_are_used_at_once,
    every_write_leaves_this_replica_current,
);

async fn set_auth(s: &TestServer, auth: &str) {
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": auth}))
        .await
        .expect(StatusCode::OK);
}

/// The status of a single-sign-on start for the demo contact center.
async fn sso_start(s: &TestServer) -> StatusCode {
    let cc = s.state.catalog.contact_center("demo").expect("demo");
    tollgate::web::browser::sso::start(&s.state, Lang::En, &cc, "alice", None)
        .await
        .status()
}

/// An OpenID provider on a loopback port that answers discovery; its issuer.
async fn discoverable_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(document) }),
        )
        .route("/jwks", get(|| async { Json(json!({"keys": []})) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

async fn oidc_provider_writes_are_used_at_once(s: TestServer) {
    let issuer = discoverable_provider().await;
    set_auth(&s, "oidc").await;
    let path = format!("{CCS}/demo/oidc-provider");
    assert_eq!(sso_start(&s).await, StatusCode::SERVICE_UNAVAILABLE);
    s.ops_put(
        &path,
        json!({"issuer": issuer, "clientId": "rp", "clientSecret": "rp-secret"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(sso_start(&s).await, StatusCode::OK);
    s.ops_delete(&path).await.expect(StatusCode::OK);
    assert_eq!(sso_start(&s).await, StatusCode::SERVICE_UNAVAILABLE);
}

async fn saml_writes_are_used_at_once(s: TestServer) {
    let idp = KeyPair::generate("idp");
    set_auth(&s, "saml").await;
    let path = format!("{CCS}/demo/saml");
    assert_eq!(sso_start(&s).await, StatusCode::SERVICE_UNAVAILABLE);
    s.ops_put(
        &path,
        json!({"idpMetadata": idp_metadata(IDP_ENTITY, &idp.cert_der)}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(sso_start(&s).await, StatusCode::OK);
    s.ops_delete(&path).await.expect(StatusCode::OK);
    assert_eq!(sso_start(&s).await, StatusCode::SERVICE_UNAVAILABLE);
}

/// A JWT bearer grant for the demo user, asserted by `IDP` with key `k`.
async fn jwt_grant(s: &TestServer, k: &Key) -> Res {
    let assertion = sign(k, &claims(DEMO_USER));
    s.token(
        DEMO,
        &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
    )
    .await
}

fn assert_untrusted(res: &Res) {
    let e = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let description = e["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("not trusted"), "{e}");
}

async fn trusted_issuer_writes_are_used_at_once(s: TestServer) {
    let path = format!("{CCS}/demo/trusted-issuers");
    let k = key("k1");
    assert_untrusted(&jwt_grant(&s, &k).await);
    s.ops_post(
        &path,
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "algorithms": ["ES256"]}),
    )
    .await
    .expect(StatusCode::OK);
    jwt_grant(&s, &k).await.tokens();
    s.ops(Method::DELETE, &format!("{path}?issuer={IDP}"), None)
        .await
        .expect(StatusCode::OK);
    assert_untrusted(&jwt_grant(&s, &k).await);
}

/// Every write to a sub-resource ends by bringing this replica's caches up
/// to date (`propagate`): a change stored just before by another writer
/// (here straight into the database, as the operator or another replica
/// does; on SQLite no notification announces it) is seen here once the
/// write has answered, not at the next poll.
async fn every_write_leaves_this_replica_current(s: TestServer) {
    let idp = KeyPair::generate("idp");
    let cc = |sub: &str| format!("{CCS}/demo/{sub}");
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::PUT,
            cc("directory"),
            Some(json!({"urls": ["ldap://127.0.0.1:1"], "bindMode": "direct",
                        "bindDnTemplate": "uid={username},dc=example,dc=org",
                        "baseDn": "dc=example,dc=org"})),
        ),
        (Method::DELETE, cc("directory"), None),
        (
            Method::PUT,
            cc("oidc-provider"),
            Some(json!({"issuer": "https://idp.example", "clientId": "rp",
                        "clientSecret": "rp-secret"})),
        ),
        (Method::DELETE, cc("oidc-provider"), None),
        (
            Method::PUT,
            cc("saml"),
            Some(json!({"idpMetadata": idp_metadata(IDP_ENTITY, &idp.cert_der)})),
        ),
        (Method::POST, cc("saml/rotate-key"), None),
        (Method::DELETE, cc("saml"), None),
        (
            Method::POST,
            cc("trusted-issuers"),
            Some(json!({"issuer": "https://jwt.example",
                        "jwksUri": "https://jwt.example/jwks"})),
        ),
        (
            Method::DELETE,
            cc("trusted-issuers?issuer=https://jwt.example"),
            None,
        ),
    ];
    for (n, (method, path, data)) in writes.into_iter().enumerate() {
        let name = format!("renamed-{n}");
        let mut stored = s.db.get_contact_center("demo").await.unwrap().unwrap();
        stored.name = name.clone();
        s.db.update_contact_center(&stored).await.unwrap();
        let seen = || s.state.catalog.contact_center("demo").unwrap().name.clone();
        assert_ne!(seen(), name, "nothing told this replica yet");
        let body = data.map(|d| json!({ "data": d }));
        s.ops(method.clone(), &path, body)
            .await
            .expect(StatusCode::OK);
        assert_eq!(seen(), name, "{method} {path} left this replica behind");
    }
}
