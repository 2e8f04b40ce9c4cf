//! The operator's client registry: `/auth/v3/ops/clients`.

use crate::common;

use axum::http::{header, Method, StatusCode};
use common::*;
use serde_json::{json, Value};

fn client_path(id: &str) -> String {
    format!("{CLIENTS}/{id}")
}

#[tokio::test]
async fn operator_credentials_are_required() {
    // Many wrong logins from one address: the operator lockout (tested in
    // abuse.rs) is raised so that the credential check is what answers.
    let s = TestServer::with_args(tollgate::app::config::CommonArgs {
        lockout_threshold: 1000,
        ..default_args()
    })
    .await;
    let wrong = [
        None,
        Some((OPS_USER, "wrong")),
        Some(("root", OPS_PASSWORD)),
        Some((DEMO_CLIENT, DEMO_SECRET)),
    ];
    for creds in wrong {
        for (method, path, body) in [
            (Method::GET, CLIENTS.to_string(), None),
            (
                Method::POST,
                CLIENTS.to_string(),
                Some(json!({"data": {"client_id": "x"}}).to_string()),
            ),
            (Method::GET, client_path(DEMO_CLIENT), None),
            (
                Method::PUT,
                client_path(DEMO_CLIENT),
                Some(json!({"data": {"name": "x"}}).to_string()),
            ),
            (Method::DELETE, client_path(DEMO_CLIENT), None),
        ] {
            let res = s.ops_as(method.clone(), &path, creds, body).await;
            res.expect_api_error(StatusCode::UNAUTHORIZED);
            assert_eq!(
                res.header(header::WWW_AUTHENTICATE),
                Some("Basic realm=\"tollgate-ops\""),
                "{method} {path} {creds:?}"
            );
        }
    }
    // Nothing was changed by the refused requests.
    let demo = s.ops_get(&client_path(DEMO_CLIENT)).await;
    demo.expect(StatusCode::OK);
    assert_eq!(demo.json()["data"]["name"], "Demo client");
    assert!(s.ops_get(&client_path("x")).await.status == StatusCode::NOT_FOUND);
    // A bearer token is not an operator credential either.
    let at = s.client_token().await;
    s.bearer(Method::GET, CLIENTS, &at)
        .await
        .expect_api_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn list_and_get_never_show_secrets() {
    let s = TestServer::new().await;
    s.create_client(json!({"client_id": "svc"}))
        .await
        .expect("secret");
    let res = s.ops_get(CLIENTS).await;
    res.expect(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["status"]["code"], 0);
    let list = body["data"].as_array().unwrap();
    let mut ids: Vec<&str> = list
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [DEMO_CLIENT, "svc"]);
    for c in list {
        assert_no_secret(c);
    }
    let demo = s.ops_get(&client_path(DEMO_CLIENT)).await.json()["data"].clone();
    assert_no_secret(&demo);
    assert_eq!(demo["clientType"], "CONFIDENTIAL");
    assert_eq!(demo["internalClient"], true);
    assert_eq!(
        demo["redirectURIs"],
        json!([format!("{APP_BASE}/callback")])
    );
    assert_eq!(demo["accessTokenExpirationTimeout"], 43_200);
    assert!(!s.ops_get(CLIENTS).await.text().contains(DEMO_SECRET));
}

fn assert_no_secret(c: &Value) {
    let text = c.to_string();
    assert!(
        c.get("client_secret").is_none()
            && !text.contains("secret_hash")
            && !text.contains("$argon2"),
        "{c}"
    );
}

#[tokio::test]
async fn create_with_defaults_returns_the_generated_secret_once() {
    let s = TestServer::new().await;
    let res = s.ops_post(CLIENTS, json!({"client_id": "svc"})).await;
    res.expect(StatusCode::CREATED);
    let body = res.json();
    assert_eq!(body["path"], "/auth/v3/ops/clients/svc");
    let data = &body["data"];
    assert_eq!(data["client_id"], "svc");
    assert_eq!(data["name"], "svc");
    assert_eq!(data["clientType"], "CONFIDENTIAL");
    assert_eq!(data["internalClient"], false);
    assert_eq!(data["scope"], json!(["*"]));
    assert_eq!(data["authorizedGrantTypes"], json!(["client_credentials"]));
    assert_eq!(data["accessTokenExpirationTimeout"], 43_200);
    assert_eq!(data["refreshTokenExpirationTimeout"], 2_592_000);
    let secret = str_of(data, "client_secret");
    assert!(secret.len() >= 32);

    // The secret works at once (no sync needed) and is never shown again.
    s.token(
        ClientAuth::Basic("svc", secret),
        &[("grant_type", "client_credentials")],
    )
    .await
    .tokens();
    let got = s.ops_get(&client_path("svc")).await;
    assert_no_secret(&got.json()["data"]);
    assert!(!got.text().contains(secret));
}

#[tokio::test]
async fn create_with_a_chosen_secret_does_not_echo_it() {
    let s = TestServer::new().await;
    let res = s
        .ops_post(
            CLIENTS,
            json!({
                "client_id": "web",
                "name": "Web app",
                "description": "front end",
                "client_secret": "chosen-secret-123",
                "internalClient": "true",
                "authorities": ["ROLE_X"],
                "scope": ["openid", "profile"],
                "authorizedGrantTypes": ["password", "refresh_token"],
                "redirectURIs": ["https://web.example/cb", "http://localhost:3000/cb", "com.example.app:/cb"],
                "accessTokenExpirationTimeout": 600,
                "refreshTokenExpirationTimeout": 3600,
                "contactCenterIds": ["demo"],
            }),
        )
        .await;
    res.expect(StatusCode::CREATED);
    assert!(!res.text().contains("chosen-secret-123"));
    let data = &res.json()["data"];
    assert!(data.get("client_secret").is_none());
    assert_eq!(data["name"], "Web app");
    assert_eq!(data["internalClient"], true);
    assert_eq!(data["contactCenterIds"], json!(["demo"]));
    let body = s
        .token(
            ClientAuth::Post("web", "chosen-secret-123"),
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .tokens();
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "openid profile");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let s = TestServer::new().await;
    let cases: &[(Value, &str)] = &[
        (
            json!({"client_id": "v", "authorizedGrantTypes": ["client_credentials", "magic"]}),
            "authorizedGrantTypes",
        ),
        (
            json!({"client_id": "v", "redirectURIs": ["http://app.example/cb"]}),
            "redirectURIs",
        ),
        (
            json!({"client_id": "v", "redirectURIs": ["https://app.example/cb#frag"]}),
            "redirectURIs",
        ),
        (
            json!({"client_id": "v", "redirectURIs": ["/relative"]}),
            "redirectURIs",
        ),
        (
            json!({"client_id": "v", "client_secret": "short"}),
            "client_secret",
        ),
        (
            json!({"client_id": "v", "clientType": "PUBLIC", "authorizedGrantTypes": ["authorization_code"], "client_secret": "long-enough-secret"}),
            "client_secret",
        ),
        (
            json!({"client_id": "v", "clientType": "PUBLIC"}),
            "client_credentials",
        ),
        (
            json!({"client_id": "v", "clientType": "SECRET"}),
            "clientType",
        ),
        (json!({"client_id": "v", "colour": "blue"}), "colour"),
        (json!({"client_id": "v", "scope": "openid"}), "scope"),
        (json!({"client_id": "v", "scope": [1]}), "scope"),
        (
            json!({"client_id": "v", "internalClient": "yes"}),
            "internalClient",
        ),
        (
            json!({"client_id": "v", "accessTokenExpirationTimeout": 0}),
            "accessTokenExpirationTimeout",
        ),
        (
            json!({"client_id": "v", "refreshTokenExpirationTimeout": "long"}),
            "refreshTokenExpirationTimeout",
        ),
        (
            json!({"client_id": "v", "contactCenterIds": ["nowhere"]}),
            "contactCenterIds",
        ),
        (json!({"client_id": "has space"}), "client_id"),
        (json!({"name": "no id"}), "client_id"),
    ];
    for (data, field) in cases {
        let msg = s
            .ops_post(CLIENTS, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(field), "{data}: '{msg}' does not name {field}");
    }
    // None of them was created.
    assert_eq!(
        s.ops_get(CLIENTS).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn malformed_bodies_are_refused_without_echoing_input() {
    let s = TestServer::new().await;
    for body in [
        r#"{"data": {"client_id": "x", "client_secret": hunter2hunter2}}"#,
        "hunter2hunter2",
        r#"{"data": "hunter2hunter2"}"#,
        r#"["hunter2hunter2"]"#,
        "",
    ] {
        let res = s
            .ops_as(
                Method::POST,
                CLIENTS,
                Some((OPS_USER, OPS_PASSWORD)),
                Some(body.to_string()),
            )
            .await;
        let msg = res.expect_api_error(StatusCode::BAD_REQUEST);
        assert!(!res.text().contains("hunter2"), "{body} -> {msg}");
    }
    let res = s
        .ops_as(
            Method::PUT,
            &client_path(DEMO_CLIENT),
            Some((OPS_USER, OPS_PASSWORD)),
            Some("{not json".into()),
        )
        .await;
    assert!(res
        .expect_api_error(StatusCode::BAD_REQUEST)
        .contains("JSON"));
}

#[tokio::test]
async fn duplicate_create_conflicts() {
    let s = TestServer::new().await;
    s.create_client(json!({"client_id": "svc"})).await;
    s.ops_post(CLIENTS, json!({"client_id": "svc", "name": "again"}))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    s.ops_post(CLIENTS, json!({"client_id": DEMO_CLIENT}))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert_eq!(
        s.ops_get(&client_path("svc")).await.json()["data"]["name"],
        "svc"
    );
    // The demo client's secret was not replaced by the refused create.
    s.client_token().await;
}

#[tokio::test]
async fn partial_update_changes_only_the_given_fields() {
    let s = TestServer::new().await;
    let before = s.ops_get(&client_path(DEMO_CLIENT)).await.json()["data"].clone();
    let res = s
        .ops_put(
            &client_path(DEMO_CLIENT),
            json!({"name": "Renamed", "accessTokenExpirationTimeout": 120}),
        )
        .await;
    res.expect(StatusCode::OK);
    let data = res.json()["data"].clone();
    assert!(
        data.get("client_secret").is_none(),
        "no secret was generated, none is shown"
    );
    let after = s.ops_get(&client_path(DEMO_CLIENT)).await.json()["data"].clone();
    assert_eq!(after, data);
    for (k, v) in before.as_object().unwrap() {
        match k.as_str() {
            "name" => assert_eq!(after[k], "Renamed"),
            "accessTokenExpirationTimeout" => assert_eq!(after[k], 120),
            _ => assert_eq!(&after[k], v, "{k} changed"),
        }
    }
    // Takes effect at once, and the secret still works.
    assert_eq!(
        s.token(DEMO, &[("grant_type", "client_credentials")])
            .await
            .tokens()["expires_in"],
        120
    );
}

#[tokio::test]
async fn update_can_rotate_the_secret() {
    let s = TestServer::new().await;
    s.client_token().await;
    let res = s
        .ops_put(
            &client_path(DEMO_CLIENT),
            json!({"client_secret": "brand-new-secret"}),
        )
        .await;
    res.expect(StatusCode::OK);
    assert!(!res.text().contains("brand-new-secret"));
    s.token(DEMO, &[("grant_type", "client_credentials")])
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.token(
        ClientAuth::Basic(DEMO_CLIENT, "brand-new-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn update_validates_like_create() {
    let s = TestServer::new().await;
    let path = client_path(DEMO_CLIENT);
    let msg = s
        .ops_put(&path, json!({"client_id": "renamed"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("client_id"));
    let msg = s
        .ops_put(&path, json!({"redirectURIs": ["ftp://x"]}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("redirectURIs"));
    let msg = s
        .ops_put(&path, json!({"clientType": "PUBLIC"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("client_credentials"), "{msg}");
    let msg = s
        .ops_put(&path, json!({"bogus": 1}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("bogus"));
    // Same client_id is accepted.
    s.ops_put(&path, json!({"client_id": DEMO_CLIENT}))
        .await
        .expect(StatusCode::OK);
    // Nothing of the refused updates stuck.
    let data = s.ops_get(&path).await.json()["data"].clone();
    assert_eq!(data["clientType"], "CONFIDENTIAL");
    assert_eq!(
        data["redirectURIs"],
        json!([format!("{APP_BASE}/callback")])
    );
    s.client_token().await;
}

#[tokio::test]
async fn making_a_client_public_drops_its_secret() {
    let s = TestServer::new().await;
    let secret = s
        .create_client(
            json!({"client_id": "app", "authorizedGrantTypes": ["password", "refresh_token"]}),
        )
        .await
        .unwrap();
    let pw = [
        ("grant_type", "password"),
        ("username", "demo\\agent"),
        ("password", DEMO_PASSWORD),
    ];
    let refresh = s
        .token(ClientAuth::Basic("app", &secret), &pw)
        .await
        .tokens();
    let refresh = str_of(&refresh, "refresh_token").to_string();
    // A public client cannot keep the password grant.
    s.ops_put(&client_path("app"), json!({"clientType": "PUBLIC"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    s.ops_put(
        &client_path("app"),
        json!({"clientType": "PUBLIC", "authorizedGrantTypes": ["refresh_token"]}),
    )
    .await
    .expect(StatusCode::OK);
    let rt = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    s.token(ClientAuth::Basic("app", &secret), &rt)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let refresh = s.token(ClientAuth::Public("app"), &rt).await.tokens();
    let refresh = str_of(&refresh, "refresh_token").to_string();
    // Back to confidential: a new secret is generated and shown once.
    let res = s
        .ops_put(&client_path("app"), json!({"clientType": "CONFIDENTIAL"}))
        .await;
    res.expect(StatusCode::OK);
    let new_secret = str_of(&res.json()["data"], "client_secret").to_string();
    let rt = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    s.token(ClientAuth::Public("app"), &rt)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.token(ClientAuth::Basic("app", &new_secret), &rt)
        .await
        .tokens();
}

/// Issue 14, finding 18: public clients could be given grants that turn a
/// password, another token or an assertion into tokens with nothing but a
/// client id. The ops API and the operator share the store's rule; a public
/// client stored before it cannot use those grants at the token endpoint.
#[tokio::test]
async fn public_clients_get_no_grant_that_needs_a_secret() {
    let s = TestServer::new().await;
    for grant in [
        "password",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
    ] {
        let msg = s
            .ops_post(
                CLIENTS,
                json!({"client_id": "spa", "clientType": "PUBLIC",
                       "authorizedGrantTypes": ["authorization_code", grant]}),
            )
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(grant) && msg.contains("PUBLIC"), "{msg}");
    }
    s.ops_get(&client_path("spa"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);

    // A row written before the rule: the token endpoint refuses it too.
    let mut legacy = s.db.get_client(DEMO_CLIENT).await.unwrap().unwrap();
    legacy.client_id = "legacy-spa".into();
    legacy.client_type = tollgate_store::model::ClientType::Public;
    legacy.auth_method = tollgate_store::model::ClientAuthMethod::None;
    legacy.secret_hash = None;
    legacy.authorized_grant_types = vec!["password".into()];
    s.db.create_client(&legacy).await.unwrap();
    s.state
        .catalog
        .reload_client(&s.db, "legacy-spa")
        .await
        .unwrap();
    let e = s
        .token(
            ClientAuth::Public("legacy-spa"),
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    assert!(
        e["error_description"].as_str().unwrap().contains("public"),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_clients_are_404() {
    let s = TestServer::new().await;
    s.ops_get(&client_path("ghost"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_put(&client_path("ghost"), json!({"name": "x"}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&client_path("ghost"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_client_ends_its_tokens() {
    let s = TestServer::new().await;
    let secret = s.create_client(json!({"client_id": "doomed", "authorizedGrantTypes": ["client_credentials", "password", "refresh_token"]})).await.unwrap();
    let auth = ClientAuth::Basic("doomed", &secret);
    let cc = s
        .token(auth, &[("grant_type", "client_credentials")])
        .await
        .tokens();
    let user = s
        .token(
            auth,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .tokens();
    let demo_user = s.password_tokens(None).await;
    for t in [
        str_of(&cc, "access_token"),
        str_of(&user, "access_token"),
        str_of(&user, "refresh_token"),
    ] {
        assert!(s.is_active(t).await);
    }

    let res = s.ops_delete(&client_path("doomed")).await;
    res.expect(StatusCode::OK);
    for t in [
        str_of(&cc, "access_token"),
        str_of(&user, "access_token"),
        str_of(&user, "refresh_token"),
    ] {
        assert!(!s.is_active(t).await, "{t}");
    }
    s.bearer(
        Method::GET,
        "/auth/v3/userinfo",
        str_of(&user, "access_token"),
    )
    .await
    .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
    s.token(auth, &[("grant_type", "client_credentials")])
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.ops_get(&client_path("doomed"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    // Other clients' tokens are untouched.
    assert!(s.is_active(str_of(&demo_user, "access_token")).await);
    assert!(s.is_active(str_of(&demo_user, "refresh_token")).await);

    // A new client under the old id (say, re-registered after a leak) does not revive the old tokens.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.create_client(json!({"client_id": "doomed", "authorizedGrantTypes": ["client_credentials", "password", "refresh_token"]})).await;
    for t in [
        str_of(&cc, "access_token"),
        str_of(&user, "access_token"),
        str_of(&user, "refresh_token"),
    ] {
        assert!(!s.is_active(t).await, "{t}");
    }
    s.bearer(
        Method::GET,
        "/auth/v3/userinfo",
        str_of(&cc, "access_token"),
    )
    .await
    .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

/// The registration of the original's sample provisioning scripts, verbatim
/// (but for the domain): a 6-character secret, every grant, the management role.
fn official_sample_client() -> Value {
    json!({
        "name": "external_api_client",
        "description": "External API client",
        "client_id": "external_api_client",
        "client_secret": "secret",
        "clientType": "CONFIDENTIAL",
        "internalClient": true,
        "authorities": ["ROLE_INTERNAL_CLIENT", "ROLE_MANAGEMENT_APPLICATION"],
        "scope": ["*"],
        "authorizedGrantTypes": [
            "refresh_token", "implicit", "client_credentials", "password", "authorization_code",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ],
        "redirectURIs": ["https://gauth.example.com", "https://gws.example.com", "https://wwe.example.com"],
        "accessTokenExpirationTimeout": 43200,
        "refreshTokenExpirationTimeout": 2592000
    })
}

#[tokio::test]
async fn a_short_secret_is_refused_by_default_naming_the_setting() {
    let s = TestServer::new().await;
    let res = s.ops_post(CLIENTS, official_sample_client()).await;
    let message = res.expect_api_error(StatusCode::BAD_REQUEST);
    assert!(
        message.contains("at least 8 characters")
            && message.contains("min-client-secret-length")
            && message.contains("TOLLGATE_MIN_CLIENT_SECRET_LENGTH"),
        "{message}"
    );
}

#[tokio::test]
async fn a_lowered_minimum_accepts_the_official_sample_and_audits_the_weak_secret() {
    let s = TestServer::with_args(tollgate::app::config::CommonArgs {
        min_client_secret_length: 6,
        ..default_args()
    })
    .await;
    s.ops_post(CLIENTS, official_sample_client())
        .await
        .expect(StatusCode::CREATED);
    let token = s
        .token(
            ClientAuth::Basic("external_api_client", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await
        .tokens();
    assert!(token["access_token"].is_string());
    // Still a floor: shorter than the lowered minimum is refused.
    let message = s
        .ops_put(
            &client_path("external_api_client"),
            json!({"client_secret": "short"}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(message.contains("at least 6 characters"), "{message}");
    // A strong secret is not audited; the weak one is, once per write.
    s.ops_put(
        &client_path("external_api_client"),
        json!({"client_secret": "a-long-enough-secret"}),
    )
    .await
    .expect(StatusCode::OK);
    s.ops_put(
        &client_path("external_api_client"),
        json!({"client_secret": "secret"}),
    )
    .await
    .expect(StatusCode::OK);
    // The audit trail is written in batches, off the request path.
    let mut events = Vec::new();
    for _ in 0..50 {
        events =
            s.db.list_audit_events(Some("client.weak_secret"), 10)
                .await
                .expect("audit");
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e.client_id.as_deref(), Some("external_api_client"));
        assert_eq!(e.detail["default_minimum"], 8);
        assert_eq!(e.detail["configured_minimum"], 6);
    }
}
