//! Password sign-in is one implementation behind the password grant and the
//! sign-in page. Where the two used to differ, both now follow the safer
//! rule; these tests pin the rules on the grant, the path that changed.

use crate::common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use tollgate_store::model::{now, User};

const BAD: &str = "bad user name or password";
const TOO_MANY: &str = "too many failed attempts; try again later";
const CCS: &str = "/environment/v3/contact-centers";

/// The error description of a refused password grant of `client`.
async fn refusal(s: &TestServer, client: ClientAuth<'_>, login: &str, password: &str) -> String {
    let res = s
        .token(
            client,
            &[
                ("grant_type", "password"),
                ("username", login),
                ("password", password),
            ],
        )
        .await;
    let e = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    e["error_description"].as_str().unwrap_or("").to_string()
}

/// An unknown tenant is answered like a wrong password (it used to be named
/// as unknown), and guessing it is locked out like guessing passwords.
#[tokio::test]
async fn the_grant_answers_an_unknown_tenant_like_a_wrong_password() {
    let s = TestServer::new().await;
    assert_eq!(refusal(&s, DEMO, "demo\\agent", "wrong").await, BAD);
    for i in 0..4 {
        assert_eq!(
            refusal(&s, DEMO, "nowhere\\agent", &format!("w{i}")).await,
            BAD
        );
    }
    assert_eq!(
        refusal(&s, DEMO, "nowhere\\agent", "w5").await,
        BAD,
        "the fifth attempt is still checked"
    );
    assert_eq!(
        refusal(&s, DEMO, "nowhere\\agent", "w6").await,
        TOO_MANY,
        "unknown tenants count toward the lockout"
    );
}

/// A disabled tenant is answered like an unknown one (it used to say it was
/// disabled).
#[tokio::test]
async fn the_grant_answers_a_disabled_tenant_like_a_wrong_password() {
    let s = TestServer::new().await;
    s.ops_put(&format!("{CCS}/demo"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.expect("sync");
    assert_eq!(refusal(&s, DEMO, "demo\\agent", DEMO_PASSWORD).await, BAD);
}

/// A client bound to other contact centers learns that it may not sign in a
/// user only after the user's right password, so it cannot tell existing
/// tenants from unknown ones either.
#[tokio::test]
async fn a_bound_client_is_refused_a_tenant_only_after_the_password() {
    let s = TestServer::new().await;
    let env = s.state.catalog.contact_center("demo").expect("demo");
    s.ops_post(
        CCS,
        json!({"id": "other", "environmentId": env.environment_id, "domains": ["other"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let secret = s
        .create_client(
            json!({"client_id": "bound", "authorizedGrantTypes": ["password"],
                              "contactCenterIds": ["other"]}),
        )
        .await
        .expect("secret");
    let bound = ClientAuth::Basic("bound", &secret);
    assert_eq!(refusal(&s, bound, "demo\\agent", "wrong").await, BAD);
    assert_eq!(refusal(&s, bound, "nowhere\\agent", "wrong").await, BAD);
    assert_eq!(
        refusal(&s, bound, "demo\\agent", DEMO_PASSWORD).await,
        "this client may not sign in users of this tenant"
    );
}

/// A right but expired password forgives earlier failures, as on the sign-in
/// page (the grant used to leave each such attempt counted, so a client
/// retrying it locked its user out of changing the password too).
#[tokio::test]
async fn an_expired_password_is_not_counted_as_a_failure() {
    let s = TestServer::new().await;
    let t = now();
    s.db.create_user(&User {
        id: uuid::Uuid::new_v4().to_string(),
        contact_center_id: "demo".into(),
        username: "expired".into(),
        password_hash: tollgate_core::secrets::hash_secret("old-password").expect("hash"),
        dbid: 0,
        first_name: "E".into(),
        last_name: "X".into(),
        email: "expired@demo.example".into(),
        authorities: vec!["ROLE_AGENT".into()],
        properties: Default::default(),
        enabled: true,
        must_change_password: true,
        version: 1,
        created_at: t,
        updated_at: t,
    })
    .await
    .expect("create user");
    for i in 0..8 {
        assert_eq!(
            refusal(&s, DEMO, "demo\\expired", "old-password").await,
            "the password has expired and must be changed",
            "attempt {i}"
        );
    }
}
