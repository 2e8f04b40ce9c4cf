//! Client authentication by signed JWT (`private_key_jwt`, RFC 7523 §2.2):
//! a good assertion authenticates at the token, introspection and revocation
//! endpoints once; forged, stale, misaddressed or replayed ones are
//! `invalid_client`; and each client is pinned to its registered method.

use crate::common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate_store::model::now;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const APP: &str = "jwt-app";

/// An EC P-256 key: its JWK (public) and a signer.
struct Key {
    kid: String,
    jwk: Value,
    encoding: EncodingKey,
}

fn key(kid: &str) -> Key {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("key");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("pair");
    let point = pair.public_key().as_ref();
    Key {
        kid: kid.into(),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
    }
}

/// Claims of a good assertion of `APP`, changed by `patch` (null removes).
fn claims(patch: Value) -> Value {
    let t = now();
    let mut c = json!({"iss": APP, "sub": APP, "aud": ISSUER,
        "iat": t, "exp": t + 120, "jti": uuid::Uuid::new_v4().to_string()});
    for (k, v) in patch.as_object().expect("object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(k: &Key, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.encoding).expect("sign")
}

/// A server with the `private_key_jwt` client `APP` holding `k`'s public key.
async fn server(k: &Key) -> TestServer {
    server_with(k, default_args()).await
}

async fn server_with(k: &Key, args: tollgate::app::config::CommonArgs) -> TestServer {
    let s = TestServer::with_args(args).await;
    let secret = s
        .create_client(
            json!({"client_id": APP, "tokenEndpointAuthMethod": "private_key_jwt",
            "jwks": {"keys": [k.jwk]}, "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await;
    assert_eq!(secret, None, "a private_key_jwt client gets no secret");
    s
}

async fn with_assertion(s: &TestServer, path: &str, assertion: &str, form: &[(&str, &str)]) -> Res {
    let mut f = form.to_vec();
    f.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]);
    s.post_form(path, ClientAuth::None, &f).await
}

async fn cc_token(s: &TestServer, assertion: &str) -> Res {
    with_assertion(s, TOKEN, assertion, &[("grant_type", "client_credentials")]).await
}

#[tokio::test]
async fn a_good_assertion_authenticates_once_at_every_endpoint() {
    let k = key("k1");
    let s = server(&k).await;
    let a = sign(&k, &claims(json!({})));
    let body = cc_token(&s, &a).await.tokens();
    let at = str_of(&body, "access_token").to_string();
    assert_eq!(s.verify_jwt(&at, ISSUER).await["client_id"], APP);

    // The same jti again is a replay.
    cc_token(&s, &a)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // client_id in the form as well.
    let a = sign(&k, &claims(json!({})));
    with_assertion(
        &s,
        TOKEN,
        &a,
        &[("grant_type", "client_credentials"), ("client_id", APP)],
    )
    .await
    .tokens();

    // Introspection and revocation, with the same audience.
    let a = sign(&k, &claims(json!({})));
    let res = with_assertion(&s, INTROSPECT, &a, &[("token", &at)]).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["active"], true);
    let a = sign(&k, &claims(json!({})));
    with_assertion(&s, REVOKE, &a, &[("token", &at)])
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(&at).await);
}

/// A spent assertion stays spent for a process that never saw it (a restart,
/// or Redis coming back empty): the replay cache is durable.
#[tokio::test]
async fn a_replay_is_refused_after_a_restart_with_an_empty_ephemeral_store() {
    let k = key("k1");
    let s = server(&k).await;
    let a = sign(&k, &claims(json!({})));
    cc_token(&s, &a).await.tokens();
    let restarted = tollgate::app::serve::build(
        &default_args(),
        "127.0.0.1:0".parse().expect("addr"),
        s.db.clone(),
        tollgate_store::Ephemeral::memory(),
    )
    .await
    .expect("restarted");
    let app = tollgate::app::serve::app(restarted, tollgate::app::serve::Role::Auth);
    let form = encode_form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &a),
    ]);
    let req = axum::http::Request::post(TOKEN)
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(axum::body::Body::from(form))
        .expect("request");
    let res = tower::ServiceExt::oneshot(app, req)
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Issue 14, finding 16: an assertion addressed to the token, introspection
/// or revocation endpoint was accepted. Only the issuer identifier is now;
/// the token endpoint behind `--client-assertion-token-endpoint-audience`.
#[tokio::test]
async fn the_audience_is_the_issuer_identifier() {
    let k = key("k1");
    let s = server(&k).await;
    let at = str_of(
        &cc_token(&s, &sign(&k, &claims(json!({})))).await.tokens(),
        "access_token",
    )
    .to_string();
    let aud = |path: &str| claims(json!({"aud": format!("{ISSUER}{path}")}));
    for (path, audience) in [
        (TOKEN, TOKEN),
        (TOKEN, INTROSPECT),
        (INTROSPECT, INTROSPECT),
        (INTROSPECT, TOKEN),
        (REVOKE, REVOKE),
    ] {
        let form: &[(&str, &str)] = if path == TOKEN {
            &[("grant_type", "client_credentials")]
        } else {
            &[("token", &at)]
        };
        with_assertion(&s, path, &sign(&k, &aud(audience)), form)
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    assert!(s.is_active(&at).await, "not revoked");

    // Opted in: the token endpoint too, still never the other endpoints.
    let s = server_with(
        &k,
        tollgate::app::config::CommonArgs {
            client_assertion_token_endpoint_audience: true,
            ..default_args()
        },
    )
    .await;
    let at = str_of(
        &cc_token(&s, &sign(&k, &aud(TOKEN))).await.tokens(),
        "access_token",
    )
    .to_string();
    with_assertion(&s, INTROSPECT, &sign(&k, &aud(TOKEN)), &[("token", &at)])
        .await
        .expect(StatusCode::OK);
    for (path, audience) in [
        (TOKEN, INTROSPECT),
        (INTROSPECT, INTROSPECT),
        (REVOKE, REVOKE),
    ] {
        let form: &[(&str, &str)] = if path == TOKEN {
            &[("grant_type", "client_credentials")]
        } else {
            &[("token", &at)]
        };
        with_assertion(&s, path, &sign(&k, &aud(audience)), form)
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

#[tokio::test]
async fn forged_stale_and_misaddressed_assertions_are_refused() {
    let k = key("k1");
    let s = server(&k).await;
    let t = now();
    let refused = |assertion: String, case: &'static str| {
        let s = &s;
        async move {
            let res = cc_token(s, &assertion).await;
            assert_eq!(
                res.status,
                StatusCode::UNAUTHORIZED,
                "{case}: {}",
                res.text()
            );
            assert_eq!(res.json()["error"], "invalid_client", "{case}");
        }
    };
    refused(
        sign(&k, &claims(json!({"aud": "https://elsewhere.example"}))),
        "wrong aud",
    )
    .await;
    refused(
        sign(&k, &claims(json!({"iat": t - 600, "exp": t - 300}))),
        "expired",
    )
    .await;
    refused(sign(&k, &claims(json!({"exp": null}))), "no exp").await;
    refused(sign(&k, &claims(json!({"exp": t + 7200}))), "too long").await;
    refused(
        sign(&k, &claims(json!({"iat": t + 600, "exp": t + 700}))),
        "issued in the future",
    )
    .await;
    refused(
        sign(&k, &claims(json!({"nbf": t + 600, "exp": t + 700}))),
        "not yet valid",
    )
    .await;
    refused(sign(&k, &claims(json!({"jti": null}))), "no jti").await;
    refused(
        sign(&k, &claims(json!({"iss": DEMO_CLIENT}))),
        "iss is not sub",
    )
    .await;
    refused(
        sign(&k, &claims(json!({"sub": DEMO_CLIENT}))),
        "sub is not iss",
    )
    .await;
    refused(sign(&key("k2"), &claims(json!({}))), "unknown kid").await;
    refused(
        sign(&key("k1"), &claims(json!({}))),
        "another key, same kid",
    )
    .await;

    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(claims(json!({})).to_string());
    refused(format!("{header}.{payload}."), "alg none").await;

    // HS256 keyed with the client's public key (algorithm confusion).
    let public = serde_json::to_vec(&k.jwk).expect("jwk");
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&h, &claims(json!({})), &EncodingKey::from_secret(&public))
        .expect("sign");
    refused(confused, "HS256 with the public key").await;

    // The control: the same key and claims, unchanged, pass.
    cc_token(&s, &sign(&k, &claims(json!({})))).await.tokens();
}

#[tokio::test]
async fn each_client_is_pinned_to_its_method() {
    let k = key("k1");
    let s = server(&k).await;
    // The private_key_jwt client cannot use a secret, whatever it is.
    s.token(
        ClientAuth::Basic(APP, "any-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.token(
        ClientAuth::Post(APP, "any-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Nor nothing at all.
    s.token(
        ClientAuth::Public(APP),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // A client_secret client cannot send an assertion, even one signed by a
    // key it would have registered.
    let mut c = claims(json!({"iss": DEMO_CLIENT, "sub": DEMO_CLIENT}));
    c["jti"] = json!("demo-1");
    cc_token(&s, &sign(&k, &c))
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // Two methods at once, or a wrong assertion type, are malformed requests.
    let a = sign(&k, &claims(json!({})));
    with_assertion(
        &s,
        TOKEN,
        &a,
        &[("grant_type", "client_credentials"), ("client_secret", "x")],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    s.token(
        ClientAuth::None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &a),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

    // Switching the client to client_secret gives it a secret, and the
    // assertion no longer works.
    let res = s
        .ops_put(
            &format!("{CLIENTS}/{APP}"),
            json!({"tokenEndpointAuthMethod": "client_secret"}),
        )
        .await;
    res.expect(StatusCode::OK);
    let data = &res.json()["data"];
    assert_eq!(data["jwks"], Value::Null);
    let secret = data["client_secret"].as_str().expect("a new secret");
    cc_token(&s, &a)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.token(
        ClientAuth::Basic(APP, secret),
        &[("grant_type", "client_credentials")],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn the_ops_api_checks_the_client_keys() {
    let k = key("k1");
    let s = server(&k).await;
    let view = s.ops_get(&format!("{CLIENTS}/{APP}")).await.json();
    assert_eq!(view["data"]["tokenEndpointAuthMethod"], "private_key_jwt");
    assert_eq!(view["data"]["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(
        s.ops_get(&format!("{CLIENTS}/{DEMO_CLIENT}")).await.json()["data"]
            ["tokenEndpointAuthMethod"],
        "client_secret"
    );

    let mut private = k.jwk.clone();
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    for (case, data) in [
        (
            "no keys",
            json!({"client_id": "b1", "tokenEndpointAuthMethod": "private_key_jwt"}),
        ),
        (
            "a secret",
            json!({"client_id": "b2", "tokenEndpointAuthMethod": "private_key_jwt",
                   "jwks": {"keys": [k.jwk]}, "client_secret": "long-enough-secret"}),
        ),
        (
            "a private key",
            json!({"client_id": "b3", "tokenEndpointAuthMethod": "private_key_jwt",
                   "jwks": {"keys": [private]}}),
        ),
        (
            "plain http",
            json!({"client_id": "b4", "tokenEndpointAuthMethod": "private_key_jwt",
                   "jwksUri": "http://keys.example/jwks"}),
        ),
        (
            "keys without private_key_jwt",
            json!({"client_id": "b5", "jwks": {"keys": [k.jwk]}}),
        ),
        (
            "a public client",
            json!({"client_id": "b6", "clientType": "PUBLIC",
                   "tokenEndpointAuthMethod": "private_key_jwt", "jwks": {"keys": [k.jwk]}}),
        ),
        (
            "an unknown method",
            json!({"client_id": "b7", "tokenEndpointAuthMethod": "tls_client_auth"}),
        ),
    ] {
        let res = s.ops_post(CLIENTS, data).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            res.text()
        );
    }
}

#[tokio::test]
async fn discovery_advertises_signed_jwt_client_auth() {
    let s = TestServer::new().await;
    let m = s.get("/.well-known/openid-configuration").await.json();
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let methods = m[field].as_array().expect(field);
        assert!(methods.contains(&json!("private_key_jwt")), "{field}");
        assert!(methods.contains(&json!("client_secret_jwt")), "{field}");
    }
    let algs = m["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .expect("algs");
    assert!(algs.contains(&json!("ES256")));
    assert!(algs.contains(&json!("HS256")));
    assert!(!algs.iter().any(|a| a == "none"));
}
