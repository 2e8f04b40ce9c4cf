//! The metrics operators alert on: names stay stable (a snapshot of every
//! family), requests are counted per route template, and no caller can make
//! new series by inventing paths.

use crate::common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const FAMILY: &str = "tollgate_http_request_duration_seconds";

/// Every metric family, as `# TYPE` lines: renaming one breaks dashboards
/// and alerts, so it must be a deliberate change to this list, which the
/// chart's alert rules and dashboard are checked against too.
const FAMILIES: &str = include_str!("../../charts/tollgate-operator/metric-names.txt");

fn count(text: &str, labels: &str) -> Option<u64> {
    let prefix = format!("{FAMILY}_count{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.parse().ok())
}

#[tokio::test]
async fn requests_are_measured_per_route_template_with_bounded_labels() {
    let s = TestServer::new().await;
    s.token(DEMO, &[("grant_type", "client_credentials")])
        .await
        .tokens();
    for path in ["/auth/v3/no-such-thing", "/made/up/path-1234"] {
        s.get(path).await.expect(StatusCode::NOT_FOUND);
    }
    s.get(TOKEN).await.expect(StatusCode::METHOD_NOT_ALLOWED);
    for cc in ["cc-one", "cc-two"] {
        s.get(&format!("/auth/v3/sso/saml/{cc}/metadata")).await;
    }
    let text = s.state.metrics.encode();

    let mut families: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    families.sort_unstable();
    let expected: Vec<&str> = FAMILIES.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(families, expected, "{text}");

    let token = r#"route="/auth/v3/oauth/token",method="POST",status="2xx""#;
    assert_eq!(count(&text, token), Some(1), "{text}");
    let wrong_method = r#"route="/auth/v3/oauth/token",method="GET",status="4xx""#;
    assert_eq!(count(&text, wrong_method), Some(1), "{text}");
    // Unknown paths share one series; a path parameter stays in its template.
    let unmatched = r#"route="unmatched",method="GET",status="4xx""#;
    assert_eq!(count(&text, unmatched), Some(2), "{text}");
    let template = r#"route="/auth/v3/sso/saml/{contact_center_id}/metadata""#;
    let metadata: u64 = text
        .lines()
        .filter(|l| l.starts_with(&format!("{FAMILY}_count{{{template}")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(metadata, 2, "{text}");
    for invented in ["no-such-thing", "made/up", "cc-one", "cc-two"] {
        assert!(
            !text.contains(invented),
            "{invented} became a label: {text}"
        );
    }
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn refused_token_requests_are_counted_by_grant_and_error_with_bounded_labels() {
    let s = TestServer::new().await;
    for grant in ["password", "made-up-grant-1", "made-up-grant-2"] {
        s.token(
            DEMO,
            &[("grant_type", grant), ("username", "x"), ("password", "y")],
        )
        .await;
    }
    s.token(DEMO, &[("scope", "openid")]).await;
    let text = s.state.metrics.encode();
    let errors = "tollgate_oauth_errors_total";
    for (labels, n) in [
        (r#"grant_type="password",error="invalid_grant""#, 1.0),
        (r#"grant_type="other",error="unsupported_grant_type""#, 2.0),
        (r#"grant_type="none",error="invalid_request""#, 1.0),
    ] {
        assert_eq!(
            sample(&text, &format!("{errors}{{{labels}}}")),
            Some(n),
            "{labels}: {text}"
        );
    }
    assert!(!text.contains("made-up-grant"), "{text}");
}

#[tokio::test]
async fn dependency_calls_are_measured_by_dependency_and_outcome() {
    let s = TestServer::new().await;
    s.state.metrics.probe_database(&s.state.db).await;
    s.ops_put(
        "/environment/v3/contact-centers/demo",
        json!({"auth": "ldap"}),
    )
    .await
    .expect(StatusCode::OK);
    // Port 1 on the loopback: the directory is down.
    s.ops_put(
        "/environment/v3/contact-centers/demo/directory",
        json!({"urls": ["ldap://127.0.0.1:1"], "bindMode": "direct",
               "bindDnTemplate": "uid={username},dc=example,dc=org", "baseDn": "dc=example,dc=org",
               "timeoutMs": 1000}),
    )
    .await
    .expect(StatusCode::OK);
    let form = [
        ("grant_type", "password"),
        ("username", "demo\\agent"),
        ("password", DEMO_PASSWORD),
    ];
    s.token(DEMO, &form)
        .await
        .expect_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");

    let text = s.state.metrics.encode();
    let count = |labels: &str| {
        sample(
            &text,
            &format!("tollgate_dependency_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count(r#"dependency="database",outcome="ok""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"dependency="ldap",outcome="error""#),
        Some(1.0),
        "{text}"
    );
    // The probe's connection may not be back in the pool yet: count both.
    let pool: f64 = ["idle", "in_use"]
        .iter()
        .filter_map(|state| {
            sample(
                &text,
                &format!("tollgate_database_pool_connections{{state=\"{state}\"}}"),
            )
        })
        .sum();
    assert!(pool >= 1.0, "{text}");
    assert!(
        sample(&text, r#"tollgate_build_info{version=""#).is_some(),
        "{text}"
    );
}
