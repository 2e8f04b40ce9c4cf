//! The OpenAPI documents of the Environment and Authentication APIs:
//! generated from the code, served, and committed under docs/openapi/.

use crate::common;

use axum::http::StatusCode;
use common::TestServer;
use serde_json::Value;

/// Every generated document and where it is committed (under docs/openapi/).
fn documents() -> [(&'static str, String); 2] {
    [
        (
            "environment-v3.json",
            tollgate::web::admin_api::openapi::document(),
        ),
        ("auth-v3.json", tollgate::app::auth_openapi::document()),
    ]
}

#[test]
fn openapi_documents_are_committed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi");
    for (name, generated) in documents() {
        let committed_path = format!("{dir}/{name}");
        if std::env::var("TOLLGATE_UPDATE_OPENAPI").as_deref() == Ok("1") {
            std::fs::write(&committed_path, &generated).expect("write the OpenAPI document");
            continue;
        }
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the end".to_string(), |i| format!("line {}", i + 1));
            panic!(
                "docs/openapi/{name} differs from the generated document (first at {line}); \
                 regenerate it with `TOLLGATE_UPDATE_OPENAPI=1 cargo test -p tollgate openapi` and commit it"
            );
        }
    }
}

#[tokio::test]
async fn openapi_is_served_and_covers_every_endpoint() {
    let s = TestServer::new().await;
    let res = s.get("/environment/v3/openapi.json").await;
    res.expect(StatusCode::OK);
    assert_eq!(res.text(), tollgate::web::admin_api::openapi::document());
    let doc = res.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected: &[(&str, &[&str])] = &[
        ("/environment/v3/environments", &["get", "post"]),
        (
            "/environment/v3/environments/{id}",
            &["get", "put", "delete"],
        ),
        ("/environment/v3/contact-centers", &["get", "post"]),
        (
            "/environment/v3/contact-centers/{id}",
            &["get", "put", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/settings",
            &["get", "post"],
        ),
        (
            "/environment/v3/contact-centers/{id}/settings/{name}",
            &["delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/directory",
            &["get", "put", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/oidc-provider",
            &["get", "put", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/saml",
            &["get", "put", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/saml/rotate-key",
            &["post"],
        ),
        (
            "/environment/v3/contact-centers/{id}/saml/reload",
            &["post"],
        ),
        (
            "/environment/v3/contact-centers/{id}/trusted-issuers",
            &["get", "post", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/users",
            &["get", "post"],
        ),
        (
            "/environment/v3/contact-centers/{id}/users/{user_id}",
            &["get", "put", "delete"],
        ),
        (
            "/environment/v3/contact-centers/{id}/users/{user_id}/reset-password",
            &["post"],
        ),
        ("/environment/v3/cors", &["get", "post", "delete"]),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys());
    for (path, methods) in expected {
        let item = &paths[*path];
        for m in *methods {
            assert!(item.get(*m).is_some(), "{m} {path} is not documented");
            assert!(
                item[*m]["responses"]["401"].is_object(),
                "{m} {path}: no 401"
            );
        }
    }
    // Write-only and read-only fields are marked as such.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["EnvironmentInput"]["properties"]["password"]["writeOnly"],
        Value::Bool(true)
    );
    assert!(schemas["EnvironmentView"]["properties"]
        .get("password")
        .is_none());
    assert!(schemas["UserView"]["properties"].get("password").is_none());
    assert_eq!(
        schemas["DirectoryInput"]["properties"]["bindPassword"]["writeOnly"],
        Value::Bool(true)
    );
    assert!(schemas["DirectoryView"]["properties"]
        .get("bindPassword")
        .is_none());
    // The SP's private keys are never part of the SAML view.
    let saml_view = schemas["SamlView"]["properties"].as_object().unwrap();
    assert!(saml_view
        .keys()
        .all(|k| !k.to_lowercase().contains("private")));
    assert!(doc["components"]["securitySchemes"]["basic"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
