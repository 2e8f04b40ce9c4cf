//! Starting a SAML sign-in: the signed AuthnRequest in the IdP's binding,
//! and the pieces the other SAML endpoints share (refusals, the HTTP-POST
//! hand-off page, the flight record).

use axum::http::{header, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::ContactCenter;

use crate::web::browser::page::{self, Lang, Tr};
use crate::web::browser::sso::flight;
use tollgate_core::federation::saml::authn_request::{Outgoing, Requester};
use tollgate_core::federation::saml::metadata::{acs_url, entity_id};
use tollgate_core::federation::saml::provider::provider;
use tollgate_core::federation::saml::{authn_request, keys};
use tollgate_core::services::Services;

/// What the ACS needs of the AuthnRequest it answers.
#[derive(Serialize, Deserialize)]
pub struct Flight {
    pub contact_center_id: String,
    /// The AuthnRequest `ID`: the only accepted `InResponseTo`.
    pub request_id: String,
    /// The pending authorization request to continue.
    pub request: Option<String>,
}

/// A refusal: audited as `sso.refused` with its reason, shown as an error page.
pub fn refuse(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    cc: Option<&str>,
    status: StatusCode,
    reason: &str,
) -> Response {
    state
        .audit("sso.refused")
        .contact_center(cc)
        .ip(ip)
        .detail(json!({"protocol": "saml", "reason": reason}))
        .record();
    page::error_page(state, lang, status, Tr::new(lang).get("sso_invalid_answer"))
}

/// The HTTP-POST binding: a page whose script posts `field` (`SAMLRequest`
/// or `SAMLResponse`) and `RelayState` to `action`.
pub fn post_page(
    lang: Lang,
    action: String,
    field: &'static str,
    message: String,
    relay_state: String,
) -> Response {
    page::auto_post(
        lang,
        "sso_redirect_title",
        ("sso_redirect_message", "sso_redirect_continue"),
        action,
        vec![
            (field.to_string(), message),
            ("RelayState".into(), relay_state),
        ],
    )
}

/// `sso::start` for `auth: saml`: the signed AuthnRequest to the contact
/// center's IdP, in its binding. Either way the browser leaves from a small
/// page (a redirect answering the sign-in form would break the sign-in
/// page's `form-action`): an auto-submitted form for HTTP-POST, a refresh
/// to the signed URL for HTTP-Redirect. `RelayState` is a random key of the
/// flight record, never the pending request's id.
pub async fn start(
    state: &Services,
    lang: Lang,
    cc: &ContactCenter,
    request: Option<&str>,
) -> Response {
    let t = Tr::new(lang);
    let provider = match provider(state, &cc.id).await {
        Ok(Some(p)) => p,
        Ok(None) => return crate::web::browser::sso::not_configured(state, lang),
        Err(_) => return page::unavailable(state, lang),
    };
    let Some(sp_key) = provider.config.sp_keys.first() else {
        return crate::web::browser::sso::not_configured(state, lang);
    };
    let (Ok(key), Ok(certificate_der)) = (keys::private_key(sp_key), keys::certificate_der(sp_key))
    else {
        tracing::error!(contact_center = %cc.id, "unreadable SP key pair");
        return page::unavailable(state, lang);
    };
    let issuer = &state.settings.issuer;
    let entity_id = entity_id(issuer, &cc.id);
    let acs_url = acs_url(issuer, &cc.id);
    let requester = Requester {
        entity_id: &entity_id,
        acs_url: &acs_url,
        key: &key,
        certificate_der,
    };
    let request_id = authn_request::new_id();
    let relay_state = tollgate_core::tokens::random_token();
    let outgoing = match authn_request::build(
        &provider.idp,
        provider.config.binding,
        &requester,
        &request_id,
        &relay_state,
    ) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, contact_center = %cc.id, "cannot build the AuthnRequest");
            return crate::web::browser::sso::not_configured(state, lang);
        }
    };
    let record = Flight {
        contact_center_id: cc.id.clone(),
        request_id: request_id.clone(),
        request: request.map(str::to_string),
    };
    let cookie = match flight::save(state, flight::SAML, &relay_state, &record).await {
        Ok(c) => c,
        Err(_) => return page::unavailable(state, lang),
    };
    state.audit("sso.started").contact_center(&cc.id).detail(json!({"protocol": "saml", "provider": provider.idp.entity_id, "requestId": request_id})).record();
    let mut res = match outgoing {
        Outgoing::Post {
            action,
            saml_request,
            relay_state,
        } => post_page(lang, action, "SAMLRequest", saml_request, relay_state),
        Outgoing::Redirect { url } => page::html(
            StatusCode::OK,
            &crate::web::browser::pages::SsoRedirect {
                t,
                title: "sso_redirect_title",
                notice: None,
                error: None,
                location: url,
            },
            None,
            vec![],
        ),
    };
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
