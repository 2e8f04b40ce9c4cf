//! The metrics operators alert on: names stay stable (a snapshot of every
//! family), requests are counted per route template, and no caller can make
//! new series by inventing paths.

use crate::common;

use axum::http::StatusCode;
use common::*;

const FAMILY: &str = "tollgate_http_request_duration_seconds";

/// Every metric family, as `# TYPE` lines: renaming one breaks dashboards
/// and alerts, so it must be a deliberate change to this list.
const FAMILIES: &[&str] = &[
    "# TYPE auth_cs_active_server gauge",
    "# TYPE auth_cs_command_timeouts counter",
    "# TYPE auth_cs_connection_timeouts counter",
    "# TYPE auth_cs_switchovers counter",
    "# TYPE tollgate_audit_events_dropped counter",
    "# TYPE tollgate_http_request_duration_seconds histogram",
    "# TYPE tollgate_oauth_errors counter",
    "# TYPE tollgate_saml_metadata_refreshes counter",
    "# TYPE tollgate_tokens_issued counter",
];

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
    assert_eq!(families, FAMILIES, "{text}");

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
