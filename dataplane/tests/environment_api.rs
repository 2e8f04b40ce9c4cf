//! The Environment API (`/environment/v3`), in-process. Every scenario is a
//! function taking a fresh server; `on_both!` runs each on SQLite and on
//! PostgreSQL (`TOLLGATE_TEST_POSTGRES_URL`).

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::*;
use serde_json::{json, Value};
use tollgate_store::model::{now, AuthScheme, ContactCenter};

const ENVS: &str = "/environment/v3/environments";
const CCS: &str = "/environment/v3/contact-centers";
const CORS: &str = "/environment/v3/cors";

on_both!(
    environments_crud,
    environment_validation,
    environment_delete_rules,
    contact_centers_crud,
    contact_center_validation,
    optimistic_concurrency,
    settings_and_cors_origins_setting,
    cors_api,
    users_crud,
    user_sessions_end_on_disable_delete_and_reset,
    users_need_the_builtin_directory,
    user_validation,
    bound_clients_see_only_their_contact_centers,
    bound_clients_cannot_move_their_contact_center_or_pick_dbids,
    provisioning_propagates_to_the_authentication_api,
    cors_preflight_follows_the_allow_list,
    deleting_a_contact_center_ends_its_tokens,
    ldap_directory_api,
    ldap_contact_center_uses_its_stored_directory,
    write_only_secrets_stay_with_their_destination,
);

// ---------------------------------------------------------------- helpers

fn sample_environment(id: &str) -> Value {
    json!({
        "id": id, "username": "default", "password": "cs-password", "connectionProtocol": "addp",
        "localTimeout": 60, "remoteTimeout": 90, "tenant": "Environment", "appName": "Cloud",
        "traceMode": "CFGTMBoth", "tlsEnabled": false,
        "configServers": [{"primaryAddress": "tenant-1-cfgmaster.service.dc1.consul",
                           "primaryPort": 8888, "readOnly": false, "locations": "/USW1"}]
    })
}

/// What an installer's `jq -r .path | cut -d/ -f3` gives.
fn id_from_path(body: &Value) -> String {
    str_of(body, "path")
        .split('/')
        .nth(2)
        .expect("a third field")
        .to_string()
}

async fn create_env(s: &TestServer, id: &str) -> Value {
    let res = s.ops_post(ENVS, sample_environment(id)).await;
    res.expect(StatusCode::CREATED);
    res.json()
}

async fn create_cc(s: &TestServer, id: &str, env: &str, domains: &[&str]) -> Value {
    let res = s
        .ops_post(
            CCS,
            json!({"id": id, "environmentId": env, "domains": domains}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    res.json()["data"].clone()
}

fn users_path(cc: &str) -> String {
    format!("{CCS}/{cc}/users")
}

async fn create_user(s: &TestServer, cc: &str, data: Value) -> Value {
    let res = s.ops_post(&users_path(cc), data).await;
    res.expect(StatusCode::CREATED);
    res.json()
}

async fn password_grant(s: &TestServer, login: &str, password: &str) -> Res {
    s.token(
        DEMO,
        &[
            ("grant_type", "password"),
            ("username", login),
            ("password", password),
        ],
    )
    .await
}

fn assert_no_password(v: &Value) {
    let text = v.to_string();
    assert!(!text.contains("cs-password"), "password leaked: {text}");
    assert!(!text.contains("$argon2"), "hash leaked: {text}");
    assert!(v.get("password").is_none(), "{v}");
}

async fn preflight(s: &TestServer, origin: &str) -> Res {
    s.send(
        Request::builder()
            .method(Method::OPTIONS)
            .uri(TOKEN)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

fn allow_origin(res: &Res) -> Option<&str> {
    res.header(header::ACCESS_CONTROL_ALLOW_ORIGIN)
}

// ---------------------------------------------------------------- environments

async fn environments_crud(s: TestServer) {
    let body = create_env(&s, "env-1").await;
    assert_eq!(body["status"]["code"], 0);
    assert_eq!(body["path"], "/environments/env-1");
    assert_eq!(id_from_path(&body), "env-1");
    let data = &body["data"];
    assert_no_password(data);
    assert_eq!(data["id"], "env-1");
    assert_eq!(data["version"], 1);
    assert_eq!(data["traceMode"], "CFGTMBoth");
    assert_eq!(data["configServers"][0]["primaryPort"], 8888);
    assert_eq!(data["configServers"][0]["locations"], "/USW1");
    assert!(data["createdAt"].as_i64().unwrap() > 0);

    // The password is stored (sealed), though never shown.
    let stored = s.db.get_environment("env-1").await.unwrap().unwrap();
    assert_eq!(stored.password.as_deref(), Some("cs-password"));

    // A generated id is a UUID, and the path still yields it.
    let res = s.ops_post(ENVS, json!({})).await;
    res.expect(StatusCode::CREATED);
    let generated = id_from_path(&res.json());
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    assert_eq!(res.json()["data"]["connectionProtocol"], "addp");
    assert_eq!(res.json()["data"]["localTimeout"], 60);

    let res = s.ops_get(&format!("{ENVS}/env-1")).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header(header::ETAG), Some("\"1\""));
    assert_no_password(&res.json()["data"]);

    let list = s.ops_get(ENVS).await;
    list.expect(StatusCode::OK);
    let list_json = list.json();
    let ids: Vec<&str> = list_json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_no_password(&list_json);
    assert!(ids.contains(&"env-1") && ids.contains(&generated.as_str()));
    assert!(ids.contains(&tollgate::app::dev::DEMO_ENVIRONMENT));

    // Partial update: only the given fields change.
    let res = s
        .ops_put(
            &format!("{ENVS}/env-1"),
            json!({"tenant": "Other", "tlsEnabled": "true"}),
        )
        .await;
    res.expect(StatusCode::OK);
    let updated = &res.json()["data"];
    assert_eq!(updated["tenant"], "Other");
    assert_eq!(updated["tlsEnabled"], true);
    assert_eq!(updated["appName"], "Cloud");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["configServers"], data["configServers"]);
    let stored = s.db.get_environment("env-1").await.unwrap().unwrap();
    assert_eq!(
        stored.password.as_deref(),
        Some("cs-password"),
        "kept when not given"
    );

    // The id is the path's.
    let msg = s
        .ops_put(&format!("{ENVS}/env-1"), json!({"id": "other"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("'id'"), "{msg}");

    s.ops_get(&format!("{ENVS}/nope"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_put(&format!("{ENVS}/nope"), json!({"tenant": "x"}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    let msg = s
        .ops_post(ENVS, sample_environment("env-1"))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(msg.contains("env-1"), "{msg}");

    s.ops_delete(&format!("{ENVS}/{generated}"))
        .await
        .expect(StatusCode::OK);
    s.ops_get(&format!("{ENVS}/{generated}"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&format!("{ENVS}/{generated}"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

async fn environment_validation(s: TestServer) {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": 0}]}),
            "configServers[0].primaryPort",
        ),
        (
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": 70000}]}),
            "configServers[0].primaryPort",
        ),
        (
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": "x"}]}),
            "configServers[0].primaryPort",
        ),
        (
            json!({"configServers": [{"primaryAddress": "", "primaryPort": 1}]}),
            "configServers[0].primaryAddress",
        ),
        (
            json!({"configServers": [{"primaryAddress": "bad host", "primaryPort": 1}]}),
            "configServers[0].primaryAddress",
        ),
        (
            json!({"configServers": [{"primaryPort": 1}]}),
            "configServers[0].primaryAddress",
        ),
        (
            json!({"configServers": [{"primaryAddress": "cs"}]}),
            "configServers[0].primaryPort",
        ),
        (
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": 1, "backupAddress": "cs2"}]}),
            "backupPort",
        ),
        (
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": 1, "backupAddress": "cs2", "backupPort": 65536}]}),
            "configServers[0].backupPort",
        ),
        (json!({"localTimeout": -1}), "localTimeout"),
        (json!({"remoteTimeout": 100000}), "remoteTimeout"),
        (json!({"traceMode": "loud"}), "traceMode"),
        (json!({"connectionProtocol": ""}), "connectionProtocol"),
        (json!({"tlsEnabled": "yes"}), "tlsEnabled"),
        (json!({"id": "has space"}), "'id'"),
        (json!({"colour": "blue"}), "colour"),
        (json!({"version": 3}), "version"),
    ];
    for (data, field) in cases {
        let msg = s
            .ops_post(ENVS, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(field),
            "{data}: message {msg:?} does not name {field}"
        );
    }
    // Ports carry the rule.
    let msg = s
        .ops_post(
            ENVS,
            json!({"configServers": [{"primaryAddress": "cs", "primaryPort": 0}]}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("1 to 65535"), "{msg}");
    // A wrongly typed password is named, never echoed.
    let msg = s
        .ops_post(ENVS, json!({"password": 12345678}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("password") && !msg.contains("12345678"),
        "{msg}"
    );
    // Body shape and syntax.
    for raw in [
        "",
        "[]",
        "{\"env\": {}}",
        "{\"data\": [1]}",
        "{\"data\": {\"tenant\": x}}",
        "{\"data\": {}} trailing",
    ] {
        let res = s
            .ops_as(
                Method::POST,
                ENVS,
                Some((OPS_USER, OPS_PASSWORD)),
                Some(raw.to_string()),
            )
            .await;
        let msg = res.expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("data") || msg.contains("JSON"), "{raw}: {msg}");
    }
    // Nothing was created by the refused requests (the demo one is all).
    assert_eq!(
        s.ops_get(ENVS).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Valid edge values are accepted.
    let res = s
        .ops_post(
            ENVS,
            json!({"localTimeout": 0, "remoteTimeout": 3600, "configServers": [
                {"primaryAddress": "10.0.0.1", "primaryPort": 65535, "backupAddress": "::1", "backupPort": 1}]}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    assert_eq!(
        res.json()["data"]["configServers"][0]["backupAddress"],
        "::1"
    );
}

async fn environment_delete_rules(s: TestServer) {
    create_env(&s, "env-1").await;
    create_cc(&s, "cc-1", "env-1", &["one"]).await;
    create_cc(&s, "cc-2", "env-1", &["two"]).await;
    let msg = s
        .ops_delete(&format!("{ENVS}/env-1"))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(
        msg.contains("cc-1") && msg.contains("cc-2") && msg.contains("cascade"),
        "{msg}"
    );
    s.ops_get(&format!("{CCS}/cc-1"))
        .await
        .expect(StatusCode::OK);
    s.ops_delete(&format!("{ENVS}/env-1?cascade=maybe"))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    s.ops_delete(&format!("{ENVS}/env-1?cascade=true"))
        .await
        .expect(StatusCode::OK);
    for cc in ["cc-1", "cc-2"] {
        s.ops_get(&format!("{CCS}/{cc}"))
            .await
            .expect_api_error(StatusCode::NOT_FOUND);
    }
    s.ops_get(&format!("{ENVS}/env-1"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    // The demo contact center and its environment are untouched.
    s.ops_get(&format!("{CCS}/demo"))
        .await
        .expect(StatusCode::OK);
}

// ---------------------------------------------------------------- contact centers

async fn contact_centers_crud(s: TestServer) {
    create_env(&s, "env-1").await;
    let res = s
        .ops_post(
            CCS,
            json!({"id": "cc-1", "environmentId": "env-1", "domains": ["t100", "T100-alias"]}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    let body = res.json();
    assert_eq!(body["path"], "/contact-centers/cc-1");
    assert_eq!(id_from_path(&body), "cc-1");
    let cc = &body["data"];
    assert_eq!(cc["auth"], "builtin", "the default directory");
    assert_eq!(cc["enabled"], true);
    assert_eq!(cc["name"], "t100", "the name defaults to the first domain");
    assert_eq!(cc["domains"], json!(["t100", "T100-alias"]));
    assert_eq!(cc["environmentId"], "env-1");
    assert_eq!(cc["version"], 1);

    // Generated id; explicit builtin.
    let res = s
        .ops_post(CCS, json!({"environmentId": "env-1", "domains": ["t200"], "auth": "builtin", "name": "Two hundred", "enabled": false}))
        .await;
    res.expect(StatusCode::CREATED);
    let generated = id_from_path(&res.json());
    assert!(uuid::Uuid::parse_str(&generated).is_ok());
    assert_eq!(res.json()["data"]["enabled"], false);
    assert_eq!(res.json()["data"]["name"], "Two hundred");

    let list = s.ops_get(CCS).await;
    list.expect(StatusCode::OK);
    let mut ids: Vec<String> = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = vec!["cc-1".to_string(), "demo".to_string(), generated.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // Partial update.
    let res = s
        .ops_put(
            &format!("{CCS}/cc-1"),
            json!({"name": "Renamed", "domains": ["t100"]}),
        )
        .await;
    res.expect(StatusCode::OK);
    let updated = &res.json()["data"];
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["domains"], json!(["t100"]));
    assert_eq!(updated["environmentId"], "env-1");
    assert_eq!(updated["version"], 2);
    assert_eq!(res.header(header::ETAG), Some("\"2\""));
    // The freed domain can be taken by another contact center.
    let res = s
        .ops_put(
            &format!("{CCS}/{generated}"),
            json!({"domains": ["t200", "t100-ALIAS"]}),
        )
        .await;
    res.expect(StatusCode::OK);

    // Moving to another environment checks it exists.
    create_env(&s, "env-2").await;
    let res = s
        .ops_put(&format!("{CCS}/cc-1"), json!({"environmentId": "env-2"}))
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["environmentId"], "env-2");
    let msg = s
        .ops_put(&format!("{CCS}/cc-1"), json!({"environmentId": "env-x"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("env-x") && msg.contains("environmentId"),
        "{msg}"
    );

    s.ops_delete(&format!("{CCS}/cc-1"))
        .await
        .expect(StatusCode::OK);
    s.ops_get(&format!("{CCS}/cc-1"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&format!("{CCS}/cc-1"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_put(&format!("{CCS}/cc-1"), json!({"name": "x"}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

async fn contact_center_validation(s: TestServer) {
    create_env(&s, "env-1").await;
    create_cc(&s, "cc-1", "env-1", &["Acme"]).await;
    // Domains are unique across contact centers ignoring case: 409 naming it.
    let msg = s
        .ops_post(
            CCS,
            json!({"environmentId": "env-1", "domains": ["fresh", "ACME"]}),
        )
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(msg.contains("ACME"), "{msg}");
    let msg = s
        .ops_put(&format!("{CCS}/demo"), json!({"domains": ["acme"]}))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(msg.contains("acme"), "{msg}");
    let msg = s
        .ops_post(
            CCS,
            json!({"id": "cc-1", "environmentId": "env-1", "domains": ["other"]}),
        )
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(msg.contains("cc-1"), "{msg}");
    // The refused create left the fresh domain free.
    create_cc(&s, "cc-2", "env-1", &["fresh"]).await;

    let cases: Vec<(Value, &str)> = vec![
        (json!({"domains": ["x1"]}), "environmentId"),
        (json!({"environmentId": "env-1"}), "domains"),
        (json!({"environmentId": "env-1", "domains": []}), "domains"),
        (
            json!({"environmentId": "env-1", "domains": ["-bad"]}),
            "-bad",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["has space"]}),
            "has space",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["a\\b"]}),
            "domains",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["dup", "DUP"]}),
            "DUP",
        ),
        (
            json!({"environmentId": "env-1", "domains": "x1"}),
            "domains",
        ),
        (
            json!({"environmentId": "env-none", "domains": ["x1"]}),
            "env-none",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["x1"], "auth": "kerberos"}),
            "auth",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["x1"], "enabled": "sometimes"}),
            "enabled",
        ),
        (
            json!({"environmentId": "env-1", "domains": ["x1"], "tenant": "x"}),
            "tenant",
        ),
    ];
    for (data, needle) in cases {
        let msg = s
            .ops_post(CCS, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(needle),
            "{data}: message {msg:?} does not name {needle}"
        );
    }
    let msg = s
        .ops_post(
            CCS,
            json!({"environmentId": "env-1", "domains": [&"x".repeat(64)]}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("1-63"), "{msg}");
    // Every directory is there: accepted; an unknown one is refused.
    for (domain, scheme) in [("cs1", "configServer"), ("sso1", "saml")] {
        s.ops_post(
            CCS,
            json!({"environmentId": "env-1", "domains": [domain], "auth": scheme}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let msg = s
        .ops_post(
            CCS,
            json!({"environmentId": "env-1", "domains": ["x1"], "auth": "kerberos"}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("'auth' must be one of"), "{msg}");
    s.ops_get(&format!("{CCS}/x1"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

async fn optimistic_concurrency(s: TestServer) {
    create_env(&s, "env-1").await;
    create_cc(&s, "cc-1", "env-1", &["one"]).await;
    for path in [format!("{ENVS}/env-1"), format!("{CCS}/cc-1")] {
        // Two writers read version 1; the second one loses with 409.
        let first = s
            .ops_put(&path, json!({"version": 1, "name_or_tenant": 0}))
            .await;
        // (unknown field: refused, and nothing changed)
        first.expect_api_error(StatusCode::BAD_REQUEST);
        let field = if path.contains("environments") {
            "tenant"
        } else {
            "name"
        };
        s.ops_put(&path, json!({"version": 1, field: "first"}))
            .await
            .expect(StatusCode::OK);
        let msg = s
            .ops_put(&path, json!({"version": 1, field: "second"}))
            .await
            .expect_api_error(StatusCode::CONFLICT);
        assert!(
            msg.contains("version 1") && msg.contains("version 2"),
            "{msg}"
        );
        assert_eq!(s.ops_get(&path).await.json()["data"][field], "first");

        // The same through If-Match.
        let put = |if_match: &'static str, value: &'static str| {
            let path = path.clone();
            let s = &s;
            async move {
                s.send(
                    Request::builder()
                        .method(Method::PUT)
                        .uri(&path)
                        .header(header::AUTHORIZATION, basic(OPS_USER, OPS_PASSWORD))
                        .header(header::IF_MATCH, if_match)
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(json!({"data": {field: value}}).to_string()))
                        .unwrap(),
                )
                .await
            }
        };
        put("\"1\"", "stale")
            .await
            .expect_api_error(StatusCode::CONFLICT);
        let res = put("\"2\"", "third").await;
        res.expect(StatusCode::OK);
        assert_eq!(res.header(header::ETAG), Some("\"3\""));
        put("not-a-version", "x")
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        // Without a version the write applies to what was read.
        let res = s.ops_put(&path, json!({field: "fourth"})).await;
        res.expect(StatusCode::OK);
        assert_eq!(res.json()["data"]["version"], 4);
    }
}

// ---------------------------------------------------------------- settings

async fn settings_and_cors_origins_setting(s: TestServer) {
    let path = format!("{CCS}/demo/settings");
    let res = s.ops_get(&path).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["settings"], json!([]));

    // The original's provisioning call, with "shared" as a string.
    let res = s
        .ops_post(
            &path,
            json!({"location": "/", "name": "cors-origins", "shared": "true",
                                "value": "https://a.example,https://b.example:8443"}),
        )
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["shared"], true);
    s.ops_post(
        &path,
        json!({"location": "/USW1", "name": "theme", "shared": false, "value": "dark"}),
    )
    .await
    .expect(StatusCode::OK);
    let list = s.ops_get(&path).await.json()["data"]["settings"].clone();
    assert_eq!(
        list,
        json!([
            {"location": "/", "name": "cors-origins", "shared": true, "value": "https://a.example,https://b.example:8443"},
            {"location": "/USW1", "name": "theme", "shared": false, "value": "dark"}
        ])
    );

    // POST replaces the whole value (the original's overwrite semantics).
    s.ops_post(&path, json!({"location": "/", "name": "cors-origins", "shared": "true", "value": "https://c.example"}))
        .await
        .expect(StatusCode::OK);
    let list = s.ops_get(&path).await.json()["data"]["settings"].clone();
    assert_eq!(list[0]["value"], "https://c.example");

    // Every origin must be scheme://host[:port]: 400 naming the bad one.
    for bad in [
        "https://ok.example,https://x.example/path",
        "ftp//nope",
        "https://x.example?q=1",
        "https://user@x.example",
    ] {
        let msg = s
            .ops_post(
                &path,
                json!({"location": "/", "name": "cors-origins", "shared": true, "value": bad}),
            )
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        let offending = bad.rsplit(',').next().unwrap();
        assert!(msg.contains(offending), "{bad}: {msg}");
    }
    assert_eq!(
        s.ops_get(&path).await.json()["data"]["settings"][0]["value"],
        "https://c.example"
    );

    for (data, needle) in [
        (json!({"value": "x"}), "name"),
        (json!({"name": "x"}), "value"),
        (json!({"name": "bad name", "value": "x"}), "name"),
        (
            json!({"name": "x", "value": "x", "shared": "maybe"}),
            "shared",
        ),
        (json!({"name": "x", "value": 3}), "value"),
    ] {
        let msg = s
            .ops_post(&path, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(needle), "{data}: {msg}");
    }

    s.ops_delete(&format!("{path}/theme"))
        .await
        .expect(StatusCode::OK);
    let msg = s
        .ops_delete(&format!("{path}/theme"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    assert!(msg.contains("theme"), "{msg}");
    assert_eq!(
        s.ops_get(&path).await.json()["data"]["settings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let missing = format!("{CCS}/nope/settings");
    s.ops_get(&missing)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_post(&missing, json!({"name": "x", "value": "y"}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&format!("{missing}/x"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- cors

async fn cors_api(s: TestServer) {
    create_env(&s, "env-1").await;
    create_cc(&s, "cc-1", "env-1", &["one"]).await;
    let res = s
        .ops_post(
            CORS,
            json!({"contactCenterId": "demo", "origin": "https://X.example:443"}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    assert_eq!(
        res.json()["data"],
        json!({"contactCenterId": "demo", "origin": "https://x.example"}),
        "stored as browsers send it"
    );
    // Adding again is idempotent.
    let res = s
        .ops_post(
            CORS,
            json!({"contactCenterId": "demo", "origin": "https://x.example"}),
        )
        .await;
    res.expect(StatusCode::OK);
    s.ops_post(
        CORS,
        json!({"contactCenterId": "cc-1", "origin": "http://localhost:3000"}),
    )
    .await
    .expect(StatusCode::CREATED);

    let all = s.ops_get(CORS).await;
    all.expect(StatusCode::OK);
    assert_eq!(
        all.json()["data"]["origins"],
        json!([
            {"contactCenterId": "cc-1", "origin": "http://localhost:3000"},
            {"contactCenterId": "demo", "origin": "https://x.example"}
        ])
    );
    let one = s.ops_get(&format!("{CORS}?contactCenterId=cc-1")).await;
    assert_eq!(
        one.json()["data"]["origins"],
        json!([{"contactCenterId": "cc-1", "origin": "http://localhost:3000"}])
    );
    s.ops_get(&format!("{CORS}?contactCenterId=nope"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);

    for (data, needle, status) in [
        (
            json!({"contactCenterId": "demo", "origin": "https://x.example/app"}),
            "https://x.example/app",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"contactCenterId": "demo", "origin": "x.example"}),
            "x.example",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"contactCenterId": "demo"}),
            "origin",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"origin": "https://x.example"}),
            "contactCenterId",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"contactCenterId": "nope", "origin": "https://x.example"}),
            "nope",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let msg = s
            .ops_post(CORS, data.clone())
            .await
            .expect_api_error(status);
        assert!(msg.contains(needle), "{data}: {msg}");
    }

    // Delete by query; the origin is matched in its normalized form.
    let del = format!("{CORS}?contactCenterId=demo&origin=https%3A%2F%2FX.example");
    s.ops_delete(&del).await.expect(StatusCode::OK);
    let msg = s
        .ops_delete(&del)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    assert!(msg.contains("https://x.example"), "{msg}");
    let msg = s
        .ops_delete(&format!("{CORS}?origin=https%3A%2F%2Fx.example"))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("contactCenterId"), "{msg}");
    let msg = s
        .ops_delete(&format!("{CORS}?contactCenterId=demo"))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("origin"), "{msg}");
    assert_eq!(
        s.ops_get(CORS).await.json()["data"]["origins"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting the contact center takes its origins with it.
    s.ops_delete(&format!("{CCS}/cc-1"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s.ops_get(CORS).await.json()["data"]["origins"], json!([]));
}

// ---------------------------------------------------------------- users

async fn users_crud(s: TestServer) {
    let path = users_path("demo");
    let body = create_user(
        &s,
        "demo",
        json!({"userName": "Alice", "password": "alice-password", "firstName": "Alice", "lastName": "Liddell",
               "email": "alice@example.com", "authorities": ["ROLE_AGENT"], "properties": {"team": "blue"}}),
    )
    .await;
    let alice = body["data"].clone();
    let alice_id = alice["id"].as_str().unwrap().to_string();
    assert_eq!(
        body["path"],
        format!("/contact-centers/demo/users/{alice_id}")
    );
    assert_eq!(alice["userName"], "Alice");
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["mustChangePassword"], false);
    assert_eq!(alice["properties"], json!({"team": "blue"}));
    assert!(alice["dbid"].as_i64().unwrap() > 0);
    assert!(alice.get("temporaryPassword").is_none(), "{alice}");
    assert_no_password(&alice);
    for key in [
        "id",
        "userName",
        "dbid",
        "firstName",
        "lastName",
        "email",
        "authorities",
        "properties",
        "enabled",
        "mustChangePassword",
        "version",
        "createdAt",
        "updatedAt",
    ] {
        assert!(alice.get(key).is_some(), "{key} missing from {alice}");
    }
    // The given password works at once.
    password_grant(&s, "demo\\alice", "alice-password")
        .await
        .tokens();

    // Without a password: a temporary one, shown once, that must be changed.
    let body = create_user(&s, "demo", json!({"userName": "bob", "firstName": "Bob"})).await;
    let bob = body["data"].clone();
    let temporary = str_of(&bob, "temporaryPassword").to_string();
    assert!(temporary.len() >= 16, "{temporary}");
    assert_eq!(bob["mustChangePassword"], true);
    let bob_id = str_of(&bob, "id").to_string();
    let res = s.ops_get(&format!("{path}/{bob_id}")).await;
    res.expect(StatusCode::OK);
    assert!(res.json()["data"].get("temporaryPassword").is_none());
    assert!(!res.text().contains(&temporary));
    let msg = password_grant(&s, "demo\\bob", &temporary)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        msg["error_description"]
            .as_str()
            .unwrap()
            .contains("changed"),
        "{msg}"
    );

    // Duplicate user names (ignoring case) are refused by name.
    let msg = s
        .ops_post(
            &path,
            json!({"userName": "ALICE", "password": "whatever-1"}),
        )
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(msg.contains("ALICE"), "{msg}");

    // List with paging and search; the demo user is there too.
    let res = s.ops_get(&path).await;
    res.expect(StatusCode::OK);
    let page = res.json()["data"].clone();
    assert_eq!(page["total"], 3);
    assert_eq!(page["offset"], 0);
    assert_eq!(page["limit"], 100);
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["agent", "Alice", "bob"]);
    assert!(!res.text().contains("$argon2"));
    let page = s.ops_get(&format!("{path}?offset=1&limit=1")).await.json()["data"].clone();
    assert_eq!(
        (
            page["total"].as_i64(),
            page["offset"].as_i64(),
            page["limit"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(page["users"][0]["userName"], "Alice");
    let page = s.ops_get(&format!("{path}?search=LIDDELL")).await.json()["data"].clone();
    assert_eq!(page["total"], 1);
    assert_eq!(page["users"][0]["id"], alice_id.as_str());
    for bad in ["offset=-1", "limit=0", "limit=1001", "limit=x"] {
        let msg = s
            .ops_get(&format!("{path}?{bad}"))
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(bad.split('=').next().unwrap()), "{bad}: {msg}");
    }

    // Partial update.
    let res = s
        .ops_put(
            &format!("{path}/{alice_id}"),
            json!({"lastName": "Smith", "authorities": ["ROLE_SUPERVISOR"]}),
        )
        .await;
    res.expect(StatusCode::OK);
    let updated = res.json()["data"].clone();
    assert_eq!(updated["lastName"], "Smith");
    assert_eq!(updated["firstName"], "Alice");
    assert_eq!(updated["authorities"], json!(["ROLE_SUPERVISOR"]));
    assert_eq!(updated["properties"], json!({"team": "blue"}));
    assert_eq!(updated["version"], 2);
    // Sign-in still works: a profile change is not a password change.
    password_grant(&s, "demo\\alice", "alice-password")
        .await
        .tokens();

    for (data, needle) in [
        (json!({"password": "new-password-1"}), "reset-password"),
        (json!({"userName": "alice2"}), "userName"),
        (json!({"dbid": 999999}), "dbid"),
    ] {
        let msg = s
            .ops_put(&format!("{path}/{alice_id}"), data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(needle), "{data}: {msg}");
    }
    s.ops_put(
        &format!("{path}/{alice_id}"),
        json!({"version": 1, "lastName": "Stale"}),
    )
    .await
    .expect_api_error(StatusCode::CONFLICT);

    // Delete.
    s.ops_delete(&format!("{path}/{bob_id}"))
        .await
        .expect(StatusCode::OK);
    s.ops_get(&format!("{path}/{bob_id}"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&format!("{path}/{bob_id}"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_put(&format!("{path}/{bob_id}"), json!({"firstName": "x"}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_get(&users_path("nope"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);

    // Reset with a given password: usable at once.
    let res = s
        .ops_post(
            &format!("{path}/{alice_id}/reset-password"),
            json!({"password": "brand-new-pass"}),
        )
        .await;
    res.expect(StatusCode::OK);
    assert!(res.json()["data"].get("temporaryPassword").is_none());
    assert_eq!(res.json()["data"]["mustChangePassword"], false);
    password_grant(&s, "demo\\alice", "brand-new-pass")
        .await
        .tokens();
    password_grant(&s, "demo\\alice", "alice-password")
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Reset with an empty body: a temporary password, shown once.
    let res = s
        .ops_as(
            Method::POST,
            &format!("{path}/{alice_id}/reset-password"),
            Some((OPS_USER, OPS_PASSWORD)),
            None,
        )
        .await;
    res.expect(StatusCode::OK);
    let data = res.json()["data"].clone();
    assert_eq!(data["mustChangePassword"], true);
    let temporary = str_of(&data, "temporaryPassword").to_string();
    password_grant(&s, "demo\\alice", &temporary)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let msg = s
        .ops_post(
            &format!("{path}/{alice_id}/reset-password"),
            json!({"password": "short"}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("at least 8"), "{msg}");
    s.ops_post(&format!("{path}/nope/reset-password"), json!({}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

async fn user_sessions_end_on_disable_delete_and_reset(s: TestServer) {
    let path = users_path("demo");
    let created = create_user(
        &s,
        "demo",
        json!({"userName": "carol", "password": "carol-password"}),
    )
    .await;
    let id = str_of(&created["data"], "id").to_string();
    let login = || async {
        let t = s
            .token(
                DEMO,
                &[
                    ("grant_type", "password"),
                    ("username", "demo\\carol"),
                    ("password", "carol-password"),
                    ("scope", "openid offline_access"),
                ],
            )
            .await
            .tokens();
        (
            str_of(&t, "access_token").to_string(),
            t["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
        )
    };
    let refresh = |rt: String| {
        let s = &s;
        async move {
            s.token(
                DEMO,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        }
    };

    // Disabling ends both the access and the refresh token.
    let (at, rt) = login().await;
    assert!(s.is_active(&at).await);
    s.ops_put(&format!("{path}/{id}"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    assert!(
        !s.is_active(&at).await,
        "the access token outlived the disable"
    );
    refresh(rt)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    password_grant(&s, "demo\\carol", "carol-password")
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // Enabled again, new sessions work; a password reset ends them.
    s.ops_put(&format!("{path}/{id}"), json!({"enabled": true}))
        .await
        .expect(StatusCode::OK);
    let (at, rt) = login().await;
    assert!(s.is_active(&at).await);
    s.ops_post(
        &format!("{path}/{id}/reset-password"),
        json!({"password": "carol-password"}),
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        !s.is_active(&at).await,
        "the access token outlived the reset"
    );
    refresh(rt)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // Deleting ends them too.
    let (at, rt) = login().await;
    s.ops_delete(&format!("{path}/{id}"))
        .await
        .expect(StatusCode::OK);
    assert!(
        !s.is_active(&at).await,
        "the access token outlived the delete"
    );
    refresh(rt)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // Other users were not touched.
    let demo = s.user_token().await;
    assert!(s.is_active(&demo).await);
}

async fn users_need_the_builtin_directory(s: TestServer) {
    // A Configuration Server contact center has no built-in users to manage.
    let t = now();
    s.db.create_contact_center(&ContactCenter {
        id: "cs-cc".into(),
        name: "CS".into(),
        domains: vec!["cs".into()],
        environment_id: tollgate::app::dev::DEMO_ENVIRONMENT.into(),
        auth: AuthScheme::ConfigServer,
        second_factor: Default::default(),
        enabled: true,
        version: 1,
        created_at: t,
        updated_at: t,
    })
    .await
    .unwrap();
    let path = users_path("cs-cc");
    let msgs = [
        s.ops_get(&path)
            .await
            .expect_api_error(StatusCode::CONFLICT),
        s.ops_post(&path, json!({"userName": "x", "password": "password-1"}))
            .await
            .expect_api_error(StatusCode::CONFLICT),
        s.ops_get(&format!("{path}/u"))
            .await
            .expect_api_error(StatusCode::CONFLICT),
        s.ops_put(&format!("{path}/u"), json!({"firstName": "x"}))
            .await
            .expect_api_error(StatusCode::CONFLICT),
        s.ops_delete(&format!("{path}/u"))
            .await
            .expect_api_error(StatusCode::CONFLICT),
        s.ops_post(&format!("{path}/u/reset-password"), json!({}))
            .await
            .expect_api_error(StatusCode::CONFLICT),
    ];
    for msg in msgs {
        assert!(msg.contains("configServer"), "{msg}");
    }
    // It is still listed and readable as a contact center.
    let res = s.ops_get(&format!("{CCS}/cs-cc")).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["auth"], "configServer");
}

async fn user_validation(s: TestServer) {
    let path = users_path("demo");
    for (data, needle) in [
        (json!({"password": "long-enough"}), "userName"),
        (json!({"userName": "x", "password": "short"}), "at least 8"),
        (
            json!({"userName": "x", "password": "p".repeat(300)}),
            "password",
        ),
        (
            json!({"userName": "tenant\\x", "password": "long-enough"}),
            "userName",
        ),
        (
            json!({"userName": "", "password": "long-enough"}),
            "userName",
        ),
        (
            json!({"userName": " x", "password": "long-enough"}),
            "userName",
        ),
        (json!({"userName": "x", "email": "not-an-email"}), "email"),
        (
            json!({"userName": "x", "authorities": "ROLE_AGENT"}),
            "authorities",
        ),
        (json!({"userName": "x", "authorities": [""]}), "authorities"),
        (json!({"userName": "x", "properties": []}), "properties"),
        (json!({"userName": "x", "enabled": "perhaps"}), "enabled"),
        (json!({"userName": "x", "dbid": -4}), "dbid"),
        (json!({"userName": "x", "id": "a/b"}), "'id'"),
        (json!({"userName": "x", "role": "admin"}), "role"),
        (json!({"userName": "x", "version": 2}), "version"),
    ] {
        let msg = s
            .ops_post(&path, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(needle),
            "{data}: message {msg:?} does not name {needle}"
        );
    }
    assert_eq!(
        s.ops_get(&path).await.json()["data"]["total"],
        1,
        "nothing was created"
    );
    // A chosen dbid and id are kept.
    let res = create_user(
        &s,
        "demo",
        json!({"id": "dave", "userName": "dave", "dbid": 4242, "password": "dave-password"}),
    )
    .await;
    assert_eq!(res["data"]["id"], "dave");
    assert_eq!(res["data"]["dbid"], 4242);
    s.ops_post(&path, json!({"userName": "dave2", "dbid": 4242}))
        .await
        .expect_api_error(StatusCode::CONFLICT);
}

// ---------------------------------------------------------------- access

/// `access_rules` sends many wrong operator logins from one address: the
/// operator lockout (tested in `abuse.rs`) is raised so that the access rules
/// are what answers.
fn many_failed_logins() -> tollgate::app::config::CommonArgs {
    tollgate::app::config::CommonArgs {
        lockout_threshold: 1000,
        ..default_args()
    }
}

mod access_rules_on {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let s = super::TestServer::with_args(super::many_failed_logins()).await;
        super::access_rules(s).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let memory = tollgate_store::Ephemeral::memory();
        let args = super::many_failed_logins();
        let Some(s) = super::TestServer::postgres_with("access_rules", args, memory).await else {
            return;
        };
        super::access_rules(s).await;
    }
}

async fn access_rules(s: TestServer) {
    let anonymous = [
        (Method::GET, ENVS.to_string()),
        (Method::POST, ENVS.to_string()),
        (
            Method::GET,
            format!("{ENVS}/{}", tollgate::app::dev::DEMO_ENVIRONMENT),
        ),
        (
            Method::PUT,
            format!("{ENVS}/{}", tollgate::app::dev::DEMO_ENVIRONMENT),
        ),
        (
            Method::DELETE,
            format!("{ENVS}/{}", tollgate::app::dev::DEMO_ENVIRONMENT),
        ),
        (Method::GET, CCS.to_string()),
        (Method::POST, CCS.to_string()),
        (Method::GET, format!("{CCS}/demo")),
        (Method::PUT, format!("{CCS}/demo")),
        (Method::DELETE, format!("{CCS}/demo")),
        (Method::GET, format!("{CCS}/demo/settings")),
        (Method::POST, format!("{CCS}/demo/settings")),
        (Method::DELETE, format!("{CCS}/demo/settings/x")),
        (Method::GET, users_path("demo")),
        (Method::POST, users_path("demo")),
        (Method::GET, format!("{}/u", users_path("demo"))),
        (Method::PUT, format!("{}/u", users_path("demo"))),
        (Method::DELETE, format!("{}/u", users_path("demo"))),
        (
            Method::POST,
            format!("{}/u/reset-password", users_path("demo")),
        ),
        (Method::GET, CORS.to_string()),
        (Method::POST, CORS.to_string()),
        (
            Method::DELETE,
            format!("{CORS}?contactCenterId=demo&origin=https%3A%2F%2Fa.example"),
        ),
    ];
    let body = || Some(json!({"data": {"name": "x"}}).to_string());
    for (method, path) in &anonymous {
        let res = s.ops_as(method.clone(), path, None, body()).await;
        res.expect_api_error(StatusCode::UNAUTHORIZED);
        let challenge = res.header(header::WWW_AUTHENTICATE).unwrap_or_default();
        assert!(
            challenge.contains("Basic") && challenge.contains("Bearer"),
            "{method} {path}: {challenge}"
        );
        let res = s
            .ops_as(method.clone(), path, Some((OPS_USER, "wrong")), body())
            .await;
        res.expect_api_error(StatusCode::UNAUTHORIZED);
        assert!(res
            .header(header::WWW_AUTHENTICATE)
            .is_some_and(|c| c.starts_with("Basic")));
        let res = s
            .bearer_json(
                method.clone(),
                path,
                "not-a-token",
                Some(json!({"name": "x"})),
            )
            .await;
        res.expect_api_error(StatusCode::UNAUTHORIZED);
        assert!(res
            .header(header::WWW_AUTHENTICATE)
            .is_some_and(|c| c.contains("invalid_token")));
    }
    // Nothing changed.
    assert_eq!(
        s.ops_get(&format!("{CCS}/demo")).await.json()["data"]["version"],
        1
    );

    // The demo client holds both roles: its client token works.
    let token = s.client_token().await;
    let res = s.bearer_json(Method::GET, CCS, &token, None).await;
    res.expect(StatusCode::OK);
    let res = s
        .bearer_json(Method::POST, ENVS, &token, Some(json!({"id": "by-token"})))
        .await;
    res.expect(StatusCode::CREATED);

    // A client with neither role: 403 naming the roles.
    let secret = s
        .create_client(json!({"client_id": "plain", "authorities": ["ROLE_AGENT"]}))
        .await
        .expect("secret");
    let plain = s.token_of("plain", &secret).await;
    let msg = s
        .bearer_json(Method::GET, CCS, &plain, None)
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
    assert!(msg.contains("ROLE_MANAGEMENT_APPLICATION"), "{msg}");
    // Either role is enough, and the current registration decides.
    s.ops_put(
        &format!("{CLIENTS}/plain"),
        json!({"authorities": ["ROLE_INTERNAL_CLIENT"]}),
    )
    .await
    .expect(StatusCode::OK);
    s.bearer_json(Method::GET, CCS, &plain, None)
        .await
        .expect(StatusCode::OK);
    s.ops_put(
        &format!("{CLIENTS}/plain"),
        json!({"authorities": ["ROLE_MANAGEMENT_APPLICATION"]}),
    )
    .await
    .expect(StatusCode::OK);
    s.bearer_json(Method::GET, CCS, &plain, None)
        .await
        .expect(StatusCode::OK);
    s.ops_put(&format!("{CLIENTS}/plain"), json!({"authorities": []}))
        .await
        .expect(StatusCode::OK);
    s.bearer_json(Method::GET, CCS, &plain, None)
        .await
        .expect_api_error(StatusCode::FORBIDDEN);

    // A user's token is not a management credential, even via a management client.
    let user = s.user_token().await;
    let msg = s
        .bearer_json(Method::GET, CCS, &user, None)
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
    assert!(msg.contains("client"), "{msg}");
    // A revoked token is refused.
    s.revoke(DEMO, &token).await.expect(StatusCode::OK);
    s.bearer_json(Method::GET, CCS, &token, None)
        .await
        .expect_api_error(StatusCode::UNAUTHORIZED);

    // The OpenAPI document is public.
    s.get("/environment/v3/openapi.json")
        .await
        .expect(StatusCode::OK);
}

async fn bound_clients_see_only_their_contact_centers(s: TestServer) {
    create_env(&s, "env-1").await;
    create_cc(&s, "cc-1", "env-1", &["one"]).await;
    s.ops_post(
        CORS,
        json!({"contactCenterId": "cc-1", "origin": "https://one.example"}),
    )
    .await
    .expect(StatusCode::CREATED);
    s.ops_post(
        CORS,
        json!({"contactCenterId": "demo", "origin": "https://demo.example"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let secret = s
        .create_client(json!({"client_id": "bound", "authorities": ["ROLE_MANAGEMENT_APPLICATION"], "contactCenterIds": ["cc-1"]}))
        .await
        .expect("secret");
    let t = s.token_of("bound", &secret).await;

    let list = s.bearer_json(Method::GET, CCS, &t, None).await;
    list.expect(StatusCode::OK);
    assert_eq!(
        list.json()["data"].as_array().unwrap().len(),
        1,
        "{}",
        list.text()
    );
    assert_eq!(list.json()["data"][0]["id"], "cc-1");
    s.bearer_json(Method::GET, &format!("{CCS}/cc-1"), &t, None)
        .await
        .expect(StatusCode::OK);
    s.bearer_json(
        Method::PUT,
        &format!("{CCS}/cc-1"),
        &t,
        Some(json!({"name": "Mine"})),
    )
    .await
    .expect(StatusCode::OK);
    s.bearer_json(Method::GET, &format!("{CCS}/cc-1/settings"), &t, None)
        .await
        .expect(StatusCode::OK);
    s.bearer_json(
        Method::POST,
        &users_path("cc-1"),
        &t,
        Some(json!({"userName": "eve", "password": "eve-password"})),
    )
    .await
    .expect(StatusCode::CREATED);

    // Every other contact center looks like it does not exist.
    for (method, path, data) in [
        (Method::GET, format!("{CCS}/demo"), None),
        (
            Method::PUT,
            format!("{CCS}/demo"),
            Some(json!({"name": "theirs"})),
        ),
        (Method::DELETE, format!("{CCS}/demo"), None),
        (Method::GET, format!("{CCS}/demo/settings"), None),
        (
            Method::POST,
            format!("{CCS}/demo/settings"),
            Some(json!({"name": "x", "value": "y"})),
        ),
        (Method::DELETE, format!("{CCS}/demo/settings/x"), None),
        (Method::GET, users_path("demo"), None),
        (
            Method::POST,
            users_path("demo"),
            Some(json!({"userName": "x", "password": "password-1"})),
        ),
        (Method::GET, format!("{CORS}?contactCenterId=demo"), None),
        (
            Method::POST,
            CORS.to_string(),
            Some(json!({"contactCenterId": "demo", "origin": "https://evil.example"})),
        ),
        (
            Method::DELETE,
            format!("{CORS}?contactCenterId=demo&origin=https%3A%2F%2Fdemo.example"),
            None,
        ),
    ] {
        let msg = s
            .bearer_json(method.clone(), &path, &t, data)
            .await
            .expect_api_error(StatusCode::NOT_FOUND);
        assert!(msg.contains("demo"), "{method} {path}: {msg}");
    }
    assert_eq!(
        s.ops_get(&format!("{CCS}/demo")).await.json()["data"]["version"],
        1,
        "untouched"
    );
    let origins =
        s.bearer_json(Method::GET, CORS, &t, None).await.json()["data"]["origins"].clone();
    assert_eq!(
        origins,
        json!([{"contactCenterId": "cc-1", "origin": "https://one.example"}])
    );

    // Environments and new contact centers are for unbound callers: 403.
    for (method, path, data) in [
        (Method::GET, ENVS.to_string(), None),
        (Method::POST, ENVS.to_string(), Some(json!({}))),
        (Method::GET, format!("{ENVS}/env-1"), None),
        (
            Method::PUT,
            format!("{ENVS}/env-1"),
            Some(json!({"tenant": "x"})),
        ),
        (Method::DELETE, format!("{ENVS}/env-1"), None),
        (
            Method::POST,
            CCS.to_string(),
            Some(json!({"environmentId": "env-1", "domains": ["new"]})),
        ),
    ] {
        let msg = s
            .bearer_json(method.clone(), &path, &t, data)
            .await
            .expect_api_error(StatusCode::FORBIDDEN);
        assert!(msg.contains("bound"), "{method} {path}: {msg}");
    }
    // Its own contact center it may delete.
    s.bearer_json(Method::DELETE, &format!("{CCS}/cc-1"), &t, None)
        .await
        .expect(StatusCode::OK);
}

/// Issue 14, finding 1: a client bound to cc-1 moved cc-1 into another
/// tenant's environment (its tokens then carried that environment, and
/// `auth: configServer` sign-ins used that tenant's Configuration Server),
/// and chose users' dbids freely.
async fn bound_clients_cannot_move_their_contact_center_or_pick_dbids(s: TestServer) {
    create_env(&s, "env-1").await;
    create_env(&s, "env-other").await;
    create_cc(&s, "cc-1", "env-1", &["one"]).await;
    let secret = s
        .create_client(json!({"client_id": "bound", "authorities": ["ROLE_MANAGEMENT_APPLICATION"], "contactCenterIds": ["cc-1"]}))
        .await
        .expect("secret");
    let t = s.token_of("bound", &secret).await;
    let cc = format!("{CCS}/cc-1");

    let msg = s
        .bearer_json(
            Method::PUT,
            &cc,
            &t,
            Some(json!({"environmentId": "env-other"})),
        )
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
    assert!(msg.contains("environmentId"), "{msg}");
    let stored = s.ops_get(&cc).await.json()["data"].clone();
    assert_eq!(stored["environmentId"], "env-1");
    assert_eq!(stored["version"], 1, "nothing was written");
    // Sending back what it read (the same environment) is fine.
    s.bearer_json(
        Method::PUT,
        &cc,
        &t,
        Some(json!({"environmentId": "env-1", "name": "Mine"})),
    )
    .await
    .expect(StatusCode::OK);

    // The same rule for users' dbids: the server assigns them.
    let msg = s
        .bearer_json(
            Method::POST,
            &users_path("cc-1"),
            &t,
            Some(json!({"userName": "mallory", "password": "password-1", "dbid": 4242})),
        )
        .await
        .expect_api_error(StatusCode::FORBIDDEN);
    assert!(msg.contains("dbid"), "{msg}");
    let (_, total) =
        s.db.list_users(
            "cc-1",
            &tollgate_store::model::UserQuery {
                search: None,
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 0, "no user was created");
    let made = s
        .bearer_json(
            Method::POST,
            &users_path("cc-1"),
            &t,
            Some(json!({"userName": "mallory", "password": "password-1"})),
        )
        .await;
    made.expect(StatusCode::CREATED);
    assert_ne!(made.json()["data"]["dbid"], 4242);

    // Ops credentials and an unbound management client may do both.
    create_user(
        &s,
        "cc-1",
        json!({"userName": "bob", "password": "password-1", "dbid": 4242}),
    )
    .await;
    s.ops_put(&cc, json!({"environmentId": "env-other"}))
        .await
        .expect(StatusCode::OK);
    let admin = s
        .create_client(
            json!({"client_id": "admin", "authorities": ["ROLE_MANAGEMENT_APPLICATION"]}),
        )
        .await
        .expect("secret");
    let admin = s.token_of("admin", &admin).await;
    let moved = s
        .bearer_json(
            Method::PUT,
            &cc,
            &admin,
            Some(json!({"environmentId": "env-1"})),
        )
        .await;
    moved.expect(StatusCode::OK);
    assert_eq!(moved.json()["data"]["environmentId"], "env-1");
}

// ---------------------------------------------------------------- propagation

async fn provisioning_propagates_to_the_authentication_api(s: TestServer) {
    // A second replica on the same database: it learns only through the feed.
    let replica = tollgate::app::serve::build(
        &default_args(),
        "127.0.0.1:0".parse().unwrap(),
        s.db.clone(),
        tollgate_store::Ephemeral::memory(),
    )
    .await
    .unwrap();
    let replica_app = tollgate::app::serve::app(replica.clone(), tollgate::app::serve::Role::Auth);
    let replica_grant = |login: &'static str, password: &'static str| {
        let app = replica_app.clone();
        async move {
            use tower::ServiceExt;
            let req = Request::post(TOKEN)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, basic(DEMO_CLIENT, DEMO_SECRET))
                .body(Body::from(encode_form(&[
                    ("grant_type", "password"),
                    ("username", login),
                    ("password", password),
                ])))
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        }
    };

    let env = create_env(&s, "env-p").await;
    let env_id = id_from_path(&env);
    let res = s
        .ops_post(CCS, json!({"environmentId": env_id, "domains": ["t100"]}))
        .await;
    res.expect(StatusCode::CREATED);
    let cc_id = id_from_path(&res.json());
    create_user(
        &s,
        &cc_id,
        json!({"userName": "agent7", "password": "agent7-password", "authorities": ["ROLE_AGENT"]}),
    )
    .await;

    // This process sees the new tenant at once.
    let tokens = password_grant(&s, "t100\\agent7", "agent7-password")
        .await
        .tokens();
    let claims = s.verify_jwt(str_of(&tokens, "access_token"), ISSUER).await;
    assert_eq!(claims["contact_center_id"], cc_id.as_str());
    assert_eq!(claims["environment_id"], env_id.as_str());
    assert_eq!(claims["authorities"], json!(["ROLE_AGENT"]));

    // The replica does after its sync.
    assert_eq!(
        replica_grant("t100\\agent7", "agent7-password").await,
        StatusCode::BAD_REQUEST
    );
    replica.sync(now()).await.unwrap();
    assert_eq!(
        replica_grant("t100\\agent7", "agent7-password").await,
        StatusCode::OK
    );

    // Disabling the contact center: refused everywhere once synced.
    s.ops_put(&format!("{CCS}/{cc_id}"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    password_grant(&s, "t100\\agent7", "agent7-password")
        .await
        .expect(StatusCode::BAD_REQUEST);
    replica.sync(now()).await.unwrap();
    assert_ne!(
        replica_grant("t100\\agent7", "agent7-password").await,
        StatusCode::OK
    );
}

async fn cors_preflight_follows_the_allow_list(s: TestServer) {
    let allowed = "https://wwe.example.com";
    let res = preflight(&s, allowed).await;
    assert_eq!(allow_origin(&res), None, "nothing is allowed yet");

    s.ops_post(&format!("{CCS}/demo/settings"), json!({"location": "/", "name": "cors-origins", "shared": "true", "value": format!("{allowed},http://localhost:3000")}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    let res = preflight(&s, allowed).await;
    assert!(res.status.is_success(), "{:?}", res.status);
    assert_eq!(allow_origin(&res), Some(allowed));
    assert!(res.headers.get_all(header::VARY).iter().any(|v| v
        .to_str()
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("origin")));
    let methods = res
        .header(header::ACCESS_CONTROL_ALLOW_METHODS)
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    assert_eq!(
        allow_origin(&preflight(&s, "http://localhost:3000").await),
        Some("http://localhost:3000")
    );
    // Others are not.
    for other in [
        "https://evil.example",
        "https://wwe.example.com.evil.example",
        "http://wwe.example.com",
        "null",
    ] {
        assert_eq!(allow_origin(&preflight(&s, other).await), None, "{other}");
    }
    // A real request from an allowed origin carries the header too.
    let res = s
        .send(
            Request::get(JWKS)
                .header(header::ORIGIN, allowed)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(allow_origin(&res), Some(allowed));
    // The Environment API itself is not opened to browsers.
    let res = s
        .send(
            Request::get(CCS)
                .header(header::ORIGIN, allowed)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(allow_origin(&res), None);

    // The per-origin API adds to the same allow-list.
    let extra = "https://gws.example.com";
    assert_eq!(allow_origin(&preflight(&s, extra).await), None);
    s.ops_post(CORS, json!({"contactCenterId": "demo", "origin": extra}))
        .await
        .expect(StatusCode::CREATED);
    s.state.sync(now()).await.unwrap();
    assert_eq!(allow_origin(&preflight(&s, extra).await), Some(extra));

    // Overwriting the setting drops what it no longer lists.
    s.ops_post(&format!("{CCS}/demo/settings"), json!({"location": "/", "name": "cors-origins", "shared": true, "value": "http://localhost:3000"}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    assert_eq!(allow_origin(&preflight(&s, allowed).await), None);
    assert_eq!(allow_origin(&preflight(&s, extra).await), Some(extra));

    // A disabled contact center's origins are not allowed.
    s.ops_put(&format!("{CCS}/demo"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    assert_eq!(allow_origin(&preflight(&s, extra).await), None);
    assert_eq!(
        allow_origin(&preflight(&s, "http://localhost:3000").await),
        None
    );
    s.ops_put(&format!("{CCS}/demo"), json!({"enabled": true}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    assert_eq!(allow_origin(&preflight(&s, extra).await), Some(extra));

    // Deleting the per-origin row removes it.
    s.ops_delete(&format!(
        "{CORS}?contactCenterId=demo&origin=https%3A%2F%2Fgws.example.com"
    ))
    .await
    .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    assert_eq!(allow_origin(&preflight(&s, extra).await), None);
}

async fn deleting_a_contact_center_ends_its_tokens(s: TestServer) {
    create_env(&s, "env-d").await;
    create_cc(&s, "cc-d", "env-d", &["dee"]).await;
    create_user(
        &s,
        "cc-d",
        json!({"userName": "dan", "password": "dan-password"}),
    )
    .await;
    let t = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "dee\\dan"),
                ("password", "dan-password"),
                ("scope", "openid offline_access"),
            ],
        )
        .await
        .tokens();
    let at = str_of(&t, "access_token").to_string();
    let rt = str_of(&t, "refresh_token").to_string();
    assert!(s.is_active(&at).await);
    let demo = s.user_token().await;

    s.ops_delete(&format!("{CCS}/cc-d"))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.unwrap();
    assert!(
        !s.is_active(&at).await,
        "a deleted tenant's token still introspects"
    );
    s.token(
        DEMO,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    password_grant(&s, "dee\\dan", "dan-password")
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(s.is_active(&demo).await, "other tenants are untouched");
}

/// `--password-min-length` and `--password-history` on user creation, the
/// user's own change (JSON API) and an administrator's reset.
#[tokio::test]
async fn password_policy_length_and_history() {
    let s = TestServer::with_args(tollgate::app::config::CommonArgs {
        password_min_length: 10,
        password_history: 3,
        ..default_args()
    })
    .await;
    let path = users_path("demo");
    let msg = s
        .ops_post(&path, json!({"userName": "alice", "password": "nine-char"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("at least 10"), "{msg}");
    let alice = create_user(
        &s,
        "demo",
        json!({"userName": "alice", "password": "alice-pass-0"}),
    )
    .await;
    let alice_id = str_of(&alice["data"], "id").to_string();

    let change = |old: &'static str, new: &'static str| {
        let s = &s;
        async move {
            let tokens = password_grant(s, "demo\\alice", old).await.tokens();
            let at = tokens["access_token"].as_str().unwrap().to_string();
            s.bearer_json(
                Method::POST,
                "/auth/v3/change-password",
                &at,
                Some(json!({"oldPassword": old, "newPassword": new})),
            )
            .await
        }
    };
    let msg = change("alice-pass-0", "too-short")
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("at least 10"), "{msg}");
    change("alice-pass-0", "alice-pass-1")
        .await
        .expect(StatusCode::OK);
    for reused in ["alice-pass-0", "alice-pass-1"] {
        let msg = change("alice-pass-1", reused)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("last 3"), "{reused}: {msg}");
    }
    change("alice-pass-1", "alice-pass-2")
        .await
        .expect(StatusCode::OK);
    change("alice-pass-2", "alice-pass-3")
        .await
        .expect(StatusCode::OK);
    // Three back is out of the window again.
    change("alice-pass-3", "alice-pass-0")
        .await
        .expect(StatusCode::OK);

    // An administrator's reset follows the same rules.
    let reset = format!("{path}/{alice_id}/reset-password");
    let msg = s
        .ops_post(&reset, json!({"password": "alice-pass-3"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("last 3"), "{msg}");
    let msg = s
        .ops_post(&reset, json!({"password": "short"}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("at least 10"), "{msg}");
    s.ops_post(&reset, json!({"password": "alice-pass-1"}))
        .await
        .expect(StatusCode::OK);
    password_grant(&s, "demo\\alice", "alice-pass-1")
        .await
        .tokens();
}

async fn ldap_directory_api(s: TestServer) {
    let path = format!("{CCS}/demo/directory");
    let message = s
        .ops_get(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    assert!(message.contains("no LDAP directory"), "{message}");
    s.ops_get(&format!("{CCS}/nope/directory"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);

    let good = json!({
        "urls": ["ldap://127.0.0.1:389"], "startTls": false,
        "bindMode": "searchThenBind", "serviceDn": "cn=reader,dc=example,dc=org",
        "bindPassword": "Read3r-s3cret", "baseDn": "dc=example,dc=org",
        "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}]
    });
    // Each refusal names the field.
    for (change, field) in [
        (json!({"urls": []}), "urls"),
        (json!({"urls": ["http://ldap.example"]}), "urls"),
        (json!({"bindMode": null}), "bindMode"),
        (json!({"bindPassword": null}), "bindPassword"),
        (json!({"serviceDn": null}), "serviceDn"),
        (json!({"baseDn": ""}), "baseDn"),
        (json!({"userFilter": "(uid=x)"}), "userFilter"),
        (json!({"timeoutMs": 5}), "timeoutMs"),
        (json!({"poolSize": 1000}), "poolSize"),
        (json!({"caCertificate": "not a pem"}), "caCertificate"),
        (
            json!({"bindDnTemplate": "uid={username}"}),
            "bindDnTemplate",
        ),
        (
            json!({"bindMode": "direct", "serviceDn": null, "bindPassword": null}),
            "bindDnTemplate",
        ),
        (json!({"surprise": 1}), "surprise"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let message = s
            .ops_put(&path, body)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{field}: {message}");
        assert!(!message.contains("Read3r-s3cret"), "{message}");
    }

    let res = s.ops_put(&path, good.clone()).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header(header::ETAG), Some("\"1\""));
    let view = res.json()["data"].clone();
    assert!(!view.to_string().contains("Read3r-s3cret"), "{view}");
    assert_eq!(view["bindPasswordSet"], true);
    assert_eq!(view["bindMode"], "searchThenBind");
    assert_eq!(view["userFilter"], "(uid={username})");
    assert_eq!(view["attributes"]["email"], "mail");
    assert_eq!(view["timeoutMs"], 5000);
    assert_eq!(view["version"], 1);
    let read = s.ops_get(&path).await;
    read.expect(StatusCode::OK);
    assert_eq!(read.json()["data"], view);

    // An update may leave the password out (it is kept) and must not be stale.
    let mut update = good.clone();
    update["bindPassword"] = Value::Null;
    update["version"] = json!(1);
    update["activeDirectory"] = json!(true);
    let res = s.ops_put(&path, update.clone()).await;
    res.expect(StatusCode::OK);
    let view = res.json()["data"].clone();
    assert_eq!(
        (view["version"].clone(), view["bindPasswordSet"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(view["activeDirectory"], true);
    s.ops_put(&path, update)
        .await
        .expect_api_error(StatusCode::CONFLICT);

    // Direct binding: no service account left.
    let direct = json!({"urls": ["ldaps://ad.example"], "bindMode": "direct",
        "bindDnTemplate": "{username}@corp.example", "baseDn": "dc=corp,dc=example"});
    let view = s.ops_put(&path, direct).await.json()["data"].clone();
    assert_eq!(view["bindPasswordSet"], false);
    assert_eq!(view["serviceDn"], Value::Null);

    s.ops_delete(&path).await.expect(StatusCode::OK);
    s.ops_get(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

/// `auth: ldap` uses the stored directory, rebuilt when it changes: without
/// one, sign-ins are refused as unavailable for a minute; with one whose
/// server does not answer, for the directory's short retry.
async fn ldap_contact_center_uses_its_stored_directory(s: TestServer) {
    let retry_after = |res: &Res| {
        res.expect_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        res.header(header::RETRY_AFTER).map(str::to_string)
    };
    password_grant(&s, "demo\\agent", DEMO_PASSWORD)
        .await
        .expect(StatusCode::OK);
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "ldap"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        retry_after(&password_grant(&s, "demo\\agent", DEMO_PASSWORD).await).as_deref(),
        Some("60")
    );

    let path = format!("{CCS}/demo/directory");
    // Port 1 on the loopback: refused at once.
    s.ops_put(
        &path,
        json!({"urls": ["ldap://127.0.0.1:1"], "bindMode": "direct",
               "bindDnTemplate": "uid={username},dc=example,dc=org", "baseDn": "dc=example,dc=org",
               "timeoutMs": 1000}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        retry_after(&password_grant(&s, "demo\\agent", DEMO_PASSWORD).await).as_deref(),
        Some("5")
    );

    s.ops_delete(&path).await.expect(StatusCode::OK);
    assert_eq!(
        retry_after(&password_grant(&s, "demo\\agent", DEMO_PASSWORD).await).as_deref(),
        Some("60")
    );

    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "builtin"}))
        .await
        .expect(StatusCode::OK);
    password_grant(&s, "demo\\agent", DEMO_PASSWORD)
        .await
        .expect(StatusCode::OK);
}

/// Issue 14, finding 10: a PUT that moved a write-only secret's destination
/// (LDAP servers or account, OIDC issuer, Configuration Servers) without
/// resending the secret kept the stored one, which then went to the new
/// server. Now the secret must come with the move; an update that leaves
/// the destination alone keeps it as before.
async fn write_only_secrets_stay_with_their_destination(s: TestServer) {
    use tollgate_store::model::LdapBind;
    let ldap = format!("{CCS}/demo/directory");
    let good = json!({
        "urls": ["ldap://ldap.example:389"], "startTls": true, "bindMode": "searchThenBind",
        "serviceDn": "cn=reader,dc=example,dc=org", "bindPassword": "Read3r-s3cret",
        "baseDn": "dc=example,dc=org"
    });
    s.ops_put(&ldap, good.clone()).await.expect(StatusCode::OK);
    for (change, field) in [
        (json!({"urls": ["ldap://attacker.example"]}), "urls"),
        (
            json!({"serviceDn": "cn=admin,dc=example,dc=org"}),
            "serviceDn",
        ),
        (json!({"startTls": false}), "startTls"),
    ] {
        let mut body = good.clone();
        body["bindPassword"] = Value::Null;
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let msg = s
            .ops_put(&ldap, body)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(field) && msg.contains("bindPassword"),
            "{field}: {msg}"
        );
    }
    let stored = s.db.get_ldap_directory("demo").await.unwrap().unwrap();
    assert_eq!(stored.urls, ["ldap://ldap.example:389"]);
    assert_eq!(stored.version, 1, "no refused write was stored");
    // Unchanged destination: the stored password is kept.
    let mut same = good.clone();
    same["bindPassword"] = Value::Null;
    same["timeoutMs"] = json!(2000);
    s.ops_put(&ldap, same).await.expect(StatusCode::OK);
    // A move with the password resent is fine.
    let mut moved = good.clone();
    moved["urls"] = json!(["ldap://ldap2.example:389"]);
    moved["bindPassword"] = json!("N3w-s3cret");
    s.ops_put(&ldap, moved).await.expect(StatusCode::OK);
    let stored = s.db.get_ldap_directory("demo").await.unwrap().unwrap();
    assert_eq!(stored.urls, ["ldap://ldap2.example:389"]);
    assert!(matches!(
        &stored.bind,
        LdapBind::SearchThenBind { service_password, .. } if service_password == "N3w-s3cret"
    ));

    // The OpenID provider's client secret goes to the issuer's token endpoint.
    let oidc = format!("{CCS}/demo/oidc-provider");
    let provider = json!({"issuer": "https://idp.example", "clientId": "tollgate",
        "clientSecret": "0idc-s3cret"});
    s.ops_put(&oidc, provider).await.expect(StatusCode::OK);
    let msg = s
        .ops_put(
            &oidc,
            json!({"issuer": "https://attacker.example", "clientId": "tollgate"}),
        )
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("'issuer'") && msg.contains("clientSecret"),
        "{msg}"
    );
    s.ops_put(
        &oidc,
        json!({"issuer": "https://idp.example", "clientId": "tollgate", "scopes": ["openid"]}),
    )
    .await
    .expect(StatusCode::OK);
    let stored = s.db.get_oidc_provider("demo").await.unwrap().unwrap();
    assert_eq!(
        (stored.issuer.as_str(), stored.client_secret.as_str()),
        ("https://idp.example", "0idc-s3cret")
    );

    // The environment's service account password goes to its Configuration Servers.
    create_env(&s, "env-1").await;
    let env = format!("{ENVS}/env-1");
    // Turning TLS on protects the password better: no need to resend it.
    s.ops_put(&env, json!({"tlsEnabled": true}))
        .await
        .expect(StatusCode::OK);
    for (change, field) in [
        (
            json!({"configServers": [{"primaryAddress": "attacker.example", "primaryPort": 8888}]}),
            "configServers",
        ),
        (json!({"tlsEnabled": false}), "tlsEnabled"),
    ] {
        let msg = s
            .ops_put(&env, change)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(field) && msg.contains("'password'"),
            "{field}: {msg}"
        );
    }
    s.ops_put(&env, json!({"tenant": "Other"}))
        .await
        .expect(StatusCode::OK);
    s.ops_put(
        &env,
        json!({"configServers": [{"primaryAddress": "cs2.example", "primaryPort": 8888}],
               "password": "cs-password-2"}),
    )
    .await
    .expect(StatusCode::OK);
    let stored = s.db.get_environment("env-1").await.unwrap().unwrap();
    assert_eq!(stored.password.as_deref(), Some("cs-password-2"));
    assert_eq!(stored.config_servers[0].primary_address, "cs2.example");
}
