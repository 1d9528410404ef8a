//! Bounded queues for consumers that must not lose data silently (history,
//! events, rules), beside the broadcast that live views read.
//!
//! Owns: the loss accounting. A producer (a poller, a rule) never waits on a
//! consumer — switching outlets and live views come first — so when a
//! durable consumer falls so far behind that its queue is full, the item is
//! not queued and the loss is counted, logged at most once a minute, and
//! reported by `/api/health` ([`QueueHealth`]). Live views use a broadcast
//! instead and skip to the newest snapshot; nothing is counted there because
//! a newer snapshot supersedes what was skipped.

use crate::clock::unix_ms;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How often a queue that keeps losing items says so in the log.
const WARN_EVERY_MS: u64 = 60_000;
/// A loss this recent makes the bridge's health degraded.
const RECENT_LOSS_MS: u64 = 300_000;

/// Counters of one queue, shared by its senders and the health report.
#[derive(Debug)]
struct Counters {
    name: String,
    capacity: usize,
    lost: AtomicU64,
    /// When the last item was lost, unix ms (0: never).
    last_loss_ms: AtomicU64,
    /// When the last warning was logged, unix ms.
    last_warn_ms: AtomicU64,
}

/// What `/api/health` says about one durable queue.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct QueueHealth {
    pub name: String,
    pub capacity: usize,
    /// Items waiting now.
    pub queued: usize,
    /// Items lost since start because the consumer fell behind.
    pub lost: u64,
    /// Seconds since the last loss, if any.
    pub last_loss_s: Option<f64>,
}

impl QueueHealth {
    /// A loss in the last few minutes: the consumer is not keeping up.
    pub fn losing(&self) -> bool {
        self.last_loss_s.is_some_and(|s| s * 1000.0 < RECENT_LOSS_MS as f64)
    }
}

/// The sending side of a durable queue. Cloning shares the counters.
pub struct Durable<T> {
    tx: mpsc::Sender<T>,
    counters: Arc<Counters>,
}

impl<T> Clone for Durable<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), counters: self.counters.clone() }
    }
}

/// A durable queue named `name` (for logs and health) holding `capacity` items.
pub fn durable<T>(name: impl Into<String>, capacity: usize) -> (Durable<T>, mpsc::Receiver<T>) {
    let (tx, rx) = mpsc::channel(capacity);
    let counters = Counters {
        name: name.into(),
        capacity,
        lost: AtomicU64::new(0),
        last_loss_ms: AtomicU64::new(0),
        last_warn_ms: AtomicU64::new(0),
    };
    (Durable { tx, counters: Arc::new(counters) }, rx)
}

impl<T> Durable<T> {
    /// Queue `item` without waiting; whether it was queued. A full queue
    /// counts it as lost; a queue whose consumer has stopped (shutdown, or
    /// none was started) takes nothing and counts nothing.
    pub fn offer(&self, item: T) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let c = &self.counters;
                let lost = c.lost.fetch_add(1, Ordering::Relaxed) + 1;
                let now = unix_ms();
                c.last_loss_ms.store(now, Ordering::Relaxed);
                let last = c.last_warn_ms.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= WARN_EVERY_MS
                    && c.last_warn_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
                {
                    tracing::warn!(queue = %c.name, lost, capacity = c.capacity, "a consumer fell behind: items lost");
                }
                false
            }
        }
    }

    pub fn health(&self) -> QueueHealth {
        let c = &self.counters;
        let last = c.last_loss_ms.load(Ordering::Relaxed);
        QueueHealth {
            name: c.name.clone(),
            capacity: c.capacity,
            queued: c.capacity - self.tx.capacity(),
            lost: c.lost.load(Ordering::Relaxed),
            last_loss_s: (last > 0).then(|| unix_ms().saturating_sub(last) as f64 / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_counts_what_it_could_not_take() {
        let (tx, mut rx) = durable::<u32>("test", 3);
        for i in 0..5 {
            tx.offer(i);
        }
        let health = tx.health();
        assert_eq!((health.queued, health.lost), (3, 2));
        assert!(health.losing());
        // What was queued arrives whole and in order.
        assert_eq!([rx.recv().await, rx.recv().await, rx.recv().await], [Some(0), Some(1), Some(2)]);
        assert_eq!(tx.health().queued, 0);
    }
}
