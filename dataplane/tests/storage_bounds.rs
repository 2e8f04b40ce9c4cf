//! Anonymous requests cannot grow the server without bound: authorization
//! request parameters have size limits, the sign-in page's CSRF token is
//! stateless, `/authorize` and the pages are rate-limited per client IP, and
//! the in-process store is capped by entries and bytes.

use crate::common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::browser::*;
use common::*;
use tollgate_store::ephemeral::MemoryLimits;
use tollgate_store::Ephemeral;

fn entries(s: &TestServer) -> usize {
    s.state
        .ephemeral
        .memory_usage()
        .expect("in-process store")
        .0
}

/// A GET from client address `ip`, without cookies.
async fn get_from(s: &TestServer, path: &str, ip: [u8; 4]) -> Res {
    let mut req = Request::get(path).body(Body::empty()).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    s.send(req).await
}

fn authorize_with(extra: &[(&str, &str)]) -> String {
    let mut p = vec![("response_type", "code"), ("client_id", DEMO_CLIENT)];
    p.extend_from_slice(extra);
    authorize_url(&p)
}

#[tokio::test]
async fn oversized_parameters_are_refused_before_anything_is_stored() {
    let s = TestServer::new().await;
    // At the limits, a request is kept for sign-in.
    let state = "s".repeat(2048);
    let nonce = "n".repeat(512);
    let hint = "h".repeat(512);
    let res = s
        .get(&authorize_with(&[
            ("state", &state),
            ("nonce", &nonce),
            ("login_hint", &hint),
        ]))
        .await;
    res.expect(StatusCode::FOUND);
    assert!(location(&res).starts_with("/ui/auth/sign-in?request="));
    let before = entries(&s);
    let long = |n: usize| "x".repeat(n);
    let cases = [
        ("state", long(2049)),
        ("nonce", long(513)),
        ("login_hint", long(513)),
        ("ui_locales", long(257)),
        ("acr_values", long(513)),
        ("scope", long(1025)),
        ("code_challenge", long(129)),
        ("redirect_uri", format!("{APP_BASE}/{}", long(2048))),
        ("something_else", long(2049)),
    ];
    for (name, value) in &cases {
        let res = s.get(&authorize_with(&[(name, value)])).await;
        res.expect(StatusCode::BAD_REQUEST);
        assert!(
            res.header(header::LOCATION).is_none(),
            "{name}: not sent back"
        );
        let text = res.text();
        let named = if *name == "something_else" {
            "A request parameter"
        } else {
            name
        };
        assert!(
            text.contains(named) && text.contains("longer than"),
            "{name}: {text}"
        );
    }
    assert_eq!(entries(&s), before, "an oversized request was stored");
}

#[tokio::test]
async fn cookieless_sign_in_pages_store_nothing() {
    let s = TestServer::new().await;
    get_from(&s, "/ui/auth/sign-in", [10, 0, 0, 1])
        .await
        .expect(StatusCode::OK);
    let before = entries(&s);
    for _ in 0..300 {
        let res = get_from(&s, "/ui/auth/sign-in", [10, 0, 0, 1]).await;
        res.expect(StatusCode::OK);
        assert!(res.header(header::SET_COOKIE).is_some());
    }
    assert_eq!(entries(&s), before, "page loads grew the store");

    // The token still binds the form to the browser's cookie.
    let mut b = Browser::new(&s);
    let page = b.get("/ui/auth/sign-in").await;
    let token = input(&page.text(), "csrf_token").expect("token");
    let mut other = Browser::new(&s);
    other.get("/ui/auth/sign-in").await;
    let form = [
        ("username", "demo\\agent"),
        ("password", DEMO_PASSWORD),
        ("csrf_token", token.as_str()),
    ];
    other
        .post("/auth/v3/sign-in", &form)
        .await
        .expect(StatusCode::FORBIDDEN);
    let mut forged = token.clone();
    forged.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    b.post(
        "/auth/v3/sign-in",
        &[
            ("username", "demo\\agent"),
            ("password", DEMO_PASSWORD),
            ("csrf_token", forged.as_str()),
        ],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    b.post("/auth/v3/sign-in", &form)
        .await
        .expect(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn authorize_and_pages_are_rate_limited_per_client_ip() {
    let mut args = default_args();
    args.rate_limit_per_minute = 5;
    let s = TestServer::with_args(args).await;
    for path in [authorize_with(&[]), "/ui/auth/sign-in".to_string()] {
        for _ in 0..5 {
            let res = get_from(&s, &path, [10, 0, 0, 1]).await;
            assert_ne!(res.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
        let res = get_from(&s, &path, [10, 0, 0, 1]).await;
        res.expect(StatusCode::TOO_MANY_REQUESTS);
        assert!(res.header(header::RETRY_AFTER).is_some());
        // Another address has its own budget.
        let res = get_from(&s, &path, [10, 0, 0, 2]).await;
        assert_ne!(res.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
}

/// Resident set size of this process, from /proc (Linux); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// 100,000 anonymous requests, each as large as the limits allow, with the
/// rate limit out of the way: the store's caps hold, and the process does
/// not grow with the requests.
#[tokio::test]
async fn a_flood_of_anonymous_requests_leaves_the_store_bounded() {
    let limits = MemoryLimits {
        max_entries: 5_000,
        max_bytes: 8 * 1024 * 1024,
    };
    let mut args = default_args();
    args.rate_limit_per_minute = u32::MAX;
    let s = TestServer::with_ephemeral(args, Ephemeral::memory_with_limits(limits)).await;
    let state = "s".repeat(2048);
    let nonce = "n".repeat(512);
    let hint = "h".repeat(512);
    let authorize = authorize_with(&[
        ("state", &state),
        ("nonce", &nonce),
        ("login_hint", &hint),
        ("ui_locales", &"u".repeat(256)),
        ("acr_values", &"a".repeat(512)),
    ]);
    let rss_before = rss_bytes();
    let (mut stored, mut refused) = (0, 0);
    for i in 0..100_000u32 {
        let ip = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let path = if i % 2 == 0 {
            authorize.as_str()
        } else {
            "/ui/auth/sign-in"
        };
        let res = get_from(&s, path, ip).await;
        match res.status {
            StatusCode::FOUND => stored += 1,
            // 429: the rate limit's counters are full too (this flood
            // makes a counter per address); the limiter refuses, not grows.
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => refused += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}: {}", res.text()),
        }
    }
    let (n, bytes) = s.state.ephemeral.memory_usage().expect("in-process");
    let rss_after = rss_bytes();
    eprintln!(
        "100000 requests: {stored} pending requests kept, {refused} refused (store full); \
         store {n} entries / {bytes} bytes; RSS {:?} -> {:?} MiB",
        rss_before.map(|b| b >> 20),
        rss_after.map(|b| b >> 20)
    );
    assert!(n <= limits.max_entries, "{n} entries");
    assert!(bytes <= limits.max_bytes, "{bytes} bytes");
    assert!(refused > 0, "the cap was never reached");
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        // Unbounded, the pending requests alone would take ~200 MiB.
        assert!(
            after.saturating_sub(before) < 96 << 20,
            "RSS grew by {} MiB",
            (after - before) >> 20
        );
    }
}

/// With the default rate limit, one address gets at most its budget stored.
#[tokio::test]
async fn one_address_cannot_fill_the_store() {
    let s = TestServer::new().await;
    let authorize = authorize_with(&[("state", &"s".repeat(2048))]);
    let mut limited = 0;
    for _ in 0..5_000 {
        let res = get_from(&s, &authorize, [10, 9, 9, 9]).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    let n = entries(&s);
    // 600 a minute (two minute windows at most during the run), plus counters.
    assert!(n <= 2 * 600 + 10, "{n} entries");
    assert!(limited >= 5_000 - 2 * 600);
}
