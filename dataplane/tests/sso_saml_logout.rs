//! SAML single logout against the test IdP (`saml_idp`): an IdP's signed
//! LogoutRequest, in the HTTP-Redirect and the HTTP-POST binding, ends the
//! Tollgate browser sessions it names and is answered by a LogoutResponse
//! signed with the SP key; unsigned, wrongly signed, misaddressed or stale
//! requests are refused with an `sso.refused` audit event and end nothing.

mod common;
mod saml_idp;

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
        json!({"idpMetadata": metadata, "justInTimeUsers": true}),
    )
    .await
    .expect(StatusCode::OK);
}

async fn sp_certificate(s: &TestServer) -> CertificateDer {
    let config = s.db.get_saml_provider("demo").await.unwrap().unwrap();
    CertificateDer::from(tollgate::sso::saml::keys::certificate_der(&config.sp_keys[0]).unwrap())
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
        .find(|c| c.starts_with("tollgate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    (cookie, format!("s-{}", a.assertion_id))
}

async fn alive(s: &TestServer, cookie: &str) -> bool {
    let mut h = HeaderMap::new();
    h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
    tollgate::sessions::current(&s.state, &h, tollgate_store::model::now())
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
        .any(|c| c.starts_with("tollgate_session=;") && c.contains("Max-Age=0"))
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
