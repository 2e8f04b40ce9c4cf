//! Configuration: flags, environment variables (`TOLLGATE_*`) and an optional
//! TOML file, in that order of precedence. Validated at start with a message
//! that names the bad setting.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tollgate_store::ephemeral::MemoryLimits;
use tollgate_store::model::KeyAlgorithm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigningAlgorithm {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<SigningAlgorithm> for KeyAlgorithm {
    fn from(a: SigningAlgorithm) -> Self {
        match a {
            SigningAlgorithm::Es256 => KeyAlgorithm::ES256,
            SigningAlgorithm::Rs256 => KeyAlgorithm::RS256,
            SigningAlgorithm::EdDsa => KeyAlgorithm::EdDSA,
        }
    }
}

/// Settings shared by `dev` and `serve`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address of the public listener (HTTPS with --tls-cert-file).
    #[arg(long, env = "TOLLGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the management listener (health, metrics).
    #[arg(long, env = "TOLLGATE_MANAGEMENT_LISTEN")]
    pub management_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tls: crate::app::tls::TlsArgs,
    /// The URL clients use to reach this service; the token issuer. Defaults to http://LISTEN.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Operator (ops API) user name.
    #[arg(long, env = "TOLLGATE_OPS_USERNAME", default_value = "ops")]
    pub ops_username: String,
    /// Operator password as a bcrypt or argon2 hash (as the original's admin_password).
    #[arg(long, env = "TOLLGATE_OPS_PASSWORD_HASH", hide_env_values = true)]
    pub ops_password_hash: Option<String>,
    /// Operator password in clear (hashed in memory at start).
    #[arg(long, env = "TOLLGATE_OPS_PASSWORD", hide_env_values = true)]
    pub ops_password: Option<String>,
    /// Algorithm of new signing keys.
    #[arg(
        long,
        env = "TOLLGATE_SIGNING_ALGORITHM",
        value_enum,
        default_value = "ES256"
    )]
    pub signing_algorithm: SigningAlgorithm,
    /// How long a signing key signs before the next one takes over (e.g. 30d, 12h).
    #[arg(long, env = "TOLLGATE_KEY_ROTATION_INTERVAL", default_value = "30d", value_parser = parse_duration)]
    pub key_rotation_interval: i64,
    /// How long a new key is published in JWKS before it signs.
    #[arg(long, env = "TOLLGATE_KEY_PUBLISH_AHEAD", default_value = "1d", value_parser = parse_duration)]
    pub key_publish_ahead: i64,
    /// Upper bound on access and ID token lifetimes, whatever a client asks.
    #[arg(long, env = "TOLLGATE_MAX_TOKEN_LIFETIME", default_value = "1d", value_parser = parse_duration)]
    pub max_token_lifetime: i64,
    /// Absolute lifetime of a refresh-token family, however often it rotates.
    #[arg(long, env = "TOLLGATE_REFRESH_FAMILY_LIFETIME", default_value = "90d", value_parser = parse_duration)]
    pub refresh_family_lifetime: i64,
    /// Audit events older than this are deleted from the database (the log keeps its copy).
    #[arg(long, env = "TOLLGATE_AUDIT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub audit_retention: i64,
    /// Change-log rows older than this are deleted. Replicas read the log
    /// every second; one away for longer reloads everything when it returns.
    #[arg(long, env = "TOLLGATE_CHANGE_LOG_RETENTION", default_value = "1d", value_parser = parse_retention)]
    pub change_log_retention: i64,
    /// A request not answered within this is answered 503 with Retry-After.
    #[arg(long, env = "TOLLGATE_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: i64,
    /// Contact center (id or domain) for user names given without `tenant\`.
    #[arg(long, env = "TOLLGATE_DEFAULT_CONTACT_CENTER")]
    pub default_contact_center: Option<String>,
    /// A browser session ends after this long without use.
    #[arg(long, env = "TOLLGATE_SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub session_idle_timeout: i64,
    /// A browser session ends this long after sign-in, however much it is used.
    #[arg(long, env = "TOLLGATE_SESSION_MAX_AGE", default_value = "12h", value_parser = parse_duration)]
    pub session_max_age: i64,
    /// Failed sign-ins of one user name from one client IP that lock it there (10 times this for
    /// the name from all addresses, and for one client IP's failures over all names). Also the
    /// failed operator logins that lock the operator's Basic credentials at one address.
    #[arg(long, env = "TOLLGATE_LOCKOUT_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub lockout_threshold: u32,
    /// How long failures are counted, and a lock lasts.
    #[arg(long, env = "TOLLGATE_LOCKOUT_DURATION", default_value = "15m", value_parser = parse_duration)]
    pub lockout_duration: i64,
    /// Requests per client IP and minute on the token, sign-in and change-password endpoints
    /// (per client id for confidential clients at the token endpoint).
    #[arg(long, env = "TOLLGATE_RATE_LIMIT_PER_MINUTE", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: u32,
    /// Proxies and load balancers (comma-separated CIDR blocks or addresses) whose
    /// forwarding header names the client's address. Empty: the socket peer is the client.
    #[arg(long, env = "TOLLGATE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = tollgate_core::protection::client_ip::parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies append the client's address to.
    #[arg(
        long,
        env = "TOLLGATE_CLIENT_IP_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub client_ip_header: tollgate_core::protection::client_ip::ClientIpHeader,
    /// Shortest password of the built-in directory, in characters (changes and admin resets).
    #[arg(long, env = "TOLLGATE_PASSWORD_MIN_LENGTH", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub password_min_length: u32,
    /// Shortest client secret the ops API accepts. Lower it only while migrating clients
    /// registered with short secrets (the original's samples use `secret`): each client
    /// accepted with a secret under 8 characters is logged and audited (`client.weak_secret`).
    #[arg(long, env = "TOLLGATE_MIN_CLIENT_SECRET_LENGTH", default_value_t = tollgate_store::validate::client::MIN_CLIENT_SECRET, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=256), usize::from))]
    pub min_client_secret_length: usize,
    /// A new built-in password may not repeat the last N, the current one included (0: off).
    #[arg(long, env = "TOLLGATE_PASSWORD_HISTORY", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=25))]
    pub password_history: u32,
    /// CA certificate (PEM file) of the Configuration Servers of `tlsEnabled` environments.
    #[arg(long, env = "TOLLGATE_CONFIG_SERVER_CA")]
    pub config_server_ca: Option<std::path::PathBuf>,
    /// How often the IdP metadata of SAML contact centers configured with
    /// `idpMetadataUrl` is fetched again (e.g. 5m, 1h).
    #[arg(long, env = "TOLLGATE_SAML_METADATA_REFRESH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub saml_metadata_refresh_interval: i64,
    /// Extra CA certificates (PEM file) trusted for IdP metadata URLs, besides the system's.
    #[arg(long, env = "TOLLGATE_SAML_METADATA_CA")]
    pub saml_metadata_ca: Option<std::path::PathBuf>,
    /// Internal addresses that tenant-configured URLs (JWKS, SAML metadata,
    /// OpenID issuers, LDAP) may reach: CIDRs, addresses or host names,
    /// comma-separated (e.g. an on-premises IdP). Loopback, link-local,
    /// private and other special ranges are refused otherwise; `dev` allows
    /// loopback when this is not set.
    #[arg(long, env = "TOLLGATE_OUTBOUND_ALLOW", value_delimiter = ',')]
    pub outbound_allow: Vec<String>,
    /// Also accept the token endpoint URL as the `aud` of client assertions
    /// (private_key_jwt, client_secret_jwt), for clients that follow RFC 7523's
    /// older wording; by default only the issuer identifier is accepted.
    #[arg(long, env = "TOLLGATE_CLIENT_ASSERTION_TOKEN_ENDPOINT_AUDIENCE")]
    pub client_assertion_token_endpoint_audience: bool,
    /// DPoP proofs (RFC 9449) must carry a server nonce: a proof without a current one is
    /// answered `use_dpop_nonce` with a `DPoP-Nonce` header, which every response carries.
    /// Nonces are stateless (all replicas sharing the store key agree) and live 5-10 minutes.
    #[arg(long, env = "TOLLGATE_DPOP_NONCE")]
    pub dpop_nonce: bool,
    /// Log format.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "TOLLGATE_LOG", default_value = "info")]
    pub log: String,
    /// Export traces to this OpenTelemetry collector (OTLP over HTTP, e.g.
    /// `http://otel-collector:4318`); off unless set. A request's W3C
    /// `traceparent` is honoured (and logged) either way.
    #[arg(long, env = "TOLLGATE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Where the durable and ephemeral stores are.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// postgres://… or sqlite:PATH.
    #[arg(long, env = "TOLLGATE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// CA certificate (PEM file) that PostgreSQL's server certificate must chain to: the
    /// connection then verifies it and the host name (`sslmode=verify-full`, unless the URL
    /// names another mode).
    #[arg(long, env = "TOLLGATE_DATABASE_CA_FILE")]
    pub database_ca_file: Option<std::path::PathBuf>,
    /// PostgreSQL connections per process (mind the server's max_connections across replicas).
    #[arg(long, env = "TOLLGATE_DATABASE_MAX_CONNECTIONS", default_value_t = tollgate_store::durable::DEFAULT_POSTGRES_CONNECTIONS)]
    pub database_max_connections: u32,
    /// How long a query waits for a database connection before the request
    /// answers 503: the longest a request hangs while the database is down
    /// (after the first failed probe, queries fail at once until it answers).
    #[arg(long, env = "TOLLGATE_DATABASE_ACQUIRE_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub database_acquire_timeout: i64,
    /// Redis URL(s), comma-separated (redis:// or rediss:// for TLS). Empty: in-process store.
    #[arg(long, env = "TOLLGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Treat the Redis URLs as cluster seed nodes (implied by several URLs).
    #[arg(long, env = "TOLLGATE_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// PEM file of the CA that signed Redis's TLS certificate.
    #[arg(long, env = "TOLLGATE_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// In-process store only (no Redis): most entries it holds (sessions, pending
    /// sign-ins, counters); a write beyond is refused with 503 until entries expire.
    #[arg(long, env = "TOLLGATE_MEMORY_STORE_MAX_ENTRIES", default_value_t = MemoryLimits::default().max_entries)]
    pub memory_store_max_entries: usize,
    /// In-process store only: most bytes (keys, values, bookkeeping) it holds.
    #[arg(long, env = "TOLLGATE_MEMORY_STORE_MAX_BYTES", default_value_t = MemoryLimits::default().max_bytes)]
    pub memory_store_max_bytes: usize,
    /// Key that encrypts secrets at rest: 64 hex digits or base64 of 32 bytes.
    #[arg(long, env = "TOLLGATE_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
}

/// Parses `90`, `90s`, `15m`, `12h`, `30d` into seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 15m, 12h or 30d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("'{s}' must be a positive duration"))
}

/// A change-log retention: at least a minute, so a replica that missed a
/// few polls still finds the rows it has not read.
fn parse_retention(s: &str) -> Result<i64, String> {
    let seconds = parse_duration(s)?;
    if seconds < 60 {
        return Err(format!("'{s}' is shorter than a minute"));
    }
    Ok(seconds)
}

/// Loads `--config FILE` / `TOLLGATE_CONFIG` (TOML, keys as the long flag
/// names) into `TOLLGATE_*` variables that are not already set, so flags and
/// the environment win over the file.
pub fn load_file_into_env(args: &[String]) -> Result<(), String> {
    let path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(str::to_string))
        })
        .or_else(|| std::env::var("TOLLGATE_CONFIG").ok());
    let Some(path) = path else { return Ok(()) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("config file {path}: {e}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {path}: {e}"))?;
    for (key, value) in table {
        let var = format!("TOLLGATE_{}", key.replace('-', "_").to_uppercase());
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "config file {path}: '{key}' must be a string, number or boolean, not {}",
                    other.type_str()
                ))
            }
        };
        if std::env::var_os(&var).is_none() {
            std::env::set_var(var, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn retentions_are_a_minute_or_more() {
        assert_eq!(parse_retention("2m"), Ok(120));
        assert!(parse_retention("30s")
            .unwrap_err()
            .contains("shorter than a minute"));
    }
}
