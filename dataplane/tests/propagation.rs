//! Changes reach the other replicas at once on PostgreSQL (NOTIFY), not at
//! their next poll.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A replica whose poll is an hour away sees each client registered through
/// another replica's ops API within seconds: only a notification can have
/// told it. Prints the measured delays (a figure, not a bound: see
/// docs/benchmarks.md for the target).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_another_replica_without_waiting_for_its_poll() {
    let Some(s) = TestServer::postgres("propagation").await else {
        return;
    };
    let replica = tollgate::app::serve::build(
        &default_args(),
        "127.0.0.1:0".parse().expect("addr"),
        s.db.clone(),
        tollgate_store::Ephemeral::memory(),
    )
    .await
    .expect("replica");
    tollgate::app::serve::spawn_sync(replica.clone(), Duration::from_secs(3600));
    // The listener's connection is up once a first change gets through.
    let warm_up = format!("warm-{}", uuid::Uuid::new_v4().simple());
    s.create_client(json!({"client_id": warm_up}))
        .await
        .expect("client");
    wait_until(Duration::from_secs(10), || {
        replica.client(&warm_up).is_some()
    })
    .await;

    let mut delays = Vec::new();
    for n in 0..30 {
        let id = format!("prop-{n}-{}", uuid::Uuid::new_v4().simple());
        s.create_client(json!({"client_id": id}))
            .await
            .expect("client");
        let written = Instant::now();
        wait_until(Duration::from_secs(5), || replica.client(&id).is_some()).await;
        delays.push(written.elapsed());
    }
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "propagation to another replica over {} writes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 99 / 100]),
        ms(delays[delays.len() - 1]),
    );
}

/// Polls `seen` every millisecond; fails after `within`.
async fn wait_until(within: Duration, seen: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !seen() {
        assert!(
            Instant::now() < deadline,
            "not propagated within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
