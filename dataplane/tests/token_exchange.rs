//! Token exchange (RFC 8693) at the token endpoint, every refusal the issue
//! lists, the client policy in the ops API, and the original's JWT views
//! (`convert-token`, `jwt-userinfo`).

use crate::common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const RT: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const IDT: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const API: &str = "https://api.example";
const GATEWAY: &str = "gateway";
const GATEWAY_SECRET: &str = "gateway-secret-1";
const USER_INFO_AUDIENCE: &str = "urn:tollgate:gws-user";

/// A client that may exchange the demo client's tokens for `API`.
async fn gateway(s: &TestServer, policy: Value) {
    s.create_client(json!({
        "client_id": GATEWAY,
        "client_secret": GATEWAY_SECRET,
        "authorizedGrantTypes": [EXCHANGE, "client_credentials", "password", "refresh_token"],
        "tokenExchange": policy,
    }))
    .await;
}

fn full_policy() -> Value {
    json!({"subjectClients": [DEMO_CLIENT], "audiences": [API], "delegation": true, "impersonation": true})
}

const GW: ClientAuth<'static> = ClientAuth::Basic(GATEWAY, GATEWAY_SECRET);

async fn exchange(s: &TestServer, extra: &[(&str, &str)]) -> Res {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(extra);
    s.token(GW, &form).await
}

#[tokio::test]
async fn impersonation_for_another_audience() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    let user = s.password_tokens(Some("openid read write")).await;
    let subject = str_of(&user, "access_token");
    let res = exchange(
        &s,
        &[
            ("subject_token", subject),
            ("subject_token_type", AT),
            ("audience", API),
            ("scope", "read"),
        ],
    )
    .await;
    let body = res.tokens();
    assert_eq!(body["issued_token_type"], AT);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    let claims = s.verify_jwt(str_of(&body, "access_token"), API).await;
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(claims["user_name"], DEMO_USER);
    assert_eq!(claims["client_id"], GATEWAY);
    assert_eq!(claims["aud"], API);
    assert!(claims.get("act").is_none());

    // Without a target the token is for this server, and verifies here.
    let body = exchange(
        &s,
        &[
            ("subject_token", subject),
            ("subject_token_type", JWT),
            ("requested_token_type", JWT),
        ],
    )
    .await
    .tokens();
    assert_eq!(body["issued_token_type"], JWT);
    assert_eq!(body["scope"], "openid read write");
    assert!(s.is_active(str_of(&body, "access_token")).await);
}

#[tokio::test]
async fn delegation_records_the_actor_and_nests_chains() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    let subject = s.user_token().await;
    let actor = s.token_of(GATEWAY, GATEWAY_SECRET).await;
    let body = exchange(
        &s,
        &[
            ("subject_token", &subject),
            ("subject_token_type", AT),
            ("actor_token", &actor),
            ("actor_token_type", AT),
        ],
    )
    .await
    .tokens();
    let delegated = str_of(&body, "access_token").to_string();
    let claims = s.verify_jwt(&delegated, "https://auth.tollgate.test").await;
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(claims["act"], json!({"sub": GATEWAY, "client_id": GATEWAY}));

    // The delegated token as the next actor: its own actor nests inside.
    let body = exchange(
        &s,
        &[
            ("subject_token", &subject),
            ("subject_token_type", AT),
            ("actor_token", &delegated),
            ("actor_token_type", JWT),
        ],
    )
    .await
    .tokens();
    let (_, claims) = jwt_parts(str_of(&body, "access_token"));
    assert_eq!(
        claims["act"],
        json!({"sub": "demo:agent", "client_id": GATEWAY,
               "act": {"sub": GATEWAY, "client_id": GATEWAY}})
    );
}

#[tokio::test]
async fn id_token_and_own_refresh_token_as_subject() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    let user = s.password_tokens(Some("openid")).await;
    let body = exchange(
        &s,
        &[
            ("subject_token", str_of(&user, "id_token")),
            ("subject_token_type", IDT),
            ("scope", "read"),
        ],
    )
    .await
    .tokens();
    let (_, claims) = jwt_parts(str_of(&body, "access_token"));
    assert_eq!(claims["sub"], "demo:agent");

    // A refresh token only by the client it was issued to.
    s.token(
        DEMO,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", str_of(&user, "refresh_token")),
            ("subject_token_type", RT),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    exchange(
        &s,
        &[
            ("subject_token", str_of(&user, "refresh_token")),
            ("subject_token_type", RT),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    let own = s
        .token(
            GW,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("scope", "read"),
            ],
        )
        .await
        .tokens();
    let body = exchange(
        &s,
        &[
            ("subject_token", str_of(&own, "refresh_token")),
            ("subject_token_type", RT),
        ],
    )
    .await
    .tokens();
    assert_eq!(body["scope"], "read");
}

#[tokio::test]
async fn policy_refusals() {
    let s = TestServer::new().await;
    let subject = s.user_token().await;
    let form = |extra: Vec<(&'static str, String)>| {
        let mut f = vec![
            ("subject_token", subject.clone()),
            ("subject_token_type", AT.to_string()),
        ];
        f.extend(extra);
        f
    };
    let call = |f: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(s, &f).await
        }
    };

    // Registered for the grant but without a policy.
    s.create_client(json!({
        "client_id": GATEWAY, "client_secret": GATEWAY_SECRET,
        "authorizedGrantTypes": [EXCHANGE, "client_credentials"],
    }))
    .await;
    let e = call(form(vec![]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    assert!(e["error_description"].as_str().unwrap().contains("policy"));

    // The demo client's tokens are not in subjectClients.
    let set = |policy: Value| {
        let s = &s;
        async move {
            s.ops_put(
                &format!("{CLIENTS}/{GATEWAY}"),
                json!({"tokenExchange": policy}),
            )
            .await
            .expect(StatusCode::OK);
        }
    };
    set(json!({"impersonation": true, "delegation": true, "audiences": [API]})).await;
    call(form(vec![]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");

    // Impersonation not allowed; delegation is.
    set(json!({"subjectClients": ["*"], "delegation": true, "audiences": [API]})).await;
    let e = call(form(vec![]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("impersonate"));
    let own_actor = s.token_of(GATEWAY, GATEWAY_SECRET).await;
    let with_actor = |actor: String| {
        form(vec![
            ("actor_token", actor),
            ("actor_token_type", AT.to_string()),
        ])
    };
    call(with_actor(own_actor.clone())).await.tokens();
    // The actor must be the caller itself.
    call(with_actor(s.client_token().await))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    // actor_token without its type.
    call(form(vec![("actor_token", own_actor.clone())]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

    // Delegation not allowed.
    set(json!({"subjectClients": ["*"], "impersonation": true, "audiences": [API]})).await;
    call(with_actor(own_actor.clone()))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");

    // Wrong audience or resource.
    call(form(vec![("audience", "https://other.example".into())]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
    call(form(vec![("resource", "https://other.example/x".into())]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
    call(form(vec![("resource", "not a uri".into())]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
    call(form(vec![
        ("audience", API.into()),
        ("resource", "https://other.example".into()),
    ]))
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
    call(form(vec![("resource", API.into())])).await.tokens();

    // Scope widening: the subject holds "*"? No: ask a narrow token, then widen it.
    let narrow = str_of(&s.password_tokens(Some("read")).await, "access_token").to_string();
    let f = vec![
        ("subject_token", narrow),
        ("subject_token_type", AT.to_string()),
        ("scope", "read write".to_string()),
    ];
    call(f)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");

    // Unsupported output type.
    call(form(vec![("requested_token_type", IDT.into())]))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn bad_subject_tokens_are_invalid_request() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    let user = s.password_tokens(Some("openid")).await;
    let at = str_of(&user, "access_token");
    let bad: &[(&str, &str)] = &[
        ("garbage", AT),
        ("a.b.c", JWT),
        // An access token presented as an ID token, and the other way round.
        (at, IDT),
        (str_of(&user, "id_token"), AT),
        // Not a type of this server.
        (at, "urn:ietf:params:oauth:token-type:saml2"),
    ];
    for (token, kind) in bad {
        exchange(
            &s,
            &[("subject_token", token), ("subject_token_type", kind)],
        )
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    exchange(&s, &[("subject_token_type", AT)])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

    // A client-credentials token speaks for no user.
    let client_at = s.client_token().await;
    exchange(
        &s,
        &[("subject_token", &client_at), ("subject_token_type", AT)],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

    // A revoked subject token cannot be exchanged.
    s.revoke(DEMO, at).await.expect(StatusCode::OK);
    exchange(&s, &[("subject_token", at), ("subject_token_type", AT)])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

    // A forged token: the subject's claims under a different signature.
    let mut parts: Vec<&str> = at.split('.').collect();
    let forged_sig = "A".repeat(parts[2].len());
    parts[2] = &forged_sig;
    exchange(
        &s,
        &[
            ("subject_token", &parts.join(".")),
            ("subject_token_type", AT),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn ops_api_keeps_and_validates_the_policy() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    let path = format!("{CLIENTS}/{GATEWAY}");
    let got = s.ops_get(&path).await.json();
    // Shown whole, with the default (none) for the issuers it did not name.
    let mut expected = full_policy();
    expected["subjectIssuers"] = json!([]);
    assert_eq!(got["data"]["tokenExchange"], expected);
    let msg = s
        .ops_put(&path, json!({"tokenExchange": {"audience": [API]}}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("tokenExchange"), "{msg}");
    s.ops_put(&path, json!({"tokenExchange": {"audiences": [""]}}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    s.ops_put(&path, json!({"tokenExchange": null}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        s.ops_get(&path).await.json()["data"]["tokenExchange"],
        Value::Null
    );
}

#[tokio::test]
async fn convert_token_and_jwt_userinfo() {
    let s = TestServer::new().await;
    let at = s.user_token().await;
    let (_, at_claims) = jwt_parts(&at);

    let res = s
        .bearer(Method::POST, "/auth/v3/oauth/convert-token", &at)
        .await;
    res.expect(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["status"]["code"], 0);
    let jwt = str_of(&body["data"], "jwtToken");
    // The Service Client API's `expiration`: the token's expiry, RFC 3339.
    let expiration = chrono::DateTime::parse_from_rfc3339(str_of(&body["data"], "expiration"))
        .expect("RFC 3339 expiration");
    assert_eq!(Some(expiration.timestamp()), at_claims["exp"].as_i64());
    let claims = s.verify_jwt(jwt, USER_INFO_AUDIENCE).await;
    assert_eq!(claims["client_id"], DEMO_CLIENT);
    assert_eq!(claims["cmeUserName"], DEMO_USER);
    assert_eq!(claims["contactCenterId"], "demo");
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(
        claims["exp"], at_claims["exp"],
        "it lives as long as the token"
    );

    let res = s.bearer(Method::GET, "/auth/v3/jwt-userinfo", &at).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json(), json!({"status": {"code": 0}}));
    assert_eq!(res.header("content-type"), Some("application/json"));
    let header = res.header("x-gws-user").expect("X-GWS-User");
    let claims = s.verify_jwt(header, USER_INFO_AUDIENCE).await;
    assert_eq!(claims["loginName"], DEMO_USER);
    assert_eq!(claims["authorities"], at_claims["authorities"]);

    // A client's own token: the client is the user info.
    let client_at = s.client_token().await;
    let res = s
        .bearer(Method::GET, "/auth/v3/jwt-userinfo", &client_at)
        .await;
    let claims = s
        .verify_jwt(
            res.header("x-gws-user").expect("header"),
            USER_INFO_AUDIENCE,
        )
        .await;
    assert_eq!(claims["username"], DEMO_CLIENT);

    for path in ["/auth/v3/oauth/convert-token", "/auth/v3/jwt-userinfo"] {
        let method = if path.ends_with("convert-token") {
            Method::POST
        } else {
            Method::GET
        };
        s.bearer(method.clone(), path, "not-a-token")
            .await
            .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
        s.revoke(DEMO, &at).await.expect(StatusCode::OK);
        s.bearer(method, path, &at)
            .await
            .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

/// Issue 14, finding 13: the convert-token JWT was signed like an ID token
/// (`typ: JWT`, `aud: client_id`) and passed as an `id_token_hint`, a
/// token-exchange subject and an `actor_token`. It has its own `typ` and
/// audience now and is refused wherever an ID token is expected.
#[tokio::test]
async fn the_convert_token_jwt_is_not_an_id_token() {
    let s = TestServer::new().await;
    gateway(&s, full_policy()).await;
    // The gateway's own user token, so an actor made of it would be its own.
    let own = s
        .token(
            GW,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("scope", "openid"),
            ],
        )
        .await
        .tokens();
    let res = s
        .bearer(
            Method::POST,
            "/auth/v3/oauth/convert-token",
            str_of(&own, "access_token"),
        )
        .await;
    res.expect(StatusCode::OK);
    let converted = str_of(&res.json()["data"], "jwtToken").to_string();
    let (header, claims) = jwt_parts(&converted);
    assert_eq!(header["typ"], "gws-user+jwt");
    assert_eq!(claims["aud"], USER_INFO_AUDIENCE);

    let subject = s.user_token().await;
    for kind in [IDT, JWT] {
        let e = exchange(
            &s,
            &[
                ("subject_token", &subject),
                ("subject_token_type", AT),
                ("actor_token", &converted),
                ("actor_token_type", kind),
            ],
        )
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("actor_token"),
            "{e}"
        );
        exchange(
            &s,
            &[("subject_token", &converted), ("subject_token_type", kind)],
        )
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    // The real ID token still serves as an actor.
    exchange(
        &s,
        &[
            ("subject_token", &subject),
            ("subject_token_type", AT),
            ("actor_token", str_of(&own, "id_token")),
            ("actor_token_type", IDT),
        ],
    )
    .await
    .expect(StatusCode::OK);

    // Nor is it an id_token_hint (which would pick the client and its
    // post-logout redirect).
    let res = s
        .bearer(Method::POST, "/auth/v3/oauth/convert-token", &subject)
        .await;
    let converted = str_of(&res.json()["data"], "jwtToken").to_string();
    let cb = "https%3A%2F%2Fapp.tollgate.test%2Fcallback";
    s.get(&format!(
        "/auth/v3/end-session?id_token_hint={converted}&post_logout_redirect_uri={cb}"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    let user = s.password_tokens(Some("openid")).await;
    s.get(&format!(
        "/auth/v3/end-session?id_token_hint={}&post_logout_redirect_uri={cb}",
        str_of(&user, "id_token")
    ))
    .await
    .expect(StatusCode::SEE_OTHER);
}
