//! IdP metadata by URL: fetched over real HTTPS (a local server whose CA is
//! given with `--saml-metadata-ca`) when stored, on `POST …/saml/reload`
//! and by the scheduled refresh; stored only when it changed; a failed
//! fetch or unusable metadata keeps the last good document and is counted.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{header, StatusCode};
use base64::Engine as _;
use common::*;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Name, X509};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CCS: &str = "/environment/v3/contact-centers";

fn certificate(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
) -> X509 {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            let san = SubjectAlternativeName::new()
                .ip("127.0.0.1")
                .build(&b.x509v3_context(Some(ca), None))
                .unwrap();
            b.append_extension(san).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

fn rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

/// IdP metadata with a fresh signing certificate; `None`: without one.
fn idp_metadata(signing: bool) -> String {
    let key = rsa();
    let der = certificate("idp", &key, None, 7).to_der().unwrap();
    let descriptor = if signing {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    } else {
        String::new()
    };
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/realms/demo"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{descriptor}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// What the metadata server answers: a status and a body.
type Answer = Arc<Mutex<(u16, String)>>;

/// An HTTPS server on 127.0.0.1 answering every request with `answer`;
/// writes its CA to `dir/ca.pem`. Returns its base URL.
async fn metadata_server(dir: &Path, answer: Answer) -> String {
    let ca_key = rsa();
    let ca = certificate("metadata test CA", &ca_key, None, 1);
    let key = rsa();
    let cert = certificate("127.0.0.1", &key, Some((&ca, &ca_key)), 2);
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("key.pem"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let acceptor = tollgate_core::directory::config_server::simulator::tls_acceptor(
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = answer.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/samlmetadata+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_urls_are_refreshed_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let first = idp_metadata(true);
    let answer: Answer = Arc::new(Mutex::new((200, first.clone())));
    let base = metadata_server(dir.path(), answer.clone()).await;
    let url = format!("{base}/realms/demo/protocol/saml/descriptor");

    // Without the CA the server is not trusted.
    let untrusting = TestServer::new().await;
    let message = untrusting
        .ops_put(&format!("{CCS}/demo/saml"), json!({"idpMetadataUrl": url}))
        .await
        .expect_api_error(StatusCode::BAD_REQUEST);
    assert!(message.contains("cannot be reached"), "{message}");

    let s = TestServer::with_args(tollgate::app::config::CommonArgs {
        saml_metadata_ca: Some(dir.path().join("ca.pem")),
        ..default_args()
    })
    .await;
    let path = format!("{CCS}/demo/saml");
    let reload = format!("{path}/reload");
    let res = s.ops_put(&path, json!({"idpMetadataUrl": url})).await;
    res.expect(StatusCode::OK);
    let stored = res.json()["data"].clone();
    assert_eq!(stored["idpMetadata"], first);
    assert_eq!(stored["idpMetadataUrl"], url);
    assert!(stored["idpMetadataFetchedAt"].as_i64().unwrap() > 0);
    assert_eq!(stored["version"], 1);

    // Unchanged: nothing is written.
    let res = s.ops_post(&reload, json!({})).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.header(header::ETAG), Some("\"1\""));

    // Changed at the IdP: stored under the next version.
    let second = idp_metadata(true);
    answer.lock().unwrap().1 = second.clone();
    let res = s.ops_post(&reload, json!({})).await;
    res.expect(StatusCode::OK);
    assert_eq!(res.json()["data"]["idpMetadata"], second);
    assert_eq!(res.json()["data"]["version"], 2);
    let keys = res.json()["data"]["spCertificates"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "the SP keys stay");

    // A failing URL or unusable metadata: 502; the last good metadata stays.
    // How the fetch failed is logged, not told (no probing from here).
    *answer.lock().unwrap() = (500, "down".into());
    let message = s
        .ops_post(&reload, json!({}))
        .await
        .expect_api_error(StatusCode::BAD_GATEWAY);
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(!message.contains("500"), "{message}");
    *answer.lock().unwrap() = (200, idp_metadata(false));
    let message = s
        .ops_post(&reload, json!({}))
        .await
        .expect_api_error(StatusCode::BAD_GATEWAY);
    assert!(message.contains("no signing certificate"), "{message}");
    let kept = s.db.get_saml_provider("demo").await.unwrap().unwrap();
    assert_eq!(
        (kept.idp_metadata.as_str(), kept.version),
        (second.as_str(), 2)
    );

    // The scheduled round: a change is stored, a failure counted.
    let third = idp_metadata(true);
    *answer.lock().unwrap() = (200, third.clone());
    tollgate_core::federation::saml::refresh::refresh_all(&s.state).await;
    let refreshed = s.db.get_saml_provider("demo").await.unwrap().unwrap();
    assert_eq!(
        (refreshed.idp_metadata.as_str(), refreshed.version),
        (third.as_str(), 3)
    );
    tollgate_core::federation::saml::refresh::refresh_all(&s.state).await;
    assert_eq!(
        s.db.get_saml_provider("demo")
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    *answer.lock().unwrap() = (404, String::new());
    tollgate_core::federation::saml::refresh::refresh_all(&s.state).await;
    assert_eq!(
        s.db.get_saml_provider("demo")
            .await
            .unwrap()
            .unwrap()
            .idp_metadata,
        third
    );
    let metrics = s.state.metrics.encode();
    for (outcome, count) in [("updated", 2), ("unchanged", 2), ("failed", 3)] {
        let line =
            format!("tollgate_saml_metadata_refreshes_total{{outcome=\"{outcome}\"}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // Uploaded metadata has nothing to reload; no settings, nothing at all.
    s.ops_put(&path, json!({"idpMetadata": third, "version": 3}))
        .await
        .expect(StatusCode::OK);
    let message = s
        .ops_post(&reload, json!({}))
        .await
        .expect_api_error(StatusCode::CONFLICT);
    assert!(message.contains("no idpMetadataUrl"), "{message}");
    s.ops_delete(&path).await.expect(StatusCode::OK);
    s.ops_post(&reload, json!({}))
        .await
        .expect_api_error(StatusCode::NOT_FOUND);
}
