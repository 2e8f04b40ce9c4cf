//! Second factors (TOTP) of built-in users through the sign-in pages: the
//! codes are computed here with the same crate from the key the enrolment
//! page shows, as an authenticator app would.

use crate::common;

use axum::http::{Method, StatusCode};
use common::browser::*;
use common::*;
use serde_json::json;
use tollgate_store::model::now;
use totp_rs::{Builder, Secret, Totp};

const CCS: &str = "/environment/v3/contact-centers";
const CB: &str = "https://app.tollgate.test/callback";
/// S256 of the verifier `authorize::redeem` sends.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const FACTOR_PAGE: &str = "/ui/auth/second-factor?factor=";

pub(crate) async fn set_policy(s: &TestServer, cc: &str, policy: &str) {
    s.ops_put(&format!("{CCS}/{cc}"), json!({"secondFactor": policy}))
        .await
        .expect(StatusCode::OK);
    s.state.sync(now()).await.expect("sync");
}

pub(crate) fn url() -> String {
    authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("acr_values", "2"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
}

/// The browser's session cookie (`__Host-` prefixed here), if any.
fn session_cookie(b: &Browser<'_>) -> Option<String> {
    b.cookies
        .iter()
        .find(|(k, _)| k.ends_with("tollgate_session"))
        .map(|(_, v)| v.clone())
}

fn has_session(b: &Browser<'_>) -> bool {
    session_cookie(b).is_some()
}

/// The password step: on to the second-factor page, whose URL is returned.
async fn password_step(b: &mut Browser<'_>) -> String {
    let before = session_cookie(b);
    let res = sign_in_through(b, &url(), "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(to.starts_with(FACTOR_PAGE), "{to}");
    assert_eq!(session_cookie(b), before, "no new session before the code");
    to
}

/// The password step, then the second-factor page's HTML.
pub(crate) async fn code_page(b: &mut Browser<'_>) -> String {
    let to = password_step(b).await;
    let page = b.get(&to).await;
    page.expect(StatusCode::OK);
    page.text()
}

/// The text of `<code id="{id}">…</code>` in a page.
pub(crate) fn code_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("<code id=\"{id}\">");
    let i = html.find(&marker)? + marker.len();
    Some(html[i..i + html[i..].find('<')?].to_string())
}

pub(crate) fn totp_of(base32: &str) -> Totp {
    let secret = Secret::try_from_base32(base32).expect("base32 key");
    Builder::new().with_secret(secret).build().expect("totp")
}

/// The code `steps` time steps from now.
fn code_at(t: &Totp, steps: i64) -> String {
    t.generate((now() + steps * 30) as u64).to_string()
}

/// A 6-digit code no step of the window accepts.
fn wrong_code(t: &Totp) -> String {
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| t.check(c, now() as u64).is_none())
        .expect("a wrong code")
}

/// The page's form: posts `code` (or `continue`) with its CSRF token.
async fn post_code(b: &mut Browser<'_>, page_html: &str, field: (&str, &str)) -> Res {
    let csrf = input(page_html, "csrf_token").expect("csrf");
    let factor = input(page_html, "factor").expect("factor id");
    b.post(
        "/auth/v3/second-factor",
        &[("csrf_token", &csrf), ("factor", &factor), field],
    )
    .await
}

/// Enrols from the page at `page_url`: the key, the recovery codes and the
/// redirect to the client once continued.
async fn enrol(b: &mut Browser<'_>, page_url: &str) -> (Totp, Vec<String>, Res) {
    let before = session_cookie(b);
    let page = b.get(page_url).await;
    page.expect(StatusCode::OK);
    let html = page.text();
    let totp = totp_of(&code_text(&html, "totp-secret").expect("key shown"));
    let uri = code_text(&html, "totp-uri").expect("otpauth URI shown");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let res = post_code(b, &html, ("code", &code_at(&totp, 0))).await;
    res.expect(StatusCode::OK);
    let codes_page = res.text();
    let recovery: Vec<String> = codes_page
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split_once('<').map(|(c, _)| c.to_string()))
        .collect();
    assert_eq!(recovery.len(), 10, "{codes_page}");
    assert_eq!(
        session_cookie(b),
        before,
        "no new session before continuing"
    );
    let done = post_code(b, &codes_page, ("continue", "true")).await;
    (totp, recovery, done)
}

/// The ID token of the code in a redirect to the client.
pub(crate) async fn id_token(s: &TestServer, res: &Res) -> serde_json::Value {
    res.expect(StatusCode::SEE_OTHER);
    let tokens = crate::authorize::redeem(s, res).await;
    s.verify_jwt(str_of(&tokens, "id_token"), DEMO_CLIENT).await
}

/// Enrols the demo agent under `required`; returns the key and recovery codes.
async fn enrolled(s: &TestServer) -> (Totp, Vec<String>) {
    set_policy(s, "demo", "required").await;
    let mut b = Browser::new(s);
    let page = password_step(&mut b).await;
    let (totp, recovery, done) = enrol(&mut b, &page).await;
    let id = id_token(s, &done).await;
    assert_eq!(
        (&id["acr"], &id["amr"]),
        (&json!("2"), &json!(["pwd", "otp"]))
    );
    (totp, recovery)
}

/// Under `required`, a user without a factor enrols before any session;
/// then each sign-in needs a code: none or a wrong one gives no session, the
/// right one does, and the ID token says `amr: ["pwd","otp"]`.
async fn required_blocks_sign_in_without_the_code(s: TestServer) {
    let (totp, _) = enrolled(&s).await;

    let mut b = Browser::new(&s);
    let page_url = password_step(&mut b).await;
    let page = b.get(&page_url).await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(
        code_text(&html, "totp-secret").is_none(),
        "no new key once enrolled"
    );
    // Straight to the client without the code: sign in again.
    let res = b.get(&url()).await;
    assert!(
        location(&res).starts_with("/ui/auth/sign-in"),
        "no session yet"
    );
    let res = post_code(&mut b, &html, ("code", &wrong_code(&totp))).await;
    res.expect(StatusCode::UNAUTHORIZED);
    assert!(!has_session(&b));
    let res = post_code(&mut b, &html, ("code", &code_at(&totp, 1))).await;
    let id = id_token(&s, &res).await;
    assert_eq!(
        (&id["acr"], &id["amr"]),
        (&json!("2"), &json!(["pwd", "otp"]))
    );
    assert!(has_session(&b));
}

/// A code is taken once: the same code in another sign-in is refused.
async fn a_used_code_is_refused(s: TestServer) {
    let (totp, _) = enrolled(&s).await;
    let code = code_at(&totp, 1);
    let mut first = Browser::new(&s);
    let page = code_page(&mut first).await;
    post_code(&mut first, &page, ("code", &code))
        .await
        .expect(StatusCode::SEE_OTHER);
    let mut replay = Browser::new(&s);
    let page = code_page(&mut replay).await;
    let res = post_code(&mut replay, &page, ("code", &code)).await;
    res.expect(StatusCode::UNAUTHORIZED);
    assert!(!has_session(&replay));
}

/// Wrong codes count in the password's lockout: at the threshold (5) the
/// code is refused as locked out, even the right one, and the password too;
/// the right password in between does not forgive them.
async fn wrong_codes_lock_out(s: TestServer) {
    let (totp, _) = enrolled(&s).await;
    let mut b = Browser::new(&s);
    for i in 0..5 {
        if i == 3 {
            // A right password in between forgives nothing.
            b = Browser::new(&s);
        }
        let page = code_page(&mut b).await;
        let res = post_code(&mut b, &page, ("code", &wrong_code(&totp))).await;
        res.expect(StatusCode::UNAUTHORIZED);
        if i == 4 {
            let res = post_code(&mut b, &page, ("code", &code_at(&totp, 1))).await;
            res.expect(StatusCode::TOO_MANY_REQUESTS);
            assert!(res.header("retry-after").is_some());
        }
    }
    let res = sign_in_through(&mut Browser::new(&s), &url(), "demo\\agent", DEMO_PASSWORD).await;
    res.expect(StatusCode::TOO_MANY_REQUESTS);
}

/// A recovery code signs in once (`amr` says otp), then never again.
async fn a_recovery_code_works_once(s: TestServer) {
    let (_, recovery) = enrolled(&s).await;
    let typed = recovery[3].to_uppercase();
    let mut b = Browser::new(&s);
    let page = code_page(&mut b).await;
    let res = post_code(&mut b, &page, ("code", &typed)).await;
    let id = id_token(&s, &res).await;
    assert_eq!(id["amr"], json!(["pwd", "otp"]));
    let mut again = Browser::new(&s);
    let page = code_page(&mut again).await;
    post_code(&mut again, &page, ("code", &recovery[3]))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

/// The password grant never goes around a factor: refused with
/// `invalid_grant` saying why, under `required` and for an enrolled user
/// under `optional`; a user without one under `optional` still gets tokens.
async fn the_password_grant_is_refused(s: TestServer) {
    let grant = [
        ("grant_type", "password"),
        ("username", "demo\\agent"),
        ("password", DEMO_PASSWORD),
    ];
    set_policy(&s, "demo", "required").await;
    let e = s
        .token(DEMO, &grant)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let why = e["error_description"].as_str().unwrap_or("");
    assert!(why.contains("second factor is required"), "{why}");
    assert!(why.contains("browser"), "{why}");
    set_policy(&s, "demo", "optional").await;
    s.token(DEMO, &grant).await.expect(StatusCode::OK);
    enrolled(&s).await;
    set_policy(&s, "demo", "optional").await;
    s.token(DEMO, &grant)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
}

/// `optional`: a user without a factor signs in with the password alone
/// (`amr: ["pwd"]`), unless the request's `acr_values` asks for level 2.
async fn optional_enrols_only_when_asked(s: TestServer) {
    set_policy(&s, "demo", "optional").await;
    let plain = authorize_url(&[
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("acr_values", "1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let mut b = Browser::new(&s);
    let res = sign_in_through(&mut b, &plain, "demo\\agent", DEMO_PASSWORD).await;
    let id = id_token(&s, &res).await;
    assert_eq!((&id["acr"], &id["amr"]), (&json!("1"), &json!(["pwd"])));
    // The same session does not answer a request for level 2: sign in again.
    let res = b.get(&url()).await;
    assert!(
        location(&res).starts_with("/ui/auth/sign-in"),
        "{}",
        location(&res)
    );
    let page = password_step(&mut b).await;
    let (_, _, done) = enrol(&mut b, &page).await;
    assert_eq!(id_token(&s, &done).await["acr"], json!("2"));
}

/// An administrator's reset removes the factor: under `required` the user
/// enrols again at the next sign-in (with a new key).
async fn an_admin_resets_the_factors(s: TestServer) {
    let (old, _) = enrolled(&s).await;
    let user =
        s.db.find_user_by_name("demo", "agent")
            .await
            .unwrap()
            .unwrap();
    s.ops_delete(&format!("{CCS}/demo/users/{}/factors", user.id))
        .await
        .expect(StatusCode::OK);
    let mut b = Browser::new(&s);
    let page = password_step(&mut b).await;
    let html = b.get(&page).await.text();
    let key = code_text(&html, "totp-secret").expect("enrols again");
    assert_ne!(totp_of(&key), old, "a new key");
}

/// A management client bound to one contact center cannot reset the
/// factors of another's users: 404, as if it did not exist, and the factor
/// stays; its own contact center's users it can.
async fn a_tenant_admin_cannot_reset_another_tenants_factors(s: TestServer) {
    enrolled(&s).await;
    let env = s.state.catalog.contact_center("demo").expect("demo");
    s.ops_post(
        CCS,
        json!({"id": "cc-1", "environmentId": env.environment_id, "domains": ["one"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let mine = s
        .ops_post(
            &format!("{CCS}/cc-1/users"),
            json!({"userName": "eve", "password": "eve-password-1"}),
        )
        .await;
    mine.expect(StatusCode::CREATED);
    let mine = mine.json()["data"]["id"].as_str().expect("id").to_string();
    let secret = s
        .create_client(json!({"client_id": "bound", "authorities": ["ROLE_MANAGEMENT_APPLICATION"], "contactCenterIds": ["cc-1"]}))
        .await
        .expect("secret");
    let t = s.token_of("bound", &secret).await;
    let victim =
        s.db.find_user_by_name("demo", "agent")
            .await
            .unwrap()
            .unwrap();
    let res = s
        .bearer_json(
            Method::DELETE,
            &format!("{CCS}/demo/users/{}/factors", victim.id),
            &t,
            None,
        )
        .await;
    res.expect(StatusCode::NOT_FOUND);
    // Nor through its own contact center's path with the other's user id.
    s.bearer_json(
        Method::DELETE,
        &format!("{CCS}/cc-1/users/{}/factors", victim.id),
        &t,
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let f = s.db.factor_by_username("demo", "agent").await.unwrap();
    assert!(f.is_some_and(|f| f.confirmed), "the factor stays");
    s.bearer_json(
        Method::DELETE,
        &format!("{CCS}/cc-1/users/{mine}/factors"),
        &t,
        None,
    )
    .await
    .expect(StatusCode::OK);
}

/// A forced password change does not skip the factor: after the new
/// password, the sign-in goes on to the second-factor page, not a session.
async fn a_password_change_does_not_skip_the_factor(s: TestServer) {
    set_policy(&s, "demo", "required").await;
    let t = now();
    s.db.create_user(&tollgate_store::model::User {
        id: uuid::Uuid::new_v4().to_string(),
        contact_center_id: "demo".into(),
        username: "temp".into(),
        password_hash: tollgate_core::secrets::hash_secret("temporary-pw-1").expect("hash"),
        dbid: 0,
        first_name: "T".into(),
        last_name: "P".into(),
        email: "temp@demo.example".into(),
        authorities: vec!["ROLE_AGENT".into()],
        properties: Default::default(),
        enabled: true,
        must_change_password: true,
        version: 1,
        created_at: t,
        updated_at: t,
    })
    .await
    .expect("create user");
    let mut b = Browser::new(&s);
    let res = sign_in_through(&mut b, &url(), "demo\\temp", "temporary-pw-1").await;
    let change = location(&res);
    assert!(
        change.starts_with("/ui/auth/change-password?change="),
        "{change}"
    );
    let html = b.get(&change).await.text();
    let res = b
        .post(
            "/auth/v3/change-password",
            &[
                ("csrf_token", &input(&html, "csrf_token").expect("csrf")),
                ("change", &input(&html, "change").expect("change id")),
                ("oldPassword", "temporary-pw-1"),
                ("newPassword", "a-new-password-2"),
                ("confirmPassword", "a-new-password-2"),
            ],
        )
        .await;
    res.expect(StatusCode::SEE_OTHER);
    assert!(
        location(&res).starts_with(FACTOR_PAGE),
        "{}",
        location(&res)
    );
    assert!(!has_session(&b), "no session before the code");
}

/// The policy is a field of the contact center: read back, and refused
/// when not one of the three.
async fn the_policy_is_a_contact_center_field(s: TestServer) {
    let cc = s.ops_get(&format!("{CCS}/demo")).await;
    assert_eq!(cc.json()["data"]["secondFactor"], "off");
    set_policy(&s, "demo", "required").await;
    let cc = s.ops_get(&format!("{CCS}/demo")).await;
    assert_eq!(cc.json()["data"]["secondFactor"], "required");
    s.ops_put(&format!("{CCS}/demo"), json!({"secondFactor": "sometimes"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
}

on_both!(
    required_blocks_sign_in_without_the_code,
    a_used_code_is_refused,
    wrong_codes_lock_out,
    a_recovery_code_works_once,
    the_password_grant_is_refused,
    optional_enrols_only_when_asked,
    an_admin_resets_the_factors,
    a_tenant_admin_cannot_reset_another_tenants_factors,
    the_policy_is_a_contact_center_field,
    a_password_change_does_not_skip_the_factor,
);
