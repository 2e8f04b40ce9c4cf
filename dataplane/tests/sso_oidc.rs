//! OpenID Connect contact centers against an in-process provider this test
//! controls: the Environment API resource, the code flow with PKCE, and
//! every forged, replayed or stale ID token refused with an audit event.
//! Also `sso::resolve_user` (just-in-time users, unknown and disabled users,
//! and the real slapd of scripts/provision/ldap.sh when a directory is stored).
//! The real-provider proof is in the e2e suite.

use crate::common;

use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::body::Body;
use axum::extract::{Form, State};
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate::web::browser::i18n::Lang;
use tollgate_core::directory::{Directory, DirectoryError};
use tollgate_core::federation::users::{
    resolve_user, FederatedIdentity, ResolveError, UnknownUsers,
};
use tollgate_store::model::now;

const CCS: &str = "/environment/v3/contact-centers";
const CLIENT_ID: &str = "tollgate-rp";

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
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
    }
}

fn sign(k: &Key, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(&h, claims, &k.encoding).expect("sign")
}

/// What the provider serves and what it saw.
#[derive(Default)]
struct Provider {
    issuer: String,
    jwks: Vec<Value>,
    id_token: String,
    challenge: String,
    token_requests: Vec<Vec<(String, String)>>,
    /// Advertise RFC 9207 (`iss` in authorization responses).
    sends_iss: bool,
}

type Shared = Arc<Mutex<Provider>>;

async fn discovery(State(p): State<Shared>) -> Json<Value> {
    let (iss, sends_iss) = {
        let p = p.lock().unwrap();
        (p.issuer.clone(), p.sends_iss)
    };
    Json(json!({
        "authorization_response_iss_parameter_supported": sends_iss,
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "HS256", "none"],
    }))
}

async fn jwks(State(p): State<Shared>) -> Json<Value> {
    Json(json!({"keys": p.lock().unwrap().jwks.clone()}))
}

/// The token endpoint: the code is good only with the PKCE verifier of the
/// challenge the authorization request carried.
async fn token(
    State(p): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> (StatusCode, Json<Value>) {
    let mut p = p.lock().unwrap();
    p.token_requests.push(form.clone());
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let verified = get("code_verifier")
        .is_some_and(|v| B64.encode(digest(&SHA256, v.as_bytes())) == p.challenge);
    if get("code").as_deref() != Some("good-code") || !verified {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        );
    }
    (
        StatusCode::OK,
        Json(
            json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60,
                    "id_token": p.id_token}),
        ),
    )
}

/// Starts the provider on a loopback port; returns its state.
async fn provider() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shared: Shared = Arc::default();
    shared.lock().unwrap().issuer = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    shared
}

/// The demo contact center on `auth: oidc` with the provider configured.
async fn oidc_contact_center(s: &TestServer, p: &Shared, jit: bool) {
    oidc_contact_center_at(s, "demo", p, jit).await
}

/// Contact center `cc` (created in the demo environment unless `demo`) on
/// `auth: oidc` with provider `p`.
async fn oidc_contact_center_at(s: &TestServer, cc: &str, p: &Shared, jit: bool) {
    if cc == "demo" {
        s.ops_put(&format!("{CCS}/demo"), json!({"auth": "oidc"}))
            .await
            .expect(StatusCode::OK);
    } else {
        s.ops_post(
            CCS,
            json!({"id": cc, "auth": "oidc", "domains": [cc],
                   "environmentId": tollgate::app::dev::DEMO_ENVIRONMENT}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let issuer = p.lock().unwrap().issuer.clone();
    s.ops_put(
        &format!("{CCS}/{cc}/oidc-provider"),
        json!({"issuer": issuer, "clientId": CLIENT_ID, "clientSecret": "rp-secret",
               "groupsClaim": "groups",
               "groupAuthorities": [{"group": "agents", "authority": "ROLE_AGENT"}],
               "justInTime": jit, "authorizeParams": {"prompt": "login"}}),
    )
    .await
    .expect(StatusCode::OK);
}

struct Started {
    /// The contact center the flight started for.
    cc: String,
    state: String,
    nonce: String,
    cookie: String,
    query: Vec<(String, String)>,
}

/// `sso::start` as the sign-in form calls it: the hand-off page, its
/// authorization request and the browser-binding cookie.
async fn start(s: &TestServer, p: &Shared) -> Started {
    start_at(s, "demo", p).await
}

async fn start_at(s: &TestServer, cc: &str, p: &Shared) -> Started {
    let cc = s.state.catalog.contact_center(cc).expect("contact center");
    let res = tollgate::web::browser::sso::start(&s.state, Lang::En, &cc, "alice", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_string();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8(body.to_vec()).unwrap();
    let href = html
        .split("id=\"continue\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("link");
    let url = url::Url::parse(&unescape(href)).expect("url");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let q = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    p.lock().unwrap().challenge = q("code_challenge");
    Started {
        cc: cc.id.clone(),
        state: q("state"),
        nonce: q("nonce"),
        cookie,
        query,
    }
}

/// Undoes the page's HTML escaping (`&#38;`, `&amp;` …) of the link.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').expect("entity") + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e => char::from_u32(e[1..].parse().unwrap()).unwrap(),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out + rest
}

async fn callback(s: &TestServer, st: &Started, code: &str) -> Res {
    answer(
        s,
        st,
        &format!("/auth/v3/sso/oidc/{}/callback", st.cc),
        code,
        None,
    )
    .await
}

/// The provider's answer to flight `st` arriving at `path`, with `iss` if given.
async fn answer(s: &TestServer, st: &Started, path: &str, code: &str, iss: Option<&str>) -> Res {
    let iss = iss
        .map(|i| {
            format!(
                "&iss={}",
                url::form_urlencoded::byte_serialize(i.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default();
    s.send(
        Request::get(format!("{path}?state={}&code={code}{iss}", st.state))
            .header(header::COOKIE, &st.cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn id_claims(p: &Shared, nonce: &str, user: &str) -> Value {
    let t = now();
    json!({"iss": p.lock().unwrap().issuer, "sub": format!("sub-{user}"), "aud": CLIENT_ID,
           "iat": t, "exp": t + 300, "nonce": nonce, "preferred_username": user,
           "given_name": "Alice", "family_name": "Liddell", "email": format!("{user}@example.org"),
           "groups": ["agents", "other"]})
}

async fn refusals(s: &TestServer) -> Vec<String> {
    // The audit trail is written in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.db.list_audit_events(Some("sso.refused"), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn oidc_provider_api() {
    let s = TestServer::new().await;
    let path = format!("{CCS}/demo/oidc-provider");
    let message = s
        .ops_get(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    assert!(message.contains("no OIDC provider"), "{message}");
    let good = json!({"issuer": "https://idp.example/realms/acme", "clientId": "tollgate",
                      "clientSecret": "s3cret"});
    for (change, field) in [
        (json!({"issuer": null}), "issuer"),
        (json!({"issuer": "http://idp.example"}), "issuer"),
        (json!({"issuer": "https://idp.example/?x=1"}), "issuer"),
        (json!({"clientId": ""}), "clientId"),
        (json!({"clientSecret": null}), "clientSecret"),
        (json!({"clientSecret": ""}), "clientSecret"),
        (
            json!({"clientAuthentication": "private_key_jwt"}),
            "clientAuthentication",
        ),
        (json!({"scopes": ["profile"]}), "scopes"),
        (json!({"scopes": ["openid", "a b"]}), "scopes"),
        (json!({"claims": {"username": "name"}}), "claims.username"),
        (
            json!({"groupAuthorities": [{"group": "g", "authority": "A"}]}),
            "groupsClaim",
        ),
        (
            json!({"authorizeParams": {"nonce": "x"}}),
            "authorizeParams",
        ),
        (json!({"surprise": 1}), "surprise"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let message = s
            .ops_put(&path, body)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{field}: {message}");
    }
    let res = s.ops_put(&path, good.clone()).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let data = &res.json()["data"];
    assert_eq!(data["clientSecretSet"], true);
    assert!(
        data.get("clientSecret").is_none(),
        "the secret is write only"
    );
    assert_eq!(data["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(data["claims"]["username"], "preferred_username");
    assert_eq!(data["clientAuthentication"], "client_secret_basic");
    assert_eq!(
        data["redirectUri"],
        format!("{ISSUER}/auth/v3/sso/oidc/demo/callback")
    );
    assert!(!res.text().contains("s3cret"));
    // An update without the secret keeps it; a stale version is refused.
    let mut update = good.clone();
    update["clientSecret"] = Value::Null;
    update["clientAuthentication"] = json!("client_secret_post");
    update["version"] = json!(1);
    s.ops_put(&path, update.clone())
        .await
        .expect(StatusCode::OK);
    let stored = s.db.get_oidc_provider("demo").await.unwrap().unwrap();
    assert_eq!(stored.client_secret, "s3cret");
    s.ops_put(&path, update)
        .await
        .expect_api_error(StatusCode::CONFLICT);
    s.ops_delete(&path).await.expect(StatusCode::OK);
    s.ops_delete(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oidc_contact_center_without_a_provider_answers_503() {
    let s = TestServer::new().await;
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "oidc"}))
        .await
        .expect(StatusCode::OK);
    let cc = s.state.catalog.contact_center("demo").expect("demo");
    let res = tollgate::web::browser::sso::start(&s.state, Lang::En, &cc, "", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    let res = s
        .send(
            Request::post("/auth/v3/auth-scheme")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"data":{"tenant":"demo"}}"#))
                .unwrap(),
        )
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["scheme"], "oidc");
}

#[tokio::test]
async fn code_flow_with_pkce_signs_the_user_in() {
    let s = TestServer::new().await;
    let p = provider().await;
    let k1 = key("k1");
    p.lock().unwrap().jwks = vec![k1.jwk.clone()];
    oidc_contact_center(&s, &p, true).await;
    let st = start(&s, &p).await;
    let q = |k: &str| {
        st.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(q("response_type"), Some("code"));
    assert_eq!(q("client_id"), Some(CLIENT_ID));
    assert_eq!(q("code_challenge_method"), Some("S256"));
    assert_eq!(q("login_hint"), Some("alice"));
    assert_eq!(q("prompt"), Some("login"));
    assert_eq!(
        q("redirect_uri"),
        Some(format!("{ISSUER}/auth/v3/sso/oidc/demo/callback").as_str())
    );
    assert!(q("scope").unwrap().split(' ').any(|s| s == "openid"));
    assert!(st.state.len() >= 16 && st.nonce.len() >= 16);

    p.lock().unwrap().id_token = sign(&k1, &id_claims(&p, &st.nonce, "alice"));
    let res = callback(&s, &st, "good-code").await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/ui/auth/signed-in"));
    let cookies: Vec<&str> = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-tollgate_session=")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-tollgate_oidc=;")),
        "{cookies:?}"
    );
    // Basic client authentication, and the PKCE verifier was sent.
    let form = p.lock().unwrap().token_requests[0].clone();
    assert!(form.iter().any(|(k, _)| k == "code_verifier"));
    assert!(!form.iter().any(|(k, _)| k == "client_secret"));
    // The just-in-time user, with the group's authority.
    let cc = s.state.catalog.contact_center("demo").unwrap();
    let user = s
        .state
        .directories
        .builtin
        .lookup(&cc, "alice")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(user.email, "alice@example.org");
    assert_eq!(user.first_name, "Alice");

    // The same state again: refused.
    let res = callback(&s, &st, "good-code").await;
    res.expect(StatusCode::BAD_REQUEST);
    assert!(refusals(&s)
        .await
        .contains(&"unknown, expired or used state".to_string()));
}

#[tokio::test]
async fn forged_and_stale_id_tokens_are_refused() {
    let s = TestServer::new().await;
    let p = provider().await;
    let (k1, other) = (key("k1"), key("k1"));
    p.lock().unwrap().jwks = vec![k1.jwk.clone()];
    oidc_contact_center(&s, &p, true).await;
    let public_x = k1.jwk["x"].as_str().unwrap().to_string();
    // Claims forged, signed with the provider's key.
    type Change = fn(&mut Value);
    let cases: Vec<(&str, Change)> = vec![
        ("nonce", |c| c["nonce"] = json!("another-nonce")),
        ("audiences", |c| c["aud"] = json!("someone-else")),
        ("issuer", |c| c["iss"] = json!("https://evil.example")),
        ("Expired", |c| {
            c["iat"] = json!(now() - 4000);
            c["exp"] = json!(now() - 3600);
        }),
        ("issued too long ago", |c| c["iat"] = json!(now() - 3000)),
        ("azp", |c| c["azp"] = json!("another-client")),
    ];
    for (expected, change) in cases {
        let st = start(&s, &p).await;
        let mut claims = id_claims(&p, &st.nonce, "alice");
        change(&mut claims);
        p.lock().unwrap().id_token = sign(&k1, &claims);
        callback(&s, &st, "good-code")
            .await
            .expect(StatusCode::FORBIDDEN);
        let reasons = refusals(&s).await;
        assert!(reasons[0].contains(expected), "{expected}: {reasons:?}");
    }
    // Unsigned (`alg: none`), and HS256 keyed with the provider's public key.
    let st = start(&s, &p).await;
    let h = B64.encode(br#"{"alg":"none","kid":"k1"}"#);
    let c = B64.encode(id_claims(&p, &st.nonce, "alice").to_string());
    p.lock().unwrap().id_token = format!("{h}.{c}.");
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(refusals(&s).await[0].contains("No signature"));
    let st = start(&s, &p).await;
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("k1".into());
    p.lock().unwrap().id_token = jsonwebtoken::encode(
        &h,
        &id_claims(&p, &st.nonce, "alice"),
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::FORBIDDEN);
    let reasons = refusals(&s).await;
    assert!(
        reasons[0].contains("Disallowed signature algorithm"),
        "{reasons:?}"
    );
    // Signed by another key under the same kid.
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&other, &id_claims(&p, &st.nonce, "alice"));
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(refusals(&s).await[0].contains("Signature"));
    // A wrong code (or verifier) is refused by the provider.
    let st = start(&s, &p).await;
    callback(&s, &st, "bad-code")
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(refusals(&s).await[0].contains("code refused"));
    // An answer in another browser (no binding cookie) is refused.
    let st = start(&s, &p).await;
    let res = s
        .send(
            Request::get(format!(
                "/auth/v3/sso/oidc/demo/callback?state={}&code=good-code",
                st.state
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    res.expect(StatusCode::BAD_REQUEST);
    assert!(refusals(&s).await[0].contains("browser"));
    // The provider's own error is shown, not a 500.
    let st = start(&s, &p).await;
    let res = s
        .send(
            Request::get(format!(
                "/auth/v3/sso/oidc/demo/callback?state={}&error=access_denied&error_description=%3Cb%3E",
                st.state
            ))
            .header(header::COOKIE, &st.cookie)
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    res.expect(StatusCode::FORBIDDEN);
    assert!(res.text().contains("access_denied"));
    assert!(!res.text().contains("<b>"));
}

/// The mix-up attack (RFC 9700 §4.4): a tenant's own provider (`evil`)
/// hands the browser it was sent to over to the honest provider of `demo`,
/// whose code comes back for the evil flight. The code must never reach the
/// evil provider's token endpoint, nor the honest one's for that flight.
#[tokio::test]
async fn mix_up_answers_never_reach_another_provider() {
    let s = TestServer::new().await;
    let (honest, evil) = (provider().await, provider().await);
    let k = key("k1");
    honest.lock().unwrap().jwks = vec![k.jwk.clone()];
    evil.lock().unwrap().jwks = vec![k.jwk.clone()];
    oidc_contact_center_at(&s, "demo", &honest, true).await;
    oidc_contact_center_at(&s, "evil", &evil, true).await;
    let honest_iss = honest.lock().unwrap().issuer.clone();
    let evil_iss = evil.lock().unwrap().issuer.clone();

    // Each provider has its own redirect URI.
    let st = start_at(&s, "evil", &evil).await;
    let redirect = st.query.iter().find(|(k, _)| k == "redirect_uri").unwrap();
    assert_eq!(
        redirect.1,
        format!("{ISSUER}/auth/v3/sso/oidc/evil/callback")
    );

    // The honest provider answers at its own redirect URI, naming itself.
    let path = "/auth/v3/sso/oidc/demo/callback";
    answer(&s, &st, path, "good-code", Some(&honest_iss))
        .await
        .expect(StatusCode::BAD_REQUEST);
    // Without iss (a provider without RFC 9207) alike.
    let st = start_at(&s, "evil", &evil).await;
    answer(&s, &st, path, "good-code", None)
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(refusals(&s)
        .await
        .contains(&"answer at another provider's redirect URI".to_string()));
    // The shared callback of old is gone: nothing answers there.
    let st = start_at(&s, "evil", &evil).await;
    let res = answer(&s, &st, "/auth/v3/sso/oidc/callback", "good-code", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // At the evil flight's own redirect URI, an answer naming another issuer.
    let st = start_at(&s, "evil", &evil).await;
    let path = "/auth/v3/sso/oidc/evil/callback";
    answer(&s, &st, path, "good-code", Some(&honest_iss))
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(refusals(&s)
        .await
        .contains(&"answer from another issuer (iss)".to_string()));
    assert!(
        evil.lock().unwrap().token_requests.is_empty(),
        "code leaked to the evil provider"
    );
    assert!(honest.lock().unwrap().token_requests.is_empty());

    // The evil provider's own, correct answer still works (a control).
    let st = start_at(&s, "evil", &evil).await;
    evil.lock().unwrap().id_token = sign(&k, &id_claims(&evil, &st.nonce, "mallory"));
    answer(&s, &st, path, "good-code", Some(&evil_iss))
        .await
        .expect(StatusCode::SEE_OTHER);
}

/// A provider that advertises RFC 9207 must name itself in every answer.
#[tokio::test]
async fn iss_is_required_when_the_provider_advertises_it() {
    let s = TestServer::new().await;
    let p = provider().await;
    let k = key("k1");
    p.lock().unwrap().jwks = vec![k.jwk.clone()];
    p.lock().unwrap().sends_iss = true;
    oidc_contact_center(&s, &p, true).await;
    let iss = p.lock().unwrap().issuer.clone();
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&k, &id_claims(&p, &st.nonce, "alice"));
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(refusals(&s)
        .await
        .contains(&"no iss, which the provider promises".to_string()));
    assert!(p.lock().unwrap().token_requests.is_empty());
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&k, &id_claims(&p, &st.nonce, "alice"));
    let path = "/auth/v3/sso/oidc/demo/callback";
    answer(&s, &st, path, "good-code", Some(&iss))
        .await
        .expect(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn rotated_provider_keys_are_fetched_again() {
    let s = TestServer::new().await;
    let p = provider().await;
    let (k1, k2) = (key("k1"), key("k2"));
    p.lock().unwrap().jwks = vec![k1.jwk.clone()];
    oidc_contact_center(&s, &p, true).await;
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&k1, &id_claims(&p, &st.nonce, "alice"));
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::SEE_OTHER);

    // The provider rotates: k2 signs, k1 is gone.
    p.lock().unwrap().jwks = vec![k2.jwk.clone()];
    // Right after a fetch, an unknown kid does not make Tollgate fetch again.
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&k2, &id_claims(&p, &st.nonce, "alice"));
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(refusals(&s).await[0].contains("kid"));
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let st = start(&s, &p).await;
    p.lock().unwrap().id_token = sign(&k2, &id_claims(&p, &st.nonce, "alice"));
    callback(&s, &st, "good-code")
        .await
        .expect(StatusCode::SEE_OTHER);
}

fn identity(username: &str) -> FederatedIdentity {
    FederatedIdentity {
        username: username.into(),
        first_name: Some("Bob".into()),
        last_name: Some("Builder".into()),
        email: Some(format!("{username}@example.org")),
        authorities: vec!["ROLE_AGENT".into()],
        provider: "https://idp.example".into(),
    }
}

#[tokio::test]
async fn resolve_user_finds_creates_or_refuses() {
    let s = TestServer::new().await;
    let cc = s.state.catalog.contact_center("demo").unwrap();
    // Refused when unknown and just-in-time is off.
    assert_eq!(
        resolve_user(&s.state, &cc, &identity("bob"), UnknownUsers::Refuse)
            .await
            .unwrap_err(),
        ResolveError::UnknownUser
    );
    // Created once, then the same user (same dbid) is found.
    let first = resolve_user(
        &s.state,
        &cc,
        &identity("bob"),
        UnknownUsers::CreateJustInTime,
    )
    .await
    .unwrap();
    assert_eq!(first.email, "bob@example.org");
    assert!(first.authorities.contains(&"ROLE_AGENT".to_string()));
    let again = resolve_user(&s.state, &cc, &identity("bob"), UnknownUsers::Refuse)
        .await
        .unwrap();
    assert_eq!(again.dbid, first.dbid);
    // An existing user keeps their record; the provider's authorities are added.
    let agent = resolve_user(&s.state, &cc, &identity(DEMO_USER), UnknownUsers::Refuse)
        .await
        .unwrap();
    assert!(agent.authorities.contains(&"ROLE_AGENT".to_string()));
    // A disabled user is locked, not re-created.
    let users = s.ops_get(&format!("{CCS}/demo/users")).await.json()["data"]["users"].clone();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userName"] == "bob")
        .expect("bob")["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ops_put(&format!("{CCS}/demo/users/{id}"), json!({"enabled": false}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        resolve_user(
            &s.state,
            &cc,
            &identity("bob"),
            UnknownUsers::CreateJustInTime
        )
        .await
        .unwrap_err(),
        ResolveError::Directory(DirectoryError::Locked)
    );
}

fn ldap_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: source scripts/provision/ldap.sh (scripts/test.sh does)")
    })
}

/// A single-sign-on contact center with an LDAP directory stored matches its
/// users there (dbid and group authorities from slapd) and never creates one.
#[tokio::test]
async fn resolve_user_looks_up_the_stored_ldap_directory() {
    let s = TestServer::new().await;
    let base = ldap_env("TOLLGATE_TEST_LDAP_BASE");
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "oidc"}))
        .await
        .expect(StatusCode::OK);
    s.ops_put(
        &format!("{CCS}/demo/directory"),
        json!({
            "urls": [ldap_env("TOLLGATE_TEST_LDAP_URL")], "startTls": true,
            "caCertificate": std::fs::read_to_string(ldap_env("TOLLGATE_TEST_LDAP_CA")).unwrap(),
            "bindMode": "searchThenBind",
            "serviceDn": format!("cn=tollgate,ou=services,{base}"),
            "bindPassword": ldap_env("TOLLGATE_TEST_LDAP_SERVICE_PASSWORD"),
            "baseDn": base,
            "userFilter": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "groupFilter": "(&(objectClass=groupOfNames)(member={dn}))",
            "groupAuthorities": [{"group": "supervisors", "authority": "ROLE_SUPERVISOR"}]
        }),
    )
    .await
    .expect(StatusCode::OK);
    let cc = s.state.catalog.contact_center("demo").unwrap();
    let alice = resolve_user(&s.state, &cc, &identity("alice"), UnknownUsers::Refuse)
        .await
        .unwrap();
    assert_eq!(alice.dbid, 1001, "the directory's dbid");
    assert!(alice.authorities.contains(&"ROLE_SUPERVISOR".to_string()));
    assert!(alice.authorities.contains(&"ROLE_AGENT".to_string()));
    assert_eq!(
        resolve_user(
            &s.state,
            &cc,
            &identity("nobody"),
            UnknownUsers::CreateJustInTime
        )
        .await
        .unwrap_err(),
        ResolveError::UnknownUser,
        "no just-in-time user beside an LDAP directory"
    );
    assert!(s
        .state
        .directories
        .builtin
        .lookup(&cc, "nobody")
        .await
        .unwrap()
        .is_none());
}
