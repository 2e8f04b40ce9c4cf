//! Client authentication by a JWT MACed with the client's secret
//! (`client_secret_jwt`, RFC 7523 §2.2, OIDC Core §9): a good assertion
//! authenticates at the token, introspection and revocation endpoints once;
//! a wrong secret, audience or lifetime, a replayed `jti`, `alg: none` and
//! a signature of another kind are `invalid_client`; the client is pinned
//! to the method, and the ops API never shows the secret again.

use crate::common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate_store::model::now;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const APP: &str = "mac-app";
const SECRET: &str = "a-shared-secret-of-forty-bytes-or-so-123";

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

fn mac(alg: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn good(patch: Value) -> String {
    mac(Algorithm::HS256, SECRET, &claims(patch))
}

/// A server with the `client_secret_jwt` client `APP` holding `SECRET`.
async fn server() -> TestServer {
    let s = TestServer::new().await;
    let res = s
        .ops_post(
            CLIENTS,
            json!({"client_id": APP, "tokenEndpointAuthMethod": "client_secret_jwt",
                "client_secret": SECRET, "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await;
    res.expect(StatusCode::CREATED);
    assert!(
        !res.text().contains(SECRET),
        "a given secret is never returned"
    );
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
async fn a_good_mac_authenticates_once_at_every_endpoint() {
    let s = server().await;
    let a = good(json!({}));
    let at = str_of(&cc_token(&s, &a).await.tokens(), "access_token").to_string();
    assert_eq!(s.verify_jwt(&at, ISSUER).await["client_id"], APP);
    // The same jti again is a replay.
    cc_token(&s, &a)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // HS384 and HS512 as well.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        cc_token(&s, &mac(alg, SECRET, &claims(json!({}))))
            .await
            .tokens();
    }

    // The issuer is the audience at every endpoint; the endpoints' own URLs
    // are not (issue 14, finding 16).
    for path in [TOKEN, INTROSPECT, REVOKE] {
        let a = good(json!({"aud": format!("{ISSUER}{path}")}));
        with_assertion(&s, INTROSPECT, &a, &[("token", &at)])
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let a = good(json!({"aud": format!("{ISSUER}{path}")}));
        with_assertion(&s, REVOKE, &a, &[("token", &at)])
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let a = good(json!({}));
    let res = with_assertion(&s, INTROSPECT, &a, &[("token", &at)]).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["active"], true);
    let a = good(json!({}));
    with_assertion(&s, REVOKE, &a, &[("token", &at)])
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(&at).await);
}

#[tokio::test]
async fn wrong_stale_replayed_and_confused_macs_are_refused() {
    let s = server().await;
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
        mac(
            Algorithm::HS256,
            "another-secret-of-forty-bytes-or-so-1234",
            &claims(json!({})),
        ),
        "wrong secret",
    )
    .await;
    refused(
        good(json!({"aud": "https://elsewhere.example"})),
        "wrong aud",
    )
    .await;
    refused(good(json!({"iat": t - 600, "exp": t - 300})), "expired").await;
    refused(good(json!({"exp": t + 7200})), "too long").await;
    refused(
        good(json!({"nbf": t + 600, "exp": t + 700})),
        "not yet valid",
    )
    .await;
    refused(good(json!({"jti": null})), "no jti").await;
    refused(good(json!({"sub": DEMO_CLIENT})), "sub is not iss").await;

    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(claims(json!({})).to_string());
    refused(format!("{header}.{payload}."), "alg none").await;

    // An RS256/ES256 signature is not accepted for an HMAC client, even over
    // good claims: the key kind is the client's, not the token's choice.
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("key");
    let es = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims(json!({})),
        &EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .expect("sign");
    refused(es, "ES256 for an HMAC client").await;
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let input = format!(
        "{}.{}",
        B64.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        B64.encode(claims(json!({})).to_string())
    );
    let mut sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let rs = format!("{input}.{}", B64.encode(sig));
    refused(rs, "RS256 for an HMAC client").await;

    // The control: the same secret and claims, unchanged, pass.
    cc_token(&s, &good(json!({}))).await.tokens();
}

#[tokio::test]
async fn the_hmac_client_is_pinned_to_its_method() {
    let s = server().await;
    // Its secret is not a password it may send in clear.
    for auth in [
        ClientAuth::Basic(APP, SECRET),
        ClientAuth::Post(APP, SECRET),
    ] {
        s.token(auth, &[("grant_type", "client_credentials")])
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    s.token(
        ClientAuth::Public(APP),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // A client_secret client cannot send a MACed assertion, even with its
    // own secret as the key.
    let demo = claims(json!({"iss": DEMO_CLIENT, "sub": DEMO_CLIENT}));
    cc_token(&s, &mac(Algorithm::HS256, DEMO_SECRET, &demo))
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn the_ops_api_keeps_the_secret_and_checks_its_length() {
    let s = server().await;
    let view = s.ops_get(&format!("{CLIENTS}/{APP}")).await;
    assert_eq!(
        view.json()["data"]["tokenEndpointAuthMethod"],
        "client_secret_jwt"
    );
    assert!(!view.text().contains(SECRET), "the secret is never shown");
    assert!(!s.ops_get(CLIENTS).await.text().contains(SECRET));

    // Too short for HMAC, or on a public client: a clear error.
    let res = s
        .ops_post(
            CLIENTS,
            json!({"client_id": "short", "tokenEndpointAuthMethod": "client_secret_jwt",
                "client_secret": "only-twenty-bytes-xx"}),
        )
        .await;
    res.expect(StatusCode::BAD_REQUEST);
    assert!(res.text().contains("at least 32 bytes"), "{}", res.text());
    assert!(!res.text().contains("only-twenty-bytes-xx"));
    s.ops_post(
        CLIENTS,
        json!({"client_id": "pub", "clientType": "PUBLIC",
            "tokenEndpointAuthMethod": "client_secret_jwt"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);

    // Without a secret one is generated, shown once, and MACs work with it.
    let generated = s
        .create_client(
            json!({"client_id": "gen", "tokenEndpointAuthMethod": "client_secret_jwt",
            "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .expect("a generated secret");
    assert!(generated.len() >= 32);
    let c = claims(json!({"iss": "gen", "sub": "gen"}));
    cc_token(&s, &mac(Algorithm::HS256, &generated, &c))
        .await
        .tokens();

    // A new secret replaces the old one at once.
    let newer = "a-newer-shared-secret-of-forty-bytes-123";
    s.ops_put(&format!("{CLIENTS}/{APP}"), json!({"client_secret": newer}))
        .await
        .expect(StatusCode::OK);
    cc_token(&s, &good(json!({})))
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    cc_token(&s, &mac(Algorithm::HS256, newer, &claims(json!({}))))
        .await
        .tokens();

    // Switched to client_secret it gets a fresh secret for Basic, and MACs stop.
    let res = s
        .ops_put(
            &format!("{CLIENTS}/{APP}"),
            json!({"tokenEndpointAuthMethod": "client_secret"}),
        )
        .await;
    res.expect(StatusCode::OK);
    let basic = res.json()["data"]["client_secret"]
        .as_str()
        .expect("a new secret")
        .to_string();
    cc_token(&s, &mac(Algorithm::HS256, newer, &claims(json!({}))))
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.token(
        ClientAuth::Basic(APP, &basic),
        &[("grant_type", "client_credentials")],
    )
    .await
    .tokens();
}
