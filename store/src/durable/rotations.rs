//! Group commit of refresh-token rotations.
//!
//! Every signed-in agent rotates a refresh token all day, and one rotation
//! alone is a few tiny statements whose cost is the round trip (and on
//! SQLite the hand-offs to its one writer thread), not the work. So
//! rotations asked at the same time are done together: one task takes
//! everything queued, rotates it in one transaction (one statement on
//! PostgreSQL), and answers each caller after the commit. Nothing waits on
//! a timer: a batch is whatever arrived while the previous one ran.
//!
//! A token asked twice in one batch goes to the next batch, so each
//! rotation is decided by the database's conditional update as before: the
//! second one finds the token used.
//!
//! A caller is answered "unavailable" only for a rotation that was never
//! sent: the batch checks each caller's deadline once it holds a
//! connection (on SQLite, the write lock), and a caller never stops
//! waiting on its own while its rotation may still be sent. Otherwise a
//! database back moments after an outage could commit a rotation whose
//! client was told it failed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use super::Backend;
use crate::error::{Result, StoreError};
use crate::model::{RefreshFamily, RefreshToken, Timestamp};

/// One rotation of the common case: `old_hash`, of a live family of
/// `client_id` bound to no DPoP key or to `jkt`, is used at `now` and `new`
/// (its `family_id` ignored, its expiry capped at the family's) joins it.
#[derive(Debug)]
pub(super) struct Rotation {
    pub old_hash: String,
    pub client_id: String,
    pub jkt: Option<String>,
    pub new: RefreshToken,
    pub now: Timestamp,
}

/// The families of the rotations that happened, by presented hash.
pub(super) type Rotated = HashMap<String, RefreshFamily>;

type Reply = oneshot::Sender<Result<Option<RefreshFamily>>>;

struct Asked {
    rotation: Rotation,
    reply: Reply,
    /// Not sent by then, the rotation is refused as unavailable.
    deadline: Instant,
}

/// The most rotations in one batch: a statement of bounded size.
const MAX_BATCH: usize = 256;

/// How many rotations may wait for a batch; beyond, callers wait to queue.
const QUEUE: usize = 4 * MAX_BATCH;

/// Batches at once: PostgreSQL overlaps their round trips and commits;
/// SQLite has one writer.
fn in_flight(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => 4,
        Backend::Sqlite => 1,
    }
}

/// The callers' side of the batching task, which ends when every handle
/// to it is gone.
#[derive(Clone, Debug)]
pub(super) struct Queue {
    tx: mpsc::Sender<Asked>,
    /// The longest a rotation waits to be sent (the pool's acquire
    /// timeout: the longest a request hangs when the database is gone), and
    /// the longest its batch then runs.
    wait: Duration,
}

impl Queue {
    pub(super) fn start(pool: AnyPool, backend: Backend, wait: Duration) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, backend, wait, rx));
        Queue { tx, wait }
    }

    /// The family `rotation` rotated in, or `None` when it did not rotate.
    pub(super) async fn rotate(&self, rotation: Rotation) -> Result<Option<RefreshFamily>> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + self.wait;
        let asked = async {
            self.tx
                .send(Asked {
                    rotation,
                    reply,
                    deadline,
                })
                .await
                .map_err(|_| StoreError::InDoubt("the rotation queue has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::InDoubt("the rotation batch was dropped".into()))?
        };
        // The batch answers by the deadline, or (sent by then) within
        // `wait` of it; this bound only guards against a stuck task.
        let bound = deadline + 2 * self.wait;
        tokio::time::timeout_at(bound, asked)
            .await
            .map_err(|_| StoreError::InDoubt("the rotation batch did not answer in time".into()))?
    }
}

async fn run(pool: AnyPool, backend: Backend, wait: Duration, mut rx: mpsc::Receiver<Asked>) {
    let permits = Arc::new(Semaphore::new(in_flight(backend)));
    let mut deferred = Vec::new();
    loop {
        // Never closed, so acquiring only waits.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut queued = std::mem::take(&mut deferred);
        if queued.is_empty() {
            match rx.recv().await {
                Some(asked) => queued.push(asked),
                None => return,
            }
        }
        while queued.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(asked) => queued.push(asked),
                Err(_) => break,
            }
        }
        let (batch, again) = one_per_token(queued);
        deferred = again;
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, backend, wait, batch).await;
            drop(permit);
        });
    }
}

/// The first rotation of each token, and the rest for the next batch;
/// rotations whose caller gave up are dropped (they did not happen).
fn one_per_token(queued: Vec<Asked>) -> (Vec<Asked>, Vec<Asked>) {
    let mut seen = std::collections::HashSet::new();
    let (batch, again): (Vec<Asked>, Vec<Asked>) = queued
        .into_iter()
        .filter(|asked| !asked.reply.is_closed())
        .partition(|asked| seen.insert(asked.rotation.old_hash.clone()));
    (batch, again)
}

async fn answer(pool: &AnyPool, backend: Backend, wait: Duration, batch: Vec<Asked>) {
    let Some(last) = batch.iter().map(|a| a.deadline).max() else {
        return;
    };
    let session = match tokio::time::timeout_at(last, Session::open(pool, backend)).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return fail(batch, &e.to_string(), false),
        Err(_) => return fail(batch, "no database connection in time", false),
    };
    let now = Instant::now();
    let (batch, late): (Vec<Asked>, Vec<Asked>) = batch
        .into_iter()
        .partition(|a| a.deadline > now && !a.reply.is_closed());
    if !late.is_empty() {
        fail(late, "no database connection in time", false);
    }
    if batch.is_empty() {
        return;
    }
    let rotations: Vec<&Rotation> = batch.iter().map(|a| &a.rotation).collect();
    let mut rotated = match tokio::time::timeout(wait, session.rotate(&rotations)).await {
        Ok(Ok(rotated)) => rotated,
        Ok(Err(e)) => return fail(batch, &e.to_string(), true),
        Err(_) => return fail(batch, "the rotation batch did not finish in time", true),
    };
    for asked in batch {
        let family = rotated.remove(&asked.rotation.old_hash);
        let _ = asked.reply.send(Ok(family));
    }
}

/// Answers every rotation of a batch that did not finish with an error:
/// one never sent did not happen (unavailable); one sent is in doubt, as
/// the failure may have come after the commit.
fn fail(batch: Vec<Asked>, why: &str, sent: bool) {
    tracing::warn!(
        error = why,
        rotations = batch.len(),
        sent,
        "a rotation batch failed"
    );
    for asked in batch {
        let e = if sent {
            StoreError::InDoubt(why.to_string())
        } else {
            StoreError::Unavailable("database")
        };
        let _ = asked.reply.send(Err(e));
    }
}

/// What a batch holds before it sends anything: a connection on
/// PostgreSQL (the batch is one statement), the write lock on SQLite.
enum Session {
    Postgres(PoolConnection<Any>),
    Sqlite(Transaction<'static, Any>),
}

impl Session {
    async fn open(pool: &AnyPool, backend: Backend) -> Result<Session> {
        Ok(match backend {
            Backend::Postgres => Session::Postgres(pool.acquire().await?),
            Backend::Sqlite => Session::Sqlite(super::begin(pool, backend).await?),
        })
    }

    async fn rotate(self, batch: &[&Rotation]) -> Result<Rotated> {
        match self {
            Session::Postgres(mut conn) => {
                super::refresh_tokens::rotate_batch_postgres(&mut conn, batch).await
            }
            Session::Sqlite(tx) => super::refresh_tokens::rotate_batch_sqlite(tx, batch).await,
        }
    }
}
