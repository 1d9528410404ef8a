//! One PDU at run time: its validated settings, where its readings come
//! from ([`PduSource`]: the simulated PDU44001 or SNMP), and its latest
//! snapshot for anyone who arrives late.
//!
//! Owns: the per-device handle every task shares. Does not own: the cadence
//! (`poller`), fan-out (`bus`) or command policy (`bridge`). The one thing
//! to know: the latest snapshot is a `watch` value — reading it never waits
//! for a poll, and a reader always sees a whole snapshot.

use crate::config::{DeviceConfig, DeviceKind};
use crate::pdu::correct::OutletNames;
use crate::pdu::sim::SimulatedPdu;
use crate::pdu::{RawIdentity, RawPoll, SourceError};
use crate::snmp::client::SnmpClient;
use crate::snmp::SnmpPdu;
use app::model::{DeviceId, OutletAction, OutletState, PduSnapshot};
use app::settings::{AllOutletsAction, PduSettings, SettingChange};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use tokio::sync::{watch, Notify};

/// Where a PDU's readings come from. An enum rather than a trait object:
/// there are few kinds and each is known here.
#[derive(Clone)]
pub enum PduSource {
    /// The in-process simulated PDU44001 (`BRIDGE_MOCK_MODE`, demo mode).
    Simulated(SimulatedPdu),
    /// A PDU over SNMP v2c.
    Snmp(Arc<SnmpPdu>),
}

impl PduSource {
    /// The source `config` describes.
    pub fn for_config(config: &DeviceConfig) -> Self {
        match &config.kind {
            DeviceKind::Simulated { seed, probe } => {
                let sim = SimulatedPdu::new(*seed, config.poll_deadline());
                if *probe {
                    sim.add_probe();
                }
                PduSource::Simulated(sim)
            }
            DeviceKind::Snmp { host, port, community_read, community_write } => {
                // An IPv6 literal needs brackets before the port.
                let target = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let client = SnmpClient::new(
                    target,
                    community_read.expose(),
                    community_write.expose(),
                    config.snmp_timeout,
                    config.snmp_retries,
                    config.max_varbinds,
                );
                PduSource::Snmp(Arc::new(SnmpPdu::new(client)))
            }
        }
    }

    pub async fn identity(&self) -> Result<RawIdentity, SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.identity().await,
            PduSource::Snmp(snmp) => snmp.identity().await,
        }
    }

    pub async fn poll(&self) -> Result<RawPoll, SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.poll().await,
            PduSource::Snmp(snmp) => snmp.poll().await,
        }
    }

    pub async fn outlet_command(&self, outlet: u32, action: OutletAction) -> Result<(), SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.outlet_command(outlet, action).await,
            PduSource::Snmp(snmp) => snmp.outlet_command(outlet, action).await,
        }
    }

    /// The slow-changing settings, read from the device.
    pub async fn settings(&self) -> Result<PduSettings, SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.settings().await,
            PduSource::Snmp(snmp) => snmp.settings().await,
        }
    }

    pub async fn write_setting(&self, change: &SettingChange) -> Result<(), SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.write_setting(change).await,
            PduSource::Snmp(snmp) => snmp.write_setting(change).await,
        }
    }

    pub async fn all_outlets(&self, action: AllOutletsAction) -> Result<(), SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.all_outlets(action).await,
            PduSource::Snmp(snmp) => snmp.all_outlets(action).await,
        }
    }

    /// Read one outlet's relay and pending flag back from the device.
    pub async fn outlet_state(&self, outlet: u32) -> Result<(OutletState, bool), SourceError> {
        match self {
            PduSource::Simulated(sim) => sim.outlet_state(outlet).await,
            PduSource::Snmp(snmp) => snmp.outlet_state(outlet).await,
        }
    }
}

/// One PDU at run time.
pub struct Device {
    pub config: DeviceConfig,
    /// Where readings come from and commands go.
    pub source: PduSource,
    /// The latest snapshot, for anyone who arrives late (SSR, `/api/status`).
    latest: watch::Sender<Option<Arc<PduSnapshot>>>,
    /// Wakes the poller for an immediate poll (after a command).
    pub(crate) poke: Notify,
    /// Why the last poll failed, for health before any data exists.
    last_error: Mutex<Option<String>>,
    /// How long its polls take and how many fail (`/metrics`).
    pub polls: crate::stats::PollStats,
    /// Commands to this PDU's outlets are carried out one at a time, so each
    /// answer's read-back belongs to its own command.
    pub(crate) commands: tokio::sync::Mutex<()>,
    /// How many commands each outlet has been sent (by number), so an answer
    /// can say that a later command superseded it.
    pub(crate) command_counts: Mutex<std::collections::HashMap<u32, u64>>,
    /// The serial this PDU must answer with (from `pdus.json`, or learned
    /// at its first answer); another is refused, never merged.
    expected_serial: Mutex<Option<String>>,
    /// The serial of the other PDU answering at this address, while it does.
    refused_serial: Mutex<Option<String>>,
    /// The slow-changing settings as last read (`manage` reads them every
    /// few minutes and after every change).
    settings: watch::Sender<Option<Arc<PduSettings>>>,
    /// Wakes the settings reader at once (after a change).
    pub(crate) settings_wanted: Notify,
    /// The names the bridge shows over the PDU's own, as last loaded from
    /// or written to `config.names_file`, and that file's time then.
    names: RwLock<(OutletNames, Option<SystemTime>)>,
    /// The poller reads the identity (device and outlet names) again at its
    /// next poll: a name was written to the PDU.
    pub(crate) identity_stale: AtomicBool,
    /// Settings and rename writes to this PDU, one at a time.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

impl Device {
    pub fn new(config: &DeviceConfig) -> Arc<Self> {
        Arc::new(Self {
            config: config.clone(),
            source: PduSource::for_config(config),
            latest: watch::channel(None).0,
            poke: Notify::new(),
            last_error: Mutex::new(None),
            polls: Default::default(),
            commands: tokio::sync::Mutex::new(()),
            command_counts: Mutex::new(std::collections::HashMap::new()),
            expected_serial: Mutex::new(config.expected_serial.clone()),
            refused_serial: Mutex::new(None),
            settings: watch::channel(None).0,
            settings_wanted: Notify::new(),
            names: RwLock::new((config.outlet_names.clone(), crate::fsutil::modified(&config.names_file))),
            identity_stale: AtomicBool::new(false),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    pub fn settings(&self) -> Option<Arc<PduSettings>> {
        self.settings.borrow().clone()
    }

    pub(crate) fn set_settings(&self, settings: PduSettings) {
        self.settings.send_replace(Some(Arc::new(settings)));
    }

    /// The outlet names the bridge shows over the PDU's.
    pub fn outlet_names(&self) -> OutletNames {
        self.names.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// When the names file was last loaded or written (its modification time).
    pub(crate) fn names_seen(&self) -> Option<SystemTime> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).1
    }

    pub(crate) fn set_outlet_names(&self, names: OutletNames, seen: Option<SystemTime>) {
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = (names, seen);
    }

    pub fn id(&self) -> &DeviceId {
        &self.config.id
    }

    pub fn latest(&self) -> Option<Arc<PduSnapshot>> {
        self.latest.borrow().clone()
    }

    /// Replace the latest snapshot; returns the one it replaces.
    pub(crate) fn set_latest(&self, snapshot: Arc<PduSnapshot>) -> Option<Arc<PduSnapshot>> {
        self.latest.send_replace(Some(snapshot))
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    pub fn expected_serial(&self) -> Option<String> {
        self.expected_serial.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// From now on only a PDU with `serial` is taken for this one.
    pub fn expect_serial(&self, serial: &str) {
        *self.expected_serial.lock().unwrap_or_else(|e| e.into_inner()) = Some(serial.to_owned());
    }

    /// The serial of a different PDU answering at this address, if one does:
    /// nothing is switched and nothing recorded while it does.
    pub fn refused_serial(&self) -> Option<String> {
        self.refused_serial.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_refused_serial(&self, serial: Option<String>) {
        *self.refused_serial.lock().unwrap_or_else(|e| e.into_inner()) = serial;
    }

    /// The simulated device behind this PDU, if it is one (fault injection).
    pub fn simulator(&self) -> Option<&SimulatedPdu> {
        match &self.source {
            PduSource::Simulated(sim) => Some(sim),
            PduSource::Snmp(_) => None,
        }
    }
}
