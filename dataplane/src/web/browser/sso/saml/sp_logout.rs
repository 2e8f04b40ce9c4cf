//! SP-initiated single logout: when a user whose session came from SAML
//! signs out and the IdP offers a SingleLogoutService, the Tollgate session
//! is already ended; the browser then takes a signed LogoutRequest (NameID,
//! SessionIndex) to the IdP, and the IdP's signed LogoutResponse at
//! `/slo` ([`finish`]) lands it where the sign-out would have gone.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use quick_xml::escape::escape;
use samael::metadata::HTTP_REDIRECT_BINDING;
use samael::traits::ToXml;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::web::browser::page::{self, Lang};
use crate::web::browser::sso::flight;
use crate::web::browser::sso::saml::{post_page, refuse};
use tollgate_core::federation::saml::logout_binding::{
    idp_slo_service, redirect_url, sign_enveloped,
};
use tollgate_core::federation::saml::logout_message::Message;
use tollgate_core::federation::saml::provider::provider;
use tollgate_core::federation::saml::{authn_request, keys, metadata};
use tollgate_core::services::Services;
use tollgate_core::sessions::Session;

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// What the IdP's LogoutResponse needs.
#[derive(Serialize, Deserialize)]
struct LogoutFlight {
    contact_center_id: String,
    /// The LogoutRequest `ID`: the only accepted `InResponseTo`.
    request_id: String,
    /// Where the sign-out would have sent the browser.
    continue_to: String,
}

/// The hand-off to the IdP for the ended `session`, or `None` when it did
/// not come from SAML or the IdP has no SingleLogoutService (local
/// sign-out only). `continue_to` is where the browser goes afterwards.
pub async fn start(
    state: &Services,
    lang: Lang,
    session: &Session,
    continue_to: &str,
) -> Option<Response> {
    let saml = session.saml.as_ref()?;
    let cc = &session.user.contact_center_id;
    let provider = provider(state, cc).await.ok()??;
    let (binding, destination) = idp_slo_service(&provider.idp, false)?;
    let key_pair = provider.config.sp_keys.first()?;
    let (Ok(key), Ok(certificate_der)) =
        (keys::private_key(key_pair), keys::certificate_der(key_pair))
    else {
        tracing::error!(contact_center = %cc, "unreadable SP key pair; local sign-out only");
        return None;
    };
    let id = authn_request::new_id();
    let relay_state = tollgate_core::tokens::random_token();
    let issuer = metadata::entity_id(&state.settings.issuer, cc);
    let built = if binding == HTTP_REDIRECT_BINDING {
        let xml = logout_request(&id, &destination, &issuer, saml, "");
        redirect_url("SAMLRequest", &xml, &destination, &relay_state, &key)
            .map(|url| page::redirect(StatusCode::SEE_OTHER, &url))
    } else {
        authn_request::signature_template(&id, &certificate_der)
            .to_string()
            .map_err(|e| e.to_string())
            .and_then(|signature| {
                sign_enveloped(
                    &logout_request(&id, &destination, &issuer, saml, &signature),
                    &key,
                )
            })
            .map(|message| {
                post_page(
                    lang,
                    destination,
                    "SAMLRequest",
                    message,
                    relay_state.clone(),
                )
            })
    };
    let mut res = match built {
        Ok(res) => res,
        Err(e) => {
            tracing::error!(error = %e, contact_center = %cc, "cannot sign the LogoutRequest; local sign-out only");
            return None;
        }
    };
    let record = LogoutFlight {
        contact_center_id: cc.clone(),
        request_id: id.clone(),
        continue_to: continue_to.to_string(),
    };
    let cookie = flight::save(state, flight::SAML_LOGOUT, &relay_state, &record)
        .await
        .ok()?;
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    state
        .audit("sso.logout_started")
        .contact_center(cc)
        .subject(&session.user.subject())
        .detail(json!({"protocol": "saml", "requestId": id}))
        .record();
    Some(res)
}

/// The LogoutRequest XML, with `signature` (a template, or empty for the
/// query-signed HTTP-Redirect binding) after the Issuer. Written here
/// because samael's type puts SessionIndex before NameID, which the schema
/// (SAML core §3.7.1) orders the other way round.
fn logout_request(
    id: &str,
    destination: &str,
    issuer: &str,
    saml: &tollgate_core::sessions::SamlSession,
    signature: &str,
) -> String {
    let signature = signature
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>"))
        .map_or(signature, |(_, body)| body);
    let format = saml
        .name_id_format
        .as_deref()
        .map(|f| format!(r#" Format="{}""#, escape(f)))
        .unwrap_or_default();
    let index = saml
        .session_index
        .as_deref()
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(i)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{destination}"><saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:NameID{format}>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        destination = escape(destination),
        issuer = escape(issuer),
        name_id = escape(&saml.name_id),
    )
}

/// The IdP's (verified, checked) LogoutResponse: it must answer this
/// browser's LogoutRequest; the browser then goes where the sign-out would
/// have sent it. The Tollgate session ended before the round trip, so a
/// failure status is recorded but changes nothing for the browser.
pub(super) async fn finish(
    state: &Services,
    headers: &HeaderMap,
    ip: Option<&str>,
    cc_id: &str,
    message: &Message,
    relay_state: Option<String>,
) -> Response {
    let lang = Lang::from_headers(headers);
    let refused =
        |status: StatusCode, reason: &str| refuse(state, lang, ip, Some(cc_id), status, reason);
    let Some(relay_state) = relay_state.filter(|r| !r.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "unsolicited LogoutResponse");
    };
    let f = match flight::take::<LogoutFlight>(state, flight::SAML_LOGOUT, &relay_state, headers)
        .await
    {
        Ok(Ok(f)) if f.contact_center_id == cc_id => f,
        Ok(Ok(_)) => return refused(StatusCode::BAD_REQUEST, "flight of another contact center"),
        Ok(Err(reason)) => return refused(StatusCode::BAD_REQUEST, reason),
        Err(_) => return page::unavailable(state, lang),
    };
    if message.in_response_to.as_deref() != Some(f.request_id.as_str()) {
        return refused(StatusCode::FORBIDDEN, "in_response_to");
    }
    let status = message.status.as_deref().unwrap_or("");
    state
        .audit("sso.logout")
        .contact_center(cc_id)
        .ip(ip)
        .detail(json!({"protocol": "saml", "initiator": "sp", "success": status == SUCCESS, "status": status}))
        .record();
    let mut res = page::redirect(StatusCode::SEE_OTHER, &f.continue_to);
    if let Some(c) = flight::clear_cookie(state, flight::SAML_LOGOUT) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
