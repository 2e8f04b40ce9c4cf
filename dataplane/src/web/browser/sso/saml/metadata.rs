//! `GET /auth/v3/sso/saml/{contactCenterId}/metadata`: the SP's metadata.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_store::model::AuthScheme;

use tollgate_core::federation::saml::metadata::document;
use tollgate_core::services::AppState;

/// `GET /auth/v3/sso/saml/{contactCenterId}/metadata`: the SP metadata of a
/// SAML contact center, for its IdP administrator. 404 for any other.
#[utoipa::path(get, path = "/auth/v3/sso/saml/{contact_center_id}/metadata", tag = "sso",
    params(("contact_center_id" = String, Path)),
    security(()),
    responses(
        (status = 200, description = "SAML 2.0 metadata of the service provider", content_type = "application/samlmetadata+xml", body = String),
        (status = 404, description = "Not a SAML contact center", content_type = "text/plain", body = String),
        (status = 503, content_type = "text/plain", body = String)))]
pub async fn get(State(state): State<AppState>, Path(cc): Path<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no SAML service provider here").into_response();
    let config = match (
        state.db.get_contact_center(&cc).await,
        state.db.get_saml_provider(&cc).await,
    ) {
        (Ok(Some(c)), Ok(Some(config))) if c.auth == AuthScheme::Saml => config,
        (Ok(_), Ok(_)) => return not_found(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot read the SAML settings");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response();
        }
    };
    match document(&state.settings.issuer, &config) {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, contact_center = %cc, "cannot write the SP metadata");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()
        }
    }
}
