//! The OpenAPI documents of the Environment and Authentication APIs:
//! generated from the code, served, and committed under docs/openapi/.

use crate::common;

use axum::http::StatusCode;
use common::TestServer;
use serde_json::{json, Value};

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
        (
            "/environment/v3/contact-centers/{id}/users/{user_id}/factors",
            &["delete"],
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

/// The EC public key of RFC 7517 appendix A.1.
static RFC7517_EC_KEY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"kty": "EC", "crv": "P-256", "kid": "1",
           "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
           "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"})
});

/// (schema, field, path, method, a request body with the field set to a value).
type BoundedField = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&str, i64) -> Value,
);

/// The document is as strict as the validation: for each bounded number of
/// an Environment API input, the bounds the document states are exactly
/// where the API starts refusing (one below the minimum and one above the
/// maximum are refused with 400, the bounds themselves are not).
#[tokio::test]
async fn documented_bounds_are_the_validations_bounds() {
    let s = TestServer::new().await;
    let doc: serde_json::Value =
        serde_json::from_str(&tollgate::web::admin_api::openapi::document()).unwrap();
    let bounds = |schema: &str, field: &str| {
        let p = &doc["components"]["schemas"][schema]["properties"][field];
        let (min, max) = (p["minimum"].as_i64(), p["maximum"].as_i64());
        (
            min.unwrap_or_else(|| panic!("{schema}.{field}: no minimum")),
            max.unwrap_or_else(|| panic!("{schema}.{field}: no maximum")),
        )
    };
    let directory = "/environment/v3/contact-centers/demo/directory";
    let issuers = "/environment/v3/contact-centers/demo/trusted-issuers";
    let cases: [BoundedField; 3] = [
        ("DirectoryInput", "timeoutMs", directory, "PUT", |f, v| {
            json!({"urls": ["ldap://127.0.0.1:389"], "bindMode": "direct",
                   "bindDnTemplate": "uid={username},dc=example,dc=org",
                   "baseDn": "dc=example,dc=org", f: v})
        }),
        ("DirectoryInput", "poolSize", directory, "PUT", |f, v| {
            json!({"urls": ["ldap://127.0.0.1:389"], "bindMode": "direct",
                   "bindDnTemplate": "uid={username},dc=example,dc=org",
                   "baseDn": "dc=example,dc=org", f: v})
        }),
        (
            "TrustedIssuerInput",
            "maxLifetime",
            issuers,
            "POST",
            |f, v| {
                json!({"issuer": format!("https://issuer-{v}.example"),
                   "jwks": {"keys": [RFC7517_EC_KEY.clone()]}, f: v})
            },
        ),
    ];
    for (schema, field, path, method, body) in cases {
        let (min, max) = bounds(schema, field);
        for (value, refused) in [(min - 1, true), (min, false), (max, false), (max + 1, true)] {
            let res = match method {
                "PUT" => s.ops_put(path, body(field, value)).await,
                _ => s.ops_post(path, body(field, value)).await,
            };
            assert_eq!(
                res.status == StatusCode::BAD_REQUEST,
                refused,
                "{schema}.{field} = {value}: {} {}",
                res.status,
                res.text()
            );
        }
    }
}

/// Every path the Authentication API role mounts (read from the route table,
/// so a new route cannot go undocumented) is in its document, with the
/// answers a client must handle.
#[test]
fn auth_openapi_covers_every_auth_route() {
    let doc: Value = serde_json::from_str(&tollgate::app::auth_openapi::document()).unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    let table = include_str!("../src/app/router.rs");
    let auth_role = &table[..table.find("/// The UI role's routes").expect("the UI role")];
    let mut mounted: Vec<&str> = auth_role
        .split('"')
        .filter(|s| s.starts_with("/auth/v3/") || s.starts_with("/.well-known/"))
        .filter(|s| *s != "/auth/v3/openapi.json")
        .collect();
    mounted.push(tollgate_core::federation::oidc::redirect::CALLBACK_ROUTE);
    assert!(
        mounted.len() >= 20,
        "the route table was not read: {mounted:?}"
    );
    for route in &mounted {
        assert!(
            paths.contains_key(*route),
            "{route} is mounted but not documented"
        );
    }
    assert_eq!(
        paths.len(),
        mounted.len(),
        "documented but not mounted: {:?}",
        paths.keys()
    );
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let answers = op["responses"].as_object().unwrap();
            assert!(
                answers
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: no success"
            );
            // Public metadata is never refused; everything else can be.
            let public = op["tags"][0] == "discovery";
            assert!(
                public || answers.keys().any(|s| s.starts_with('4')),
                "{method} {path}: no refusal"
            );
        }
    }
    // The ops API's own credentials, and the client secret never shown back.
    let schemas = &doc["components"]["schemas"];
    assert!(doc["components"]["securitySchemes"]["ops"].is_object());
    assert_eq!(
        schemas["OAuthClientInput"]["properties"]["client_secret"]["writeOnly"],
        Value::Bool(true)
    );
    assert_eq!(
        doc["paths"]["/auth/v3/ops/clients"]["get"]["security"][0]["ops"],
        json!([])
    );
}
