//! TLS on the listeners: rustls (aws-lc-rs), TLS 1.2 and 1.3 only, ALPN h2 and
//! http/1.1. The certificate files are read again every few seconds and on
//! SIGHUP; a new pair replaces the old one only if it parses and matches, so
//! a half-written rotation never takes the listener down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::DigitallySignedStruct;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tollgate_core::metrics::Gauge;
use tollgate_core::oauth::mtls::{ClientCert, MtlsSettings};

/// How often the certificate files are checked for a new pair.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of the listeners.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first) of the public listener; enables HTTPS.
    #[arg(long, env = "TOLLGATE_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or RSA) matching --tls-cert-file.
    #[arg(long, env = "TOLLGATE_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates of mutual TLS (RFC 8705): clients are asked (not required) for a
    /// certificate; one chained to these CAs can authenticate a `tls_client_auth` client, and
    /// any certificate a `self_signed_tls_client_auth` client registered.
    #[arg(long, env = "TOLLGATE_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Header in which a `--trusted-proxies` proxy that terminates TLS passes the client's
    /// certificate (URL-encoded PEM as nginx's `$ssl_client_escaped_cert`, or base64 DER).
    /// Ignored on requests from any other address.
    #[arg(long, env = "TOLLGATE_TLS_CLIENT_CERT_HEADER")]
    pub tls_client_cert_header: Option<String>,
    /// Serve the management listener over HTTPS too, with the same certificate.
    #[arg(long, env = "TOLLGATE_MANAGEMENT_TLS")]
    pub management_tls: bool,
}

impl TlsArgs {
    pub fn enabled(&self) -> bool {
        self.tls_cert_file.is_some()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server configuration, or `None` without `--tls-cert-file`. Every
/// problem names the setting it comes from.
pub fn server_config(args: &TlsArgs, expiry: Gauge) -> anyhow::Result<Option<Listening>> {
    let (cert, key) = match (&args.tls_cert_file, &args.tls_key_file) {
        (None, None) => {
            if args.management_tls {
                anyhow::bail!("--management-tls needs --tls-cert-file and --tls-key-file");
            }
            if args.tls_client_ca_file.is_some() && args.tls_client_cert_header.is_none() {
                anyhow::bail!(
                    "--tls-client-ca-file needs --tls-cert-file and --tls-key-file \
                     (or --tls-client-cert-header)"
                );
            }
            return Ok(None);
        }
        (Some(_), None) => anyhow::bail!("--tls-key-file is required with --tls-cert-file"),
        (None, Some(_)) => anyhow::bail!("--tls-cert-file is required with --tls-key-file"),
        (Some(c), Some(k)) => (c.clone(), k.clone()),
    };
    let provider = provider();
    let resolver = Arc::new(ReloadingCert::load(cert, key, provider.clone(), expiry)?);
    resolver.clone().watch();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?;
    let client_ca = args
        .tls_client_ca_file
        .as_deref()
        .map(client_ca)
        .transpose()?;
    let builder = match &client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(Arc::new(AnyClientCert(ca.clone()))),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Listening {
        config: Arc::new(config),
        client_ca,
    }))
}

/// The server side of the public listener's TLS.
#[derive(Clone)]
pub struct Listening {
    pub config: Arc<ServerConfig>,
    /// `--tls-client-ca-file`: whether a client's certificate chains to it.
    pub client_ca: Option<ClientCa>,
}

/// Verifies a client certificate chain against `--tls-client-ca-file`.
pub type ClientCa = Arc<dyn ClientCertVerifier>;

/// The listener's client verifier: asks for a certificate (anonymous clients
/// are still served: they authenticate otherwise) and takes any, chained to
/// the client CA or not, because a `self_signed_tls_client_auth` client's
/// is checked against its registration instead. Whether it chained is
/// worked out per connection ([`client_cert`]). The handshake signature is
/// still verified, so the client proves it holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert(ClientCa);

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The client certificate of a finished handshake, and whether its chain
/// leads to the client CA.
pub fn client_cert(conn: &rustls::ServerConnection, ca: Option<&ClientCa>) -> Option<ClientCert> {
    let (leaf, intermediates) = conn.peer_certificates()?.split_first()?;
    let chained = MtlsSettings {
        ca: ca.cloned(),
        ..Default::default()
    }
    .chained(leaf, intermediates);
    Some(ClientCert::new(leaf, chained))
}

/// Where client certificates come from: the listener with
/// `--tls-client-ca-file`, and the header of `--tls-client-cert-header`.
pub fn mtls_settings(args: &TlsArgs) -> anyhow::Result<MtlsSettings> {
    let header = args
        .tls_client_cert_header
        .as_deref()
        .map(|h| {
            http::HeaderName::try_from(h)
                .map_err(|e| anyhow::anyhow!("--tls-client-cert-header: {e}"))
        })
        .transpose()?;
    Ok(MtlsSettings {
        listener: args.enabled() && args.tls_client_ca_file.is_some(),
        header,
        ca: args
            .tls_client_ca_file
            .as_deref()
            .map(client_ca)
            .transpose()?,
    })
}

/// `--tls-client-ca-file` as a chain verifier.
pub fn client_ca(path: &Path) -> anyhow::Result<ClientCa> {
    let provider = provider();
    let setting = "--tls-client-ca-file";
    let pem = read(path, setting)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| anyhow::anyhow!("{setting}: {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("{setting}: {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("{setting}: {} holds no certificate", path.display());
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| anyhow::anyhow!("{setting}: {e}"))
}

fn read(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{setting}: cannot read {}: {e}", path.display()))
}

/// Parses a certificate chain and its key; fails unless the key matches the
/// leaf certificate.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--tls-cert-file: not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("--tls-cert-file: no certificate in the file");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| anyhow::anyhow!("--tls-key-file: not a PEM private key: {e}"))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow::anyhow!("--tls-key-file: unusable private key: {e}"))?;
    let certified = CertifiedKey::new(chain, key);
    certified.keys_match().map_err(|e| {
        anyhow::anyhow!(
            "--tls-key-file: the key does not match the certificate in --tls-cert-file ({e})"
        )
    })?;
    Ok(certified)
}

/// Serves the current certificate; `watch` swaps in a new one when the files change.
#[derive(Debug)]
struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// When the served certificate expires (unix seconds), for alerts.
    expiry: Gauge,
    /// Digest of the file contents last seen (loaded or refused), so a bad
    /// pair is logged once, not on every check.
    seen: Mutex<[u8; 32]>,
}

impl ReloadingCert {
    fn load(
        cert_path: PathBuf,
        key_path: PathBuf,
        provider: Arc<CryptoProvider>,
        expiry: Gauge,
    ) -> anyhow::Result<Self> {
        let (cert, key) = (
            read(&cert_path, "--tls-cert-file")?,
            read(&key_path, "--tls-key-file")?,
        );
        let key_pair = certified_key(&cert, &key, &provider)?;
        expiry.set(not_after(&key_pair));
        Ok(Self {
            expiry,
            seen: Mutex::new(digest(&cert, &key)),
            cert_path,
            key_path,
            provider,
            current: ArcSwap::from_pointee(key_pair),
        })
    }

    /// Reads the files; replaces the pair if they changed and parse.
    fn reload(&self) {
        let files = read(&self.cert_path, "--tls-cert-file")
            .and_then(|c| Ok((c, read(&self.key_path, "--tls-key-file")?)));
        let (cert, key) = match files {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the current one");
                return;
            }
        };
        let stamp = digest(&cert, &key);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == stamp {
            return;
        }
        *seen = stamp;
        match certified_key(&cert, &key, &self.provider) {
            Ok(pair) => {
                self.expiry.set(not_after(&pair));
                self.current.store(Arc::new(pair));
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the current one")
            }
        }
    }

    /// Checks the files every few seconds and on SIGHUP, for the process's life.
    fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(RELOAD_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hup.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                tokio::select! { _ = tick.tick() => {}, _ = hangup => {} }
                let this = self.clone();
                // File reads and key parsing are blocking work.
                let _ = tokio::task::spawn_blocking(move || this.reload()).await;
            }
        });
    }
}

/// The leaf certificate's end of validity (unix seconds); 0 if it cannot be
/// read, which an expiry alert treats as expired.
fn not_after(pair: &CertifiedKey) -> i64 {
    pair.cert
        .first()
        .and_then(|leaf| x509_parser::parse_x509_certificate(leaf).ok())
        .map_or(0, |(_, cert)| cert.validity().not_after.timestamp())
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(Sha256::digest(cert));
    h.update(Sha256::digest(key));
    h.finalize().into()
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// A listener that hands axum finished TLS connections. Handshakes run in
/// their own tasks so a slow client never holds up the others.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, incoming) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // As axum does: e.g. out of file descriptors; back off.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
