//! The audit trail: every event goes to the log at once and to the durable
//! store in batches, off the request path.

use std::time::Duration;

use tokio::sync::mpsc;
use tollgate_store::model::AuditEvent;
use tollgate_store::Db;

#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<AuditEvent>,
}

const BATCH: usize = 256;

impl Audit {
    /// Starts the background writer; it ends when every `Audit` clone is dropped.
    pub fn start(db: Db) -> (Audit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(16_384);
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let n = rx.recv_many(&mut batch, BATCH).await;
                if n == 0 {
                    break;
                }
                if let Err(e) = db.insert_audit_events(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "audit events not stored");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                batch.clear();
            }
        });
        (Audit { tx }, handle)
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
            tracing::warn!("audit queue full; event kept in the log only");
        }
    }
}
