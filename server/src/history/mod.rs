//! History: every poll sample of every PDU at 1 Hz in a compact SQLite
//! store, rollups at every chart bucket size maintained as samples arrive,
//! range queries that read thousands of rows, not millions, energy counted
//! into 15-minute slots, and the weekly and monthly reports made from them.
//!
//! Owns: the store and its single writer task. The writer subscribes to the
//! bridge's snapshot channel, commits in batches (at most 10 samples or
//! 10 s, whichever first, so a crash loses at most one batch), rolls up each
//! bucket once a later one has begun (late samples re-roll theirs; the
//! buckets still filling are rolled every 10 s so charts reach up to now),
//! and counts energy from consecutive samples (`energy`). A sample is keyed
//! by its poll's scheduled tick, so each tick is one row. While the store
//! refuses writes (disk full) samples wait in memory, up to
//! [`BUFFER_SECONDS`] per PDU, and go in when it accepts them again.
//! Retention and report generation run beside it, hourly.

pub mod energy;
pub mod query;
pub mod reports;
pub mod sample;
pub mod store;

use crate::clock::unix_secs;
use app::model::{DeviceId, PduSnapshot};
use energy::Slot;
use sample::Sample;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoreError, Table};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What asking history for something can end in, besides an answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history is off (see the log)")]
    Off,
    #[error("{message}")]
    BadInput { field: &'static str, message: String },
    #[error("no outlet {0}")]
    NoSuchOutlet(u32),
    #[error("{0}")]
    NoSuchReport(String),
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Samples waiting for the writer before they are counted as lost: ten
/// minutes of each PDU at 1 Hz (`/api/health` shows it), sized for at least
/// 50 PDUs since PDUs can be added while the bridge runs (a slot costs a
/// pointer only while it is used).
pub fn queue_capacity(devices: usize) -> usize {
    600 * devices.max(50)
}

/// Commit after this many samples …
pub const BATCH_SAMPLES: usize = 10;
/// … or this long after the oldest uncommitted one.
pub const BATCH_AGE: Duration = Duration::from_secs(10);
/// While the store refuses writes (disk full), samples wait in memory, this
/// many seconds of them per PDU (at 1 Hz, about 130 bytes each: under 1 MB
/// per PDU); beyond that the oldest are dropped and counted.
pub const BUFFER_SECONDS: usize = 15 * 60;

/// Rollup bookkeeping of one device.
#[derive(Default)]
struct Progress {
    /// The newest second seen.
    latest: i64,
    /// Buckets with changes below them, not yet rolled: (level, start).
    pending: BTreeSet<(Table, i64)>,
}

/// The single writer: batches samples and keeps the rollups and energy
/// slots current.
pub struct Writer {
    store: Arc<Store>,
    devices: HashMap<String, i64>,
    /// Samples not yet written: a batch, or while the store refuses writes,
    /// everything since (bounded by [`BUFFER_SECONDS`]).
    batch: Vec<(i64, i64, Vec<u8>)>,
    /// Set while the store refuses writes: the next try waits for
    /// [`Writer::flush`] (every [`BATCH_AGE`]) instead of every sample.
    refused: bool,
    /// Samples dropped because the buffer was full while writes failed.
    dropped: u64,
    progress: HashMap<i64, Progress>,
    /// Each device's newest sample, energy is counted from (loaded from the
    /// store on first sight, so a restart counts what happened meanwhile).
    last: HashMap<i64, Option<(i64, Sample)>>,
    /// Energy slots touched since they were last written, whole (store
    /// value + new).
    slots: BTreeMap<(i64, i64), Slot>,
    /// The newest sample time whose energy is written.
    energy_written: i64,
}

impl Writer {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            devices: HashMap::new(),
            batch: Vec::new(),
            refused: false,
            dropped: 0,
            progress: HashMap::new(),
            last: HashMap::new(),
            slots: BTreeMap::new(),
            energy_written: i64::MIN,
        }
    }

    async fn key(&mut self, device_id: &str) -> Result<i64, StoreError> {
        if let Some(d) = self.devices.get(device_id) {
            return Ok(*d);
        }
        let d = self.store.device(device_id).await?;
        self.devices.insert(device_id.to_owned(), d);
        Ok(d)
    }

    /// Count energy from the next sample of `device_id` on, not from the
    /// stored one (its counters belong to another history, e.g. a demo fill).
    pub async fn start_fresh(&mut self, device_id: &str) -> Result<(), StoreError> {
        let device = self.key(device_id).await?;
        self.last.insert(device, None);
        Ok(())
    }

    async fn slot(&mut self, device: i64, ts: i64) -> Result<&mut Slot, StoreError> {
        if !self.slots.contains_key(&(device, ts)) {
            let stored = self.store.energy(device, ts, ts + 1).await?.pop().map(|(_, s)| s).unwrap_or_default();
            self.slots.insert((device, ts), stored);
        }
        Ok(self.slots.get_mut(&(device, ts)).expect("inserted above"))
    }

    /// Add the energy since the device's previous sample to its slots.
    async fn count_energy(&mut self, device: i64, ts: i64, sample: &Sample) -> Result<(), StoreError> {
        if !self.last.contains_key(&device) {
            let stored = self.store.latest(device).await?;
            self.last.insert(device, stored);
        }
        let previous = self.last.get(&device).and_then(Option::as_ref);
        if previous.is_some_and(|(t0, _)| *t0 >= ts) {
            return Ok(()); // late or repeated: already counted
        }
        // Worked out while the previous sample is borrowed, not copied.
        let parts = previous
            .map(|(t0, prev)| {
                let wh = energy::interval(*t0, prev, ts, sample);
                if wh.is_empty() {
                    Vec::new()
                } else {
                    energy::spread(*t0, ts, &wh)
                }
            })
            .unwrap_or_default();
        for (slot, part) in parts {
            self.slot(device, slot).await?.add(&part);
        }
        if let Some((slot, reading)) = energy::power_reading(ts, sample) {
            self.slot(device, slot).await?.add(&reading);
        }
        self.last.insert(device, Some((ts, sample.clone())));
        Ok(())
    }

    /// Keep a snapshot: an answered poll is a sample, keyed by the second
    /// of its scheduled tick (not of its answer, which jitters: two polls
    /// would share a second and another second would stay empty); a stale
    /// or unreachable snapshot repeats older values, so there is nothing new
    /// to keep.
    pub async fn take(&mut self, snapshot: &PduSnapshot) -> Result<(), StoreError> {
        if !snapshot.connection.is_online() {
            return Ok(());
        }
        let ts = (snapshot.tick_ms.unwrap_or(snapshot.ts_ms) / 1000) as i64;
        self.add(snapshot.device_id.as_str(), ts, &Sample::from_snapshot(snapshot)).await
    }

    /// Queue one sample; commits when the batch is full (while the store
    /// refuses writes, only [`Writer::flush`] tries again).
    pub async fn add(&mut self, device_id: &str, ts: i64, sample: &Sample) -> Result<(), StoreError> {
        let device = self.key(device_id).await?;
        self.count_energy(device, ts, sample).await?;
        let limit = BUFFER_SECONDS * self.devices.len().max(1);
        if self.batch.len() >= limit {
            let excess = self.batch.len() + 1 - limit;
            self.batch.drain(..excess);
            if self.dropped == 0 {
                tracing::error!(
                    "history: the store has refused writes for {} minutes; dropping the oldest samples",
                    BUFFER_SECONDS / 60
                );
            }
            self.dropped += excess as u64;
        }
        self.batch.push((device, ts, sample.encode()));
        if self.batch.len() >= BATCH_SAMPLES && !self.refused {
            self.commit(false).await?;
        }
        Ok(())
    }

    /// Samples waiting to be written.
    pub fn buffered(&self) -> usize {
        self.batch.len()
    }

    /// Samples dropped because the store refused writes for longer than the
    /// buffer holds.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Commit the batch and all counted energy, then roll up every bucket
    /// that is complete.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        self.commit(true).await
    }

    /// Commit the batch, and the energy when `all` or when it is due.
    async fn commit(&mut self, all: bool) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // Samples first: a crash in between loses energy not yet written,
        // never counts it twice (a restart counts from the newest stored
        // sample). A refused write keeps the batch for the next try.
        match self.store.insert(&self.batch).await {
            Ok(()) if self.refused => {
                tracing::info!(
                    samples = self.batch.len(),
                    dropped = self.dropped,
                    "history: the store accepts writes again; buffered samples written"
                );
                self.refused = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !self.refused {
                    tracing::error!(error = %e, "history: the store refuses writes; samples wait in memory");
                }
                self.refused = true;
                return Err(e);
            }
        }
        for (device, ts, _) in std::mem::take(&mut self.batch) {
            let p = self.progress.entry(device).or_default();
            p.latest = p.latest.max(ts);
            p.pending.insert((Table::TenSeconds, ts - ts.rem_euclid(10)));
        }
        self.write_energy(all).await?;
        // A bucket is rolled once a later second has been seen; rolling it
        // marks the bucket above it, which is rolled in turn when complete.
        // Late samples simply mark their (already rolled) buckets again. A
        // roll that fails stays pending.
        for (device, p) in &mut self.progress {
            while let Some(&(table, start)) = p.pending.iter().find(|(t, b)| b + t.seconds() <= p.latest) {
                self.store.roll(table, *device, start).await?;
                p.pending.remove(&(table, start));
                if let Some(above) = table.above() {
                    p.pending.insert((above, start - start.rem_euclid(above.seconds())));
                }
            }
        }
        Ok(())
    }
}

impl Writer {
    /// Write the touched energy slots when `all`, when a slot has closed, or
    /// when [`BATCH_AGE`] of samples has passed since the last write (with
    /// many PDUs a batch is a second of samples: energy is not rewritten
    /// every second); then keep only each device's newest slot in memory.
    async fn write_energy(&mut self, all: bool) -> Result<(), StoreError> {
        let newest: HashMap<i64, i64> = self.slots.keys().map(|(d, ts)| (*d, *ts)).collect();
        let latest = self.last.values().flatten().map(|(ts, _)| *ts).max().unwrap_or(i64::MIN);
        let closed = self.slots.len() > newest.len();
        let due = latest.saturating_sub(self.energy_written) >= BATCH_AGE.as_secs() as i64;
        if !(all || closed || due) || self.slots.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, i64, &Slot)> = self.slots.iter().map(|((d, ts), s)| (*d, *ts, s)).collect();
        self.store.put_energy(&rows).await?;
        self.energy_written = latest;
        self.slots.retain(|(d, ts), _| newest.get(d) == Some(ts));
        Ok(())
    }

    /// Roll up the buckets still filling (the current 10 s … 30 min of each
    /// device), so every range shows data up to now, not up to the last
    /// complete bucket. They are rolled again, finally, once complete.
    pub async fn roll_open(&mut self) -> Result<(), StoreError> {
        for (device, p) in &self.progress {
            for table in Table::ALL {
                self.store.roll(table, *device, p.latest - p.latest.rem_euclid(table.seconds())).await?;
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
        let cutoff = unix_secs() as i64 - i64::from(days) * 86_400;
        match store.prune_raw(cutoff, PRUNE_CHUNK).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "history: raw samples past retention deleted"),
            Err(e) => tracing::error!(error = %e, "history: retention failed"),
        }
    }
}

/// A simulated PDU whose history the demo fills: its id, the seed of its
/// simulation, and whether it has an environment probe.
#[derive(Clone, Debug)]
pub struct DemoPdu {
    pub id: DeviceId,
    pub seed: u64,
    pub probe: bool,
}

/// Fill `days` of simulated history ending at `end` for a simulated PDU
/// whose history is empty (the demo's charts and reports are then not
/// blank): 1 s steps over the last two hours, `step` seconds before that.
/// Returns the samples written (0 if the PDU already has history).
pub async fn demo_fill(store: &Arc<Store>, pdu: &DemoPdu, days: u32, end: i64, step: i64) -> Result<u64, StoreError> {
    let (id, device_id) = (&pdu.id, pdu.id.as_str());
    let key = store.device(device_id).await?;
    if days == 0 || store.latest(key).await?.is_some() {
        return Ok(0);
    }
    let start = end - i64::from(days) * 86_400;
    let origin = tokio::time::Instant::now();
    let mut sim = crate::pdu::sim::SimModel::new(pdu.seed, origin);
    if pdu.probe {
        sim = sim.with_probe();
    }
    let mut writer = Writer::new(store.clone());
    let (mut t, mut written) = (start, 0);
    while t < end {
        let at = origin + Duration::from_secs((t - start) as u64);
        writer.add(device_id, t, &Sample::from_snapshot(&sim.snapshot(id, at))).await?;
        written += 1;
        t += if end - t <= 7_200 { 1 } else { step };
    }
    writer.flush().await?;
    writer.roll_open().await?;
    Ok(written)
}

/// [`demo_fill`] each simulated PDU of `devices` that has no history yet;
/// returns those filled (their stored counters are not the live
/// simulation's).
pub async fn demo_fills(store: &Arc<Store>, devices: &[DemoPdu], days: u32) -> Vec<DeviceId> {
    let mut filled = Vec::new();
    for pdu in devices.iter().filter(|_| days > 0) {
        let id = &pdu.id;
        match demo_fill(store, pdu, days, unix_secs() as i64, 30).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(device = %id, days, samples = n, "history: simulated history filled (demo)");
                filled.push(id.clone());
            }
            Err(e) => tracing::error!(device = %id, error = %e, "history: the demo fill failed"),
        }
    }
    filled
}

/// Everything history does while the bridge runs: the demo's simulated
/// history first (`demo` = simulated devices with their seeds, and days), so
/// the first reports include it; then the writer over `snapshots` and the
/// reports, until `shutdown`.
pub async fn serve(
    store: Arc<Store>,
    snapshots: mpsc::Receiver<Arc<PduSnapshot>>,
    names: reports::OutletNamesOf,
    demo: (Vec<DemoPdu>, u32),
    settings: reports::Settings,
    shutdown: CancellationToken,
) {
    let fresh = tokio::select! {
        fresh = demo_fills(&store, &demo.0, demo.1) => fresh,
        _ = shutdown.cancelled() => return,
    };
    let reports = tokio::spawn(reports::run(store.clone(), names, settings, shutdown.clone()));
    run(store, snapshots, fresh, shutdown).await;
    let _ = reports.await;
}

/// Store every answered poll from `snapshots` until `shutdown`, then write
/// what is queued and flush. Energy of the `fresh` devices is counted from
/// their next sample on.
pub async fn run(
    store: Arc<Store>,
    mut snapshots: mpsc::Receiver<Arc<PduSnapshot>>,
    fresh: Vec<DeviceId>,
    shutdown: CancellationToken,
) {
    let mut writer = Writer::new(store.clone());
    for id in &fresh {
        if let Err(e) = writer.start_fresh(id.as_str()).await {
            tracing::error!(error = %e, "history: cannot prepare the writer");
        }
    }
    let mut age = tokio::time::interval(BATCH_AGE);
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = age.tick() => match writer.flush().await {
                Ok(()) => writer.roll_open().await,
                Err(e) => Err(e),
            },
            received = snapshots.recv() => match received {
                Some(s) => writer.take(&s).await,
                None => break,
            },
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, "history: cannot write samples");
        }
    }
    // What the pollers handed over before shutdown is kept too.
    while let Ok(s) = snapshots.try_recv() {
        if let Err(e) = writer.take(&s).await {
            tracing::error!(error = %e, "history: cannot write samples");
        }
    }
    if let Err(e) = writer.flush().await {
        tracing::error!(error = %e, "history: the last batch was lost at shutdown");
    }
}
