//! Strict parsing of `application/x-www-form-urlencoded` OAuth requests:
//! repeated parameters are refused (RFC 6749 §3.1), empty ones are absent.

use std::collections::HashMap;

use crate::oauth::error::OAuthError;

/// Largest form an OAuth endpoint accepts.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Debug, Default, Clone)]
pub struct OAuthForm(pub HashMap<String, String>);

impl OAuthForm {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{k}' is repeated"
                )));
            }
        }
        Ok(OAuthForm(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &'static str) -> Result<&str, OAuthError> {
        self.get(key)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter '{key}' is required")))
    }
}

/// Decodes `%XX` escapes (RFC 6749 §2.3.1 asks clients to form-encode Basic
/// credentials); `+` is kept, since many clients do not encode at all.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused() {
        let e = OAuthForm::parse(b"grant_type=password&grant_type=client_credentials").unwrap_err();
        assert_eq!(e.code, "invalid_request");
        assert!(e.description.contains("grant_type"));
    }

    #[test]
    fn empty_parameters_are_absent() {
        let f = OAuthForm::parse(b"scope=&grant_type=client_credentials").unwrap();
        assert_eq!(f.get("scope"), None);
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab").as_deref(), Some("a:b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%4"), None);
    }

    proptest::proptest! {
        // Bounded fuzzing of the request parser: arbitrary bytes never panic, and
        // anything accepted has unique, non-empty parameters.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        #[test]
        fn parser_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(f) = OAuthForm::parse(&body) {
                proptest::prop_assert!(f.0.values().all(|v| !v.is_empty()));
            }
        }

        #[test]
        fn percent_decode_never_panics(s in ".{0,64}") {
            let _ = percent_decode(&s);
        }
    }
}
