//! The bridge's one service path: the PDUs it watches, their latest
//! snapshots, the channel every snapshot fans out on, and outlet commands.
//!
//! Owns: per-device runtime state and every state-changing action. The web
//! API, the dashboard's server functions and (later) MQTT and rules all call
//! [`Bridge::outlet_command`], so validation, refusal of commands to an
//! unreachable PDU, read-back of the confirmed state — and later
//! authentication and auditing — live in exactly one place.

use crate::config::{Config, DeviceConfig, DeviceKind};
use crate::pdu::sim::SimulatedPdu;
use crate::pdu::{PduSource, SourceError};
use crate::snmp::client::SnmpClient;
use crate::snmp::SnmpPdu;
use app::model::{ApiError, Connection, DeviceId, Event, MqttStatus, OutletAction, OutletCommandResult, PduSnapshot};
use app::rules::{Rule, RuleStatus};
use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Snapshots buffered per subscriber before a slow one starts skipping
/// (a skipped snapshot is superseded by the next one anyway).
const BUS_CAPACITY: usize = 64;

pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Now, in unix seconds (the `ts` of API answers, events and MQTT payloads).
pub fn unix_secs() -> f64 {
    unix_ms() as f64 / 1000.0
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
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Device {
    pub fn id(&self) -> &DeviceId {
        &self.config.id
    }

    pub fn latest(&self) -> Option<Arc<PduSnapshot>> {
        self.latest.borrow().clone()
    }

    pub(crate) fn set_latest(&self, snapshot: Arc<PduSnapshot>) {
        self.latest.send_replace(Some(snapshot));
    }

    /// The simulated device behind this PDU, if it is one (fault injection).
    pub fn simulator(&self) -> Option<&SimulatedPdu> {
        match &self.source {
            PduSource::Simulated(sim) => Some(sim),
            PduSource::Snmp(_) => None,
        }
    }
}

/// Every PDU and the snapshot channel.
pub struct Bridge {
    devices: Vec<Arc<Device>>,
    /// Every snapshot of every PDU, in poll order: the dashboard stream, and
    /// later MQTT, history and rules, subscribe here.
    bus: broadcast::Sender<Arc<PduSnapshot>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceHealth {
    pub device_id: DeviceId,
    /// online, stale, unreachable or no data.
    pub state: &'static str,
    pub data_age_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub devices: Vec<DeviceHealth>,
}

impl Bridge {
    pub fn new(config: &Config) -> Self {
        let devices = config
            .devices
            .iter()
            .map(|dc| {
                let source = match &dc.kind {
                    DeviceKind::Simulated { seed } => {
                        PduSource::Simulated(SimulatedPdu::new(*seed, dc.poll_deadline()))
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
                            dc.snmp_timeout,
                            dc.snmp_retries,
                            dc.max_varbinds,
                        );
                        PduSource::Snmp(Arc::new(SnmpPdu::new(client)))
                    }
                };
                Arc::new(Device {
                    config: dc.clone(),
                    source,
                    latest: watch::channel(None).0,
                    poke: Notify::new(),
                    last_error: Mutex::new(None),
                })
            })
            .collect();
        Self { devices, bus: broadcast::channel(BUS_CAPACITY).0 }
    }

    pub fn devices(&self) -> &[Arc<Device>] {
        &self.devices
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PduSnapshot>> {
        self.bus.subscribe()
    }

    pub(crate) fn publish(&self, device: &Device, snapshot: PduSnapshot) {
        let snapshot = Arc::new(snapshot);
        device.set_latest(snapshot.clone());
        // No subscriber is fine: nobody is watching right now.
        let _ = self.bus.send(snapshot);
    }

    pub fn snapshots(&self) -> Vec<Arc<PduSnapshot>> {
        self.devices.iter().filter_map(|d| d.latest()).collect()
    }

    /// One poller per PDU, stopped by `shutdown`.
    pub fn spawn_pollers(self: &Arc<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        self.devices
            .iter()
            .map(|d| tokio::spawn(crate::poller::run(self.clone(), d.clone(), shutdown.clone())))
            .collect()
    }

    /// `None` picks the only PDU; with several, the caller must say which.
    pub fn device(&self, device_id: Option<&str>) -> Result<&Arc<Device>, ApiError> {
        match device_id {
            Some(id) => self
                .devices
                .iter()
                .find(|d| d.id().as_str() == id)
                .ok_or_else(|| ApiError::not_found("device_id", format!("no PDU with device id {id:?}"))),
            None if self.devices.len() == 1 => Ok(&self.devices[0]),
            None => Err(ApiError::bad_request("device_id", "several PDUs are configured: say which with device_id")),
        }
    }

    /// Switch an outlet and answer with the state read back from the PDU.
    /// Nothing reaches the PDU unless the device, the outlet and the PDU's
    /// reachability all check out.
    pub async fn outlet_command(
        &self,
        device_id: Option<&str>,
        outlet: u32,
        action: OutletAction,
    ) -> Result<OutletCommandResult, ApiError> {
        let device = self.device(device_id)?;
        let id = device.id();
        let snapshot = device
            .latest()
            .ok_or_else(|| ApiError::Unavailable(format!("no reading from PDU {id} yet; nothing was switched")))?;
        if snapshot.outlet(outlet).is_none() {
            return Err(ApiError::not_found(
                "outlet",
                format!("PDU {id} has no outlet {outlet} (it has outlets 1 to {})", snapshot.outlets.len()),
            ));
        }
        if let Connection::Unreachable { .. } = snapshot.connection {
            return Err(ApiError::Unavailable(format!("PDU {id} is unreachable; nothing was switched")));
        }

        let deadline = device.config.poll_deadline();
        let within = |d: Duration| move |_| SourceError::Timeout(d);
        let written = tokio::time::timeout(deadline, device.source.outlet_command(outlet, action))
            .await
            .map_err(within(deadline))
            .and_then(|r| r);
        if let Err(e) = written {
            tracing::warn!(device = %id, outlet, %action, error = %e, "outlet command failed");
            return Err(command_error(id, outlet, e, "the command's outcome is unknown: check the outlet"));
        }
        let read_back = tokio::time::timeout(deadline, device.source.outlet_state(outlet))
            .await
            .map_err(within(deadline))
            .and_then(|r| r);
        // Whatever happens next, the dashboard should see the change soon.
        device.poke.notify_one();
        let (state, pending) = read_back
            .map_err(|e| command_error(id, outlet, e, "the command was sent but its result could not be read back"))?;
        tracing::info!(device = %id, outlet, %action, state = state.label(), pending, "outlet command carried out");
        Ok(OutletCommandResult {
            success: true,
            device_id: id.clone(),
            outlet,
            command: action,
            state,
            pending,
            error: None,
            ts: unix_secs(),
        })
    }

    pub fn health(&self) -> Health {
        let now = unix_ms();
        let mut reasons = Vec::new();
        let devices = self
            .devices
            .iter()
            .map(|d| {
                let id = d.id().clone();
                let Some(s) = d.latest() else {
                    let why = d.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    reasons.push(format!("{id}: no reading yet{}", why.map(|w| format!(" ({w})")).unwrap_or_default()));
                    return DeviceHealth { device_id: id, state: "no data", data_age_s: None };
                };
                let age = s.age_s(now);
                let state = match &s.connection {
                    Connection::Online => "online",
                    Connection::Stale { reason, .. } => {
                        reasons.push(format!("{id}: last poll failed ({reason})"));
                        "stale"
                    }
                    Connection::Unreachable { reason, .. } => {
                        reasons.push(format!("{id}: PDU unreachable ({reason})"));
                        "unreachable"
                    }
                };
                let limit = (3 * d.config.poll_interval + d.config.poll_deadline()).as_secs_f64();
                if state == "online" && age > limit {
                    reasons.push(format!("{id}: data is {age:.1} s old (limit {limit:.1} s)"));
                }
                DeviceHealth { device_id: id, state, data_age_s: Some(age) }
            })
            .collect();
        Health { status: if reasons.is_empty() { "ok" } else { "degraded" }, reasons, devices }
    }
}

fn command_error(id: &DeviceId, outlet: u32, error: SourceError, timeout_meaning: &str) -> ApiError {
    match error {
        SourceError::Timeout(d) => {
            ApiError::Unavailable(format!("PDU {id} did not answer within {:.1} s; {timeout_meaning}", d.as_secs_f64()))
        }
        SourceError::NoSuchOutlet(n) => ApiError::not_found("outlet", format!("PDU {id} has no outlet {n}")),
        SourceError::Refused(why) => {
            ApiError::DeviceRefused(format!("PDU {id} refused the command for outlet {outlet}: {why}"))
        }
    }
}

/// The dashboard's view of the bridge.
pub struct BridgeBackend {
    pub bridge: Arc<Bridge>,
    pub automation: Arc<crate::rules::Automation>,
    pub mqtt: watch::Receiver<MqttStatus>,
    pub history: Option<Arc<crate::history::store::Store>>,
    pub reports: crate::history::reports::Settings,
}

impl app::backend::Backend for BridgeBackend {
    fn report(
        &self,
        device_id: Option<String>,
        id: String,
    ) -> BoxFuture<'static, Result<app::history::Report, ApiError>> {
        let (store, bridge) = (self.history.clone(), self.bridge.clone());
        Box::pin(async move {
            let store = crate::history::reports::require(store.as_deref())?;
            let key = crate::history::reports::device_key(store, &bridge, device_id.as_deref()).await?;
            crate::history::reports::fetch(store, key, &id).await
        })
    }

    fn energy(&self, device_id: Option<String>) -> BoxFuture<'static, Result<app::history::EnergySummary, ApiError>> {
        let (store, bridge, settings) = (self.history.clone(), self.bridge.clone(), self.reports.clone());
        Box::pin(async move {
            let store = crate::history::reports::require(store.as_deref())?;
            crate::history::reports::summary(store, &bridge, device_id.as_deref(), &settings).await
        })
    }

    fn history(
        &self,
        device_id: Option<String>,
        kind: app::history::HistoryKind,
        range: String,
    ) -> BoxFuture<'static, Result<app::history::History, ApiError>> {
        let (store, bridge) = (self.history.clone(), self.bridge.clone());
        Box::pin(async move {
            let window = crate::history::query::Window { range: Some(range), start: None, end: None };
            crate::history::query::fetch(store.as_deref(), &bridge, device_id.as_deref(), kind, &window, None).await
        })
    }

    fn snapshots(&self) -> Vec<PduSnapshot> {
        self.bridge.snapshots().iter().map(|s| (**s).clone()).collect()
    }

    fn mqtt(&self) -> MqttStatus {
        self.mqtt.borrow().clone()
    }

    fn rules(&self, device_id: Option<&str>) -> Result<Vec<RuleStatus>, ApiError> {
        Ok(self.automation.engine(device_id)?.list())
    }

    fn save_rule(&self, device_id: Option<&str>, original: Option<&str>, rule: Rule) -> Result<RuleStatus, ApiError> {
        let engine = self.automation.engine(device_id)?;
        match original {
            Some(name) => engine.update(name, rule),
            None => engine.create(rule),
        }
    }

    fn delete_rule(&self, device_id: Option<&str>, name: &str) -> Result<(), ApiError> {
        self.automation.engine(device_id)?.delete(name)
    }

    fn set_rule_enabled(&self, device_id: Option<&str>, name: &str, enabled: bool) -> Result<RuleStatus, ApiError> {
        self.automation.engine(device_id)?.set_enabled(name, enabled)
    }

    fn events(&self, limit: usize) -> Vec<Event> {
        self.automation.events.recent(None, limit)
    }

    fn outlet_command(
        &self,
        device_id: Option<String>,
        outlet: u32,
        action: OutletAction,
    ) -> BoxFuture<'static, Result<OutletCommandResult, ApiError>> {
        let bridge = self.bridge.clone();
        Box::pin(async move { bridge.outlet_command(device_id.as_deref(), outlet, action).await })
    }
}
