//! WebAuthn passkeys as second factors of built-in users, through the
//! second-factor page: a software passkey (webauthn-authenticator-rs) reads
//! the options the page carries and answers as a browser would, for the
//! relying party of the test issuer (`auth.tollgate.test`).

use crate::common;

use crate::second_factor::{code_page, code_text, id_token, set_policy, totp_of};
use axum::http::StatusCode;
use common::browser::*;
use common::*;
use serde_json::json;
use tollgate_store::model::now;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const CCS: &str = "/environment/v3/contact-centers";

type Authenticator = WebauthnAuthenticator<SoftPasskey>;

fn authenticator() -> Authenticator {
    // `true`: the soft passkey says the user was verified (passkeys ask for it).
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

fn origin() -> Url {
    Url::parse(ISSUER).expect("issuer URL")
}

/// The value of attribute `name` of the passkey form, unescaped.
fn form_attribute(html: &str, name: &str) -> Option<String> {
    let form = &html[html.find("<form id=\"passkey-form\"")?..];
    let marker = format!(" {name}=\"");
    let i = form.find(&marker)? + marker.len();
    let raw = &form[i..i + form[i..].find('"')?];
    Some(
        raw.replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

fn ceremony(html: &str) -> Option<String> {
    form_attribute(html, "data-ceremony")
}

fn options(html: &str) -> String {
    form_attribute(html, "data-options").expect("passkey options on the page")
}

async fn post_passkey(b: &mut Browser<'_>, html: &str, credential: &str) -> Res {
    let csrf = input(html, "csrf_token").expect("csrf");
    let factor = input(html, "factor").expect("factor id");
    b.post(
        "/auth/v3/second-factor",
        &[
            ("csrf_token", &csrf),
            ("factor", &factor),
            ("passkey", credential),
        ],
    )
    .await
}

/// Registers `key` from an enrolment page; the response of the post.
async fn register(b: &mut Browser<'_>, html: &str, key: &mut Authenticator) -> Res {
    assert_eq!(ceremony(html).as_deref(), Some("create"), "{html}");
    let ccr: CreationChallengeResponse = serde_json::from_str(&options(html)).expect("options");
    assert_eq!(ccr.public_key.rp.id, "auth.tollgate.test");
    let credential = key.do_registration(origin(), ccr).expect("registration");
    let body = serde_json::to_string(&credential).expect("json");
    post_passkey(b, html, &body).await
}

/// The soft passkey's answer to a sign-in page's challenge, as JSON.
fn assertion(html: &str, key: &mut Authenticator) -> String {
    assert_eq!(ceremony(html).as_deref(), Some("get"), "{html}");
    let rcr: RequestChallengeResponse = serde_json::from_str(&options(html)).expect("options");
    let credential = key.do_authentication(origin(), rcr).expect("assertion");
    serde_json::to_string(&credential).expect("json")
}

/// The demo agent, required to give a factor, enrols a passkey: the
/// session starts at once with `amr: ["pwd","hwk"]`.
async fn enrolled(s: &TestServer) -> Authenticator {
    set_policy(s, "demo", "required").await;
    let mut key = authenticator();
    let mut b = Browser::new(s);
    let html = code_page(&mut b).await;
    assert!(html.contains("id=\"totp-secret\""), "TOTP offered too");
    assert!(html.contains("/ui/auth/static/passkey.js"), "{html}");
    let res = register(&mut b, &html, &mut key).await;
    let id = id_token(s, &res).await;
    assert_eq!(
        (&id["acr"], &id["amr"]),
        (&json!("2"), &json!(["pwd", "hwk"]))
    );
    key
}

async fn demo_user_id(s: &TestServer) -> String {
    s.db.find_user_by_name("demo", "agent")
        .await
        .expect("store")
        .expect("demo agent")
        .id
}

/// Enrolled, the user signs in with the passkey instead of a code; the
/// store records the use, in the user's contact center only.
async fn a_passkey_replaces_the_code(s: TestServer) {
    let mut key = enrolled(&s).await;
    let user = demo_user_id(&s).await;
    let stored = s.db.passkeys("demo", &user).await.expect("store");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].last_used_at.is_none());

    let mut b = Browser::new(&s);
    let html = code_page(&mut b).await;
    assert!(
        !html.contains("id=\"totp-secret\""),
        "no enrolment once a passkey is there"
    );
    let res = post_passkey(&mut b, &html, &assertion(&html, &mut key)).await;
    let id = id_token(&s, &res).await;
    assert_eq!(
        (&id["acr"], &id["amr"]),
        (&json!("2"), &json!(["pwd", "hwk"]))
    );
    let used = s.db.passkeys("demo", &user).await.expect("store");
    assert!(used[0].last_used_at.is_some());
    assert!(used[0].counter > stored[0].counter, "counter taken");
    // Tenant isolation: the same user id under another contact center has none.
    assert!(s
        .db
        .passkeys("other", &user)
        .await
        .expect("store")
        .is_empty());
}

/// An assertion is taken once, and only for its own challenge: one given
/// to another sign-in, or to the same sign-in once its challenge was used,
/// is refused; refusals (and garbage) count in the lockout like wrong
/// codes (threshold 5: then even the right passkey waits).
async fn refused_assertions_lock_out(s: TestServer) {
    let mut key = enrolled(&s).await;
    let mut b = Browser::new(&s);
    let html = code_page(&mut b).await;
    let answer = assertion(&html, &mut key);
    let mut other = Browser::new(&s);
    let other_html = code_page(&mut other).await;
    post_passkey(&mut other, &other_html, &answer)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let res = post_passkey(&mut b, &html, "{\"id\":\"x\"}").await;
    res.expect(StatusCode::UNAUTHORIZED);
    let mut html = res.text();
    assert!(html.contains("id=\"passkey-error\""), "{html}");
    // The refused garbage took the challenge the answer was for.
    for _ in 0..3 {
        let res = post_passkey(&mut b, &html, &answer).await;
        res.expect(StatusCode::UNAUTHORIZED);
        assert!(!b
            .cookies
            .iter()
            .any(|(k, _)| k.ends_with("tollgate_session")));
        html = res.text();
    }
    let right = assertion(&html, &mut key);
    let res = post_passkey(&mut b, &html, &right).await;
    res.expect(StatusCode::TOO_MANY_REQUESTS);
    assert!(res.header("retry-after").is_some());
}

/// A user may have both: after the first TOTP code the page with the
/// recovery codes offers a passkey too; then either signs in.
async fn a_user_may_have_both(s: TestServer) {
    set_policy(&s, "demo", "required").await;
    let mut b = Browser::new(&s);
    let html = code_page(&mut b).await;
    let totp = totp_of(&code_text(&html, "totp-secret").expect("key shown"));
    let csrf = input(&html, "csrf_token").expect("csrf");
    let factor = input(&html, "factor").expect("factor id");
    let code = totp.generate(now() as u64).to_string();
    let res = b
        .post(
            "/auth/v3/second-factor",
            &[("csrf_token", &csrf), ("factor", &factor), ("code", &code)],
        )
        .await;
    res.expect(StatusCode::OK);
    let codes_page = res.text();
    assert!(codes_page.contains("id=\"recovery-codes\""), "{codes_page}");
    let mut key = authenticator();
    let res = register(&mut b, &codes_page, &mut key).await;
    let id = id_token(&s, &res).await;
    // The code was this sign-in's factor.
    assert_eq!(id["amr"], json!(["pwd", "otp"]));

    let mut b = Browser::new(&s);
    let html = code_page(&mut b).await;
    assert!(html.contains("id=\"code\""), "the code field stays");
    let res = post_passkey(&mut b, &html, &assertion(&html, &mut key)).await;
    assert_eq!(id_token(&s, &res).await["amr"], json!(["pwd", "hwk"]));
}

/// An administrator's factor reset removes the passkeys too: the user
/// enrols again at the next sign-in.
async fn an_admin_reset_removes_passkeys(s: TestServer) {
    let _key = enrolled(&s).await;
    let user = demo_user_id(&s).await;
    s.ops_delete(&format!("{CCS}/demo/users/{user}/factors"))
        .await
        .expect(StatusCode::OK);
    assert!(s
        .db
        .passkeys("demo", &user)
        .await
        .expect("store")
        .is_empty());
    let mut b = Browser::new(&s);
    let html = code_page(&mut b).await;
    assert_eq!(ceremony(&html).as_deref(), Some("create"), "enrols again");
}

on_both!(
    a_passkey_replaces_the_code,
    refused_assertions_lock_out,
    an_admin_reset_removes_passkeys,
    a_user_may_have_both,
);
