//! The audit trail survives a store that refuses writes for a while: the
//! batch is retried, not dropped (it used to be dropped on the first error).

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use sqlx::Executor;

/// While the audit table is gone (as good as a database that refuses
/// writes), issued tokens are still audited once the table is back; nothing
/// is counted as dropped.
#[tokio::test]
async fn a_refused_audit_batch_is_retried_until_stored() {
    let s = TestServer::new().await;
    let issued = || async {
        s.db.list_audit_events(Some("token.issued"), 1000)
            .await
            .expect("list")
            .len()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = issued().await;
    let pool = s.db.pool();
    pool.execute("ALTER TABLE audit_events RENAME TO audit_events_away")
        .await
        .expect("hide the audit table");
    s.token(
        ClientAuth::Basic(DEMO_CLIENT, DEMO_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await
    .tokens();
    // Long enough for the writer to fail a few times.
    tokio::time::sleep(Duration::from_millis(700)).await;
    pool.execute("ALTER TABLE audit_events_away RENAME TO audit_events")
        .await
        .expect("restore the audit table");
    let deadline = Instant::now() + Duration::from_secs(10);
    while issued().await == before {
        assert!(Instant::now() < deadline, "the audit event was lost");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.state.metrics.audit_events_dropped.get(), 0);
}
