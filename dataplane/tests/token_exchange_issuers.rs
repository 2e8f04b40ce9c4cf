//! Token exchange (RFC 8693) of subject tokens signed by a contact center's
//! trusted issuer: validated like a JWT bearer assertion, allowed only for
//! issuers the client's `tokenExchange.subjectIssuers` lists, the subject
//! looked up in the contact center's directory; every forged, stale,
//! misaddressed or replayed subject token is refused.

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

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const IDT: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const IDP: &str = "https://idp.example";
const OTHER_IDP: &str = "https://other-idp.example";
const TRUSTED: &str = "/environment/v3/contact-centers/demo/trusted-issuers";
const GATEWAY: &str = "gateway";
const GATEWAY_SECRET: &str = "gateway-secret-1";
const GW: ClientAuth<'static> = ClientAuth::Basic(GATEWAY, GATEWAY_SECRET);

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

/// Claims of a good subject token of `IDP` for the demo user, changed by
/// `patch` (null removes).
fn claims(patch: Value) -> Value {
    let t = now();
    let mut c = json!({"iss": IDP, "sub": DEMO_USER, "aud": ISSUER, "iat": t, "exp": t + 120,
        "jti": uuid::Uuid::new_v4().to_string()});
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

/// A server trusting `IDP` (key `k`) and `OTHER_IDP` for the demo contact
/// center, and a gateway client with `policy`.
async fn server(k: &Key, policy: Value) -> TestServer {
    let s = TestServer::new().await;
    for (issuer, key) in [(IDP, k.jwk.clone()), (OTHER_IDP, key("o1").jwk)] {
        s.ops_post(
            TRUSTED,
            json!({"issuer": issuer, "jwks": {"keys": [key]}, "algorithms": ["ES256"]}),
        )
        .await
        .expect(StatusCode::OK);
    }
    s.create_client(json!({
        "client_id": GATEWAY,
        "client_secret": GATEWAY_SECRET,
        "authorizedGrantTypes": [EXCHANGE],
        "tokenExchange": policy,
    }))
    .await;
    s
}

fn allow_idp() -> Value {
    json!({"subjectIssuers": [IDP], "audiences": ["https://api.example"], "impersonation": true})
}

async fn exchange(s: &TestServer, subject: &str, kind: &str) -> Res {
    s.token(
        GW,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", kind),
        ],
    )
    .await
}

#[tokio::test]
async fn a_trusted_issuers_jwt_is_exchanged_once_for_the_directory_user() {
    let k = key("k1");
    let s = server(&k, allow_idp()).await;
    let subject = sign(&k, &claims(json!({})));
    let body = s
        .token(
            GW,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", JWT),
                ("audience", "https://api.example"),
            ],
        )
        .await
        .tokens();
    assert_eq!(body["issued_token_type"], AT);
    assert!(body.get("refresh_token").is_none());
    let at = s
        .verify_jwt(str_of(&body, "access_token"), "https://api.example")
        .await;
    assert_eq!(at["sub"], "demo:agent");
    assert_eq!(at["user_name"], DEMO_USER);
    assert_eq!(at["contact_center_id"], "demo");
    assert_eq!(at["client_id"], GATEWAY);

    // The same token again: its jti is spent.
    let e = exchange(&s, &subject, JWT)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{e}"
    );
    // The same jti cannot then be used as a JWT bearer assertion either.
    s.token(
        DEMO,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &subject),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // As an ID token type, with the token endpoint as audience.
    let idt = sign(&k, &claims(json!({"aud": format!("{ISSUER}{TOKEN}")})));
    exchange(&s, &idt, IDT).await.tokens();

    // A user the directory does not know is refused.
    exchange(&s, &sign(&k, &claims(json!({"sub": "nobody"}))), JWT)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn the_policy_must_list_the_issuer() {
    let k = key("k1");
    // Default deny: a policy without subjectIssuers accepts no issuer.
    let s = server(&k, json!({"subjectClients": ["*"], "impersonation": true})).await;
    let subject = sign(&k, &claims(json!({})));
    exchange(&s, &subject, JWT)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // Refused before verification: the token was not spent.
    s.ops_put(
        &format!("{CLIENTS}/{GATEWAY}"),
        json!({"tokenExchange": allow_idp()}),
    )
    .await
    .expect(StatusCode::OK);
    exchange(&s, &subject, JWT).await.tokens();

    // Another trusted issuer of the same contact center, not listed.
    let mut c = claims(json!({"iss": OTHER_IDP}));
    c["jti"] = json!("other-1");
    exchange(&s, &sign(&key("o1"), &c), JWT)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");

    // The ops API checks the new field.
    s.ops_put(
        &format!("{CLIENTS}/{GATEWAY}"),
        json!({"tokenExchange": {"subjectIssuers": [""]}}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    let view = s.ops_get(&format!("{CLIENTS}/{GATEWAY}")).await.json();
    assert_eq!(
        view["data"]["tokenExchange"]["subjectIssuers"],
        json!([IDP])
    );
}

#[tokio::test]
async fn forged_stale_and_misaddressed_subject_tokens_are_refused() {
    let k = key("k1");
    let s = server(&k, allow_idp()).await;
    let t = now();
    let refused = |token: String, case: &'static str| {
        let s = &s;
        async move {
            let res = exchange(s, &token, JWT).await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{case}: {}",
                res.text()
            );
            assert_eq!(res.json()["error"], "invalid_request", "{case}");
        }
    };
    refused(
        sign(&k, &claims(json!({"iss": "https://untrusted.example"}))),
        "untrusted issuer",
    )
    .await;
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
    refused(sign(&k, &claims(json!({"exp": t + 7200}))), "too long").await;
    refused(
        sign(&k, &claims(json!({"nbf": t + 600, "exp": t + 700}))),
        "not yet valid",
    )
    .await;
    refused(sign(&k, &claims(json!({"jti": null}))), "no jti").await;
    refused(sign(&key("k2"), &claims(json!({}))), "unknown kid").await;
    refused(
        sign(&key("k1"), &claims(json!({}))),
        "another key, same kid",
    )
    .await;

    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(claims(json!({})).to_string());
    refused(format!("{header}.{payload}."), "alg none").await;

    // HS256 keyed with the issuer's public key (algorithm confusion).
    let public = serde_json::to_vec(&k.jwk).expect("jwk");
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&h, &claims(json!({})), &EncodingKey::from_secret(&public))
        .expect("sign");
    refused(confused, "HS256 with the public key").await;

    // The control: the same key and claims, unchanged, pass.
    exchange(&s, &sign(&k, &claims(json!({}))), JWT)
        .await
        .tokens();
}

#[tokio::test]
async fn a_directory_that_is_down_answers_503_with_retry_after() {
    let k = key("k1");
    let s = server(&k, allow_idp()).await;
    // The demo contact center moves to an LDAP server nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", closed.local_addr().unwrap());
    drop(closed);
    s.ops_put(
        "/environment/v3/contact-centers/demo",
        json!({"auth": "ldap"}),
    )
    .await
    .expect(StatusCode::OK);
    s.ops_put(
        "/environment/v3/contact-centers/demo/directory",
        json!({
            "urls": [url], "startTls": false, "bindMode": "searchThenBind",
            "serviceDn": "cn=tollgate,dc=example,dc=org", "bindPassword": "service-password",
            "baseDn": "dc=example,dc=org",
            "userFilter": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "groupFilter": "(&(objectClass=groupOfNames)(member={dn}))",
            "timeoutMs": 500
        }),
    )
    .await
    .expect(StatusCode::OK);
    let res = exchange(&s, &sign(&k, &claims(json!({}))), JWT).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert_eq!(res.json()["error"], "temporarily_unavailable");
    assert!(
        res.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s > 0),
        "{:?}",
        res.headers
    );
}
