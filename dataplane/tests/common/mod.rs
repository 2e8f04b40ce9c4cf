//! Test kit for in-process router tests: every test gets its own server on a
//! fresh SQLite database in a temporary directory, seeded with the demo
//! records, and talks to it through the `Router` with `oneshot` (no sockets).
//!
//! Shared by every test module of the one integration-test binary.
#![allow(dead_code)]

/// Runs scenario functions (each taking a fresh [`TestServer`]) on SQLite and
/// on PostgreSQL: `on_both!(a, b)`; `on_both!(redis: a, b)` gives the second
/// run Redis as its ephemeral store too.
macro_rules! on_both {
    (redis: $($name:ident),* $(,)?) => {
        on_both!(@with postgres_redis, postgres_redis; $($name),*);
    };
    (@with $module:ident, $server:ident; $($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestServer::new().await).await;
                }
            )*
        }
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(s) = super::TestServer::$server(stringify!($name)).await else {
                        return;
                    };
                    super::$name(s).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        on_both!(@with postgres, postgres; $($name),*);
    };
}

pub mod browser;
pub mod cs_sim;

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tollgate::app::config::{CommonArgs, LogFormat, SigningAlgorithm};
use tollgate::app::dev::DemoCredentials;
use tollgate::app::serve::Role;
use tollgate_core::services::AppState;
use tollgate_store::{Cipher, Db, Ephemeral};
use tower::ServiceExt;

pub const ISSUER: &str = "https://auth.tollgate.test";
pub const APP_BASE: &str = "https://app.tollgate.test";
pub const DEMO_CLIENT: &str = "demo-client";
pub const DEMO_SECRET: &str = "demo-client-secret";
pub const DEMO_USER: &str = "agent";
pub const DEMO_PASSWORD: &str = "agent-password";
pub const OPS_USER: &str = "ops";
pub const OPS_PASSWORD: &str = "ops-password";

pub const TOKEN: &str = "/auth/v3/oauth/token";
pub const INTROSPECT: &str = "/auth/v3/oauth/introspect";
pub const REVOKE: &str = "/auth/v3/oauth/revoke";
pub const JWKS: &str = "/auth/v3/jwks";
pub const CLIENTS: &str = "/auth/v3/ops/clients";

/// The settings a test server starts with; tests adjust them before building.
pub fn default_args() -> CommonArgs {
    CommonArgs {
        listen: None,
        management_listen: None,
        tls: Default::default(),
        public_url: Some(ISSUER.into()),
        ops_username: OPS_USER.into(),
        ops_password_hash: None,
        ops_password: Some(OPS_PASSWORD.into()),
        signing_algorithm: SigningAlgorithm::Es256,
        key_rotation_interval: 30 * 86_400,
        key_publish_ahead: 86_400,
        max_token_lifetime: 86_400,
        refresh_family_lifetime: 90 * 86_400,
        audit_retention: 90 * 86_400,
        change_log_retention: 86_400,
        default_contact_center: Some(tollgate::app::dev::DEMO_CONTACT_CENTER.into()),
        session_idle_timeout: 1800,
        session_max_age: 43_200,
        lockout_threshold: 5,
        lockout_duration: 900,
        rate_limit_per_minute: 600,
        trusted_proxies: Vec::new(),
        client_ip_header: tollgate_core::protection::client_ip::ClientIpHeader::XForwardedFor,
        password_min_length: 8,
        password_history: 0,
        min_client_secret_length: tollgate_store::validate::client::MIN_CLIENT_SECRET,
        config_server_ca: None,
        saml_metadata_refresh_interval: 300,
        saml_metadata_ca: None,
        // The tests' providers and directories listen on loopback.
        outbound_allow: tollgate_core::outbound::LOOPBACK
            .iter()
            .map(|s| s.to_string())
            .collect(),
        client_assertion_token_endpoint_audience: false,
        dpop_nonce: false,
        log_format: LogFormat::Text,
        log: "warn".into(),
        otlp_endpoint: None,
        request_timeout: 10,
    }
}

/// How a request authenticates its client at the OAuth endpoints.
#[derive(Clone, Copy, Debug)]
pub enum ClientAuth<'a> {
    /// `Authorization: Basic`.
    Basic(&'a str, &'a str),
    /// `client_id` and `client_secret` in the form.
    Post(&'a str, &'a str),
    /// `client_id` only (public clients).
    Public(&'a str),
    None,
}

/// The demo client over HTTP Basic.
pub const DEMO: ClientAuth<'static> = ClientAuth::Basic(DEMO_CLIENT, DEMO_SECRET);

/// A response with its body read.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts an RFC 6749 §5.2 error response.
    #[track_caller]
    pub fn expect_oauth_error(&self, status: StatusCode, code: &str) -> Value {
        self.expect(status);
        let body = self.json();
        assert_eq!(body["error"], code, "body: {body}");
        assert!(body["error_description"].is_string(), "body: {body}");
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        body
    }

    /// Asserts an envelope error (`{"status":{"code":…,"message":…}}`) and returns its message.
    #[track_caller]
    pub fn expect_api_error(&self, status: StatusCode) -> String {
        self.expect(status);
        let body = self.json();
        assert_eq!(body["status"]["code"], status.as_u16(), "body: {body}");
        body["status"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {body}"))
            .to_string()
    }

    /// Asserts a refused bearer token on an enveloped endpoint: the envelope
    /// error, the OAuth code in `status.detail.error`, the RFC 6750 challenge.
    #[track_caller]
    pub fn expect_bearer_error(&self, status: StatusCode, code: &str) -> String {
        let message = self.expect_api_error(status);
        let body = self.json();
        assert_eq!(body["status"]["detail"]["error"], code, "body: {body}");
        let challenge = self.header(header::WWW_AUTHENTICATE).unwrap_or_default();
        assert!(challenge.contains(code), "WWW-Authenticate: {challenge}");
        message
    }

    /// The token response of a successful token request.
    #[track_caller]
    pub fn tokens(&self) -> Value {
        self.expect(StatusCode::OK);
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        self.json()
    }
}

/// One in-process server with its own database.
pub struct TestServer {
    pub app: Router,
    pub state: AppState,
    pub db: Db,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn new() -> TestServer {
        Self::with_args(default_args()).await
    }

    pub async fn with_args(args: CommonArgs) -> TestServer {
        Self::with_ephemeral(args, Ephemeral::memory()).await
    }

    /// On SQLite, with the given ephemeral store (Redis runs).
    pub async fn with_ephemeral(args: CommonArgs, ephemeral: Ephemeral) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
        Self::on_database(&url, args, dir, ephemeral).await
    }

    /// A server on a fresh database of the PostgreSQL server named by
    /// `TOLLGATE_TEST_POSTGRES_URL` (a superuser URL). `None`, after a note,
    /// when it is not set, unless `TOLLGATE_REQUIRE_SERVICES=1`, which makes
    /// that a failure. The databases are left to the throwaway server.
    pub async fn postgres(test: &str) -> Option<TestServer> {
        Self::postgres_with(test, default_args(), Ephemeral::memory()).await
    }

    /// [`TestServer::postgres`] with settings and an ephemeral store of the test's choice.
    pub async fn postgres_with(
        test: &str,
        args: CommonArgs,
        ephemeral: Ephemeral,
    ) -> Option<TestServer> {
        let url = Self::postgres_database(test).await?;
        Some(Self::on_url(&url, args, ephemeral).await)
    }

    /// A server on the database at `url` (migrated and seeded here).
    pub async fn on_url(url: &str, args: CommonArgs, ephemeral: Ephemeral) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::on_database(url, args, dir, ephemeral).await
    }

    /// The URL of a fresh database on the PostgreSQL server named by
    /// `TOLLGATE_TEST_POSTGRES_URL` (see [`TestServer::postgres`]).
    pub async fn postgres_database(test: &str) -> Option<String> {
        let admin_url = match std::env::var("TOLLGATE_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                assert!(
                    std::env::var("TOLLGATE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                    "TOLLGATE_TEST_POSTGRES_URL is not set, and TOLLGATE_REQUIRE_SERVICES=1 requires \
                     the PostgreSQL router tests to run: source scripts/provision/postgres.sh first"
                );
                eprintln!(
                    "note: TOLLGATE_TEST_POSTGRES_URL is not set; {test} did not run on PostgreSQL"
                );
                return None;
            }
        };
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let short: String = test.chars().take(32).collect();
        let name = format!(
            "tgr_{}_{}_{short}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to TOLLGATE_TEST_POSTGRES_URL: {e}"));
        // Concurrent CREATE DATABASE can trip over the template being in use.
        for attempt in 0.. {
            match sqlx::Executor::execute(
                &mut admin,
                format!("CREATE DATABASE \"{name}\"").as_str(),
            )
            .await
            {
                Ok(_) => break,
                Err(e) if attempt < 10 => {
                    eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => panic!("CREATE DATABASE {name}: {e}"),
            }
        }
        Some(with_database(&admin_url, &name))
    }

    /// Like [`TestServer::postgres`], with Redis (`TOLLGATE_TEST_REDIS_URL`,
    /// when set) as the ephemeral store.
    pub async fn postgres_redis(test: &str) -> Option<TestServer> {
        let ephemeral = match std::env::var("TOLLGATE_TEST_REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => {
                Ephemeral::connect(&tollgate_store::ephemeral::RedisConfig {
                    urls: vec![url],
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("cannot connect to TOLLGATE_TEST_REDIS_URL: {e}"))
            }
            _ => Ephemeral::memory(),
        };
        Self::postgres_with(test, default_args(), ephemeral).await
    }

    async fn on_database(
        url: &str,
        args: CommonArgs,
        dir: tempfile::TempDir,
        ephemeral: Ephemeral,
    ) -> TestServer {
        let db = Db::connect(url, Cipher::new(&[7u8; 32]).expect("cipher"))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let creds = DemoCredentials {
            client_id: DEMO_CLIENT.into(),
            client_secret: DEMO_SECRET.into(),
            username: DEMO_USER.into(),
            password: DEMO_PASSWORD.into(),
            ops_password: OPS_PASSWORD.into(),
        };
        tollgate::app::dev::seed(&db, &creds, APP_BASE)
            .await
            .expect("seed");
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let state = tollgate::app::serve::build(&args, listen, db.clone(), ephemeral)
            .await
            .expect("build");
        let app = tollgate::app::serve::app(state.clone(), Role::All);
        TestServer {
            app,
            state,
            db,
            _dir: dir,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Res {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Res {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    // ---- OAuth endpoints ----------------------------------------------------

    /// POSTs a form to an OAuth endpoint with the given client authentication.
    pub async fn post_form(&self, path: &str, auth: ClientAuth<'_>, form: &[(&str, &str)]) -> Res {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        match auth {
            ClientAuth::Basic(id, secret) => {
                req = req.header(header::AUTHORIZATION, basic(id, secret))
            }
            ClientAuth::Post(id, secret) => {
                fields.extend([("client_id", id), ("client_secret", secret)])
            }
            ClientAuth::Public(id) => fields.push(("client_id", id)),
            ClientAuth::None => {}
        }
        self.send(req.body(Body::from(encode_form(&fields))).expect("request"))
            .await
    }

    pub async fn token(&self, auth: ClientAuth<'_>, form: &[(&str, &str)]) -> Res {
        self.post_form(TOKEN, auth, form).await
    }

    pub async fn introspect(&self, auth: ClientAuth<'_>, token: &str) -> Res {
        self.post_form(INTROSPECT, auth, &[("token", token)]).await
    }

    pub async fn revoke(&self, auth: ClientAuth<'_>, token: &str) -> Res {
        self.post_form(REVOKE, auth, &[("token", token)]).await
    }

    /// `active` of an introspection by the (internal) demo client.
    pub async fn is_active(&self, token: &str) -> bool {
        let res = self.introspect(DEMO, token).await;
        res.expect(StatusCode::OK);
        res.json()["active"].as_bool().expect("active is a boolean")
    }

    /// A client_credentials access token of the demo client.
    pub async fn client_token(&self) -> String {
        let body = self
            .token(DEMO, &[("grant_type", "client_credentials")])
            .await
            .tokens();
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// The demo user's token response from the password grant.
    pub async fn password_tokens(&self, scope: Option<&str>) -> Value {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(DEMO, &form).await.tokens()
    }

    /// The demo user's access token.
    pub async fn user_token(&self) -> String {
        self.password_tokens(None).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    // ---- Bearer endpoints ---------------------------------------------------

    pub async fn bearer(&self, method: Method, path: &str, token: &str) -> Res {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.send(req.body(Body::empty()).expect("request")).await
    }

    /// A JSON request with a bearer token; `data` is wrapped as `{"data": …}`.
    pub async fn bearer_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        data: Option<Value>,
    ) -> Res {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match data {
            Some(d) => Body::from(json!({ "data": d }).to_string()),
            None => Body::empty(),
        };
        self.send(
            req.header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .expect("request"),
        )
        .await
    }

    /// A client_credentials token of another client.
    pub async fn token_of(&self, client_id: &str, secret: &str) -> String {
        let body = self
            .token(
                ClientAuth::Basic(client_id, secret),
                &[("grant_type", "client_credentials")],
            )
            .await
            .tokens();
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    pub async fn jwks(&self) -> Value {
        let res = self.get(JWKS).await;
        res.expect(StatusCode::OK);
        res.json()
    }

    // ---- Ops API --------------------------------------------------------------

    pub async fn ops(&self, method: Method, path: &str, body: Option<Value>) -> Res {
        self.ops_as(
            method,
            path,
            Some((OPS_USER, OPS_PASSWORD)),
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// An ops request with explicit credentials and raw body.
    pub async fn ops_as(
        &self,
        method: Method,
        path: &str,
        creds: Option<(&str, &str)>,
        body: Option<String>,
    ) -> Res {
        let mut req = Request::builder().method(method).uri(path);
        if let Some((u, p)) = creds {
            req = req.header(header::AUTHORIZATION, basic(u, p));
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    pub async fn ops_get(&self, path: &str) -> Res {
        self.ops(Method::GET, path, None).await
    }

    pub async fn ops_post(&self, path: &str, data: Value) -> Res {
        self.ops(Method::POST, path, Some(json!({ "data": data })))
            .await
    }

    pub async fn ops_put(&self, path: &str, data: Value) -> Res {
        self.ops(Method::PUT, path, Some(json!({ "data": data })))
            .await
    }

    pub async fn ops_delete(&self, path: &str) -> Res {
        self.ops(Method::DELETE, path, None).await
    }

    /// Creates a client through the ops API; returns its generated secret, if any.
    pub async fn create_client(&self, data: Value) -> Option<String> {
        let res = self.ops_post(CLIENTS, data).await;
        res.expect(StatusCode::CREATED);
        res.json()["data"]["client_secret"]
            .as_str()
            .map(str::to_string)
    }

    // ---- Token checks ---------------------------------------------------------

    /// Verifies a JWT against the server's JWKS, as a relying party would:
    /// the key by `kid`, the algorithm from the JWK, issuer and audience.
    pub async fn verify_jwt(&self, token: &str, audience: &str) -> Value {
        verify_with_jwks(&self.jwks().await, token, audience)
            .unwrap_or_else(|e| panic!("token does not verify: {e}"))
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A loopback port nobody listens on, for a server started as its own
/// process. Drawn below the kernel's ephemeral range (32768 and up), as the
/// end-to-end suite's `free_port` does: a port the kernel handed out and
/// took back can go to an outgoing connection before the server binds it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each test process starts elsewhere in the range.
    let start = std::process::id().wrapping_mul(7_919);
    loop {
        let port = 20_000 + (start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000);
        let port = u16::try_from(port).expect("below 30000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn basic(id: &str, secret: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{id}:{secret}"))
    ))
    .expect("header")
}

pub fn encode_form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The decoded header and claims of a compact JWS, unverified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || -> Value {
        let part = parts.next().expect("JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

pub fn verify_with_jwks(jwks: &Value, token: &str, audience: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or(format!("kid {kid} is not in the JWKS"))?;
    let alg: jsonwebtoken::Algorithm = jwk["alg"]
        .as_str()
        .ok_or("JWK without alg")?
        .parse()
        .map_err(|e: jsonwebtoken::errors::Error| e.to_string())?;
    if header.alg != alg {
        return Err(format!(
            "header alg {:?} differs from the JWK's {alg:?}",
            header.alg
        ));
    }
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("'{key}' is not a string in {v}"))
}
