//! Browser sessions and refreshed grants follow the directory: a user
//! disabled, deleted, reset or whose contact center is gone loses their
//! session; refreshed tokens carry today's claims; userinfo answers only
//! what the token's scopes allow. Each scenario runs on SQLite with the
//! in-process store and on PostgreSQL with Redis (when configured).

use crate::common;

use axum::http::{Method, StatusCode};
use common::browser::*;
use common::*;
use serde_json::{json, Value};

const USERS: &str = "/environment/v3/contact-centers/demo/users";
const OPENID_USERINFO: &str = "/auth/v3/openid/userinfo";

on_both!(
    redis:
    disabling_ends_the_browser_session,
    deleting_ends_the_browser_session,
    password_reset_ends_the_browser_session,
    a_user_gone_from_the_directory_gets_no_code_from_an_old_session,
    a_disabled_contact_center_gets_no_code_from_an_old_session,
    refresh_carries_the_directorys_current_claims,
    a_code_from_an_old_session_carries_current_claims,
    userinfo_answers_what_the_scopes_allow,
);

/// Creates user `name` (password `<name>-password`) in the demo contact center.
async fn create_user(s: &TestServer, name: &str, authorities: &[&str]) -> String {
    let res = s
        .ops_post(
            USERS,
            json!({
                "userName": name,
                "password": format!("{name}-password"),
                "firstName": "Carol",
                "lastName": "Shaw",
                "email": format!("{name}@demo.example"),
                "authorities": authorities,
            }),
        )
        .await;
    res.expect(StatusCode::CREATED);
    str_of(&res.json()["data"], "id").to_string()
}

/// Signs `name` in through the browser; returns the browser, its session set.
async fn signed_in<'a>(s: &'a TestServer, name: &str) -> Browser<'a> {
    let mut b = Browser::new(s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("scope", "openid"),
    ]);
    let res = sign_in_through(
        &mut b,
        &url,
        &format!("demo\\{name}"),
        &format!("{name}-password"),
    )
    .await;
    res.expect(StatusCode::SEE_OTHER);
    assert!(params(&location(&res)).contains_key("code"));
    assert!(b.has("__Host-tollgate_session"));
    b
}

/// `/authorize` with `prompt=none`: the code, or the error.
async fn silent_authorize(b: &mut Browser<'_>) -> Result<String, String> {
    let res = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
            ("prompt", "none"),
        ]))
        .await;
    res.expect(StatusCode::FOUND);
    let p = params(&location(&res));
    match p.get("code") {
        Some(c) => Ok(c.clone()),
        None => Err(p.get("error").cloned().unwrap_or_default()),
    }
}

async fn assert_session_ended(b: &mut Browser<'_>, what: &str) {
    assert_eq!(
        silent_authorize(b).await,
        Err("login_required".to_string()),
        "the session outlived {what}"
    );
    b.get("/auth/v3/ping").await.expect(StatusCode::FORBIDDEN);
}

async fn disabling_ends_the_browser_session(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT"]).await;
    let mut b = signed_in(&s, "carol").await;
    silent_authorize(&mut b)
        .await
        .expect("a code from the session");
    s.ops_put(&format!("{USERS}/{id}"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    assert_session_ended(&mut b, "the disable").await;
    // Enabled again, the old session stays ended; a new sign-in works.
    s.ops_put(&format!("{USERS}/{id}"), json!({"enabled": true}))
        .await
        .expect(StatusCode::OK);
    assert_session_ended(&mut b, "the disable").await;
    let mut again = signed_in(&s, "carol").await;
    silent_authorize(&mut again).await.expect("a new session");
}

async fn deleting_ends_the_browser_session(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT"]).await;
    let mut b = signed_in(&s, "carol").await;
    s.ops_delete(&format!("{USERS}/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_session_ended(&mut b, "the delete").await;
}

async fn password_reset_ends_the_browser_session(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT"]).await;
    let mut b = signed_in(&s, "carol").await;
    s.ops_post(
        &format!("{USERS}/{id}/reset-password"),
        json!({"password": "carol-password-2"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_session_ended(&mut b, "the password reset").await;
    // The new password signs in at once (same second as the reset).
    let mut b = Browser::new(&s);
    let url = authorize_url(&[("response_type", "code"), ("client_id", DEMO_CLIENT)]);
    sign_in_through(&mut b, &url, "demo\\carol", "carol-password-2")
        .await
        .expect(StatusCode::SEE_OTHER);
    silent_authorize(&mut b)
        .await
        .expect("the session signed in after the reset");
}

/// A user removed behind the API's back (as from an external directory):
/// `/authorize` asks the directory before minting a code.
async fn a_user_gone_from_the_directory_gets_no_code_from_an_old_session(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT"]).await;
    let mut b = signed_in(&s, "carol").await;
    s.db.delete_user("demo", &id).await.expect("delete");
    assert_eq!(
        silent_authorize(&mut b).await,
        Err("login_required".to_string())
    );
    // Without prompt=none: the sign-in page, not a code.
    let res = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
        ]))
        .await;
    res.expect(StatusCode::FOUND);
    assert!(location(&res).starts_with("/ui/auth/sign-in?request="));
}

async fn a_disabled_contact_center_gets_no_code_from_an_old_session(s: TestServer) {
    create_user(&s, "carol", &["ROLE_AGENT"]).await;
    let mut b = signed_in(&s, "carol").await;
    let mut cc =
        s.db.get_contact_center("demo")
            .await
            .expect("read")
            .expect("demo");
    cc.enabled = false;
    s.db.update_contact_center(&cc).await.expect("update");
    s.state
        .sync(tollgate_store::model::now())
        .await
        .expect("sync");
    assert_eq!(
        silent_authorize(&mut b).await,
        Err("login_required".to_string())
    );
}

async fn authorities(s: &TestServer, access_token: &str) -> Vec<String> {
    let claims = s
        .state
        .verify_access_token(access_token)
        .await
        .expect("a valid token");
    claims.authorities.clone()
}

async fn refresh_carries_the_directorys_current_claims(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT", "ROLE_SUPERVISOR"]).await;
    let t = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "demo\\carol"),
                ("password", "carol-password"),
                // `*`: the ID token carries the profile beside the access token.
                ("scope", "openid *"),
            ],
        )
        .await
        .tokens();
    assert!(authorities(&s, str_of(&t, "access_token"))
        .await
        .contains(&"ROLE_SUPERVISOR".into()));
    let refresh = |t: serde_json::Value| {
        let s = &s;
        async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&t, "refresh_token")),
            ];
            s.token(DEMO, &form).await.tokens()
        }
    };
    // A refresh before the change: the directory's answer is remembered...
    let t = refresh(t).await;
    assert!(authorities(&s, str_of(&t, "access_token"))
        .await
        .contains(&"ROLE_SUPERVISOR".into()));
    s.ops_put(
        &format!("{USERS}/{id}"),
        json!({"authorities": ["ROLE_AGENT"], "firstName": "Caroline"}),
    )
    .await
    .expect(StatusCode::OK);
    // ...until the change is applied.
    let next = refresh(t).await;
    assert_eq!(
        authorities(&s, str_of(&next, "access_token")).await,
        vec!["ROLE_AGENT".to_string()],
        "the refreshed token kept an authority the directory removed"
    );
    let id_token = s.verify_jwt(str_of(&next, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id_token["given_name"], "Caroline");
}

async fn a_code_from_an_old_session_carries_current_claims(s: TestServer) {
    let id = create_user(&s, "carol", &["ROLE_AGENT", "ROLE_SUPERVISOR"]).await;
    let mut b = signed_in(&s, "carol").await;
    s.ops_put(
        &format!("{USERS}/{id}"),
        json!({"authorities": ["ROLE_AGENT"]}),
    )
    .await
    .expect(StatusCode::OK);
    let code = silent_authorize(&mut b).await.expect("a code");
    let t = s
        .token(
            DEMO,
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await
        .tokens();
    assert_eq!(
        authorities(&s, str_of(&t, "access_token")).await,
        vec!["ROLE_AGENT".to_string()]
    );
}

async fn userinfo(s: &TestServer, scope: &str) -> (StatusCode, Value) {
    let t = s.password_tokens(Some(scope)).await;
    let res = s
        .bearer(Method::GET, OPENID_USERINFO, str_of(&t, "access_token"))
        .await;
    (res.status, res.json())
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

async fn userinfo_answers_what_the_scopes_allow(s: TestServer) {
    let (status, v) = userinfo(&s, "openid").await;
    assert_eq!(status, StatusCode::OK);
    // OpenIdUserInfo requires `authorities` whatever the scopes.
    assert_eq!(keys(&v), ["authorities", "sub"], "{v}");
    assert_eq!(v["sub"], "demo:agent");

    let (_, v) = userinfo(&s, "openid profile").await;
    assert_eq!(
        keys(&v),
        [
            "authorities",
            "family_name",
            "given_name",
            "name",
            "preferred_username",
            "sub"
        ],
        "{v}"
    );
    assert_eq!(v["name"], "Demo Agent");

    let (_, v) = userinfo(&s, "openid email").await;
    assert_eq!(
        keys(&v),
        ["authorities", "email", "email_verified", "sub"],
        "{v}"
    );
    assert_eq!(v["email_verified"], false);

    // Without openid the endpoint is not for this token (OIDC Core §5.3).
    let (status, v) = userinfo(&s, "profile email").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(v["status"]["detail"]["error"], "insufficient_scope");

    // Scope `*` keeps the original's fields.
    let (_, v) = userinfo(&s, "*").await;
    for k in [
        "email",
        "name",
        "authorities",
        "dbid",
        "contact_center_id",
        "environment_id",
        "user_name",
        "properties",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
}
