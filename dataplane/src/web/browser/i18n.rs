//! English and French messages, compiled in from `dataplane/i18n/*.toml`,
//! chosen from `Accept-Language`.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

const EN: &str = include_str!("../../../i18n/en.toml");
const FR: &str = include_str!("../../../i18n/fr.toml");

fn parse(text: &str) -> HashMap<String, String> {
    text.parse::<toml::Table>()
        .map(|t| {
            t.into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn catalog(lang: Lang) -> &'static HashMap<String, String> {
    static EN_MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
    static FR_MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
    match lang {
        Lang::En => EN_MAP.get_or_init(|| parse(EN)),
        Lang::Fr => FR_MAP.get_or_init(|| parse(FR)),
    }
}

impl Lang {
    /// The best of English and French by `Accept-Language` quality; English by default.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(v) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        let mut best = (Lang::En, 0.0f32);
        for item in v.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "fr" => Lang::Fr,
                "en" => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }
}

/// Messages of one language, for templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: &'static str,
    which: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr {
            lang: lang.code(),
            which: lang,
        }
    }

    /// The message `key`; the English one, then the key itself, when missing.
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        catalog(self.which)
            .get(key)
            .or_else(|| catalog(Lang::En).get(key))
            .map(String::as_str)
            .unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn both_languages_have_every_message() {
        let (en, fr) = (parse(EN), parse(FR));
        assert!(en.len() > 20);
        let mut a: Vec<_> = en.keys().collect();
        let mut b: Vec<_> = fr.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-CA,fr;q=0.9,en;q=0.8"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::Fr);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("de, en;q=0.5, fr;q=0.4"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::En);
        assert_eq!(Tr::new(Lang::Fr).get("password"), "Mot de passe");
    }
}
