//! `POST /auth/v3/sso/saml/{cc}/acs`: the IdP's Response (HTTP-POST
//! binding). A `RelayState` that keys a flight answers an SP-initiated
//! sign-in of this browser; otherwise the answer is unsolicited
//! (IdP-initiated), accepted only where the contact center's SAML settings
//! allow it (`allowIdpInitiated`), and its `RelayState`, if any, is the
//! `redirectUrl` to land on, honoured only for the contact center's own
//! origins.

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;
use tollgate_store::model::{AuthScheme, ContactCenter};

use crate::web::browser::page::{self, Lang};
use crate::web::browser::sso::saml::{refuse, Flight};
use crate::web::browser::sso::{finish_sign_in, flight};
use crate::web::client_ip::ClientIp;
use tollgate_core::federation::saml::identity::identity;
use tollgate_core::federation::saml::metadata;
use tollgate_core::federation::saml::provider::{check, first_use, provider};
use tollgate_core::federation::saml::verify::Refusal;
use tollgate_core::federation::users::{FederatedIdentity, UnknownUsers};
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions::SamlSession;

/// The HTTP-POST binding's form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// Where an unsolicited answer's `RelayState` may send the browser.
fn is_url(relay_state: &str) -> bool {
    relay_state.starts_with("https://") || relay_state.starts_with("http://")
}

/// The IdP's Response: verified, then the user it vouches for signed in.
#[utoipa::path(post, path = "/auth/v3/sso/saml/{contact_center_id}/acs", tag = "sso",
    params(("contact_center_id" = String, Path)),
    request_body(content = AcsForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 303, description = "Signed in: on to the authorization request, or the RelayState URL"),
        (status = 400, description = "A refused SAML response", content_type = "text/html", body = String),
        (status = 404, content_type = "text/html", body = String), (status = 429, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String)))]
pub async fn acs(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(cc_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AcsForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let ip = ip.as_deref();
    let cc = match state.catalog.contact_center(&cc_id) {
        Some(cc) if cc.enabled && cc.auth == AuthScheme::Saml => cc,
        // The path names no contact center of ours: not put in the audit trail's field.
        _ => {
            return refuse(
                &state,
                lang,
                ip,
                None,
                StatusCode::NOT_FOUND,
                "not a SAML contact center",
            )
        }
    };
    let answer = match verified_answer(&state, &headers, &cc, form).await {
        Ok(answer) => answer,
        Err(Stop::Refused(status, reason)) => {
            return refuse(&state, lang, ip, Some(&cc_id), status, reason)
        }
        Err(Stop::Unavailable) => return page::unavailable(&state, lang),
    };
    let request = answer.solicited.as_ref().and_then(|f| f.request.as_deref());
    let mut res = finish_sign_in(
        &state,
        lang,
        ip,
        &cc,
        &answer.identity,
        answer.unknown,
        request,
        answer.saml,
    )
    .await;
    if let Some(url) = answer.redirect_url.as_deref() {
        land_on(&state, &cc, url, &mut res).await;
    }
    if answer.solicited.is_some() {
        if let Some(c) = flight::clear_cookie(&state, flight::SAML) {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    res
}

/// Why an answer signs no one in.
enum Stop {
    /// Refused (audited): the status and the reason.
    Refused(StatusCode, &'static str),
    /// A backing store cannot answer.
    Unavailable,
}

/// A verified answer: who it vouches for and where the sign-in goes on.
struct Answer {
    identity: FederatedIdentity,
    unknown: UnknownUsers,
    saml: Option<SamlSession>,
    /// The flight of an SP-initiated sign-in.
    solicited: Option<Flight>,
    /// Where an unsolicited answer asks to land.
    redirect_url: Option<String>,
}

/// Checks the Response against the contact center's provider and the
/// flight it answers (if solicited), once only.
async fn verified_answer(
    state: &Services,
    headers: &HeaderMap,
    cc: &ContactCenter,
    form: AcsForm,
) -> Result<Answer, Stop> {
    let provider = match provider(state, &cc.id).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(Stop::Refused(StatusCode::NOT_FOUND, "SAML not configured")),
        Err(_) => return Err(Stop::Unavailable),
    };
    let Some(xml) = form.saml_response.as_deref().and_then(decode) else {
        return Err(Stop::Refused(
            StatusCode::BAD_REQUEST,
            Refusal::Malformed.reason(),
        ));
    };
    let relay_state = form.relay_state.unwrap_or_default();
    let (solicited, redirect_url) = solicitation(state, headers, cc, relay_state).await?;
    // An unsolicited answer proves nothing about this browser having asked
    // to sign in (login CSRF): only where the contact center allows it.
    if solicited.is_none() && !provider.config.allow_idp_initiated {
        return Err(Stop::Refused(
            StatusCode::FORBIDDEN,
            "idp_initiated_not_allowed",
        ));
    }
    let forbidden = |reason| Stop::Refused(StatusCode::FORBIDDEN, reason);
    let recipient = metadata::acs_url(&state.settings.issuer, &cc.id);
    let in_response_to = solicited.as_ref().map(|f| f.request_id.as_str());
    let assertion = check(state, &provider, cc, &xml, &recipient, in_response_to)
        .map_err(|r| forbidden(r.reason()))?;
    match first_use(state, &assertion).await {
        Ok(true) => {}
        Ok(false) => return Err(forbidden("replayed")),
        Err(_) => return Err(Stop::Unavailable),
    }
    let identity = identity(&provider.config, &assertion).map_err(|r| forbidden(r.reason()))?;
    Ok(Answer {
        identity,
        unknown: if provider.config.just_in_time_users {
            UnknownUsers::CreateJustInTime
        } else {
            UnknownUsers::Refuse
        },
        saml: assertion.name_id.clone().map(|name_id| SamlSession {
            name_id,
            name_id_format: assertion.name_id_format.clone(),
            session_index: assertion.session_index.clone(),
        }),
        solicited,
        redirect_url,
    })
}

/// What the `RelayState` says: the flight of this browser's SP-initiated
/// sign-in (taken, single use, before anything is checked), or for an
/// unsolicited answer the URL to land on, if any.
async fn solicitation(
    state: &Services,
    headers: &HeaderMap,
    cc: &ContactCenter,
    relay_state: String,
) -> Result<(Option<Flight>, Option<String>), Stop> {
    if relay_state.is_empty() || is_url(&relay_state) {
        return Ok((None, Some(relay_state).filter(|r| !r.is_empty())));
    }
    match flight::take::<Flight>(state, flight::SAML, &relay_state, headers).await {
        Ok(Ok(f)) if f.contact_center_id == cc.id => Ok((Some(f), None)),
        Ok(Ok(_)) => Err(Stop::Refused(
            StatusCode::BAD_REQUEST,
            "flight of another contact center",
        )),
        Ok(Err(reason)) => Err(Stop::Refused(StatusCode::BAD_REQUEST, reason)),
        Err(_) => Err(Stop::Unavailable),
    }
}

/// The Response as XML: base64 (line breaks tolerated), UTF-8.
pub(super) fn decode(b64: &str) -> Option<String> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Sends an IdP-initiated sign-in on to `url` when the contact center
/// allows it (an allowed CORS origin, or a client's redirect URI origin);
/// otherwise it stays on the signed-in page.
async fn land_on(state: &Services, cc: &ContactCenter, url: &str, res: &mut Response) {
    if res.status() != StatusCode::SEE_OTHER {
        return;
    }
    if !redirect_allowed(state, cc, url).await {
        tracing::info!(contact_center = %cc.id, "IdP-initiated redirectUrl not allowed; signed-in page");
        state
            .audit("sso.redirect_refused")
            .contact_center(&cc.id)
            .detail(serde_json::json!({"protocol": "saml"}))
            .record();
        return;
    }
    if let Ok(v) = HeaderValue::from_str(url) {
        res.headers_mut().insert(header::LOCATION, v);
    }
}

/// An absolute https URL (http for localhost only) whose origin the
/// contact center allows.
pub async fn redirect_allowed(state: &Services, cc: &ContactCenter, url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && local)) {
        return false;
    }
    let Some(origin) = tollgate_core::origins::origin_of(url) else {
        return false;
    };
    if state.catalog.client_origin_for(&cc.id, &origin) {
        return true;
    }
    let cors = match state.db.list_cors_origins(Some(&cc.id)).await {
        Ok(rows) => rows,
        Err(_) => return false,
    };
    let setting = state
        .db
        .list_settings_named(tollgate_core::origins::SETTING)
        .await
        .unwrap_or_default();
    let allowed = cors
        .iter()
        .map(|r| r.origin.as_str())
        .chain(
            setting
                .iter()
                .filter(|s| s.contact_center_id == cc.id)
                .flat_map(|s| tollgate_core::origins::split_list(&s.value)),
        )
        .filter_map(|o| tollgate_core::origins::normalize(o).ok())
        .any(|o| o == origin);
    allowed
}
