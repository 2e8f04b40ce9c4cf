//! The signed-in and signed-out pages.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::web::browser::page::{message_page, Lang, Tr};

pub async fn signed_out(headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let t = Tr::new(lang);
    message_page(
        lang,
        StatusCode::OK,
        "signed_out_title",
        None,
        Some(("signed-out", t.get("signed_out").to_string())),
    )
}

pub async fn signed_in(headers: HeaderMap) -> Response {
    let lang = Lang::from_headers(&headers);
    let t = Tr::new(lang);
    message_page(
        lang,
        StatusCode::OK,
        "signed_in_title",
        None,
        Some(("signed-in", t.get("signed_in").to_string())),
    )
}
