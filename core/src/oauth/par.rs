//! Pushed authorization requests (RFC 9126): a client sends the parameters
//! of an authorization request straight to the server, authenticated as at
//! the token endpoint, and the browser then carries only a `request_uri`
//! referring to them. The parameters never pass through the browser, so
//! they cannot be read or changed there.
//!
//! A pushed request is checked at once, as the authorization endpoint will
//! check it, kept in the ephemeral store for [`PUSHED_TTL`], and used once.

use std::time::Duration;

use serde::Serialize;
use tollgate_store::model::Client;

use crate::oauth::authorize::{check_pushed, Refusal};
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::services::Services;
use crate::tokens;

/// RFC 9126 §2.2: the prefix of every `request_uri` this server hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request waits for the browser (RFC 9126 §2.2 suggests
/// a short lifetime; the browser follows the client's redirect at once).
pub const PUSHED_TTL: Duration = Duration::from_secs(60);

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: u64,
}

fn pushed_key(reference: &str) -> String {
    format!("par:{}", tokens::token_digest(reference))
}

/// Checks and keeps the authorization request `client` pushed. The stored
/// parameters name the client, whether or not the body did.
pub async fn push(
    state: &Services,
    client: &Client,
    form: &OAuthForm,
) -> Result<Pushed, OAuthError> {
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    if form
        .get("client_id")
        .is_some_and(|id| id != client.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id is not the authenticated client",
        ));
    }
    let mut params = form.clone();
    params
        .0
        .insert("client_id".into(), client.client_id.clone());
    // Client authentication is not part of the authorization request.
    for credential in ["client_secret", "client_assertion", "client_assertion_type"] {
        params.0.remove(credential);
    }
    check_pushed(state, client, &params)?;
    let reference = tokens::random_token();
    let bytes = serde_json::to_vec(&params.0).map_err(|_| OAuthError::server_error())?;
    state
        .ephemeral
        .put(&pushed_key(&reference), &bytes, PUSHED_TTL)
        .await?;
    Ok(Pushed {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: PUSHED_TTL.as_secs(),
    })
}

/// The pushed parameters an authorization request refers to with
/// `request_uri`, taken (a request URI works once); `None` when it has no
/// `request_uri` or one this server did not hand out (refused later as
/// unsupported). RFC 9126 §4: the request must name the same client, and
/// only the pushed parameters count.
pub async fn resolve(state: &Services, q: &OAuthForm) -> Result<Option<OAuthForm>, Refusal> {
    let Some(reference) = q
        .get("request_uri")
        .and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX))
    else {
        return Ok(None);
    };
    let gone =
        || Refusal::Page("The pushed authorization request is unknown, used or expired.".into());
    let bytes = state
        .ephemeral
        .take(&pushed_key(reference))
        .await
        .map_err(|_| Refusal::Unavailable)?
        .ok_or_else(gone)?;
    let params: OAuthForm = serde_json::from_slice(&bytes)
        .map(OAuthForm)
        .map_err(|_| gone())?;
    if q.get("client_id") != params.get("client_id") {
        return Err(Refusal::Page(
            "The pushed authorization request belongs to another application.".into(),
        ));
    }
    Ok(Some(params))
}
