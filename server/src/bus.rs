//! The channels snapshots travel on, from the pollers to everyone else.
//!
//! Owns: fan-out. Live views (the dashboard's stream, MQTT) read a
//! broadcast and skip to the newest snapshot when they fall behind: a newer
//! snapshot supersedes the ones skipped. Consumers that must see every
//! snapshot (the history writer, each PDU's rules) get a durable queue of
//! their own ([`crate::queue`]): nothing is dropped without being counted
//! and reported. The one thing to know: subscribe before the pollers start,
//! or the first snapshots go by.

use crate::queue::{self, Durable, QueueHealth};
use app::model::{DeviceId, PduSnapshot};
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, mpsc};

/// Snapshots buffered per live subscriber before a slow one starts skipping.
const LIVE_CAPACITY: usize = 64;

struct Subscriber {
    /// Only this PDU's snapshots, or every PDU's.
    device: Option<DeviceId>,
    queue: Durable<Arc<PduSnapshot>>,
}

pub struct Bus {
    live: broadcast::Sender<Arc<PduSnapshot>>,
    durable: RwLock<Vec<Subscriber>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self { live: broadcast::channel(LIVE_CAPACITY).0, durable: RwLock::new(Vec::new()) }
    }
}

impl Bus {
    /// Every snapshot from now on; a slow reader skips to the newest.
    pub fn live(&self) -> broadcast::Receiver<Arc<PduSnapshot>> {
        self.live.subscribe()
    }

    /// Every snapshot (of `device`, or of all PDUs) from now on, through a
    /// queue of `capacity` whose losses are counted under `name`.
    pub fn durable(
        &self,
        name: impl Into<String>,
        capacity: usize,
        device: Option<DeviceId>,
    ) -> mpsc::Receiver<Arc<PduSnapshot>> {
        let (queue, rx) = queue::durable(name, capacity);
        self.durable.write().unwrap_or_else(|e| e.into_inner()).push(Subscriber { device, queue });
        rx
    }

    /// Drop the durable queues of `device` (it is no longer watched).
    pub fn forget(&self, device: &DeviceId) {
        self.durable.write().unwrap_or_else(|e| e.into_inner()).retain(|s| s.device.as_ref() != Some(device));
    }

    /// Hand `snapshot` to every subscriber; never waits.
    pub fn publish(&self, snapshot: Arc<PduSnapshot>) {
        for s in self.durable.read().unwrap_or_else(|e| e.into_inner()).iter() {
            if s.device.as_ref().is_none_or(|d| *d == snapshot.device_id) {
                let _ = s.queue.offer(snapshot.clone());
            }
        }
        // No live subscriber is fine: nobody is watching right now.
        let _ = self.live.send(snapshot);
    }

    /// Each durable queue's fill and losses.
    pub fn health(&self) -> Vec<QueueHealth> {
        self.durable.read().unwrap_or_else(|e| e.into_inner()).iter().map(|s| s.queue.health()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    fn snapshot(device: &str, ts_ms: u64) -> Arc<PduSnapshot> {
        let now = tokio::time::Instant::now();
        let id = DeviceId::parse(device).unwrap();
        let mut s = crate::pdu::sim::SimModel::new(1, now).snapshot(&id, now);
        s.ts_ms = ts_ms;
        Arc::new(s)
    }

    /// A durable consumer that stalls loses only what overflows its queue,
    /// and that loss is counted; a live reader skips to the newest.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_durable_consumer_loses_only_what_is_counted_and_live_skips_ahead() {
        let bus = Bus::default();
        let mut history = bus.durable("history", 100, None);
        let mut rules = bus.durable("rules", 200, DeviceId::parse("a").ok());
        let mut live = bus.live();
        for t in 0..150 {
            bus.publish(snapshot("a", t));
            bus.publish(snapshot("b", t));
            tokio::time::advance(std::time::Duration::from_secs(1)).await;
        }
        let health = bus.health();
        assert_eq!((health[0].queued, health[0].lost), (100, 200), "history: 300 offered, 100 kept");
        assert!(health[0].losing());
        assert_eq!((health[1].queued, health[1].lost), (150, 0), "rules see only their PDU, all of it");
        // The queued ones arrive in order, none repeated.
        for t in 0..150 {
            assert_eq!(rules.recv().await.unwrap().ts_ms, t);
        }
        assert_eq!(history.recv().await.unwrap().ts_ms, 0);
        // The live reader was told it lagged, then reads the newest.
        assert!(matches!(live.recv().await, Err(RecvError::Lagged(_))));
        let mut last = None;
        while let Ok(s) = live.try_recv() {
            last = Some((s.device_id.to_string(), s.ts_ms));
        }
        assert_eq!(last, Some(("b".to_owned(), 149)));
    }
}
