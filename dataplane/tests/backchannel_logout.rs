//! OpenID Connect Back-Channel Logout 1.0: a relying party with a
//! `backchannelLogoutUri` receives a signed logout token when a user who
//! signed in to it signs out (browser session, global sign-out), and a
//! relying party that fails gets it again.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Request, StatusCode};
use common::browser::*;
use common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const CB: &str = "https://app.tollgate.test/callback";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A relying party's back-channel endpoint on loopback: it answers 500 to
/// its first `failures` posts, then 200, and hands over every form body.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<(String, String)>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let (tx, bodies) = mpsc::unbounded_channel();
        let seen = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/bcl",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (tx, seen) = (tx.clone(), seen.clone());
                async move {
                    let kind = headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    if seen.fetch_add(1, Ordering::SeqCst) < failures {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let _ = tx.send((kind, body));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/bcl", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, bodies }
    }

    /// The next logout token, within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<String> {
        let (kind, body) = tokio::time::timeout(wait, self.bodies.recv())
            .await
            .ok()??;
        assert_eq!(kind, "application/x-www-form-urlencoded");
        let token = form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned());
        Some(token.expect("a logout_token parameter"))
    }
}

async fn register(s: &TestServer, uri: &str, session_required: bool) -> Value {
    let res = s
        .ops_put(
            &format!("{CLIENTS}/{DEMO_CLIENT}"),
            json!({"backchannelLogoutUri": uri,
                   "backchannelLogoutSessionRequired": session_required}),
        )
        .await;
    res.expect(StatusCode::OK);
    res.json()
}

/// Signs in through the code flow; returns the ID token's claims.
async fn sign_in(s: &TestServer, b: &mut Browser<'_>) -> Value {
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n"),
    ]);
    let res = sign_in_through(b, &url, "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::SEE_OTHER);
    let code = params(&location(&res))["code"].clone();
    let tokens = s
        .token(
            DEMO,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
        )
        .await
        .tokens();
    s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await
}

/// Checks a logout token as §2.6 asks a relying party to; returns its claims.
async fn valid_logout_token(s: &TestServer, token: &str) -> Value {
    let (header, _) = jwt_parts(token);
    assert_eq!(header["typ"], "logout+jwt");
    let claims = verify_with_jwks(&s.jwks().await, token, DEMO_CLIENT).expect("a valid JWT");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["events"], json!({EVENT: {}}));
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 120);
    claims
}

#[tokio::test]
async fn a_browser_sign_out_tells_the_relying_parties_of_that_session_only() {
    let s = TestServer::new().await;
    let mut rp = Receiver::start(0).await;
    let view = register(&s, &rp.url, true).await;
    assert_eq!(view["data"]["backchannelLogoutUri"], rp.url.as_str());
    assert_eq!(view["data"]["backchannelLogoutSessionRequired"], true);

    let (mut first, mut second) = (Browser::new(&s), Browser::new(&s));
    let id1 = sign_in(&s, &mut first).await;
    let id2 = sign_in(&s, &mut second).await;
    let (sid1, sid2) = (str_of(&id1, "sid"), str_of(&id2, "sid"));
    assert_ne!(sid1, sid2, "each browser session has its own sid");

    first
        .post("/auth/v3/sign-out", &[])
        .await
        .expect(StatusCode::OK);
    let token = rp
        .next(Duration::from_secs(5))
        .await
        .expect("a logout token");
    let claims = valid_logout_token(&s, &token).await;
    assert_eq!(claims["sub"], id1["sub"]);
    assert_eq!(claims["sid"], sid1);
    assert!(
        rp.next(Duration::from_millis(500)).await.is_none(),
        "the other session's relying party is not told"
    );

    second
        .post("/auth/v3/sign-out", &[])
        .await
        .expect(StatusCode::OK);
    let token = rp
        .next(Duration::from_secs(5))
        .await
        .expect("a logout token");
    assert_eq!(valid_logout_token(&s, &token).await["sid"], sid2);
}

#[tokio::test]
async fn a_global_sign_out_tells_the_relying_party_of_every_sign_in() {
    let s = TestServer::new().await;
    let mut rp = Receiver::start(0).await;
    register(&s, &rp.url, false).await;
    let mut b = Browser::new(&s);
    let id = sign_in(&s, &mut b).await;
    // A sign-in without a browser: the password grant's ID token.
    let tokens = s.password_tokens(Some("openid")).await;
    let access = str_of(&tokens, "access_token");

    let mut req = Request::post("/auth/v3/sign-out?global=true")
        .header(header::AUTHORIZATION, format!("Bearer {access}"));
    req = req.header(header::CONTENT_LENGTH, "0");
    s.send(req.body(axum::body::Body::empty()).unwrap())
        .await
        .expect(StatusCode::OK);

    let mut sids = Vec::new();
    for _ in 0..2 {
        let token = rp
            .next(Duration::from_secs(5))
            .await
            .expect("a logout token");
        let claims = valid_logout_token(&s, &token).await;
        assert_eq!(claims["sub"], id["sub"]);
        sids.push(claims.get("sid").cloned());
    }
    sids.sort_by_key(|v| v.is_some());
    assert_eq!(sids, vec![None, Some(id["sid"].clone())]);
}

#[tokio::test]
async fn a_relying_party_that_fails_gets_the_token_again() {
    let s = TestServer::new().await;
    let mut rp = Receiver::start(2).await;
    register(&s, &rp.url, false).await;
    let mut b = Browser::new(&s);
    let id = sign_in(&s, &mut b).await;
    b.post("/auth/v3/sign-out", &[])
        .await
        .expect(StatusCode::OK);
    // Two failures: the third try, 1 + 2 s later, succeeds.
    let token = rp
        .next(Duration::from_secs(10))
        .await
        .expect("the logout token, on a retry");
    assert_eq!(valid_logout_token(&s, &token).await["sid"], id["sid"]);
    // Counted once the post has its answer, just after the token arrived.
    let delivered = "tollgate_backchannel_logouts_total{outcome=\"delivered\"} 1";
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = s.state.metrics.encode();
        if metrics.contains(delivered) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains(delivered), "{metrics}");
    assert!(!metrics.contains("outcome=\"failed\""), "{metrics}");
}

#[tokio::test]
async fn clients_without_a_uri_hear_nothing_and_bad_registrations_are_refused() {
    let s = TestServer::new().await;
    let meta = s.get("/.well-known/openid-configuration").await.json();
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);

    let path = format!("{CLIENTS}/{DEMO_CLIENT}");
    for (body, why) in [
        (
            json!({"backchannelLogoutSessionRequired": true}),
            "needs a backchannelLogoutUri",
        ),
        (
            json!({"backchannelLogoutUri": "https://rp.example/bcl#frag"}),
            "must not contain a fragment",
        ),
        (
            json!({"backchannelLogoutUri": "/relative"}),
            "is not an absolute URI",
        ),
    ] {
        let res = s.ops_put(&path, body).await;
        let msg = res.expect_api_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(why), "{msg}");
    }
    let res = s.ops_get(&path).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["backchannelLogoutUri"], Value::Null);
    // Registered, then removed with null: the URI is gone.
    register(&s, "https://rp.example/bcl", true).await;
    let res = s
        .ops_put(&path, json!({"backchannelLogoutUri": null}))
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["backchannelLogoutUri"], Value::Null);
    assert_eq!(
        res.json()["data"]["backchannelLogoutSessionRequired"],
        false
    );
}
