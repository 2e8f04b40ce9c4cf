//! HTTPS on the real listeners: handshake and ALPN with a test CA, certificate
//! rotation while a client keeps requesting, and refusal of a bad pair at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tollgate::app::serve::Role;
use tollgate::app::tls::TlsArgs;

use crate::common;

/// A test CA that signs `localhost` certificates.
pub(crate) struct TestCa {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA");
        TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for localhost and 127.0.0.1: (cert PEM, key PEM, cert DER).
    pub(crate) fn leaf(&self) -> (String, String, Vec<u8>) {
        self.leaf_until(2030)
    }

    /// As [`TestCa::leaf`], valid until the first of January of `year`.
    fn leaf_until(&self, year: i32) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    // Write beside and rename, as a rotation does, so no read sees half a file.
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

fn tls_args(dir: &Path) -> TlsArgs {
    TlsArgs {
        tls_cert_file: Some(dir.join("tls.crt")),
        tls_key_file: Some(dir.join("tls.key")),
        tls_client_ca_file: None,
        tls_client_cert_header: None,
        management_tls: true,
    }
}

/// Starts the real listeners on ephemeral ports; (public, management).
pub(crate) async fn start(
    server: &common::TestServer,
    tls: TlsArgs,
) -> anyhow::Result<(SocketAddr, SocketAddr)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let state = server.state.clone();
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let task = tokio::spawn(async move {
        let app = tollgate::app::serve::app(state.clone(), Role::All);
        tollgate::app::serve::run(state, app, any, any, &tls, move |p, m| {
            let _ = tx.send((p, m));
        })
        .await
    });
    match rx.await {
        Ok(addrs) => Ok(addrs),
        Err(_) => Err(task
            .await
            .expect("server task")
            .expect_err("stopped without error")),
    }
}

/// A client with its own TLS session cache: a resumed session would report
/// the certificate of the session it resumes, not the one served now.
fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA")])
        .tls_info(true)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The certificate a new client (full handshake) is served.
async fn fresh_cert(ca_pem: &str, url: &str) -> Result<Vec<u8>, String> {
    served_cert(&https_client(ca_pem), url).await
}

/// The leaf certificate the server presents, with the negotiated ALPN protocol.
async fn handshake(addr: SocketAddr, ca: &CertificateDer<'static>) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    let (_, conn) = tls.get_ref();
    let leaf = conn.peer_certificates().expect("certificates")[0].to_vec();
    (leaf, conn.alpn_protocol().map(<[u8]>::to_vec))
}

async fn served_cert(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let res = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "no TLS info".into())
}

#[tokio::test]
async fn https_handshake_negotiates_h2_on_both_listeners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (cert, key, der) = ca.leaf();
    write(dir.path(), "tls.crt", &cert);
    write(dir.path(), "tls.key", &key);
    let server = common::TestServer::new().await;
    let (public, mgmt) = start(&server, tls_args(dir.path())).await.expect("start");

    let (leaf, alpn) = handshake(public, &ca.der).await;
    assert_eq!(leaf, der);
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (_, alpn) = handshake(mgmt, &ca.der).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    let client = https_client(&ca.pem);
    let url = format!(
        "https://localhost:{}/.well-known/openid-configuration",
        public.port()
    );
    assert_eq!(served_cert(&client, &url).await, Ok(der.clone()));
    let health = format!("https://localhost:{}/health/live", mgmt.port());
    assert_eq!(served_cert(&client, &health).await, Ok(der));
    // Negotiated h2 is spoken too (a listener that chose h2 and answered in
    // HTTP/1.1 failed every client that offers h2: curl, Go, the kubelet).
    for url in [url, health] {
        let res = client.get(&url).send().await.expect("an h2 request");
        assert_eq!(res.version(), reqwest::Version::HTTP_2, "{url}");
        assert!(res.status().is_success(), "{url}: {}", res.status());
    }
}

#[tokio::test]
async fn rotated_certificate_is_served_without_a_failed_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (cert, key, old) = ca.leaf();
    write(dir.path(), "tls.crt", &cert);
    write(dir.path(), "tls.key", &key);
    let server = common::TestServer::new().await;
    let (public, _) = start(&server, tls_args(dir.path())).await.expect("start");
    let url = format!(
        "https://localhost:{}/.well-known/openid-configuration",
        public.port()
    );
    // One client keeps its connection open across the rotation; every other
    // request is a new client with a full handshake.
    let kept = https_client(&ca.pem);
    assert_eq!(served_cert(&kept, &url).await, Ok(old.clone()));

    let expiry = || server.state.metrics.tls_certificate_expiry.get();
    assert_eq!(expiry(), JAN_2030, "the served certificate's expiry");
    let (cert, key, new) = ca.leaf_until(2031);
    // A broken pair first: the old certificate must stay in service.
    write(dir.path(), "tls.crt", &cert);
    let mismatched = ca.leaf().1;
    write(dir.path(), "tls.key", &mismatched);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut requests = 0;
    while Instant::now() < deadline {
        assert_eq!(
            fresh_cert(&ca.pem, &url).await,
            Ok(old.clone()),
            "during a broken rotation"
        );
        assert_eq!(served_cert(&kept, &url).await, Ok(old.clone()));
        requests += 2;
    }
    write(dir.path(), "tls.key", &key);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = fresh_cert(&ca.pem, &url)
            .await
            .expect("every request succeeds");
        served_cert(&kept, &url)
            .await
            .expect("the open connection keeps working");
        requests += 2;
        if served == new {
            break;
        }
        assert_eq!(served, old);
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 10 s"
        );
    }
    assert!(
        requests > 10,
        "the client kept requesting ({requests} requests)"
    );
    let (leaf, _) = handshake(public, &ca.der).await;
    assert_eq!(leaf, new);
    assert_eq!(expiry(), JAN_2031, "the new certificate's expiry");
}

/// 2030-01-01 and 2031-01-01, 00:00 UTC.
const JAN_2030: i64 = 1_893_456_000;
const JAN_2031: i64 = 1_924_992_000;

#[tokio::test]
async fn bad_pair_is_refused_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (cert, _, _) = ca.leaf();
    let (_, other_key, _) = ca.leaf();
    write(dir.path(), "tls.crt", &cert);
    write(dir.path(), "tls.key", &other_key);
    let server = common::TestServer::new().await;
    let err = start(&server, tls_args(dir.path()))
        .await
        .expect_err("mismatched pair");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("--tls-key-file") && msg.contains("does not match"),
        "{msg}"
    );

    std::fs::remove_file(dir.path().join("tls.key")).expect("remove");
    let err = start(&server, tls_args(dir.path()))
        .await
        .expect_err("missing key");
    let msg = format!("{err:#}");
    assert!(msg.contains("--tls-key-file: cannot read"), "{msg}");

    write(dir.path(), "tls.crt", "not a certificate");
    write(dir.path(), "tls.key", &other_key);
    let err = start(&server, tls_args(dir.path()))
        .await
        .expect_err("garbage cert");
    assert!(format!("{err:#}").contains("--tls-cert-file"), "{err:#}");
}

#[tokio::test]
async fn client_certificate_is_requested_not_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let (cert, key, _) = ca.leaf();
    write(dir.path(), "tls.crt", &cert);
    write(dir.path(), "tls.key", &key);
    write(dir.path(), "client-ca.crt", &ca.pem);
    let mut args = tls_args(dir.path());
    args.tls_client_ca_file = Some(dir.path().join("client-ca.crt"));
    let server = common::TestServer::new().await;
    let (public, _) = start(&server, args).await.expect("start");
    // Anonymous clients are still served.
    let url = format!(
        "https://localhost:{}/.well-known/openid-configuration",
        public.port()
    );
    assert!(served_cert(&https_client(&ca.pem), &url).await.is_ok());
    // A client certificate from another CA passes the handshake (a
    // self-signed mutual-TLS client's would not chain either): only client
    // authentication decides what it is worth.
    let stranger = TestCa::new();
    let (c, k, _) = stranger.leaf();
    let identity = reqwest::Identity::from_pem(format!("{c}{k}").as_bytes()).expect("identity");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("CA")])
        .identity(identity)
        .build()
        .expect("client");
    assert!(
        client.get(&url).send().await.is_ok(),
        "a foreign client certificate is taken at the handshake"
    );
}
