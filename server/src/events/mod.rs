//! Events: rule transitions, device events (ATS transfers, lost sources,
//! unreachable PDUs, reboots) and outlet commands with who asked and how
//! they ended.
//!
//! Owns: the [`EventSink`] every part records into, the derivation of device
//! events from two consecutive snapshots ([`derive`], called once, by the
//! poller, for every consumer), and the one writer task that keeps events in
//! the history store ([`store`]) for the retention period. The one thing to
//! know: recording never waits — the event goes to the live stream and the
//! recent list at once and to the writer through a durable queue whose
//! losses are counted.

pub mod store;

use crate::clock::unix_ms;
use crate::history::store::Store;
use crate::queue::{self, Durable, QueueHealth};
use app::model::{Connection, Event, PduSnapshot, RangeStatus, Redundancy};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Events the dashboard gets with the page, newest first.
const RECENT: usize = 100;
/// Events waiting for the writer before they are counted as lost.
const QUEUE: usize = 4096;
/// Events waiting in memory while the store refuses writes (disk full).
const MAX_UNWRITTEN: usize = 10_000;

/// Where events are recorded. Shared by the pollers, rules, MQTT and the web.
pub struct EventSink {
    queue: Durable<Event>,
    /// The writer's end, until the writer takes it.
    unclaimed: Mutex<Option<mpsc::Receiver<Event>>>,
    live: broadcast::Sender<Event>,
    /// The newest events, for the page as first rendered.
    recent: Mutex<VecDeque<Event>>,
    /// Events handed to the writer, and events it has stored: a reader of
    /// the store waits until what was recorded before it asked is stored.
    queued: AtomicU64,
    stored: watch::Sender<u64>,
    /// The id the next event gets (0: no store, events have no id), so the
    /// page can page back from any event it shows.
    next_id: AtomicI64,
}

impl Default for EventSink {
    fn default() -> Self {
        let (queue, rx) = queue::durable("events", QUEUE);
        Self {
            queue,
            unclaimed: Mutex::new(Some(rx)),
            live: broadcast::channel(256).0,
            recent: Mutex::new(VecDeque::new()),
            queued: AtomicU64::new(0),
            stored: watch::channel(0).0,
            next_id: AtomicI64::new(0),
        }
    }
}

impl EventSink {
    /// Every event from now on; a slow reader skips ahead.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }

    pub fn record(&self, mut event: Event) {
        let id = self.next_id.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 0).then_some(n + 1));
        event.id = id.ok();
        tracing::info!(
            device = %event.device_id,
            rule = event.rule.as_deref().unwrap_or("-"),
            kind = %event.kind,
            details = %event.details,
            "event"
        );
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT {
                recent.pop_back();
            }
            recent.push_front(event.clone());
        }
        if self.queue.offer(event.clone()) {
            self.queued.fetch_add(1, Ordering::SeqCst);
        }
        let _ = self.live.send(event);
    }

    /// Wait (at most `limit`) until every event recorded so far is stored,
    /// so a reader of the store sees what it just did.
    pub async fn settled(&self, limit: Duration) {
        let target = self.queued.load(Ordering::SeqCst);
        let mut stored = self.stored.subscribe();
        let _ = tokio::time::timeout(limit, stored.wait_for(|n| *n >= target)).await;
    }

    /// The newest `limit` events recorded (or loaded at start), newest first.
    pub fn recent(&self, limit: usize) -> Vec<Event> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).iter().take(limit).cloned().collect()
    }

    pub fn health(&self) -> QueueHealth {
        self.queue.health()
    }

    /// The writer's end of the queue; `None` once taken.
    fn claim(&self) -> Option<mpsc::Receiver<Event>> {
        self.unclaimed.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Put stored events behind the ones recorded since start.
    fn backfill(&self, stored: Vec<Event>) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        for e in stored {
            if recent.len() >= RECENT {
                break;
            }
            recent.push_back(e);
        }
    }
}

/// The device events between two consecutive snapshots of one PDU, stamped `ts`.
pub fn derive(before: &PduSnapshot, after: &PduSnapshot, ts: f64) -> Vec<Event> {
    let id = &after.device_id;
    let mut out = Vec::new();
    let mut push = |kind: &str, details: String| out.push(Event::new(ts, id.clone(), kind, details));
    match (&before.connection, &after.connection) {
        (Connection::Unreachable { .. }, Connection::Unreachable { .. }) => return out,
        (_, Connection::Unreachable { reason, .. }) => {
            push("pdu_unreachable", format!("the PDU stopped answering: {reason}"));
            return out;
        }
        (Connection::Unreachable { .. }, _) => push("pdu_recovered", "the PDU answers again".into()),
        _ => {}
    }
    if let (Some(a), Some(b)) = (before.uptime_s, after.uptime_s) {
        if b < a {
            push("pdu_rebooted", format!("sysUpTime went from {a} s back to {b} s"));
        }
    }
    let (Some(was), Some(now)) = (&before.ats, &after.ats) else { return out };
    if was.selected != now.selected {
        let name = |s: Option<app::model::Source>| s.map(|s| format!("source {}", s.letter())).unwrap_or("none".into());
        push("ats_transfer", format!("load moved from {} to {}", name(was.selected), name(now.selected)));
    }
    for (old, new) in was.sources.iter().zip(&now.sources) {
        let ok = |r: &app::model::SourceReading| r.voltage_status == Some(RangeStatus::Normal);
        let letter = new.source.letter();
        match (ok(old), ok(new)) {
            (true, false) => push("source_lost", format!("source {letter} is out of range")),
            (false, true) => push("source_restored", format!("source {letter} is back in range")),
            _ => {}
        }
    }
    match (was.redundancy, now.redundancy) {
        (Some(Redundancy::Ok), Some(Redundancy::Lost)) => {
            push("redundancy_lost", "only one input can feed the load".into())
        }
        (Some(Redundancy::Lost), Some(Redundancy::Ok)) => {
            push("redundancy_restored", "both inputs can feed the load".into())
        }
        _ => {}
    }
    out
}

/// Make the store ready for events before anything is recorded: import
/// an old `events.jsonl` once (if `import` exists), number new events after
/// the stored ones, and put the newest stored ones in the recent list.
pub async fn prepare(store: &Store, sink: &EventSink, import: Option<PathBuf>) {
    if let Some(path) = import {
        match store::import_jsonl(store, path).await {
            Ok(None) => {}
            Ok(Some(report)) => tracing::info!("{report}"),
            Err(e) => tracing::error!(error = %e, "events: the old events file could not be imported; it stays"),
        }
    }
    match store::max_id(store).await {
        Ok(max) => {
            // Only if nothing was numbered yet: ids never go backwards.
            let _ = sink.next_id.compare_exchange(0, max + 1, Ordering::SeqCst, Ordering::SeqCst);
        }
        Err(e) => tracing::error!(error = %e, "events: cannot read the stored events; new ones get no id"),
    }
    match store::query(store, &store::Filter { limit: RECENT as u32, ..Default::default() }).await {
        Ok(page) => sink.backfill(page.events),
        Err(e) => tracing::error!(error = %e, "events: cannot read the stored events"),
    }
}

/// The one writer of events: stores every recorded event (a batch of
/// whatever has arrived) until `shutdown`, writing what is queued before it
/// stops; deletes events older than `retention_days`, hourly. While the store
/// refuses writes, events wait in memory.
pub async fn run(store: Arc<Store>, sink: Arc<EventSink>, retention_days: u32, shutdown: CancellationToken) {
    let Some(mut rx) = sink.claim() else {
        tracing::error!("events: a second writer was started; this one does nothing");
        return;
    };
    let mut unwritten: Vec<Event> = Vec::new();
    let mut hourly = tokio::time::interval(Duration::from_secs(3_600));
    let mut retry = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            received = rx.recv() => match received {
                Some(event) => {
                    unwritten.push(event);
                    while let Ok(more) = rx.try_recv() {
                        unwritten.push(more);
                    }
                }
                None => break,
            },
            _ = retry.tick(), if !unwritten.is_empty() => {}
            _ = hourly.tick() => {
                let cutoff = unix_ms() as i64 - i64::from(retention_days) * 86_400_000;
                match store::prune(&store, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "events past retention deleted"),
                    Err(e) => tracing::error!(error = %e, "events: retention failed"),
                }
                continue;
            }
        }
        write(&store, &sink, &mut unwritten).await;
    }
    while let Ok(more) = rx.try_recv() {
        unwritten.push(more);
    }
    write(&store, &sink, &mut unwritten).await;
    if !unwritten.is_empty() {
        tracing::error!(events = unwritten.len(), "events: not stored at shutdown");
    }
}

async fn write(store: &Store, sink: &EventSink, unwritten: &mut Vec<Event>) {
    if unwritten.is_empty() {
        return;
    }
    match store::insert(store, unwritten).await {
        Ok(()) => {
            let n = unwritten.len() as u64;
            sink.stored.send_modify(|stored| *stored += n);
            unwritten.clear();
        }
        Err(e) => {
            tracing::error!(error = %e, waiting = unwritten.len(), "events: cannot store events; retrying");
            if unwritten.len() > MAX_UNWRITTEN {
                let lost = unwritten.len() - MAX_UNWRITTEN;
                unwritten.drain(..lost);
                sink.stored.send_modify(|stored| *stored += lost as u64);
                tracing::error!(lost, "events: too many waiting; the oldest were dropped");
            }
        }
    }
}
