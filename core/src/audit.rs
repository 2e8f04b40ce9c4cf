//! The audit trail: every event goes to the log at once and to the durable
//! store in batches, off the request path.
//!
//! A batch the store refuses is retried with a growing pause (a database
//! restart or failover loses nothing); meanwhile new events wait in a bounded
//! queue. An event is dropped only when that queue is full or its batch kept
//! failing for [`GIVE_UP_AFTER`]; every drop is logged and counted in
//! `tollgate_audit_events_dropped_total`.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tollgate_store::model::AuditEvent;
use tollgate_store::Db;

#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<AuditEvent>,
    dropped: Counter,
}

const BATCH: usize = 256;
const QUEUE: usize = 16_384;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// Longer than a PostgreSQL failover or restart.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

impl Audit {
    /// Starts the background writer; it ends when every `Audit` clone is
    /// dropped. `dropped` counts the events that never reached the store.
    pub fn start(db: Db, dropped: Counter) -> (Audit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let counter = dropped.clone();
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                store(&db, &batch, &counter).await;
                batch.clear();
            }
        });
        (Audit { tx, dropped }, handle)
    }

    pub fn record(&self, event: AuditEvent) {
        tracing::info!(
            target: "audit",
            kind = %event.kind,
            client_id = event.client_id.as_deref().unwrap_or(""),
            contact_center_id = event.contact_center_id.as_deref().unwrap_or(""),
            subject = event.subject.as_deref().unwrap_or(""),
            ip = event.ip.as_deref().unwrap_or(""),
            detail = %event.detail,
        );
        if self.tx.try_send(event).is_err() {
            self.dropped.inc();
            tracing::error!("audit queue full; event kept in the log only");
        }
    }
}

/// Stores one batch, retrying until it is stored or [`GIVE_UP_AFTER`] passed.
async fn store(db: &Db, batch: &[AuditEvent], dropped: &Counter) {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        let Err(e) = db.insert_audit_events(batch).await else {
            return;
        };
        if started.elapsed() >= GIVE_UP_AFTER {
            dropped.inc_by(batch.len() as u64);
            tracing::error!(error = %e, lost = batch.len(), "audit events not stored; giving up");
            return;
        }
        tracing::warn!(error = %e, pending = batch.len(), retry_in = ?pause, "audit events not stored yet");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
