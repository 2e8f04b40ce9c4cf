//! Pushed authorization requests (RFC 9126): the client pushes the request
//! to `/auth/v3/oauth/par`, the browser carries only the `request_uri`.

use crate::common;

use axum::http::StatusCode;
use common::browser::*;
use common::*;
use serde_json::{json, Value};

const PAR: &str = "/auth/v3/oauth/par";
const CB: &str = "https://app.tollgate.test/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The parameters of a code request of the demo client.
fn code_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid profile"),
        ("state", "pushed-state"),
        ("nonce", "n1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

async fn push(s: &TestServer, auth: ClientAuth<'_>, form: &[(&str, &str)]) -> Value {
    let res = s.post_form(PAR, auth, form).await;
    res.expect(StatusCode::CREATED);
    assert_eq!(
        res.header(axum::http::header::CACHE_CONTROL),
        Some("no-store")
    );
    res.json()
}

fn by_reference(request_uri: &str) -> String {
    authorize_url(&[("client_id", DEMO_CLIENT), ("request_uri", request_uri)])
}

#[tokio::test]
async fn a_pushed_request_signs_in_and_its_code_redeems() {
    let s = TestServer::new().await;
    let pushed = push(&s, DEMO, &code_request()).await;
    let uri = str_of(&pushed, "request_uri");
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    assert_eq!(pushed["expires_in"], 60);

    let mut b = Browser::new(&s);
    let res = sign_in_through(&mut b, &by_reference(uri), "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::SEE_OTHER);
    let p = params(&location(&res));
    assert_eq!(
        p["state"], "pushed-state",
        "the pushed parameters are the ones used"
    );
    let tokens = s
        .token(
            DEMO,
            &[
                ("grant_type", "authorization_code"),
                ("code", &p["code"]),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .tokens();
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id["nonce"], "n1");
}

#[tokio::test]
async fn a_request_uri_works_once_and_only_for_its_client() {
    let s = TestServer::new().await;
    let uri = push(&s, DEMO, &code_request()).await["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    // Another client cannot use it (the attempt spends it).
    let other = authorize_url(&[("client_id", "someone-else"), ("request_uri", &uri)]);
    let res = Browser::new(&s).get(&other).await;
    res.expect(StatusCode::BAD_REQUEST);
    assert!(res.text().contains("another application"), "{}", res.text());

    let uri = push(&s, DEMO, &code_request()).await["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = Browser::new(&s);
    b.get(&by_reference(&uri)).await.expect(StatusCode::FOUND);
    let again = b.get(&by_reference(&uri)).await;
    again.expect(StatusCode::BAD_REQUEST);
    assert!(
        again.text().contains("unknown, used or expired"),
        "{}",
        again.text()
    );
    // One this server never handed out.
    let made_up = b
        .get(&by_reference("urn:ietf:params:oauth:request_uri:made-up"))
        .await;
    made_up.expect(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn pushes_are_checked_at_once_and_answered_as_errors() {
    let s = TestServer::new().await;
    // Client authentication as at the token endpoint.
    s.post_form(
        PAR,
        ClientAuth::Basic(DEMO_CLIENT, "wrong"),
        &code_request(),
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let mut bad_type = code_request();
    bad_type.retain(|(k, _)| *k != "response_type");
    bad_type.push(("response_type", "magic"));
    let mut unknown_redirect = code_request();
    unknown_redirect.retain(|(k, _)| *k != "redirect_uri");
    unknown_redirect.push(("redirect_uri", "https://evil.example/cb"));
    let mut nested = code_request();
    nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    let mut other_client = code_request();
    other_client.retain(|(k, _)| *k != "client_id");
    other_client.push(("client_id", "someone-else"));
    let mut no_type = code_request();
    no_type.retain(|(k, _)| *k != "response_type");
    for (form, code) in [
        (bad_type, "unsupported_response_type"),
        (unknown_redirect, "invalid_request"),
        (nested, "invalid_request"),
        (other_client, "invalid_request"),
        (no_type, "invalid_request"),
    ] {
        s.post_form(PAR, DEMO, &form)
            .await
            .expect_oauth_error(StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn a_client_that_requires_par_is_refused_a_plain_request() {
    let s = TestServer::new().await;
    s.ops_put(
        &format!("{CLIENTS}/{DEMO_CLIENT}"),
        json!({"requirePushedAuthorizationRequests": true}),
    )
    .await
    .expect(StatusCode::OK);
    let plain = authorize_url(&code_request());
    let res = Browser::new(&s).get(&plain).await;
    res.expect(StatusCode::FOUND);
    let p = params(&location(&res));
    assert_eq!(p["error"], "invalid_request");
    assert!(p["error_description"].contains("PAR"), "{p:?}");
    // Pushed, the same request goes on to sign-in.
    let uri = push(&s, DEMO, &code_request()).await["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let res = Browser::new(&s).get(&by_reference(&uri)).await;
    res.expect(StatusCode::FOUND);
    assert!(location(&res).starts_with("/ui/auth/sign-in?request="));
}

#[tokio::test]
async fn discovery_names_the_endpoint() {
    let s = TestServer::new().await;
    let meta = s.get("/.well-known/openid-configuration").await.json();
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        format!("{ISSUER}{PAR}")
    );
    assert_eq!(meta["require_pushed_authorization_requests"], false);
}
