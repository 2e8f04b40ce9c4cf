//! Discovery documents, the JWKS, signing algorithms and key rotation.

use crate::common;

use axum::http::{header, StatusCode};
use common::*;
use serde_json::{json, Value};
use tollgate::app::config::{CommonArgs, SigningAlgorithm};
use tollgate_core::tokens::{self, AccessClaims, TokenError};

#[tokio::test]
async fn discovery_documents_describe_this_server() {
    let s = TestServer::new().await;
    let oidc = s.get("/.well-known/openid-configuration").await;
    oidc.expect(StatusCode::OK);
    assert!(oidc
        .header(header::CONTENT_TYPE)
        .unwrap()
        .starts_with("application/json"));
    assert!(oidc
        .header(header::CACHE_CONTROL)
        .unwrap()
        .contains("max-age"));
    let meta = oidc.json();
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}{TOKEN}"));
    assert_eq!(meta["jwks_uri"], format!("{ISSUER}{JWKS}"));
    assert_eq!(
        meta["introspection_endpoint"],
        format!("{ISSUER}{INTROSPECT}")
    );
    assert_eq!(meta["revocation_endpoint"], format!("{ISSUER}{REVOKE}"));
    assert_eq!(
        meta["userinfo_endpoint"],
        format!("{ISSUER}/auth/v3/openid/userinfo")
    );
    assert_eq!(
        meta["grant_types_supported"],
        json!([
            "authorization_code",
            "implicit",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:saml2-bearer"
        ])
    );
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(meta["subject_types_supported"], json!(["public"]));
    for m in ["client_secret_basic", "client_secret_post"] {
        assert!(meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(m)));
    }
    // Every endpoint it names (but the authorization endpoint) is served here.
    for key in [
        "token_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
    ] {
        let path = str_of(&meta, key).strip_prefix(ISSUER).unwrap().to_string();
        assert_ne!(s.get(&path).await.status, StatusCode::NOT_FOUND, "{key}");
    }

    let rfc8414 = s.get("/.well-known/oauth-authorization-server").await;
    rfc8414.expect(StatusCode::OK);
    assert_eq!(rfc8414.json(), meta);
}

#[tokio::test]
async fn issuer_defaults_to_the_listen_address() {
    let s = TestServer::with_args(CommonArgs {
        public_url: None,
        ..default_args()
    })
    .await;
    assert_eq!(
        s.get("/.well-known/openid-configuration").await.json()["issuer"],
        "http://127.0.0.1:0"
    );
}

#[tokio::test]
async fn jwks_has_public_keys_only() {
    let s = TestServer::new().await;
    let res = s.get(JWKS).await;
    res.expect(StatusCode::OK);
    assert_eq!(
        res.header(header::CONTENT_TYPE),
        Some("application/jwk-set+json")
    );
    let jwks = res.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["crv"], "P-256");
    assert_eq!(k["alg"], "ES256");
    assert_eq!(k["use"], "sig");
    assert!(k["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert!(k["x"].is_string() && k["y"].is_string());
    assert!(k.get("d").is_none(), "no private part");
    // It is the key that signs.
    let (header, _) = jwt_parts(&s.client_token().await);
    assert_eq!(header["kid"], k["kid"]);
}

async fn signs_verifiably_with(alg: SigningAlgorithm, name: &str, kty: &str) -> Value {
    let s = TestServer::with_args(CommonArgs {
        signing_algorithm: alg,
        ..default_args()
    })
    .await;
    let jwks = s.jwks().await;
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], name);
    assert_eq!(key["kty"], kty);
    assert!(key.get("d").is_none() && key.get("p").is_none());
    assert_eq!(
        s.get("/.well-known/openid-configuration").await.json()
            ["id_token_signing_alg_values_supported"],
        json!([name])
    );

    let tokens = s.password_tokens(Some("openid")).await;
    for (t, aud) in [("access_token", ISSUER), ("id_token", DEMO_CLIENT)] {
        let token = str_of(&tokens, t);
        assert_eq!(jwt_parts(token).0["alg"], name);
        verify_with_jwks(&jwks, token, aud).unwrap_or_else(|e| panic!("{name} {t}: {e}"));
    }
    // And the server accepts its own tokens.
    assert!(s.is_active(str_of(&tokens, "access_token")).await);
    key.clone()
}

#[tokio::test]
async fn rs256_tokens_verify_against_jwks() {
    let key = signs_verifiably_with(SigningAlgorithm::Rs256, "RS256", "RSA").await;
    assert!(key["n"].is_string() && key["e"] == "AQAB");
}

#[tokio::test]
async fn eddsa_tokens_verify_against_jwks() {
    let key = signs_verifiably_with(SigningAlgorithm::EdDsa, "EdDSA", "OKP").await;
    assert_eq!(key["crv"], "Ed25519");
}

#[tokio::test]
async fn es256_tokens_verify_against_jwks() {
    signs_verifiably_with(SigningAlgorithm::Es256, "ES256", "EC").await;
}

#[tokio::test]
async fn a_token_from_another_server_is_refused() {
    let a = TestServer::new().await;
    let b = TestServer::new().await;
    let token = a.client_token().await;
    assert!(!b.is_active(&token).await, "unknown kid");
    b.bearer(axum::http::Method::GET, "/auth/v3/userinfo", &token)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

// ---- Rotation -------------------------------------------------------------------

const ROTATION: i64 = 100;
const PUBLISH_AHEAD: i64 = 20;
const LIFETIME: i64 = 50;

fn kids(jwks: &Value) -> Vec<String> {
    let mut v: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Access claims valid by the real clock (the keyring's clock is the one under test).
fn claims(jti: &str) -> AccessClaims {
    let now = tollgate_store::model::now();
    AccessClaims {
        iss: ISSUER.into(),
        sub: DEMO_CLIENT.into(),
        aud: ISSUER.into(),
        exp: now + 3600,
        iat: now,
        jti: jti.into(),
        client_id: DEMO_CLIENT.into(),
        scope: "*".into(),
        auth_time: None,
        contact_center_id: None,
        environment_id: None,
        user_name: None,
        dbid: None,
        authorities: vec![],
        sid: None,
        browser_session: None,
        act: None,
        cnf: None,
        userinfo_claims: vec![],
    }
}

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn keys_are_published_ahead_used_on_schedule_and_dropped_after_their_tokens() {
    let args = CommonArgs {
        key_rotation_interval: ROTATION,
        key_publish_ahead: PUBLISH_AHEAD,
        max_token_lifetime: LIFETIME,
        ..default_args()
    };
    let s = TestServer::with_args(args).await;
    let keys = &s.state.keys;
    let sign = |at: i64, jti: &str| tokens::sign(keys, "at+jwt", &claims(jti), at).expect("sign");
    let verify = |token: &str| tokens::verify_access(keys, ISSUER, ISSUER, token, 0);

    let first = keys
        .signing_key(tollgate_store::model::now())
        .expect("a key signs from the start");
    let t0 = first.activates_at;
    assert_eq!(first.retires_at, t0 + ROTATION);
    assert_eq!(first.expires_at, t0 + ROTATION + LIFETIME);
    let k1 = first.kid.clone();
    assert_eq!(kids(&s.jwks().await), vec![k1.clone()]);

    // Before the publish-ahead window: nothing new.
    keys.rotate(&s.db, t0 + ROTATION - PUBLISH_AHEAD - 1)
        .await
        .unwrap();
    assert_eq!(kids(&s.jwks().await), vec![k1.clone()]);

    // In the window: the next key is published, but the current one still signs.
    let t_pub = t0 + ROTATION - PUBLISH_AHEAD;
    keys.rotate(&s.db, t_pub).await.unwrap();
    let published = kids(&s.jwks().await);
    assert_eq!(published.len(), 2, "{published:?}");
    let k2 = published.iter().find(|k| **k != k1).unwrap().clone();
    let old_token = sign(t_pub, "old");
    assert_eq!(kid_of(&old_token), k1);
    assert_eq!(kid_of(&sign(t0 + ROTATION - 1, "still-old")), k1);
    // Rotating again in the window is idempotent.
    keys.rotate(&s.db, t_pub + 1).await.unwrap();
    assert_eq!(kids(&s.jwks().await), published);
    // Relying parties that fetched JWKS now can verify tokens of both keys.
    let jwks_at_publish = s.jwks().await;

    // At the scheduled time the new key signs; the old one stays published.
    let t_switch = t0 + ROTATION;
    keys.rotate(&s.db, t_switch).await.unwrap();
    let new_token = sign(t_switch, "new");
    assert_eq!(kid_of(&new_token), k2);
    assert_eq!(kids(&s.jwks().await), published);
    verify_with_jwks(&jwks_at_publish, &new_token, ISSUER)
        .expect("a JWKS cached before the switch knows the new key");
    verify_with_jwks(&s.jwks().await, &old_token, ISSUER).expect("old key still published");
    assert!(verify(&old_token).is_ok());
    assert!(verify(&new_token).is_ok());

    // Until every token the old key signed has expired, it stays.
    keys.rotate(&s.db, t0 + ROTATION + LIFETIME - 1)
        .await
        .unwrap();
    assert!(kids(&s.jwks().await).contains(&k1));
    assert!(verify(&old_token).is_ok());

    // Then it is dropped, and with it everything it signed.
    keys.rotate(&s.db, t0 + ROTATION + LIFETIME).await.unwrap();
    assert_eq!(kids(&s.jwks().await), vec![k2.clone()]);
    assert_eq!(verify(&old_token), Err(TokenError::UnknownKey));
    assert!(verify(&new_token).is_ok());
    assert_eq!(
        s.db.list_signing_keys().await.unwrap().len(),
        1,
        "removed from the store as well"
    );

    // The cycle repeats for the next key.
    let t2_pub = t_switch + ROTATION - PUBLISH_AHEAD;
    keys.rotate(&s.db, t2_pub).await.unwrap();
    let third = kids(&s.jwks().await);
    assert_eq!(third.len(), 2);
    assert_eq!(kid_of(&sign(t2_pub, "x")), k2);
    let k3 = third.iter().find(|k| **k != k2).unwrap().clone();
    keys.rotate(&s.db, t_switch + ROTATION).await.unwrap();
    assert_eq!(kid_of(&sign(t_switch + ROTATION, "y")), k3);
}

#[tokio::test]
async fn a_lapsed_keyring_signs_again_at_once() {
    // The process was down past the key's retirement: a new key signs immediately.
    let args = CommonArgs {
        key_rotation_interval: ROTATION,
        key_publish_ahead: PUBLISH_AHEAD,
        max_token_lifetime: LIFETIME,
        ..default_args()
    };
    let s = TestServer::with_args(args).await;
    let keys = &s.state.keys;
    let first = keys.signing_key(tollgate_store::model::now()).unwrap();
    let later = first.expires_at + 10 * ROTATION;
    keys.rotate(&s.db, later).await.unwrap();
    let key = keys.signing_key(later).expect("a key signs");
    assert_ne!(key.kid, first.kid);
    assert_eq!(key.activates_at, later);
    assert_eq!(kids(&s.jwks().await), vec![key.kid.clone()]);
}

#[tokio::test]
async fn publish_ahead_is_capped_at_half_the_rotation_interval() {
    let args = CommonArgs {
        key_rotation_interval: ROTATION,
        key_publish_ahead: 10 * ROTATION,
        max_token_lifetime: LIFETIME,
        ..default_args()
    };
    let s = TestServer::with_args(args).await;
    let keys = &s.state.keys;
    let t0 = keys
        .signing_key(tollgate_store::model::now())
        .unwrap()
        .activates_at;
    keys.rotate(&s.db, t0 + ROTATION / 2 - 1).await.unwrap();
    assert_eq!(kids(&s.jwks().await).len(), 1);
    keys.rotate(&s.db, t0 + ROTATION / 2).await.unwrap();
    assert_eq!(kids(&s.jwks().await).len(), 2);
}

#[tokio::test]
async fn token_lifetime_is_capped_by_the_server() {
    let s = TestServer::with_args(CommonArgs {
        max_token_lifetime: LIFETIME,
        ..default_args()
    })
    .await;
    let body = s
        .token(DEMO, &[("grant_type", "client_credentials")])
        .await
        .tokens();
    assert_eq!(body["expires_in"], LIFETIME);
    let c = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        LIFETIME
    );
}

on_both!(replicas_starting_together_create_one_signing_key);

/// Replicas starting at once on an empty database (here eight keyrings on one
/// database) create one signing key between them, and all sign with it.
async fn replicas_starting_together_create_one_signing_key(s: TestServer) {
    let policy = || tokens::KeyPolicy {
        algorithm: tollgate_store::model::KeyAlgorithm::ES256,
        rotation_interval: ROTATION,
        publish_ahead: PUBLISH_AHEAD,
        max_token_lifetime: LIFETIME,
    };
    sqlx::Executor::execute(s.db.pool(), "DELETE FROM signing_keys")
        .await
        .expect("an empty key table");
    let now = tollgate_store::model::now();
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let db = s.db.clone();
            let policy = policy();
            tokio::spawn(async move { tokens::Keyring::load(&db, policy, now).await })
        })
        .collect();
    let mut signers = std::collections::BTreeSet::new();
    for start in starts {
        let ring = start.await.expect("task").expect("keyring");
        signers.insert(ring.signing_key(now).expect("a key signs").kid.clone());
    }
    let stored = s.db.list_signing_keys().await.expect("keys");
    assert_eq!(
        stored.len(),
        1,
        "{:?}",
        stored.iter().map(|k| &k.kid).collect::<Vec<_>>()
    );
    assert_eq!(
        signers.into_iter().collect::<Vec<_>>(),
        vec![stored[0].kid.clone()]
    );
}

/// An administrator's rotation (a suspected leak): the new key signs at
/// once, and the old one stays in JWKS, so its tokens still verify.
#[tokio::test]
async fn a_rotation_on_request_signs_at_once_and_keeps_the_old_key_published() {
    let s = TestServer::new().await;
    let old_token = s.client_token().await;
    let old_kid = kid_of(&old_token);
    let path = "/auth/v3/ops/signing-keys/rotate";
    s.ops_as(axum::http::Method::POST, path, None, None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert_eq!(kids(&s.jwks().await), vec![old_kid.clone()]);

    let res = s.ops_post(path, json!({})).await;
    res.expect(StatusCode::OK);
    let new_kid = res.json()["data"]["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    let mut both = vec![old_kid, new_kid.clone()];
    both.sort();
    assert_eq!(kids(&s.jwks().await), both);
    let new_token = s.client_token().await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert!(
        s.is_active(&old_token).await,
        "the old key's tokens live on"
    );
    assert!(s.is_active(&new_token).await);
}
