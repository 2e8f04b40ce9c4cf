//! The authorization endpoint, the sign-in UI, browser sessions and their
//! protections, driven in-process with cookies handled by hand.

use crate::common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::browser::*;
use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

const CB: &str = "https://app.tollgate.test/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn code_flow(s: &TestServer, b: &mut Browser<'_>) -> String {
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid profile"),
        ("state", "st1"),
        ("nonce", "n1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = sign_in_through(b, &url, "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::SEE_OTHER);
    let loc = location(&res);
    assert!(loc.starts_with(CB), "{loc}");
    let p = params(&loc);
    assert_eq!(p["state"], "st1");
    assert_eq!(p["iss"], ISSUER);
    let _ = s;
    p["code"].clone()
}

#[tokio::test]
async fn code_flow_with_pkce_and_session_reuse() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    assert!(b.has("__Host-tollgate_session"));
    let tokens = s
        .token(
            DEMO,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .tokens();
    assert!(tokens["refresh_token"].is_string());
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id["nonce"], "n1");
    assert!(id["at_hash"].is_string());
    assert!(s.is_active(str_of(&tokens, "access_token")).await);

    // prompt=none with the session: a code straight back.
    let res = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("prompt", "none"),
            ("state", "x"),
        ]))
        .await;
    res.expect(StatusCode::FOUND);
    assert_security_headers(&res);
    let p = params(&location(&res));
    assert!(p.contains_key("code"), "{p:?}");
    // The code is for the registered (only) redirect URI, which was not given: none needed.
    s.token(
        DEMO,
        &[("grant_type", "authorization_code"), ("code", &p["code"])],
    )
    .await
    .tokens();

    // Ping answers from the session.
    b.get("/auth/v3/ping").await.expect(StatusCode::OK);
    Browser::new(&s)
        .get("/auth/v3/ping")
        .await
        .expect(StatusCode::FORBIDDEN);
}

/// OIDC Core §3.1.2.1: the authorization request may be a form POST too.
#[tokio::test]
async fn the_authorization_request_may_be_posted() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let res = b
        .post(
            "/auth/v3/oauth/authorize",
            &[
                ("response_type", "code"),
                ("client_id", DEMO_CLIENT),
                ("prompt", "none"),
                ("state", "posted"),
            ],
        )
        .await;
    res.expect(StatusCode::FOUND);
    let p = params(&location(&res));
    assert_eq!(p["state"], "posted");
    s.token(
        DEMO,
        &[("grant_type", "authorization_code"), ("code", &p["code"])],
    )
    .await
    .tokens();
    // The same checks as a GET: an unknown client is refused.
    b.post(
        "/auth/v3/oauth/authorize",
        &[("response_type", "code"), ("client_id", "nobody")],
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

/// OIDC Core §6: request objects are refused by name, at the client's
/// redirect URI, not silently ignored.
#[tokio::test]
async fn request_objects_are_refused() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    for (param, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let res = b
            .get(&authorize_url(&[
                ("response_type", "code"),
                ("client_id", DEMO_CLIENT),
                ("redirect_uri", CB),
                ("state", "s"),
                (param, "eyJhbGciOiJub25lIn0.e30."),
            ]))
            .await;
        res.expect(StatusCode::FOUND);
        let p = params(&location(&res));
        assert_eq!(p["error"], error);
        assert_eq!(p["state"], "s");
    }
    // The refusal goes back in the mode the refused object asked for.
    let object = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"response_mode":"form_post"}"#)
    );
    let res = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("redirect_uri", CB),
            ("request", &object),
        ]))
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(
        input(&res.text(), "error").as_deref(),
        Some("request_not_supported")
    );
    let meta = s.get("/.well-known/openid-configuration").await.json();
    assert_eq!(meta["request_parameter_supported"], false);
    assert_eq!(meta["request_uri_parameter_supported"], false);
}

#[tokio::test]
async fn replayed_code_fails_and_revokes_the_first_tokens() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let first = s.token(DEMO, &form).await.tokens();
    s.token(DEMO, &form)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_revoked(&s, &first, "the replayed code's first tokens").await;
}

/// Neither the access token nor the refresh token of `tokens` works any more.
async fn assert_revoked(s: &TestServer, tokens: &serde_json::Value, whose: &str) {
    assert!(
        !s.is_active(str_of(tokens, "access_token")).await,
        "{whose}: the access token is still active"
    );
    s.token(
        DEMO,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(tokens, "refresh_token")),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

/// The ephemeral store losing its data (a Redis restart) between the
/// redemption and the replay does not save the first tokens: the database
/// remembers what the code issued (before, the replay was refused as an
/// unknown code and the tokens stayed valid).
#[tokio::test]
async fn a_code_replayed_after_the_ephemeral_store_lost_its_data_still_revokes() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    let first = s.token(DEMO, &form).await.tokens();
    let digest = tollgate_core::tokens::token_digest(&code);
    for key in ["code", "code-used", "code-replayed"] {
        s.state
            .ephemeral
            .delete(&format!("{key}:{digest}"))
            .await
            .expect("delete");
    }
    s.token(DEMO, &form)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_revoked(&s, &first, "after the store lost its data").await;
}

/// A code presented twice at once: whichever presentation wins, nothing
/// issued for the code stays usable (the replay used to be refused while the
/// first redemption was still issuing, and its tokens then stayed valid).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_replayed_during_its_redemption_revokes_what_it_issued() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    for round in 0..15 {
        let res = b
            .get(&authorize_url(&[
                ("response_type", "code"),
                ("client_id", DEMO_CLIENT),
                ("prompt", "none"),
            ]))
            .await;
        let code = params(&location(&res))["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        let (one, two) = tokio::join!(s.token(DEMO, &form), s.token(DEMO, &form));
        for res in [one, two] {
            if res.status != StatusCode::OK {
                res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                continue;
            }
            assert_revoked(&s, &res.tokens(), &format!("round {round}")).await;
        }
    }
}

#[tokio::test]
async fn wrong_verifier_and_redirect_uri_are_refused() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    s.token(
        DEMO,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", "A".repeat(43).as_str()),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    s.token(
        DEMO,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.tollgate.test/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    s.token(
        DEMO,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn client_and_redirect_errors_render_a_page_and_never_redirect() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    for q in [
        vec![("response_type", "code")],
        vec![("response_type", "code"), ("client_id", "nobody")],
        vec![
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("redirect_uri", "https://evil.test/cb"),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("redirect_uri", "https://app.tollgate.test/callback/"),
        ],
    ] {
        let res = b.get(&authorize_url(&q)).await;
        res.expect(StatusCode::BAD_REQUEST);
        assert!(res.header(header::LOCATION).is_none());
        assert!(res.text().contains("id=\"error\""));
        assert_security_headers(&res);
    }
}

async fn public_client(s: &TestServer, internal: bool) {
    s.create_client(json!({"client_id": "spa", "clientType": "PUBLIC", "internalClient": internal, "scope": ["openid", "profile"], "authorizedGrantTypes": ["authorization_code", "implicit"], "redirectURIs": [CB, "https://spa.test/cb"]})).await;
}

#[tokio::test]
async fn parameter_errors_go_back_to_the_redirect_uri() {
    let s = TestServer::new().await;
    public_client(&s, true).await;
    let mut b = Browser::new(&s);
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, bool);
    let cases: Vec<Case> = vec![
        (vec![("response_type", "code")], "invalid_request", false), // no PKCE for a public client
        (
            vec![
                ("response_type", "code"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
            false,
        ),
        (
            vec![("response_type", "code"), ("code_challenge", CHALLENGE)],
            "invalid_request",
            false,
        ),
        (
            vec![("response_type", "id_token"), ("scope", "openid")],
            "invalid_request",
            true,
        ), // nonce required
        (
            vec![("response_type", "bogus")],
            "unsupported_response_type",
            false,
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "email"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
            "invalid_scope",
            false,
        ),
        (
            vec![
                ("response_type", "code"),
                ("prompt", "none"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
            "login_required",
            false,
        ),
    ];
    for (extra, error, fragment) in cases {
        let mut q = vec![("client_id", "spa"), ("redirect_uri", CB), ("state", "s1")];
        q.extend(extra.iter().copied());
        let res = b.get(&authorize_url(&q)).await;
        res.expect(StatusCode::FOUND);
        let loc = location(&res);
        assert!(loc.starts_with(CB), "{loc}");
        assert_eq!(loc.contains('#'), fragment, "{loc}");
        let p = params(&loc);
        assert_eq!(p["error"], error, "{q:?} → {loc}");
        assert_eq!(p["state"], "s1");
        assert_eq!(p["iss"], ISSUER);
    }
    // Several registered URIs: redirect_uri is required.
    b.get(&authorize_url(&[
        ("client_id", "spa"),
        ("response_type", "code"),
    ]))
    .await
    .expect(StatusCode::BAD_REQUEST);
    // A client without the grant.
    s.create_client(json!({"client_id": "m2m", "client_secret": "m2m-secret-value", "authorizedGrantTypes": ["client_credentials"], "redirectURIs": [CB]})).await;
    let res = b
        .get(&authorize_url(&[
            ("client_id", "m2m"),
            ("response_type", "code"),
        ]))
        .await;
    assert_eq!(params(&location(&res))["error"], "unauthorized_client");
}

#[tokio::test]
async fn public_client_code_flow_without_secret() {
    let s = TestServer::new().await;
    public_client(&s, true).await;
    let mut b = Browser::new(&s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    let code = params(&location(&res))["code"].clone();
    let t = s
        .token(
            ClientAuth::Public("spa"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .tokens();
    assert!(t["id_token"].is_string());
    assert!(t.get("refresh_token").is_none());
    // It may not introspect, but revocation stays open to public clients
    // (RFC 7009 §2.1), as advertised.
    let at = str_of(&t, "access_token");
    s.introspect(ClientAuth::Public("spa"), at)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    s.revoke(ClientAuth::Public("spa"), at)
        .await
        .expect(StatusCode::OK);
    assert!(!s.is_active(at).await);
}

#[tokio::test]
async fn implicit_and_id_token_responses_use_the_fragment() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await; // signs in
    let res = b
        .get(&authorize_url(&[
            ("response_type", "token"),
            ("client_id", DEMO_CLIENT),
            ("state", "a"),
        ]))
        .await;
    let loc = location(&res);
    assert!(loc.starts_with(&format!("{CB}#")), "{loc}");
    let p = params(&loc);
    assert_eq!(p["token_type"], "bearer");
    assert!(s.is_active(&p["access_token"]).await);
    assert!(!p.contains_key("refresh_token"));

    let res = b
        .get(&authorize_url(&[
            ("response_type", "id_token token"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
            ("nonce", "nn"),
        ]))
        .await;
    let p = params(&location(&res));
    let id = s.verify_jwt(&p["id_token"], DEMO_CLIENT).await;
    assert_eq!(id["nonce"], "nn");
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(p["access_token"].as_bytes())[..16]);
    assert_eq!(id["at_hash"], at_hash.as_str());

    let res = b
        .get(&authorize_url(&[
            ("response_type", "id_token"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
            ("nonce", "nn"),
        ]))
        .await;
    let p = params(&location(&res));
    assert!(p.contains_key("id_token") && !p.contains_key("access_token"));
}

#[tokio::test]
async fn wrong_password_unknown_user_and_csrf() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let url = authorize_url(&[("response_type", "code"), ("client_id", DEMO_CLIENT)]);
    for (user, pw) in [
        ("demo\\agent", "wrong"),
        ("demo\\nobody", "wrong"),
        ("nowhere\\agent", "x"),
    ] {
        let res = sign_in_through(&mut b, &url, user, pw).await;
        res.expect(StatusCode::UNAUTHORIZED);
        assert!(res
            .text()
            .contains("The user name or password is incorrect."));
        assert!(res.text().contains("role=\"alert\""));
        assert_security_headers(&res);
    }
    // CSRF: missing, then wrong.
    let res = b.get(&url).await;
    let page = b.get(&location(&res)).await.text();
    let request = input(&page, "request").unwrap();
    let r = b
        .post(
            "/auth/v3/sign-in",
            &[
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("request", &request),
            ],
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    assert_security_headers(&r);
    b.post(
        "/auth/v3/sign-in",
        &[
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
            ("request", &request),
            ("csrf_token", "forged"),
        ],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // A token from another browser does not fit this browser's cookie.
    let mut other = Browser::new(&s);
    let other_page = other.get("/ui/auth/sign-in").await.text();
    let foreign = input(&other_page, "csrf_token").unwrap();
    b.post(
        "/auth/v3/sign-in",
        &[
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
            ("request", &request),
            ("csrf_token", &foreign),
        ],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    assert!(!b.has("__Host-tollgate_session"));
}

#[tokio::test]
async fn lockout_then_unlock_after_the_duration() {
    let mut args = default_args();
    args.lockout_threshold = 2;
    args.lockout_duration = 2;
    let s = TestServer::with_args(args).await;
    let mut b = Browser::new(&s);
    let page = b.get("/ui/auth/sign-in").await.text();
    let csrf = input(&page, "csrf_token").unwrap();
    for _ in 0..2 {
        b.post(
            "/auth/v3/sign-in",
            &[
                ("username", "demo\\agent"),
                ("password", "bad"),
                ("csrf_token", &csrf),
            ],
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    let r = b
        .post(
            "/auth/v3/sign-in",
            &[
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    r.expect(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("Too many failed sign-in attempts"));
    assert!(r.header(header::RETRY_AFTER).is_some());
    // The password grant is locked too, and unknown users the same way.
    let e = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .contains("too many"));
    for _ in 0..2 {
        b.post(
            "/auth/v3/sign-in",
            &[
                ("username", "demo\\ghost"),
                ("password", "bad"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    }
    b.post(
        "/auth/v3/sign-in",
        &[
            ("username", "demo\\ghost"),
            ("password", "bad"),
            ("csrf_token", &csrf),
        ],
    )
    .await
    .expect(StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = b
        .post(
            "/auth/v3/sign-in",
            &[
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    r.expect(StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/ui/auth/signed-in");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut args = default_args();
    args.rate_limit_per_minute = 3;
    let s = TestServer::with_args(args).await;
    let mut last = None;
    for _ in 0..4 {
        last = Some(s.token(DEMO, &[("grant_type", "client_credentials")]).await);
    }
    let r = last.unwrap();
    r.expect(StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = r.header(header::RETRY_AFTER).unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs));
}

#[tokio::test]
async fn consent_for_clients_that_are_not_internal() {
    let s = TestServer::new().await;
    public_client(&s, false).await;
    let mut b = Browser::new(&s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("scope", "openid profile"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "c"),
    ]);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::SEE_OTHER);
    let consent_url = location(&res);
    assert!(
        consent_url.starts_with("/ui/auth/consent?request="),
        "{consent_url}"
    );
    let page = b.get(&consent_url).await;
    page.expect(StatusCode::OK);
    assert_security_headers(&page);
    let html = page.text();
    assert!(html.contains("<li>profile</li>"));
    assert!(page
        .header(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .contains("form-action 'self' https://app.tollgate.test"));
    let csrf = input(&html, "csrf_token").unwrap();
    let request = input(&html, "request").unwrap();
    let r = b
        .post(
            "/auth/v3/oauth/consent",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    r.expect(StatusCode::SEE_OTHER);
    assert!(params(&location(&r)).contains_key("code"));
    // Remembered: straight back the next time, even with prompt=none.
    let mut q = url.clone();
    q.push_str("&prompt=none");
    let r = b.get(&q).await;
    assert!(params(&location(&r)).contains_key("code"));
    // Deny → access_denied.
    let r = b.get(&format!("{url}&prompt=consent")).await;
    let page = b.get(&location(&r)).await.text();
    let r = b
        .post(
            "/auth/v3/oauth/consent",
            &[
                ("csrf_token", &input(&page, "csrf_token").unwrap()),
                ("request", &input(&page, "request").unwrap()),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(params(&location(&r))["error"], "access_denied");
}

#[tokio::test]
async fn forced_password_change_then_sign_in_continues() {
    let s = TestServer::new().await;
    let token = s.client_token().await;
    let res = s
        .bearer_json(
            axum::http::Method::POST,
            "/environment/v3/contact-centers/demo/users",
            &token,
            Some(json!({"userName": "newbie", "firstName": "N", "lastName": "B"})),
        )
        .await;
    res.expect(StatusCode::CREATED);
    let temp = res.json()["data"]["temporaryPassword"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b = Browser::new(&s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("state", "pw"),
    ]);
    let r = sign_in_through(&mut b, &url, "demo\\newbie", &temp).await;
    r.expect(StatusCode::SEE_OTHER);
    let change_url = location(&r);
    assert!(
        change_url.starts_with("/ui/auth/change-password?change="),
        "{change_url}"
    );
    let page = b.get(&change_url).await;
    assert!(page.text().contains("Your password has expired."));
    let html = page.text();
    let csrf = input(&html, "csrf_token").unwrap();
    let change = input(&html, "change").unwrap();
    let r = b
        .post(
            "/auth/v3/change-password",
            &[
                ("csrf_token", &csrf),
                ("change", &change),
                ("oldPassword", &temp),
                ("newPassword", "n3w-Passw0rd!"),
                ("confirmPassword", "different"),
            ],
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert!(r.text().contains("The new passwords do not match."));
    let r = b
        .post(
            "/auth/v3/change-password",
            &[
                ("csrf_token", &csrf),
                ("change", &change),
                ("oldPassword", "wrong"),
                ("newPassword", "n3w-Passw0rd!"),
                ("confirmPassword", "n3w-Passw0rd!"),
            ],
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    assert!(r.text().contains("Unable to update password"));
    // The password rules are named, with the configured minimum.
    let r = b
        .post(
            "/auth/v3/change-password",
            &[
                ("csrf_token", &csrf),
                ("change", &change),
                ("oldPassword", &temp),
                ("newPassword", "short"),
                ("confirmPassword", "short"),
            ],
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("use at least 8 characters"),
        "{}",
        r.text()
    );
    let r = b
        .post(
            "/auth/v3/change-password",
            &[
                ("csrf_token", &csrf),
                ("change", &change),
                ("oldPassword", &temp),
                ("newPassword", "n3w-Passw0rd!"),
                ("confirmPassword", "n3w-Passw0rd!"),
            ],
        )
        .await;
    r.expect(StatusCode::SEE_OTHER);
    let p = params(&location(&r));
    assert_eq!(p["state"], "pw");
    assert!(p.contains_key("code"));
    assert!(b.has("__Host-tollgate_session"));
    s.token(
        DEMO,
        &[
            ("grant_type", "password"),
            ("username", "demo\\newbie"),
            ("password", "n3w-Passw0rd!"),
        ],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn change_password_json_api() {
    let s = TestServer::new().await;
    let at = s.user_token().await;
    let r = s
        .bearer_json(
            axum::http::Method::POST,
            "/auth/v3/change-password",
            &at,
            Some(json!({"oldPassword": "wrong", "newPassword": "x-new-password"})),
        )
        .await;
    assert_eq!(
        r.expect_api_error(StatusCode::FORBIDDEN),
        "Unable to update password"
    );
    let r = s
        .bearer_json(
            axum::http::Method::POST,
            "/auth/v3/change-password",
            &at,
            Some(json!({"oldPassword": DEMO_PASSWORD, "newPassword": "x-new-password"})),
        )
        .await;
    r.expect(StatusCode::OK);
    s.token(
        DEMO,
        &[
            ("grant_type", "password"),
            ("username", "demo\\agent"),
            ("password", "x-new-password"),
        ],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn sign_out_ends_the_session_and_global_revokes_tokens() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let at = s.user_token().await;
    // By a link, everywhere: the user confirms first (see
    // global_sign_out_by_link_and_end_session_without_hint_ask_first).
    let cb = form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>();
    let r = b
        .get(&format!(
            "/auth/v3/sign-out?global=true&client_id={DEMO_CLIENT}&redirectUri={cb}"
        ))
        .await;
    r.expect(StatusCode::OK);
    let csrf = input(&r.text(), "csrf_token").expect("confirmation form");
    let r = b
        .post(
            "/auth/v3/sign-out/confirm",
            &[
                ("csrf_token", &csrf),
                ("global", "true"),
                ("client_id", DEMO_CLIENT),
                ("redirect_uri", CB),
            ],
        )
        .await;
    r.expect(StatusCode::SEE_OTHER);
    assert_eq!(location(&r), CB);
    assert!(!b.has("__Host-tollgate_session"));
    assert!(!s.is_active(&at).await);
    b.get("/auth/v3/ping").await.expect(StatusCode::FORBIDDEN);
    let r = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("prompt", "none"),
        ]))
        .await;
    assert_eq!(params(&location(&r))["error"], "login_required");
    // An unregistered redirect is refused.
    b.get("/auth/v3/sign-out?redirectUri=https%3A%2F%2Fevil.test%2F")
        .await
        .expect(StatusCode::BAD_REQUEST);
    let page = b.get("/ui/auth/signed-out").await;
    assert!(page.text().contains("You are signed out."));
    assert_security_headers(&page);
}

#[tokio::test]
async fn rp_initiated_logout() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let id_token = s.password_tokens(Some("openid")).await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let cb = form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>();
    // Without a hint or client_id the redirect is refused.
    b.get(&format!(
        "/auth/v3/end-session?post_logout_redirect_uri={cb}"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    b.get(&format!("/auth/v3/end-session?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.test")).await.expect(StatusCode::BAD_REQUEST);
    b.get(&format!(
        "/auth/v3/end-session?id_token_hint=garbage&post_logout_redirect_uri={cb}"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    b.get(&format!(
        "/auth/v3/end-session?id_token_hint={id_token}&client_id=other"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    assert!(b.has("__Host-tollgate_session"));
    let r = b
        .get(&format!(
            "/auth/v3/end-session?id_token_hint={id_token}&post_logout_redirect_uri={cb}&state=bye"
        ))
        .await;
    r.expect(StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{CB}?state=bye"));
    assert!(!b.has("__Host-tollgate_session"));
    let r = b.get("/auth/v3/end-session").await;
    assert_eq!(location(&r), "/ui/auth/signed-out");
}

/// A plain sign-out (not global) ends the tokens issued through the browser
/// session, refresh tokens included, and only those: the user's tokens from
/// a password grant outside the browser stay valid.
#[tokio::test]
async fn plain_sign_out_ends_the_tokens_issued_through_the_session() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let code = code_flow(&s, &mut b).await;
    let through_session = s
        .token(
            DEMO,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .tokens();
    let elsewhere = s.password_tokens(Some("openid")).await;
    let id_token = str_of(&through_session, "id_token");
    b.get(&format!("/auth/v3/end-session?id_token_hint={id_token}"))
        .await
        .expect(StatusCode::SEE_OTHER);
    assert!(!b.has("__Host-tollgate_session"));
    assert!(!s.is_active(str_of(&through_session, "access_token")).await);
    s.token(
        DEMO,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&through_session, "refresh_token")),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(s.is_active(str_of(&elsewhere, "access_token")).await);
    s.token(
        DEMO,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&elsewhere, "refresh_token")),
        ],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn pages_in_french_with_lang_and_headers() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    b.lang = Some("fr-FR,fr;q=0.9,en;q=0.5");
    let page = b.get("/ui/auth/sign-in?hideTenant=true").await;
    assert_security_headers(&page);
    let html = page.text();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("Mot de passe"));
    assert!(html.contains("<label for=\"username\">"));
    let mut en = Browser::new(&s);
    let html = en.get("/ui/auth/sign-in").await.text();
    assert!(
        html.contains("<html lang=\"en\">")
            && html.contains("Password")
            && html.contains("id=\"tenant\"")
    );
    let css = en.get("/ui/auth/static/tollgate.css").await;
    css.expect(StatusCode::OK);
    assert!(css
        .header(header::CONTENT_TYPE)
        .unwrap()
        .starts_with("text/css"));
    // hideTenant hides the tenant field.
    let r = en
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("hideTenant", "true"),
        ]))
        .await;
    let html = en.get(&location(&r)).await.text();
    assert!(!html.contains("id=\"tenant\""));
}

#[tokio::test]
async fn auth_scheme_and_discovery() {
    let s = TestServer::new().await;
    let req = Request::post("/auth/v3/auth-scheme")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"data": {"userName": "agent", "tenant": "demo"}}).to_string(),
        ))
        .unwrap();
    let r = s.send(req).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["data"]["scheme"], "basic");
    assert_eq!(r.json()["status"]["code"], 0);
    let d = s.get("/.well-known/openid-configuration").await.json();
    assert_eq!(
        d["authorization_endpoint"],
        format!("{ISSUER}/auth/v3/oauth/authorize")
    );
    assert_eq!(
        d["end_session_endpoint"],
        format!("{ISSUER}/auth/v3/end-session")
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert!(d["response_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("id_token token")));
    // The levels acr_values may ask for (second factors).
    assert_eq!(d["acr_values_supported"], json!(["1", "2"]));
}

/// Logout CSRF: a cross-site link (no bearer token, no hint of the signed-in
/// user) can neither sign the user out everywhere nor end the session; the
/// user confirms on a page whose form carries a CSRF token.
#[tokio::test]
async fn global_sign_out_by_link_and_end_session_without_hint_ask_first() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let at = s.user_token().await;
    for link in ["/auth/v3/sign-out?global=true", "/auth/v3/end-session"] {
        let r = b.get(link).await;
        r.expect(StatusCode::OK);
        assert!(
            r.text().contains("action=\"/auth/v3/sign-out/confirm\""),
            "{link}"
        );
        assert_security_headers(&r);
        b.get("/auth/v3/ping").await.expect(StatusCode::OK);
        assert!(s.is_active(&at).await, "{link}");
    }
    // An ID token of another user is no proof either.
    s.create_client(json!({"client_id": "other", "client_secret": "other-secret-value",
        "authorizedGrantTypes": ["password"], "scope": ["openid"], "redirectURIs": ["https://other.test/cb"]}))
        .await;
    let ops_user = json!({"userName": "mallory", "password": "mallory-password"});
    s.ops_post("/environment/v3/contact-centers/demo/users", ops_user)
        .await
        .expect(StatusCode::CREATED);
    let theirs = s
        .token(
            ClientAuth::Basic("other", "other-secret-value"),
            &[
                ("grant_type", "password"),
                ("username", "demo\\mallory"),
                ("password", "mallory-password"),
                ("scope", "openid"),
            ],
        )
        .await
        .tokens()["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b
        .get(&format!("/auth/v3/end-session?id_token_hint={theirs}"))
        .await;
    r.expect(StatusCode::OK);
    b.get("/auth/v3/ping").await.expect(StatusCode::OK);
    // The form without its token (a forged post) is refused.
    b.post("/auth/v3/sign-out/confirm", &[("global", "true")])
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(s.is_active(&at).await);
    // The user confirms, with a redirect to the named client's URI.
    let r = b
        .get(&format!(
            "/auth/v3/end-session?client_id={DEMO_CLIENT}&post_logout_redirect_uri={}&state=bye",
            form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
        ))
        .await;
    r.expect(StatusCode::OK);
    let html = r.text();
    let csrf = input(&html, "csrf_token").expect("csrf");
    assert_eq!(input(&html, "redirect_uri").as_deref(), Some(CB));
    let r = b
        .post(
            "/auth/v3/sign-out/confirm",
            &[
                ("csrf_token", &csrf),
                ("client_id", DEMO_CLIENT),
                ("redirect_uri", CB),
                ("state", "bye"),
            ],
        )
        .await;
    r.expect(StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{CB}?state=bye"));
    assert!(!b.has("__Host-tollgate_session"));
    b.get("/auth/v3/ping").await.expect(StatusCode::FORBIDDEN);
}

/// A sign-out redirects only to a URI of the client it names (or whose
/// token or hint it carries), not to any client's of any tenant.
#[tokio::test]
async fn sign_out_redirects_only_to_the_named_clients_uris() {
    let s = TestServer::new().await;
    s.create_client(
        json!({"client_id": "other", "client_secret": "other-secret-value",
        "authorizedGrantTypes": ["client_credentials"], "redirectURIs": ["https://other.test/cb"]}),
    )
    .await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let other = form_urlencoded::byte_serialize(b"https://other.test/cb").collect::<String>();
    // No client named: nowhere (it used to be any client's URI).
    b.get(&format!("/auth/v3/sign-out?redirectUri={other}"))
        .await
        .expect(StatusCode::BAD_REQUEST);
    // Another client's URI.
    b.get(&format!(
        "/auth/v3/sign-out?client_id={DEMO_CLIENT}&redirectUri={other}"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    b.get(&format!(
        "/auth/v3/end-session?client_id={DEMO_CLIENT}&post_logout_redirect_uri={other}"
    ))
    .await
    .expect(StatusCode::BAD_REQUEST);
    // The named client's own.
    let r = b
        .get(&format!(
            "/auth/v3/sign-out?client_id=other&redirectUri={other}"
        ))
        .await;
    r.expect(StatusCode::FOUND);
    assert_eq!(location(&r), "https://other.test/cb");
}

/// On an https deployment: HSTS on every answer, and `__Host-` cookies, so
/// a cookie planted by a sibling subdomain (without the prefix) is no session.
#[tokio::test]
async fn https_deployment_sends_hsts_and_host_prefixed_cookies() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let session = b
        .cookies
        .iter()
        .find(|(k, _)| k == "__Host-tollgate_session")
        .map(|(_, v)| v.clone())
        .expect("prefixed session cookie");
    assert!(!b.has("tollgate_session"));
    for path in ["/ui/auth/sign-in", "/auth/v3/jwks", "/no-such-path"] {
        let r = s.get(path).await;
        assert_eq!(
            r.header(header::STRICT_TRANSPORT_SECURITY),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let r = s.get("/ui/auth/sign-in").await;
    let set: Vec<&str> = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        set.iter().all(|c| c.starts_with("__Host-")
            && c.contains("; Secure")
            && c.contains("Path=/")
            && !c.contains("Domain")),
        "{set:?}"
    );
    // The unprefixed name (as a sibling subdomain could set it) is ignored.
    let r = s
        .send(
            Request::get("/auth/v3/ping")
                .header(header::COOKIE, format!("tollgate_session={session}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    b.get("/auth/v3/ping").await.expect(StatusCode::OK);
}

/// A plain-http deployment (dev) keeps plain cookie names and sends no HSTS.
#[tokio::test]
async fn plain_http_deployment_keeps_plain_cookies_without_hsts() {
    let mut args = default_args();
    args.public_url = Some("http://127.0.0.1:8095".into());
    let s = TestServer::with_args(args).await;
    let r = s.get("/ui/auth/sign-in").await;
    assert!(r.header(header::STRICT_TRANSPORT_SECURITY).is_none());
    let set = r.header(header::SET_COOKIE).expect("csrf cookie");
    assert!(
        set.starts_with("tollgate_csrf=") && !set.contains("Secure"),
        "{set}"
    );
}

/// The tokens for the code (with the PKCE verifier) the redirect `res` carries.
pub(crate) async fn redeem(s: &TestServer, res: &Res) -> serde_json::Value {
    let code = params(&location(res))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    s.token(DEMO, &form).await.tokens()
}

/// OIDC Core §5.4: with an access token beside it, the ID token leaves the
/// scopes' claims to userinfo; the original's claims come with its scope
/// `*` only; `acr` and `amr` when `acr_values` was sent. Without an access
/// token (`response_type=id_token`) the scopes' claims are in the ID token.
#[tokio::test]
async fn id_tokens_carry_only_what_was_asked_for() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid profile email"),
        ("nonce", "n1"),
        ("acr_values", "1 2"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    let tokens = redeem(&s, &res).await;
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    for unasked in [
        "contact_center_id",
        "environment_id",
        "user_name",
        "dbid",
        "email",
        "name",
    ] {
        assert!(id.get(unasked).is_none(), "{unasked} in {id}");
    }
    assert_eq!((&id["acr"], &id["amr"]), (&json!("1"), &json!(["pwd"])));
    // The original's scope: its claims, as before.
    let all = s.password_tokens(Some("openid *")).await;
    let id = s.verify_jwt(str_of(&all, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id["contact_center_id"], "demo");
    assert_eq!(id["user_name"], "agent");
    assert!(id["dbid"].is_i64() && id.get("acr").is_none(), "{id}");
    // No access token: the profile is in the ID token.
    let res = b
        .get(&authorize_url(&[
            ("response_type", "id_token"),
            ("client_id", DEMO_CLIENT),
            ("redirect_uri", CB),
            ("scope", "openid profile"),
            ("nonce", "n2"),
        ]))
        .await;
    let fragment = location(&res);
    let id_token = params(&fragment.replacen('#', "?", 1))["id_token"].clone();
    let id = s.verify_jwt(&id_token, DEMO_CLIENT).await;
    assert!(
        id["given_name"].is_string() && id.get("user_name").is_none(),
        "{id}"
    );
}

/// OIDC Core §5.1, §5.4, §5.5: a built-in user's properties named as
/// standard claims are released by their scope (`address`, `phone`,
/// `profile`) or by name through the `claims` parameter, in the ID token or
/// at userinfo as asked; a property of the wrong type is refused when
/// written, and a malformed `claims` parameter is an `invalid_request`.
#[tokio::test]
async fn standard_claims_are_released_by_scope_or_by_name() {
    let s = TestServer::new().await;
    let user =
        s.db.find_user_by_name("demo", "agent")
            .await
            .unwrap()
            .unwrap();
    let path = format!("/environment/v3/contact-centers/demo/users/{}", user.id);
    let res = s
        .ops_put(&path, json!({"properties": {"address": "Paris"}}))
        .await;
    res.expect(StatusCode::BAD_REQUEST);
    assert!(res.text().contains("properties.address"), "{}", res.text());
    s.ops_put(
        &path,
        json!({"properties": {"phone_number": "+1 555 0100", "nickname": "ag",
            "address": {"locality": "Paris"}, "department": "sales"}}),
    )
    .await
    .expect(StatusCode::OK);

    let claims = r#"{"userinfo": {"name": {"essential": true}, "phone_number": null},
                     "id_token": {"nickname": null, "acr": {"essential": true}}}"#;
    let mut b = Browser::new(&s);
    let url = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid address"),
        ("claims", claims),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = sign_in_through(&mut b, &url, "demo\\agent", DEMO_PASSWORD).await;
    let tokens = redeem(&s, &res).await;
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    assert_eq!((&id["nickname"], &id["acr"]), (&json!("ag"), &json!("1")));
    for elsewhere in ["name", "phone_number", "address"] {
        assert!(id.get(elsewhere).is_none(), "{elsewhere} in {id}");
    }
    let info = s
        .bearer(
            axum::http::Method::GET,
            "/auth/v3/openid/userinfo",
            str_of(&tokens, "access_token"),
        )
        .await;
    info.expect(StatusCode::OK);
    let info = info.json();
    assert_eq!(info["name"], "Demo Agent", "{info}");
    assert_eq!(info["phone_number"], "+1 555 0100");
    assert_eq!(info["address"], json!({"locality": "Paris"}), "by scope");
    for unasked in ["nickname", "email", "given_name", "department"] {
        assert!(info.get(unasked).is_none(), "{unasked} in {info}");
    }

    let res = b
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("claims", r#"{"userinfo": ["name"]}"#),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert_eq!(params(&location(&res))["error"], "invalid_request");
}

/// OIDC Core §3.3.2.11: the left half of SHA-256, as `at_hash` and `c_hash` carry it.
fn half_hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

#[tokio::test]
async fn hybrid_responses_carry_the_code_and_hash_what_travels_with_it() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await; // signs in
    let hybrid = |rt: &'static str| {
        authorize_url(&[
            ("response_type", rt),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid email"),
            ("nonce", "hn"),
            ("state", "hs"),
        ])
    };

    // code id_token: in the fragment, the ID token hashing the code.
    let loc = location(&b.get(&hybrid("code id_token")).await);
    assert!(loc.starts_with(&format!("{CB}#")), "{loc}");
    let p = params(&loc);
    assert_eq!((p["state"].as_str(), p["iss"].as_str()), ("hs", ISSUER));
    assert!(!p.contains_key("access_token"));
    let id = s.verify_jwt(&p["id_token"], DEMO_CLIENT).await;
    assert_eq!(id["nonce"], "hn");
    assert_eq!(id["c_hash"], half_hash(&p["code"]).as_str());
    // OIDC Core §5.4: the code brings an access token, so the email is read at userinfo.
    assert!(id.get("email").is_none(), "{id}");
    // The code redeems like any other, with the nonce in its ID token.
    let tokens = s
        .token(
            DEMO,
            &[("grant_type", "authorization_code"), ("code", &p["code"])],
        )
        .await
        .tokens();
    let id = s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await;
    assert_eq!(id["nonce"], "hn");

    // code id_token token: both hashes, and a working access token.
    let p = params(&location(&b.get(&hybrid("code id_token token")).await));
    let id = s.verify_jwt(&p["id_token"], DEMO_CLIENT).await;
    assert_eq!(id["c_hash"], half_hash(&p["code"]).as_str());
    assert_eq!(id["at_hash"], half_hash(&p["access_token"]).as_str());
    assert!(s.is_active(&p["access_token"]).await);
    assert!(!p.contains_key("refresh_token"));

    // code token: no ID token through the browser.
    let p = params(&location(&b.get(&hybrid("code token")).await));
    assert!(p.contains_key("code") && p.contains_key("access_token"));
    assert!(!p.contains_key("id_token"));
}

#[tokio::test]
async fn hybrid_and_token_responses_refuse_what_would_leak_or_go_unbound() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let refused = |p: &std::collections::HashMap<String, String>, why: &str| {
        assert_eq!(p["error"], "invalid_request", "{p:?}");
        assert!(p["error_description"].contains(why), "{p:?}");
    };
    // No nonce: nothing would tie the ID token in the fragment to the request.
    let loc = location(
        &b.get(&authorize_url(&[
            ("response_type", "code id_token"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
        ]))
        .await,
    );
    assert!(loc.starts_with(&format!("{CB}#")), "{loc}");
    refused(&params(&loc), "nonce");
    // Tokens in the query would reach logs and Referer headers.
    let loc = location(
        &b.get(&authorize_url(&[
            ("response_type", "code token"),
            ("response_mode", "query"),
            ("client_id", DEMO_CLIENT),
            ("scope", "profile"),
        ]))
        .await,
    );
    refused(&params(&loc), "response_mode=query");
    // `code token` needs no nonce (its ID token comes from the token endpoint).
    let loc = location(
        &b.get(&authorize_url(&[
            ("response_type", "code token"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
        ]))
        .await,
    );
    assert!(
        params(&loc.replacen('#', "?", 1)).contains_key("code"),
        "{loc}"
    );
    let loc = location(
        &b.get(&authorize_url(&[
            ("response_type", "code"),
            ("response_mode", "sideways"),
            ("client_id", DEMO_CLIENT),
        ]))
        .await,
    );
    assert!(loc.starts_with(&format!("{CB}?")), "{loc}");
    refused(&params(&loc), "response_mode must be");
}

#[tokio::test]
async fn form_post_answers_with_a_page_that_posts_to_the_client() {
    let s = TestServer::new().await;
    let mut b = Browser::new(&s);
    code_flow(&s, &mut b).await;
    let res = b
        .get(&authorize_url(&[
            ("response_type", "code id_token"),
            ("response_mode", "form_post"),
            ("client_id", DEMO_CLIENT),
            ("scope", "openid"),
            ("nonce", "fp"),
            ("state", "fs"),
        ]))
        .await;
    res.expect(StatusCode::OK);
    assert!(res.header(header::LOCATION).is_none());
    let page = res.text();
    assert!(
        page.contains("action=\"https:&#x2f;&#x2f;app.tollgate.test&#x2f;callback\"")
            || page.contains(&format!("action=\"{CB}\"")),
        "{page}"
    );
    let code = input(&page, "code").expect("code field");
    assert_eq!(input(&page, "state").as_deref(), Some("fs"));
    let id = s
        .verify_jwt(&input(&page, "id_token").expect("id_token"), DEMO_CLIENT)
        .await;
    assert_eq!(id["c_hash"], half_hash(&code).as_str());
    // Its one script (the auto-submit) is allowed, and so is the post to the client.
    let csp = res.header(header::CONTENT_SECURITY_POLICY).expect("CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://app.tollgate.test"),
        "{csp}"
    );
    s.token(
        DEMO,
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await
    .expect(StatusCode::OK);

    // Errors travel the same way: prompt=none without a session.
    let mut fresh = Browser::new(&s);
    let res = fresh
        .get(&authorize_url(&[
            ("response_type", "code"),
            ("response_mode", "form_post"),
            ("client_id", DEMO_CLIENT),
            ("prompt", "none"),
        ]))
        .await;
    res.expect(StatusCode::OK);
    assert_eq!(
        input(&res.text(), "error").as_deref(),
        Some("login_required")
    );
}
