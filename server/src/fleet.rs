//! The fleet: which PDUs run, added, changed and removed while the bridge
//! runs, and `pdus.json`, the file that keeps the list.
//!
//! Owns: each PDU's tasks (its poller and its rule runner, stopped by the
//! PDU's own cancellation token) and the file (one change at a time,
//! written atomically, readable by the owner only since it holds
//! communities). Does not own: the device list itself (`bridge`, which
//! tells MQTT and the live views of every change) or history (a removed
//! PDU's history stays in the store).
//!
//! While no `pdus.json` exists the bridge runs on the single-PDU settings;
//! the first PDU added writes the file, carrying the running PDU over (its
//! rules and outlet names are copied to the per-PDU files).

use crate::bridge::Bridge;
use crate::config::{Config, DeviceDefaults, DeviceKind, EntryProblem, PdusFile};
use crate::device::{Device, PduSource};
use crate::rules::Automation;
use app::fleet::{PduEntry, PduView};
use app::model::{Connection, DeviceId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a new PDU is given to say who it is before it is added anyway.
const PROBE: Duration = Duration::from_secs(3);
/// How long a removed PDU's tasks get to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often learned serials are written down.
const LEARN_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("no PDU with device id {0:?}")]
    Unknown(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot write {path}: {why}; nothing was changed")]
    File { path: String, why: String },
    #[error("{0}")]
    Start(String),
}

impl From<EntryProblem> for FleetError {
    fn from(p: EntryProblem) -> Self {
        FleetError::Invalid { field: p.field, message: p.message }
    }
}

/// A PDU's running tasks.
struct Running {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Fleet {
    file: PathBuf,
    defaults: DeviceDefaults,
    /// The entries of `pdus.json`; `None` while the single-PDU settings
    /// apply (no file yet).
    entries: Mutex<Option<Vec<PduEntry>>>,
    /// The single-PDU settings' PDUs, as entries (carried into a new file).
    single: Vec<PduEntry>,
    /// Where the single-PDU setup keeps rules and outlet names, to copy.
    single_files: Vec<(PathBuf, &'static str)>,
    /// The bridge runs the demo (no PDU configured).
    demo: bool,
    bridge: Arc<Bridge>,
    automation: Arc<Automation>,
    running: Mutex<HashMap<DeviceId, Running>>,
    shutdown: CancellationToken,
    /// One change at a time: the file and the tasks change together.
    changing: tokio::sync::Mutex<()>,
    /// Held while a discovery scan runs: one at a time.
    pub scanning: tokio::sync::Mutex<()>,
}

impl Fleet {
    pub fn new(
        config: &Config,
        bridge: Arc<Bridge>,
        automation: Arc<Automation>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let single = match &config.fleet.entries {
            Some(_) => Vec::new(),
            None => config.devices.iter().map(entry_of).collect(),
        };
        let single_files = config
            .devices
            .first()
            .filter(|_| config.fleet.entries.is_none())
            .map(|d| vec![(d.rules_file.clone(), "rules"), (config.data_dir.join("outlet_names.json"), "outlet_names")])
            .unwrap_or_default();
        Arc::new(Self {
            file: config.fleet.file.clone(),
            defaults: config.fleet.defaults.clone(),
            entries: Mutex::new(config.fleet.entries.clone()),
            single,
            single_files,
            demo: config.demo,
            bridge,
            automation,
            running: Mutex::new(HashMap::new()),
            shutdown,
            changing: tokio::sync::Mutex::new(()),
            scanning: tokio::sync::Mutex::new(()),
        })
    }

    /// Start the poller and rule runner of every PDU the bridge has now
    /// (their engines exist already), and the task that writes down serials.
    pub fn start(self: &Arc<Self>) -> JoinHandle<()> {
        let devices = self.bridge.devices();
        let count = devices.len().max(1) as u32;
        for (i, device) in devices.into_iter().enumerate() {
            if let Some(engine) = self.automation.engine(device.id()) {
                // Spread over the period: 200 PDUs asked in the same instant
                // make every answer wait for the others.
                let phase = device.config.poll_interval * i as u32 / count;
                self.launch(device, engine, phase);
            }
        }
        tokio::spawn(self.clone().learn_serials())
    }

    fn launch(&self, device: Arc<Device>, engine: Arc<crate::rules::runner::RuleEngine>, phase: Duration) {
        let stop = self.shutdown.child_token();
        let poller = crate::poller::run_from(self.bridge.clone(), device.clone(), stop.clone(), phase);
        let tasks = vec![tokio::spawn(engine.run(stop.clone())), tokio::spawn(poller)];
        let old = self.running().insert(device.id().clone(), Running { stop, tasks });
        if let Some(old) = old {
            old.stop.cancel();
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entries_now(&self) -> Vec<PduEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| self.single.clone())
    }

    /// Every PDU with its settings (no secrets) and how it is doing.
    pub fn list(&self) -> Vec<PduView> {
        self.entries_now().iter().map(|e| self.view(e)).collect()
    }

    /// One PDU.
    pub fn get(&self, device_id: &str) -> Result<PduView, FleetError> {
        self.entries_now()
            .iter()
            .find(|e| e.device_id == device_id)
            .map(|e| self.view(e))
            .ok_or_else(|| FleetError::Unknown(device_id.to_owned()))
    }

    fn view(&self, entry: &PduEntry) -> PduView {
        let device = self.bridge.device(Some(&entry.device_id)).ok();
        let last_error = device.as_ref().and_then(|d| d.last_error());
        let state = match (entry.enabled, device.as_ref().and_then(|d| d.latest())) {
            (false, _) => "disabled",
            (true, None) => "no data",
            (true, Some(s)) => match s.connection {
                Connection::Online => "online",
                Connection::Stale { .. } => "stale",
                Connection::Unreachable { .. } => "unreachable",
            },
        };
        let answering_serial = device.as_ref().and_then(|d| d.refused_serial());
        let identity_mismatch = last_error
            .clone()
            .filter(|e| e.starts_with(crate::poller::IDENTITY_MISMATCH) && answering_serial.is_some());
        let mut settings = entry.redacted();
        if settings.serial.is_none() {
            settings.serial =
                device.and_then(|d| d.expected_serial().or_else(|| d.latest().and_then(|s| s.identity.serial.clone())));
        }
        PduView { settings, state: state.to_owned(), last_error, identity_mismatch, answering_serial }
    }

    /// Add a PDU and start polling it at once. A PDU that answers is asked
    /// for its serial first: one already watched under another id is
    /// refused.
    pub async fn add(&self, entry: PduEntry) -> Result<PduView, FleetError> {
        let _one = self.changing.lock().await;
        let mut entry = entry;
        let config = self.defaults.device(&entry)?;
        let mut all = self.entries_now();
        if all.iter().any(|e| e.device_id == entry.device_id) {
            return Err(FleetError::Conflict(format!("a PDU with device id {:?} exists already", entry.device_id)));
        }
        Self::feed_taken(&all, &entry)?;
        if let Some(address) = entry.address() {
            if let Some(other) = all.iter().find(|e| e.address().as_ref() == Some(&address)) {
                return Err(FleetError::Conflict(format!(
                    "{address} is watched already as {:?}; edit that PDU instead",
                    other.device_id
                )));
            }
        }
        if entry.serial.is_none() && !entry.simulated {
            entry.serial = probe_serial(&config).await;
        }
        if let Some(serial) = &entry.serial {
            if let Some(other) = all.iter().find(|e| self.serial_of(e).as_deref() == Some(serial)) {
                return Err(FleetError::Conflict(format!(
                    "the PDU with serial {serial} is watched already as {:?}; to move it to a new address, \
                     edit that PDU",
                    other.device_id
                )));
            }
        }
        let config = self.defaults.device(&entry)?;
        // The demo's simulated PDU is not carried into a real fleet: the
        // first PDU added ends the demo.
        let demo = self.demo && self.entries.lock().unwrap_or_else(|e| e.into_inner()).is_none();
        let ended_demo = if demo {
            all.clear();
            self.single.first().and_then(|e| DeviceId::parse(&e.device_id).ok())
        } else {
            None
        };
        all.push(entry.clone());
        let carried = if demo { None } else { self.convert_if_single().await? };
        self.save(&all).await?;
        self.restart_carried(carried).await;
        if let Some(id) = ended_demo {
            tracing::info!(device = %id, "the first PDU was added: the demo's simulated PDU stops");
            self.stop_device(id, true).await;
        }
        if entry.enabled {
            self.start_device(config).await?;
        }
        tracing::info!(device = %entry.device_id, "PDU added");
        Ok(self.view(&entry))
    }

    /// Replace a PDU's settings (its id stays; communities left out keep
    /// their values) and restart its tasks. History stays under the id, so
    /// the same PDU at a new address keeps it.
    pub async fn update(&self, device_id: &str, entry: PduEntry) -> Result<PduView, FleetError> {
        let _one = self.changing.lock().await;
        if entry.device_id != device_id {
            return Err(FleetError::Invalid {
                field: "device_id",
                message: format!("the device id cannot change ({device_id:?} to {:?})", entry.device_id),
            });
        }
        let mut all = self.entries_now();
        let Some(at) = all.iter().position(|e| e.device_id == device_id) else {
            return Err(FleetError::Unknown(device_id.to_owned()));
        };
        let mut entry = entry;
        let old = &all[at];
        // Left out, the secrets and the serial keep their values: a PDU is
        // accepted in place of another only by naming its serial.
        entry.community_read = entry.community_read.or_else(|| old.community_read.clone());
        entry.community_write = entry.community_write.or_else(|| old.community_write.clone());
        entry.serial = entry.serial.or_else(|| old.serial.clone());
        if let Some(serial) = &entry.serial {
            if let Some(other) =
                all.iter().find(|e| e.device_id != device_id && self.serial_of(e).as_deref() == Some(serial))
            {
                return Err(FleetError::Conflict(format!(
                    "the PDU with serial {serial} is watched already as {:?}",
                    other.device_id
                )));
            }
        }
        let config = self.defaults.device(&entry)?;
        Self::feed_taken(&all, &entry)?;
        if let Some(address) = entry.address() {
            if let Some(other) = all.iter().find(|e| e.device_id != device_id && e.address().as_ref() == Some(&address))
            {
                return Err(FleetError::Conflict(format!("{address} is watched already as {:?}", other.device_id)));
            }
        }
        all[at] = entry.clone();
        let carried = self.convert_if_single().await?.filter(|c| c.id.as_str() != device_id);
        self.save(&all).await?;
        self.restart_carried(carried).await;
        self.stop_device(config.id.clone(), false).await;
        if entry.enabled {
            self.start_device(config).await?;
        } else {
            self.bridge.remove(&config.id);
            self.automation.remove(&config.id);
        }
        tracing::info!(device = %device_id, "PDU changed");
        Ok(self.view(&entry))
    }

    /// Stop watching a PDU: its poller and rules stop, its MQTT topics and
    /// Home Assistant entities are cleared; its history is kept.
    pub async fn remove(&self, device_id: &str) -> Result<(), FleetError> {
        let _one = self.changing.lock().await;
        let mut all = self.entries_now();
        let Some(at) = all.iter().position(|e| e.device_id == device_id) else {
            return Err(FleetError::Unknown(device_id.to_owned()));
        };
        let id = DeviceId::parse(device_id).map_err(|m| FleetError::Invalid { field: "device_id", message: m })?;
        all.remove(at);
        let carried = self.convert_if_single().await?.filter(|c| c.id != id);
        self.save(&all).await?;
        self.restart_carried(carried).await;
        self.stop_device(id.clone(), true).await;
        tracing::info!(device = %device_id, "PDU removed; its history is kept");
        Ok(())
    }

    /// A rack has one A feed and one B feed.
    fn feed_taken(all: &[PduEntry], entry: &PduEntry) -> Result<(), FleetError> {
        let (Some(rack), Some(feed)) = (&entry.rack, entry.feed) else { return Ok(()) };
        let taken =
            |e: &&PduEntry| e.device_id != entry.device_id && e.rack.as_ref() == Some(rack) && e.feed == Some(feed);
        match all.iter().find(taken) {
            Some(other) => Err(FleetError::Invalid {
                field: "feed",
                message: format!("rack {rack:?} has its {feed:?} feed already: {:?}", other.device_id),
            }),
            None => Ok(()),
        }
    }

    /// The serial `entry` has, written down or as its PDU says now.
    fn serial_of(&self, entry: &PduEntry) -> Option<String> {
        entry.serial.clone().or_else(|| {
            let device = self.bridge.device(Some(&entry.device_id)).ok()?;
            device.expected_serial().or_else(|| device.latest().and_then(|s| s.identity.serial.clone()))
        })
    }

    async fn start_device(&self, config: crate::config::DeviceConfig) -> Result<(), FleetError> {
        let device = Device::new(&config);
        let (automation, bridge, for_engine) = (self.automation.clone(), self.bridge.clone(), device.clone());
        // The engine reads its rule files.
        let engine = tokio::task::spawn_blocking(move || automation.engine_for(for_engine, &bridge))
            .await
            .map_err(|e| FleetError::Start(format!("PDU {}: its rules could not start ({e})", config.id)))?;
        self.automation.insert(engine.clone());
        self.bridge.insert(device.clone());
        self.launch(device, engine, Duration::ZERO);
        Ok(())
    }

    /// Stop a PDU's tasks; `forget` also takes it off the bridge (else the
    /// caller replaces it at once).
    async fn stop_device(&self, id: DeviceId, forget: bool) {
        let running = self.running().remove(&id);
        if let Some(running) = running {
            running.stop.cancel();
            let aborts: Vec<_> = running.tasks.iter().map(JoinHandle::abort_handle).collect();
            if tokio::time::timeout(STOP_GRACE, futures::future::join_all(running.tasks)).await.is_err() {
                tracing::warn!(device = %id, "the PDU's tasks did not stop within {STOP_GRACE:?}: stopped by force");
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
            }
        }
        // The old engine's queue goes; a new engine subscribes afresh.
        self.bridge.bus().forget(&id);
        if forget {
            self.automation.remove(&id);
            self.bridge.remove(&id);
        }
    }

    /// The first change to a single-PDU setup: its rules and outlet names
    /// are copied to the per-PDU files `pdus.json` entries use (the
    /// originals stay), and its tasks restart on them, so the PDU keeps its
    /// rules now and after a restart. Returns the PDU to restart once the
    /// file is written.
    async fn convert_if_single(&self) -> Result<Option<crate::config::DeviceConfig>, FleetError> {
        if self.entries.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            return Ok(None);
        }
        let Some(first) = self.single.first() else { return Ok(None) };
        for (from, kind) in &self.single_files {
            let to = self.defaults.data_dir.join(format!("{kind}-{}.json", first.device_id));
            if from.is_file() && !to.exists() {
                let (from, target) = (from.clone(), to.clone());
                let copied = tokio::task::spawn_blocking(move || std::fs::copy(&from, &target)).await;
                if let Ok(Err(e)) | Err(e) = copied.map_err(std::io::Error::other) {
                    return Err(FleetError::File { path: to.display().to_string(), why: e.to_string() });
                }
            }
        }
        Ok(Some(self.defaults.device(first)?))
    }

    /// Restart the single-PDU setup's PDU on its `pdus.json` settings.
    async fn restart_carried(&self, carried: Option<crate::config::DeviceConfig>) {
        let Some(config) = carried else { return };
        if self.bridge.device(Some(config.id.as_str())).is_err() {
            return;
        }
        self.stop_device(config.id.clone(), false).await;
        if let Err(e) = self.start_device(config).await {
            tracing::error!(error = %e, "the carried-over PDU did not restart");
        }
    }

    /// Write `all` to the file (owner-only) and keep it as the list.
    async fn save(&self, all: &[PduEntry]) -> Result<(), FleetError> {
        let text = serde_json::to_vec_pretty(&PdusFile { pdus: all.to_vec() }).unwrap_or_default();
        let path = self.file.clone();
        let written = tokio::task::spawn_blocking(move || crate::fsutil::write_private_atomically(&path, &text))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        if let Err(e) = written {
            return Err(FleetError::File { path: self.file.display().to_string(), why: e.to_string() });
        }
        *self.entries.lock().unwrap_or_else(|e| e.into_inner()) = Some(all.to_vec());
        Ok(())
    }

    /// Write down the serial of every PDU in the file that has answered
    /// without one recorded, so a different PDU at its address is noticed.
    async fn learn_serials(self: Arc<Self>) {
        let mut every = tokio::time::interval(LEARN_EVERY);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            let _one = self.changing.lock().await;
            let Some(mut all) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).clone() else { continue };
            let mut learned = false;
            for entry in all.iter_mut().filter(|e| e.serial.is_none() && !e.simulated) {
                let Ok(device) = self.bridge.device(Some(&entry.device_id)) else { continue };
                let Some(serial) = device.latest().and_then(|s| s.identity.serial.clone()) else { continue };
                tracing::info!(device = %entry.device_id, %serial, "PDU serial recorded");
                device.expect_serial(&serial);
                entry.serial = Some(serial);
                learned = true;
            }
            if learned {
                if let Err(e) = self.save(&all).await {
                    tracing::warn!(error = %e, "cannot record PDU serials");
                }
            }
        }
    }

    /// Wait for every PDU's tasks (after shutdown), at most `grace`.
    pub async fn stopped(&self, grace: Duration) {
        let tasks: Vec<JoinHandle<()>> = self.running().drain().flat_map(|(_, r)| r.tasks).collect();
        let _ = tokio::time::timeout(grace, futures::future::join_all(tasks)).await;
    }
}

/// The serial of the PDU `config` points at, if it answers within [`PROBE`].
async fn probe_serial(config: &crate::config::DeviceConfig) -> Option<String> {
    let source = PduSource::for_config(config);
    match tokio::time::timeout(PROBE, source.identity()).await {
        Ok(Ok(identity)) => identity.serial,
        _ => None,
    }
}

/// A single-PDU setting as a `pdus.json` entry.
fn entry_of(d: &crate::config::DeviceConfig) -> PduEntry {
    let mut entry = PduEntry::simulated(d.id.as_str());
    if let DeviceKind::Snmp { host, port, community_read, community_write } = &d.kind {
        entry.simulated = false;
        entry.host = host.clone();
        entry.snmp_port = *port;
        entry.community_read = Some(community_read.expose().to_owned());
        entry.community_write = Some(community_write.expose().to_owned());
    }
    if let DeviceKind::Simulated { seed, probe } = d.kind {
        entry.seed = Some(seed);
        entry.probe = probe;
    }
    entry.label = d.label.clone();
    entry.protected_outlets = d.protected.clone();
    entry
}
