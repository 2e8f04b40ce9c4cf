//! The UI's static assets, compiled in: one stylesheet, the script of the
//! SAML HTTP-POST hand-off, and the one that runs WebAuthn ceremonies.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../../static/tollgate.css");
const AUTO_POST: &str = include_str!("../../../static/auto-post.js");
const PASSKEY: &str = include_str!("../../../static/passkey.js");

pub async fn auto_post() -> Response {
    script(AUTO_POST)
}

pub async fn passkey() -> Response {
    script(PASSKEY)
}

fn script(source: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        source,
    )
        .into_response()
}

pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CSS,
    )
        .into_response()
}
