//! The Authentication API's answers against the original's published models
//! (CloudUserDetails, OpenIdUserInfo, UserRole, ApiResponse, ErrorResponse,
//! ResponseStatus, JwtConvertResult): each model's required fields are
//! declared in the OpenAPI document, and each answer has them, with the
//! declared types.

use crate::common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(&tollgate::app::auth_openapi::document()).expect("JSON document")
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s["$ref"].as_str() {
        Some(r) => schema(doc, r.rsplit('/').next().unwrap_or_default()),
        None => s,
    }
}

/// `value` has every required field of `s`, and each field has its type.
fn conforms(doc: &Value, s: &Value, value: &Value, at: &str) {
    let s = resolve(doc, s);
    let kinds: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let ok = kinds.is_empty()
        || kinds.iter().any(|k| match *k {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
    assert!(ok, "{at}: {value} is not {kinds:?}");
    for field in s["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap_or_default();
        assert!(
            value.get(field).is_some(),
            "{at}: required {field} missing in {value}"
        );
    }
    if let (Some(props), Some(obj)) = (s["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            if let Some(p) = props.get(k) {
                conforms(doc, p, v, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(list)) = (s.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"));
        }
    }
}

fn conforms_to(doc: &Value, name: &str, value: &Value) {
    conforms(doc, schema(doc, name), value, name);
}

fn required(doc: &Value, name: &str) -> Vec<String> {
    let mut r: Vec<String> = schema(doc, name)["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    r.sort();
    r
}

#[test]
fn the_document_declares_the_models_required_fields() {
    let doc = document();
    assert_eq!(
        required(&doc, "CloudUserDetails"),
        ["authorities", "username"]
    );
    assert_eq!(required(&doc, "OpenIdUserInfo"), ["authorities", "sub"]);
    assert_eq!(required(&doc, "UserRole"), ["name", "privileges"]);
    assert_eq!(required(&doc, "ErrorResponse"), ["status"]);
    assert_eq!(required(&doc, "ApiResponse"), ["status"]);
    assert_eq!(required(&doc, "ResponseStatus"), ["code"]);
    assert_eq!(
        required(&doc, "JwtConvertResult"),
        ["expiration", "jwtToken"]
    );
    let props = &schema(&doc, "CloudUserDetails")["properties"];
    assert_eq!(
        props["authorities"]["items"]["$ref"],
        "#/components/schemas/UserRole"
    );
    assert_eq!(
        schema(&doc, "JwtConvertResult")["properties"]["expiration"]["format"],
        "date-time"
    );
    assert_eq!(
        schema(&doc, "ResponseStatus")["properties"]["detail"]["type"],
        "object"
    );
}

#[tokio::test]
async fn userinfo_answers_cloud_user_details() {
    let s = TestServer::new().await;
    let doc = document();
    for token in [s.user_token().await, s.client_token().await] {
        let res = s.bearer(Method::GET, "/auth/v3/userinfo", &token).await;
        res.expect(StatusCode::OK);
        let v = res.json();
        conforms_to(&doc, "CloudUserDetails", &v);
        for role in v["authorities"].as_array().expect("authorities") {
            conforms_to(&doc, "UserRole", role);
        }
    }
}

#[tokio::test]
async fn openid_userinfo_answers_open_id_user_info_for_every_scope() {
    let s = TestServer::new().await;
    let doc = document();
    for scope in ["openid", "openid profile email", "*"] {
        let t = s.password_tokens(Some(scope)).await;
        let res = s
            .bearer(
                Method::GET,
                "/auth/v3/openid/userinfo",
                str_of(&t, "access_token"),
            )
            .await;
        res.expect(StatusCode::OK);
        let v = res.json();
        conforms_to(&doc, "OpenIdUserInfo", &v);
        assert_eq!(v["authorities"][0]["name"], "ROLE_AGENT", "{scope}: {v}");
    }
}

#[tokio::test]
async fn enveloped_answers_are_api_responses_and_error_responses() {
    let s = TestServer::new().await;
    let doc = document();
    let at = s.user_token().await;
    let res = s
        .bearer(Method::POST, "/auth/v3/oauth/convert-token", &at)
        .await;
    res.expect(StatusCode::OK);
    let v = res.json();
    conforms_to(&doc, "ApiResponseOf_JwtConvertResult", &v);
    conforms_to(&doc, "JwtConvertResult", &v["data"]);
    for (method, path) in [
        (Method::GET, "/auth/v3/jwt-userinfo"),
        (Method::GET, "/auth/v3/ping"),
    ] {
        let res = s.bearer(method, path, &at).await;
        res.expect(StatusCode::OK);
        conforms_to(&doc, "ApiResponse", &res.json());
    }
    // Errors: the HTTP status as `code`, a message, the OAuth code as detail.
    for (method, path) in [
        (Method::GET, "/auth/v3/userinfo"),
        (Method::GET, "/auth/v3/openid/userinfo"),
        (Method::POST, "/auth/v3/oauth/convert-token"),
        (Method::GET, "/auth/v3/jwt-userinfo"),
        (Method::POST, "/auth/v3/sign-out"),
    ] {
        let res = s.bearer(method, path, "not-a-token").await;
        res.expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
        conforms_to(&doc, "ErrorResponse", &res.json());
    }
    let res = s.get("/auth/v3/ping").await;
    res.expect_api_error(StatusCode::FORBIDDEN);
    conforms_to(&doc, "ErrorResponse", &res.json());
}
