//! OpenID Connect RP-initiated logout (`end_session_endpoint`) and the
//! original's `auth-scheme` lookup.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::authorize::with_params;
use super::form::OAuthForm;
use super::ClientIp;
use crate::envelope::{self, ApiError};
use crate::sessions::{self, SESSION_COOKIE};
use crate::state::AppState;
use crate::ui::{self, Lang};

/// `GET|POST /auth/v3/end-session`.
pub async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        query.as_deref().unwrap_or("").as_bytes()
    };
    let bad = |m: &str| ui::error_page(&state, lang, StatusCode::BAD_REQUEST, m);
    let Ok(q) = OAuthForm::parse(raw) else {
        return bad("A parameter is repeated.");
    };
    let hinted_client = match q.get("id_token_hint") {
        None => None,
        Some(hint) => {
            let Ok(claims) =
                crate::tokens::verify_id_token_hint(&state.keys, &state.settings.issuer, hint)
            else {
                return bad("id_token_hint is not an ID token of this server.");
            };
            let aud = match &claims["aud"] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(a) => {
                    a.first().and_then(|v| v.as_str()).map(str::to_string)
                }
                _ => None,
            };
            match aud {
                Some(a) => Some(a),
                None => return bad("id_token_hint has no audience."),
            }
        }
    };
    if let (Some(c), Some(h)) = (q.get("client_id"), &hinted_client) {
        if c != h {
            return bad("client_id differs from the id_token_hint's audience.");
        }
    }
    let redirect = match q.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = hinted_client.as_deref().and_then(|c| state.client(c));
            match client {
                Some(c) if c.redirect_uris.iter().any(|r| r == uri) => Some(uri.to_string()),
                Some(_) => {
                    return bad("post_logout_redirect_uri is not registered for this application.")
                }
                None => return bad("post_logout_redirect_uri needs a valid id_token_hint."),
            }
        }
    };
    let ended = sessions::end(&state, &headers).await;
    if let Ok(Some(s)) = &ended {
        state.audit(
            "user.signed_out",
            hinted_client.as_deref(),
            Some(&s.user.contact_center_id),
            Some(&s.user.subject()),
            ip.as_deref(),
            json!({"end_session": true}),
        );
    }
    let ended = ended.ok().flatten();
    let location = match redirect {
        Some(uri) => {
            let params: Vec<(&str, &str)> =
                q.get("state").map(|s| ("state", s)).into_iter().collect();
            if params.is_empty() {
                uri
            } else {
                with_params(&uri, &params, false)
            }
        }
        None => "/ui/auth/signed-out".to_string(),
    };
    // A SAML session's IdP is told too, when it offers single logout.
    let idp_logout = match &ended {
        Some(s) => crate::sso::saml::sp_logout::start(&state, lang, s, &location).await,
        None => None,
    };
    let mut res = idp_logout.unwrap_or_else(|| ui::redirect(StatusCode::SEE_OTHER, &location));
    if let Some(c) = sessions::clear_cookie(&state, SESSION_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[derive(Deserialize)]
struct SchemeBody {
    data: SchemeData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemeData {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `POST /auth/v3/auth-scheme`: `saml` when the user's contact center signs in
/// with SAML, else `basic` (also for unknown tenants, which reveals nothing).
pub async fn auth_scheme(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(SchemeBody { data }) = serde_json::from_slice::<SchemeBody>(&body) else {
        return ApiError::bad_request("the body must be {\"data\":{\"userName\",\"tenant\"}}")
            .into_response();
    };
    let from_name = data
        .user_name
        .as_deref()
        .and_then(|n| n.split_once('\\').map(|(t, _)| t.to_string()));
    let tenant = data.tenant.filter(|t| !t.is_empty()).or(from_name);
    let cc = match tenant {
        Some(t) => state.catalog.contact_center_by_domain(&t),
        None => state
            .settings
            .default_contact_center
            .as_deref()
            .and_then(|id| state.catalog.contact_center(id)),
    };
    let scheme = match cc.map(|c| c.auth) {
        Some(tollgate_store::model::AuthScheme::Saml) => "saml",
        // New beside the original's two: such clients send the user through
        // the sign-in page, which hands off to the OpenID provider.
        Some(tollgate_store::model::AuthScheme::Oidc) => "oidc",
        _ => "basic",
    };
    envelope::ok(json!({ "scheme": scheme }))
}
