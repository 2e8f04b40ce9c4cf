//! Mutual TLS (RFC 8705) over real handshakes: a client authenticates with
//! its certificate (`tls_client_auth`: chained to the client CA and naming
//! the client; `self_signed_tls_client_auth`: one it registered), gets an
//! access token bound to it (`cnf.x5t#S256`), and that token is refused
//! with any other certificate or none. A trusted proxy may pass the
//! certificate in a header; anyone else's header is ignored.

use std::net::SocketAddr;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rcgen::{CertificateParams, DnType, KeyPair};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate::app::tls::TlsArgs;

use crate::common::{self, jwt_parts, TestServer, DEMO, TOKEN};
use crate::tls_listener::{start, write, TestCa};

const HEADER: &str = "x-client-cert";

/// A client's certificate and key.
struct Cert {
    pem: String,
    key: String,
    der: Vec<u8>,
    pair: KeyPair,
}

impl Cert {
    /// Subject `CN=<cn>,O=Example` with DNS SAN `<cn>.example`, signed by
    /// `ca`, or self-signed without one.
    fn new(ca: Option<&TestCa>, cn: &str) -> Cert {
        let pair = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![format!("{cn}.example")]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = match ca {
            Some(ca) => params.signed_by(&pair, &ca.issuer),
            None => params.self_signed(&pair),
        }
        .expect("certificate");
        Cert {
            pem: cert.pem(),
            key: pair.serialize_pem(),
            der: cert.der().to_vec(),
            pair,
        }
    }

    fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.der))
    }

    /// A public JWK of the certificate's key with the certificate in `x5c`.
    fn jwk(&self) -> Value {
        let raw = self.pair.public_key_raw();
        json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
               "y": URL_SAFE_NO_PAD.encode(&raw[33..65]), "x5c": [STANDARD.encode(&self.der)]})
    }

    /// The certificate as nginx's `$ssl_client_escaped_cert` passes it.
    fn escaped(&self) -> String {
        self.pem
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}

/// A server whose public listener speaks TLS with the client CA `ca` (or
/// plain HTTP with `tls` false), takes `--tls-client-cert-header` from
/// `trusted`, and its base URL.
async fn server(dir: &Path, ca: &TestCa, tls: bool, trusted: &str) -> (TestServer, String) {
    let (cert, key, _) = ca.leaf();
    let mut args = common::default_args();
    args.tls = TlsArgs {
        tls_cert_file: tls.then(|| write(dir, "tls.crt", &cert)),
        tls_key_file: tls.then(|| write(dir, "tls.key", &key)),
        tls_client_ca_file: Some(write(dir, "client-ca.crt", &ca.pem)),
        tls_client_cert_header: Some(HEADER.into()),
        management_tls: false,
    };
    args.trusted_proxies =
        vec![tollgate_core::protection::client_ip::parse_network(trusted).expect("network")];
    let server = TestServer::with_args(args.clone()).await;
    let (public, _): (SocketAddr, _) = start(&server, args.tls).await.expect("start");
    let scheme = if tls { "https" } else { "http" };
    (server, format!("{scheme}://localhost:{}", public.port()))
}

/// An HTTPS client trusting `ca`, presenting `cert` if given.
fn client(ca: &TestCa, cert: Option<&Cert>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("CA")]);
    if let Some(c) = cert {
        let identity =
            reqwest::Identity::from_pem(format!("{}{}", c.pem, c.key).as_bytes()).expect("id");
        b = b.identity(identity);
    }
    b.build().expect("client")
}

async fn token(http: &reqwest::Client, base: &str, client_id: &str) -> (StatusCode, Value) {
    token_with(http, base, client_id, None).await
}

async fn token_with(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    header: Option<&Cert>,
) -> (StatusCode, Value) {
    let mut req = http
        .post(format!("{base}{TOKEN}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(common::encode_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ]));
    if let Some(c) = header {
        req = req.header(HEADER, c.escaped());
    }
    let res = req.send().await.expect("token request");
    let status = res.status();
    let body = res.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

/// The status of `GET /auth/v3/userinfo` with `token`.
async fn userinfo(http: &reqwest::Client, base: &str, token: &str, header: Option<&Cert>) -> u16 {
    let mut req = http
        .get(format!("{base}/auth/v3/userinfo"))
        .bearer_auth(token);
    if let Some(c) = header {
        req = req.header(HEADER, c.escaped());
    }
    req.send().await.expect("userinfo").status().as_u16()
}

async fn register(server: &TestServer, id: &str, method: &str, extra: Value) {
    let mut data = json!({"client_id": id, "clientType": "CONFIDENTIAL",
        "tokenEndpointAuthMethod": method, "authorizedGrantTypes": ["client_credentials"],
        "tlsClientCertificateBoundAccessTokens": true});
    for (k, v) in extra.as_object().expect("object") {
        data[k] = v.clone();
    }
    assert_eq!(server.create_client(data).await, None, "no secret for {id}");
}

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_string()
}

#[tokio::test]
async fn tls_client_auth_gets_a_token_bound_to_its_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (server, base) = server(dir.path(), &ca, true, "10.9.9.9").await;
    register(
        &server,
        "pki-app",
        "tls_client_auth",
        json!({"tlsClientAuth": {"subjectDn": "CN=pki-app,O=Example"}}),
    )
    .await;
    let mine = Cert::new(Some(&ca), "pki-app");
    let http = client(&ca, Some(&mine));
    let (status, body) = token(&http, &base, "pki-app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    let at = access_token(&body);
    let (_, claims) = jwt_parts(&at);
    assert_eq!(claims["cnf"], json!({"x5t#S256": mine.thumbprint()}));

    // Accepted over a connection with that certificate only.
    assert_eq!(userinfo(&http, &base, &at, None).await, 200);
    let other = Cert::new(Some(&ca), "pki-app");
    assert_eq!(
        userinfo(&client(&ca, Some(&other)), &base, &at, None).await,
        401,
        "another certificate of the same name"
    );
    assert_eq!(
        userinfo(&client(&ca, None), &base, &at, None).await,
        401,
        "no certificate"
    );
    // A header names no certificate from a peer that is not a trusted proxy.
    assert_eq!(
        userinfo(&client(&ca, None), &base, &at, Some(&mine)).await,
        401,
        "the certificate in an untrusted header"
    );
    let intro = server.introspect(DEMO, &at).await;
    assert_eq!(
        intro.json()["cnf"],
        json!({"x5t#S256": mine.thumbprint()}),
        "{}",
        intro.text()
    );
    assert_eq!(intro.json()["token_type"], "Bearer");

    // Without a certificate, or with one of another name, no token.
    let (status, body) = token(&client(&ca, None), &base, "pki-app").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let stranger = Cert::new(Some(&ca), "someone-else");
    let (status, _) = token(&client(&ca, Some(&stranger)), &base, "pki-app").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a certificate of another name"
    );
    let foreign = Cert::new(Some(&TestCa::new()), "pki-app");
    let (status, _) = token(&client(&ca, Some(&foreign)), &base, "pki-app").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the right name from another CA"
    );

    let meta = server.get("/.well-known/openid-configuration").await.json();
    let methods = meta["token_endpoint_auth_methods_supported"].to_string();
    assert!(
        methods.contains("\"tls_client_auth\"") && methods.contains("self_signed_tls_client_auth"),
        "{methods}"
    );
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
}

#[tokio::test]
async fn tls_client_auth_matches_the_registered_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (server, base) = server(dir.path(), &ca, true, "10.9.9.9").await;
    let cert = Cert::new(Some(&ca), "named");
    let http = client(&ca, Some(&cert));
    let cases = [
        ("by-dn", json!({"subjectDn": "CN=named,O=Example"}), true),
        ("by-dns", json!({"sanDns": "named.example"}), true),
        (
            "wrong-dn",
            json!({"subjectDn": "CN=other,O=Example"}),
            false,
        ),
        (
            "dn-reversed",
            json!({"subjectDn": "O=Example,CN=named"}),
            false,
        ),
        ("wrong-dns", json!({"sanDns": "other.example"}), false),
        ("uri-not-dns", json!({"sanUri": "named.example"}), false),
    ];
    for (id, name, ok) in cases {
        register(
            &server,
            id,
            "tls_client_auth",
            json!({"tlsClientAuth": name}),
        )
        .await;
        let (status, body) = token(&http, &base, id).await;
        let want = if ok {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, want, "{id}: {body}");
    }
    // A client unbound by configuration gets a plain token over mTLS.
    let data = json!({"tokenEndpointAuthMethod": "tls_client_auth",
        "tlsClientAuth": {"sanDns": "named.example"}, "tlsClientCertificateBoundAccessTokens": false});
    server
        .ops_put(&format!("{}/by-dns", common::CLIENTS), data)
        .await
        .expect(StatusCode::OK);
    let (_, body) = token(&http, &base, "by-dns").await;
    assert!(
        jwt_parts(&access_token(&body)).1.get("cnf").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn self_signed_client_authenticates_with_a_registered_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (server, base) = server(dir.path(), &ca, true, "10.9.9.9").await;
    let mine = Cert::new(None, "self");
    register(
        &server,
        "self-app",
        "self_signed_tls_client_auth",
        json!({"jwks": {"keys": [mine.jwk()]}}),
    )
    .await;
    let http = client(&ca, Some(&mine));
    let (status, body) = token(&http, &base, "self-app").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = access_token(&body);
    assert_eq!(
        jwt_parts(&at).1["cnf"]["x5t#S256"],
        json!(mine.thumbprint())
    );
    assert_eq!(userinfo(&http, &base, &at, None).await, 200);

    // Another self-signed certificate, even for the same name, is not the client.
    let impostor = Cert::new(None, "self");
    let (status, _) = token(&client(&ca, Some(&impostor)), &base, "self-app").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        userinfo(&client(&ca, Some(&impostor)), &base, &at, None).await,
        401
    );
    // tls_client_auth never takes a certificate outside the client CA.
    register(
        &server,
        "pki-self",
        "tls_client_auth",
        json!({"tlsClientAuth": {"subjectDn": "CN=self,O=Example"}}),
    )
    .await;
    let (status, _) = token(&http, &base, "pki-self").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The registration rules: certificates in jwks, no secret.
    let res = server
        .ops_post(
            common::CLIENTS,
            json!({"client_id": "no-x5c", "clientType": "CONFIDENTIAL",
                "tokenEndpointAuthMethod": "self_signed_tls_client_auth",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": mine.jwk()["x"], "y": mine.jwk()["y"]}]}}),
        )
        .await;
    assert!(res
        .expect_api_error(StatusCode::BAD_REQUEST)
        .contains("x5c"));
    let res = server
        .ops_post(
            common::CLIENTS,
            json!({"client_id": "no-name", "clientType": "CONFIDENTIAL",
                "tokenEndpointAuthMethod": "tls_client_auth"}),
        )
        .await;
    assert!(res
        .expect_api_error(StatusCode::BAD_REQUEST)
        .contains("tlsClientAuth"));
}

#[tokio::test]
async fn certificate_header_counts_only_from_a_trusted_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let mine = Cert::new(Some(&ca), "proxied");
    let name = json!({"tlsClientAuth": {"subjectDn": "CN=proxied,O=Example"}});
    let http = reqwest::Client::new();

    // Behind a proxy on loopback: its header is the client's certificate.
    let (trusting, base) = server(dir.path(), &ca, false, "127.0.0.1").await;
    register(&trusting, "proxied", "tls_client_auth", name.clone()).await;
    let (status, body) = token_with(&http, &base, "proxied", Some(&mine)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = access_token(&body);
    assert_eq!(
        jwt_parts(&at).1["cnf"]["x5t#S256"],
        json!(mine.thumbprint())
    );
    assert_eq!(userinfo(&http, &base, &at, Some(&mine)).await, 200);
    let other = Cert::new(Some(&ca), "proxied");
    assert_eq!(userinfo(&http, &base, &at, Some(&other)).await, 401);
    assert_eq!(userinfo(&http, &base, &at, None).await, 401);

    // The same header from an address that is not a trusted proxy is ignored.
    let dir = tempfile::tempdir().expect("tempdir");
    let (wary, base) = server(dir.path(), &ca, false, "10.9.9.9").await;
    register(&wary, "proxied", "tls_client_auth", name).await;
    let (status, body) = token_with(&http, &base, "proxied", Some(&mine)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn discovery_lists_mtls_methods_only_when_certificates_can_arrive() {
    let meta = TestServer::new()
        .await
        .get("/.well-known/openid-configuration")
        .await
        .json();
    let methods = meta["token_endpoint_auth_methods_supported"].to_string();
    assert!(!methods.contains("tls_client_auth"), "{methods}");
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], false);
}
