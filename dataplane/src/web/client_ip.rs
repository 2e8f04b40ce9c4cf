//! The client's address as rate limits, lockouts and the audit trail see it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use tollgate_core::services::{AppState, Services};

/// The client's address ([`tollgate_core::protection::client_ip`]): for rate limits,
/// lockouts and the audit trail (absent in in-process tests without a peer).
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn of(parts: &Parts, state: &Services) -> Option<String> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(
            state
                .settings
                .trusted_proxies
                .client(peer, &parts.headers)
                .to_string(),
        )
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(ClientIp::of(parts, state)))
    }
}
