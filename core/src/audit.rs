//! The audit trail: every event goes to the log at once and to the durable
//! store in batches, off the request path.
//!
//! A batch the store refuses is retried with a growing pause (a database
//! restart or failover loses nothing); meanwhile new events wait in a bounded
//! queue. An event is dropped only when that queue is full or its batch kept
//! failing for [`GIVE_UP_AFTER`]; every drop is counted in
//! `tollgate_audit_events_dropped_total` and reported in the log, a full
//! queue at most once per [`FULL_REPORT_EVERY`] (under overload a line per
//! dropped event would double the log the event already went to).
//!
//! Events are built by name, never by position, so two fields of the same
//! type cannot be swapped unnoticed:
//! `state.audit("user.signed_in").client(id).contact_center(cc).subject(s).ip(ip).detail(json!(..)).record()`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tollgate_store::model::{now, AuditEvent};
use tollgate_store::Db;

#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<AuditEvent>,
    dropped: Counter,
    /// When a full queue was last reported (Unix seconds).
    full_reported: Arc<AtomicI64>,
}

const BATCH: usize = 256;
/// How long a batch that is not full waits for more events: a commit costs
/// more than the rows in it, and under load this turns a commit per few
/// events into one per batch. The log has every event at once.
const GATHER: Duration = Duration::from_millis(20);
const QUEUE: usize = 16_384;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// Longer than a PostgreSQL failover or restart.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);
/// Seconds between two reports of a full queue.
pub const FULL_REPORT_EVERY: i64 = 10;

impl Audit {
    /// Starts the background writer; it ends when every `Audit` clone is
    /// dropped. `dropped` counts the events that never reached the store.
    pub fn start(db: Db, dropped: Counter) -> (Audit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let counter = dropped.clone();
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                gather(&mut rx, &mut batch).await;
                store(&db, &batch, &counter).await;
                batch.clear();
            }
        });
        (Audit::new(tx, dropped), handle)
    }

    fn new(tx: mpsc::Sender<AuditEvent>, dropped: Counter) -> Audit {
        Audit {
            tx,
            dropped,
            full_reported: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// An event of this kind, with no fields and detail `{}` until set.
    pub fn event<'a>(&'a self, kind: &'a str) -> AuditRecord<'a> {
        AuditRecord {
            audit: self,
            kind,
            client_id: None,
            contact_center_id: None,
            subject: None,
            ip: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
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
            if report_due(&self.full_reported, now()) {
                tracing::error!(
                    dropped_total = self.dropped.get(),
                    "audit queue full; events kept in the log only (tollgate_audit_events_dropped_total counts them)"
                );
            }
        }
    }
}

/// Tops `batch` up with what arrives within [`GATHER`]; a full batch goes at once.
async fn gather(rx: &mut mpsc::Receiver<AuditEvent>, batch: &mut Vec<AuditEvent>) {
    if batch.len() >= BATCH {
        return;
    }
    tokio::time::sleep(GATHER).await;
    if !rx.is_empty() {
        rx.recv_many(batch, BATCH - batch.len()).await;
    }
}

/// Whether a report last made at `last` is due again at `now`; claims it.
fn report_due(last: &AtomicI64, now: i64) -> bool {
    let before = last.load(Ordering::Relaxed);
    now.saturating_sub(before) >= FULL_REPORT_EVERY
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// One audit event being described; nothing is recorded until [`record`](Self::record).
#[must_use = "an audit event is recorded only by .record()"]
pub struct AuditRecord<'a> {
    audit: &'a Audit,
    kind: &'a str,
    client_id: Option<&'a str>,
    contact_center_id: Option<&'a str>,
    subject: Option<&'a str>,
    ip: Option<&'a str>,
    detail: serde_json::Value,
}

/// A value for a field of an [`AuditRecord`]: a string, or an `Option` of one
/// (`None` leaves the field empty).
pub trait AuditField<'a> {
    fn into_field(self) -> Option<&'a str>;
}

impl<'a> AuditField<'a> for &'a str {
    fn into_field(self) -> Option<&'a str> {
        Some(self)
    }
}

impl<'a> AuditField<'a> for &'a String {
    fn into_field(self) -> Option<&'a str> {
        Some(self)
    }
}

impl<'a> AuditField<'a> for Option<&'a str> {
    fn into_field(self) -> Option<&'a str> {
        self
    }
}

impl<'a> AuditRecord<'a> {
    /// The OAuth client concerned.
    pub fn client(mut self, client_id: impl AuditField<'a>) -> Self {
        self.client_id = client_id.into_field();
        self
    }

    pub fn contact_center(mut self, contact_center_id: impl AuditField<'a>) -> Self {
        self.contact_center_id = contact_center_id.into_field();
        self
    }

    /// Who acted or was acted upon: a user, an operator, an administrator.
    pub fn subject(mut self, subject: impl AuditField<'a>) -> Self {
        self.subject = subject.into_field();
        self
    }

    /// The caller's address.
    pub fn ip(mut self, ip: impl AuditField<'a>) -> Self {
        self.ip = ip.into_field();
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn record(self) {
        self.audit.record(AuditEvent {
            at: now(),
            kind: self.kind.to_string(),
            client_id: self.client_id.map(str::to_string),
            contact_center_id: self.contact_center_id.map(str::to_string),
            subject: self.subject.map(str::to_string),
            ip: self.ip.map(str::to_string),
            detail: self.detail,
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> (Audit, mpsc::Receiver<AuditEvent>) {
        let (tx, rx) = mpsc::channel(1);
        (Audit::new(tx, Counter::default()), rx)
    }

    fn event(kind: &str) -> AuditEvent {
        AuditEvent {
            at: 0,
            kind: kind.into(),
            client_id: None,
            contact_center_id: None,
            subject: None,
            ip: None,
            detail: serde_json::json!({}),
        }
    }

    fn kinds(batch: &[AuditEvent]) -> Vec<&str> {
        batch.iter().map(|e| e.kind.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_what_arrives_within_the_window() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut batch = vec![event("first")];
        let _sender = tokio::spawn(async move {
            tokio::time::sleep(GATHER / 2).await;
            tx.send(event("within")).await.expect("send");
            tokio::time::sleep(GATHER).await;
            tx.send(event("after")).await.expect("send");
        });
        gather(&mut rx, &mut batch).await;
        assert_eq!(kinds(&batch), ["first", "within"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_does_not_wait() {
        let (_tx, mut rx) = mpsc::channel(1);
        let mut batch: Vec<_> = (0..BATCH).map(|_| event("e")).collect();
        let started = Instant::now();
        gather(&mut rx, &mut batch).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_full_queue_is_reported_once_per_period() {
        let last = AtomicI64::new(i64::MIN);
        assert!(report_due(&last, 1_000));
        assert!(!report_due(&last, 1_000));
        assert!(!report_due(&last, 1_000 + FULL_REPORT_EVERY - 1));
        assert!(report_due(&last, 1_000 + FULL_REPORT_EVERY));
    }

    #[test]
    fn every_dropped_event_is_counted() {
        let (audit, _rx) = audit();
        for _ in 0..3 {
            audit.event("user.signed_in").record();
        }
        assert_eq!(audit.dropped.get(), 2, "the queue holds one");
    }

    #[test]
    fn each_field_lands_where_it_is_named() {
        let (audit, mut rx) = audit();
        let cc = String::from("cc1");
        audit
            .event("user.signed_in")
            .client("app")
            .contact_center(&cc)
            .subject(Some("cc1\\alice"))
            .ip(Some("192.0.2.1"))
            .detail(serde_json::json!({"form": "sign-in"}))
            .record();
        let e = rx.try_recv().expect("recorded");
        assert_eq!(e.kind, "user.signed_in");
        assert_eq!(e.client_id.as_deref(), Some("app"));
        assert_eq!(e.contact_center_id.as_deref(), Some("cc1"));
        assert_eq!(e.subject.as_deref(), Some("cc1\\alice"));
        assert_eq!(e.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(e.detail, serde_json::json!({"form": "sign-in"}));
    }

    #[test]
    fn unset_fields_are_empty_and_detail_is_an_empty_object() {
        let (audit, mut rx) = audit();
        audit.event("client.created").ip(None::<&str>).record();
        let e = rx.try_recv().expect("recorded");
        assert_eq!(e.kind, "client.created");
        assert_eq!(
            (e.client_id, e.contact_center_id, e.subject, e.ip),
            (None, None, None, None)
        );
        assert_eq!(e.detail, serde_json::json!({}));
    }
}
