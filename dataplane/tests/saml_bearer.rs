//! The SAML 2.0 bearer assertion grant (RFC 7522): an assertion signed by a
//! SAML contact center's IdP (the test IdP, whose keys this test holds)
//! gets tokens for that contact center's user, once; forged, stale,
//! misdirected or wrapped assertions are refused with `invalid_grant` and
//! an `assertion.refused` audit event.

use crate::common;
use crate::saml_idp;

use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{Duration, Utc};
use common::*;
use saml_idp::{idp_metadata, Answer, KeyPair};
use serde_json::json;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
const CCS: &str = "/environment/v3/contact-centers";

fn sp_entity() -> String {
    format!("{ISSUER}/auth/v3/sso/saml/demo/metadata")
}

fn token_endpoint() -> String {
    format!("{ISSUER}{TOKEN}")
}

/// The demo contact center on `auth: saml` with the test IdP, creating
/// unknown users just in time.
async fn saml_contact_center(s: &TestServer, idp: &KeyPair) {
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "saml"}))
        .await
        .expect(StatusCode::OK);
    s.ops_put(
        &format!("{CCS}/demo/saml"),
        json!({"idpMetadata": idp_metadata(saml_idp::IDP_ENTITY, &idp.cert_der),
               "justInTimeUsers": true}),
    )
    .await
    .expect(StatusCode::OK);
}

/// An assertion for the grant: to the token endpoint, for this SP, unsolicited.
fn answer(user: &str) -> Answer {
    Answer {
        recipient: token_endpoint(),
        audience: sp_entity(),
        in_response_to: None,
        name_id: user.into(),
        ..Answer::default()
    }
}

fn signed(idp: &KeyPair, a: &Answer) -> String {
    idp.sign(&a.assertion(true))
}

async fn present(s: &TestServer, auth: ClientAuth<'_>, xml: &str) -> Res {
    let assertion = URL_SAFE_NO_PAD.encode(xml);
    s.token(auth, &[("grant_type", GRANT), ("assertion", &assertion)])
        .await
}

/// Refused with `invalid_grant`; the description.
async fn refused(s: &TestServer, xml: &str) -> String {
    let e = present(s, DEMO, xml)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    e["error_description"].as_str().unwrap_or("").to_string()
}

async fn refusal_reasons(s: &TestServer) -> Vec<String> {
    // The audit trail is written in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.db.list_audit_events(Some("assertion.refused"), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_signed_assertion_gets_tokens_for_its_user_once() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp).await;
    let xml = signed(&idp, &answer("alice"));
    let body = present(&s, DEMO, &xml).await.tokens();
    assert!(body.get("refresh_token").is_none(), "{body}");
    let at = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(at["sub"], "demo:alice", "{at}");
    assert_eq!(at["contact_center_id"], "demo", "{at}");
    assert_eq!(at["user_name"], "alice", "{at}");
    assert_eq!(at["client_id"], DEMO_CLIENT, "{at}");

    // The same assertion again: its id is spent.
    let d = refused(&s, &xml).await;
    assert!(d.contains("used before"), "{d}");
    assert_eq!(refusal_reasons(&s).await, ["replayed"]);
}

#[tokio::test]
async fn padded_standard_base64_is_accepted_too() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp).await;
    let assertion = STANDARD.encode(signed(&idp, &answer("bob")));
    let body = s
        .token(DEMO, &[("grant_type", GRANT), ("assertion", &assertion)])
        .await
        .tokens();
    let at = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(at["user_name"], "bob", "{at}");
}

#[tokio::test]
async fn forged_stale_and_misdirected_assertions_are_refused() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    let other = KeyPair::generate("other");
    saml_contact_center(&s, &idp).await;

    let unsigned = answer("alice").assertion(false);
    assert!(refused(&s, &unsigned).await.contains("signature"));
    let by_other = signed(&other, &answer("alice"));
    assert!(refused(&s, &by_other).await.contains("signature"));
    let expired = Answer {
        issued: Utc::now() - Duration::minutes(20),
        not_on_or_after: Utc::now() - Duration::minutes(10),
        ..answer("alice")
    };
    assert!(refused(&s, &signed(&idp, &expired))
        .await
        .contains("expired"));
    let audience = Answer {
        audience: "https://elsewhere.test/sp".into(),
        ..answer("alice")
    };
    assert!(refused(&s, &signed(&idp, &audience))
        .await
        .contains("audience"));
    // An assertion for the ACS is a sign-in's, not a grant's.
    let recipient = Answer {
        recipient: format!("{ISSUER}/auth/v3/sso/saml/demo/acs"),
        ..answer("alice")
    };
    assert!(refused(&s, &signed(&idp, &recipient))
        .await
        .contains("Recipient"));
    // Naming an AuthnRequest: it answers someone's sign-in.
    let solicited = Answer {
        in_response_to: Some("_req1".into()),
        ..answer("alice")
    };
    assert!(refused(&s, &signed(&idp, &solicited))
        .await
        .contains("InResponseTo"));
    assert_eq!(
        refusal_reasons(&s).await.len(),
        6,
        "every refusal is audited"
    );
}

#[tokio::test]
async fn only_one_bare_assertion_is_accepted() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp).await;
    let a = answer("alice");
    let good = signed(&idp, &a);
    // A Response around a valid assertion, or around two (wrapping).
    let wrapped = a.response(&good, false);
    assert!(refused(&s, &wrapped)
        .await
        .contains("one SAML 2.0 Assertion"));
    let evil = answer("mallory").assertion(false);
    let two = a.response(&format!("{good}{evil}"), false);
    assert!(refused(&s, &two).await.contains("one SAML 2.0 Assertion"));
    // An assertion smuggling a second one inside.
    let nested = good.replacen(
        "<saml:Subject>",
        &format!("<saml:Advice>{evil}</saml:Advice><saml:Subject>"),
        1,
    );
    refused(&s, &nested).await;
    refused(&s, "<foo xmlns=\"urn:example\"><bar/></foo>").await;
    assert_eq!(refusal_reasons(&s).await.len(), 4);
    // The untouched assertion still works: nothing above spent it.
    present(&s, DEMO, &good).await.tokens();
}

#[tokio::test]
async fn unknown_issuers_and_bad_requests_are_refused() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp).await;
    let stranger = Answer {
        issuer: "https://idp.elsewhere.test".into(),
        ..answer("alice")
    };
    let d = refused(&s, &signed(&idp, &stranger)).await;
    assert!(d.contains("not the identity provider"), "{d}");

    s.token(DEMO, &[("grant_type", GRANT)])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    s.token(DEMO, &[("grant_type", GRANT), ("assertion", "not base64!")])
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_client_not_allowed_the_grant_or_the_tenant_is_refused() {
    let s = TestServer::new().await;
    let idp = KeyPair::generate("idp");
    saml_contact_center(&s, &idp).await;
    let xml = signed(&idp, &answer("alice"));

    let secret = s
        .create_client(
            json!({"client_id": "cc-only", "authorizedGrantTypes": ["client_credentials"]}),
        )
        .await
        .expect("secret");
    present(&s, ClientAuth::Basic("cc-only", &secret), &xml)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");

    // Bound to another contact center: the demo IdP does not speak for it.
    let env = s.state.catalog.contact_center("demo").expect("demo");
    s.ops_post(
        CCS,
        json!({"id": "other", "environmentId": env.environment_id, "domains": ["other"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let secret = s
        .create_client(
            json!({"client_id": "elsewhere", "authorizedGrantTypes": [GRANT],
                              "contactCenterIds": ["other"]}),
        )
        .await
        .expect("secret");
    let e = present(&s, ClientAuth::Basic("elsewhere", &secret), &xml)
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("not the identity provider"),
        "{e}"
    );
    // Neither spent the assertion.
    present(&s, DEMO, &xml).await.tokens();
}
