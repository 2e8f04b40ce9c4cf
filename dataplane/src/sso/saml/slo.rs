//! `GET|POST /auth/v3/sso/saml/{cc}/slo`: IdP-initiated single logout
//! (SAML profiles §4.4). The IdP's LogoutRequest must be signed: in the
//! HTTP-Redirect binding by the query signature (bindings §3.4.4.1), in the
//! HTTP-POST binding by an enveloped XML signature that libxmlsec1 checks
//! (only the signed content is read). It ends every Tollgate browser
//! session of its NameID (and SessionIndex) in the contact center and is
//! answered by a signed LogoutResponse to the IdP's SingleLogoutService.

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
    let request = match parse(&xml).and_then(|m| {
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
            let xml = form
                .saml_request
                .as_deref()
                .and_then(decode)
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
    let message = get("SAMLRequest").ok_or(Refusal::Malformed)?;
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
    let mut signed = format!("SAMLRequest={message}");
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

/// What Tollgate reads of a logout message.
#[derive(Debug, Default, PartialEq, Eq)]
struct Message {
    id: Option<String>,
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

/// Reads a (verified) LogoutRequest. samael's type reads `SessionIndex` as
/// an attribute (it is an element) and has no `NotOnOrAfter`, so the few
/// fields are read here.
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
                    (0, b"LogoutRequest") if in_ns(PROTOCOL_NS) => {
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

/// What a LogoutRequest must say: from this IdP, to this SLO endpoint,
/// issued moments ago, naming a user.
fn check(
    m: &Message,
    idp: &EntityDescriptor,
    slo_url: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if m.id.is_none() || m.name_id.as_deref().is_none_or(str::is_empty) {
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

/// The IdP's SingleLogoutService: HTTP-Redirect when offered, else HTTP-POST.
fn idp_slo_service(idp: &EntityDescriptor) -> Option<(&'static str, String)> {
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
                let to = s.response_location.clone().unwrap_or(s.location.clone());
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
    let Some((binding, destination)) = idp_slo_service(&provider.idp) else {
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
        redirect_url(&response, &destination, &relay_state, &key)
            .map(|url| ui::redirect(StatusCode::SEE_OTHER, &url))
    } else {
        response.signature = Some(authn_request::signature_template(&id, &certificate_der));
        super::xmlsec_log::install();
        key.private_key_to_der()
            .map_err(|e| e.to_string())
            .and_then(|der| {
                let xml = response.to_string().map_err(|e| e.to_string())?;
                Crypto::sign_xml(xml, &der).map_err(|e| e.to_string())
            })
            .map(|signed| {
                let message = base64::engine::general_purpose::STANDARD.encode(signed);
                post_page(lang, destination, "SAMLResponse", message, relay_state)
            })
    };
    built.unwrap_or_else(|e| {
        tracing::error!(error = %e, contact_center = cc_id, "cannot sign the LogoutResponse");
        ui::unavailable(state, lang)
    })
}

/// HTTP-Redirect binding: the deflated response and the query signature.
fn redirect_url(
    response: &LogoutResponse,
    destination: &str,
    relay_state: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> Result<String, String> {
    let xml = response.to_string().map_err(|e| e.to_string())?;
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
        "SAMLResponse",
        &base64::engine::general_purpose::STANDARD.encode(&deflated),
    );
    if !relay_state.is_empty() {
        url.query_pairs_mut().append_pair("RelayState", relay_state);
    }
    sign_url(url, key)
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
}
