//! Introspection (RFC 7662), revocation (RFC 7009) and the bearer-token
//! endpoints: user info, OpenID user info, sign-out and ping.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::*;
use serde_json::json;

const USERINFO: &str = "/auth/v3/userinfo";
const OPENID_USERINFO: &str = "/auth/v3/openid/userinfo";
const SIGN_OUT: &str = "/auth/v3/sign-out";
const PING: &str = "/auth/v3/ping";

// ---- Introspection ----------------------------------------------------------

#[tokio::test]
async fn introspects_access_and_refresh_tokens() {
    let s = TestServer::new().await;
    let tokens = s.password_tokens(Some("openid profile")).await;
    let at = str_of(&tokens, "access_token");

    let res = s.introspect(DEMO, at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header(header::CACHE_CONTROL), Some("no-store"));
    let v = res.json();
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["client_id"], DEMO_CLIENT);
    assert_eq!(v["username"], DEMO_USER);
    assert_eq!(v["sub"], "demo:agent");
    assert_eq!(v["scope"], "openid profile");
    assert_eq!(v["iss"], ISSUER);
    assert_eq!(v["aud"], ISSUER);
    assert_eq!(v["contact_center_id"], "demo");
    assert_eq!(v["environment_id"], "demo-environment");
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());

    let v = s
        .introspect(DEMO, str_of(&tokens, "refresh_token"))
        .await
        .json();
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["client_id"], DEMO_CLIENT);
    assert_eq!(v["sub"], "demo:agent");
    assert_eq!(v["username"], DEMO_USER);
    assert_eq!(v["scope"], "openid profile");

    // A client token: the client is the subject.
    let v = s
        .introspect(
            ClientAuth::Post(DEMO_CLIENT, DEMO_SECRET),
            &s.client_token().await,
        )
        .await
        .json();
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], DEMO_CLIENT);
    assert_eq!(v["username"], DEMO_CLIENT);
    assert!(v.get("contact_center_id").is_none());
}

#[tokio::test]
async fn garbage_and_tampered_tokens_are_inactive() {
    let s = TestServer::new().await;
    let at = s.client_token().await;
    // Flip one character of the signature.
    let mut tampered = at.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // An ID token is signed by the same key but is not an access token.
    let id_token = s.password_tokens(Some("openid")).await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    for token in ["garbage", "a.b.c", tampered.as_str(), id_token.as_str()] {
        let res = s.introspect(DEMO, token).await;
        res.expect(StatusCode::OK);
        assert_eq!(res.json(), json!({"active": false}), "{token}");
    }
}

#[tokio::test]
async fn introspection_requires_client_authentication_and_a_token() {
    let s = TestServer::new().await;
    let at = s.client_token().await;
    let res = s.introspect(ClientAuth::None, &at).await;
    res.expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(res.header(header::WWW_AUTHENTICATE).is_some());
    s.introspect(ClientAuth::Basic(DEMO_CLIENT, "wrong"), &at)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.post_form(INTROSPECT, DEMO, &[])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn callers_see_only_their_own_tokens_unless_internal() {
    let s = TestServer::new().await;
    let a_secret = s
        .create_client(
            json!({"client_id": "app-a", "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .unwrap();
    let b_secret = s
        .create_client(
            json!({"client_id": "app-b", "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .unwrap();
    let rs_secret = s
        .create_client(json!({"client_id": "resource-server", "authorities": ["ROLE_INTERNAL_CLIENT"], "authorizedGrantTypes": ["client_credentials"]}))
        .await
        .unwrap();
    let (a, b, rs) = (
        ClientAuth::Basic("app-a", &a_secret),
        ClientAuth::Basic("app-b", &b_secret),
        ClientAuth::Basic("resource-server", &rs_secret),
    );
    let a_token = s
        .token(a, &[("grant_type", "client_credentials")])
        .await
        .tokens()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let user = s.password_tokens(None).await;

    assert_eq!(
        s.introspect(a, &a_token).await.json()["active"],
        true,
        "own token"
    );
    assert_eq!(
        s.introspect(b, &a_token).await.json(),
        json!({"active": false}),
        "another client's access token"
    );
    assert_eq!(
        s.introspect(b, str_of(&user, "refresh_token")).await.json(),
        json!({"active": false}),
        "another client's refresh token"
    );
    assert_eq!(
        s.introspect(rs, &a_token).await.json()["active"],
        true,
        "ROLE_INTERNAL_CLIENT sees all"
    );
    assert_eq!(
        s.introspect(DEMO, &a_token).await.json()["active"],
        true,
        "internalClient sees all"
    );
    assert_eq!(
        s.introspect(rs, str_of(&user, "refresh_token"))
            .await
            .json()["active"],
        true
    );
}

#[tokio::test]
async fn public_clients_cannot_introspect() {
    // Discovery advertises only authenticated methods for introspection; a
    // public client_id is no authentication (RFC 7662 §2.1, §4).
    // (A public client revoking its own token: `authorize.rs`,
    // public_client_code_flow_without_secret.)
    let s = TestServer::new().await;
    s.create_client(json!({"client_id": "spa", "clientType": "PUBLIC", "authorizedGrantTypes": ["authorization_code", "refresh_token"], "redirectURIs": ["https://spa.example/cb"]})).await;
    let at = s.user_token().await;
    let res = s.introspect(ClientAuth::Public("spa"), &at).await;
    res.expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let meta = s.get("/.well-known/openid-configuration").await.json();
    assert!(!meta["introspection_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("none")));
}

// ---- Revocation -------------------------------------------------------------

#[tokio::test]
async fn revoking_an_access_token_makes_it_inactive_everywhere() {
    let s = TestServer::new().await;
    let at = s.user_token().await;
    s.bearer(Method::GET, USERINFO, &at)
        .await
        .expect(StatusCode::OK);

    let res = s.revoke(DEMO, &at).await;
    res.expect(StatusCode::OK);
    assert!(!s.is_active(&at).await);
    let res = s.bearer(Method::GET, USERINFO, &at).await;
    res.expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(res
        .header(header::WWW_AUTHENTICATE)
        .unwrap()
        .starts_with("Bearer"));
    // Revoking again is harmless.
    s.revoke(DEMO, &at).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family() {
    let s = TestServer::new().await;
    let first = s.password_tokens(None).await;
    let rt1 = str_of(&first, "refresh_token");
    let second = s
        .token(
            DEMO,
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        )
        .await
        .tokens();
    let rt2 = str_of(&second, "refresh_token");

    s.revoke(ClientAuth::Post(DEMO_CLIENT, DEMO_SECRET), rt2)
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(rt2).await);
    // Every access token of the grant ends with it (RFC 7009 §2.1).
    for t in [&first, &second] {
        assert!(!s.is_active(str_of(t, "access_token")).await);
    }
    s.token(
        DEMO,
        &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // A new sign-in starts a new, live family.
    let fresh = s.password_tokens(None).await;
    s.token(
        DEMO,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&fresh, "refresh_token")),
        ],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn revocation_of_unknown_or_foreign_tokens_is_a_silent_200() {
    let s = TestServer::new().await;
    let b_secret = s
        .create_client(
            json!({"client_id": "app-b", "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .unwrap();
    let b = ClientAuth::Basic("app-b", &b_secret);
    for token in ["unknown-opaque-token", "x.y.z"] {
        let res = s.revoke(DEMO, token).await;
        res.expect(StatusCode::OK);
        assert!(res.body.is_empty());
    }
    // Another client's tokens are left alone, with the same answer.
    let user = s.password_tokens(None).await;
    let at = str_of(&user, "access_token");
    let rt = str_of(&user, "refresh_token");
    s.revoke(b, at).await.expect(StatusCode::OK);
    s.revoke(b, rt).await.expect(StatusCode::OK);
    assert!(s.is_active(at).await);
    assert!(s.is_active(rt).await);
    // Errors: no client authentication, no token.
    s.revoke(ClientAuth::None, at)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.post_form(REVOKE, DEMO, &[])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

// ---- User info ----------------------------------------------------------------

#[tokio::test]
async fn userinfo_for_users_and_clients() {
    let s = TestServer::new().await;
    let v = s.bearer(Method::GET, USERINFO, &s.user_token().await).await;
    v.expect(StatusCode::OK);
    let v = v.json();
    let stored =
        s.db.find_user_by_name("demo", DEMO_USER)
            .await
            .unwrap()
            .unwrap();
    // The original's username: contact center, DBID and user name.
    assert_eq!(v["username"], format!("demo:{}:{DEMO_USER}", stored.dbid));
    assert_eq!(v["loginName"], DEMO_USER);
    assert_eq!(v["cmeUserName"], DEMO_USER);
    assert_eq!(v["contactCenterId"], "demo");
    assert_eq!(v["environmentId"], "demo-environment");
    assert_eq!(
        v["authorities"],
        json!([{"name": "ROLE_AGENT", "privileges": []}])
    );
    assert_eq!(v["dbid"], stored.dbid);

    let v = s
        .bearer(Method::GET, USERINFO, &s.client_token().await)
        .await
        .json();
    assert_eq!(
        v,
        json!({"username": DEMO_CLIENT, "authorities": [
            {"name": "ROLE_INTERNAL_CLIENT", "privileges": []},
            {"name": "ROLE_MANAGEMENT_APPLICATION", "privileges": []},
        ]})
    );
}

#[tokio::test]
async fn userinfo_requires_a_valid_bearer_token() {
    let s = TestServer::new().await;
    let res = s.get(USERINFO).await;
    res.expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(res
        .header(header::WWW_AUTHENTICATE)
        .unwrap()
        .contains("invalid_token"));
    s.bearer(Method::GET, USERINFO, "not-a-jwt")
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // A refresh token is not a bearer token.
    let rt = s.password_tokens(None).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    s.bearer(Method::GET, USERINFO, &rt)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn openid_userinfo_for_users_only() {
    let s = TestServer::new().await;
    let at = s.user_token().await;
    for method in [Method::GET, Method::POST] {
        let res = s.bearer(method, OPENID_USERINFO, &at).await;
        res.expect(StatusCode::OK);
        let v = res.json();
        assert_eq!(v["sub"], "demo:agent");
        assert_eq!(v["preferred_username"], DEMO_USER);
        assert_eq!(v["user_name"], DEMO_USER);
        assert_eq!(v["contact_center_id"], "demo");
        assert_eq!(v["given_name"], "Demo");
        assert_eq!(v["family_name"], "Agent");
        assert_eq!(v["name"], "Demo Agent");
        assert_eq!(v["email"], "agent@demo.example");
    }
    let res = s
        .bearer(Method::GET, OPENID_USERINFO, &s.client_token().await)
        .await;
    res.expect_bearer_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(res
        .header(header::WWW_AUTHENTICATE)
        .unwrap()
        .contains("insufficient_scope"));
    s.get(OPENID_USERINFO)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

// ---- Sign-out -------------------------------------------------------------------

#[tokio::test]
async fn sign_out_ends_the_token_and_its_refresh_family() {
    let s = TestServer::new().await;
    let first = s.password_tokens(None).await;
    // The token signing out comes from a refresh of the same grant.
    let tokens = s
        .token(
            DEMO,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&first, "refresh_token")),
            ],
        )
        .await
        .tokens();
    let at = str_of(&tokens, "access_token");
    let other = s.password_tokens(None).await;

    let res = s.bearer(Method::POST, SIGN_OUT, at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json(), json!({"status": {"code": 0}}));
    assert!(!s.is_active(at).await);
    assert!(!s.is_active(str_of(&tokens, "refresh_token")).await);
    assert!(
        !s.is_active(str_of(&first, "access_token")).await,
        "the grant's earlier access token ends too"
    );
    // Not global: the user's other session lives on.
    assert!(s.is_active(str_of(&other, "access_token")).await);
    assert!(s.is_active(str_of(&other, "refresh_token")).await);
    // The ended token cannot sign out again.
    s.bearer(Method::POST, SIGN_OUT, at)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn global_sign_out_ends_every_session_of_the_user() {
    let s = TestServer::new().await;
    let one = s.password_tokens(None).await;
    let two = s.password_tokens(None).await;
    let client = s.client_token().await;

    s.bearer(
        Method::POST,
        &format!("{SIGN_OUT}?global=true"),
        str_of(&one, "access_token"),
    )
    .await
    .expect(StatusCode::OK);
    for t in ["access_token", "refresh_token"] {
        assert!(!s.is_active(str_of(&one, t)).await, "{t}");
        assert!(!s.is_active(str_of(&two, t)).await, "{t}");
    }
    // Signing in again at once (within the same second) gives live tokens.
    let again = s.password_tokens(None).await;
    assert!(s.is_active(str_of(&again, "access_token")).await);
    s.bearer(Method::GET, USERINFO, str_of(&again, "access_token"))
        .await
        .expect(StatusCode::OK);
    // Other subjects are unaffected.
    assert!(s.is_active(&client).await);
    s.bearer(Method::POST, &format!("{SIGN_OUT}?global=maybe"), &client)
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(
        s.is_active(&client).await,
        "a refused sign-out ends nothing"
    );
}

#[tokio::test]
async fn sign_out_get_redirects_only_to_registered_uris() {
    let s = TestServer::new().await;
    let registered = format!("{APP_BASE}/callback");

    let at = s.user_token().await;
    let evil = "https://evil.example/steal";
    let msg = s
        .bearer(
            Method::GET,
            &format!("{SIGN_OUT}?redirectUri={}", urlencode(evil)),
            &at,
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("redirectUri"), "{msg}");
    assert!(s.is_active(&at).await, "a refused sign-out ends nothing");

    let res = s
        .bearer(
            Method::GET,
            &format!("{SIGN_OUT}?redirectUri={}", urlencode(&registered)),
            &at,
        )
        .await;
    res.expect(StatusCode::FOUND);
    assert_eq!(res.header(header::LOCATION), Some(registered.as_str()));
    assert!(!s.is_active(&at).await);

    // Without a redirect: the envelope.
    let at = s.user_token().await;
    let res = s.bearer(Method::GET, SIGN_OUT, &at).await;
    res.expect(StatusCode::OK);
    assert!(!s.is_active(&at).await);
    s.get(SIGN_OUT)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---- Ping -------------------------------------------------------------------------

#[tokio::test]
async fn ping_is_200_with_a_good_token_else_403() {
    let s = TestServer::new().await;
    let at = s.client_token().await;
    let res = s.bearer(Method::GET, PING, &at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json(), json!({"status": {"code": 0}}));
    s.get(PING).await.expect_api_error(StatusCode::FORBIDDEN);
    s.bearer(Method::GET, PING, "junk")
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
    s.revoke(DEMO, &at).await.expect(StatusCode::OK);
    s.bearer(Method::GET, PING, &at)
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let s = TestServer::new().await;
    let res = s.get(PING).await;
    assert_eq!(res.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    assert_eq!(res.header(header::X_FRAME_OPTIONS), Some("DENY"));
    assert!(res.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(s.get("/no/such/route").await.status, StatusCode::NOT_FOUND);
}

/// RFC 6750 §2.2 / OIDC Core §5.3.1: the userinfo POST takes the token as a
/// form parameter; a token both there and in the header is refused.
#[tokio::test]
async fn openid_userinfo_takes_the_token_in_a_form_body() {
    let s = TestServer::new().await;
    let tokens = s.password_tokens(Some("openid profile")).await;
    let at = str_of(&tokens, "access_token");
    let post = |auth: Option<&str>, body: String| {
        let mut req = Request::post(OPENID_USERINFO)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {a}"));
        }
        req.body(Body::from(body)).expect("request")
    };
    let form = encode_form(&[("access_token", at)]);
    let res = s.send(post(None, form.clone())).await;
    res.expect(StatusCode::OK);
    assert_eq!(
        res.json()["sub"],
        s.send(post(Some(at), String::new())).await.json()["sub"]
    );
    let res = s.send(post(Some(at), form)).await;
    res.expect_api_error(StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["status"]["detail"]["error"], "invalid_request");
    let forged = encode_form(&[("access_token", "not-a-token")]);
    s.send(post(None, forged))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}
