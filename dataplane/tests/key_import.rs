//! `tollgate keys import`: an existing RSA or EC key, made here with
//! OpenSSL as another issuer would have, signs from now or is only
//! published until a date; what cannot be imported is refused by name.

use crate::common;

use axum::http::{Method, StatusCode};
use clap::Parser;
use common::*;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::Value;
use tollgate::app::cli::{Cli, Command, KeysCommand};
use tollgate::app::key_import::{self, KeyImportArgs};
use tollgate_store::model::now;

const KID: &str = "gws-auth-key";

fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).expect("RSA key")).expect("key")
}

fn ec_key(curve: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(curve).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("key")
}

/// The key as PKCS#1 (RSA) or SEC1 (EC) PEM, the forms `openssl genrsa`
/// and `openssl ecparam -genkey` write.
fn traditional_pem(key: &PKey<Private>) -> Vec<u8> {
    match key.rsa() {
        Ok(rsa) => rsa.private_key_to_pem().expect("PKCS#1"),
        Err(_) => key
            .ec_key()
            .expect("EC")
            .private_key_to_pem()
            .expect("SEC1"),
    }
}

fn pkcs12(key: &PKey<Private>, password: &str) -> Vec<u8> {
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "auth.example").expect("CN");
    let name = name.build();
    let mut cert = openssl::x509::X509Builder::new().expect("cert");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(key).expect("public key");
    let not_before = openssl::asn1::Asn1Time::days_from_now(0).expect("time");
    let not_after = openssl::asn1::Asn1Time::days_from_now(365).expect("time");
    cert.set_not_before(&not_before).expect("not before");
    cert.set_not_after(&not_after).expect("not after");
    cert.sign(key, openssl::hash::MessageDigest::sha256())
        .expect("sign");
    let cert = cert.build();
    openssl::pkcs12::Pkcs12::builder()
        .name(KID)
        .pkey(key)
        .cert(&cert)
        .build2(password)
        .expect("PKCS#12")
        .to_der()
        .expect("DER")
}

/// Runs `tollgate keys import ARGS` against the test server's database,
/// as the command line parses it; the error is the message the operator sees.
async fn import(s: &TestServer, material: &[u8], args: &[&str]) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("key");
    std::fs::write(&file, material).expect("key file");
    let file = file.display().to_string();
    let argv = ["tollgate", "keys", "import", "--key-file", &file]
        .into_iter()
        .chain(args.iter().copied());
    let args: KeyImportArgs = match Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .command
    {
        Command::Keys {
            command: KeysCommand::Import(args),
        } => args,
        other => panic!("parsed as {other:?}"),
    };
    let done = key_import::import(&s.db, &args, now())
        .await
        .map_err(|e| format!("{e:#}"))?;
    // Running servers reload on the store's change notification; here at once.
    s.state.keys.reload(&s.db).await.expect("reload");
    Ok(done)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// After `--sign`, tokens carry the imported kid and verify against the
/// JWKS with a third-party verifier.
async fn signs_with(key: PKey<Private>, material: &[u8], extra: &[&str], alg: &str) {
    let s = TestServer::new().await;
    let mut args = vec!["--kid", KID, "--sign"];
    args.extend_from_slice(extra);
    let said = import(&s, material, &args).await.expect("imported");
    assert!(said.contains(KID) && said.contains(alg), "{said}");
    let token = s.client_token().await;
    let (header, _) = jwt_parts(&token);
    assert_eq!(header["kid"], KID);
    assert_eq!(header["alg"], alg);
    verify_with_jwks(&s.jwks().await, &token, ISSUER).expect("verifies against the JWKS");
    // The JWKS holds the public half of the very key imported.
    let public = String::from_utf8(key.public_key_to_pem().expect("PEM")).expect("text");
    let decoding = match alg {
        "RS256" => jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_ec_pem(public.as_bytes()),
    }
    .expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(alg.parse().expect("alg"));
    validation.set_audience(&[ISSUER]);
    jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("signed by the key");
}

#[tokio::test]
async fn an_imported_rsa_key_signs_and_verifies_against_the_jwks() {
    let key = rsa_key(2048);
    signs_with(key.clone(), &traditional_pem(&key), &[], "RS256").await;
}

#[tokio::test]
async fn an_imported_ec_key_signs_and_verifies_against_the_jwks() {
    let key = ec_key(Nid::X9_62_PRIME256V1);
    signs_with(key.clone(), &traditional_pem(&key), &[], "ES256").await;
}

#[tokio::test]
async fn a_pkcs12_key_imports_with_its_password() {
    let key = rsa_key(3072);
    let p12 = pkcs12(&key, "changeit");
    signs_with(key, &p12, &["--key-password", "changeit"], "RS256").await;
}

#[tokio::test]
async fn a_signing_import_replaces_the_key_published_ahead_and_the_schedule_resumes() {
    let s = TestServer::new().await;
    let keys = &s.state.keys;
    let first = keys.signing_key(now()).expect("a generated key");
    // The next generated key is published ahead of its turn.
    keys.rotate(&s.db, first.retires_at - 10)
        .await
        .expect("rotate");
    assert_eq!(kids(&s.jwks().await).len(), 2);
    let key = ec_key(Nid::X9_62_PRIME256V1);
    import(&s, &traditional_pem(&key), &["--kid", KID, "--sign"])
        .await
        .expect("imported");
    let published = kids(&s.jwks().await);
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published.contains(&first.kid) && published.contains(&KID.to_string()));
    let imported = keys.signing_key(now()).expect("signs");
    assert_eq!(imported.kid, KID);
    // Its whole interval, then a generated key takes over.
    let after = imported.retires_at;
    keys.rotate(&s.db, after).await.expect("rotate");
    let next = keys.signing_key(after).expect("signs");
    assert_ne!(next.kid, KID);
    assert_eq!(next.activates_at, after);
}

/// A token the original would have issued with its key: the claims Tollgate
/// gives the demo user, signed outside Tollgate.
fn issued_elsewhere(s_token: &str, key: &PKey<Private>, alg: jsonwebtoken::Algorithm) -> String {
    let (_, claims) = jwt_parts(s_token);
    let mut header = jsonwebtoken::Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(KID.into());
    let pem = key.private_key_to_pem_pkcs8().expect("PKCS#8");
    let encoding = match alg {
        jsonwebtoken::Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        _ => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
    }
    .expect("encoding key");
    jsonwebtoken::encode(&header, &claims, &encoding).expect("signed")
}

async fn published_until_the_window_closes(key: PKey<Private>, alg: jsonwebtoken::Algorithm) {
    let s = TestServer::new().await;
    let until = now() + 86_400;
    let until_text = chrono::DateTime::from_timestamp(until, 0)
        .expect("time")
        .to_rfc3339();
    let said = import(
        &s,
        &traditional_pem(&key),
        &["--kid", KID, "--publish-until", &until_text],
    )
    .await
    .expect("imported");
    assert!(said.contains("never signing"), "{said}");
    assert!(kids(&s.jwks().await).contains(&KID.to_string()));
    // Tollgate keeps signing with its own key.
    let own = s.user_token().await;
    assert_ne!(jwt_parts(&own).0["kid"], KID);

    let theirs = issued_elsewhere(&own, &key, alg);
    assert!(s.is_active(&theirs).await, "introspection accepts it");
    let info = s.bearer(Method::GET, "/auth/v3/userinfo", &theirs).await;
    info.expect(StatusCode::OK);
    s.bearer(Method::GET, "/auth/v3/openid/userinfo", &theirs)
        .await
        .expect(StatusCode::OK);

    // The window closes: the rotation check drops the key.
    s.state.keys.rotate(&s.db, until).await.expect("rotate");
    assert!(!kids(&s.jwks().await).contains(&KID.to_string()));
    assert!(!s.is_active(&theirs).await, "introspection refuses it");
    assert_eq!(
        s.bearer(Method::GET, "/auth/v3/userinfo", &theirs)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_publish_only_rsa_key_verifies_the_originals_tokens_until_its_date() {
    published_until_the_window_closes(rsa_key(2048), jsonwebtoken::Algorithm::RS256).await;
}

#[tokio::test]
async fn a_publish_only_ec_key_verifies_the_originals_tokens_until_its_date() {
    published_until_the_window_closes(
        ec_key(Nid::X9_62_PRIME256V1),
        jsonwebtoken::Algorithm::ES256,
    )
    .await;
}

#[tokio::test]
async fn what_cannot_be_imported_is_refused_naming_the_setting() {
    let s = TestServer::new().await;
    let sign = ["--kid", KID, "--sign"];
    let good = traditional_pem(&rsa_key(2048));
    let cases: Vec<(Vec<u8>, Vec<&str>, &str)> = vec![
        (traditional_pem(&rsa_key(1024)), sign.to_vec(), "--key-file"),
        (
            traditional_pem(&ec_key(Nid::SECP384R1)),
            sign.to_vec(),
            "--key-file",
        ),
        (
            PKey::generate_ed25519()
                .expect("Ed25519")
                .private_key_to_pem_pkcs8()
                .expect("PEM"),
            sign.to_vec(),
            "--key-file",
        ),
        (b"not a key".to_vec(), sign.to_vec(), "--key-file"),
        (
            pkcs12(&rsa_key(2048), "right"),
            vec!["--kid", KID, "--sign", "--key-password", "wrong"],
            "--key-password",
        ),
        (
            good.clone(),
            vec!["--kid", KID, "--publish-until", "2020-01-01"],
            "--publish-until",
        ),
        (good.clone(), vec!["--kid", "has space", "--sign"], "--kid"),
    ];
    for (material, args, setting) in cases {
        let err = import(&s, &material, &args).await.expect_err("refused");
        assert!(err.contains(setting), "{args:?}: {err}");
    }
    let weak = import(&s, &traditional_pem(&rsa_key(1024)), &sign)
        .await
        .expect_err("refused");
    assert!(weak.contains("1024 bits is too weak"), "{weak}");
    let curve = import(&s, &traditional_pem(&ec_key(Nid::SECP384R1)), &sign)
        .await
        .expect_err("refused");
    assert!(
        curve.contains("secp384r1") && curve.contains("P-256"),
        "{curve}"
    );
    // Sign or publish: one of them, never neither.
    let neither = import(&s, &good, &["--kid", KID])
        .await
        .expect_err("refused");
    assert!(
        neither.contains("--sign") && neither.contains("--publish-until"),
        "{neither}"
    );

    // A kid in use, by an import or by a generated key.
    import(&s, &good, &sign).await.expect("first import");
    let again = import(&s, &traditional_pem(&rsa_key(2048)), &sign)
        .await
        .expect_err("refused");
    assert!(
        again.contains("--kid") && again.contains("already in use"),
        "{again}"
    );
    let generated =
        s.db.list_signing_keys()
            .await
            .expect("keys")
            .into_iter()
            .find(|k| k.kid != KID)
            .expect("a generated key");
    let taken = import(&s, &good, &["--kid", &generated.kid, "--sign"])
        .await
        .expect_err("refused");
    assert!(taken.contains("--kid"), "{taken}");
}
