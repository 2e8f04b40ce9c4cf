//! The token endpoint: every grant, rotation and reuse detection, ID tokens,
//! and the exact RFC 6749 §5.2 error for each way a request can be wrong.

use crate::common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::*;
use serde_json::json;

// ---- Grants ---------------------------------------------------------------

#[tokio::test]
async fn client_credentials_with_basic_auth() {
    let s = TestServer::new().await;
    let res = s.token(DEMO, &[("grant_type", "client_credentials")]).await;
    let body = res.tokens();
    assert_eq!(res.header(header::PRAGMA), Some("no-cache"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "*");
    assert_eq!(body["expires_in"], 43_200);
    assert!(
        body.get("refresh_token").is_none(),
        "client_credentials issues no refresh token (RFC 6749 §4.4.3)"
    );
    assert!(body.get("id_token").is_none());

    let at = str_of(&body, "access_token");
    let (header, _) = jwt_parts(at);
    assert_eq!(header["typ"], "at+jwt", "RFC 9068 §2.1");
    assert_eq!(header["alg"], "ES256");
    let claims = s.verify_jwt(at, ISSUER).await;
    assert_eq!(claims["sub"], DEMO_CLIENT);
    assert_eq!(claims["client_id"], DEMO_CLIENT);
    assert!(claims.get("user_name").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        43_200
    );
    assert_eq!(
        claims["authorities"],
        json!(["ROLE_INTERNAL_CLIENT", "ROLE_MANAGEMENT_APPLICATION"])
    );
}

#[tokio::test]
async fn client_credentials_with_client_secret_post() {
    let s = TestServer::new().await;
    let body = s
        .token(
            ClientAuth::Post(DEMO_CLIENT, DEMO_SECRET),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
            ],
        )
        .await
        .tokens();
    assert_eq!(body["scope"], "read write");
    let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["client_id"], DEMO_CLIENT);
}

#[tokio::test]
async fn password_grant_with_tenant_prefix() {
    let s = TestServer::new().await;
    let body = s.password_tokens(None).await;
    assert!(
        body["refresh_token"].is_string(),
        "the demo client may refresh, so a refresh token is issued"
    );
    assert!(
        body.get("id_token").is_none(),
        "no openid scope, no ID token"
    );
    let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(claims["user_name"], DEMO_USER);
    assert_eq!(claims["contact_center_id"], "demo");
    assert_eq!(claims["environment_id"], "demo-environment");
    assert_eq!(claims["client_id"], DEMO_CLIENT);
    assert_eq!(claims["authorities"], json!(["ROLE_AGENT"]));
    assert!(
        claims["sid"].is_string(),
        "the token names its refresh family"
    );
}

#[tokio::test]
async fn password_grant_plain_user_uses_default_tenant() {
    let s = TestServer::new().await;
    let body = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", DEMO_USER),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .tokens();
    let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(claims["contact_center_id"], "demo");
}

#[tokio::test]
async fn plain_user_without_default_tenant_is_refused() {
    let s = TestServer::with_args(tollgate::app::config::CommonArgs {
        default_contact_center: None,
        ..default_args()
    })
    .await;
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", DEMO_USER),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // The tenant-qualified name still works.
    s.password_tokens(None).await;
}

#[tokio::test]
async fn openid_scope_yields_verifiable_id_token() {
    let s = TestServer::new().await;
    let body = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
                ("scope", "openid profile email"),
                ("nonce", "n-0S6"),
            ],
        )
        .await
        .tokens();
    assert_eq!(body["scope"], "openid profile email");
    let id_token = str_of(&body, "id_token");
    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["typ"], "JWT");
    // The ID token's audience is the client, not the API.
    let claims = s.verify_jwt(id_token, DEMO_CLIENT).await;
    assert_eq!(claims["sub"], "demo:agent");
    assert_eq!(claims["azp"], DEMO_CLIENT);
    assert_eq!(claims["nonce"], "n-0S6");
    // OIDC Core §5.4: with an access token, the profile and email are at
    // userinfo, not in the ID token.
    for at_userinfo in [
        "given_name",
        "family_name",
        "name",
        "preferred_username",
        "email",
    ] {
        assert!(
            claims.get(at_userinfo).is_none(),
            "{at_userinfo} in {claims}"
        );
    }
    let info = s
        .bearer(
            axum::http::Method::GET,
            "/auth/v3/openid/userinfo",
            str_of(&body, "access_token"),
        )
        .await
        .json();
    assert_eq!(info["name"], "Demo Agent");
    assert_eq!(info["preferred_username"], DEMO_USER);
    assert_eq!(info["email"], "agent@demo.example");
    assert!(claims["auth_time"].is_i64());
    // at_hash: left half of SHA-256 of the access token, base64url.
    use sha2::Digest;
    let digest = sha2::Sha256::digest(str_of(&body, "access_token").as_bytes());
    use base64::Engine;
    assert_eq!(
        claims["at_hash"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );
    // An ID token is not an access token.
    s.bearer(axum::http::Method::GET, "/auth/v3/userinfo", id_token)
        .await
        .expect_bearer_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn openid_without_profile_has_no_profile_claims_and_client_token_no_id_token() {
    let s = TestServer::new().await;
    let body = s.password_tokens(Some("openid")).await;
    let claims = s.verify_jwt(str_of(&body, "id_token"), DEMO_CLIENT).await;
    assert!(
        claims.get("name").is_none()
            && claims.get("email").is_none()
            && claims.get("nonce").is_none()
    );
    // No user, no ID token, even when openid is asked.
    let body = s
        .token(
            DEMO,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await
        .tokens();
    assert!(body.get("id_token").is_none());
}

// ---- Refresh --------------------------------------------------------------

fn refresh_form(rt: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", rt)]
}

async fn refresh_rotates_and_reuse_revokes_the_family(s: TestServer) {
    let first = s.password_tokens(None).await;
    let rt1 = str_of(&first, "refresh_token");
    let sid = s.verify_jwt(str_of(&first, "access_token"), ISSUER).await["sid"].clone();

    let second = s.token(DEMO, &refresh_form(rt1)).await.tokens();
    let rt2 = str_of(&second, "refresh_token");
    assert_ne!(rt1, rt2, "each refresh returns a new refresh token");
    let claims = s.verify_jwt(str_of(&second, "access_token"), ISSUER).await;
    assert_eq!(claims["sub"], "demo:agent", "the user carries over");
    assert_eq!(claims["sid"], sid, "same family");
    assert_eq!(second["scope"], first["scope"]);
    assert!(!s.is_active(rt1).await, "a used refresh token is inactive");
    assert!(s.is_active(rt2).await);

    // Replaying the used token is reuse: refused, and the whole family dies.
    let res = s.token(DEMO, &refresh_form(rt1)).await;
    let err = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{err}"
    );
    assert!(
        !s.is_active(rt2).await,
        "the family's live token is revoked too"
    );
    // So are the access tokens the family issued (RFC 9700 §4.14.2).
    for t in [&first, &second] {
        assert!(!s.is_active(str_of(t, "access_token")).await);
    }
    s.token(DEMO, &refresh_form(rt2))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

async fn refresh_by_another_client_is_refused_without_burning_the_token(s: TestServer) {
    let other_secret = s
        .create_client(json!({"client_id": "other-app", "authorizedGrantTypes": ["password", "refresh_token"]}))
        .await
        .expect("generated secret");
    let first = s.password_tokens(None).await;
    let rt = str_of(&first, "refresh_token");

    let res = s
        .token(
            ClientAuth::Basic("other-app", &other_secret),
            &refresh_form(rt),
        )
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Still fresh for its own client: no reuse detected, rotation works.
    assert!(s.is_active(rt).await);
    let next = s.token(DEMO, &refresh_form(rt)).await.tokens();
    assert!(s.is_active(str_of(&next, "refresh_token")).await);
}

async fn refresh_may_narrow_scope_but_not_widen_it(s: TestServer) {
    let first = s.password_tokens(Some("openid profile")).await;
    let rt = str_of(&first, "refresh_token");

    // Widening is refused, and the refused request does not use the token up.
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid email"),
            ],
        )
        .await;
    let err = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(err["error_description"].as_str().unwrap().contains("email"));
    assert!(s.is_active(rt).await);

    let narrowed = s
        .token(
            DEMO,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid"),
            ],
        )
        .await
        .tokens();
    assert_eq!(narrowed["scope"], "openid");
    assert_eq!(
        s.verify_jwt(str_of(&narrowed, "access_token"), ISSUER)
            .await["scope"],
        "openid"
    );
    assert!(
        narrowed["id_token"].is_string(),
        "openid kept, so a fresh ID token"
    );

    // Omitting scope on a later refresh keeps the family's original grant (RFC 6749 §6).
    let again = s
        .token(DEMO, &refresh_form(str_of(&narrowed, "refresh_token")))
        .await
        .tokens();
    assert_eq!(again["scope"], "openid profile");
}

#[tokio::test]
async fn refresh_of_a_star_grant_may_narrow_to_named_scopes() {
    // A grant of `*` (every scope) covers any named scope.
    let s = TestServer::new().await;
    let first = s.password_tokens(None).await;
    assert_eq!(first["scope"], "*");
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", str_of(&first, "refresh_token")),
                ("scope", "openid"),
            ],
        )
        .await;
    let body = res.tokens();
    assert_eq!(body["scope"], "openid");
}

async fn refresh_stops_when_the_user_is_disabled_or_deleted(s: TestServer) {
    let disabled = s.password_tokens(None).await;
    let user =
        s.db.find_user_by_name("demo", DEMO_USER)
            .await
            .unwrap()
            .unwrap();
    let user =
        s.db.update_user(&tollgate_store::model::User {
            enabled: false,
            ..user
        })
        .await
        .unwrap();

    let res = s
        .token(DEMO, &refresh_form(str_of(&disabled, "refresh_token")))
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Disabling ended the session for good: enabled again, the old refresh
    // token stays revoked, and the user signs in afresh.
    let user =
        s.db.update_user(&tollgate_store::model::User {
            enabled: true,
            ..user
        })
        .await
        .unwrap();
    s.token(DEMO, &refresh_form(str_of(&disabled, "refresh_token")))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let deleted = s.password_tokens(None).await;

    s.db.delete_user("demo", &user.id).await.unwrap();
    let res = s
        .token(DEMO, &refresh_form(str_of(&deleted, "refresh_token")))
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let s = TestServer::new().await;
    s.token(DEMO, &refresh_form("not-a-token"))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    s.token(DEMO, &[("grant_type", "refresh_token")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

// ---- Errors ---------------------------------------------------------------

#[tokio::test]
async fn missing_and_unknown_grant_type() {
    let s = TestServer::new().await;
    let err = s
        .token(DEMO, &[("scope", "x")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(err["error_description"]
        .as_str()
        .unwrap()
        .contains("grant_type"));
    s.token(DEMO, &[("grant_type", "magic")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    // Registrable but not served here: implicit is the authorization endpoint's.
    s.token(DEMO, &[("grant_type", "implicit")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
}

#[tokio::test]
async fn grant_not_registered_for_the_client_is_unauthorized_client() {
    let s = TestServer::new().await;
    let secret = s
        .create_client(
            json!({"client_id": "cc-only", "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .expect("secret");
    let auth = ClientAuth::Basic("cc-only", &secret);
    s.token(auth, &[("grant_type", "client_credentials")])
        .await
        .tokens();
    s.token(
        auth,
        &[
            ("grant_type", "password"),
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    s.token(auth, &refresh_form("whatever"))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn password_grant_without_refresh_registration_issues_no_refresh_token() {
    let s = TestServer::new().await;
    let secret = s
        .create_client(json!({"client_id": "pw-only", "authorizedGrantTypes": ["password"]}))
        .await
        .expect("secret");
    let body = s
        .token(
            ClientAuth::Basic("pw-only", &secret),
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await
        .tokens();
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client_with_challenge() {
    let s = TestServer::new().await;
    let cc = [("grant_type", "client_credentials")];
    for auth in [
        ClientAuth::Basic(DEMO_CLIENT, "wrong-secret"),
        ClientAuth::Post(DEMO_CLIENT, "wrong-secret"),
        ClientAuth::Basic("nobody", "x"),
        ClientAuth::Public(DEMO_CLIENT),
        ClientAuth::None,
    ] {
        let res = s.token(auth, &cc).await;
        res.expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(
            res.header(header::WWW_AUTHENTICATE),
            Some("Basic realm=\"tollgate\""),
            "{auth:?}"
        );
    }
    // A bad secret is not cached as good: the right one still works afterwards and a wrong one still fails.
    s.token(DEMO, &cc).await.tokens();
    s.token(ClientAuth::Basic(DEMO_CLIENT, "wrong-secret"), &cc)
        .await
        .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn malformed_basic_header_is_invalid_client() {
    let s = TestServer::new().await;
    for value in ["Basic !!!", "Bearer abc", "Basic"] {
        let req = Request::post(TOKEN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, value)
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        s.send(req)
            .await
            .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

#[tokio::test]
async fn two_client_authentication_methods_are_invalid_request() {
    let s = TestServer::new().await;
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", DEMO_SECRET),
            ],
        )
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    // A form client_id differing from the Basic one, too.
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
            ],
        )
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    // The same client_id in both places is fine.
    s.token(
        DEMO,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT),
        ],
    )
    .await
    .tokens();
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let s = TestServer::new().await;
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "a"),
                ("scope", "b"),
            ],
        )
        .await;
    let err = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(err["error_description"].as_str().unwrap().contains("scope"));
}

#[tokio::test]
async fn non_form_bodies_are_invalid_request() {
    let s = TestServer::new().await;
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let mut req =
            Request::post(TOKEN).header(header::AUTHORIZATION, basic(DEMO_CLIENT, DEMO_SECRET));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let res = s
            .send(
                req.body(Body::from(r#"{"grant_type":"client_credentials"}"#))
                    .unwrap(),
            )
            .await;
        res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Parameters on the media type are allowed.
    let req = Request::post(TOKEN)
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .header(header::AUTHORIZATION, basic(DEMO_CLIENT, DEMO_SECRET))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    s.send(req).await.tokens();
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_server_error() {
    let s = TestServer::new().await;
    let form = |pad: usize| format!("grant_type=client_credentials&pad={}", "a".repeat(pad));
    let request = |body: String, with_length: bool| {
        let mut req = Request::post(TOKEN)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic(DEMO_CLIENT, DEMO_SECRET));
        if with_length {
            req = req.header(header::CONTENT_LENGTH, body.len());
        }
        req.body(Body::from(body)).unwrap()
    };
    // Over the server-wide limit, declared: 413 before the handler runs.
    let res = s.send(request(form(100 * 1024), true)).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Over the server-wide limit, undeclared (streamed): refused as an OAuth error.
    s.send(request(form(100 * 1024), false))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    // Over the OAuth form limit but under the server's: still refused.
    let big = form(tollgate_core::oauth::form::MAX_FORM_BYTES);
    for with_length in [true, false] {
        let res = s.send(request(big.clone(), with_length)).await;
        let err = res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            err["error_description"]
                .as_str()
                .unwrap()
                .contains("larger than"),
            "{err}"
        );
    }
    // Just under the limit is served.
    let fits = form(tollgate_core::oauth::form::MAX_FORM_BYTES - 100);
    s.send(request(fits, true)).await.tokens();
}

#[tokio::test]
async fn unknown_tenant_is_invalid_grant() {
    let s = TestServer::new().await;
    let res = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "nowhere\\agent"),
                ("password", DEMO_PASSWORD),
            ],
        )
        .await;
    res.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Missing user name or password is a malformed request instead.
    s.token(
        DEMO,
        &[("grant_type", "password"), ("username", "demo\\agent")],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    s.token(DEMO, &[("grant_type", "password"), ("password", "x")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    s.token(
        DEMO,
        &[
            ("grant_type", "password"),
            ("username", "demo\\"),
            ("password", "x"),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let s = TestServer::new().await;
    let wrong = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "demo\\agent"),
                ("password", "not-it"),
            ],
        )
        .await;
    let wrong = wrong.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let unknown = s
        .token(
            DEMO,
            &[
                ("grant_type", "password"),
                ("username", "demo\\nobody"),
                ("password", "not-it"),
            ],
        )
        .await;
    let unknown = unknown.expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn public_client_cannot_use_client_credentials() {
    let s = TestServer::new().await;
    let created = s.create_client(json!({"client_id": "spa", "clientType": "PUBLIC", "authorizedGrantTypes": ["authorization_code", "refresh_token"]})).await;
    assert!(created.is_none(), "a public client gets no secret");
    s.token(
        ClientAuth::Public("spa"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // A public client presenting a secret fails authentication.
    s.token(
        ClientAuth::Post("spa", "some-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .expect_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn scope_outside_registration_is_invalid_scope() {
    let s = TestServer::new().await;
    let secret = s.create_client(json!({"client_id": "narrow", "scope": ["read"], "authorizedGrantTypes": ["client_credentials", "password"]})).await.expect("secret");
    let auth = ClientAuth::Basic("narrow", &secret);
    s.token(
        auth,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    s.token(
        auth,
        &[
            ("grant_type", "password"),
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
            ("scope", "openid"),
        ],
    )
    .await
    .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        s.token(auth, &[("grant_type", "client_credentials")])
            .await
            .tokens()["scope"],
        "read"
    );
    assert_eq!(
        s.token(
            auth,
            &[("grant_type", "client_credentials"), ("scope", "read")]
        )
        .await
        .tokens()["scope"],
        "read"
    );
}

/// A wrong method gets 405 with `Allow` and the error shape of its API: OAuth
/// form at the OAuth endpoints, the envelope elsewhere.
#[tokio::test]
async fn wrong_methods_get_405_in_the_shape_of_their_api() {
    let s = TestServer::new().await;
    for path in [TOKEN, "/auth/v3/oauth/introspect", "/auth/v3/oauth/revoke"] {
        let res = s.get(path).await;
        let body = res.expect_oauth_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert!(body["error_description"].as_str().is_some(), "{path}");
        assert_eq!(res.header(header::ALLOW), Some("POST"), "{path}");
    }
    for (method, path) in [
        (Method::DELETE, "/auth/v3/userinfo"),
        (Method::PATCH, "/environment/v3/environments"),
    ] {
        let res = s
            .send(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        res.expect(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.json()["status"]["code"], 405, "{path}");
        assert!(res.header(header::ALLOW).is_some(), "{path}");
    }
}

on_both!(
    refresh_stops_when_the_user_is_disabled_or_deleted,
    refresh_rotates_and_reuse_revokes_the_family,
    refresh_by_another_client_is_refused_without_burning_the_token,
    refresh_may_narrow_scope_but_not_widen_it,
);
