//! Posting logout tokens (OIDC Back-Channel Logout 1.0 §2.5): a bounded
//! queue drained by one task, at most [`CONCURRENT`] posts at a time, each
//! tried [`ATTEMPTS`] times with a doubling pause. Sign-out never waits for
//! a relying party. The queue is this process's memory: what is still
//! queued when the process stops is not sent.
//!
//! URIs go through the outbound policy like every tenant-facing URL: a
//! relying party on a private address needs `--outbound-allow`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{mpsc, Semaphore};

use crate::metrics::OutcomeLabel;
use crate::outbound::Policy;

/// Logout tokens waiting to be posted; more are dropped (and counted).
pub const QUEUE: usize = 1024;
/// Posts in flight at once.
pub const CONCURRENT: usize = 8;
/// Tries per logout token: the first and three retries, 1, 2 and 4 s apart.
pub const ATTEMPTS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// Per post: connecting, sending and the relying party's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One logout token for one relying party.
#[derive(Debug)]
pub struct Delivery {
    pub client_id: String,
    pub uri: String,
    pub token: String,
}

/// The sending side of the queue, shared by every request.
pub struct Backchannel {
    tx: mpsc::Sender<Delivery>,
    outcomes: Family<OutcomeLabel, Counter>,
}

impl Backchannel {
    /// Starts the task that posts; it ends when the `Backchannel` is dropped.
    /// `outcomes` counts logout tokens by `delivered`, `refused` (the relying
    /// party answered 4xx), `failed` (no success after every try), `dropped`.
    pub fn start(outbound: &Arc<Policy>, outcomes: Family<OutcomeLabel, Counter>) -> Self {
        let http = outbound
            .client_builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(drain(rx, http, outcomes.clone()));
        Backchannel { tx, outcomes }
    }

    /// Queues a logout token; when the queue is full it is dropped.
    pub fn send(&self, delivery: Delivery) {
        if let Err(e) = self.tx.try_send(delivery) {
            count(&self.outcomes, "dropped");
            let client_id = match &e {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => {
                    d.client_id.clone()
                }
            };
            tracing::warn!(%client_id, "back-channel logout queue full; logout token dropped");
        }
    }
}

fn count(outcomes: &Family<OutcomeLabel, Counter>, outcome: &str) {
    outcomes
        .get_or_create(&OutcomeLabel {
            outcome: outcome.into(),
        })
        .inc();
}

async fn drain(
    mut rx: mpsc::Receiver<Delivery>,
    http: reqwest::Client,
    outcomes: Family<OutcomeLabel, Counter>,
) {
    let limit = Arc::new(Semaphore::new(CONCURRENT));
    while let Some(d) = rx.recv().await {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (http, outcomes) = (http.clone(), outcomes.clone());
        tokio::spawn(async move {
            count(&outcomes, deliver(&http, &d).await);
            drop(permit);
        });
    }
}

/// Posts `d` until the relying party answers 2xx (`delivered`) or 4xx
/// (`refused`: the same token would be refused again, §2.8), or the tries
/// run out (`failed`).
async fn deliver(http: &reqwest::Client, d: &Delivery) -> &'static str {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &d.token)
        .finish();
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let sent = http
            .post(&d.uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => return "delivered",
            Ok(res) if res.status().is_client_error() => {
                tracing::warn!(client_id = %d.client_id, status = %res.status(), "relying party refused a logout token");
                return "refused";
            }
            Ok(res) => {
                tracing::warn!(client_id = %d.client_id, status = %res.status(), attempt, "back-channel logout failed")
            }
            Err(e) => {
                tracing::warn!(client_id = %d.client_id, error = %e, attempt, "back-channel logout failed")
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    "failed"
}
