//! `GET|POST /auth/v3/sso/saml/{cc}/slo`: single logout (SAML profiles
//! §4.4). Every message must be signed by the IdP: in the HTTP-Redirect
//! binding by the query signature (bindings §3.4.4.1), in the HTTP-POST
//! binding by an enveloped XML signature that libxmlsec1 checks (only the
//! signed content is read). An IdP's LogoutRequest ends every Tollgate
//! browser session of its NameID (and SessionIndex) in the contact center
//! and is answered by a signed LogoutResponse to the IdP's
//! SingleLogoutService; a LogoutResponse ends an SP-initiated logout
//! ([`super::sp_logout`]).

use std::io::{Read, Write};

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use samael::crypto::{sign_url, CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::metadata::{EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING};
use samael::schema::{Issuer, LogoutResponse, Status, StatusCode as SamlStatusCode};
use samael::service_provider::ServiceProvider;
use samael::traits::ToXml;
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::AuthScheme;

use super::verify::{prescan, Refusal, ALGORITHMS, CLOCK_SKEW_SECS, MAX_ISSUE_DELAY_SECS};
use super::{acs::decode, authn_request, keys, metadata, post_page, provider, refuse, Provider};
use crate::auth::ClientIp;
use crate::sessions::{self, SESSION_COOKIE};
use crate::state::{AppState, Services};
use crate::ui::{self, Lang};

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// A deflated request larger than this is not a LogoutRequest.
const MAX_INFLATED: u64 = 256 * 1024;

/// The single logout URL (both bindings).
pub fn slo_url(issuer: &str, contact_center_id: &str) -> String {
    format!("{issuer}/auth/v3/sso/saml/{contact_center_id}/slo")
}

#[derive(Deserialize)]
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
        Err(_) => return ui::unavailable(state, lang),
    };
    let (xml, relay_state) = match verified_xml(&provider.idp, incoming) {
        Ok(v) => v,
        Err(r) => return refused(status_of(&r), r.reason()),
    };
    let message = match parse(&xml).and_then(|m| {
        check(
            &m,
            &provider.idp,
            &slo_url(&state.settings.issuer, cc_id),
            Utc::now(),
        )
        .map(|()| m)
    }) {
        Ok(m) => m,
        Err(r) => return refused(status_of(&r), r.reason()),
    };
    let request = match message.kind {
        Kind::Request => message,
        Kind::Response => {
            return super::sp_logout::finish(state, headers, ip, cc_id, &message, relay_state).await
        }
    };
    // `check` made sure of both.
    let (Some(name_id), Some(request_id)) = (&request.name_id, &request.id) else {
        return refused(StatusCode::BAD_REQUEST, Refusal::Malformed.reason());
    };
    let ended = match sessions::end_saml(state, cc_id, name_id, &request.session_indexes).await {
        Ok(n) => n,
        Err(_) => return ui::unavailable(state, lang),
    };
    state.audit(
        "sso.logout",
        None,
        Some(cc_id),
        Some(name_id),
        ip,
        json!({"protocol": "saml", "initiator": "idp", "sessions": ended}),
    );
    let mut res = answer(state, lang, &provider, cc_id, request_id, relay_state);
    // The browser carrying the IdP's request is the user's: its cookie goes too.
    if let Some(c) = sessions::clear_cookie(state, SESSION_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

fn status_of(r: &Refusal) -> StatusCode {
    match r {
        Refusal::Malformed | Refusal::Transform => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The IdP's signing certificates from its metadata (none: nothing verifies).
fn idp_certificates(idp: &EntityDescriptor) -> Result<Vec<CertificateDer>, Refusal> {
    let sp = ServiceProvider {
        idp_metadata: idp.clone(),
        ..ServiceProvider::default()
    };
    match sp.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => Ok(certs),
        _ => Err(Refusal::NoIdpCertificate),
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

/// HTTP-Redirect binding: the signature covers the query parameters exactly
/// as the IdP encoded them (bindings §3.4.4.1), so the octets signed are
/// taken from the raw query, not re-encoded. RSA with SHA-2 only.
fn verify_query(
    query: &str,
    certs: &[CertificateDer],
) -> Result<(String, Option<String>), Refusal> {
    let mut raw: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if raw.iter().any(|(seen, _)| *seen == k) {
            return Err(Refusal::Malformed);
        }
        raw.push((k, v));
    }
    let get = |k: &str| raw.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (field, message) = match (get("SAMLRequest"), get("SAMLResponse")) {
        (Some(m), None) => ("SAMLRequest", m),
        (None, Some(m)) => ("SAMLResponse", m),
        _ => return Err(Refusal::Malformed),
    };
    let relay_state = get("RelayState");
    let (Some(sig_alg), Some(signature)) = (get("SigAlg"), get("Signature")) else {
        return Err(Refusal::Signature);
    };
    let digest = match unescape(sig_alg).as_str() {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
        _ => return Err(Refusal::Signature),
    };
    let mut signed = format!("{field}={message}");
    if let Some(r) = relay_state {
        signed.push_str(&format!("&RelayState={r}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg}"));
    let signature = base64::engine::general_purpose::STANDARD
        .decode(unescape(signature))
        .map_err(|_| Refusal::Signature)?;
    let valid = certs.iter().any(|cert| {
        let verify = || -> Result<bool, openssl::error::ErrorStack> {
            let key = X509::from_der(cert.der_data())?.public_key()?;
            if key.rsa().is_err() {
                return Ok(false);
            }
            let mut verifier = openssl::sign::Verifier::new(digest, &key)?;
            verifier.update(signed.as_bytes())?;
            verifier.verify(&signature)
        };
        verify().unwrap_or(false)
    });
    if !valid {
        return Err(Refusal::Signature);
    }
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(
            unescape(message)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        )
        .map_err(|_| Refusal::Malformed)?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED)
        .read_to_string(&mut xml)
        .map_err(|_| Refusal::Malformed)?;
    if prescan(&xml)? != 0 {
        return Err(Refusal::Malformed);
    }
    Ok((xml, relay_state.map(unescape)))
}

/// One query value, form-decoded.
fn unescape(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// HTTP-POST binding: libxmlsec1 verifies the enveloped signature with an
/// IdP certificate and returns only the signed content.
fn verify_enveloped(xml: &str, certs: &[CertificateDer]) -> Result<String, Refusal> {
    super::xmlsec_log::install();
    // A logout message carries no assertion; the DOCTYPE and transform
    // checks are the ones the ACS makes.
    if prescan(xml)? != 0 {
        return Err(Refusal::Malformed);
    }
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certs,
        ReduceMode::default(),
        Some(ALGORITHMS),
    )
    .map_err(|_| Refusal::Signature)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum Kind {
    #[default]
    Request,
    Response,
}

/// What Tollgate reads of a logout message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Message {
    pub kind: Kind,
    pub id: Option<String>,
    /// A LogoutResponse's request id.
    pub in_response_to: Option<String>,
    /// A LogoutResponse's top-level status code.
    pub status: Option<String>,
    issuer: Option<String>,
    destination: Option<String>,
    issue_instant: Option<String>,
    not_on_or_after: Option<String>,
    name_id: Option<String>,
    session_indexes: Vec<String>,
}

#[derive(Clone, Copy)]
enum Field {
    Issuer,
    NameId,
    SessionIndex,
}

/// Reads a (verified) LogoutRequest or LogoutResponse. samael's request
/// type reads `SessionIndex` as an attribute (it is an element) and has no
/// `NotOnOrAfter`, so the few fields are read here.
fn parse(xml: &str) -> Result<Message, Refusal> {
    let mut reader = NsReader::from_str(xml);
    let mut m = Message::default();
    let mut depth = 0usize;
    let mut text_of: Option<Field> = None;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::Malformed)?;
        let in_ns = |want: &[u8]| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == want);
        match event {
            Event::DocType(_) => return Err(Refusal::Malformed),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name();
                let attr = |name: &str| -> Result<Option<String>, Refusal> {
                    Ok(e.try_get_attribute(name)
                        .map_err(|_| Refusal::Malformed)?
                        .and_then(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.into_owned())
                        }))
                };
                match (depth, local.as_ref()) {
                    (0, b"LogoutRequest" | b"LogoutResponse") if in_ns(PROTOCOL_NS) => {
                        if local.as_ref() == b"LogoutResponse" {
                            m.kind = Kind::Response;
                            m.in_response_to = attr("InResponseTo")?;
                        }
                        m.id = attr("ID")?;
                        m.destination = attr("Destination")?;
                        m.issue_instant = attr("IssueInstant")?;
                        m.not_on_or_after = attr("NotOnOrAfter")?;
                    }
                    (0, _) => return Err(Refusal::Malformed),
                    (1, b"Issuer") if in_ns(ASSERTION_NS) => text_of = Some(Field::Issuer),
                    (1, b"NameID") if in_ns(ASSERTION_NS) => text_of = Some(Field::NameId),
                    (1, b"SessionIndex") if in_ns(PROTOCOL_NS) => {
                        text_of = Some(Field::SessionIndex)
                    }
                    (2, b"StatusCode") if in_ns(PROTOCOL_NS) && m.status.is_none() => {
                        m.status = attr("Value")?;
                    }
                    _ => {}
                }
                text.clear();
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                } else {
                    text_of = None;
                }
            }
            Event::Text(t) if text_of.is_some() => {
                text.push_str(&t.decode().map_err(|_| Refusal::Malformed)?);
            }
            // Entity and character references come as events of their own.
            Event::GeneralRef(r) if text_of.is_some() => {
                let name = r.decode().map_err(|_| Refusal::Malformed)?;
                let c = match r.resolve_char_ref().map_err(|_| Refusal::Malformed)? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or(Refusal::Malformed)?
                        .to_string(),
                };
                text.push_str(&c);
            }
            Event::End(_) => {
                let value = text.trim().to_string();
                match text_of.take() {
                    Some(Field::Issuer) => m.issuer = Some(value),
                    Some(Field::NameId) => m.name_id = Some(value),
                    Some(Field::SessionIndex) => m.session_indexes.push(value),
                    None => {}
                }
                text.clear();
                depth = depth.saturating_sub(1);
            }
            Event::Eof => return Ok(m),
            _ => {}
        }
    }
}

/// What a logout message must say: from this IdP, to this SLO endpoint,
/// issued moments ago; a request names a user.
fn check(
    m: &Message,
    idp: &EntityDescriptor,
    slo_url: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let names_user = !m.name_id.as_deref().is_none_or(str::is_empty);
    if m.id.is_none() || (m.kind == Kind::Request && !names_user) {
        return Err(Refusal::Malformed);
    }
    if m.issuer.is_none() || m.issuer != idp.entity_id {
        return Err(Refusal::Issuer);
    }
    if m.destination.as_deref() != Some(slo_url) {
        return Err(Refusal::Destination);
    }
    let time = |s: &Option<String>| -> Result<Option<DateTime<Utc>>, Refusal> {
        s.as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Refusal::Malformed)
            })
            .transpose()
    };
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    let issued = time(&m.issue_instant)?.ok_or(Refusal::Malformed)?;
    if issued > now + skew {
        return Err(Refusal::NotYetValid);
    }
    if issued + Duration::seconds(MAX_ISSUE_DELAY_SECS) + skew < now {
        return Err(Refusal::Expired);
    }
    if let Some(until) = time(&m.not_on_or_after)? {
        if until + skew <= now {
            return Err(Refusal::Expired);
        }
    }
    Ok(())
}

/// The IdP's SingleLogoutService: HTTP-Redirect when offered, else
/// HTTP-POST; its `ResponseLocation` (if any) for a response.
pub(super) fn idp_slo_service(
    idp: &EntityDescriptor,
    for_response: bool,
) -> Option<(&'static str, String)> {
    let services: Vec<_> = idp
        .idp_sso_descriptors
        .iter()
        .flatten()
        .flat_map(|d| d.single_logout_services.iter())
        .collect();
    [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
        .into_iter()
        .find_map(|binding| {
            services.iter().find(|s| s.binding == binding).map(|s| {
                let to = match &s.response_location {
                    Some(r) if for_response => r.clone(),
                    _ => s.location.clone(),
                };
                (binding, to)
            })
        })
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
        return ui::redirect(StatusCode::SEE_OTHER, "/ui/auth/signed-out");
    };
    let key_pair = provider.config.sp_keys.first();
    let (Some(Ok(key)), Some(Ok(certificate_der))) = (
        key_pair.map(keys::private_key),
        key_pair.map(keys::certificate_der),
    ) else {
        tracing::error!(contact_center = cc_id, "unreadable SP key pair");
        return ui::unavailable(state, lang);
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
            .map(|url| ui::redirect(StatusCode::SEE_OTHER, &url))
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
        ui::unavailable(state, lang)
    })
}

/// HTTP-POST binding: `xml` (with a signature template) signed by
/// libxmlsec1, base64 for the form.
pub(super) fn sign_enveloped(
    xml: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<String, String> {
    super::xmlsec_log::install();
    let der = key.private_key_to_der().map_err(|e| e.to_string())?;
    let signed = Crypto::sign_xml(xml, &der).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signed))
}

/// HTTP-Redirect binding: the deflated message as `field` and the query
/// signature (RSA-SHA256).
pub(super) fn redirect_url(
    field: &str,
    xml: &str,
    destination: &str,
    relay_state: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<String, String> {
    let mut deflated = Vec::new();
    {
        let mut encoder =
            flate2::write::DeflateEncoder::new(&mut deflated, flate2::Compression::default());
        encoder
            .write_all(xml.as_bytes())
            .map_err(|e| e.to_string())?;
        encoder.finish().map_err(|e| e.to_string())?;
    }
    let mut url = url::Url::parse(destination).map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair(
        field,
        &base64::engine::general_purpose::STANDARD.encode(&deflated),
    );
    if !relay_state.is_empty() {
        url.query_pairs_mut().append_pair("RelayState", relay_state);
    }
    sign_url(url, key)
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" Destination="https://t/slo"><saml:Issuer>https://idp</saml:Issuer><saml:NameID Format="f">a&amp;b&#64;x</saml:NameID><samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex> s2 </samlp:SessionIndex></samlp:LogoutRequest>"#;

    #[test]
    fn reads_a_logout_request_with_references_and_every_session_index() {
        let m = parse(REQUEST).unwrap();
        assert_eq!(m.kind, Kind::Request);
        assert_eq!(m.id.as_deref(), Some("_l1"));
        assert_eq!(m.issuer.as_deref(), Some("https://idp"));
        assert_eq!(m.name_id.as_deref(), Some("a&b@x"));
        assert_eq!(m.session_indexes, vec!["s1", "s2"]);
        assert_eq!(m.destination.as_deref(), Some("https://t/slo"));
    }

    #[test]
    fn reads_a_logout_response_status_and_refuses_other_roots() {
        let xml = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" InResponseTo="_l1"><samlp:Status><samlp:StatusCode Value="urn:x:Responder"><samlp:StatusCode Value="urn:x:inner"/></samlp:StatusCode></samlp:Status></samlp:LogoutResponse>"#;
        let m = parse(xml).unwrap();
        assert_eq!(m.kind, Kind::Response);
        assert_eq!(m.in_response_to.as_deref(), Some("_l1"));
        assert_eq!(m.status.as_deref(), Some("urn:x:Responder"));
        // What a signature over a child element reduces to.
        let child =
            r#"<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">a</saml:NameID>"#;
        assert_eq!(parse(child), Err(Refusal::Malformed));
        let foreign = REQUEST.replace(
            "urn:oasis:names:tc:SAML:2.0:protocol",
            "urn:example:not-saml",
        );
        assert_eq!(parse(&foreign), Err(Refusal::Malformed));
    }

    #[test]
    fn checks_issuer_destination_and_time() {
        let idp: EntityDescriptor = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"></md:EntityDescriptor>"#
            .parse()
            .unwrap();
        let issued = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = parse(REQUEST).unwrap();
        assert_eq!(check(&m, &idp, "https://t/slo", issued), Ok(()));
        assert_eq!(
            check(&m, &idp, "https://t/other", issued),
            Err(Refusal::Destination)
        );
        let late = issued + Duration::seconds(MAX_ISSUE_DELAY_SECS + CLOCK_SKEW_SECS + 1);
        assert_eq!(
            check(&m, &idp, "https://t/slo", late),
            Err(Refusal::Expired)
        );
        let early = issued - Duration::seconds(CLOCK_SKEW_SECS + 1);
        assert_eq!(
            check(&m, &idp, "https://t/slo", early),
            Err(Refusal::NotYetValid)
        );
        let other = parse(&REQUEST.replace(">https://idp<", ">https://evil<")).unwrap();
        assert_eq!(
            check(&other, &idp, "https://t/slo", issued),
            Err(Refusal::Issuer)
        );
        let expired = parse(&REQUEST.replace(
            r#"Version="2.0""#,
            r#"Version="2.0" NotOnOrAfter="2025-12-31T23:58:00Z""#,
        ))
        .unwrap();
        assert_eq!(
            check(&expired, &idp, "https://t/slo", issued),
            Err(Refusal::Expired)
        );
        let anonymous = parse(&REQUEST.replace("a&amp;b&#64;x", "")).unwrap();
        assert_eq!(
            check(&anonymous, &idp, "https://t/slo", issued),
            Err(Refusal::Malformed)
        );
    }
}
