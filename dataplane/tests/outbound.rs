//! SSRF: URLs a tenant configures (JWKS URIs, SAML metadata URLs, OpenID
//! issuers, LDAP URLs) cannot reach loopback, link-local (cloud metadata)
//! or private addresses unless `--outbound-allow` lists them, and the
//! refusal is one generic message whether a port is open or closed.

use crate::common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};
use tollgate_core::outbound::{Policy, LOOPBACK};

const CCS: &str = "/environment/v3/contact-centers";

/// A server that allows no internal address (the production default).
async fn strict() -> TestServer {
    let mut args = default_args();
    args.outbound_allow = vec![];
    TestServer::with_args(args).await
}

/// An open loopback port, answering anything with an empty JWK Set.
async fn open_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|| async { axum::Json(json!({"keys": []})) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// Every tenant setting that names a URL, with `url` in it: (path, method, body).
fn settings(url: &str) -> Vec<(String, &'static str, Value)> {
    vec![
        (
            format!("{CCS}/demo/trusted-issuers"),
            "POST",
            json!({"issuer": "https://issuer.example", "jwksUri": url}),
        ),
        (
            format!("{CCS}/demo/saml"),
            "PUT",
            json!({"idpMetadataUrl": url, "usernameAttribute": "uid"}),
        ),
        (
            format!("{CCS}/demo/oidc-provider"),
            "PUT",
            json!({"issuer": url, "clientId": "tollgate", "clientSecret": "s3cret"}),
        ),
        (
            format!("{CCS}/demo/directory"),
            "PUT",
            json!({"urls": [ldap_url(url)], "startTls": false,
                   "bindMode": "searchThenBind", "serviceDn": "cn=reader,dc=example,dc=org",
                   "bindPassword": "Read3r-s3cret", "baseDn": "dc=example,dc=org"}),
        ),
    ]
}

/// The same host and port as an LDAP URL.
fn ldap_url(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("ldap://{}{port}", u.host_str().unwrap())
}

async fn write(s: &TestServer, path: &str, method: &str, body: Value) -> common::Res {
    match method {
        "POST" => s.ops_post(path, body).await,
        _ => s.ops_put(path, body).await,
    }
}

#[tokio::test]
async fn internal_urls_are_refused_with_one_generic_message() {
    let s = strict().await;
    let open = open_port().await;
    for url in [
        format!("https://127.0.0.1:{open}/keys"),
        "https://127.0.0.1:9/keys".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://10.0.0.5/keys".to_string(),
        "https://[::1]:9/keys".to_string(),
        "https://[::ffff:a9fe:a9fe]/keys".to_string(),
        format!("https://localhost:{open}/keys"),
    ] {
        for (path, method, body) in settings(&url) {
            let message = write(&s, &path, method, body)
                .await
                .expect_api_error(StatusCode::BAD_REQUEST);
            assert!(
                message.ends_with("cannot be reached from this service (the reason is in its log)"),
                "{path} {url}: {message}"
            );
            // Nothing about the host, the port or why.
            for leak in [
                "127.0.0.1",
                "169.254",
                "10.0.0.5",
                "::1",
                "localhost",
                "refused",
                "special",
            ] {
                assert!(!message.contains(leak), "{path} {url}: {message}");
            }
        }
    }
    assert!(s.db.list_trusted_issuers("demo").await.unwrap().is_empty());
    assert!(s.db.get_oidc_provider("demo").await.unwrap().is_none());
    assert!(s.db.get_ldap_directory("demo").await.unwrap().is_none());
}

#[tokio::test]
async fn allowed_ranges_and_hosts_are_reachable() {
    let mut args = default_args();
    args.outbound_allow = vec!["10.0.0.0/8".into(), "localhost".into()];
    let s = TestServer::with_args(args).await;
    for (issuer, url) in [
        ("https://a.example", "https://10.0.0.5/keys"),
        ("https://b.example", "https://localhost/keys"),
    ] {
        s.ops_post(
            &format!("{CCS}/demo/trusted-issuers"),
            json!({"issuer": issuer, "jwksUri": url}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // Loopback by address is still refused (only the name was allowed).
    s.ops_post(
        &format!("{CCS}/demo/trusted-issuers"),
        json!({"issuer": "https://other.example", "jwksUri": "https://127.0.0.1/keys"}),
    )
    .await
    .expect_api_error(StatusCode::BAD_REQUEST);
}

/// The HTTP clients resolve names through the policy, so the connection
/// goes only to an address that was checked (no DNS rebinding between a
/// check and the connection): a name of a loopback address gets nowhere.
#[tokio::test]
async fn the_resolver_keeps_connections_off_internal_addresses() {
    let port = open_port().await;
    let url = format!("http://localhost:{port}/keys");
    let denied = Arc::new(Policy::default());
    let client = denied.client_builder().build().unwrap();
    let err = client.get(&url).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let allowed = Arc::new(Policy::parse(LOOPBACK).unwrap());
    let client = allowed.client_builder().build().unwrap();
    assert!(client.get(&url).send().await.unwrap().status().is_success());
    // The JWKS cache of assertions: the same keys, refused and fetched.
    let cache = tollgate_core::oauth::jwks::JwksCache::new(&denied);
    assert!(cache.key(&url, None).await.is_err());
}
