//! The client certificate of a request (RFC 8705): the one the TLS
//! listener's handshake received, or else the one a trusted proxy passes in
//! `--tls-client-cert-header`. That header from any other peer is ignored,
//! so a client cannot claim a certificate it never proved it holds.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use tollgate_core::oauth::mtls::ClientCert;
use tollgate_core::services::{AppState, Services};

pub struct PeerCert(pub Option<ClientCert>);

impl PeerCert {
    pub fn of(parts: &Parts, state: &Services) -> Option<ClientCert> {
        if let Some(cert) = parts.extensions.get::<ClientCert>() {
            return Some(cert.clone());
        }
        let header = state.settings.mtls.header.as_ref()?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        if !state.settings.trusted_proxies.trusts(peer) {
            return None;
        }
        let value = parts.headers.get(header)?.to_str().ok()?;
        state.settings.mtls.from_header(value)
    }
}

impl FromRequestParts<AppState> for PeerCert {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerCert(PeerCert::of(parts, state)))
    }
}
