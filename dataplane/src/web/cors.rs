//! The CORS layer of the Authentication API, which answers only origins the
//! catalog allows (see [`tollgate_core::origins`]).

use std::time::Duration;

use axum::http::{header, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use tollgate_core::services::AppState;

/// CORS for the Authentication API: preflights are answered and
/// `Access-Control-Allow-Origin` echoes the origin only when the catalog
/// allows it. The check reads memory only, never SQL.
pub fn layer(state: AppState) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|o| state.catalog.origin_allowed(o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(600))
}
