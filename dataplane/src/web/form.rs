//! OAuth request bodies: `application/x-www-form-urlencoded` only, bounded,
//! parsed strictly by [`OAuthForm::parse`].

use axum::extract::{FromRequest, Request};
use axum::http::header;

use tollgate_core::oauth::error::OAuthError;
use tollgate_core::oauth::form::{OAuthForm, MAX_FORM_BYTES};

use crate::web::oauth_error::OAuthResponse;

/// The extractor of an OAuth endpoint's form body.
pub struct OAuthBody(pub OAuthForm);

impl<S: Send + Sync> FromRequest<S> for OAuthBody {
    type Rejection = OAuthResponse;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !is_form {
            return Err(OAuthResponse(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                OAuthError::invalid_request(format!(
                    "the body is unreadable or larger than {MAX_FORM_BYTES} bytes"
                ))
            })?;
        Ok(OAuthBody(OAuthForm::parse(&bytes)?))
    }
}
