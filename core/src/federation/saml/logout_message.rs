//! What Tollgate reads of a (verified) LogoutRequest or LogoutResponse,
//! and what it must say to be accepted.

use chrono::{DateTime, Duration, Utc};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use samael::metadata::EntityDescriptor;

use crate::federation::saml::verify::{Refusal, CLOCK_SKEW_SECS, MAX_ISSUE_DELAY_SECS};

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";

#[derive(Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Request,
    Response,
}

/// What Tollgate reads of a logout message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub id: Option<String>,
    /// A LogoutResponse's request id.
    pub in_response_to: Option<String>,
    /// A LogoutResponse's top-level status code.
    pub status: Option<String>,
    pub issuer: Option<String>,
    pub destination: Option<String>,
    pub issue_instant: Option<String>,
    pub not_on_or_after: Option<String>,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
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
pub fn parse(xml: &str) -> Result<Message, Refusal> {
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
            Event::GeneralRef(r) if text_of.is_some() => text.push_str(&referenced(&r)?),
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

/// The text a character or predefined entity reference stands for.
fn referenced(r: &quick_xml::events::BytesRef<'_>) -> Result<String, Refusal> {
    let name = r.decode().map_err(|_| Refusal::Malformed)?;
    Ok(
        match r.resolve_char_ref().map_err(|_| Refusal::Malformed)? {
            Some(c) => c.to_string(),
            None => quick_xml::escape::resolve_predefined_entity(&name)
                .ok_or(Refusal::Malformed)?
                .to_string(),
        },
    )
}

/// What a logout message must say: from this IdP, to this SLO endpoint,
/// issued moments ago; a request names a user.
pub fn check(
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
