//! The client's address, as rate limits, lockouts and the audit trail see it.
//!
//! The socket peer, unless the peer is one of `--trusted-proxies`: then the
//! forwarding header those proxies append to (`--client-ip-header`) is read
//! from the right, skipping trusted hops, and the first address that is not
//! a trusted proxy is the client. Everything left of it was written by the
//! client and is ignored, so a spoofed header gains nothing; a peer that is
//! not trusted is the client whatever its headers say.

use std::net::IpAddr;

use clap::ValueEnum;
use http::HeaderMap;
use ipnet::IpNet;

/// The header the trusted proxies append the address they received from to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    #[value(name = "forwarded")]
    Forwarded,
}

#[derive(Debug, Clone)]
pub struct TrustedProxies {
    pub networks: Vec<IpNet>,
    pub header: ClientIpHeader,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies {
            networks: Vec::new(),
            header: ClientIpHeader::XForwardedFor,
        }
    }
}

/// Parses one `--trusted-proxies` entry: a CIDR block or a single address.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not a CIDR block (10.0.0.0/8) or an IP address"))
}

impl TrustedProxies {
    /// `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in self.hops(headers).iter().rev() {
            // An obfuscated or unknown hop (RFC 7239 §6): nothing to its left can be
            // told apart from the client's own writing; the trusted hop that
            // forwarded it is as far as we know.
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The header's addresses, all of its lines in order, left to right.
    fn hops(&self, headers: &HeaderMap) -> Vec<String> {
        let name = match self.header {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::Forwarded => "forwarded",
        };
        let elements = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        match self.header {
            ClientIpHeader::XForwardedFor => elements.map(|e| e.trim().to_string()).collect(),
            ClientIpHeader::Forwarded => elements
                .map(|e| {
                    e.split(';')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                        .map(|(_, v)| v.trim().trim_matches('"').to_string())
                        .unwrap_or_default()
                })
                .collect(),
        }
    }
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:80`, `2001:db8::1`; `None` for
/// `unknown`, obfuscated identifiers and garbage.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse::<IpAddr>().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn proxies(header: ClientIpHeader, nets: &[&str]) -> TrustedProxies {
        TrustedProxies {
            networks: nets.iter().map(|n| parse_network(n).unwrap()).collect(),
            header,
        }
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let p = proxies(ClientIpHeader::XForwardedFor, &["10.0.0.0/8"]);
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(p.client(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn rightmost_untrusted_address_wins() {
        let p = proxies(ClientIpHeader::XForwardedFor, &["10.0.0.0/8", "192.0.2.1"]);
        // The client forged the first entry; the ingress appended the real one.
        let h = headers(
            "x-forwarded-for",
            &["1.1.1.1, 203.0.113.9", "192.0.2.1, 10.1.2.3"],
        );
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // Only trusted hops: the left-most of them.
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        // Garbage right of a trusted hop: stop at that hop.
        let h = headers("x-forwarded-for", &["203.0.113.9, nonsense"]);
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        // IPv4-mapped IPv6 peers are matched as IPv4.
        assert_eq!(
            p.client(
                ip("::ffff:10.0.0.5"),
                &headers("x-forwarded-for", &["203.0.113.9"])
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_header() {
        let p = proxies(ClientIpHeader::Forwarded, &["10.0.0.0/8"]);
        let h = headers(
            "forwarded",
            &[
                r#"for=1.1.1.1;proto=https, For="[2001:db8:cafe::17]:4711""#,
                "for=10.0.0.9:80;by=x",
            ],
        );
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("2001:db8:cafe::17"));
        // The X-Forwarded-For the client sent is not read in this mode.
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        let h = headers("forwarded", &["for=_hidden, for=203.0.113.4"]);
        assert_eq!(p.client(ip("10.0.0.5"), &h), ip("203.0.113.4"));
    }

    #[test]
    fn networks_parse() {
        assert!(parse_network("10.0.0.0/8").is_ok());
        assert!(parse_network(" 192.0.2.1 ").is_ok());
        assert!(parse_network("2001:db8::/32").is_ok());
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.local").is_err());
    }
}
