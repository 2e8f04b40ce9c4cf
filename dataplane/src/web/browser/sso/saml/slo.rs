//! `GET|POST /auth/v3/sso/saml/{cc}/slo`: single logout (SAML profiles
//! §4.4). Every message must be signed by the IdP: in the HTTP-Redirect
//! binding by the query signature (bindings §3.4.4.1), in the HTTP-POST
//! binding by an enveloped XML signature that libxmlsec1 checks (only the
//! signed content is read). An IdP's LogoutRequest ends every Tollgate
//! browser session of its NameID (and SessionIndex) in the contact center
//! and is answered by a signed LogoutResponse to the IdP's
//! SingleLogoutService; a LogoutResponse ends an SP-initiated logout
//! ([`crate::web::browser::sso::saml::sp_logout`]). Signatures and bindings are in
//! [`tollgate_core::federation::saml::logout_binding`], reading and checking the message in
//! [`tollgate_core::federation::saml::logout_message`].

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::schema::{Issuer, LogoutResponse, Status, StatusCode as SamlStatusCode};
use samael::traits::ToXml;
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::AuthScheme;

use crate::web::browser::page::{self, Lang};
use crate::web::browser::sso::saml::{acs::decode, post_page, refuse};
use crate::web::client_ip::ClientIp;
use tollgate_core::federation::saml::logout_binding::{
    idp_certificates, idp_slo_service, redirect_url, sign_enveloped, verify_enveloped, verify_query,
};
use tollgate_core::federation::saml::logout_message::{check, parse, Kind, Message};
use tollgate_core::federation::saml::metadata::slo_url;
use tollgate_core::federation::saml::provider::{provider, Provider};
use tollgate_core::federation::saml::verify::Refusal;
use tollgate_core::federation::saml::{authn_request, keys, metadata};
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions::{self, SESSION_COOKIE};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// The HTTP-POST binding's form: a LogoutRequest or a LogoutResponse.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A message as it arrived, before its signature is checked.
enum Incoming {
    /// The raw (still percent-encoded) query of the HTTP-Redirect binding.
    Redirect(String),
    /// The HTTP-POST binding's form.
    Post(SloForm),
}

#[utoipa::path(get, path = "/auth/v3/sso/saml/{contact_center_id}/slo", tag = "sso",
    params(("contact_center_id" = String, Path), ("SAMLRequest" = Option<String>, Query),
        ("SAMLResponse" = Option<String>, Query), ("RelayState" = Option<String>, Query),
        ("SigAlg" = Option<String>, Query), ("Signature" = Option<String>, Query)),
    security(()),
    responses(
        (status = 200, description = "The LogoutResponse, posted back by the page", content_type = "text/html", body = String),
        (status = 302, description = "The LogoutResponse (HTTP-Redirect binding), or on after our own request"),
        (status = 303, description = "Signed out: to the signed-out page"),
        (status = 400, content_type = "text/html", body = String),
        (status = 403, description = "A message not signed by the identity provider", content_type = "text/html", body = String),
        (status = 404, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String)))]
pub async fn redirect_binding(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(cc_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let incoming = Incoming::Redirect(query.unwrap_or_default());
    handle(&state, &headers, ip.as_deref(), &cc_id, incoming).await
}

#[utoipa::path(post, path = "/auth/v3/sso/saml/{contact_center_id}/slo", tag = "sso",
    params(("contact_center_id" = String, Path)),
    request_body(content = SloForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "The LogoutResponse, posted back by the page", content_type = "text/html", body = String),
        (status = 302, description = "The LogoutResponse (HTTP-Redirect binding), or on after our own request"),
        (status = 303, description = "Signed out: to the signed-out page"),
        (status = 400, content_type = "text/html", body = String),
        (status = 403, description = "A message not signed by the identity provider", content_type = "text/html", body = String),
        (status = 404, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String)))]
pub async fn post_binding(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(cc_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Response {
    handle(
        &state,
        &headers,
        ip.as_deref(),
        &cc_id,
        Incoming::Post(form),
    )
    .await
}

async fn handle(
    state: &Services,
    headers: &HeaderMap,
    ip: Option<&str>,
    cc_id: &str,
    incoming: Incoming,
) -> Response {
    let lang = Lang::from_headers(headers);
    let refused =
        |status: StatusCode, reason: &str| refuse(state, lang, ip, Some(cc_id), status, reason);
    match state.catalog.contact_center(cc_id) {
        Some(cc) if cc.enabled && cc.auth == AuthScheme::Saml => {}
        // The path names no contact center of ours: not put in the audit trail's field.
        _ => {
            return refuse(
                state,
                lang,
                ip,
                None,
                StatusCode::NOT_FOUND,
                "not a SAML contact center",
            )
        }
    }
    let provider = match provider(state, cc_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return refused(StatusCode::NOT_FOUND, "SAML not configured"),
        Err(_) => return page::unavailable(state, lang),
    };
    let (xml, relay_state) = match verified_xml(&provider.idp, incoming) {
        Ok(v) => v,
        Err(r) => return refused(status_of(&r), r.reason()),
    };
    let message = match checked_message(state, &provider.idp, cc_id, &xml) {
        Ok(m) => m,
        Err(r) => return refused(status_of(&r), r.reason()),
    };
    let request = match message.kind {
        Kind::Request => message,
        Kind::Response => {
            return crate::web::browser::sso::saml::sp_logout::finish(
                state,
                headers,
                ip,
                cc_id,
                &message,
                relay_state,
            )
            .await
        }
    };
    // `check` made sure of both.
    let (Some(name_id), Some(request_id)) = (&request.name_id, &request.id) else {
        return refused(StatusCode::BAD_REQUEST, Refusal::Malformed.reason());
    };
    let ended = match sessions::end_saml(state, cc_id, name_id, &request.session_indexes).await {
        Ok(n) => n,
        Err(_) => return page::unavailable(state, lang),
    };
    state
        .audit("sso.logout")
        .contact_center(cc_id)
        .subject(name_id)
        .ip(ip)
        .detail(json!({"protocol": "saml", "initiator": "idp", "sessions": ended}))
        .record();
    let mut res = answer(state, lang, &provider, cc_id, request_id, relay_state);
    // The browser carrying the IdP's request is the user's: its cookie goes too.
    if let Some(c) = sessions::clear_cookie(state, SESSION_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// The logout message in `xml`, checked: from this IdP, to this contact
/// center's SLO endpoint, in time.
fn checked_message(
    state: &Services,
    idp: &EntityDescriptor,
    cc_id: &str,
    xml: &str,
) -> Result<Message, Refusal> {
    let m = parse(xml)?;
    check(&m, idp, &slo_url(&state.settings.issuer, cc_id), Utc::now())?;
    Ok(m)
}

fn status_of(r: &Refusal) -> StatusCode {
    match r {
        Refusal::Malformed | Refusal::Transform => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The message's XML once its signature by the IdP is verified, and the
/// `RelayState` to give back.
fn verified_xml(
    idp: &EntityDescriptor,
    incoming: Incoming,
) -> Result<(String, Option<String>), Refusal> {
    let certs = idp_certificates(idp)?;
    match incoming {
        Incoming::Redirect(query) => verify_query(&query, &certs),
        Incoming::Post(form) => {
            let xml = match (form.saml_request, form.saml_response) {
                (Some(m), None) | (None, Some(m)) => decode(&m),
                _ => None,
            }
            .ok_or(Refusal::Malformed)?;
            Ok((verify_enveloped(&xml, &certs)?, form.relay_state))
        }
    }
}

/// The signed LogoutResponse (Success) to `request_id`, in the IdP's
/// binding; the signed-out page when the IdP names no SLO service.
fn answer(
    state: &Services,
    lang: Lang,
    provider: &Provider,
    cc_id: &str,
    request_id: &str,
    relay_state: Option<String>,
) -> Response {
    let Some((binding, destination)) = idp_slo_service(&provider.idp, true) else {
        return page::redirect(StatusCode::SEE_OTHER, "/ui/auth/signed-out");
    };
    let key_pair = provider.config.sp_keys.first();
    let (Some(Ok(key)), Some(Ok(certificate_der))) = (
        key_pair.map(keys::private_key),
        key_pair.map(keys::certificate_der),
    ) else {
        tracing::error!(contact_center = cc_id, "unreadable SP key pair");
        return page::unavailable(state, lang);
    };
    let id = authn_request::new_id();
    let mut response = LogoutResponse {
        id: Some(id.clone()),
        in_response_to: Some(request_id.to_string()),
        version: Some("2.0".into()),
        issue_instant: Some(Utc::now()),
        destination: Some(destination.clone()),
        consent: None,
        issuer: Some(Issuer {
            value: Some(metadata::entity_id(&state.settings.issuer, cc_id)),
            ..Issuer::default()
        }),
        signature: None,
        status: Some(Status {
            status_code: SamlStatusCode {
                value: Some(SUCCESS.into()),
            },
            status_message: None,
            status_detail: None,
        }),
    };
    let relay_state = relay_state.unwrap_or_default();
    let built = if binding == HTTP_REDIRECT_BINDING {
        response
            .to_string()
            .map_err(|e| e.to_string())
            .and_then(|xml| redirect_url("SAMLResponse", &xml, &destination, &relay_state, &key))
            .map(|url| page::redirect(StatusCode::SEE_OTHER, &url))
    } else {
        response.signature = Some(authn_request::signature_template(&id, &certificate_der));
        response
            .to_string()
            .map_err(|e| e.to_string())
            .and_then(|xml| sign_enveloped(&xml, &key))
            .map(|message| post_page(lang, destination, "SAMLResponse", message, relay_state))
    };
    built.unwrap_or_else(|e| {
        tracing::error!(error = %e, contact_center = cc_id, "cannot sign the LogoutResponse");
        page::unavailable(state, lang)
    })
}
