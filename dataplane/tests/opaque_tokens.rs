//! Opaque access tokens (`accessTokenFormat: opaque`): UUIDs, as the
//! original's, accepted wherever Tollgate's JWTs are (introspection, the
//! user-info endpoints, convert-token), ended at once by revocation and
//! sign-out, and kept durably so the loss of the ephemeral store does not
//! end them.

use crate::common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};
use tollgate_core::tokens::{opaque, token_digest};

const USERINFO: &str = "/auth/v3/userinfo";
const OPENID_USERINFO: &str = "/auth/v3/openid/userinfo";
const JWT_USERINFO: &str = "/auth/v3/jwt-userinfo";
const CONVERT: &str = "/auth/v3/oauth/convert-token";
const SIGN_OUT: &str = "/auth/v3/sign-out";

on_both!(
    redis: both_grants_issue_uuids_that_introspection_reads,
    the_bearer_endpoints_accept_them,
    revocation_ends_them_at_once,
    sign_out_ends_them,
    they_survive_the_loss_of_the_ephemeral_store,
    other_clients_see_them_by_the_introspection_rules,
);

async fn make_demo_opaque(s: &TestServer) {
    let res = s
        .ops_put(
            &format!("{CLIENTS}/{DEMO_CLIENT}"),
            json!({"accessTokenFormat": "opaque"}),
        )
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["accessTokenFormat"], "opaque");
}

/// A random (v4) UUID in its usual hyphenated form.
fn assert_uuid(token: &str) {
    let id = uuid::Uuid::parse_str(token).unwrap_or_else(|e| panic!("{token}: {e}"));
    assert_eq!(id.get_version_num(), 4, "{token}");
    assert_eq!(id.hyphenated().to_string(), token);
}

async fn introspected(s: &TestServer, token: &str) -> Value {
    let v = s.introspect(DEMO, token).await.json();
    assert_eq!(v["active"], true, "{v}");
    v
}

async fn both_grants_issue_uuids_that_introspection_reads(s: TestServer) {
    let before = s.client_token().await;
    assert_eq!(before.split('.').count(), 3, "a JWT by default");
    make_demo_opaque(&s).await;

    let at = s.client_token().await;
    assert_uuid(&at);
    let v = introspected(&s, &at).await;
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["client_id"], DEMO_CLIENT);
    assert_eq!(v["sub"], DEMO_CLIENT);
    assert_eq!(v["iss"], ISSUER);
    assert_ne!(v["jti"], at.as_str(), "the token is not its own id");
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());

    let tokens = s.password_tokens(Some("openid profile")).await;
    assert_eq!(tokens["token_type"], "bearer");
    let at = str_of(&tokens, "access_token");
    assert_uuid(at);
    let v = introspected(&s, at).await;
    assert_eq!(v["username"], DEMO_USER);
    assert_eq!(v["sub"], "demo:agent");
    assert_eq!(v["scope"], "openid profile");
    assert_eq!(v["contact_center_id"], "demo");
    assert_eq!(v["environment_id"], "demo-environment");
    // The ID token stays a JWT, its at_hash of the opaque token.
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id["at_hash"], tollgate_core::tokens::half_hash(at).as_str());
    // A refreshed token is opaque too.
    let next = s
        .token(
            DEMO,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&tokens, "refresh_token")),
            ],
        )
        .await
        .tokens();
    assert_uuid(str_of(&next, "access_token"));
    assert_eq!(
        introspected(&s, str_of(&next, "access_token")).await["sub"],
        "demo:agent"
    );
    // A JWT issued before the switch still works; an unknown UUID does not.
    assert!(s.is_active(&before).await);
    assert!(!s.is_active(&uuid::Uuid::new_v4().to_string()).await);
}

async fn the_bearer_endpoints_accept_them(s: TestServer) {
    make_demo_opaque(&s).await;
    let at = str_of(
        &s.password_tokens(Some("openid profile")).await,
        "access_token",
    )
    .to_string();
    assert_uuid(&at);

    let res = s.bearer(Method::GET, USERINFO, &at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["loginName"], DEMO_USER);
    let res = s.bearer(Method::GET, OPENID_USERINFO, &at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["sub"], "demo:agent");
    s.bearer(Method::GET, JWT_USERINFO, &at)
        .await
        .expect(StatusCode::OK);
    let res = s.bearer(Method::POST, CONVERT, &at).await;
    res.expect(StatusCode::OK);
    assert!(res.json()["data"].is_object(), "{}", res.text());

    let unknown = uuid::Uuid::new_v4().to_string();
    for (method, path) in [
        (Method::GET, USERINFO),
        (Method::GET, OPENID_USERINFO),
        (Method::GET, JWT_USERINFO),
        (Method::POST, CONVERT),
    ] {
        s.bearer(method, path, &unknown)
            .await
            .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

async fn revocation_ends_them_at_once(s: TestServer) {
    make_demo_opaque(&s).await;
    let at = s.client_token().await;
    let other = s.client_token().await;
    assert!(s.is_active(&at).await);

    s.revoke(DEMO, &at).await.expect(StatusCode::OK);
    assert!(!s.is_active(&at).await);
    s.bearer(Method::GET, USERINFO, &at)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Forgotten by both stores, not only refused.
    assert_eq!(
        s.state
            .ephemeral
            .get(&opaque::cache_key(&at))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.db.opaque_token(&token_digest(&at), tollgate_store::model::now())
            .await
            .unwrap(),
        None
    );
    assert!(s.is_active(&other).await, "only the revoked token ends");
}

async fn sign_out_ends_them(s: TestServer) {
    make_demo_opaque(&s).await;
    let tokens = s.password_tokens(None).await;
    let at = str_of(&tokens, "access_token");
    let other = s.user_token().await;
    s.bearer(Method::POST, SIGN_OUT, at)
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(at).await);
    assert!(!s.is_active(str_of(&tokens, "refresh_token")).await);
    assert!(
        s.is_active(&other).await,
        "not global: the other token lives"
    );

    s.bearer(Method::POST, &format!("{SIGN_OUT}?global=true"), &other)
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(&other).await);
}

async fn they_survive_the_loss_of_the_ephemeral_store(s: TestServer) {
    make_demo_opaque(&s).await;
    let at = s.user_token().await;
    let key = opaque::cache_key(&at);
    let cached = s.state.ephemeral.get(&key).await.unwrap();
    let cached = String::from_utf8(cached.expect("cached on issue")).unwrap();
    assert!(!cached.contains(&at), "the claims do not carry the token");

    // What a Redis restart (or an evicted entry) leaves: the database's copy.
    assert!(s.state.ephemeral.delete(&key).await.unwrap());
    assert!(s.is_active(&at).await);
    s.bearer(Method::GET, USERINFO, &at)
        .await
        .expect(StatusCode::OK);
    assert!(
        s.state.ephemeral.get(&key).await.unwrap().is_some(),
        "the lookup filled the ephemeral store again"
    );

    // The database keeps the digest and the claims, never the token.
    let rows = stored_rows(&s, &at).await;
    assert_eq!(rows, (1, 0));
}

/// Rows keyed by the token's digest, and rows holding the token itself.
async fn stored_rows(s: &TestServer, token: &str) -> (i64, i64) {
    let count = |sql: &'static str, v: String| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(v)
            .fetch_one(s.db.pool())
            .await
            .unwrap()
    };
    (
        count(
            "SELECT COUNT(*) FROM opaque_tokens WHERE hash = $1",
            token_digest(token),
        )
        .await,
        count(
            "SELECT COUNT(*) FROM opaque_tokens WHERE hash LIKE $1 OR claims LIKE $1",
            format!("%{token}%"),
        )
        .await,
    )
}

async fn other_clients_see_them_by_the_introspection_rules(s: TestServer) {
    let create = |id: &'static str, extra: Value| {
        let mut data = json!({"client_id": id, "authorizedGrantTypes": ["client_credentials"]});
        data.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        data
    };
    let a_secret = s
        .create_client(create("app-a", json!({"accessTokenFormat": "opaque"})))
        .await
        .unwrap();
    let b_secret = s.create_client(create("app-b", json!({}))).await.unwrap();
    let rs_secret = s
        .create_client(create(
            "resource-server",
            json!({"authorities": ["ROLE_INTERNAL_CLIENT"]}),
        ))
        .await
        .unwrap();
    let (a, b, rs) = (
        ClientAuth::Basic("app-a", &a_secret),
        ClientAuth::Basic("app-b", &b_secret),
        ClientAuth::Basic("resource-server", &rs_secret),
    );
    let a_token = s.token_of("app-a", &a_secret).await;
    assert_uuid(&a_token);
    let b_token = s.token_of("app-b", &b_secret).await;
    assert_eq!(b_token.split('.').count(), 3, "app-b keeps JWTs");

    assert_eq!(s.introspect(a, &a_token).await.json()["active"], true);
    assert_eq!(
        s.introspect(b, &a_token).await.json(),
        json!({"active": false}),
        "another client does not see it"
    );
    let v = s.introspect(rs, &a_token).await.json();
    assert_eq!(v["active"], true, "an internal client does");
    assert_eq!(v["client_id"], "app-a");
    // Another client cannot revoke it either.
    s.revoke(b, &a_token).await.expect(StatusCode::OK);
    assert_eq!(s.introspect(a, &a_token).await.json()["active"], true);
}
