//! The SAML settings of a contact center through the Environment API, and
//! the SP metadata they publish, in-process on SQLite and PostgreSQL.

use crate::common;

use axum::http::{header, StatusCode};
use base64::Engine as _;
use common::*;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};
use serde_json::{json, Value};

const CCS: &str = "/environment/v3/contact-centers";

on_both!(saml_settings_api, sp_metadata_and_key_rotation);

fn idp_certificate() -> String {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("CN", "idp").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(b.build().to_der().unwrap())
}

fn idp_metadata(key_descriptor: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/realms/demo"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptor}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

fn good_metadata() -> String {
    idp_metadata(&format!(
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
        idp_certificate()
    ))
}

async fn saml_settings_api(s: TestServer) {
    let path = format!("{CCS}/demo/saml");
    let message = s
        .ops_get(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    assert!(message.contains("no SAML settings"), "{message}");
    s.ops_get(&format!("{CCS}/nope/saml"))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);

    let metadata = good_metadata();
    let good = json!({"idpMetadata": metadata, "usernameAttribute": "uid",
        "accessGroup": {"attribute": "groups", "value": "agents"}});
    // Each refusal names the field.
    for (change, field) in [
        (json!({"idpMetadata": null}), "idpMetadata"),
        (
            json!({"idpMetadataUrl": "https://idp.example/md"}),
            "idpMetadataUrl",
        ),
        (json!({"idpMetadata": "<not-metadata/>"}), "idpMetadata"),
        (json!({"idpMetadata": idp_metadata("")}), "idpMetadata"),
        (
            json!({"idpMetadata": null, "idpMetadataUrl": "http://idp.example/md"}),
            "idpMetadataUrl",
        ),
        (json!({"usernameAttribute": " "}), "usernameAttribute"),
        (
            json!({"accessGroup": {"attribute": "groups", "value": ""}}),
            "accessGroup",
        ),
        (json!({"binding": "artifact"}), "binding"),
        (json!({"surprise": 1}), "surprise"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let message = s
            .ops_put(&path, body)
            .await
            .expect_api_error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{field}: {message}");
    }

    let res = s.ops_put(&path, good.clone()).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header(header::ETAG), Some("\"1\""));
    let view = res.json()["data"].clone();
    assert!(!view.to_string().contains("PRIVATE KEY"), "{view}");
    assert_eq!(view["idpEntityId"], "https://idp.example/realms/demo");
    assert_eq!(view["binding"], "post");
    assert_eq!(view["justInTimeUsers"], false);
    assert_eq!(view["usernameAttribute"], "uid");
    assert_eq!(view["accessGroup"]["value"], "agents");
    let issuer = s.state.settings.issuer.clone();
    assert_eq!(
        view["spEntityId"],
        format!("{issuer}/auth/v3/sso/saml/demo/metadata")
    );
    assert_eq!(
        view["acsUrl"],
        format!("{issuer}/auth/v3/sso/saml/demo/acs")
    );
    let certs = view["spCertificates"].as_array().unwrap().clone();
    assert_eq!(certs.len(), 1);
    assert!(certs[0]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let read = s.ops_get(&path).await;
    read.expect(StatusCode::OK);
    assert_eq!(read.json()["data"], view);

    // An update keeps the key pair and must not be stale.
    let mut update = good.clone();
    update["version"] = json!(1);
    update["binding"] = json!("redirect");
    update["justInTimeUsers"] = json!(true);
    let view2 = s.ops_put(&path, update.clone()).await.json()["data"].clone();
    assert_eq!(view2["version"], 2);
    assert_eq!(view2["binding"], "redirect");
    assert_eq!(view2["justInTimeUsers"], true);
    assert_eq!(view2["spCertificates"], view["spCertificates"]);
    s.ops_put(&path, update)
        .await
        .expect_api_error(StatusCode::CONFLICT);

    s.ops_delete(&path).await.expect(StatusCode::OK);
    s.ops_get(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
    s.ops_delete(&path)
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}

fn certificates_in(xml: &str, key_use: &str) -> Vec<String> {
    let marker = format!(r#"use="{key_use}""#);
    xml.split("KeyDescriptor ")
        .filter(|part| part.starts_with(&marker))
        .filter_map(|part| {
            let start = part.find("X509Certificate>")? + "X509Certificate>".len();
            let end = part[start..].find('<')? + start;
            Some(part[start..end].to_string())
        })
        .collect()
}

fn pem_body(pem: &Value) -> String {
    pem.as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

async fn sp_metadata_and_key_rotation(s: TestServer) {
    let md = "/auth/v3/sso/saml/demo/metadata";
    let path = format!("{CCS}/demo/saml");
    s.ops_put(&path, json!({"idpMetadata": good_metadata()}))
        .await
        .expect(StatusCode::OK);
    // Only an `auth: saml` contact center publishes SP metadata.
    s.get(md).await.expect(StatusCode::NOT_FOUND);
    s.ops_put(&format!("{CCS}/demo"), json!({"auth": "saml"}))
        .await
        .expect(StatusCode::OK);
    let res = s.get(md).await;
    res.expect(StatusCode::OK);
    assert_eq!(
        res.header(header::CONTENT_TYPE),
        Some("application/samlmetadata+xml")
    );
    let xml = res.text();
    let issuer = s.state.settings.issuer.clone();
    assert!(
        xml.contains(&format!(
            r#"entityID="{issuer}/auth/v3/sso/saml/demo/metadata""#
        )),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"Location="{issuer}/auth/v3/sso/saml/demo/acs""#)),
        "{xml}"
    );
    assert!(!xml.contains("PRIVATE"), "{xml}");
    let first = s.ops_get(&path).await.json()["data"]["spCertificates"][0].clone();
    assert_eq!(certificates_in(&xml, "signing"), vec![pem_body(&first)]);
    assert_eq!(certificates_in(&xml, "encryption"), vec![pem_body(&first)]);

    // Rotation: the new key first, the old one still published.
    let res = s.ops_post(&format!("{path}/rotate-key"), json!({})).await;
    res.expect(StatusCode::OK);
    let certs = res.json()["data"]["spCertificates"].clone();
    assert_eq!(certs.as_array().unwrap().len(), 2);
    assert_eq!(certs[1], first);
    let second = certs[0].clone();
    assert_ne!(second, first);
    let xml = s.get(md).await.text();
    assert_eq!(
        certificates_in(&xml, "signing"),
        vec![pem_body(&second), pem_body(&first)]
    );
    // The next rotation retires the oldest.
    let certs = s
        .ops_post(&format!("{path}/rotate-key"), json!({}))
        .await
        .json()["data"]["spCertificates"]
        .clone();
    assert_eq!(certs.as_array().unwrap().len(), 2);
    assert_eq!(certs[1], second);
    assert!(!certs.as_array().unwrap().contains(&first));

    s.ops_post(&format!("{CCS}/nope/saml/rotate-key"), json!({}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}
