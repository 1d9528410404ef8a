//! The bridge: the PDUs it watches, the channels their snapshots and events
//! travel on, and the one path for every outlet command.
//!
//! Owns: the device list and command policy. The dashboard, the JSON API,
//! MQTT and rules all switch outlets through [`Bridge::outlet_command`], so
//! validation, refusal of commands to an unreachable PDU, one command at a
//! time per PDU, the read-back of the confirmed state and the event that
//! records it live in exactly one place. Callers resolve the device first
//! ([`Bridge::device`]); errors here are the bridge's own and become HTTP
//! answers only in `web`.

use crate::alarms::Alarms;
use crate::auth::Auth;
use crate::bus::Bus;
use crate::clock::{unix_ms, unix_secs};
use crate::config::Config;
use crate::device::Device;
use crate::events::EventSink;
use crate::pdu::SourceError;
use crate::queue::QueueHealth;
use app::access::{Caller, Role};
use app::model::{Connection, DeviceId, Event, OutletAction, OutletCommandResult, PduSnapshot};
use serde::Serialize;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Every PDU and the channels between tasks.
pub struct Bridge {
    /// The PDUs watched now, in configuration order. PDUs come and go at
    /// run time (`fleet`); each change bumps the number in the `watch`.
    devices: RwLock<Vec<Arc<Device>>>,
    changes: watch::Sender<u64>,
    /// Every snapshot of every PDU, in poll order.
    bus: Bus,
    /// Rule, device and command events.
    events: Arc<EventSink>,
    /// What is wrong now, and was: raised from snapshots by the alarm task
    /// and by `notify` rules, acknowledged through the web.
    alarms: Arc<Alarms>,
    /// Where every outlet command is written down with who asked (set once
    /// the access store is open).
    audit: OnceLock<Arc<Auth>>,
}

/// Who asked for an outlet command (kept with its event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Dashboard,
    Api,
    Mqtt,
    Rule(String),
}

/// Who asked for an outlet command, from where, and whether a protected
/// outlet may be switched off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester {
    pub origin: Origin,
    /// For the audit log: `user ann`, `token backup`, `rule night-off`, `mqtt`.
    pub actor: String,
    /// The client's address, when there is one.
    pub from: Option<String>,
    /// The request says explicitly to switch a protected outlet off, and
    /// comes from an admin.
    pub protected_ok: bool,
}

impl Requester {
    /// A signed-in caller through the dashboard or the API;
    /// `confirm_protected` counts only for an admin.
    pub fn caller(origin: Origin, caller: &Caller, confirm_protected: bool) -> Self {
        Self {
            origin,
            actor: caller.who(),
            from: caller.from.clone(),
            protected_ok: confirm_protected && caller.role == Role::Admin,
        }
    }

    /// Where the request came from, as events name it.
    pub fn origin_label(&self) -> &'static str {
        self.origin.label()
    }

    /// A rule: never switches a protected outlet off.
    pub fn rule(name: &str) -> Self {
        Self { origin: Origin::Rule(name.to_owned()), actor: format!("rule {name}"), from: None, protected_ok: false }
    }

    /// A command over MQTT (`who`: the account or client, when known).
    pub fn mqtt(who: Option<&str>) -> Self {
        let actor = who.map(|w| format!("mqtt {w}")).unwrap_or_else(|| "mqtt".to_owned());
        Self { origin: Origin::Mqtt, actor, from: None, protected_ok: false }
    }
}

impl Origin {
    fn label(&self) -> &'static str {
        match self {
            Origin::Dashboard => "dashboard",
            Origin::Api => "api",
            Origin::Mqtt => "mqtt",
            Origin::Rule(_) => "rule",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error("no PDU with device id {0:?}")]
    Unknown(String),
    #[error("several PDUs are configured: say which with device_id")]
    Ambiguous,
    #[error("no PDU is configured: add one first")]
    None,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("no reading from PDU {0} yet; nothing was switched")]
    NoReading(DeviceId),
    #[error("PDU {device} has no outlet {outlet}{}", .count.map(|n| format!(" (it has outlets 1 to {n})")).unwrap_or_default())]
    NoSuchOutlet { device: DeviceId, outlet: u32, count: Option<usize> },
    #[error("PDU {0} is unreachable; nothing was switched")]
    Unreachable(DeviceId),
    #[error("PDU {device} did not answer within {secs:.1} s; {meaning}")]
    Timeout { device: DeviceId, secs: f64, meaning: &'static str },
    #[error("PDU {device} refused the command for outlet {outlet}: {why}")]
    Refused { device: DeviceId, outlet: u32, why: String },
    #[error(
        "outlet {outlet} of PDU {device} is protected: only an admin may switch it off, and only by saying so \
         (\"confirm_protected\": true); nothing was switched"
    )]
    Protected { device: DeviceId, outlet: u32 },
    #[error(
        "a different PDU (serial {found}) answers at the address of PDU {device}; nothing was switched \
         (edit the PDU to accept it, or remove it)"
    )]
    WrongPdu { device: DeviceId, found: String },
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeviceHealth {
    pub device_id: DeviceId,
    /// online, stale, unreachable or no data.
    pub state: &'static str,
    pub data_age_s: Option<f64>,
}

/// How the pollers and the durable queues are doing (the rest of the
/// bridge's health is added by `health::report`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PollHealth {
    /// What is wrong, in words; empty when nothing is.
    pub reasons: Vec<String>,
    pub devices: Vec<DeviceHealth>,
    /// The durable queues (history, rules, events): fill and losses.
    pub queues: Vec<QueueHealth>,
}

impl Bridge {
    pub fn new(config: &Config) -> Self {
        let events = Arc::new(EventSink::default());
        Self {
            devices: RwLock::new(config.devices.iter().map(Device::new).collect()),
            changes: watch::channel(0).0,
            bus: Bus::default(),
            alarms: Arc::new(Alarms::new(events.clone())),
            events,
            audit: OnceLock::new(),
        }
    }

    /// Write every outlet command to this access store's audit log from now on.
    pub fn set_audit(&self, auth: Arc<Auth>) {
        let _ = self.audit.set(auth);
    }

    /// The audit log, once the access store is open.
    pub(crate) fn audit(&self) -> Option<&Arc<Auth>> {
        self.audit.get()
    }

    /// The PDUs watched now.
    pub fn devices(&self) -> Vec<Arc<Device>> {
        self.devices.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes whenever a PDU is added or removed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Watch `device` from now on (in place of one with the same id).
    pub(crate) fn insert(&self, device: Arc<Device>) {
        {
            let mut all = self.devices.write().unwrap_or_else(|e| e.into_inner());
            match all.iter_mut().find(|d| d.id() == device.id()) {
                Some(slot) => *slot = device,
                None => all.push(device),
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Stop watching `id`: its snapshots no longer travel the bus.
    pub(crate) fn remove(&self, id: &DeviceId) -> Option<Arc<Device>> {
        let removed = {
            let mut all = self.devices.write().unwrap_or_else(|e| e.into_inner());
            let at = all.iter().position(|d| d.id() == id)?;
            all.remove(at)
        };
        self.bus.forget(id);
        self.changes.send_modify(|n| *n += 1);
        Some(removed)
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    pub fn events(&self) -> &Arc<EventSink> {
        &self.events
    }

    pub fn alarms(&self) -> &Arc<Alarms> {
        &self.alarms
    }

    /// The latest snapshot of every PDU that has one, in configuration order.
    pub fn snapshots(&self) -> Vec<Arc<PduSnapshot>> {
        self.devices().iter().filter_map(|d| d.latest()).collect()
    }

    /// `None` picks the only PDU; with several, the caller must say which.
    pub fn device(&self, device_id: Option<&str>) -> Result<Arc<Device>, DeviceError> {
        let all = self.devices.read().unwrap_or_else(|e| e.into_inner());
        match device_id {
            Some(id) => {
                all.iter().find(|d| d.id().as_str() == id).cloned().ok_or_else(|| DeviceError::Unknown(id.to_owned()))
            }
            None if all.len() == 1 => Ok(all[0].clone()),
            None if all.is_empty() => Err(DeviceError::None),
            None => Err(DeviceError::Ambiguous),
        }
    }

    /// A new snapshot of `device`: the device events it implies are
    /// recorded once, here, then everyone gets it.
    pub(crate) fn publish(&self, device: &Device, snapshot: PduSnapshot) {
        let snapshot = Arc::new(snapshot);
        if let Some(before) = device.set_latest(snapshot.clone()) {
            for event in crate::events::derive(&before, &snapshot, unix_secs()) {
                self.events.record(event);
            }
        }
        self.bus.publish(snapshot);
    }

    /// Switch an outlet and answer with the state read back from the PDU.
    /// Nothing reaches the PDU unless the outlet and the PDU's reachability
    /// check out; commands to one PDU are carried out one at a time. Every
    /// command is an event with who asked and how it ended.
    pub async fn outlet_command(
        &self,
        device: &Device,
        outlet: u32,
        action: OutletAction,
        requester: Requester,
    ) -> Result<OutletCommandResult, CommandError> {
        let id = device.id();
        let origin = &requester.origin;
        let result = if action.cuts_power() && device.config.protected.contains(&outlet) && !requester.protected_ok {
            Err(CommandError::Protected { device: id.clone(), outlet })
        } else {
            self.checked_command(device, outlet, action).await
        };
        let mut event = Event::new(unix_secs(), id.clone(), "outlet_command", "");
        event.outlet = Some(outlet);
        event.origin = Some(origin.label().to_owned());
        if let Origin::Rule(name) = origin {
            event.rule = Some(name.clone());
        }
        match &result {
            Ok(r) => {
                tracing::info!(device = %id, outlet, %action, state = r.state.label(), pending = r.pending, origin = origin.label(), by = %requester.actor, "outlet command carried out");
                event.outcome = Some("ok".into());
                let pending = if r.pending { " (pending)" } else { "" };
                let later = if r.superseded { "; a later command followed" } else { "" };
                event.details = format!("{} outlet {outlet}: now {}{pending}{later}", action.verb(), r.state.label());
            }
            Err(e) => {
                tracing::warn!(device = %id, outlet, %action, error = %e, origin = origin.label(), by = %requester.actor, "outlet command failed");
                event.outcome = Some("failed".into());
                event.details = format!("{} outlet {outlet}: {e}", action.verb());
            }
        }
        if let Some(audit) = self.audit.get() {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(CommandError::Protected { .. } | CommandError::WrongPdu { .. }) => "refused",
                Err(_) => "failed",
            };
            let target = format!("{id} outlet {outlet}");
            audit
                .record(&requester.actor, requester.from.as_deref(), "outlet_command", &target, outcome, &event.details)
                .await;
        }
        self.events.record(event);
        result
    }

    async fn checked_command(
        &self,
        device: &Device,
        outlet: u32,
        action: OutletAction,
    ) -> Result<OutletCommandResult, CommandError> {
        let id = device.id();
        if let Some(found) = device.refused_serial() {
            return Err(CommandError::WrongPdu { device: id.clone(), found });
        }
        let snapshot = device.latest().ok_or_else(|| CommandError::NoReading(id.clone()))?;
        if snapshot.outlet(outlet).is_none() {
            return Err(CommandError::NoSuchOutlet { device: id.clone(), outlet, count: Some(snapshot.outlets.len()) });
        }
        if let Connection::Unreachable { .. } = snapshot.connection {
            return Err(CommandError::Unreachable(id.clone()));
        }
        let count = |f: fn(&mut u64) -> u64| {
            let mut counts = device.command_counts.lock().unwrap_or_else(|e| e.into_inner());
            f(counts.entry(outlet).or_default())
        };
        let mine = count(|n| {
            *n += 1;
            *n
        });
        let result = {
            let _one_at_a_time = device.commands.lock().await;
            self.carry_out(device, outlet, action).await
        };
        // Whatever happened, the dashboard should see the outcome soon.
        device.poke.notify_one();
        result.map(|mut r| {
            r.superseded = count(|n| *n) > mine;
            r
        })
    }

    async fn carry_out(
        &self,
        device: &Device,
        outlet: u32,
        action: OutletAction,
    ) -> Result<OutletCommandResult, CommandError> {
        let id = device.id();
        let deadline = device.config.poll_deadline();
        let error = |meaning: &'static str| {
            move |e: SourceError| match e {
                SourceError::Timeout(d) => CommandError::Timeout { device: id.clone(), secs: d.as_secs_f64(), meaning },
                SourceError::NoSuchOutlet(n) => {
                    CommandError::NoSuchOutlet { device: id.clone(), outlet: n, count: None }
                }
                SourceError::Refused(why) => CommandError::Refused { device: id.clone(), outlet, why },
            }
        };
        let within = |d: Duration| move |_| SourceError::Timeout(d);
        tokio::time::timeout(deadline, device.source.outlet_command(outlet, action))
            .await
            .map_err(within(deadline))
            .and_then(|r| r)
            .map_err(error("the command's outcome is unknown: check the outlet"))?;
        let (state, pending) = tokio::time::timeout(deadline, device.source.outlet_state(outlet))
            .await
            .map_err(within(deadline))
            .and_then(|r| r)
            .map_err(error("the command was sent but its result could not be read back"))?;
        Ok(OutletCommandResult {
            success: true,
            device_id: id.clone(),
            outlet,
            command: action,
            state,
            pending,
            error: None,
            ts: unix_secs(),
            superseded: false,
        })
    }

    pub fn health(&self) -> PollHealth {
        let now = unix_ms();
        let mut reasons = Vec::new();
        let devices = self
            .devices()
            .iter()
            .map(|d| {
                let id = d.id().clone();
                let Some(s) = d.latest() else {
                    let why = d.last_error();
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
        let mut queues = self.bus.health();
        queues.push(self.events.health());
        PollHealth { reasons, devices, queues }
    }
}
