//! `GET /callback` in `tollgate dev` only: the demo client's redirect URI.
//! It redeems the code as the client's back end would and shows what came
//! back (the token response and the decoded claims), so a newcomer's first
//! browser sign-in ends somewhere useful. Never mounted by `serve`.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use tollgate_store::model::now;

use crate::web::browser::page::html;
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::oauth::grants::authorization_code::{self, code_key, CodeRecord};
use tollgate_core::services::{AppState, Services};

/// Where `tollgate dev`'s demo client is sent back to.
pub const PATH: &str = "/callback";

#[derive(Template)]
#[template(path = "dev_callback.html")]
struct Page {
    exchange: String,
    error: Option<String>,
    response: Option<String>,
    access_claims: Option<String>,
    id_claims: Option<String>,
    again: String,
}

/// The authorization request that ends on this page (the dev banner prints it).
pub fn start_url(base: &str, client_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("scope", "openid profile email"),
            ("state", "dev"),
            ("redirect_uri", &format!("{base}{PATH}")),
        ])
        .finish();
    format!("{base}/auth/v3/oauth/authorize?{query}")
}

pub async fn callback(
    State(state): State<AppState>,
    axum::Extension(DemoClient(client_id)): axum::Extension<DemoClient>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = OAuthForm::parse(query.as_deref().unwrap_or("").as_bytes()).unwrap_or_default();
    let base = state.settings.issuer.trim_end_matches('/');
    let mut page = Page {
        exchange: exchange_command(base, &client_id, q.get("code").unwrap_or("…")),
        error: None,
        response: None,
        access_claims: None,
        id_claims: None,
        again: start_url(base, &client_id),
    };
    match redeem(&state, &client_id, &q, base).await {
        Ok(tokens) => {
            page.access_claims = claims_of(tokens["access_token"].as_str());
            page.id_claims = claims_of(tokens["id_token"].as_str());
            page.response = serde_json::to_string_pretty(&tokens).ok();
        }
        Err(why) => page.error = Some(why),
    }
    html(StatusCode::OK, &page, None, vec![])
}

/// The demo client's id, for the page to act as that client.
#[derive(Clone)]
pub struct DemoClient(pub String);

async fn redeem(
    state: &Services,
    client_id: &str,
    q: &OAuthForm,
    base: &str,
) -> Result<Value, String> {
    if let Some(error) = q.get("error") {
        return Err(format!(
            "{error}: {}",
            q.get("error_description").unwrap_or("")
        ));
    }
    let code = q.get("code").ok_or("no code in the redirect")?;
    // Other clients of this process may use the same redirect URI: their
    // codes are theirs to redeem, so only look at them.
    let record = state
        .ephemeral
        .get(&code_key(code))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|bytes| serde_json::from_slice::<CodeRecord>(&bytes).ok());
    if let Some(other) = record.filter(|r| r.client_id != client_id) {
        return Err(format!(
            "this code is for the client '{}', which redeems it itself",
            other.client_id
        ));
    }
    let client = state.client(client_id).ok_or("the demo client is gone")?;
    let mut form = OAuthForm::default();
    form.0.insert("code".into(), code.into());
    form.0
        .insert("redirect_uri".into(), format!("{base}{PATH}"));
    let tokens = authorization_code::grant(state, &client, &form, None, now(), &Default::default())
        .await
        .map_err(|e| format!("{}: {}", e.code, e.description))?;
    serde_json::to_value(&tokens).map_err(|e| e.to_string())
}

fn exchange_command(base: &str, client_id: &str, code: &str) -> String {
    format!(
        "curl -s -u '{client_id}:CLIENT_SECRET' -d grant_type=authorization_code \\\n  \
         -d code='{code}' --data-urlencode 'redirect_uri={base}{PATH}' \\\n  \
         {base}/auth/v3/oauth/token"
    )
}

/// A JWT's payload, pretty-printed (already verified: this server signed it).
fn claims_of(jwt: Option<&str>) -> Option<String> {
    let payload = jwt?.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&claims).ok()
}
