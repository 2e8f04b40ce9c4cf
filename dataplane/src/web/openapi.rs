//! What the APIs' OpenAPI documents share: the HTTP security schemes, the
//! committed form of a document (pretty JSON with a final newline; a test
//! keeps each equal to its copy under docs/openapi/) and serving it.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::Modify;

/// `basic` (the operator's or a client's credentials) and `bearer` (an access token).
pub struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as committed: pretty JSON with a final newline.
pub fn render(doc: Document) -> String {
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

pub fn serve(document: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document,
    )
        .into_response()
}
