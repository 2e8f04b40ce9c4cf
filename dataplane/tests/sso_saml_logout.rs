//! SAML single logout against the test IdP (`saml_idp`): an IdP's signed
//! LogoutRequest, in the HTTP-Redirect and the HTTP-POST binding, ends the
//! Tollgate browser sessions it names and is answered by a LogoutResponse
//! signed with the SP key; unsigned, wrongly signed, misaddressed or stale
//! requests are refused with an `sso.refused` audit event and end nothing.

use crate::common;
use crate::saml_idp;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use base64::Engine as _;
use common::*;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, UrlVerifier};
use saml_idp::{
    idp_metadata_with_slo, inflate, redirect_query, Answer, KeyPair, Logout, IDP_SLO_POST,
    IDP_SLO_REDIRECT, POST_BINDING, REDIRECT_BINDING,
};
use serde_json::json;

const CCS: &str = "/environment/v3/contact-centers";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const SLO_PATH: &str = "/auth/v3/sso/saml/demo/slo";

fn slo() -> String {
    format!("{ISSUER}{SLO_PATH}")
}

fn acs() -> String {
    format!("{ISSUER}/auth/v3/sso/saml/demo/acs")
}

/// The demo contact center on `auth: saml` with the test IdP, whose
/// metadata offers single logout in `slo_bindings`.
async fn saml_contact_center(s: &TestServer, idp: &KeyPair, slo_bindings: &[&str]) {
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "saml"}))
        .await
        .expect(StatusCode::OK);
    let metadata = idp_metadata_with_slo(saml_idp::IDP_ENTITY, &idp.cert_der, slo_bindings);
    s.ops_put(
        &format!("{CCS}/demo/saml"),
        json!({"idpMetadata": metadata, "justInTimeUsers": true, "allowIdpInitiated": true}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn sp_certificate(s: &TestServer) -> CertificateDer {
    let config = s.db.get_saml_provider("demo").await.unwrap().unwrap();
    CertificateDer::from(
        tollgate_core::federation::saml::keys::certificate_der(&config.sp_keys[0]).unwrap(),
    )
}

/// An IdP-initiated sign-in of `user`: the session cookie and its SessionIndex.
async fn sign_in(s: &TestServer, idp: &KeyPair, user: &str) -> (String, String) {
    let a = Answer {
        destination: acs(),
        recipient: acs(),
        audience: format!("{ISSUER}/auth/v3/sso/saml/demo/metadata"),
        in_response_to: None,
        name_id: user.into(),
        ..Answer::default()
    };
    let xml = a.response(&idp.sign(&a.assertion(true)), false);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &B64.encode(xml))
        .finish();
    let res = s
        .send(
            Request::post("/auth/v3/sso/saml/demo/acs")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    res.expect(StatusCode::SEE_OTHER);
    let cookie = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-tollgate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    (cookie, format!("s-{}", a.assertion_id))
}

async fn alive(s: &TestServer, cookie: &str) -> bool {
    let mut h = HeaderMap::new();
    h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
    tollgate_core::sessions::current(&s.state, &h, tollgate_store::model::now())
        .await
        .unwrap()
        .is_some()
}

async fn slo_get(s: &TestServer, query: &str) -> Res {
    s.get(&format!("{SLO_PATH}?{query}")).await
}

async fn slo_post(s: &TestServer, xml: &str, relay_state: &str) -> Res {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &B64.encode(xml))
        .append_pair("RelayState", relay_state)
        .finish();
    s.send(
        Request::post(SLO_PATH)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

async fn audit(s: &TestServer, kind: &str) -> Vec<serde_json::Value> {
    // The audit trail is written in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.db.list_audit_events(Some(kind), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

fn clears_session_cookie(res: &Res) -> bool {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("__Host-tollgate_session=;") && c.contains("Max-Age=0"))
}

#[tokio::test]
async fn sp_metadata_lists_single_logout_in_both_bindings() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[]).await;
    let res = s.get("/auth/v3/sso/saml/demo/metadata").await;
    res.expect(StatusCode::OK);
    let xml = res.text();
    for binding in [REDIRECT_BINDING, POST_BINDING] {
        let service = format!(
            r#"SingleLogoutService Binding="{binding}" Location="{}""#,
            slo()
        );
        assert!(xml.contains(&service), "{service} in {xml}");
    }
}

#[tokio::test]
async fn redirect_binding_ends_every_session_of_the_name_id_and_answers_signed() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[REDIRECT_BINDING, POST_BINDING]).await;
    let (alice1, _) = sign_in(&s, &idp, "alice").await;
    let (alice2, _) = sign_in(&s, &idp, "alice").await;
    let (bob, _) = sign_in(&s, &idp, "bob").await;
    assert!(alive(&s, &alice1).await && alive(&s, &alice2).await);

    let request = Logout::new(&slo(), "alice");
    let query = redirect_query(
        "SAMLRequest",
        &request.request(false),
        Some("idp relay/1"),
        Some(&idp.key),
    );
    let res = slo_get(&s, &query).await;
    res.expect(StatusCode::SEE_OTHER);
    assert!(clears_session_cookie(&res));
    assert!(!alive(&s, &alice1).await, "alice's first session ended");
    assert!(!alive(&s, &alice2).await, "alice's second session ended");
    assert!(alive(&s, &bob).await, "bob's session is not alice's");

    // The LogoutResponse goes to the IdP's HTTP-Redirect SLO service,
    // signed by the SP key (and by no other).
    let location = url::Url::parse(res.header(header::LOCATION).unwrap()).unwrap();
    assert!(
        location.as_str().starts_with(IDP_SLO_REDIRECT),
        "{location}"
    );
    let sp = UrlVerifier::from_x509(&sp_certificate(&s).await).unwrap();
    assert!(sp.verify_signed_response_url(&location).unwrap());
    let other = UrlVerifier::from_x509(&CertificateDer::from(idp.cert_der.clone())).unwrap();
    assert!(!other.verify_signed_response_url(&location).unwrap_or(false));
    let q = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("RelayState").as_deref(), Some("idp relay/1"));
    let xml = inflate(&q("SAMLResponse").unwrap());
    assert!(xml.contains("LogoutResponse"), "{xml}");
    assert!(
        xml.contains(&format!(r#"InResponseTo="{}""#, request.id)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"Destination="{IDP_SLO_REDIRECT}""#)),
        "{xml}"
    );
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("{ISSUER}/auth/v3/sso/saml/demo/metadata")),
        "{xml}"
    );
    let logouts = audit(&s, "sso.logout").await;
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0]["sessions"], 2);
    assert_eq!(logouts[0]["initiator"], "idp");
}

#[tokio::test]
async fn post_binding_ends_the_named_session_index_only_and_answers_by_post() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[POST_BINDING]).await;
    let (first, index) = sign_in(&s, &idp, "alice").await;
    let (second, _) = sign_in(&s, &idp, "alice").await;

    let mut request = Logout::new(&slo(), "alice");
    request.session_index = Some(index);
    let res = slo_post(&s, &idp.sign(&request.request(true)), "rs-post").await;
    res.expect(StatusCode::OK);
    assert!(!alive(&s, &first).await, "the named session ended");
    assert!(alive(&s, &second).await, "another SessionIndex is kept");

    // An auto-posting form to the IdP's HTTP-POST SLO service.
    let page = res.text();
    assert!(
        page.contains(&format!(
            r#"<form id="auto-post" method="post" action="{IDP_SLO_POST}">"#
        )),
        "{page}"
    );
    let csp = res.header(header::CONTENT_SECURITY_POLICY).unwrap();
    assert!(csp.contains("form-action 'self' https://idp.test"), "{csp}");
    let value = page
        .split(r#"name="SAMLResponse" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("SAMLResponse field")
        .replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=");
    let xml = String::from_utf8(B64.decode(value).unwrap()).unwrap();
    Crypto::verify_signed_xml(&xml, &sp_certificate(&s).await, Some("ID"))
        .expect("signed by the SP key");
    assert!(Crypto::verify_signed_xml(
        &xml,
        &CertificateDer::from(idp.cert_der.clone()),
        Some("ID")
    )
    .is_err());
    assert!(
        xml.contains(&format!(r#"InResponseTo="{}""#, request.id)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"Destination="{IDP_SLO_POST}""#)),
        "{xml}"
    );
    assert!(
        page.contains(r#"name="RelayState" value="rs-post""#),
        "{page}"
    );
}

#[tokio::test]
async fn without_an_idp_slo_service_the_browser_lands_on_the_signed_out_page() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[]).await;
    let (alice, _) = sign_in(&s, &idp, "alice").await;
    let request = Logout::new(&slo(), "alice");
    let res = slo_post(&s, &idp.sign(&request.request(true)), "").await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-out"));
    assert!(!alive(&s, &alice).await);
}

#[tokio::test]
async fn unsigned_forged_misaddressed_and_stale_requests_end_nothing() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    let other = KeyPair::generate("other");
    saml_contact_center(&s, &idp, &[REDIRECT_BINDING]).await;
    let (alice, _) = sign_in(&s, &idp, "alice").await;
    let good = Logout::new(&slo(), "alice");
    let with = |f: &dyn Fn(&mut Logout)| {
        let mut l = good.clone();
        f(&mut l);
        l
    };

    let mut cases: Vec<(&str, Res)> = Vec::new();
    // HTTP-Redirect binding.
    let xml = good.request(false);
    cases.push((
        "signature",
        slo_get(&s, &redirect_query("SAMLRequest", &xml, None, None)).await,
    ));
    cases.push((
        "signature",
        slo_get(
            &s,
            &redirect_query("SAMLRequest", &xml, None, Some(&other.key)),
        )
        .await,
    ));
    // The signed RelayState changed after signing.
    let tampered = redirect_query("SAMLRequest", &xml, Some("a"), Some(&idp.key))
        .replace("RelayState=a", "RelayState=b");
    cases.push(("signature", slo_get(&s, &tampered).await));
    let wrong_issuer = with(&|l| l.issuer = "https://evil.test/idp".into()).request(false);
    cases.push((
        "issuer",
        slo_get(
            &s,
            &redirect_query("SAMLRequest", &wrong_issuer, None, Some(&idp.key)),
        )
        .await,
    ));
    // HTTP-POST binding.
    cases.push(("signature", slo_post(&s, &good.request(false), "").await));
    cases.push((
        "signature",
        slo_post(&s, &other.sign(&good.request(true)), "").await,
    ));
    let misaddressed = with(&|l| l.destination = format!("{ISSUER}/auth/v3/sso/saml/other/slo"));
    cases.push((
        "destination",
        slo_post(&s, &idp.sign(&misaddressed.request(true)), "").await,
    ));
    let stale = with(&|l| l.issued = chrono::Utc::now() - chrono::Duration::minutes(30));
    cases.push((
        "expired",
        slo_post(&s, &idp.sign(&stale.request(true)), "").await,
    ));
    let wrong_issuer = with(&|l| l.issuer = "https://evil.test/idp".into());
    cases.push((
        "issuer",
        slo_post(&s, &idp.sign(&wrong_issuer.request(true)), "").await,
    ));

    for (reason, res) in &cases {
        assert!(
            res.status.is_client_error(),
            "{reason}: {} {}",
            res.status,
            res.text()
        );
    }
    assert!(
        alive(&s, &alice).await,
        "no refused request ended the session"
    );
    let refusals: Vec<String> = audit(&s, "sso.refused")
        .await
        .iter()
        .map(|d| d["reason"].as_str().unwrap_or("").to_string())
        .collect();
    for (reason, _) in &cases {
        assert!(
            refusals.contains(&reason.to_string()),
            "{reason} in {refusals:?}"
        );
    }
    assert_eq!(refusals.len(), cases.len(), "{refusals:?}");
    assert!(audit(&s, "sso.logout").await.is_empty());
}

/// The browser signs out at `/auth/v3/end-session` with its session cookie,
/// confirming on the page (no `id_token_hint`).
async fn end_session(s: &TestServer, cookie: &str) -> Res {
    let page = s
        .send(
            Request::get("/auth/v3/end-session")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    page.expect(StatusCode::OK);
    let csrf = common::browser::input(&page.text(), "csrf_token").expect("confirmation form");
    let csrf_cookie = set_cookie(&page, "__Host-tollgate_csrf").expect("csrf cookie");
    s.send(
        Request::post("/auth/v3/sign-out/confirm")
            .header(header::COOKIE, format!("{cookie}; {csrf_cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(encode_form(&[("csrf_token", &csrf)])))
            .unwrap(),
    )
    .await
}

fn set_cookie(res: &Res, name: &str) -> Option<String> {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

fn xml_attr(xml: &str, name: &str) -> String {
    xml.split(&format!(r#" {name}=""#))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("{name} in {xml}"))
        .to_string()
}

async fn slo_get_with(s: &TestServer, query: &str, cookie: Option<&str>) -> Res {
    let mut req = Request::get(format!("{SLO_PATH}?{query}"));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    s.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn sp_initiated_logout_redirect_binding_round_trip() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[REDIRECT_BINDING, POST_BINDING]).await;
    let (alice, index) = sign_in(&s, &idp, "alice").await;

    let res = end_session(&s, &alice).await;
    res.expect(StatusCode::SEE_OTHER);
    assert!(!alive(&s, &alice).await, "the Tollgate session ends first");
    assert!(clears_session_cookie(&res));
    let flight = set_cookie(&res, "__Host-tollgate_saml_logout").expect("logout flight cookie");
    let location = url::Url::parse(res.header(header::LOCATION).unwrap()).unwrap();
    assert!(
        location.as_str().starts_with(IDP_SLO_REDIRECT),
        "{location}"
    );
    let sp = UrlVerifier::from_x509(&sp_certificate(&s).await).unwrap();
    assert!(sp.verify_signed_request_url(&location).unwrap());
    let q = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let relay_state = q("RelayState").expect("RelayState");
    let xml = inflate(&q("SAMLRequest").unwrap());
    assert!(xml.contains(">alice</saml:NameID>"), "{xml}");
    assert!(
        xml.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")),
        "{xml}"
    );
    assert_eq!(xml_attr(&xml, "Destination"), IDP_SLO_REDIRECT);
    assert!(
        xml.contains(&format!("{ISSUER}/auth/v3/sso/saml/demo/metadata")),
        "{xml}"
    );
    let request_id = xml_attr(&xml, "ID");

    // A response to another request is refused and uses the flight up:
    // the right answer after it finds no flight.
    let wrong = saml_idp::logout_response("_lr1", "_other", &slo(), false);
    let res = slo_get_with(
        &s,
        &redirect_query("SAMLResponse", &wrong, Some(&relay_state), Some(&idp.key)),
        Some(&flight),
    )
    .await;
    res.expect(StatusCode::FORBIDDEN);
    let right = saml_idp::logout_response("_lr2", &request_id, &slo(), false);
    let query = redirect_query("SAMLResponse", &right, Some(&relay_state), Some(&idp.key));
    slo_get_with(&s, &query, Some(&flight))
        .await
        .expect(StatusCode::BAD_REQUEST);
    let reasons: Vec<String> = audit(&s, "sso.refused")
        .await
        .iter()
        .map(|d| d["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        reasons.contains(&"in_response_to".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"unknown, expired or used state".to_string()),
        "{reasons:?}"
    );

    // A second sign-out round trip, answered right.
    let (alice, _) = sign_in(&s, &idp, "alice").await;
    let res = end_session(&s, &alice).await;
    let flight = set_cookie(&res, "__Host-tollgate_saml_logout").unwrap();
    let location = url::Url::parse(res.header(header::LOCATION).unwrap()).unwrap();
    let relay_state = location
        .query_pairs()
        .find(|(n, _)| n == "RelayState")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let sent = location
        .query_pairs()
        .find(|(n, _)| n == "SAMLRequest")
        .map(|(_, v)| inflate(&v))
        .unwrap();
    let answer = saml_idp::logout_response("_lr3", &xml_attr(&sent, "ID"), &slo(), false);
    // Unsigned: refused before the flight is looked at, so it stays usable.
    let unsigned = redirect_query("SAMLResponse", &answer, Some(&relay_state), None);
    slo_get_with(&s, &unsigned, Some(&flight))
        .await
        .expect(StatusCode::FORBIDDEN);
    let signed = redirect_query("SAMLResponse", &answer, Some(&relay_state), Some(&idp.key));
    let res = slo_get_with(&s, &signed, Some(&flight)).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-out"));
    assert!(set_cookie(&res, "__Host-tollgate_saml_logout").is_some_and(|c| c.ends_with('=')));
    let logouts = audit(&s, "sso.logout").await;
    assert!(
        logouts
            .iter()
            .any(|d| d["initiator"] == "sp" && d["success"] == true),
        "{logouts:?}"
    );
}

#[tokio::test]
async fn sp_initiated_logout_post_binding_round_trip() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[POST_BINDING]).await;
    let (alice, index) = sign_in(&s, &idp, "alice").await;
    let res = end_session(&s, &alice).await;
    res.expect(StatusCode::OK);
    assert!(!alive(&s, &alice).await);
    let flight = set_cookie(&res, "__Host-tollgate_saml_logout").expect("logout flight cookie");
    let page = res.text();
    assert!(
        page.contains(&format!(
            r#"<form id="auto-post" method="post" action="{IDP_SLO_POST}">"#
        )),
        "{page}"
    );
    let field = |name: &str| {
        page.split(&format!(r#"name="{name}" value=""#))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("{name} in {page}"))
            .replace("&#43;", "+")
            .replace("&#47;", "/")
            .replace("&#61;", "=")
    };
    let xml = String::from_utf8(B64.decode(field("SAMLRequest")).unwrap()).unwrap();
    Crypto::verify_signed_xml(&xml, &sp_certificate(&s).await, Some("ID"))
        .expect("signed by the SP key");
    assert!(
        xml.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")),
        "{xml}"
    );
    let answer = saml_idp::logout_response("_lr4", &xml_attr(&xml, "ID"), &slo(), true);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLResponse", &B64.encode(idp.sign(&answer)))
        .append_pair("RelayState", &field("RelayState"))
        .finish();
    let res = s
        .send(
            Request::post(SLO_PATH)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, &flight)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-out"));
}

#[tokio::test]
async fn without_an_idp_slo_service_sign_out_stays_local() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[]).await;
    let (alice, _) = sign_in(&s, &idp, "alice").await;
    let res = end_session(&s, &alice).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some("/ui/auth/signed-out"));
    assert!(set_cookie(&res, "__Host-tollgate_saml_logout").is_none());
    assert!(!alive(&s, &alice).await);
}

#[tokio::test]
async fn the_original_sign_out_api_tells_the_idp_and_continues_to_the_redirect_uri() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp, &[REDIRECT_BINDING]).await;
    let (alice, _) = sign_in(&s, &idp, "alice").await;
    let back = format!("{APP_BASE}/callback");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("redirectUri", &back)
        .append_pair("client_id", DEMO_CLIENT)
        .finish();
    let res = s
        .send(
            Request::get(format!("/auth/v3/sign-out?{query}"))
                .header(header::COOKIE, &alice)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    res.expect(StatusCode::SEE_OTHER);
    assert!(!alive(&s, &alice).await);
    assert!(clears_session_cookie(&res));
    let flight = set_cookie(&res, "__Host-tollgate_saml_logout").expect("logout flight cookie");
    let location = url::Url::parse(res.header(header::LOCATION).unwrap()).unwrap();
    assert!(
        location.as_str().starts_with(IDP_SLO_REDIRECT),
        "{location}"
    );
    let q = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let sent = inflate(&q("SAMLRequest"));
    let answer = saml_idp::logout_response("_lr5", &xml_attr(&sent, "ID"), &slo(), false);
    let query = redirect_query(
        "SAMLResponse",
        &answer,
        Some(&q("RelayState")),
        Some(&idp.key),
    );
    let res = slo_get_with(&s, &query, Some(&flight)).await;
    res.expect(StatusCode::SEE_OTHER);
    assert_eq!(res.header(header::LOCATION), Some(back.as_str()));
}
