//! The JWT bearer grant (RFC 7523 §2.1) and its trusted issuers in the
//! Environment API: a good assertion signs a user in, and every forged,
//! stale or replayed one is refused with `invalid_grant`.

use crate::common;

use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate_store::model::now;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub(crate) const IDP: &str = "https://idp.example";
const TRUSTED: &str = "/environment/v3/contact-centers/demo/trusted-issuers";

/// An EC P-256 key: its JWK (public) and a signer.
pub(crate) struct Key {
    kid: String,
    pub(crate) jwk: Value,
    encoding: EncodingKey,
}

pub(crate) fn key(kid: &str) -> Key {
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

pub(crate) fn claims(sub: &str) -> Value {
    let t = now();
    json!({"iss": IDP, "sub": sub, "aud": ISSUER, "iat": t, "exp": t + 120,
           "jti": uuid::Uuid::new_v4().to_string()})
}

pub(crate) fn sign(k: &Key, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.encoding).expect("sign")
}

async fn trust(s: &TestServer, data: Value) {
    s.ops_post(TRUSTED, data).await.expect(StatusCode::OK);
}

async fn assert_grant(s: &TestServer, assertion: &str) -> Res {
    s.token(DEMO, &[("grant_type", GRANT), ("assertion", assertion)])
        .await
}

#[tokio::test]
async fn a_good_assertion_signs_the_user_in_once() {
    let s = TestServer::new().await;
    let k = key("k1");
    trust(
        &s,
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "algorithms": ["ES256"]}),
    )
    .await;
    let c = claims(DEMO_USER);
    let a = sign(&k, &c);
    let body = assert_grant(&s, &a).await.tokens();
    assert!(body.get("refresh_token").is_none());
    let at = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(at["sub"], "demo:agent");
    assert_eq!(at["user_name"], DEMO_USER);
    assert_eq!(at["client_id"], DEMO_CLIENT);

    // The same jti again: replayed.
    let e = assert_grant(&s, &a)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));

    // The token endpoint URL is an accepted audience too.
    let mut c = claims(DEMO_USER);
    c["aud"] = json!(format!("{ISSUER}{TOKEN}"));
    assert_grant(&s, &sign(&k, &c)).await.tokens();
}

#[tokio::test]
async fn forged_stale_and_foreign_assertions_are_refused() {
    let s = TestServer::new().await;
    let k = key("k1");
    trust(&s, json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "algorithms": ["ES256"], "maxLifetime": 300})).await;
    let t = now();
    let refuse = |assertion: String, why: &'static str| {
        let s = &s;
        async move {
            let e = assert_grant(s, &assertion)
                .await
                .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            let d = e["error_description"].as_str().unwrap().to_string();
            assert!(d.contains(why), "expected '{why}' in '{d}'");
        }
    };
    let with = |patch: Value| {
        let mut c = claims(DEMO_USER);
        for (key, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(key);
            } else {
                c[key] = v.clone();
            }
        }
        c
    };

    refuse(
        sign(&k, &with(json!({"aud": "https://elsewhere.example"}))),
        "aud",
    )
    .await;
    refuse(
        sign(&k, &with(json!({"iat": t - 600, "exp": t - 300}))),
        "expired",
    )
    .await;
    refuse(
        sign(&k, &with(json!({"nbf": t + 600, "exp": t + 700, "iat": t}))),
        "not yet",
    )
    .await;
    refuse(
        sign(&k, &with(json!({"iat": t + 600, "exp": t + 700}))),
        "future",
    )
    .await;
    refuse(sign(&k, &with(json!({"exp": t + 3600}))), "longer").await;
    refuse(sign(&k, &with(json!({"jti": null}))), "jti").await;
    refuse(
        sign(&k, &with(json!({"iss": "https://unknown.example"}))),
        "not trusted",
    )
    .await;
    refuse(sign(&k, &with(json!({"sub": "nobody"}))), "not a user").await;

    // Unknown kid, and a different key under the known kid.
    refuse(sign(&key("k2"), &claims(DEMO_USER)), "unknown").await;
    let impostor = key("k1");
    refuse(sign(&impostor, &claims(DEMO_USER)), "signature").await;

    // alg: none.
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(claims(DEMO_USER).to_string());
    refuse(format!("{header}.{payload}."), "malformed").await;

    // HS256 keyed with the issuer's public key (algorithm confusion).
    let public = serde_json::to_vec(&k.jwk).unwrap();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let confused =
        jsonwebtoken::encode(&h, &claims(DEMO_USER), &EncodingKey::from_secret(&public)).unwrap();
    refuse(confused, "algorithm").await;

    // A valid signature over tampered claims.
    let good = sign(&k, &claims(DEMO_USER));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = B64.encode(claims("ops").to_string());
    refuse(format!("{}.{tampered}.{}", parts[0], parts[2]), "signature").await;

    refuse("not-a-jwt".into(), "malformed").await;
}

#[tokio::test]
async fn jwks_url_keys_are_fetched_and_refetched_for_a_new_kid() {
    let s = TestServer::new().await;
    let first = key("k1");
    let jwks = Arc::new(Mutex::new(json!({"keys": [first.jwk]})));
    let served = jwks.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::Json(served.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    trust(
        &s,
        json!({"issuer": IDP, "jwksUri": uri, "algorithms": ["ES256"]}),
    )
    .await;

    assert_grant(&s, &sign(&first, &claims(DEMO_USER)))
        .await
        .tokens();

    // The issuer rotates its key; right after a fetch the new kid is unknown
    // (fetches are rate-limited), a little later it is fetched.
    let second = key("k2");
    *jwks.lock().unwrap() = json!({"keys": [second.jwk]});
    assert_grant(&s, &sign(&second, &claims(DEMO_USER)))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    tokio::time::sleep(tollgate_core::oauth::jwks::REFETCH_INTERVAL).await;
    assert_grant(&s, &sign(&second, &claims(DEMO_USER)))
        .await
        .tokens();
}

#[tokio::test]
async fn trusted_issuer_api_validates_and_scopes_to_the_contact_center() {
    let s = TestServer::new().await;
    let k = key("k1");
    let bad = [
        json!({"jwks": {"keys": [k.jwk]}}),
        json!({"issuer": IDP}),
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "algorithms": ["HS256"]}),
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "algorithms": ["none"]}),
        json!({"issuer": IDP, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
        json!({"issuer": IDP, "jwksUri": "http://idp.example/jwks"}),
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "maxLifetime": 0}),
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}, "extra": 1}),
    ];
    for data in bad {
        s.ops_post(TRUSTED, data.clone())
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
    }
    trust(&s, json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}})).await;
    let list = s.ops_get(TRUSTED).await.json();
    let one = &list["data"]["issuers"][0];
    assert_eq!(one["issuer"], IDP);
    assert_eq!(one["algorithms"], json!(["RS256", "ES256"]));
    assert_eq!(one["maxLifetime"], 600);

    // Another contact center cannot claim the same issuer.
    let res = s
        .ops_post(
            "/environment/v3/contact-centers",
            json!({"domains": ["other"], "environmentId": tollgate::app::dev::DEMO_ENVIRONMENT, "auth": "builtin"}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    let other = res.json()["path"].as_str().unwrap().to_string();
    s.ops_post(
        &format!("/environment/v3{other}/trusted-issuers"),
        json!({"issuer": IDP, "jwks": {"keys": [k.jwk]}}),
    )
    .await
    .expect_api_error(StatusCode::CONFLICT);

    let del = format!("{TRUSTED}?issuer={}", "https%3A%2F%2Fidp.example");
    s.ops_delete(&del).await.expect(StatusCode::OK);
    s.ops_delete(&del)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    // Once removed, its assertions are refused.
    assert_grant(&s, &sign(&k, &claims(DEMO_USER)))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}
