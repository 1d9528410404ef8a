//! The simulated PDU44001: one model of the device ([`SimModel`]) that the
//! in-process mock (`BRIDGE_MOCK_MODE`, demo mode) reads directly through
//! [`SimulatedPdu`] and that the SNMP agent (`snmp::agent`) serves over UDP.
//!
//! Owns: the device's physics — drifting source voltages and frequencies,
//! loads that follow their relays, bank and total sums that equal their
//! parts, energy that grows with power, outlet commands with the device's
//! real delays (pending visible meanwhile), the ATS moving the load to the
//! other source when one fails and back to the preferred one — and fault
//! injection for tests. It answers in MIB units ([`RawPoll`]), so the
//! bridge's scaling code is exercised exactly as with hardware.
//!
//! Time is `tokio::time::Instant`: under a paused Tokio clock, reboots and
//! delayed commands happen exactly when the test advances time to them.

use super::SourceError;
use super::{
    correct, scale, OutletConfig, RawAts, RawIdentity, RawLoadRow, RawOutlet, RawOutletPeak, RawOutletTimings, RawPoll,
    RawProbe, RawProbeConfig,
};
use app::model::{DeviceId, PduSnapshot};
use app::model::{OutletAction, OutletState, Source};
use app::settings::{AllOutletsAction, LoadThresholds, OutletSettings, PduSettings, SettingChange, SourceSettings};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Nominal input of the PDU44001 (120 V, 60 Hz).
const NOMINAL_VOLTS: f64 = 120.0;
const NOMINAL_HZ: f64 = 60.0;
/// The ATS treats an input outside this window as unusable (the PDU44001's
/// default voltage sensitivity).
const MIN_USABLE_VOLTS: f64 = 96.0;
const MAX_USABLE_VOLTS: f64 = 138.0;
/// ePDULoadDevBankMaxLoad of the PDU44001: 12 A per bank; 15 A device rating.
const BANK_MAX_AMPS: i64 = 12;
const DEVICE_RATING_AMPS: i64 = 15;
/// The PDU's default load thresholds (low, near-overload, overload), A:
/// near-overload at 80 % of the limit, overload at the limit.
const BANK_THRESHOLDS: (i64, i64, i64) = (0, 10, BANK_MAX_AMPS);
const PHASE_THRESHOLDS: (i64, i64, i64) = (0, 12, DEVICE_RATING_AMPS);

/// The outlets of the simulated unit: name, bank, typical load in W, power
/// factor, relay on at start. Mirrors the peer data file in `shared/peers`.
const OUTLETS: [(&str, u32, f64, f64, bool); 10] = [
    ("Router", 1, 30.0, 0.83, true),
    ("Switch-24p", 1, 68.0, 0.94, true),
    ("NAS", 1, 104.0, 0.96, true),
    ("Server-1", 1, 208.0, 0.96, true),
    ("Server-2", 1, 172.0, 0.95, true),
    ("Firewall", 2, 21.0, 0.88, true),
    ("Modem", 2, 9.0, 0.75, true),
    ("KVM", 2, 12.0, 0.8, true),
    ("Fan-Tray", 2, 40.0, 0.83, true),
    ("Spare", 2, 35.0, 0.9, false),
];

/// A small deterministic generator (xorshift64*): the simulator must be
/// reproducible from a seed in tests, and needs nothing stronger.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal, mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        (0..4).map(|_| self.unit()).sum::<f64>().mul_add(3f64.sqrt(), -2.0 * 3f64.sqrt())
    }
}

#[derive(Clone, Debug)]
struct Input {
    volts: f64,
    hz: f64,
    /// Fault injection: the input is dead.
    failed: bool,
    /// Fault injection: the input is held at this voltage (brownouts).
    pinned_volts: Option<f64>,
}

impl Input {
    fn volts(&self) -> f64 {
        if self.failed {
            0.0
        } else {
            self.pinned_volts.unwrap_or(self.volts)
        }
    }

    fn usable(&self) -> bool {
        (MIN_USABLE_VOLTS..=MAX_USABLE_VOLTS).contains(&self.volts())
    }

    /// ePDU2 voltage status: 1 normal, 2 over, 3 under.
    fn status(&self) -> i64 {
        match self.volts() {
            v if v > MAX_USABLE_VOLTS => 2,
            v if v < MIN_USABLE_VOLTS => 3,
            _ => 1,
        }
    }
}

#[derive(Clone, Debug)]
struct SimOutlet {
    /// The highest power seen (ePDUOutletStatusPeakPower) and when, on the
    /// PDU's clock.
    peak_w: f64,
    peak_at: String,
    name: String,
    bank: u32,
    relay_on: bool,
    watts: f64,
    power_factor: f64,
    /// Slow random variation of the load, a fraction of `watts`.
    wobble: f64,
    /// Full-precision meter; the device reports it in 0.1 kWh.
    energy_kwh: f64,
    /// Relay changes still to come (delayed commands, the second half of a
    /// reboot). Non-empty = ePDUOutletStatusCommandPending.
    steps: VecDeque<(Instant, bool)>,
    /// `None` = -1 in the MIB: a delayed command never switches.
    on_delay: Option<Duration>,
    off_delay: Option<Duration>,
    reboot_duration: Duration,
}

/// The identity strings a SET may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityText {
    DeviceName,
    SysName,
    Location,
    Contact,
}

/// Faults a test can inject into the simulated agent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Answer nothing (the request times out).
    pub drop_replies: bool,
    /// Answer, but only after this long.
    pub delay: Option<Duration>,
    /// Refuse requests with more varbinds than this (used by the SNMP agent).
    pub max_varbinds: Option<usize>,
    /// Answer every SET with this error status (used by the SNMP agent), as
    /// firmware that keeps an object read-only does (`notWritable` = 17).
    pub refuse_sets: Option<u32>,
}

/// The device model. Pure: every method takes the current time.
/// Identity strings that SNMP SETs can change.
#[derive(Clone, Debug)]
struct Names {
    device: String,
    sys_name: String,
    location: String,
    contact: String,
}

/// The environment probe: temperature and humidity drifting around a
/// machine room's, two dry contacts (a door, normally closed; a leak
/// sensor, normally open), and the thresholds the probe alarms at.
#[derive(Clone, Debug)]
struct SimProbe {
    temp_c: f64,
    humidity: f64,
    /// Fault injection: held at these values.
    pinned_temp_c: Option<f64>,
    pinned_humidity: Option<f64>,
    /// (name, normally open, open now).
    contacts: Vec<(String, bool, bool)>,
}

const PROBE_TEMP_C: f64 = 24.0;
const PROBE_HUMIDITY: f64 = 40.0;
/// The probe's thresholds: 5-35 °C, 10-80 %.
const PROBE_TEMP_RANGE_C: (i64, i64) = (5, 35);
const PROBE_HUMIDITY_RANGE: (i64, i64) = (10, 80);
/// When the simulated unit's meters were last reset (its own clock's format).
const ENERGY_START: &str = "01/06/2025 09:12:44";

/// The PDU's clock as it writes times (MM/DD/YYYY hh:mm:ss).
fn pdu_clock() -> String {
    jiff::Timestamp::now().strftime("%m/%d/%Y %H:%M:%S").to_string()
}

/// Settings only a SET changes (ePDU2SourceConfig, coldstart, thresholds).
#[derive(Clone, Debug)]
struct Setup {
    voltage_sensitivity: i64,
    transfer_range: i64,
    coldstart_delay: i64,
    coldstart_state: i64,
    /// Per bank (1, 2): low, near-overload, overload, A.
    banks: [(i64, i64, i64); 2],
    phase: (i64, i64, i64),
}

#[derive(Clone, Debug)]
pub struct SimModel {
    rng: Rng,
    serial: String,
    names: Names,
    setup: Setup,
    /// The environment probe, when this unit has one (an option on real PDUs).
    probe: Option<SimProbe>,
    /// Fault injection: power supply 1 or 2 has failed.
    psu_failed: [bool; 2],
    booted: Instant,
    /// Pretend the unit had been running for a while before we started.
    uptime_at_start: Duration,
    last: Instant,
    inputs: [Input; 2],
    preferred: Source,
    selected: Option<Source>,
    outlets: Vec<SimOutlet>,
}

fn index(source: Source) -> usize {
    match source {
        Source::A => 0,
        Source::B => 1,
    }
}

fn source_code(source: Option<Source>) -> i64 {
    match source {
        Some(Source::A) => 1,
        Some(Source::B) => 2,
        None => 3,
    }
}

impl SimModel {
    pub fn new(seed: u64, now: Instant) -> Self {
        let mut rng = Rng::new(seed);
        let outlets = OUTLETS
            .iter()
            .map(|&(name, bank, watts, power_factor, relay_on)| SimOutlet {
                name: name.to_owned(),
                bank,
                relay_on,
                watts,
                power_factor,
                wobble: 0.0,
                // Meters that have been running for a few months.
                energy_kwh: watts * 24.0 * 90.0 / 1000.0 * (0.8 + 0.4 * rng.unit()),
                steps: VecDeque::new(),
                peak_w: 0.0,
                peak_at: String::new(),
                on_delay: Some(Duration::from_secs(3)),
                off_delay: Some(Duration::from_secs(3)),
                reboot_duration: Duration::from_secs(5),
            })
            .collect();
        let input = |rng: &mut Rng| Input {
            volts: NOMINAL_VOLTS + rng.normal(),
            hz: NOMINAL_HZ,
            failed: false,
            pinned_volts: None,
        };
        let inputs = [input(&mut rng), input(&mut rng)];
        Self {
            serial: format!("SIM{:09}", seed % 1_000_000_000),
            names: Names {
                device: "PDU44001".into(),
                sys_name: "pdu44001-sim".into(),
                location: "Simulated rack".into(),
                contact: "noc@example.net".into(),
            },
            probe: None,
            psu_failed: [false; 2],
            setup: Setup {
                voltage_sensitivity: 2,
                transfer_range: 1,
                coldstart_delay: 0,
                coldstart_state: 2,
                banks: [BANK_THRESHOLDS; 2],
                phase: PHASE_THRESHOLDS,
            },
            rng,
            booted: now,
            uptime_at_start: Duration::from_secs(36 * 86_400 + 3_723),
            last: now,
            inputs,
            preferred: Source::A,
            selected: Some(Source::A),
            outlets,
        }
    }

    pub fn outlet_count(&self) -> u32 {
        self.outlets.len() as u32
    }

    /// The same unit with only its first `count` outlets (1 to 10), like the
    /// smaller models of the family: a PDU of another size for tests.
    pub fn with_outlets(mut self, count: usize) -> Self {
        self.outlets.truncate(count.clamp(1, OUTLETS.len()));
        self
    }

    /// Bring the model up to `now`: carry out due relay steps in order and
    /// integrate energy between them, so a reboot's off time costs no energy.
    pub fn advance(&mut self, now: Instant) {
        loop {
            let next_due =
                self.outlets.iter().filter_map(|o| o.steps.front().map(|(at, _)| *at)).filter(|at| *at <= now).min();
            let Some(due) = next_due else { break };
            self.integrate(due);
            for o in &mut self.outlets {
                while let Some(&(at, on)) = o.steps.front() {
                    if at > due {
                        break;
                    }
                    o.relay_on = on;
                    o.steps.pop_front();
                }
            }
        }
        self.integrate(now);
    }

    fn integrate(&mut self, until: Instant) {
        let dt = until.saturating_duration_since(self.last).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let bus_powered = self.selected.is_some();
        for o in &mut self.outlets {
            o.energy_kwh += outlet_watts(o, bus_powered) * dt / 3_600_000.0;
        }
        // Mean-reverting random walks: inputs drift around nominal, loads
        // around their typical value. Steps scale with √dt so the drift is
        // the same whether the model is read often or seldom.
        let step = dt.min(60.0).sqrt();
        let pull = (0.05 * dt).min(1.0);
        for input in &mut self.inputs {
            input.volts += (NOMINAL_VOLTS - input.volts) * pull + 0.4 * step * self.rng.normal();
            input.hz += (NOMINAL_HZ - input.hz) * pull + 0.01 * step * self.rng.normal();
        }
        for o in &mut self.outlets {
            o.wobble = (o.wobble * (1.0 - pull) + 0.01 * step * self.rng.normal()).clamp(-0.1, 0.1);
        }
        if let Some(p) = &mut self.probe {
            p.temp_c += (PROBE_TEMP_C - p.temp_c) * pull + 0.05 * step * self.rng.normal();
            p.humidity += (PROBE_HUMIDITY - p.humidity) * pull + 0.2 * step * self.rng.normal();
        }
        self.last = until;
        self.update_ats();
    }

    /// The ATS: the preferred input when usable, else the other, else none.
    fn update_ats(&mut self) {
        let usable = |s: Source| self.inputs[index(s)].usable();
        self.selected = if usable(self.preferred) {
            Some(self.preferred)
        } else if usable(self.preferred.other()) {
            Some(self.preferred.other())
        } else {
            None
        };
    }

    fn bus_volts(&self) -> f64 {
        self.selected.map(|s| self.inputs[index(s)].volts()).unwrap_or(0.0)
    }

    pub fn command(&mut self, outlet: u32, action: OutletAction, now: Instant) -> Result<(), SourceError> {
        self.advance(now);
        let o = outlet
            .checked_sub(1)
            .and_then(|i| self.outlets.get_mut(i as usize))
            .ok_or(SourceError::NoSuchOutlet(outlet))?;
        // A new command replaces whatever was pending, as on the device.
        o.steps.clear();
        match action {
            OutletAction::On => o.relay_on = true,
            OutletAction::Off => o.relay_on = false,
            OutletAction::Reboot => {
                o.relay_on = false;
                o.steps.push_back((now + o.reboot_duration, true));
            }
            OutletAction::DelayOn => o.steps.extend(o.on_delay.map(|d| (now + d, true))),
            OutletAction::DelayOff => o.steps.extend(o.off_delay.map(|d| (now + d, false))),
            OutletAction::DelayReboot => {
                let Some(off_delay) = o.off_delay else { return Ok(()) };
                let off_at = now + off_delay;
                o.steps.push_back((off_at, false));
                o.steps.push_back((off_at + o.reboot_duration, true));
            }
            OutletAction::Cancel => {}
        }
        self.advance(now);
        Ok(())
    }

    pub fn outlet_state(&mut self, outlet: u32, now: Instant) -> Result<(OutletState, bool), SourceError> {
        self.advance(now);
        let o = outlet
            .checked_sub(1)
            .and_then(|i| self.outlets.get(i as usize))
            .ok_or(SourceError::NoSuchOutlet(outlet))?;
        let state = if o.relay_on { OutletState::On } else { OutletState::Off };
        Ok((state, !o.steps.is_empty()))
    }

    /// Fault injection: an input fails (true) or comes back (false).
    pub fn set_source_failed(&mut self, source: Source, failed: bool, now: Instant) {
        self.advance(now);
        self.inputs[index(source)].failed = failed;
        self.update_ats();
    }

    /// Fault injection: hold an input at a voltage (`None` releases it).
    pub fn pin_source_voltage(&mut self, source: Source, volts: Option<f64>, now: Instant) {
        self.advance(now);
        self.inputs[index(source)].pinned_volts = volts;
        self.update_ats();
    }

    /// Fault injection: the PDU restarts its management card (sysUpTime
    /// starts again from zero; the outlets keep their state).
    pub fn restart(&mut self, now: Instant) {
        self.advance(now);
        self.booted = now;
        self.uptime_at_start = Duration::ZERO;
    }

    /// Change an outlet's typical load, in W (0 = nothing plugged in).
    pub fn set_outlet_load(&mut self, outlet: u32, watts: f64, now: Instant) {
        self.advance(now);
        if let Some(o) = outlet.checked_sub(1).and_then(|i| self.outlets.get_mut(i as usize)) {
            o.watts = watts.max(0.0);
        }
    }

    /// ePDUOutletConfig timings of every outlet, in seconds.
    pub fn outlet_configs(&self) -> Vec<OutletConfig> {
        self.outlets
            .iter()
            .map(|o| OutletConfig {
                on_delay: o.on_delay.map_or(-1, |d| d.as_secs() as i64),
                off_delay: o.off_delay.map_or(-1, |d| d.as_secs() as i64),
                reboot_duration: o.reboot_duration.as_secs() as i64,
            })
            .collect()
    }

    fn outlet_mut(&mut self, outlet: u32) -> Result<&mut SimOutlet, SourceError> {
        outlet.checked_sub(1).and_then(|i| self.outlets.get_mut(i as usize)).ok_or(SourceError::NoSuchOutlet(outlet))
    }

    pub fn set_outlet_name(&mut self, outlet: u32, name: &str) -> Result<(), SourceError> {
        self.outlet_mut(outlet)?.name = name.to_owned();
        Ok(())
    }

    /// Power-on delay, power-off delay and reboot duration, in seconds.
    pub fn set_outlet_timings(&mut self, outlet: u32, timings: &OutletConfig) -> Result<(), SourceError> {
        let o = self.outlet_mut(outlet)?;
        let secs = |v: i64| Duration::from_secs(v.max(0) as u64);
        let delay = |v: i64| (v >= 0).then(|| secs(v));
        o.on_delay = delay(timings.on_delay);
        o.off_delay = delay(timings.off_delay);
        o.reboot_duration = secs(timings.reboot_duration);
        Ok(())
    }

    pub fn set_preferred_source(&mut self, source: Source, now: Instant) {
        self.advance(now);
        self.preferred = source;
        self.update_ats();
    }

    /// Device name (ePDUIdentName), sysName, sysLocation, sysContact.
    pub fn set_identity_text(&mut self, which: IdentityText, value: &str) {
        let slot = match which {
            IdentityText::DeviceName => &mut self.names.device,
            IdentityText::SysName => &mut self.names.sys_name,
            IdentityText::Location => &mut self.names.location,
            IdentityText::Contact => &mut self.names.contact,
        };
        *slot = value.to_owned();
    }

    /// The slow-changing settings, as the agent serves them.
    pub fn settings(&self) -> PduSettings {
        let row = |index: u32, (low, near, over): (i64, i64, i64), max: i64| LoadThresholds {
            index,
            low: Some(low),
            near_overload: Some(near),
            overload: Some(over),
            max: Some(max),
        };
        PduSettings {
            device_name: Some(self.names.device.clone()),
            location: Some(self.names.location.clone()),
            contact: Some(self.names.contact.clone()),
            source: Some(SourceSettings {
                preferred: Some(source_code(Some(self.preferred))),
                voltage_sensitivity: Some(self.setup.voltage_sensitivity),
                transfer_range: Some(self.setup.transfer_range),
                nominal_voltage: Some(NOMINAL_VOLTS as i64),
            }),
            coldstart_delay: Some(self.setup.coldstart_delay),
            coldstart_state: Some(self.setup.coldstart_state),
            outlets: self
                .outlets
                .iter()
                .zip(self.outlet_configs())
                .zip(1..)
                .map(|((o, c), number)| OutletSettings {
                    number,
                    name: Some(o.name.clone()),
                    on_delay: Some(c.on_delay),
                    off_delay: Some(c.off_delay),
                    reboot_duration: Some(c.reboot_duration),
                })
                .collect(),
            banks: vec![row(1, self.setup.banks[0], BANK_MAX_AMPS), row(2, self.setup.banks[1], BANK_MAX_AMPS)],
            phases: vec![row(1, self.setup.phase, DEVICE_RATING_AMPS)],
            ..PduSettings::default()
        }
    }

    /// Apply one change as the device would, refusing what it would refuse
    /// (the same MIB ranges the bridge checks before sending).
    pub fn apply_setting(&mut self, change: &SettingChange, now: Instant) -> Result<(), SourceError> {
        change.validate(&self.settings()).map_err(|e| SourceError::Refused(e.to_string()))?;
        use SettingChange::*;
        let mut timings = |outlet: u32, f: &dyn Fn(&mut OutletConfig)| -> Result<(), SourceError> {
            let mut config =
                self.outlet_configs().get(outlet as usize - 1).cloned().ok_or(SourceError::NoSuchOutlet(outlet))?;
            f(&mut config);
            self.set_outlet_timings(outlet, &config)
        };
        match change {
            DeviceName { value } => self.set_identity_text(IdentityText::DeviceName, value),
            Location { value } => self.set_identity_text(IdentityText::Location, value),
            Contact { value } => self.set_identity_text(IdentityText::Contact, value),
            PreferredSource { value } => {
                self.set_preferred_source(if *value == 2 { Source::B } else { Source::A }, now)
            }
            VoltageSensitivity { value } => self.setup.voltage_sensitivity = *value,
            TransferRange { value } => self.setup.transfer_range = *value,
            ColdstartDelay { value } => self.setup.coldstart_delay = *value,
            ColdstartState { value } => self.setup.coldstart_state = *value,
            OutletName { outlet, value } => self.set_outlet_name(*outlet, value)?,
            OutletOnDelay { outlet, value } => timings(*outlet, &|c| c.on_delay = *value)?,
            OutletOffDelay { outlet, value } => timings(*outlet, &|c| c.off_delay = *value)?,
            OutletRebootDuration { outlet, value } => timings(*outlet, &|c| c.reboot_duration = *value)?,
            BankThresholds { bank, low, near_overload, overload } => {
                self.setup.banks[*bank as usize - 1] = (*low, *near_overload, *overload)
            }
            PhaseThresholds { low, near_overload, overload, .. } => {
                self.setup.phase = (*low, *near_overload, *overload)
            }
        }
        Ok(())
    }

    /// ePDUOutletDevCommand: every outlet at once, each with its delays.
    pub fn all_outlets(&mut self, action: AllOutletsAction, now: Instant) {
        let each = match action {
            AllOutletsAction::DelayOn => OutletAction::DelayOn,
            AllOutletsAction::DelayOff => OutletAction::DelayOff,
            AllOutletsAction::Cancel => OutletAction::Cancel,
        };
        for n in 1..=self.outlet_count() {
            let _ = self.command(n, each, now);
        }
    }

    /// The same unit with an environment probe plugged in.
    pub fn with_probe(mut self) -> Self {
        self.probe = Some(SimProbe {
            temp_c: PROBE_TEMP_C,
            humidity: PROBE_HUMIDITY,
            pinned_temp_c: None,
            pinned_humidity: None,
            contacts: vec![("Rack door".into(), false, false), ("Leak sensor".into(), true, true)],
        });
        self
    }

    pub fn has_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// Fault injection: hold the probe's temperature (°C) or humidity (%)
    /// (`None` releases it).
    pub fn pin_probe(&mut self, temp_c: Option<f64>, humidity: Option<f64>) {
        if let Some(p) = &mut self.probe {
            p.pinned_temp_c = temp_c;
            p.pinned_humidity = humidity;
        }
    }

    /// Fault injection: a contact opens or closes.
    pub fn set_contact_open(&mut self, contact: u32, open: bool) {
        if let Some(c) = self.probe.as_mut().and_then(|p| p.contacts.get_mut(contact as usize - 1)) {
            c.2 = open;
        }
    }

    /// Fault injection: power supply 1 or 2 fails (true) or is fine again.
    pub fn set_psu_failed(&mut self, psu: u32, failed: bool) {
        if let Some(slot) = self.psu_failed.get_mut(psu as usize - 1) {
            *slot = failed;
        }
    }

    pub fn identity(&self) -> RawIdentity {
        RawIdentity {
            sys_descr: Some("CyberPower PDU44001 Switched ATS PDU (simulated)".into()),
            sys_name: Some(self.names.sys_name.clone()),
            sys_location: Some(self.names.location.clone()),
            sys_contact: Some(self.names.contact.clone()),
            name: Some(self.names.device.clone()),
            hardware_rev: Some("3".into()),
            firmware: Some("1.3.4".into()),
            model: Some("PDU44001".into()),
            serial: Some(self.serial.clone()),
            rating_amps: Some(DEVICE_RATING_AMPS),
            num_outlets: Some(self.outlets.len() as i64),
            num_phases: Some(1),
            num_banks: Some(2),
            bank_max_load: vec![(1, BANK_MAX_AMPS), (2, BANK_MAX_AMPS)],
            outlet_peaks: self
                .outlets
                .iter()
                .zip(1..)
                .map(|(o, index)| RawOutletPeak {
                    index,
                    peak_power: Some(o.peak_w.round() as i64),
                    peak_time: (!o.peak_at.is_empty()).then(|| o.peak_at.clone()),
                    energy_start: Some(ENERGY_START.into()),
                })
                .collect(),
            probe: self.probe.as_ref().map(|p| RawProbeConfig {
                temp_high_c: Some(PROBE_TEMP_RANGE_C.1),
                temp_low_c: Some(PROBE_TEMP_RANGE_C.0),
                humid_high: Some(PROBE_HUMIDITY_RANGE.1),
                humid_low: Some(PROBE_HUMIDITY_RANGE.0),
                contacts: p
                    .contacts
                    .iter()
                    .zip(1..)
                    .map(|((name, normally_open, _), i)| {
                        (i, Some(name.clone()), Some(if *normally_open { 1 } else { 2 }))
                    })
                    .collect(),
            }),
            // The same values the agent serves in ePDUOutletConfigTable.
            outlet_timings: self
                .outlet_configs()
                .into_iter()
                .zip(1..)
                .map(|(c, index)| RawOutletTimings {
                    index,
                    on_delay: Some(c.on_delay),
                    off_delay: Some(c.off_delay),
                    reboot_duration: Some(c.reboot_duration),
                })
                .collect(),
        }
    }

    /// The snapshot the bridge would publish for this PDU at `now`: scaled,
    /// metering floor applied (no name overrides), `ts_ms` 0. For tests and
    /// benchmarks that need realistic snapshots without a poller.
    pub fn snapshot(&mut self, device_id: &DeviceId, now: Instant) -> PduSnapshot {
        let raw = self.read(now);
        let ctx = scale::Context { device_id, label: "simulated", simulated: true, poll_interval_ms: 1000, ts_ms: 0 };
        let mut s = scale::snapshot(&ctx, &self.identity(), &raw).expect("the simulator answers within the MIB");
        correct::apply_metering_floor(&mut s.outlets, correct::MeteringFloor::default());
        s
    }

    /// What a full poll of the device would read at `now`, in MIB units.
    pub fn read(&mut self, now: Instant) -> RawPoll {
        self.advance(now);
        let volts = self.bus_volts();
        let bus_powered = self.selected.is_some();
        let outlets: Vec<RawOutlet> = self
            .outlets
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let watts = outlet_watts(o, bus_powered);
                let amps = if watts > 0.0 && volts > 0.0 { watts / (volts * o.power_factor) } else { 0.0 };
                // A switched-off socket still shows a little meter noise, as
                // real units do (the metering floor removes it); it is noise,
                // so it is not part of the bank sums below.
                let noise = if o.relay_on { 0 } else { 1 };
                RawOutlet {
                    index: i as u32 + 1,
                    name: Some(o.name.clone()),
                    state: Some(if o.relay_on { 1 } else { 2 }),
                    command_pending: Some(if o.steps.is_empty() { 2 } else { 1 }),
                    bank: Some(o.bank as i64),
                    load: Some((amps * 10.0).round() as i64 + noise),
                    active_power: Some(watts.round() as i64),
                    energy: Some((o.energy_kwh * 10.0).floor() as i64),
                }
            })
            .collect();

        // Banks are the sums of their outlets as reported, so the sums the
        // dashboard shows add up exactly.
        let volts_dv = (volts * 10.0).round() as i64;
        let row = |index: u32, bank: i64, members: &[(&RawOutlet, &SimOutlet)], (low, near, over): (i64, i64, i64)| {
            let load: i64 = members.iter().filter(|(_, s)| s.relay_on).map(|(r, _)| r.load.unwrap_or(0)).sum();
            let power: i64 = members.iter().map(|(r, _)| r.active_power.unwrap_or(0)).sum();
            let apparent: i64 =
                members.iter().map(|(r, s)| (r.active_power.unwrap_or(0) as f64 / s.power_factor).round() as i64).sum();
            let energy: f64 = members.iter().map(|(_, s)| s.energy_kwh).sum();
            let amps = load as f64 / 10.0;
            // ePDULoadStatusLoadState against the configured thresholds.
            let state = if amps >= over as f64 {
                4
            } else if amps >= near as f64 {
                3
            } else if amps < low as f64 {
                2
            } else {
                1
            };
            RawLoadRow {
                index,
                load: Some(load),
                load_state: Some(state),
                phase_number: Some(1),
                bank_number: Some(bank),
                voltage: Some(volts_dv),
                active_power: Some(power),
                apparent_power: Some(apparent),
                power_factor: Some(if apparent > 0 { (power * 100 + apparent / 2) / apparent } else { 100 }),
                energy: Some((energy * 10.0).floor() as i64),
            }
        };
        let pairs: Vec<(&RawOutlet, &SimOutlet)> = outlets.iter().zip(&self.outlets).collect();
        let of_bank = |b: u32| pairs.iter().copied().filter(|(_, s)| s.bank == b).collect::<Vec<_>>();
        // "All phase information will precede any bank information" (MIB).
        let load_rows = vec![
            row(1, 0, &pairs, self.setup.phase),
            row(2, 1, &of_bank(1), self.setup.banks[0]),
            row(3, 2, &of_bank(2), self.setup.banks[1]),
        ];

        let now_text = pdu_clock();
        for (o, raw) in self.outlets.iter_mut().zip(&outlets) {
            let watts = raw.active_power.unwrap_or(0) as f64;
            if watts > o.peak_w {
                o.peak_w = watts;
                o.peak_at.clone_from(&now_text);
            }
        }
        let probe = self.probe.as_ref().map(|p| {
            let c = p.pinned_temp_c.unwrap_or(p.temp_c);
            RawProbe {
                temp_f: Some(((c * 9.0 / 5.0 + 32.0) * 10.0).round() as i64),
                temp_c: Some((c * 10.0).round() as i64),
                humidity: Some(p.pinned_humidity.unwrap_or(p.humidity).round() as i64),
                // Abnormal (2) when a contact is not in its resting state.
                contacts: p
                    .contacts
                    .iter()
                    .zip(1..)
                    .map(|((_, nopen, open), i)| (i, Some(if open == nopen { 1 } else { 2 })))
                    .collect(),
            }
        });
        let power_supplies =
            vec![(1, Some(if self.psu_failed[0] { 2 } else { 1 })), (2, Some(if self.psu_failed[1] { 2 } else { 1 }))];
        let [a, b] = &self.inputs;
        let both_usable = a.usable() && b.usable();
        let selected_hz = self.selected.map(|s| self.inputs[index(s)].hz);
        RawPoll {
            stale: Vec::new(),
            uptime_ticks: Some(
                (self.uptime_at_start + now.saturating_duration_since(self.booted)).as_millis() as u64 / 10,
            ),
            input_voltage: Some(volts_dv),
            input_frequency: Some(selected_hz.map(|hz| (hz * 10.0).round() as i64).unwrap_or(0)),
            load_rows,
            outlets,
            ats: Some(RawAts {
                selected_source: Some(source_code(self.selected)),
                preferred_source: Some(source_code(Some(self.preferred))),
                source_a_voltage: Some((a.volts() * 10.0).round() as i64),
                source_b_voltage: Some((b.volts() * 10.0).round() as i64),
                source_a_frequency: Some(if a.failed { 0 } else { (a.hz * 10.0).round() as i64 }),
                source_b_frequency: Some(if b.failed { 0 } else { (b.hz * 10.0).round() as i64 }),
                source_a_voltage_status: Some(a.status()),
                source_b_voltage_status: Some(b.status()),
                source_a_frequency_status: Some(if a.failed { 3 } else { 1 }),
                source_b_frequency_status: Some(if b.failed { 3 } else { 1 }),
                redundancy: Some(if both_usable { 2 } else { 1 }),
            }),
            probe,
            power_supplies,
        }
    }
}

fn outlet_watts(o: &SimOutlet, bus_powered: bool) -> f64 {
    if o.relay_on && bus_powered {
        o.watts * (1.0 + o.wobble)
    } else {
        0.0
    }
}

/// The simulated PDU as a source the poller reads like any device: shared,
/// with injectable faults. Cloning shares the same device.
#[derive(Clone)]
pub struct SimulatedPdu {
    model: Arc<Mutex<SimModel>>,
    faults: Arc<Mutex<Faults>>,
    /// How long a dropped reply takes to be noticed (the SNMP timeout).
    timeout: Duration,
}

impl SimulatedPdu {
    pub fn new(seed: u64, timeout: Duration) -> Self {
        Self {
            model: Arc::new(Mutex::new(SimModel::new(seed, Instant::now()))),
            faults: Arc::new(Mutex::new(Faults::default())),
            timeout,
        }
    }

    /// A simulated PDU with `outlets` outlets (1 to 10) instead of ten.
    pub fn sized(seed: u64, timeout: Duration, outlets: usize) -> Self {
        let pdu = Self::new(seed, timeout);
        {
            let mut model = pdu.model();
            let whole = std::mem::replace(&mut *model, SimModel::new(seed, Instant::now()));
            *model = whole.with_outlets(outlets);
        }
        pdu
    }

    /// Plug an environment probe into this PDU.
    pub fn add_probe(&self) {
        let mut model = self.model();
        let without = std::mem::replace(&mut *model, SimModel::new(0, Instant::now()));
        *model = without.with_probe();
    }

    /// Direct access for fault injection and assertions in tests.
    pub fn model(&self) -> MutexGuard<'_, SimModel> {
        // A panic while holding the lock leaves a consistent model (every
        // method finishes its update before returning): keep using it.
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Behave like an agent on the network: slow or silent when told to.
    async fn answer<T>(
        &self,
        f: impl FnOnce(&mut SimModel, Instant) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let faults = self.faults.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if faults.drop_replies {
            tokio::time::sleep(self.timeout).await;
            return Err(SourceError::Timeout(self.timeout));
        }
        if let Some(delay) = faults.delay {
            tokio::time::sleep(delay).await;
        }
        f(&mut self.model(), Instant::now())
    }

    pub async fn identity(&self) -> Result<RawIdentity, SourceError> {
        self.answer(|m, _| Ok(m.identity())).await
    }

    pub async fn poll(&self) -> Result<RawPoll, SourceError> {
        self.answer(|m, now| Ok(m.read(now))).await
    }

    pub async fn outlet_command(&self, outlet: u32, action: OutletAction) -> Result<(), SourceError> {
        self.answer(|m, now| m.command(outlet, action, now)).await
    }

    pub async fn outlet_state(&self, outlet: u32) -> Result<(OutletState, bool), SourceError> {
        self.answer(|m, now| m.outlet_state(outlet, now)).await
    }

    pub async fn settings(&self) -> Result<PduSettings, SourceError> {
        self.answer(|m, _| Ok(m.settings())).await
    }

    pub async fn write_setting(&self, change: &SettingChange) -> Result<(), SourceError> {
        self.answer(|m, now| m.apply_setting(change, now)).await
    }

    pub async fn all_outlets(&self, action: AllOutletsAction) -> Result<(), SourceError> {
        self.answer(|m, now| {
            m.all_outlets(action, now);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlet(poll: &RawPoll, n: u32) -> &RawOutlet {
        &poll.outlets[n as usize - 1]
    }

    #[test]
    fn bank_and_total_rows_are_the_sums_of_their_outlets() {
        let start = Instant::now();
        let mut pdu = SimModel::new(7, start);
        for secs in [0, 1, 30, 600] {
            let poll = pdu.read(start + Duration::from_secs(secs));
            for row in &poll.load_rows[1..] {
                let bank = row.bank_number.unwrap();
                let members: Vec<_> =
                    poll.outlets.iter().filter(|o| o.bank == Some(bank) && o.state == Some(1)).collect();
                assert_eq!(row.load, Some(members.iter().map(|o| o.load.unwrap()).sum()));
                assert_eq!(row.active_power, Some(members.iter().map(|o| o.active_power.unwrap()).sum()));
            }
            let total = &poll.load_rows[0];
            assert_eq!(total.bank_number, Some(0), "the phase row comes first");
            assert_eq!(total.load, Some(poll.load_rows[1].load.unwrap() + poll.load_rows[2].load.unwrap()));
            assert_eq!(
                total.active_power,
                Some(poll.load_rows[1].active_power.unwrap() + poll.load_rows[2].active_power.unwrap())
            );
        }
    }

    #[test]
    fn energy_grows_with_power_and_not_without_it() {
        let start = Instant::now();
        let mut pdu = SimModel::new(1, start);
        let before = pdu.outlets.iter().map(|o| o.energy_kwh).collect::<Vec<_>>();
        pdu.read(start + Duration::from_secs(3600));
        let server = 3; // Server-1, ~208 W
        let grown = pdu.outlets[server].energy_kwh - before[server];
        assert!((0.17..0.25).contains(&grown), "an hour at ~208 W gave {grown} kWh");
        let spare = 9; // off
        assert_eq!(pdu.outlets[spare].energy_kwh, before[spare]);
    }

    #[test]
    fn loads_follow_relays() {
        let start = Instant::now();
        let mut pdu = SimModel::new(2, start);
        assert!(outlet(&pdu.read(start), 3).active_power.unwrap() > 50);
        pdu.command(3, OutletAction::Off, start).unwrap();
        let poll = pdu.read(start);
        assert_eq!((outlet(&poll, 3).state, outlet(&poll, 3).active_power), (Some(2), Some(0)));
        pdu.command(10, OutletAction::On, start).unwrap();
        assert!(outlet(&pdu.read(start), 10).active_power.unwrap() > 20);
    }

    #[tokio::test(start_paused = true)]
    async fn reboot_is_off_for_the_reboot_duration_then_on_with_pending_meanwhile() {
        let sim = SimulatedPdu::new(3, Duration::from_secs(2));
        sim.outlet_command(4, OutletAction::Reboot).await.unwrap();
        assert_eq!(sim.outlet_state(4).await.unwrap(), (OutletState::Off, true));
        tokio::time::advance(Duration::from_millis(4_900)).await;
        assert_eq!(sim.outlet_state(4).await.unwrap(), (OutletState::Off, true));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(sim.outlet_state(4).await.unwrap(), (OutletState::On, false));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_commands_use_the_outlet_delays_and_can_be_cancelled() {
        let sim = SimulatedPdu::new(4, Duration::from_secs(2));
        sim.outlet_command(2, OutletAction::DelayOff).await.unwrap();
        tokio::time::advance(Duration::from_millis(2_900)).await;
        assert_eq!(sim.outlet_state(2).await.unwrap(), (OutletState::On, true));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(sim.outlet_state(2).await.unwrap(), (OutletState::Off, false));

        sim.outlet_command(2, OutletAction::DelayOn).await.unwrap();
        sim.outlet_command(2, OutletAction::Cancel).await.unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(sim.outlet_state(2).await.unwrap(), (OutletState::Off, false));
    }

    #[test]
    fn a_failed_source_moves_the_load_to_the_other_and_back_when_restored() {
        let start = Instant::now();
        let mut pdu = SimModel::new(5, start);
        let ats = |p: &mut SimModel| p.read(start).ats.unwrap();
        assert_eq!((ats(&mut pdu).selected_source, ats(&mut pdu).redundancy), (Some(1), Some(2)));

        pdu.set_source_failed(Source::A, true, start);
        let a = ats(&mut pdu);
        assert_eq!((a.selected_source, a.redundancy, a.source_a_voltage_status), (Some(2), Some(1), Some(3)));
        assert_eq!(a.source_a_voltage, Some(0));
        // The load keeps running on B.
        assert!(pdu.read(start).load_rows[0].active_power.unwrap() > 500);

        pdu.set_source_failed(Source::A, false, start);
        assert_eq!(ats(&mut pdu).selected_source, Some(1), "back to the preferred source");
    }

    #[test]
    fn a_brownout_below_the_window_counts_as_under_voltage() {
        let start = Instant::now();
        let mut pdu = SimModel::new(6, start);
        pdu.pin_source_voltage(Source::B, Some(90.0), start);
        let ats = pdu.read(start).ats.unwrap();
        assert_eq!((ats.source_b_voltage, ats.source_b_voltage_status, ats.redundancy), (Some(900), Some(3), Some(1)));
        assert_eq!(ats.selected_source, Some(1));
    }

    #[test]
    fn voltages_drift_but_stay_near_nominal() {
        let start = Instant::now();
        let mut pdu = SimModel::new(8, start);
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..3_600 {
            let v = pdu.read(start + Duration::from_secs(s)).ats.unwrap().source_a_voltage.unwrap();
            assert!((1100..=1300).contains(&v), "{v}");
            seen.insert(v);
        }
        assert!(seen.len() > 10, "the voltage hardly moved: {seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_replies_time_out_after_the_configured_timeout() {
        let sim = SimulatedPdu::new(9, Duration::from_secs(2));
        sim.set_faults(Faults { drop_replies: true, ..Faults::default() });
        let started = Instant::now();
        assert_eq!(sim.poll().await, Err(SourceError::Timeout(Duration::from_secs(2))));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn unknown_outlets_are_refused() {
        let start = Instant::now();
        let mut pdu = SimModel::new(1, start);
        assert_eq!(pdu.command(11, OutletAction::On, start), Err(SourceError::NoSuchOutlet(11)));
        assert_eq!(pdu.command(0, OutletAction::On, start), Err(SourceError::NoSuchOutlet(0)));
    }
}
