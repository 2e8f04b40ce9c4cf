//! Contract suite for the ephemeral store: every scenario runs unchanged against each
//! implementation (in-process, standalone Redis, Redis over TLS, Redis cluster).
//!
//! Redis backends come from the environment (see `scripts/provision/redis.sh`):
//! `TOLLGATE_TEST_REDIS_URL`, `TOLLGATE_TEST_REDIS_TLS_URL` + `TOLLGATE_TEST_REDIS_CA`,
//! `TOLLGATE_TEST_REDIS_CLUSTER_NODES` (comma-separated). When one is unset the tests for
//! that backend are skipped with a note, or fail when `TOLLGATE_REQUIRE_SERVICES=1`.
//!
//! Every test uses fresh random key names, so runs (and parallel tests) never interfere.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_store::ephemeral::RedisConfig;
use tollgate_store::Ephemeral;

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// The value of `var`, or None (skip) when unset; panics instead when services are required.
fn service_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var("TOLLGATE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "{var} is not set but TOLLGATE_REQUIRE_SERVICES=1: \
                 source scripts/provision/redis.sh before running the tests"
            )
        }
        _ => {
            eprintln!("note: {var} is not set; skipping this Redis test");
            None
        }
    }
}

fn standalone_config() -> Option<RedisConfig> {
    Some(RedisConfig {
        urls: vec![service_env("TOLLGATE_TEST_REDIS_URL")?],
        ..RedisConfig::default()
    })
}

fn tls_config() -> Option<RedisConfig> {
    let url = service_env("TOLLGATE_TEST_REDIS_TLS_URL")?;
    let ca_path = service_env("TOLLGATE_TEST_REDIS_CA")?;
    let ca = std::fs::read(&ca_path)
        .unwrap_or_else(|e| panic!("cannot read TOLLGATE_TEST_REDIS_CA ({ca_path}): {e}"));
    Some(RedisConfig {
        urls: vec![url],
        cluster: false,
        ca_pem: Some(ca),
    })
}

fn cluster_config() -> Option<RedisConfig> {
    let nodes = service_env("TOLLGATE_TEST_REDIS_CLUSTER_NODES")?;
    Some(RedisConfig {
        urls: nodes.split(',').map(|s| s.trim().to_owned()).collect(),
        cluster: true,
        ca_pem: None,
    })
}

async fn connect(config: RedisConfig) -> Ephemeral {
    match Ephemeral::connect(&config).await {
        Ok(store) => store,
        Err(e) => panic!("cannot connect to the test Redis: {e}"),
    }
}

async fn open_memory() -> Option<Ephemeral> {
    Some(Ephemeral::memory())
}

async fn open_redis() -> Option<Ephemeral> {
    Some(connect(standalone_config()?).await)
}

async fn open_redis_tls() -> Option<Ephemeral> {
    Some(connect(tls_config()?).await)
}

async fn open_redis_cluster() -> Option<Ephemeral> {
    Some(connect(cluster_config()?).await)
}

/// A key no other test (or earlier run) uses.
fn unique(name: &str) -> String {
    format!("test:{name}:{}", uuid::Uuid::new_v4().simple())
}

const LONG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Scenarios (each takes any `Ephemeral`)
// ---------------------------------------------------------------------------------------

async fn ping(store: Ephemeral) {
    store.ping().await.expect("ping");
}

async fn put_get(store: Ephemeral) {
    let k = unique("put_get");
    assert_eq!(store.get(&k).await.expect("get missing"), None);

    store.put(&k, b"first", LONG).await.expect("put");
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"first"[..])
    );

    // `put` replaces.
    store.put(&k, b"second", LONG).await.expect("put again");
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"second"[..])
    );

    // Values are opaque bytes: NULs, invalid UTF-8, empty, large.
    let binary: Vec<u8> = vec![0, 159, 146, 150, 0, 255, b'\r', b'\n'];
    let kb = unique("put_get_binary");
    store.put(&kb, &binary, LONG).await.expect("put binary");
    assert_eq!(store.get(&kb).await.expect("get binary"), Some(binary));

    let ke = unique("put_get_empty");
    store.put(&ke, b"", LONG).await.expect("put empty");
    assert_eq!(store.get(&ke).await.expect("get empty"), Some(Vec::new()));

    let large: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let kl = unique("put_get_large");
    store.put(&kl, &large, LONG).await.expect("put large");
    assert_eq!(store.get(&kl).await.expect("get large"), Some(large));

    // Reading does not consume.
    assert!(store.get(&k).await.expect("get").is_some());
}

async fn ttl_expiry(store: Ephemeral) {
    let k = unique("ttl");
    let keep = unique("ttl_keep");
    store
        .put(&k, b"v", Duration::from_millis(100))
        .await
        .expect("put");
    store.put(&keep, b"v", LONG).await.expect("put");
    assert!(store.get(&k).await.expect("get").is_some());

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.get(&k).await.expect("get expired"), None);
    assert!(store.get(&keep).await.expect("get kept").is_some());

    // An expired entry is absent for every operation.
    let kt = unique("ttl_take");
    let kd = unique("ttl_delete");
    let kp = unique("ttl_pip");
    for key in [&kt, &kd, &kp] {
        store
            .put(key, b"v", Duration::from_millis(50))
            .await
            .expect("put");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.take(&kt).await.expect("take expired"), None);
    assert!(!store.delete(&kd).await.expect("delete expired"));
    assert!(!store
        .put_if_present(&kp, b"new", LONG)
        .await
        .expect("put_if_present expired"));
    assert_eq!(store.get(&kp).await.expect("get"), None);

    // Sub-millisecond TTLs are rounded up, not refused.
    let ks = unique("ttl_sub_ms");
    store
        .put(&ks, b"v", Duration::from_micros(10))
        .await
        .expect("put sub-ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.get(&ks).await.expect("get sub-ms"), None);
}

async fn invalid_ttl_is_refused(store: Ephemeral) {
    let k = unique("bad_ttl");
    for ttl in [
        Duration::ZERO,
        Duration::MAX,
        Duration::from_secs(100 * 365 * 24 * 3600),
    ] {
        let err = store
            .put(&k, b"v", ttl)
            .await
            .expect_err("put with bad TTL");
        assert!(err.to_string().contains("TTL"), "{err}");
        store
            .put_if_present(&k, b"v", ttl)
            .await
            .expect_err("put_if_present with bad TTL");
        store.incr(&k, ttl).await.expect_err("incr with bad TTL");
    }
    // Nothing was stored by the refused calls.
    assert_eq!(store.get(&k).await.expect("get"), None);
}

async fn put_if_present(store: Ephemeral) {
    let k = unique("pip");
    assert!(!store
        .put_if_present(&k, b"one", LONG)
        .await
        .expect("absent"));
    assert_eq!(store.get(&k).await.expect("get"), None, "nothing created");

    store.put(&k, b"one", LONG).await.expect("put");
    assert!(store
        .put_if_present(&k, b"two", LONG)
        .await
        .expect("present"));
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"two"[..])
    );

    assert!(store.delete(&k).await.expect("delete"));
    assert!(!store
        .put_if_present(&k, b"three", LONG)
        .await
        .expect("ended"));
    assert_eq!(store.get(&k).await.expect("get"), None, "not resurrected");

    // An expired entry counts as absent; the new TTL applies when stored.
    store
        .put(&k, b"short", Duration::from_millis(50))
        .await
        .expect("put");
    assert!(store
        .put_if_present(&k, b"longer", Duration::from_millis(400))
        .await
        .expect("extend"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"longer"[..])
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!store
        .put_if_present(&k, b"late", LONG)
        .await
        .expect("expired"));
    assert_eq!(store.get(&k).await.expect("get"), None);
}

async fn put_if_present_never_resurrects(store: Ephemeral) {
    // A touch racing an end (take) must never leave the record behind.
    for round in 0..20 {
        let k = unique("pip_race");
        store.put(&k, b"session", LONG).await.expect("put");
        let touch = {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.put_if_present(&k, b"touched", LONG).await })
        };
        let end = {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.take(&k).await })
        };
        touch.await.expect("task").expect("touch");
        assert!(end.await.expect("task").expect("take").is_some());
        assert_eq!(
            store.get(&k).await.expect("get"),
            None,
            "ended record came back (round {round})"
        );
    }
}

async fn take_single_use(store: Ephemeral) {
    let k = unique("take");
    assert_eq!(store.take(&k).await.expect("take missing"), None);
    store.put(&k, b"code", LONG).await.expect("put");
    assert_eq!(
        store.take(&k).await.expect("take").as_deref(),
        Some(&b"code"[..])
    );
    assert_eq!(store.take(&k).await.expect("take again"), None);
    assert_eq!(store.get(&k).await.expect("get after take"), None);
}

async fn take_concurrent(store: Ephemeral) {
    for round in 0..5 {
        let k = unique("take_race");
        let value = format!("code-{round}").into_bytes();
        store.put(&k, &value, LONG).await.expect("put");
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (store, k) = (store.clone(), k.clone());
                tokio::spawn(async move { store.take(&k).await })
            })
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            if let Some(v) = t.await.expect("task").expect("take") {
                got.push(v);
            }
        }
        assert_eq!(
            got,
            vec![value],
            "exactly one taker must win (round {round})"
        );
    }
}

async fn delete(store: Ephemeral) {
    let k = unique("delete");
    assert!(!store.delete(&k).await.expect("delete missing"));
    store.put(&k, b"v", LONG).await.expect("put");
    assert!(store.delete(&k).await.expect("delete"));
    assert!(!store.delete(&k).await.expect("delete again"));
    assert_eq!(store.get(&k).await.expect("get"), None);
}

async fn incr_counts(store: Ephemeral) {
    let k = unique("incr");
    for expected in 1..=5 {
        assert_eq!(store.incr(&k, LONG).await.expect("incr"), expected);
    }
    // Counters read back as decimal strings on every backend.
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"5"[..])
    );
    assert!(store.delete(&k).await.expect("delete"));
    assert_eq!(store.incr(&k, LONG).await.expect("incr after delete"), 1);

    // A counter may also start from a value written with `put`.
    let kp = unique("incr_put");
    store.put(&kp, b"41", LONG).await.expect("put");
    assert_eq!(store.incr(&kp, LONG).await.expect("incr"), 42);

    // Incrementing something that is not a number is an error, not a panic or a reset.
    let kn = unique("incr_nan");
    store.put(&kn, b"not a number", LONG).await.expect("put");
    store
        .incr(&kn, LONG)
        .await
        .expect_err("incr of a non-integer");
    assert_eq!(
        store.get(&kn).await.expect("get").as_deref(),
        Some(&b"not a number"[..])
    );
}

async fn incr_window(store: Ephemeral) {
    // The window starts at the first increment and is not extended by later ones.
    let k = unique("incr_window");
    let window = Duration::from_millis(400);
    let start = Instant::now();
    assert_eq!(store.incr(&k, window).await.expect("incr"), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.incr(&k, window).await.expect("incr"), 2);
    // Past the first window (but within 400 ms of the second hit).
    tokio::time::sleep(window.saturating_sub(start.elapsed()) + Duration::from_millis(150)).await;
    assert_eq!(
        store.get(&k).await.expect("get"),
        None,
        "window must not be extended"
    );
    assert_eq!(store.incr(&k, window).await.expect("incr new window"), 1);

    // A counter created by `put` without being a window keeps the put's TTL.
    let kp = unique("incr_window_put");
    store
        .put(&kp, b"7", Duration::from_millis(100))
        .await
        .expect("put");
    assert_eq!(store.incr(&kp, LONG).await.expect("incr"), 8);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.get(&kp).await.expect("get"), None);
}

async fn incr_concurrent(store: Ephemeral) {
    const N: i64 = 64;
    let k = unique("incr_race");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.incr(&k, LONG).await })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for t in tasks {
        seen.insert(t.await.expect("task").expect("incr"));
    }
    // Every increment counted once: the results are exactly 1..=N.
    assert_eq!(seen, (1..=N).collect::<BTreeSet<_>>());
    assert_eq!(
        store.get(&k).await.expect("get"),
        Some(N.to_string().into_bytes())
    );
}

async fn incr_below_stops_at_the_limit(store: Ephemeral) {
    let k = unique("incr_below");
    for expected in 1..=3 {
        assert_eq!(
            store.incr_below(&k, 3, LONG).await.expect("incr_below"),
            Some(expected)
        );
    }
    // At the limit: refused, and the refusal does not count.
    for _ in 0..3 {
        assert_eq!(store.incr_below(&k, 3, LONG).await.expect("at limit"), None);
    }
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"3"[..])
    );
    // A higher limit on the same counter goes on from there; plain incr shares it.
    assert_eq!(
        store.incr_below(&k, 5, LONG).await.expect("higher"),
        Some(4)
    );
    assert_eq!(store.incr(&k, LONG).await.expect("incr"), 5);
    assert_eq!(store.incr_below(&k, 5, LONG).await.expect("again"), None);

    // A limit below 1 counts nothing, not even the first hit.
    let kz = unique("incr_below_zero");
    assert_eq!(store.incr_below(&kz, 0, LONG).await.expect("zero"), None);
    assert_eq!(store.get(&kz).await.expect("get"), None);

    // The window starts at the first increment, like `incr`.
    let kw = unique("incr_below_window");
    let window = Duration::from_millis(300);
    assert_eq!(
        store.incr_below(&kw, 1, window).await.expect("first"),
        Some(1)
    );
    assert_eq!(store.incr_below(&kw, 1, window).await.expect("full"), None);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        store.incr_below(&kw, 1, window).await.expect("new window"),
        Some(1)
    );

    // Not a number: an error, nothing changed.
    let kn = unique("incr_below_nan");
    store.put(&kn, b"nan", LONG).await.expect("put");
    store
        .incr_below(&kn, 10, LONG)
        .await
        .expect_err("incr_below of a non-integer");
    assert_eq!(
        store.get(&kn).await.expect("get").as_deref(),
        Some(&b"nan"[..])
    );
}

async fn incr_below_concurrent(store: Ephemeral) {
    // Count-and-decide is one step: of N parallel callers exactly LIMIT are counted.
    const N: i64 = 48;
    const LIMIT: i64 = 5;
    let k = unique("incr_below_race");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.incr_below(&k, LIMIT, LONG).await })
        })
        .collect();
    let mut counted = BTreeSet::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("task").expect("incr_below") {
            Some(n) => assert!(counted.insert(n), "{n} handed out twice"),
            None => refused += 1,
        }
    }
    assert_eq!(counted, (1..=LIMIT).collect::<BTreeSet<_>>());
    assert_eq!(refused, N - LIMIT);
    assert_eq!(
        store.get(&k).await.expect("get"),
        Some(LIMIT.to_string().into_bytes())
    );
}

async fn release_gives_back_one_count(store: Ephemeral) {
    let k = unique("release");
    // Absent: nothing to give back, and nothing is created.
    assert_eq!(store.release(&k).await.expect("absent"), None);
    assert_eq!(store.get(&k).await.expect("get"), None);
    for _ in 0..2 {
        store.incr_below(&k, 2, LONG).await.expect("count");
    }
    assert_eq!(store.incr_below(&k, 2, LONG).await.expect("full"), None);
    // A released slot can be taken again; the counter never goes below zero.
    assert_eq!(store.release(&k).await.expect("release"), Some(1));
    assert_eq!(store.incr_below(&k, 2, LONG).await.expect("again"), Some(2));
    assert_eq!(store.release(&k).await.expect("release"), Some(1));
    assert_eq!(store.release(&k).await.expect("release"), Some(0));
    assert_eq!(store.release(&k).await.expect("at zero"), None);
    assert_eq!(
        store.get(&k).await.expect("get").as_deref(),
        Some(&b"0"[..])
    );

    // The window is the counter's own: a release neither extends nor ends it.
    let kw = unique("release_window");
    let window = Duration::from_millis(300);
    store.incr(&kw, window).await.expect("incr");
    store.incr(&kw, window).await.expect("incr");
    assert_eq!(store.release(&kw).await.expect("release"), Some(1));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get(&kw).await.expect("get"), None);
    assert_eq!(store.release(&kw).await.expect("expired"), None);

    // Not a number: an error, nothing changed.
    let kn = unique("release_nan");
    store.put(&kn, b"nan", LONG).await.expect("put");
    store
        .release(&kn)
        .await
        .expect_err("release of a non-integer");
    assert_eq!(
        store.get(&kn).await.expect("get").as_deref(),
        Some(&b"nan"[..])
    );
}

async fn release_concurrent(store: Ephemeral) {
    // Of N parallel releases of a counter at M < N, exactly M succeed.
    const N: i64 = 32;
    const M: i64 = 10;
    let k = unique("release_race");
    for _ in 0..M {
        store.incr(&k, LONG).await.expect("incr");
    }
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.release(&k).await })
        })
        .collect();
    let mut given_back = BTreeSet::new();
    for t in tasks {
        if let Some(n) = t.await.expect("task").expect("release") {
            assert!(given_back.insert(n), "{n} seen twice");
        }
    }
    assert_eq!(given_back, (0..M).collect::<BTreeSet<_>>());
}

async fn many_keys(store: Ephemeral) {
    // Enough distinct keys to land on every slot range of a cluster.
    let base = unique("spread");
    let keys: Vec<String> = (0..300).map(|i| format!("{base}:{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        store
            .put(k, i.to_string().as_bytes(), LONG)
            .await
            .expect("put");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            store.get(k).await.expect("get"),
            Some(i.to_string().into_bytes())
        );
    }
    for (i, k) in keys.iter().enumerate().step_by(3) {
        assert_eq!(
            store.take(k).await.expect("take"),
            Some(i.to_string().into_bytes())
        );
        assert_eq!(store.incr(k, LONG).await.expect("incr"), 1);
    }
    for k in &keys {
        assert!(store.delete(k).await.expect("delete"));
    }
}

macro_rules! contract_suite {
    ($open:path) => {
        contract_suite!(@tests $open =>
            ping,
            put_get,
            ttl_expiry,
            invalid_ttl_is_refused,
            put_if_present,
            put_if_present_never_resurrects,
            take_single_use,
            take_concurrent,
            delete,
            incr_counts,
            incr_window,
            incr_concurrent,
            incr_below_stops_at_the_limit,
            incr_below_concurrent,
            release_gives_back_one_count,
            release_concurrent,
            many_keys,
        );
    };
    (@tests $open:path => $($scenario:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                if let Some(store) = $open().await {
                    super::$scenario(store).await;
                }
            }
        )+
    };
}

mod memory {
    contract_suite!(crate::open_memory);
}

mod redis_standalone {
    contract_suite!(crate::open_redis);
}

mod redis_tls {
    contract_suite!(crate::open_redis_tls);
}

mod redis_cluster {
    contract_suite!(crate::open_redis_cluster);
}

// ---------------------------------------------------------------------------------------
// Redis-only behaviour: cluster distribution, credentials, failures in bounded time
// ---------------------------------------------------------------------------------------

/// Generous bound over the store's own deadlines (5 s connect, 3 s per operation).
const BOUND: Duration = Duration::from_secs(8);

fn password_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .unwrap_or_default()
}

fn with_password(url: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).expect("test URL parses");
    u.set_password(Some(password))
        .expect("URL takes a password");
    u.to_string()
}

/// Connecting with a wrong password fails, quickly, without echoing any password or URL.
async fn assert_wrong_password_refused(mut config: RedisConfig) {
    let real = password_of(&config.urls[0]);
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    config.urls = config
        .urls
        .iter()
        .map(|u| with_password(u, &wrong))
        .collect();
    let started = Instant::now();
    let err = Ephemeral::connect(&config)
        .await
        .expect_err("connect with a wrong password must fail")
        .to_string();
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(!err.contains(&wrong), "error leaks the password: {err}");
    assert!(
        real.is_empty() || !err.contains(&real),
        "error leaks the password: {err}"
    );
    assert!(
        !err.contains("redis://") && !err.contains("rediss://"),
        "error leaks the URL: {err}"
    );
}

#[tokio::test]
async fn wrong_password_standalone() {
    if let Some(c) = standalone_config() {
        assert_wrong_password_refused(c).await;
    }
}

#[tokio::test]
async fn wrong_password_tls() {
    if let Some(c) = tls_config() {
        assert_wrong_password_refused(c).await;
    }
}

#[tokio::test]
async fn wrong_password_cluster() {
    if let Some(c) = cluster_config() {
        assert_wrong_password_refused(c).await;
    }
}

#[tokio::test]
async fn tls_with_an_unknown_ca_is_refused() {
    let Some(mut config) = tls_config() else {
        return;
    };
    // Trust only a different CA: the server certificate must no longer verify.
    config.ca_pem = Some(UNRELATED_CA_PEM.as_bytes().to_vec());
    let err = Ephemeral::connect(&config)
        .await
        .expect_err("untrusted server certificate");
    let password = password_of(&config.urls[0]);
    assert!(!err.to_string().contains(&password), "{err}");
}

#[tokio::test]
async fn cluster_spreads_keys_over_all_nodes() {
    let Some(config) = cluster_config() else {
        return;
    };
    let store = connect(config.clone()).await;
    let base = unique("slots");
    for i in 0..100 {
        store
            .put(&format!("{base}:{i}"), b"v", LONG)
            .await
            .expect("put");
    }
    // Ask each master directly how many of these keys it holds.
    let pattern = format!("tollgate:{base}:*");
    let mut per_node = Vec::new();
    for url in &config.urls {
        let client = redis::Client::open(url.as_str()).expect("node URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to node");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        per_node.push(keys.len());
    }
    assert_eq!(per_node.iter().sum::<usize>(), 100, "{per_node:?}");
    assert!(
        per_node.iter().all(|&n| n > 0),
        "keys not spread: {per_node:?}"
    );
}

#[tokio::test]
async fn unreachable_redis_errors_in_bounded_time() {
    // Nothing listens on port 1: refused at once. No external service needed.
    for config in [
        RedisConfig {
            urls: vec!["redis://:s3cret-pw@127.0.0.1:1".into()],
            ..RedisConfig::default()
        },
        RedisConfig {
            urls: vec![
                "redis://:s3cret-pw@127.0.0.1:1".into(),
                "redis://:s3cret-pw@127.0.0.1:2".into(),
            ],
            cluster: true,
            ca_pem: None,
        },
    ] {
        let started = Instant::now();
        let err = Ephemeral::connect(&config)
            .await
            .expect_err("unreachable")
            .to_string();
        assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
        assert!(!err.contains("s3cret-pw"), "{err}");
    }
}

#[tokio::test]
async fn silent_server_errors_in_bounded_time() {
    // Accepts connections and never answers: a hung Redis. No external service needed.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    for cluster in [false, true] {
        let config = RedisConfig {
            urls: vec![format!("redis://:s3cret-pw@{addr}")],
            cluster,
            ca_pem: None,
        };
        let started = Instant::now();
        let err = Ephemeral::connect(&config)
            .await
            .expect_err("silent server")
            .to_string();
        assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
        assert!(!err.contains("s3cret-pw"), "{err}");
    }
    holder.abort();
}

// A TCP proxy in front of the real Redis that can pause (a hung server) or sever (a
// crashed server) the traffic, to check bounded errors and automatic reconnection.
const FORWARD: u8 = 0;
const PAUSE: u8 = 1;
const SEVER: u8 = 2;

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if mode.load(Ordering::SeqCst) == SEVER { return; }
                continue;
            }
        };
        // Paused bytes are held, not dropped: a slow network, not a corrupted stream.
        while mode.load(Ordering::SeqCst) == PAUSE {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if mode.load(Ordering::SeqCst) == SEVER || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn start_proxy(upstream: String, mode: Arc<AtomicU8>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            if mode.load(Ordering::SeqCst) == SEVER {
                continue; // dropped: connection closed at once
            }
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, mode.clone()));
            tokio::spawn(pump(sr, cw, mode.clone()));
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_survives_a_hung_then_restarted_server() {
    let Some(config) = standalone_config() else {
        return;
    };
    let real = url::Url::parse(&config.urls[0]).expect("URL");
    let upstream = format!(
        "{}:{}",
        real.host_str().expect("host"),
        real.port().unwrap_or(6379)
    );
    let mode = Arc::new(AtomicU8::new(FORWARD));
    let proxy = start_proxy(upstream, mode.clone()).await;
    let mut via_proxy = real.clone();
    via_proxy.set_port(Some(proxy.port())).expect("port");
    let store = connect(RedisConfig {
        urls: vec![via_proxy.to_string()],
        ..RedisConfig::default()
    })
    .await;
    let k = unique("proxy");
    store.put(&k, b"v", LONG).await.expect("put through proxy");

    // Hung server: the call fails within the deadline instead of waiting forever.
    mode.store(PAUSE, Ordering::SeqCst);
    let started = Instant::now();
    store.get(&k).await.expect_err("get against a hung server");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());

    // Crashed server: connections drop and new ones are refused; still a bounded error.
    mode.store(SEVER, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    store.get(&k).await.expect_err("get against a dead server");
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());

    // Back up: the same handle reconnects by itself.
    mode.store(FORWARD, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get(&k).await {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some(&b"v"[..]));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for reconnection: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("did not reconnect: {e}"),
        }
    }
}

/// A self-signed CA unrelated to the test servers.
const UNRELATED_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUJqW4Pc+P36uI/IYXdrm5RdTy4JIwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRVW5yZWxhdGVkIHRlc3QgQ0EwIBcNMjYxMTIyMTQ1ODIzWhgP
MjEyNjEwMjkxNDU4MjNaMBwxGjAYBgNVBAMMEVVucmVsYXRlZCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwzGenndCn/YD/H93Kxtk1e+exKJhk6E4
w9nS3/87bIX9kKbq42Btjos0YyHaqoM+VHouOuSYcekhLoTGJGUzbqNTMFEwHQYD
VR0OBBYEFCqTo6g8R5wAobUjKY2vpzO42LYZMB8GA1UdIwQYMBaAFCqTo6g8R5wA
obUjKY2vpzO42LYZMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIg
degEMIeDSp7Sjkz/e52AhpA/TJTjXDdFQvS8CAVWXj8CIQCjbmaEJS9ZK0qgz1w9
V2VmU2B67JW6pp3K3+rVeoYGfw==
-----END CERTIFICATE-----
";

/// Redis commands are measured as the `redis` dependency, failures as errors;
/// the in-process store is not a dependency.
#[tokio::test]
async fn redis_commands_are_timed_and_the_memory_store_is_not() {
    use tollgate_store::metrics::DependencyTimes;
    let times = DependencyTimes::default();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("dep", "", times.family());
    let count = |outcome: &str| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let prefix = format!("dep_count{{dependency=\"redis\",outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let memory = Ephemeral::memory().with_times(times.clone());
    memory.put(&unique("m"), b"v", LONG).await.unwrap();
    assert_eq!(count("ok"), 0);
    let Some(redis) = open_redis().await else {
        return;
    };
    let redis = redis.with_times(times.clone());
    let key = unique("timed");
    redis.put(&key, b"v", LONG).await.unwrap();
    redis.get(&key).await.unwrap();
    assert_eq!(count("ok"), 2);
    // A counter over a non-integer value is Redis's refusal.
    assert!(redis.incr(&key, LONG).await.is_err());
    assert_eq!(count("error"), 1);
}
