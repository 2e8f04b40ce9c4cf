//! A refresh whose rotation committed while its answer was lost (the
//! database connection died after the statement reached PostgreSQL, or the
//! request's deadline passed while the answer was held up): the client's
//! retry of the same token must continue its grant, not be taken for reuse,
//! while a token presented again without such a failure still revokes the
//! family.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use sqlx::Executor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_store::ephemeral::Ephemeral;

use crate::common::*;

fn refresh_form(rt: &str) -> [(&str, &str); 2] {
    [("grant_type", "refresh_token"), ("refresh_token", rt)]
}

#[tokio::test]
async fn a_retry_of_a_rotation_whose_answer_was_lost_continues_the_grant() {
    let Some((s, cutter, first)) = behind_cutter("refresh_in_doubt", 10).await else {
        return;
    };
    let rt1 = str_of(&first, "refresh_token").to_string();

    // The grant rotates the token in one statement (the first message
    // holding its digest): that statement commits, its answer never arrives.
    cutter.arm(digest(&rt1), 1, CUT_AFTER);
    let lost = s.token(DEMO, &refresh_form(&rt1)).await;
    lost.expect_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert!(cutter.fired(), "the rotation's answer was cut");
    continues_after_the_loss(&s, &first, &rt1).await;
}

/// The answer held up past the request's deadline (a database that went
/// silent, as behind a network black hole) ends the request with 503 while
/// the statement stays out; the database then commits it. Before, the
/// client's retry was taken for reuse and ended its grant.
#[tokio::test]
async fn a_retry_after_the_request_deadline_continues_the_grant() {
    let Some((s, cutter, first)) = behind_cutter("refresh_deadline", 1).await else {
        return;
    };
    let rt1 = str_of(&first, "refresh_token").to_string();

    held_past_the_deadline(&s, &cutter, &rt1).await;
    continues_after_the_loss(&s, &first, &rt1).await;
}

/// A client that retries while the database is still silent leaves a
/// second rotation in doubt, one that found the token used; the first,
/// which landed, must still be found. Before, the second attempt's record
/// replaced the first's and the third try was taken for reuse.
#[tokio::test]
async fn a_second_attempt_in_doubt_does_not_hide_the_first() {
    let Some((s, cutter, first)) = behind_cutter("refresh_twice", 1).await else {
        return;
    };
    let rt1 = str_of(&first, "refresh_token").to_string();
    for _ in 0..2 {
        held_past_the_deadline(&s, &cutter, &rt1).await;
    }
    continues_after_the_loss(&s, &first, &rt1).await;
}

/// A server on a fresh database reached through an [`AnswerCutter`], each
/// request given `request_timeout` seconds, and a user's first tokens.
async fn behind_cutter(
    test: &str,
    request_timeout: i64,
) -> Option<(TestServer, AnswerCutter, serde_json::Value)> {
    let url = TestServer::postgres_database(test).await?;
    let cutter = AnswerCutter::start(&url).await;
    let args = tollgate::app::config::CommonArgs {
        request_timeout,
        ..default_args()
    };
    let s = TestServer::on_url(&cutter.url(&url), args, Ephemeral::memory()).await;
    let first = s.password_tokens(None).await;
    Some((s, cutter, first))
}

/// A refresh of `rt` whose rotation's answer is held back past the
/// request's deadline: the request ends with 503, the statement stays out.
async fn held_past_the_deadline(s: &TestServer, cutter: &AnswerCutter, rt: &str) {
    cutter.arm(digest(rt), 1, Duration::from_secs(3));
    let late = s.token(DEMO, &refresh_form(rt)).await;
    late.expect_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    assert!(cutter.fired(), "the rotation's answer was held up");
}

fn digest(rt: &str) -> Vec<u8> {
    tollgate_core::tokens::token_digest(rt).into_bytes()
}

/// `rt1`'s rotation committed without its client learning the successor:
/// the client's retry continues the grant, once.
async fn continues_after_the_loss(s: &TestServer, first: &serde_json::Value, rt1: &str) {
    assert!(!s.is_active(rt1).await, "the rotation committed");
    // The client retries once the database answers again: same grant, and
    // the successor that the lost rotation stored.
    let retried = retry_while_unavailable(s, rt1).await;
    let rt2 = str_of(&retried, "refresh_token").to_string();
    assert!(s.is_active(&rt2).await);
    let sid = |t: &serde_json::Value| t["sid"].clone();
    assert_eq!(
        sid(&s.verify_jwt(str_of(&retried, "access_token"), ISSUER).await),
        sid(&s.verify_jwt(str_of(first, "access_token"), ISSUER).await),
    );

    // The exception is spent: the same token once more is reuse.
    s.token(DEMO, &refresh_form(rt1))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(!s.is_active(&rt2).await, "reuse revoked the family");
}

#[tokio::test]
async fn without_a_lost_answer_a_replay_is_still_reuse() {
    let Some(url) = TestServer::postgres_database("refresh_replay").await else {
        return;
    };
    let s = TestServer::on_url(&url, default_args(), Ephemeral::memory()).await;
    let first = s.password_tokens(None).await;
    let rt1 = str_of(&first, "refresh_token");
    let second = s.token(DEMO, &refresh_form(rt1)).await.tokens();
    let rt2 = str_of(&second, "refresh_token");
    s.token(DEMO, &refresh_form(rt1))
        .await
        .expect_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(!s.is_active(rt2).await);
}

/// PostgreSQL may fail a statement's commit after it sent the statement's
/// rows: here a deferred constraint trigger, in production a WAL that
/// cannot grow (the server PANICs at the commit; a fault scenario caught
/// it). Such a rotation did not happen and must not be answered: before,
/// the client got a successor the database never stored, and its next
/// refresh was refused as unknown.
#[tokio::test]
async fn a_rotation_whose_commit_fails_is_not_answered() {
    let Some(url) = TestServer::postgres_database("refresh_commit_fails").await else {
        return;
    };
    let s = TestServer::on_url(&url, default_args(), Ephemeral::memory()).await;
    let first = s.password_tokens(None).await;
    let rt1 = str_of(&first, "refresh_token");
    let pool = s.db.pool();
    for sql in [
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$",
        "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON refresh_tokens \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
    ] {
        pool.execute(sql).await.expect(sql);
    }
    let refused = s.token(DEMO, &refresh_form(rt1)).await;
    assert!(
        refused.status.is_server_error(),
        "a rotation that did not commit was answered: {} {}",
        refused.status,
        String::from_utf8_lossy(&refused.body)
    );

    pool.execute("DROP TRIGGER refuse_commit ON refresh_tokens")
        .await
        .expect("drop trigger");
    let rotated = retry_while_unavailable(&s, rt1).await;
    let rt2 = str_of(&rotated, "refresh_token");
    let next = s.token(DEMO, &refresh_form(rt2)).await.tokens();
    assert!(s.is_active(str_of(&next, "refresh_token")).await);
}

/// Refreshes `rt` until the store's breaker lets requests through again.
async fn retry_while_unavailable(s: &TestServer, rt: &str) -> serde_json::Value {
    for _ in 0..100 {
        let res = s.token(DEMO, &refresh_form(rt)).await;
        if res.status != StatusCode::SERVICE_UNAVAILABLE {
            return res.tokens();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the store stayed unavailable");
}

/// How long the proxy lets the server run what it received before it hangs
/// up, by default: enough to commit, less than the request's deadline.
const CUT_AFTER: Duration = Duration::from_millis(500);

/// The pattern to watch for, how many more messages holding it pass, and
/// how long the connection then stays open without answers.
type Armed = std::sync::Mutex<Option<(Vec<u8>, usize, Duration)>>;

/// A TCP proxy in front of PostgreSQL that, once armed, lets the `nth`
/// client message holding `pattern` reach the server, holds back every
/// answer on that connection and hangs up after a while.
struct AnswerCutter {
    port: u16,
    armed: Arc<Armed>,
    fired: Arc<AtomicBool>,
}

impl AnswerCutter {
    async fn start(url: &str) -> AnswerCutter {
        let upstream = host_port(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cutter = AnswerCutter {
            port,
            armed: Default::default(),
            fired: Default::default(),
        };
        let (armed, fired) = (cutter.armed.clone(), cutter.fired.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.expect("upstream");
                tokio::spawn(relay(client, server, armed.clone(), fired.clone()));
            }
        });
        cutter
    }

    /// `url` through the proxy, in clear text so the proxy can read it.
    fn url(&self, url: &str) -> String {
        let url = url.replacen(&host_port(url), &format!("127.0.0.1:{}", self.port), 1);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode=disable")
    }

    fn arm(&self, pattern: Vec<u8>, nth: usize, hang_up_after: Duration) {
        *self.armed.lock().expect("lock") = Some((pattern, nth, hang_up_after));
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, armed: Arc<Armed>, fired: Arc<AtomicBool>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    let cut_answers = cut.clone();
    let answers = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
            // Held back, not hung up: the client sees silence until the relay ends.
            if cut_answers.load(Ordering::SeqCst) {
                continue;
            }
            if client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
        let hang_up_after = countdown(&armed, &buf[..n]);
        // Cut before forwarding, so no byte of the answer gets through.
        if hang_up_after.is_some() {
            cut.store(true, Ordering::SeqCst);
        }
        if server_tx.write_all(&buf[..n]).await.is_err() {
            break;
        }
        if let Some(after) = hang_up_after {
            fired.store(true, Ordering::SeqCst);
            // Let the server run (and commit) what it received, then hang up.
            tokio::time::sleep(after).await;
            break;
        }
    }
    answers.abort();
}

/// Counts a message holding the armed pattern (on any connection): for the
/// one that is due, how long its connection stays open.
fn countdown(armed: &Armed, message: &[u8]) -> Option<Duration> {
    let mut armed = armed.lock().expect("lock");
    let (pattern, remaining, after) = armed.as_mut()?;
    if !contains(message, pattern) {
        return None;
    }
    *remaining -= 1;
    if *remaining > 0 {
        return None;
    }
    let after = *after;
    *armed = None;
    Some(after)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}
