//! SAML contact centers against a test IdP whose key this test holds
//! (`saml_idp`): the signed AuthnRequest in both bindings, the ACS round
//! trip to an authorization code and tokens, IdP-initiated sign-in, and
//! every forged, replayed, stale or misdirected answer refused with an
//! `sso.refused` audit event. The real-IdP proof is in the e2e suite.

use crate::common;
use crate::saml_idp;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use common::*;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, UrlVerifier};
use saml_idp::{idp_metadata, Answer, KeyPair};
use serde_json::json;
use tollgate::web::browser::i18n::Lang;
use tollgate_core::directory::Directory;

const CCS: &str = "/environment/v3/contact-centers";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn acs() -> String {
    format!("{ISSUER}/auth/v3/sso/saml/demo/acs")
}

fn sp_entity() -> String {
    format!("{ISSUER}/auth/v3/sso/saml/demo/metadata")
}

/// The demo contact center on `auth: saml` with the test IdP.
async fn saml_contact_center(s: &TestServer, idp: &KeyPair, extra: serde_json::Value) {
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "saml"}))
        .await
        .expect(StatusCode::OK);
    // These tests post unsolicited answers; the default (off) has its own test.
    let mut body = json!({"idpMetadata": idp_metadata(saml_idp::IDP_ENTITY, &idp.cert_der),
                          "justInTimeUsers": true, "allowIdpInitiated": true});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.ops_put(&format!("{CCS}/demo/saml"), body)
        .await
        .expect(StatusCode::OK);
}

async fn sp_certificate(s: &TestServer) -> Vec<u8> {
    let config = s.db.get_saml_provider("demo").await.unwrap().unwrap();
    tollgate_core::federation::saml::keys::certificate_der(&config.sp_keys[0]).unwrap()
}

/// An SP-initiated start: the page, the browser cookie and what it sends.
struct Started {
    cookie: String,
    page: String,
    csp: String,
}

async fn start(s: &TestServer, request: Option<&str>) -> Started {
    let cc = s.state.catalog.contact_center("demo").expect("demo");
    let res = tollgate::web::browser::sso::start(&s.state, Lang::En, &cc, "alice", request).await;
    assert_eq!(res.status(), StatusCode::OK);
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    assert!(
        set_cookie.starts_with("__Host-tollgate_saml="),
        "{set_cookie}"
    );
    let csp = res
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    Started {
        cookie: set_cookie.split(';').next().unwrap().to_string(),
        page: String::from_utf8(body.to_vec()).unwrap(),
        csp,
    }
}

fn attr(html: &str, marker: &str) -> String {
    let raw = html
        .split(marker)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    unescape(raw)
}

/// Undoes askama's escaping of attribute values.
fn unescape(s: &str) -> String {
    s.replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
}

impl Started {
    fn relay_state(&self) -> String {
        attr(&self.page, r#"name="RelayState" value=""#)
    }

    /// The AuthnRequest XML of the HTTP-POST form.
    fn authn_request(&self) -> String {
        let b64 = attr(&self.page, r#"name="SAMLRequest" value=""#);
        String::from_utf8(B64.decode(b64).unwrap()).unwrap()
    }

    fn request_id(&self) -> String {
        let xml = self.authn_request();
        xml.split(" ID=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string()
    }
}

async fn post_acs(s: &TestServer, xml: &str, relay_state: &str, cookie: Option<&str>) -> Res {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &B64.encode(xml))
        .append_pair("RelayState", relay_state)
        .finish();
    let mut req = Request::post("/auth/v3/sso/saml/demo/acs")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    s.send(req.body(Body::from(body)).unwrap()).await
}

/// An answer of the test IdP for this server's SP.
fn answer(in_response_to: Option<String>, user: &str) -> Answer {
    Answer {
        destination: acs(),
        recipient: acs(),
        audience: sp_entity(),
        in_response_to,
        name_id: user.into(),
        ..Answer::default()
    }
}

fn signed(idp: &KeyPair, a: &Answer) -> String {
    a.response(&idp.sign(&a.assertion(true)), false)
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
async fn post_binding_sends_an_authn_request_signed_by_the_sp_key() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    let st = start(&s, None).await;
    assert!(
        st.page
            .contains(r#"<form id="auto-post" method="post" action="https://idp.test/sso">"#),
        "{}",
        st.page
    );
    assert!(st.csp.contains("script-src 'self'"), "{}", st.csp);
    assert!(
        st.csp.contains("form-action 'self' https://idp.test"),
        "{}",
        st.csp
    );
    let xml = st.authn_request();
    let cert = CertificateDer::from(sp_certificate(&s).await);
    Crypto::verify_signed_xml(&xml, &cert, Some("ID")).expect("signed by the SP key");
    let other = CertificateDer::from(KeyPair::generate("other").cert_der);
    assert!(Crypto::verify_signed_xml(&xml, &other, Some("ID")).is_err());
    assert!(
        xml.contains(r#"Destination="https://idp.test/sso""#),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"AssertionConsumerServiceURL="{}""#, acs())),
        "{xml}"
    );
    assert!(xml.contains(r#"ForceAuthn="false""#), "{xml}");
    // SHA-2 digest as well as signature: IdPs refuse SHA-1.
    assert!(
        xml.contains(r#"DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256""#),
        "{xml}"
    );
    assert!(!xml.contains("xmldsig#sha1"), "{xml}");
    assert!(xml.contains(&sp_entity()), "{xml}");
    assert!(st.request_id().starts_with('_'));
    // RelayState is a random key, not the request id.
    assert!(st.relay_state().len() >= 32);
    assert!(!xml.contains(&st.relay_state()));
}

#[tokio::test]
async fn redirect_binding_signs_the_query() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({"binding": "redirect"})).await;
    let st = start(&s, None).await;
    let href = attr(&st.page, r#"id="continue" href=""#);
    let url = url::Url::parse(&href).unwrap();
    assert_eq!(url.path(), "/sso-redirect");
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        q("SigAlg").as_deref(),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    );
    assert!(q("RelayState").is_some_and(|r| r.len() >= 32));
    let cert = CertificateDer::from(sp_certificate(&s).await);
    let verifier = UrlVerifier::from_x509(&cert).unwrap();
    assert!(verifier.verify_signed_request_url(&url).unwrap());
    let other = CertificateDer::from(KeyPair::generate("other").cert_der);
    let verifier = UrlVerifier::from_x509(&other).unwrap();
    assert!(!verifier.verify_signed_request_url(&url).unwrap_or(false));
}

/// The pending authorization request of the demo client, as the sign-in page carries it.
async fn pending_request(s: &TestServer) -> String {
    let res = s
        .get(&format!(
            "/auth/v3/oauth/authorize?response_type=code&client_id={DEMO_CLIENT}\
             &redirect_uri={APP_BASE}/callback&scope=openid&state=xyz"
        ))
        .await;
    res.expect(StatusCode::FOUND);
    let location = res.header(header::LOCATION).unwrap();
    location
        .split("request=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .expect("request id")
        .to_string()
}

#[tokio::test]
async fn round_trip_signs_the_user_in_and_issues_tokens_for_the_contact_center() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    let request = pending_request(&s).await;
    let st = start(&s, Some(&request)).await;
    let a = answer(Some(st.request_id()), "alice");
    let res = post_acs(&s, &signed(&idp, &a), &st.relay_state(), Some(&st.cookie)).await;
    res.expect(StatusCode::SEE_OTHER);
    let location = res.header(header::LOCATION).unwrap().to_string();
    assert!(
        location.starts_with(&format!("{APP_BASE}/callback?code=")),
        "{location}"
    );
    let cookies: Vec<&str> = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("__Host-tollgate_session=")));
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("__Host-tollgate_saml=;")));
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = s
        .token(
            DEMO,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &format!("{APP_BASE}/callback")),
            ],
        )
        .await;
    tokens.expect(StatusCode::OK);
    let access = tokens.json()["access_token"].as_str().unwrap().to_string();
    let introspected = s.introspect(DEMO, &access).await;
    let claims = introspected.json();
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["username"], "alice", "{claims}");
    assert_eq!(claims["sub"], "demo:alice", "{claims}");
    assert_eq!(claims["contact_center_id"], "demo", "{claims}");
    assert_eq!(claims["client_id"], DEMO_CLIENT, "{claims}");
    // The just-in-time user carries the assertion's email.
    let cc = s.state.catalog.contact_center("demo").unwrap();
    let user = s
        .state
        .directories
        .builtin
        .lookup(&cc, "alice")
        .await
        .unwrap()
        .expect("created just in time");
    assert_eq!(user.email, "alice@example.com");

    // The same answer again (new flight, same assertion): a replay.
    let st2 = start(&s, None).await;
    let res = post_acs(&s, &signed(&idp, &a), &st2.relay_state(), Some(&st2.cookie)).await;
    res.expect(StatusCode::FORBIDDEN);
    // The used flight again.
    let res = post_acs(&s, &signed(&idp, &a), &st.relay_state(), Some(&st.cookie)).await;
    res.expect(StatusCode::BAD_REQUEST);
    let reasons = refusals(&s).await;
    assert!(
        reasons.contains(&"in_response_to".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"unknown, expired or used state".to_string()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    // Unsolicited: no flight to consume, only the replay cache stops it.
    let a = answer(None, "alice");
    let xml = signed(&idp, &a);
    post_acs(&s, &xml, "", None)
        .await
        .expect(StatusCode::SEE_OTHER);
    post_acs(&s, &xml, "", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(refusals(&s).await, vec!["replayed".to_string()]);
}

#[tokio::test]
async fn an_answer_for_another_browser_is_refused() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    let st = start(&s, None).await;
    let a = answer(Some(st.request_id()), "alice");
    let res = post_acs(
        &s,
        &signed(&idp, &a),
        &st.relay_state(),
        Some("__Host-tollgate_saml=someone-else"),
    )
    .await;
    res.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        refusals(&s).await,
        vec!["state not started by this browser".to_string()]
    );
}

#[tokio::test]
async fn forged_stale_and_misdirected_answers_are_refused_with_their_reason() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    let intruder = KeyPair::generate("intruder");
    saml_contact_center(&s, &idp, json!({})).await;
    type Change = Box<dyn Fn(&mut Answer)>;
    type Forge<'a> = Box<dyn Fn(&Answer) -> String + 'a>;
    let idp_sign = |a: &Answer| signed(&idp, a);
    let cases: Vec<(&str, Change, Forge<'_>)> = vec![
        (
            "in_response_to",
            Box::new(|a| a.in_response_to = Some("_someone-elses".into())),
            Box::new(idp_sign),
        ),
        (
            "signature",
            Box::new(|_| {}),
            Box::new(|a: &Answer| a.response(&a.assertion(false), false)),
        ),
        (
            "signature",
            Box::new(|_| {}),
            Box::new(move |a: &Answer| a.response(&intruder.sign(&a.assertion(true)), false)),
        ),
        (
            "expired",
            Box::new(|a| {
                a.issued = chrono::Utc::now() - chrono::Duration::minutes(20);
                a.not_on_or_after = chrono::Utc::now() - chrono::Duration::minutes(10);
            }),
            Box::new(idp_sign),
        ),
        (
            "audience",
            Box::new(|a| a.audience = "https://someone-else.test/sp".into()),
            Box::new(idp_sign),
        ),
    ];
    let mut expected = vec![];
    for (reason, change, forge) in cases {
        let st = start(&s, None).await;
        let mut a = answer(Some(st.request_id()), "alice");
        change(&mut a);
        let res = post_acs(&s, &forge(&a), &st.relay_state(), Some(&st.cookie)).await;
        res.expect(StatusCode::FORBIDDEN);
        assert!(!res.headers.contains_key("location"), "{reason}");
        expected.push(reason.to_string());
    }
    let mut reasons = refusals(&s).await;
    reasons.sort();
    expected.sort();
    assert_eq!(reasons, expected);
    // Nobody was signed in.
    let cc = s.state.catalog.contact_center("demo").unwrap();
    let alice = s.state.directories.builtin.lookup(&cc, "alice").await;
    assert_eq!(alice.unwrap(), None);
}

#[tokio::test]
async fn idp_initiated_sign_in_lands_on_an_allowed_redirect_url_only() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    // The demo client's redirect URI origin is the contact center's.
    let allowed = format!("{APP_BASE}/ui/wwe/index.html");
    let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), &allowed, None).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some(allowed.as_str()));
    for refused in [
        "https://evil.test/ui/wwe/index.html",
        "http://app.tollgate.test/ui/wwe/index.html",
        "javascript:alert(1)",
    ] {
        let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), refused, None).await;
        if refused.starts_with("javascript") {
            // Not a URL: an unknown RelayState key, refused.
            res.expect(StatusCode::BAD_REQUEST);
            continue;
        }
        res.expect(StatusCode::SEE_OTHER);
        assert_eq!(
            res.header(header::LOCATION),
            Some("/ui/auth/signed-in"),
            "{refused}"
        );
    }
    // An unsolicited answer naming a request is someone else's answer.
    let res = post_acs(
        &s,
        &signed(&idp, &answer(Some("_req".into()), "alice")),
        &allowed,
        None,
    )
    .await;
    res.expect(StatusCode::FORBIDDEN);
    let reasons = refusals(&s).await;
    assert!(
        reasons.contains(&"in_response_to".to_string()),
        "{reasons:?}"
    );
}

/// Issue 14, finding 19: an unsolicited answer signed a browser in at every
/// SAML contact center. It is a per-contact-center setting now, off unless
/// turned on; answers to Tollgate's own requests are not affected.
#[tokio::test]
async fn idp_initiated_sign_in_is_off_unless_allowed() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({"allowIdpInitiated": null})).await;
    let view = s.ops_get(&format!("{CCS}/demo/saml")).await.json()["data"].clone();
    assert_eq!(view["allowIdpInitiated"], false, "off by default");
    for relay in ["", APP_BASE] {
        let res = post_acs(&s, &signed(&idp, &answer(None, DEMO_USER)), relay, None).await;
        res.expect(StatusCode::FORBIDDEN);
        assert!(res.header(header::SET_COOKIE).is_none(), "no session");
    }
    assert_eq!(
        refusals(&s).await,
        vec!["idp_initiated_not_allowed".to_string(); 2]
    );
    // A solicited answer still signs in.
    let started = start(&s, None).await;
    let a = answer(Some(started.request_id()), DEMO_USER);
    post_acs(
        &s,
        &signed(&idp, &a),
        &started.relay_state(),
        Some(&started.cookie),
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    // Turned on, the same unsolicited answer signs in.
    saml_contact_center(&s, &idp, json!({"allowIdpInitiated": true, "version": 1})).await;
    post_acs(&s, &signed(&idp, &answer(None, DEMO_USER)), "", None)
        .await
        .expect(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_access_group_and_unknown_users_are_enforced() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(
        &s,
        &idp,
        json!({"justInTimeUsers": false,
               "accessGroup": {"attribute": "groups", "value": "admins"}}),
    )
    .await;
    let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), "", None).await;
    res.expect(StatusCode::FORBIDDEN);
    assert_eq!(refusals(&s).await, vec!["access_group".to_string()]);
    saml_contact_center(
        &s,
        &idp,
        json!({"justInTimeUsers": false, "version": 1,
               "accessGroup": {"attribute": "groups", "value": "agents"}}),
    )
    .await;
    // In the group, but unknown and not created: refused by sign-in.
    let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), "", None).await;
    res.expect(StatusCode::FORBIDDEN);
    // The demo user is known.
    let res = post_acs(&s, &signed(&idp, &answer(None, DEMO_USER)), "", None).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-in"));
}

#[tokio::test]
async fn a_cors_origin_of_the_contact_center_is_an_allowed_redirect_url() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    let wwe = "https://wwe.example.net/ui/wwe/index.html";
    let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), wwe, None).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-in"));
    s.ops_post(
        "/environment/v3/cors",
        json!({"contactCenterId": "demo", "origin": "https://wwe.example.net"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let res = post_acs(&s, &signed(&idp, &answer(None, "alice")), wwe, None).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some(wwe));
}

#[tokio::test]
async fn an_assertion_encrypted_for_the_sp_key_is_decrypted_even_after_rotation() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, json!({})).await;
    let old_cert = sp_certificate(&s).await;
    // The IdP still encrypts for the previous key after a rotation.
    s.ops_post(
        "/environment/v3/contact-centers/demo/saml/rotate-key",
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    assert_ne!(sp_certificate(&s).await, old_cert);
    for (cert, user) in [(old_cert, "alice"), (sp_certificate(&s).await, "bob")] {
        let st = start(&s, None).await;
        let a = answer(Some(st.request_id()), user);
        let encrypted = saml_idp::encrypt(&a.assertion(false), &cert, saml_idp::Content::Aes128Gcm);
        let xml = idp.sign(&a.response(&encrypted, true));
        let res = post_acs(&s, &xml, &st.relay_state(), Some(&st.cookie)).await;
        res.expect(StatusCode::SEE_OTHER);
        assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-in"));
    }
    // Encrypted for a key the SP never had: refused.
    let st = start(&s, None).await;
    let a = answer(Some(st.request_id()), "carol");
    let stranger = KeyPair::generate("stranger").cert_der;
    let encrypted = saml_idp::encrypt(&a.assertion(false), &stranger, saml_idp::Content::Aes128Cbc);
    let xml = idp.sign(&a.response(&encrypted, true));
    post_acs(&s, &xml, &st.relay_state(), Some(&st.cookie))
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(refusals(&s).await, vec!["decryption".to_string()]);
}

#[tokio::test]
async fn the_acs_of_a_contact_center_without_saml_answers_404_and_bad_input_400() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    // demo is a built-in contact center.
    post_acs(&s, &signed(&idp, &answer(None, "alice")), "", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    saml_contact_center(&s, &idp, json!({})).await;
    let res = s
        .send(
            Request::post("/auth/v3/sso/saml/demo/acs")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("SAMLResponse=%%%not-base64"))
                .unwrap(),
        )
        .await;
    assert!(res.status.is_client_error(), "{}", res.status);
    post_acs(&s, "<samlp:Response", "", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let reasons = refusals(&s).await;
    assert!(
        reasons.contains(&"not a SAML contact center".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"malformed".to_string()), "{reasons:?}");
}
