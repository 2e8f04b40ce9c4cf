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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

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
    /// The longest a caller waits for its answer (the pool's acquire
    /// timeout: the longest a request hangs when the database is gone), and
    /// the longest a batch runs.
    wait: Duration,
}

impl Queue {
    pub(super) fn start(pool: AnyPool, backend: Backend, wait: Duration) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, backend, wait, rx));
        Queue { tx, wait }
    }

    /// The family `rotation` rotated in, or `None` when it did not rotate.
    /// An answer that does not come in time is in doubt: the batch may
    /// still commit.
    pub(super) async fn rotate(&self, rotation: Rotation) -> Result<Option<RefreshFamily>> {
        let (reply, answer) = oneshot::channel();
        let asked = async {
            self.tx
                .send(Asked { rotation, reply })
                .await
                .map_err(|_| StoreError::InDoubt("the rotation queue has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::InDoubt("the rotation batch was dropped".into()))?
        };
        tokio::time::timeout(self.wait, asked)
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
    let rotations: Vec<&Rotation> = batch.iter().map(|a| &a.rotation).collect();
    let done = tokio::time::timeout(wait, rotate_batch(pool, backend, &rotations)).await;
    let mut rotated = match done {
        Ok(Ok(rotated)) => rotated,
        Ok(Err(e)) => return fail(batch, &e.to_string()),
        Err(_) => return fail(batch, "the rotation batch did not finish in time"),
    };
    for asked in batch {
        let family = rotated.remove(&asked.rotation.old_hash);
        let _ = asked.reply.send(Ok(family));
    }
}

/// Every rotation of a failed batch is in doubt: the failure may have come
/// after the commit.
fn fail(batch: Vec<Asked>, why: &str) {
    tracing::warn!(
        error = why,
        rotations = batch.len(),
        "a rotation batch failed"
    );
    for asked in batch {
        let _ = asked.reply.send(Err(StoreError::InDoubt(why.to_string())));
    }
}

async fn rotate_batch(pool: &AnyPool, backend: Backend, batch: &[&Rotation]) -> Result<Rotated> {
    match backend {
        Backend::Postgres => super::refresh_tokens::rotate_batch_postgres(pool, batch).await,
        Backend::Sqlite => super::refresh_tokens::rotate_batch_sqlite(pool, batch).await,
    }
}
