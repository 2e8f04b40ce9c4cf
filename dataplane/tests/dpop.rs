//! DPoP (RFC 9449): a proof at the token endpoint binds the access token to
//! the client's key (`cnf.jkt`); the token is then accepted only as
//! `Authorization: DPoP` with a fresh proof of that key for the request.
//! Public clients' refresh tokens are bound too; bad proofs are refused.

use crate::common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::browser::*;
use common::*;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_store::model::now;

const TOKEN_URL: &str = "https://auth.tollgate.test/auth/v3/oauth/token";
const USERINFO: &str = "/auth/v3/userinfo";
const CB: &str = "https://app.tollgate.test/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A client's DPoP key: its public JWK and a signer.
struct Key {
    jwk: Value,
    encoding: EncodingKey,
}

impl Key {
    fn new() -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("pair");
        let point = pair.public_key().as_ref();
        Key {
            jwk: json!({"kty": "EC", "crv": "P-256",
                        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        }
    }

    fn thumbprint(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.jwk.clone()).expect("jwk");
        jwk.thumbprint(ThumbprintHash::SHA256)
    }

    /// A proof for `method` and `url`, for `token` when given, with `patch`
    /// applied to the claims (null removes one).
    fn proof(&self, method: &str, url: &str, token: Option<&str>, patch: Value) -> String {
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method,
                                "htu": url, "iat": now()});
        if let Some(t) = token {
            claims["ath"] = json!(B64.encode(Sha256::digest(t.as_bytes())));
        }
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        self.sign(&claims, "dpop+jwt", self.jwk.clone())
    }

    /// Signs with a header written out by hand (a typed header would drop
    /// what a JWK must not carry, like a private `d`).
    fn sign(&self, claims: &Value, typ: &str, jwk: Value) -> String {
        let header = json!({"alg": "ES256", "typ": typ, "jwk": jwk});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256)
                .expect("sign");
        format!("{input}.{signature}")
    }
}

/// A token request with an optional `DPoP` header.
async fn token_with(
    s: &TestServer,
    auth: ClientAuth<'_>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> Res {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut req =
        Request::post(TOKEN).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    match auth {
        ClientAuth::Basic(id, secret) => req = req.header(header::AUTHORIZATION, basic(id, secret)),
        ClientAuth::Public(id) => fields.push(("client_id", id)),
        _ => {}
    }
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    s.send(req.body(Body::from(encode_form(&fields))).expect("request"))
        .await
}

async fn userinfo(s: &TestServer, scheme: &str, token: &str, proof: Option<&str>) -> Res {
    let mut req = Request::get(USERINFO).header(header::AUTHORIZATION, format!("{scheme} {token}"));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    s.send(req.body(Body::empty()).expect("request")).await
}

fn userinfo_url() -> String {
    format!("{ISSUER}{USERINFO}")
}

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials")];

#[tokio::test]
async fn a_bound_token_is_accepted_only_with_a_proof_of_its_key() {
    let s = TestServer::new().await;
    let key = Key::new();
    let res = token_with(
        &s,
        DEMO,
        CLIENT_CREDENTIALS,
        Some(&key.proof("POST", TOKEN_URL, None, json!({}))),
    )
    .await;
    let tokens = res.tokens();
    assert_eq!(tokens["token_type"], "DPoP");
    let token = str_of(&tokens, "access_token");
    let (_, claims) = jwt_parts(token);
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint().as_str());

    let url = userinfo_url();
    let good = key.proof("GET", &url, Some(token), json!({}));
    userinfo(&s, "DPoP", token, Some(&good))
        .await
        .expect(StatusCode::OK);
    // Each refusal, and why.
    let other = Key::new().proof("GET", &url, Some(token), json!({}));
    let cases = [
        ("Bearer", None, "as a bearer token"),
        ("DPoP", None, "without a proof"),
        ("DPoP", Some(good.clone()), "with a replayed proof"),
        ("DPoP", Some(other), "with another key's proof"),
        (
            "DPoP",
            Some(key.proof(
                "GET",
                &format!("{ISSUER}/auth/v3/ping"),
                Some(token),
                json!({}),
            )),
            "with a proof for another URL",
        ),
        (
            "DPoP",
            Some(key.proof("POST", &url, Some(token), json!({}))),
            "with a proof for another method",
        ),
        (
            "DPoP",
            Some(key.proof("GET", &url, Some(token), json!({"ath": null}))),
            "with a proof without ath",
        ),
    ];
    for (scheme, proof, why) in cases {
        let res = userinfo(&s, scheme, token, proof.as_deref()).await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {}",
            res.text()
        );
    }
    let res = userinfo(&s, "DPoP", token, None).await;
    let challenge = res.header(header::WWW_AUTHENTICATE).unwrap_or("");
    assert!(challenge.starts_with("DPoP "), "{challenge}");

    let view = s.introspect(DEMO, token).await.json();
    assert_eq!(view["token_type"], "DPoP");
    assert_eq!(view["cnf"]["jkt"], key.thumbprint().as_str());
}

/// An opaque token keeps its binding: the claims kept for it carry `cnf`.
#[tokio::test]
async fn an_opaque_token_is_bound_like_a_jwt() {
    let s = TestServer::new().await;
    s.ops_put(
        &format!("{CLIENTS}/{DEMO_CLIENT}"),
        json!({"accessTokenFormat": "opaque"}),
    )
    .await
    .expect(StatusCode::OK);
    let key = Key::new();
    let proof = key.proof("POST", TOKEN_URL, None, json!({}));
    let tokens = token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof))
        .await
        .tokens();
    assert_eq!(tokens["token_type"], "DPoP");
    let token = str_of(&tokens, "access_token");
    assert!(uuid::Uuid::parse_str(token).is_ok(), "{token}");

    let url = userinfo_url();
    let good = key.proof("GET", &url, Some(token), json!({}));
    userinfo(&s, "DPoP", token, Some(&good))
        .await
        .expect(StatusCode::OK);
    let other = Key::new().proof("GET", &url, Some(token), json!({}));
    for (scheme, proof, why) in [
        ("Bearer", None, "as a bearer token"),
        ("DPoP", None, "without a proof"),
        ("DPoP", Some(other), "with another key's proof"),
    ] {
        let res = userinfo(&s, scheme, token, proof.as_deref()).await;
        assert_eq!(
            res.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {}",
            res.text()
        );
    }
    let view = s.introspect(DEMO, token).await.json();
    assert_eq!(view["token_type"], "DPoP");
    assert_eq!(view["cnf"]["jkt"], key.thumbprint().as_str());
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_refused() {
    let s = TestServer::new().await;
    let key = Key::new();
    let mut private = key.jwk.clone();
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let fresh = || {
        json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST",
                          "htu": TOKEN_URL, "iat": now()})
    };
    let replayed = key.proof("POST", TOKEN_URL, None, json!({}));
    token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&replayed))
        .await
        .expect(StatusCode::OK);
    let cases = [
        (
            key.proof("GET", TOKEN_URL, None, json!({})),
            "another method",
        ),
        (
            key.proof(
                "POST",
                "https://elsewhere.test/auth/v3/oauth/token",
                None,
                json!({}),
            ),
            "another URL",
        ),
        (
            key.proof("POST", TOKEN_URL, None, json!({"iat": now() - 300})),
            "an old iat",
        ),
        (
            key.proof("POST", TOKEN_URL, None, json!({"iat": now() + 300})),
            "an iat in the future",
        ),
        (
            key.proof("POST", TOKEN_URL, None, json!({"jti": null})),
            "no jti",
        ),
        (key.sign(&fresh(), "JWT", key.jwk.clone()), "the wrong typ"),
        (
            key.sign(&fresh(), "dpop+jwt", private),
            "a private key in jwk",
        ),
        (
            key.sign(&fresh(), "dpop+jwt", Key::new().jwk),
            "a jwk that did not sign it",
        ),
        (replayed, "a replayed proof"),
        ("not.a.jwt".to_string(), "garbage"),
    ];
    for (proof, why) in cases {
        let res = token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{why}: {}", res.text());
        res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    }
}

#[tokio::test]
async fn a_client_that_requires_dpop_is_refused_plain_requests() {
    let s = TestServer::new().await;
    let res = s
        .ops_put(
            &format!("{CLIENTS}/{DEMO_CLIENT}"),
            json!({"requireDpop": true}),
        )
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["requireDpop"], true);
    token_with(&s, DEMO, CLIENT_CREDENTIALS, None)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    let key = Key::new();
    let proof = key.proof("POST", TOKEN_URL, None, json!({}));
    assert_eq!(
        token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof))
            .await
            .tokens()["token_type"],
        "DPoP"
    );
    let meta = s.get("/.well-known/openid-configuration").await.json();
    assert!(meta["dpop_signing_alg_values_supported"]
        .as_array()
        .is_some_and(|a| a.contains(&json!("ES256"))));
}

/// A public client's code flow with DPoP: the refresh token is bound to the
/// key (RFC 9449 §5), so it needs a proof of that key, and only that key.
async fn a_public_clients_refresh_token_is_bound_to_its_key(s: TestServer) {
    s.ops_post(
        CLIENTS,
        json!({"client_id": "spa", "clientType": "PUBLIC", "internalClient": true,
               "authorizedGrantTypes": ["authorization_code", "refresh_token"],
               "redirectURIs": [CB], "scope": ["openid"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let key = Key::new();
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("dpop_jkt", &key.thumbprint()),
    ]);
    let mut b = Browser::new(&s);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    let code = params(&location(&res))["code"].clone();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    // The code is bound to the key named at the authorization endpoint.
    let stranger = Key::new().proof("POST", TOKEN_URL, None, json!({}));
    token_with(&s, ClientAuth::Public("spa"), &redeem, Some(&stranger))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let mut b = Browser::new(&s);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    let code = params(&location(&res))["code"].clone();
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let proof = key.proof("POST", TOKEN_URL, None, json!({}));
    let tokens = token_with(&s, ClientAuth::Public("spa"), &redeem, Some(&proof))
        .await
        .tokens();
    let refresh = str_of(&tokens, "refresh_token").to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    token_with(&s, ClientAuth::Public("spa"), &form, None)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof");
    let stranger = Key::new().proof("POST", TOKEN_URL, None, json!({}));
    token_with(&s, ClientAuth::Public("spa"), &form, Some(&stranger))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let proof = key.proof("POST", TOKEN_URL, None, json!({}));
    let again = token_with(&s, ClientAuth::Public("spa"), &form, Some(&proof))
        .await
        .tokens();
    assert_eq!(again["token_type"], "DPoP");
}

/// A confidential client's refresh token is bound by its authentication,
/// not the key: it refreshes without a proof and gets a bearer token.
#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_bound() {
    let s = TestServer::new().await;
    let key = Key::new();
    let form = [
        ("grant_type", "password"),
        ("username", "demo\\agent"),
        ("password", DEMO_PASSWORD),
    ];
    let proof = key.proof("POST", TOKEN_URL, None, json!({}));
    let tokens = token_with(&s, DEMO, &form, Some(&proof)).await.tokens();
    assert_eq!(tokens["token_type"], "DPoP");
    let refresh = str_of(&tokens, "refresh_token");
    let again = token_with(
        &s,
        DEMO,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        None,
    )
    .await
    .tokens();
    assert_eq!(again["token_type"], "bearer");
}

/// With `--dpop-nonce`: a proof without a current server nonce is answered
/// `use_dpop_nonce` (400 at the token and PAR endpoints, 401 at a resource)
/// with the nonce to use; every answer carries a fresh one.
#[tokio::test]
async fn server_nonces_are_required_when_enabled() {
    let mut args = default_args();
    args.dpop_nonce = true;
    let s = TestServer::with_args(args).await;
    let key = Key::new();
    let proof = |nonce: Option<&str>| key.proof("POST", TOKEN_URL, None, json!({"nonce": nonce}));
    let res = token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof(None))).await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    let nonce = res.header("dpop-nonce").expect("a nonce").to_string();
    let challenge = res.header(header::WWW_AUTHENTICATE).unwrap_or("");
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );

    let res = token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof(Some(&nonce)))).await;
    assert!(
        res.header("dpop-nonce").is_some(),
        "a success carries a nonce"
    );
    let tokens = res.tokens();
    assert_eq!(tokens["token_type"], "DPoP");
    let token = str_of(&tokens, "access_token");

    // Nonces this server did not make, or too old, are refused.
    let window = now().div_euclid(tollgate_core::oauth::dpop::NONCE_WINDOW);
    let made = |w: i64| {
        tollgate_core::oauth::dpop::nonce(&s.state, w * tollgate_core::oauth::dpop::NONCE_WINDOW)
    };
    let forged = format!("{window}.{}", B64.encode([0u8; 32]));
    for bad in [forged, made(window - 2), made(window + 1), "garbage".into()] {
        let res = token_with(&s, DEMO, CLIENT_CREDENTIALS, Some(&proof(Some(&bad)))).await;
        res.expect_oauth_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    }
    // The previous window's nonce is still good.
    let res = token_with(
        &s,
        DEMO,
        CLIENT_CREDENTIALS,
        Some(&proof(Some(&made(window - 1)))),
    )
    .await;
    res.expect(StatusCode::OK);

    // At a resource: 401 with the challenge and a nonce.
    let url = userinfo_url();
    let res = userinfo(
        &s,
        "DPoP",
        token,
        Some(&key.proof("GET", &url, Some(token), json!({}))),
    )
    .await;
    res.expect(StatusCode::UNAUTHORIZED);
    let challenge = res.header(header::WWW_AUTHENTICATE).unwrap_or("");
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = res.header("dpop-nonce").expect("a nonce").to_string();
    let good = key.proof("GET", &url, Some(token), json!({"nonce": nonce}));
    let res = userinfo(&s, "DPoP", token, Some(&good)).await;
    res.expect(StatusCode::OK);
    assert!(res.header("dpop-nonce").is_some());

    // At the PAR endpoint: 400.
    let par_url = format!("{ISSUER}/auth/v3/oauth/par");
    let req = Request::post("/auth/v3/oauth/par")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic(DEMO_CLIENT, DEMO_SECRET))
        .header("dpop", key.proof("POST", &par_url, None, json!({})))
        .body(Body::from(encode_form(&[
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])))
        .expect("request");
    let res = s.send(req).await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "use_dpop_nonce");
    assert!(res.header("dpop-nonce").is_some());
}

#[tokio::test]
async fn without_the_setting_no_nonce_is_asked_for() {
    let s = TestServer::new().await;
    let res = token_with(
        &s,
        DEMO,
        CLIENT_CREDENTIALS,
        Some(&Key::new().proof("POST", TOKEN_URL, None, json!({}))),
    )
    .await;
    res.expect(StatusCode::OK);
    assert!(res.header("dpop-nonce").is_none());
}

on_both!(a_public_clients_refresh_token_is_bound_to_its_key);
