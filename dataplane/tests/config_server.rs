//! The Configuration Server connector on real sockets against the simulator
//! as a real process: failover from a killed primary under load and back,
//! hung and silent servers within the environment's timeouts (with their
//! metrics), backoff, one multiplexed session for concurrent sign-ins, and a
//! refused service account.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cs_sim::{environment, Sim};
use prometheus_client::registry::Registry;
use tollgate_core::directory::config_server::connection::Backoff;
use tollgate_core::directory::config_server::metrics::ConfigServerMetrics;
use tollgate_core::directory::config_server::{ConfigServerDirectory, ConfigServerSettings};
use tollgate_core::directory::{Directory, DirectoryError};
use tollgate_store::model::{AuthScheme, ContactCenter, Environment};

fn cc() -> ContactCenter {
    ContactCenter {
        id: "cs".into(),
        name: "CS".into(),
        domains: vec!["cs".into()],
        environment_id: "env".into(),
        auth: AuthScheme::ConfigServer,
        second_factor: Default::default(),
        enabled: true,
        version: 1,
        created_at: 0,
        updated_at: 0,
    }
}

/// A directory for `env` whose metrics can be read back.
fn directory(env: &Environment) -> (ConfigServerDirectory, Registry) {
    let metrics = ConfigServerMetrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let settings = ConfigServerSettings {
        backoff: Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
        },
        probe_interval: Duration::from_millis(200),
        ..ConfigServerSettings::new(None, metrics)
    };
    (
        ConfigServerDirectory::from_environment(env, &settings).unwrap(),
        registry,
    )
}

/// The value of a sample as /metrics shows it, e.g. `auth_cs_command_timeouts_total{environment="x"}`.
fn sample(registry: &Registry, series: &str) -> Option<f64> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn sign_in(dir: &ConfigServerDirectory) -> Result<String, DirectoryError> {
    dir.authenticate(&cc(), "alice", "alice-password")
        .await
        .map(|u| u.username)
}

#[tokio::test]
async fn a_killed_primary_fails_over_to_the_backup_under_load_and_back() {
    let mut primary = Sim::start(&[]).await;
    let mut backup = Sim::start(&[]).await;
    let env = environment("failover", primary.addr, Some(backup.addr), 1);
    let (dir, registry) = directory(&env);
    let dir = Arc::new(dir);
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
    assert_eq!(dir.active_server().await, Some(0));

    // Sign-ins run continuously from 8 tasks while the primary dies.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (dir, stop) = (dir.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = sign_in(&dir).await;
                results.push((Instant::now(), started.elapsed(), r));
            }
            results
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    primary.kill().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(dir.active_server().await, Some(1), "on the backup");
    assert_eq!(
        sample(
            &registry,
            r#"auth_cs_active_server{environment="failover"}"#
        ),
        Some(1.0)
    );

    // The primary comes back on its address: the probe returns to it.
    primary = Sim::start(&["--listen", &primary.addr.to_string()]).await;
    let restarted_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(5);
    while dir.active_server().await != Some(0) {
        assert!(Instant::now() < deadline, "never went back to the primary");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }

    let failed: Vec<_> = results.iter().filter(|(_, _, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed sign-ins: {failed:?}");
    let slowest = results.iter().map(|(_, d, _)| *d).max().unwrap();
    // Nothing waits longer than the environment's timeouts (1 s each).
    assert!(
        slowest < Duration::from_secs(2),
        "slowest sign-in: {slowest:?}"
    );
    let count = |from: Instant, to: Instant| {
        results
            .iter()
            .filter(|(at, _, _)| *at > from && *at <= to)
            .count()
    };
    let now = Instant::now();
    assert!(
        count(killed_at, restarted_at) > 50,
        "traffic continued on the backup"
    );
    assert!(
        count(restarted_at, now) > 10,
        "traffic continued after the return"
    );
    println!(
        "{} sign-ins, none failed, slowest {slowest:?}",
        results.len()
    );
    assert_eq!(
        sample(
            &registry,
            r#"auth_cs_switchovers_total{environment="failover"}"#
        ),
        Some(2.0),
        "to the backup and back"
    );
    assert_eq!(
        sample(
            &registry,
            r#"auth_cs_active_server{environment="failover"}"#
        ),
        Some(0.0)
    );

    // Traffic is on the primary: the backup may go.
    backup.kill().await;
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
    primary.kill().await;
}

#[tokio::test]
async fn a_hung_server_is_unavailable_within_the_command_timeout() {
    let _hung = Sim::start(&["--hang-commands"]).await;
    let env = environment("hung", _hung.addr, None, 1);
    let (dir, registry) = directory(&env);
    let started = Instant::now();
    assert!(matches!(
        sign_in(&dir).await,
        Err(DirectoryError::Unavailable { .. })
    ));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    assert_eq!(
        sample(
            &registry,
            r#"auth_cs_command_timeouts_total{environment="hung"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_primary_that_hangs_gives_way_to_the_backup() {
    let _hung = Sim::start(&["--hang-commands"]).await;
    let backup = Sim::start(&[]).await;
    let env = environment("hung-primary", _hung.addr, Some(backup.addr), 1);
    let (dir, _registry) = directory(&env);
    assert!(matches!(
        sign_in(&dir).await,
        Err(DirectoryError::Unavailable { .. })
    ));
    // The next sign-in opens a session on the backup, not the hung primary.
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
    assert_eq!(dir.active_server().await, Some(1));
    // The primary registers but does not answer the probe's command: the
    // sign-ins stay on the backup (probe every 200 ms).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(dir.active_server().await, Some(1));
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
}

#[tokio::test]
async fn a_silent_or_absent_server_is_unavailable_within_the_connect_timeout() {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let env = environment("silent", silent_addr, None, 1);
    let (dir, registry) = directory(&env);
    let started = Instant::now();
    let Err(DirectoryError::Unavailable { retry_after }) = sign_in(&dir).await else {
        panic!("not unavailable");
    };
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1800), "{took:?}");
    assert!(retry_after >= Duration::from_secs(1));
    assert_eq!(
        sample(
            &registry,
            r#"auth_cs_connection_timeouts_total{environment="silent"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&registry, r#"auth_cs_active_server{environment="silent"}"#),
        Some(-1.0)
    );
    // Within the backoff the next call does not wait for another timeout.
    let started = Instant::now();
    assert!(matches!(
        sign_in(&dir).await,
        Err(DirectoryError::Unavailable { .. })
    ));
    assert!(started.elapsed() < Duration::from_millis(100));

    // Nobody listens: refused at once, still unavailable (never "wrong password").
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let (dir, _) = directory(&environment("closed", closed_addr, None, 1));
    let started = Instant::now();
    assert!(matches!(
        dir.lookup(&cc(), "alice").await,
        Err(DirectoryError::Unavailable { .. })
    ));
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn concurrent_sign_ins_share_one_session_without_queueing() {
    let slow = Sim::start(&["--latency-ms", "400"]).await;
    let (dir, _) = directory(&environment("slow", slow.addr, None, 5));
    let dir = Arc::new(dir);
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
    let started = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let dir = dir.clone();
            tokio::spawn(async move { sign_in(&dir).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), "alice");
    }
    // One after the other would take 4 s.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn a_refused_service_account_is_unavailable_not_a_wrong_password() {
    let sim = Sim::start(&[]).await;
    let mut env = environment("wrong-account", sim.addr, None, 2);
    env.password = Some("not-the-password".into());
    let (dir, _) = directory(&env);
    assert!(matches!(
        sign_in(&dir).await,
        Err(DirectoryError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn a_read_only_server_refuses_password_changes() {
    let sim = Sim::start(&[]).await;
    let mut env = environment("read-only", sim.addr, None, 2);
    env.config_servers[0].read_only = true;
    let (dir, _) = directory(&env);
    assert_eq!(
        dir.change_password(&cc(), "bob", "bob-password", "bob-new-password")
            .await,
        Err(DirectoryError::Unsupported)
    );
    let sim = Sim::start(&["--read-only"]).await;
    let (dir, _) = directory(&environment("read-only-server", sim.addr, None, 2));
    assert_eq!(
        dir.change_password(&cc(), "bob", "bob-password", "bob-new-password")
            .await,
        Err(DirectoryError::Unsupported)
    );
    assert_eq!(sign_in(&dir).await.unwrap(), "alice");
}

/// The whole path in-process: the Environment API stores an environment on a
/// simulator and a `configServer` contact center; the password grant signs
/// its users in; an update of the environment (change feed) rebuilds the
/// connector on the new server.
#[tokio::test]
async fn a_config_server_contact_center_through_the_environment_api() {
    use axum::http::StatusCode;
    use common::*;
    use serde_json::json;

    let mut first = Sim::start(&[]).await;
    let mut second = Sim::start(&[]).await;
    let s = TestServer::new().await;
    let server = |addr: std::net::SocketAddr| {
        json!([{"primaryAddress": addr.ip().to_string(), "primaryPort": addr.port(),
                "readOnly": false, "locations": "/"}])
    };
    s.ops_post(
        "/environment/v3/environments",
        json!({
            "id": "cs-env", "username": common::cs_sim::SERVICE_USER,
            "password": common::cs_sim::SERVICE_PASSWORD, "localTimeout": 2, "remoteTimeout": 2,
            "configServers": server(first.addr),
        }),
    )
    .await
    .expect(StatusCode::CREATED);
    s.ops_post(
        "/environment/v3/contact-centers",
        json!({"id": "cs-cc", "environmentId": "cs-env", "domains": ["cs"], "auth": "configServer"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let grant = |user: &'static str, password: &'static str| {
        let s = &s;
        async move {
            let login = format!("cs\\{user}");
            s.token(
                DEMO,
                &[
                    ("grant_type", "password"),
                    ("username", &login),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let body = grant("alice", "alice-password").await.tokens();
    let claims = s.verify_jwt(str_of(&body, "access_token"), ISSUER).await;
    assert_eq!(claims["user_name"], "alice");
    assert_eq!(claims["contact_center_id"], "cs-cc");
    let expired = grant("expired", "expired-password")
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        expired["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{expired}"
    );

    // The environment moves to the second server (the service account's
    // password goes along: it is not sent to a new server unless given
    // again); the first one dies.
    s.ops_put(
        "/environment/v3/environments/cs-env",
        json!({"configServers": server(second.addr),
               "password": common::cs_sim::SERVICE_PASSWORD}),
    )
    .await
    .expect(StatusCode::OK);
    first.kill().await;
    grant("alice", "alice-password").await.tokens();

    // No server at all: 503 with Retry-After, not a wrong password.
    second.kill().await;
    let res = grant("alice", "alice-password").await;
    res.expect_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert!(res.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn unusable_environments_are_refused_when_the_connector_is_built() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let settings = ConfigServerSettings::new(None, ConfigServerMetrics::default());
    let mut tls = environment("tls", addr, None, 1);
    tls.tls_enabled = true;
    let mut none = environment("none", addr, None, 1);
    none.config_servers.clear();
    for env in [tls, none] {
        let Err(e) = ConfigServerDirectory::from_environment(&env, &settings) else {
            panic!("{}: accepted", env.id);
        };
        assert!(
            e.contains("tlsEnabled") || e.contains("configServers"),
            "{e}"
        );
    }
}
