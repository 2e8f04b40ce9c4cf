//! The `DPoP` request header (RFC 9449 §4.1): at most one proof, verified
//! for this request's method and its URL under the public base URL.

use axum::http::{HeaderMap, Method};
use tollgate_store::model::now;

use tollgate_core::oauth::dpop::{self, Expect, Proof};
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::Services;

/// The request's proof, verified; `None` without a `DPoP` header.
pub async fn proof(
    state: &Services,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_dpop_proof("more than one DPoP header"));
    }
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_dpop_proof("the DPoP header is not ASCII"))?;
    let url = format!("{}{path}", state.settings.issuer);
    let expect = Expect {
        method: method.as_str(),
        url: &url,
        access_token,
    };
    dpop::verify(state, value, expect, now()).await.map(Some)
}
