//! History (issue 5, first slice): every poll sample of every PDU at 1 Hz in
//! a compact SQLite store, 1-minute and 15-minute rollups maintained as
//! samples arrive, and range queries that read thousands of rows, not
//! millions.
//!
//! Owns: the store and its single writer task. The writer subscribes to the
//! bridge's snapshot channel, commits in batches (at most 10 samples or
//! 10 s, whichever first, so a crash loses at most one batch), and rolls up
//! each minute once a later minute has begun (late samples re-roll theirs).
//! Not here yet: charts, energy and reports, retention scheduling, the API.

pub mod query;
pub mod sample;
pub mod store;

use crate::service::Bridge;
use sample::Sample;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoreError, Table};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Commit after this many samples …
pub const BATCH_SAMPLES: usize = 10;
/// … or this long after the oldest uncommitted one.
pub const BATCH_AGE: Duration = Duration::from_secs(10);

/// Rollup bookkeeping of one device.
#[derive(Default)]
struct Progress {
    /// The newest second seen.
    latest: i64,
    /// Buckets with changes below them, not yet rolled: (level, start).
    pending: BTreeSet<(Table, i64)>,
}

/// The single writer: batches samples and keeps the rollups current.
pub struct Writer {
    store: Arc<Store>,
    devices: HashMap<String, i64>,
    batch: Vec<(i64, i64, Vec<u8>)>,
    progress: HashMap<i64, Progress>,
}

impl Writer {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, devices: HashMap::new(), batch: Vec::new(), progress: HashMap::new() }
    }

    /// Queue one sample; commits when the batch is full.
    pub async fn add(&mut self, device_id: &str, ts: i64, sample: &Sample) -> Result<(), StoreError> {
        let device = match self.devices.get(device_id) {
            Some(d) => *d,
            None => {
                let d = self.store.device(device_id).await?;
                self.devices.insert(device_id.to_owned(), d);
                d
            }
        };
        self.batch.push((device, ts, sample.encode()));
        if self.batch.len() >= BATCH_SAMPLES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Commit the batch, then roll up every minute that is complete.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.store.insert(&batch).await?;
        for (device, ts, _) in &batch {
            let p = self.progress.entry(*device).or_default();
            p.latest = p.latest.max(*ts);
            p.pending.insert((Table::TenSeconds, ts - ts.rem_euclid(10)));
        }
        // A bucket is rolled once a later second has been seen; rolling it
        // marks the bucket above it, which is rolled in turn when complete.
        // Late samples simply mark their (already rolled) buckets again.
        for (device, p) in &mut self.progress {
            while let Some(&(table, start)) = p.pending.iter().find(|(t, b)| b + t.seconds() <= p.latest) {
                p.pending.remove(&(table, start));
                self.store.roll(table, *device, start).await?;
                if let Some(above) = table.above() {
                    p.pending.insert((above, start - start.rem_euclid(above.seconds())));
                }
            }
        }
        Ok(())
    }
}

/// Raw rows are deleted this many at a time, so the writer waits little.
const PRUNE_CHUNK: i64 = 5_000;

/// Every hour, delete raw samples older than `days` (rolled-up minutes only).
pub async fn retention(store: Arc<Store>, days: u32, shutdown: CancellationToken) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hourly.tick() => {}
        }
        let cutoff = (crate::service::unix_ms() / 1000) as i64 - i64::from(days) * 86_400;
        match store.prune_raw(cutoff, PRUNE_CHUNK).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "history: raw samples past retention deleted"),
            Err(e) => tracing::error!(error = %e, "history: retention failed"),
        }
    }
}

/// Store every answered poll of every PDU until `shutdown`, then flush.
pub async fn run(store: Arc<Store>, bridge: Arc<Bridge>, shutdown: CancellationToken) {
    let mut writer = Writer::new(store);
    let mut snapshots = bridge.subscribe();
    let mut age = tokio::time::interval(BATCH_AGE);
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = age.tick() => writer.flush().await,
            received = snapshots.recv() => match received {
                // A stale or unreachable snapshot repeats older values: nothing new to keep.
                Ok(s) if s.connection.is_online() => {
                    writer.add(s.device_id.as_str(), (s.ts_ms / 1000) as i64, &Sample::from_snapshot(&s)).await
                }
                Ok(_) | Err(RecvError::Lagged(_)) => Ok(()),
                Err(RecvError::Closed) => break,
            },
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, "history: cannot write samples");
        }
    }
    if let Err(e) = writer.flush().await {
        tracing::error!(error = %e, "history: the last batch was lost at shutdown");
    }
}
