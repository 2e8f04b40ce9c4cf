//! Connections to addresses that tenants configure (JWKS URIs, SAML
//! metadata URLs, OpenID issuers, LDAP URLs) never reach loopback,
//! link-local, private or other special-purpose addresses (SSRF), unless
//! `--outbound-allow` lists them (on-premises identity providers).
//!
//! Names are resolved and every address checked before the connection,
//! and the connection goes to a checked address: reqwest clients get
//! [`Resolver`] as their DNS resolver, LDAP connects to what [`Policy::resolve`]
//! returned. So a name that resolves to a public address when checked and
//! to an internal one when connecting (DNS rebinding) gets nowhere.
//! Refusals and connection failures reach the tenant as one generic
//! message; the details go to the log.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;

/// What the tenant sees when a URL is refused or cannot be reached.
pub const GENERIC: &str = "cannot be reached from this service (the reason is in its log)";

/// Special-purpose addresses (RFC 6890 and successors) refused unless allowed.
const DENIED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Loopback, which `tollgate dev` allows by default.
pub const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128"];

#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0} is a special-purpose address not in --outbound-allow")]
    Address(IpAddr),
    #[error("'{0}' resolves to no address outside the denied ranges")]
    Name(String),
    #[error("'{0}' cannot be resolved: {1}")]
    Resolve(String, std::io::Error),
    #[error("'{0}' is not a URL with a host")]
    Url(String),
}

/// The allow list over the built-in deny list.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    nets: Vec<IpNet>,
    /// Host names allowed whatever they resolve to (lower case).
    hosts: Vec<String>,
}

impl Policy {
    /// From `--outbound-allow` entries: CIDRs, addresses or host names.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Policy, String> {
        let mut p = Policy::default();
        for e in entries
            .iter()
            .map(|e| e.as_ref().trim())
            .filter(|e| !e.is_empty())
        {
            if let Ok(net) = e.parse::<IpNet>() {
                p.nets.push(net);
            } else if let Ok(ip) = e.parse::<IpAddr>() {
                p.nets.push(IpNet::from(ip));
            } else if e.contains('/') || e.contains(':') {
                return Err(format!(
                    "'{e}' is neither a CIDR, an address nor a host name"
                ));
            } else {
                p.hosts.push(e.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        Ok(p)
    }

    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !denied(ip) || self.nets.iter().any(|n| n.contains(&ip))
    }

    fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// The allowed addresses of `host:port` (an address literal or a name).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return if self.allows(ip) {
                Ok(vec![SocketAddr::new(ip, port)])
            } else {
                Err(Refused::Address(ip))
            };
        }
        let found = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| Refused::Resolve(bare.to_string(), e))?;
        let by_name = self.allows_name(bare);
        let allowed: Vec<SocketAddr> = found.filter(|a| by_name || self.allows(a.ip())).collect();
        if allowed.is_empty() {
            return Err(Refused::Name(bare.to_string()));
        }
        Ok(allowed)
    }

    /// Checks a URL's host before it is stored or fetched (reqwest resolves
    /// names through [`Resolver`], but connects to address literals directly).
    pub async fn check_url(&self, url: &str) -> Result<(), Refused> {
        let parsed = url::Url::parse(url).map_err(|_| Refused::Url(url.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| Refused::Url(url.to_string()))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        self.resolve(host, port).await.map(|_| ())
    }

    /// [`Self::check_url`] for a setting a tenant writes: `Err` is the
    /// generic message naming `field`, the reason is logged. A name that
    /// does not resolve (yet) is accepted: nothing connects to it, and each
    /// fetch resolves and checks again.
    pub async fn check_setting(&self, field: &str, url: &str) -> Result<(), String> {
        match self.check_url(url).await {
            Ok(()) | Err(Refused::Resolve(..)) => Ok(()),
            Err(e) => {
                tracing::warn!(field, %url, reason = %e, "outbound URL refused");
                Err(format!("'{field}' {GENERIC}"))
            }
        }
    }
}

/// IPv4-mapped and -compatible IPv6 addresses are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn denied(ip: IpAddr) -> bool {
    if let IpAddr::V6(v6) = ip {
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
        if let Some(v4) = embedded_v4(v6) {
            return denied(IpAddr::V4(v4));
        }
    }
    static NETS: OnceLock<Vec<IpNet>> = OnceLock::new();
    NETS.get_or_init(|| DENIED.iter().filter_map(|n| n.parse().ok()).collect())
        .iter()
        .any(|n| n.contains(&ip))
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// A reqwest DNS resolver that answers only allowed addresses, so the
/// connection goes to an address that was checked.
pub struct Resolver(pub Arc<Policy>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str(), 0).await.map_err(|e| {
                tracing::warn!(reason = %e, "outbound connection refused");
                Box::new(e) as Box<dyn std::error::Error + Send + Sync>
            })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Policy {
    /// A reqwest client builder whose names resolve through this policy.
    pub fn client_builder(self: &Arc<Self>) -> reqwest::ClientBuilder {
        reqwest::Client::builder().dns_resolver(Arc::new(Resolver(self.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ranges_are_denied_and_the_allow_list_opens_them() {
        let p = Policy::default();
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(!p.allows(ip(a)), "{a}");
        }
        for a in ["93.184.215.14", "2606:4700::1111", "8.8.8.8"] {
            assert!(p.allows(ip(a)), "{a}");
        }
        let p = Policy::parse(&["10.0.0.0/8", "::1", "idp.corp.example"]).unwrap();
        assert!(p.allows(ip("10.9.9.9")) && p.allows(ip("::1")));
        assert!(!p.allows(ip("127.0.0.1")));
        assert!(p.allows_name("IDP.corp.example."));
        assert!(Policy::parse(&["10.0.0.0/33"]).is_err());
    }

    #[tokio::test]
    async fn literals_and_names_are_checked() {
        let p = Policy::default();
        assert!(matches!(
            p.check_url("https://169.254.169.254/latest").await,
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            p.check_url("http://[::1]:8080/").await,
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            p.check_url("https://localhost/x").await,
            Err(Refused::Name(_) | Refused::Resolve(..))
        ));
        let p = Policy::parse(LOOPBACK).unwrap();
        assert!(p.check_url("http://127.0.0.1:9/").await.is_ok());
    }
}
