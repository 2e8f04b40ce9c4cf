//! The verification policy against answers of a test IdP whose key the
//! tests hold: genuine ones pass, every forged, misdirected or stale
//! variant is refused with its reason.

use chrono::{Duration, Utc};
use samael::metadata::EntityDescriptor;

use super::test_idp::{
    encrypt, idp_metadata, Answer, Content, KeyPair, ACS, IDP_ENTITY, SP_ENTITY,
};
use crate::federation::saml::verify::{verify, Expected, Refusal, VerifiedAssertion};

struct Fixture {
    idp: KeyPair,
    sp: KeyPair,
    metadata: EntityDescriptor,
}

fn fixture() -> Fixture {
    let idp = KeyPair::generate("idp");
    let sp = KeyPair::generate("sp");
    let metadata = idp_metadata(IDP_ENTITY, &idp.cert_der).parse().unwrap();
    Fixture { idp, sp, metadata }
}

impl Fixture {
    fn check(&self, xml: &str, in_response_to: Option<&str>) -> Result<VerifiedAssertion, Refusal> {
        verify(
            xml,
            &Expected {
                idp: &self.metadata,
                audience: SP_ENTITY,
                recipient: ACS,
                in_response_to,
                decryption_key: Some(&self.sp.key),
            },
        )
    }

    /// An unsigned Response around an assertion signed by the IdP.
    fn signed_assertion(&self, a: &Answer) -> String {
        a.response(&self.idp.sign(&a.assertion(true)), false)
    }

    /// A Response signed by the IdP around an unsigned assertion.
    fn signed_response(&self, a: &Answer) -> String {
        self.idp.sign(&a.response(&a.assertion(false), true))
    }
}

#[test]
fn a_signed_assertion_is_accepted_and_read() {
    let f = fixture();
    let a = Answer::default();
    let v = f.check(&f.signed_assertion(&a), Some("_req1")).unwrap();
    assert_eq!(v.id, a.assertion_id);
    assert_eq!(v.issuer, IDP_ENTITY);
    assert_eq!(v.name_id.as_deref(), Some("alice"));
    assert_eq!(v.session_index, Some(format!("s-{}", a.assertion_id)));
    assert_eq!(
        v.attribute("email"),
        Some(&["alice@example.com".to_string()][..])
    );
    assert_eq!(
        v.attribute("groups"),
        Some(&["agents".to_string(), "supervisors".to_string()][..])
    );
    assert!(v.expires_at > a.not_on_or_after);
}

#[test]
fn a_signed_response_is_accepted() {
    let f = fixture();
    let a = Answer::default();
    let v = f.check(&f.signed_response(&a), Some("_req1")).unwrap();
    assert_eq!(v.name_id.as_deref(), Some("alice"));
}

#[test]
fn an_encrypted_assertion_is_decrypted_with_the_sp_key() {
    let f = fixture();
    let a = Answer::default();
    for content in [Content::Aes128Cbc, Content::Aes128Gcm] {
        let enc = encrypt(&a.assertion(false), &f.sp.cert_der, content);
        let xml = f.idp.sign(&a.response(&enc, true));
        let v = f.check(&xml, Some("_req1")).unwrap();
        assert_eq!(v.name_id.as_deref(), Some("alice"));
        assert_eq!(v.id, a.assertion_id);
    }
    // Without the SP key it cannot be read.
    let enc = encrypt(&a.assertion(false), &f.sp.cert_der, Content::Aes128Cbc);
    let xml = f.idp.sign(&a.response(&enc, true));
    let no_key = verify(
        &xml,
        &Expected {
            idp: &f.metadata,
            audience: SP_ENTITY,
            recipient: ACS,
            in_response_to: Some("_req1"),
            decryption_key: None,
        },
    );
    assert_eq!(no_key, Err(Refusal::Decryption));
    // Encrypted but in an unsigned Response: refused.
    let xml = a.response(&enc, false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));

    // Encrypted for another SP: refused.
    let other = KeyPair::generate("other sp");
    let enc = encrypt(&a.assertion(false), &other.cert_der, Content::Aes128Cbc);
    let xml = f.idp.sign(&a.response(&enc, true));
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Decryption));
}

#[test]
fn an_unsigned_answer_is_refused() {
    let f = fixture();
    let a = Answer::default();
    let xml = a.response(&a.assertion(false), false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));
    assert_eq!(f.check(&a.assertion(false), None), Err(Refusal::Signature));
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let f = fixture();
    let a = Answer::default();
    let attacker = KeyPair::generate("idp");
    let xml = a.response(&attacker.sign(&a.assertion(true)), false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));
    let xml = attacker.sign(&a.response(&a.assertion(false), true));
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));
}

#[test]
fn a_signed_assertion_changed_after_signing_is_refused() {
    let f = fixture();
    let a = Answer::default();
    let xml = f.signed_assertion(&a).replace(">alice<", ">admin<");
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));
}

#[test]
fn wrapping_attacks_are_refused() {
    let f = fixture();
    let genuine = Answer::default();
    let signed = f.idp.sign(&genuine.assertion(true));
    let evil = Answer {
        assertion_id: "_evil".into(),
        name_id: "admin".into(),
        ..genuine.clone()
    };
    // XSW: a second, unsigned assertion before or after the signed one.
    let before = genuine.response(&format!("{}{signed}", evil.assertion(false)), false);
    let after = genuine.response(&format!("{signed}{}", evil.assertion(false)), false);
    // XSW: the signed assertion wrapped inside the evil one (in its Subject).
    let wrapped = evil
        .assertion(false)
        .replace("<saml:Subject>", &format!("<saml:Subject>{signed}"));
    let wrapped = genuine.response(&wrapped, false);
    // XSW: the signed assertion hidden in an Extensions element.
    let extensions = genuine.response(&evil.assertion(false), false).replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>"),
    );
    for xml in [before, after, wrapped, extensions] {
        assert_eq!(
            f.check(&xml, Some("_req1")),
            Err(Refusal::MultipleAssertions),
            "{xml}"
        );
    }

    // Signature moved: the genuine signature (over `#id` of the genuine
    // assertion) placed in the evil assertion, which takes the genuine id.
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &signed[sig_start..sig_end];
    let moved = Answer {
        assertion_id: genuine.assertion_id.clone(),
        ..evil.clone()
    }
    .assertion(false)
    .replace("</saml:Issuer>", &format!("</saml:Issuer>{signature}"));
    let moved = genuine.response(&moved, false);
    assert_eq!(f.check(&moved, Some("_req1")), Err(Refusal::Signature));

    // Signed Response whose assertion is swapped afterwards.
    let signed_response = f.signed_response(&genuine);
    let swapped = signed_response.replace(&genuine.assertion(false), &evil.assertion(false));
    assert_ne!(swapped, signed_response);
    assert_eq!(f.check(&swapped, Some("_req1")), Err(Refusal::Signature));
}

#[test]
fn an_expired_assertion_is_refused() {
    let f = fixture();
    let a = Answer {
        issued: Utc::now() - Duration::hours(1),
        not_on_or_after: Utc::now() - Duration::minutes(55),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::Expired)
    );
    // Issued long ago but still claiming validity: too old to be this round trip.
    let a = Answer {
        issued: Utc::now() - Duration::hours(1),
        not_on_or_after: Utc::now() + Duration::minutes(5),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::Expired)
    );
}

#[test]
fn a_future_assertion_is_refused() {
    let f = fixture();
    let a = Answer {
        issued: Utc::now() + Duration::minutes(10),
        not_on_or_after: Utc::now() + Duration::minutes(15),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::NotYetValid)
    );
}

#[test]
fn a_wrong_audience_is_refused() {
    let f = fixture();
    let a = Answer {
        audience: "https://other-sp.test".into(),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::Audience)
    );
    // No AudienceRestriction at all: refused too.
    let a = Answer::default();
    let xml = a.assertion(true).replace(
        &format!("<saml:AudienceRestriction><saml:Audience>{SP_ENTITY}</saml:Audience></saml:AudienceRestriction>"),
        "",
    );
    let xml = a.response(&f.idp.sign(&xml), false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Audience));
}

#[test]
fn a_wrong_destination_or_recipient_is_refused() {
    let f = fixture();
    let a = Answer {
        destination: "https://evil.test/acs".into(),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_response(&a), Some("_req1")),
        Err(Refusal::Destination)
    );
    let a = Answer {
        recipient: "https://evil.test/acs".into(),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::Recipient)
    );
}

#[test]
fn a_mismatched_in_response_to_is_refused() {
    let f = fixture();
    let a = Answer::default();
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_other")),
        Err(Refusal::InResponseTo)
    );
    assert_eq!(
        f.check(&f.signed_response(&a), Some("_other")),
        Err(Refusal::InResponseTo)
    );
    // An answer to some request, presented as unsolicited.
    assert_eq!(
        f.check(&f.signed_assertion(&a), None),
        Err(Refusal::InResponseTo)
    );
}

#[test]
fn an_unsolicited_answer_is_accepted_when_unsolicited_is_expected() {
    let f = fixture();
    let a = Answer {
        in_response_to: None,
        ..Answer::default()
    };
    assert!(f.check(&f.signed_assertion(&a), None).is_ok());
    // A bare signed assertion (RFC 7522 bearer grant).
    assert!(f.check(&f.idp.sign(&a.assertion(true)), None).is_ok());
    // But not in answer to a request.
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::InResponseTo)
    );
}

#[test]
fn another_issuer_is_refused() {
    let f = fixture();
    let a = Answer {
        issuer: "https://other-idp.test".into(),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_assertion(&a), Some("_req1")),
        Err(Refusal::Issuer)
    );
}

#[test]
fn a_failure_status_is_refused() {
    let f = fixture();
    let a = Answer {
        status: "urn:oasis:names:tc:SAML:2.0:status:Requester".into(),
        ..Answer::default()
    };
    assert_eq!(
        f.check(&f.signed_response(&a), Some("_req1")),
        Err(Refusal::Status)
    );
    // The usual failure answer carries no assertion at all.
    let xml = f.idp.sign(&a.response("", true));
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Status));
}

#[test]
fn sha1_signatures_xslt_transforms_and_doctypes_are_refused() {
    let f = fixture();
    let a = Answer::default();
    let sha1 = a
        .assertion(true)
        .replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        )
        .replace(
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        );
    let xml = a.response(&f.idp.sign(&sha1), false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Signature));

    let xslt = a.assertion(true).replace(
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
    );
    let xml = a.response(&xslt, false);
    assert_eq!(f.check(&xml, Some("_req1")), Err(Refusal::Transform));

    let doctype = format!(
        "<!DOCTYPE r [<!ENTITY x \"alice\">]>{}",
        f.signed_assertion(&a)
    );
    assert_eq!(f.check(&doctype, Some("_req1")), Err(Refusal::Malformed));
}

#[test]
fn metadata_without_a_signing_certificate_refuses_everything() {
    let a = Answer::default();
    let bare: EntityDescriptor = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ENTITY}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
    .parse()
    .unwrap();
    let r = verify(
        &a.response(&a.assertion(false), false),
        &Expected {
            idp: &bare,
            audience: SP_ENTITY,
            recipient: ACS,
            in_response_to: Some("_req1"),
            decryption_key: None,
        },
    );
    assert_eq!(r, Err(Refusal::NoIdpCertificate));
}
