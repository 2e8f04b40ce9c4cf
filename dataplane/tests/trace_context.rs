//! A caller's W3C `traceparent` reaches the log lines of its request, and
//! with `--otlp-endpoint` the exported spans continue the caller's trace:
//! the real binary, exporting to a collector of the test's own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::free_port;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector that hands over every body posted to /v1/traces.
async fn collector() -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let _ = tx.send(body.to_vec());
            async { "" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_reaches_the_logs_and_the_exported_spans() {
    let (otlp, mut exported) = collector().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, mgmt) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("dev")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--management-listen", &format!("127.0.0.1:{mgmt}")])
        .env("TOLLGATE_LOG_FORMAT", "json")
        .env("TOLLGATE_LOG", "info,tower_http=debug")
        .env("TOLLGATE_OTLP_ENDPOINT", &otlp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tollgate dev");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{mgmt}/health/ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "tollgate dev did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = http
        .get(format!(
            "http://127.0.0.1:{port}/.well-known/openid-configuration"
        ))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success());

    let logged = format!("\"trace_id\":\"{TRACE_ID}\"");
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("a log line with the trace id");
        if line.contains(&logged) {
            break line;
        }
    };
    assert!(line.contains("openid-configuration"), "{line}");

    // A graceful stop flushes the batch of spans.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let body = tokio::time::timeout(Duration::from_secs(10), exported.recv())
        .await
        .expect("spans exported before the process ended")
        .expect("a body");
    let trace = hex::decode(TRACE_ID).unwrap();
    let parent = hex::decode(PARENT_ID).unwrap();
    // OTLP protobuf carries the ids as raw bytes.
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(&trace),
        "the exported span is not in the caller's trace"
    );
    assert!(
        has(&parent),
        "the exported span has not the caller's span as parent"
    );
}
