//! A browser for router tests: a cookie jar over the test server, readers
//! of its pages and redirects, and the steps of a sign-in through the
//! authorization endpoint.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use super::{encode_form, Res, TestServer};

/// A browser: a cookie jar over the test server.
pub struct Browser<'a> {
    pub s: &'a TestServer,
    pub cookies: Vec<(String, String)>,
    pub lang: Option<&'static str>,
}

impl<'a> Browser<'a> {
    pub fn new(s: &'a TestServer) -> Self {
        Browser {
            s,
            cookies: vec![],
            lang: None,
        }
    }
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    pub fn absorb(&mut self, res: &Res) {
        for v in res.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() && !v.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
    }
    pub async fn get(&mut self, path: &str) -> Res {
        let mut req = Request::get(path).header(header::COOKIE, self.cookie_header());
        if let Some(l) = self.lang {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        let res = self.s.send(req.body(Body::empty()).unwrap()).await;
        self.absorb(&res);
        res
    }
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Res {
        let mut req = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(l) = self.lang {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        let res = self
            .s
            .send(req.body(Body::from(encode_form(form))).unwrap())
            .await;
        self.absorb(&res);
        res
    }
    pub fn has(&self, name: &str) -> bool {
        self.cookies.iter().any(|(k, _)| k == name)
    }
}

pub fn location(res: &Res) -> String {
    res.header(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location; status {} body {}", res.status, res.text()))
        .to_string()
}

/// The value of hidden/ordinary input `name` in a page.
pub fn input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html.find(&marker)? + marker.len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Query or fragment parameters of a redirect.
pub fn params(loc: &str) -> std::collections::HashMap<String, String> {
    let part = loc
        .split_once('#')
        .map(|x| x.1)
        .or_else(|| loc.split_once('?').map(|x| x.1))
        .unwrap_or("");
    form_urlencoded::parse(part.as_bytes())
        .into_owned()
        .collect()
}

pub fn authorize_url(extra: &[(&str, &str)]) -> String {
    format!("/auth/v3/oauth/authorize?{}", encode_form(extra))
}

pub fn assert_security_headers(res: &Res) {
    let csp = res.header(header::CONTENT_SECURITY_POLICY).expect("CSP");
    assert!(
        csp.contains("script-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(res.header(header::X_FRAME_OPTIONS), Some("DENY"));
    assert_eq!(res.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    assert_eq!(res.header(header::REFERRER_POLICY), Some("no-referrer"));
    assert_eq!(res.header(header::CACHE_CONTROL), Some("no-store"));
}

/// Follows authorize → sign-in page → form post; returns the final response.
pub async fn sign_in_through(b: &mut Browser<'_>, url: &str, user: &str, password: &str) -> Res {
    let res = b.get(url).await;
    res.expect(StatusCode::FOUND);
    let page_url = location(&res);
    assert!(
        page_url.starts_with("/ui/auth/sign-in?request="),
        "{page_url}"
    );
    let page = b.get(&page_url).await;
    page.expect(StatusCode::OK);
    assert_security_headers(&page);
    let html = page.text();
    let csrf = input(&html, "csrf_token").expect("csrf token");
    let request = input(&html, "request").expect("request id");
    b.post(
        "/auth/v3/sign-in",
        &[
            ("username", user),
            ("password", password),
            ("csrf_token", &csrf),
            ("request", &request),
        ],
    )
    .await
}
