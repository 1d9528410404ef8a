//! The CPS-MIB map (CPS-MIB v2.11, `shared/reference/CPS-MIB.txt`): every
//! object the bridge reads or writes, named by its MIB object, in both
//! directions — the client turns answers into [`RawPoll`]/[`RawIdentity`],
//! the simulator agent turns the model into answers — so the two can never
//! disagree about an OID, a column or a type.
//!
//! What the widely used Python bridge gets wrong, and this map does not:
//! ePDUOutletStatusCommandPending (.5) is not a current, ePDUOutletStatusOutletBank
//! (.6) is not watts, the phase count is not the bank count, and the ATS state
//! comes from the ePDU2 source table, not from ePDUPowerSupply status.

use super::codec::{Oid, VarValue};
use crate::pdu::{
    OutletConfig, RawAts, RawIdentity, RawLoadRow, RawOutlet, RawOutletPeak, RawOutletTimings, RawPoll, RawProbe,
    RawProbeConfig,
};
use app::settings::{LoadThresholds, OutletSettings, PduSettings, SettingChange, SourceSettings};
use std::collections::{BTreeMap, HashMap};

/// MIB-II system group.
pub const SYS: [u32; 7] = [1, 3, 6, 1, 2, 1, 1];
/// CyberPower ePDU.
pub const EPDU: [u32; 10] = [1, 3, 6, 1, 4, 1, 3808, 1, 1, 3];
/// CyberPower ePDU2.
pub const EPDU2: [u32; 10] = [1, 3, 6, 1, 4, 1, 3808, 1, 1, 6];

pub fn oid(base: &[u32], tail: &[u32]) -> Oid {
    base.iter().chain(tail).copied().collect()
}

// MIB-II system (.0 instances).
pub fn sys_descr() -> Oid {
    oid(&SYS, &[1, 0])
}
pub fn sys_object_id() -> Oid {
    oid(&SYS, &[2, 0])
}
pub fn sys_uptime() -> Oid {
    oid(&SYS, &[3, 0])
}
pub fn sys_contact() -> Oid {
    oid(&SYS, &[4, 0])
}
pub fn sys_name() -> Oid {
    oid(&SYS, &[5, 0])
}
pub fn sys_location() -> Oid {
    oid(&SYS, &[6, 0])
}

// ePDUIdent (E.1).
pub fn ident_name() -> Oid {
    oid(&EPDU, &[1, 1, 0])
}
pub fn ident_hardware_rev() -> Oid {
    oid(&EPDU, &[1, 2, 0])
}
pub fn ident_firmware_rev() -> Oid {
    oid(&EPDU, &[1, 3, 0])
}
pub fn ident_date_of_manufacture() -> Oid {
    oid(&EPDU, &[1, 4, 0])
}
pub fn ident_model() -> Oid {
    oid(&EPDU, &[1, 5, 0])
}
pub fn ident_serial() -> Oid {
    oid(&EPDU, &[1, 6, 0])
}
pub fn ident_rating() -> Oid {
    oid(&EPDU, &[1, 7, 0])
}
pub fn ident_num_outlets() -> Oid {
    oid(&EPDU, &[1, 8, 0])
}
pub fn ident_num_phases() -> Oid {
    oid(&EPDU, &[1, 9, 0])
}

// ePDULoadDevice (E.2.1).
pub fn load_dev_num_phases() -> Oid {
    oid(&EPDU, &[2, 1, 2, 0])
}
pub fn load_dev_num_banks() -> Oid {
    oid(&EPDU, &[2, 1, 4, 0])
}
/// ePDULoadDevBankTable column: 1 index, 2 bank number, 3 max load (A).
pub fn load_dev_bank(column: u32, bank: u32) -> Oid {
    oid(&EPDU, &[2, 1, 6, 1, column, bank])
}
pub const BANK_MAX_LOAD: u32 = 3;

/// ePDULoadStatusTable column (E.2.3.1.1.c.r): 1 index, 2 load (0.1 A),
/// 3 state, 4 phase number, 5 bank number (0 = phase row), 6 voltage (0.1 V),
/// 7 active power (W), 8 apparent power (VA), 9 power factor (0.01),
/// 10 energy (0.1 kWh), 11 energy start time.
pub fn load_status(column: u32, row: u32) -> Oid {
    oid(&EPDU, &[2, 3, 1, 1, column, row])
}
pub fn load_status_index_column() -> Oid {
    oid(&EPDU, &[2, 3, 1, 1, 1])
}

/// ePDUOutletControlOutletCommand (E.3.3.1.1.4.n): 1 immediateOn,
/// 2 immediateOff, 3 immediateReboot, 4 delayedOn, 5 delayedOff,
/// 6 delayedReboot, 7 cancelPendingCommand.
pub fn outlet_control_command(outlet: u32) -> Oid {
    oid(&EPDU, &[3, 3, 1, 1, 4, outlet])
}

/// ePDUOutletConfigTable column (E.3.4.1.1.c.n): 2 name (rw), 4 power-on
/// delay, 5 power-off delay, 6 reboot duration (s, rw).
pub fn outlet_config(column: u32, outlet: u32) -> Oid {
    oid(&EPDU, &[3, 4, 1, 1, column, outlet])
}
/// ePDUOutletConfigPowerOnTime / PowerOffTime / RebootDuration: the columns
/// delayedOn, delayedOff and (delayed) reboot follow, by the MIB's text of
/// ePDUOutletControlOutletCommand. The ePDU2 switched-config table holds the
/// same values at columns 5-7, indexed by module and outlet: not read here.
pub const CONFIG_ON_DELAY: u32 = 4;
pub const CONFIG_OFF_DELAY: u32 = 5;
pub const CONFIG_REBOOT_DURATION: u32 = 6;

/// ePDUOutletStatusTable column (E.3.5.1.1.c.n): 1 index, 2 name, 4 state
/// (1 on, 2 off), 5 command pending (1 yes, 2 no), 6 bank, 7 load (0.1 A),
/// 8 active power (W), 10 peak power (W), 13 energy (0.1 kWh).
pub fn outlet_status(column: u32, outlet: u32) -> Oid {
    oid(&EPDU, &[3, 5, 1, 1, column, outlet])
}
pub fn outlet_status_index_column() -> Oid {
    oid(&EPDU, &[3, 5, 1, 1, 1])
}

// ePDUStatus input (E.5).
pub fn input_voltage() -> Oid {
    oid(&EPDU, &[5, 7, 0])
}
pub fn input_frequency() -> Oid {
    oid(&EPDU, &[5, 8, 0])
}

/// ePDU2SourceConfigPreferredSource (E2.9.2.1.3.1), read-write.
pub fn preferred_source() -> Oid {
    oid(&EPDU2, &[9, 2, 1, 3, 1])
}
/// ePDU2SourceStatusTable column (E2.9.4.1.c.1): 3 selected source,
/// 4 nominal frequency, 5/6 source A/B voltage, 7/8 frequency, 9/10 voltage
/// status, 11/12 frequency status, 13 phase sync, 14/15 power supply A/B
/// status, 16 redundancy.
pub fn source_status(column: u32) -> Oid {
    oid(&EPDU2, &[9, 4, 1, column, 1])
}

/// CyberPower environmentSensor (`1.3.6.1.4.1.3808.1.1.4`): the optional probe.
pub const ENVIRONMENT: [u32; 9] = [1, 3, 6, 1, 4, 1, 3808, 1, 1];
fn envir(tail: &[u32]) -> Oid {
    let mut o = oid(&ENVIRONMENT, &[4]);
    o.extend_from_slice(tail);
    o
}
/// envirTemperature (0.1 °F) and envirTemperatureCelsius (0.1 °C).
pub fn envir_temperature_f() -> Oid {
    envir(&[2, 1, 0])
}
pub fn envir_temperature_c() -> Oid {
    envir(&[2, 6, 0])
}
/// envirTempCelsiusHighThreshold / LowThreshold (°C).
pub fn envir_temp_high_c() -> Oid {
    envir(&[2, 7, 0])
}
pub fn envir_temp_low_c() -> Oid {
    envir(&[2, 8, 0])
}
/// envirHumidity, HumidHighThreshold, HumidLowThreshold (%).
pub fn envir_humidity() -> Oid {
    envir(&[3, 1, 0])
}
pub fn envir_humid_high() -> Oid {
    envir(&[3, 2, 0])
}
pub fn envir_humid_low() -> Oid {
    envir(&[3, 3, 0])
}
/// envirContactTable column (.4.2.1.c.n): 1 index, 2 name, 3 status
/// (1 normal, 2 abnormal), 4 normal state (1 open, 2 closed).
pub fn envir_contact(column: u32, contact: u32) -> Oid {
    envir(&[4, 2, 1, column, contact])
}
pub fn envir_contact_index_column() -> Oid {
    envir(&[4, 2, 1, 1])
}
/// ePDUPowerSupply1Status / 2Status (E.4.1.{1,2}.0).
pub fn power_supply_status(psu: u32) -> Oid {
    oid(&EPDU, &[4, 1, psu, 0])
}

/// ePDULoadDevMaxPhaseLoad (E.2.1.1.0) and ePDULoadDevMaxBankLoad (E.2.1.3.0), A.
pub fn load_dev_max_phase_load() -> Oid {
    oid(&EPDU, &[2, 1, 1, 0])
}
pub fn load_dev_max_bank_load() -> Oid {
    oid(&EPDU, &[2, 1, 3, 0])
}
/// ePDULoadPhaseConfigTable (E.2.2.1.1.c.p) and ePDULoadBankConfigTable
/// (E.2.4.1.1.c.b): 2 low-load, 3 near-overload, 4 overload threshold (A, rw).
pub fn phase_config(column: u32, phase: u32) -> Oid {
    oid(&EPDU, &[2, 2, 1, 1, column, phase])
}
pub fn bank_config(column: u32, bank: u32) -> Oid {
    oid(&EPDU, &[2, 4, 1, 1, column, bank])
}
pub const THRESHOLD_COLUMNS: [u32; 3] = [2, 3, 4];
/// ePDUOutletDevCommand (E.3.1.1.0): 5 delayedAllOn, 6 delayedAllOff,
/// 8 cancelAllPendingCommands (the immediate ones are not offered).
pub fn outlet_dev_command() -> Oid {
    oid(&EPDU, &[3, 1, 1, 0])
}
/// ePDUOutletDevColdstartDelay (E.3.1.2.0): -1 never, 0 at once, 1-300 s.
pub fn coldstart_delay() -> Oid {
    oid(&EPDU, &[3, 1, 2, 0])
}
/// ePDUOutletDevColdstartState (E.3.1.6.0): 1 allOn, 2 previous.
pub fn coldstart_state() -> Oid {
    oid(&EPDU, &[3, 1, 6, 0])
}
/// ePDU2SourceConfigTable column (E2.9.2.1.c.1): 3 preferred source,
/// 5 voltage sensitivity, 6 nominal voltage, 7 transfer voltage range.
pub fn source_config(column: u32) -> Oid {
    oid(&EPDU2, &[9, 2, 1, column, 1])
}
pub const SOURCE_SENSITIVITY: u32 = 5;
pub const SOURCE_NOMINAL_VOLTAGE: u32 = 6;
pub const SOURCE_TRANSFER_RANGE: u32 = 7;

/// The slow-changing settings of a PDU with `layout` and these phase
/// indices (read every few minutes; see `app::settings`).
pub fn settings_oids(layout: &Layout, phases: &[u32]) -> Vec<Oid> {
    let mut oids = vec![
        ident_name(),
        sys_location(),
        sys_contact(),
        coldstart_delay(),
        coldstart_state(),
        load_dev_max_phase_load(),
        load_dev_max_bank_load(),
    ];
    if layout.has_ats {
        oids.extend([
            preferred_source(),
            source_config(SOURCE_SENSITIVITY),
            source_config(SOURCE_NOMINAL_VOLTAGE),
            source_config(SOURCE_TRANSFER_RANGE),
        ]);
    }
    for &n in &layout.outlets {
        oids.extend([2, CONFIG_ON_DELAY, CONFIG_OFF_DELAY, CONFIG_REBOOT_DURATION].map(|c| outlet_config(c, n)));
    }
    for &b in &layout.banks {
        oids.extend(THRESHOLD_COLUMNS.map(|c| bank_config(c, b)));
        oids.push(load_dev_bank(BANK_MAX_LOAD, b));
    }
    for &p in phases {
        oids.extend(THRESHOLD_COLUMNS.map(|c| phase_config(c, p)));
    }
    oids
}

pub fn decode_settings(a: &Answers<'_>, layout: &Layout, phases: &[u32]) -> PduSettings {
    let thresholds = |index: u32, column: &dyn Fn(u32) -> Oid, max: Option<i64>| {
        let t = LoadThresholds {
            index,
            low: a.int(&column(2)),
            near_overload: a.int(&column(3)),
            overload: a.int(&column(4)),
            max,
        };
        (t.low.is_some() || t.near_overload.is_some() || t.overload.is_some()).then_some(t)
    };
    let bank_max = a.int(&load_dev_max_bank_load());
    let source = SourceSettings {
        preferred: a.int(&preferred_source()),
        voltage_sensitivity: a.int(&source_config(SOURCE_SENSITIVITY)),
        transfer_range: a.int(&source_config(SOURCE_TRANSFER_RANGE)),
        nominal_voltage: a.int(&source_config(SOURCE_NOMINAL_VOLTAGE)),
    };
    PduSettings {
        device_name: a.text(&ident_name()),
        location: a.text(&sys_location()),
        contact: a.text(&sys_contact()),
        source: (layout.has_ats && source != SourceSettings::default()).then_some(source),
        coldstart_delay: a.int(&coldstart_delay()),
        coldstart_state: a.int(&coldstart_state()),
        outlets: layout
            .outlets
            .iter()
            .map(|&n| OutletSettings {
                number: n,
                name: a.text(&outlet_config(2, n)),
                on_delay: a.int(&outlet_config(CONFIG_ON_DELAY, n)),
                off_delay: a.int(&outlet_config(CONFIG_OFF_DELAY, n)),
                reboot_duration: a.int(&outlet_config(CONFIG_REBOOT_DURATION, n)),
            })
            .collect(),
        banks: layout
            .banks
            .iter()
            .filter_map(|&b| {
                let max = a.int(&load_dev_bank(BANK_MAX_LOAD, b)).or(bank_max);
                thresholds(b, &|c| bank_config(c, b), max)
            })
            .collect(),
        phases: phases
            .iter()
            .filter_map(|&p| thresholds(p, &|c| phase_config(c, p), a.int(&load_dev_max_phase_load())))
            .collect(),
        ..PduSettings::default()
    }
}

/// The varbinds one change is written with (one SET, applied together).
pub fn encode_change(change: &SettingChange) -> Vec<(Oid, VarValue)> {
    use SettingChange::*;
    let text = |s: &str| VarValue::OctetString(s.as_bytes().to_vec());
    let int = |v: i64| VarValue::Integer(v);
    let row = |at: &dyn Fn(u32) -> Oid, low: i64, near: i64, over: i64| {
        // One SET for the whole row: the MIB ties the three together, so an
        // agent checks the row as the whole SET leaves it.
        vec![(at(4), int(over)), (at(3), int(near)), (at(2), int(low))]
    };
    match change {
        DeviceName { value } => vec![(ident_name(), text(value))],
        Location { value } => vec![(sys_location(), text(value))],
        Contact { value } => vec![(sys_contact(), text(value))],
        PreferredSource { value } => vec![(preferred_source(), int(*value))],
        VoltageSensitivity { value } => vec![(source_config(SOURCE_SENSITIVITY), int(*value))],
        TransferRange { value } => vec![(source_config(SOURCE_TRANSFER_RANGE), int(*value))],
        ColdstartDelay { value } => vec![(coldstart_delay(), int(*value))],
        ColdstartState { value } => vec![(coldstart_state(), int(*value))],
        OutletName { outlet, value } => vec![(outlet_config(2, *outlet), text(value))],
        OutletOnDelay { outlet, value } => vec![(outlet_config(CONFIG_ON_DELAY, *outlet), int(*value))],
        OutletOffDelay { outlet, value } => vec![(outlet_config(CONFIG_OFF_DELAY, *outlet), int(*value))],
        OutletRebootDuration { outlet, value } => vec![(outlet_config(CONFIG_REBOOT_DURATION, *outlet), int(*value))],
        BankThresholds { bank, low, near_overload, overload } => {
            row(&|c| bank_config(c, *bank), *low, *near_overload, *overload)
        }
        PhaseThresholds { phase, low, near_overload, overload } => {
            row(&|c| phase_config(c, *phase), *low, *near_overload, *overload)
        }
    }
}

/// The identity objects read at start and every few minutes.
pub fn identity_oids() -> Vec<Oid> {
    vec![
        sys_descr(),
        sys_name(),
        sys_location(),
        sys_contact(),
        ident_name(),
        ident_hardware_rev(),
        ident_firmware_rev(),
        ident_model(),
        ident_serial(),
        ident_rating(),
        ident_num_outlets(),
        ident_num_phases(),
        load_dev_num_banks(),
    ]
}

/// What discovery found on the device: which rows and objects to poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub load_rows: Vec<u32>,
    pub outlets: Vec<u32>,
    pub banks: Vec<u32>,
    /// The ePDU2 source (ATS) table answers.
    pub has_ats: bool,
    /// An environment probe answers, with these contacts.
    pub has_probe: bool,
    pub contacts: Vec<u32>,
    /// ePDUPowerSupply status answers.
    pub has_power_supplies: bool,
}

const LOAD_COLUMNS: [u32; 9] = [2, 3, 4, 5, 6, 7, 8, 9, 10];
const OUTLET_COLUMNS: [u32; 6] = [4, 5, 6, 7, 8, 13];
/// ePDUOutletStatus peak power (W), its time, energy start time: slow.
const PEAK_COLUMNS: [u32; 3] = [10, 11, 14];
const ATS_COLUMNS: [u32; 11] = [3, 5, 6, 7, 8, 9, 10, 11, 12, 16, 4];

impl Layout {
    /// Every object one poll reads (outlet names are identity, read slowly).
    pub fn poll_oids(&self) -> Vec<Oid> {
        let mut oids = vec![sys_uptime(), input_voltage(), input_frequency()];
        for &r in &self.load_rows {
            oids.extend(LOAD_COLUMNS.iter().map(|&c| load_status(c, r)));
        }
        for &n in &self.outlets {
            oids.extend(OUTLET_COLUMNS.iter().map(|&c| outlet_status(c, n)));
        }
        if self.has_ats {
            oids.extend(ATS_COLUMNS.iter().map(|&c| source_status(c)));
            oids.push(preferred_source());
        }
        if self.has_probe {
            oids.extend([envir_temperature_f(), envir_temperature_c(), envir_humidity()]);
            oids.extend(self.contacts.iter().map(|&n| envir_contact(3, n)));
        }
        if self.has_power_supplies {
            oids.extend([power_supply_status(1), power_supply_status(2)]);
        }
        oids
    }

    /// Identity plus the per-outlet names and delays and per-bank limits.
    pub fn identity_oids(&self) -> Vec<Oid> {
        let mut oids = identity_oids();
        oids.extend(self.outlets.iter().map(|&n| outlet_status(2, n)));
        oids.extend(self.banks.iter().map(|&b| load_dev_bank(BANK_MAX_LOAD, b)));
        for &n in &self.outlets {
            oids.extend([CONFIG_ON_DELAY, CONFIG_OFF_DELAY, CONFIG_REBOOT_DURATION].map(|c| outlet_config(c, n)));
            oids.extend(PEAK_COLUMNS.map(|c| outlet_status(c, n)));
        }
        if self.has_probe {
            oids.extend([envir_temp_high_c(), envir_temp_low_c(), envir_humid_high(), envir_humid_low()]);
            for &n in &self.contacts {
                oids.extend([envir_contact(2, n), envir_contact(4, n)]);
            }
        }
        oids
    }
}

/// Answers by OID. An exception value (noSuchObject …) counts as absent.
pub struct Answers<'a>(pub &'a HashMap<Oid, VarValue>);

impl Answers<'_> {
    fn get(&self, oid: &Oid) -> Option<&VarValue> {
        self.0.get(oid).filter(|v| !v.is_exception())
    }

    pub fn int(&self, oid: &Oid) -> Option<i64> {
        self.get(oid).and_then(VarValue::as_i64)
    }

    pub fn text(&self, oid: &Oid) -> Option<String> {
        self.get(oid).and_then(VarValue::as_text)
    }
}

pub fn decode_identity(a: &Answers<'_>, layout: &Layout) -> RawIdentity {
    RawIdentity {
        sys_descr: a.text(&sys_descr()),
        sys_name: a.text(&sys_name()),
        sys_location: a.text(&sys_location()),
        sys_contact: a.text(&sys_contact()),
        name: a.text(&ident_name()),
        hardware_rev: a.text(&ident_hardware_rev()),
        firmware: a.text(&ident_firmware_rev()),
        model: a.text(&ident_model()),
        serial: a.text(&ident_serial()),
        rating_amps: a.int(&ident_rating()),
        num_outlets: a.int(&ident_num_outlets()),
        num_phases: a.int(&ident_num_phases()),
        num_banks: a.int(&load_dev_num_banks()),
        bank_max_load: layout
            .banks
            .iter()
            .filter_map(|&b| a.int(&load_dev_bank(BANK_MAX_LOAD, b)).map(|v| (b, v)))
            .collect(),
        outlet_timings: layout
            .outlets
            .iter()
            .map(|&n| RawOutletTimings {
                index: n,
                on_delay: a.int(&outlet_config(CONFIG_ON_DELAY, n)),
                off_delay: a.int(&outlet_config(CONFIG_OFF_DELAY, n)),
                reboot_duration: a.int(&outlet_config(CONFIG_REBOOT_DURATION, n)),
            })
            .collect(),
        outlet_peaks: layout
            .outlets
            .iter()
            .map(|&n| RawOutletPeak {
                index: n,
                peak_power: a.int(&outlet_status(10, n)),
                peak_time: a.text(&outlet_status(11, n)),
                energy_start: a.text(&outlet_status(14, n)),
            })
            .collect(),
        probe: layout.has_probe.then(|| RawProbeConfig {
            temp_high_c: a.int(&envir_temp_high_c()),
            temp_low_c: a.int(&envir_temp_low_c()),
            humid_high: a.int(&envir_humid_high()),
            humid_low: a.int(&envir_humid_low()),
            contacts: layout
                .contacts
                .iter()
                .map(|&n| (n, a.text(&envir_contact(2, n)), a.int(&envir_contact(4, n))))
                .collect(),
        }),
    }
}

/// Outlet names live with the identity (they change rarely).
pub fn decode_outlet_names(a: &Answers<'_>, layout: &Layout) -> Vec<(u32, String)> {
    layout.outlets.iter().filter_map(|&n| a.text(&outlet_status(2, n)).map(|s| (n, s))).collect()
}

pub fn decode_poll(a: &Answers<'_>, layout: &Layout, names: &[(u32, String)]) -> RawPoll {
    let uptime = a.get(&sys_uptime()).and_then(|v| match v {
        VarValue::TimeTicks(t) => Some(u64::from(*t)),
        _ => None,
    });
    RawPoll {
        stale: Vec::new(),
        uptime_ticks: uptime,
        input_voltage: a.int(&input_voltage()),
        input_frequency: a.int(&input_frequency()),
        load_rows: layout
            .load_rows
            .iter()
            .map(|&r| RawLoadRow {
                index: r,
                load: a.int(&load_status(2, r)),
                load_state: a.int(&load_status(3, r)),
                phase_number: a.int(&load_status(4, r)),
                bank_number: a.int(&load_status(5, r)),
                voltage: a.int(&load_status(6, r)),
                active_power: a.int(&load_status(7, r)),
                apparent_power: a.int(&load_status(8, r)),
                power_factor: a.int(&load_status(9, r)),
                energy: a.int(&load_status(10, r)),
            })
            .collect(),
        outlets: layout
            .outlets
            .iter()
            .map(|&n| RawOutlet {
                index: n,
                name: names.iter().find(|(i, _)| *i == n).map(|(_, s)| s.clone()),
                state: a.int(&outlet_status(4, n)),
                command_pending: a.int(&outlet_status(5, n)),
                bank: a.int(&outlet_status(6, n)),
                load: a.int(&outlet_status(7, n)),
                active_power: a.int(&outlet_status(8, n)),
                energy: a.int(&outlet_status(13, n)),
            })
            .collect(),
        ats: layout.has_ats.then(|| RawAts {
            selected_source: a.int(&source_status(3)),
            preferred_source: a.int(&preferred_source()),
            source_a_voltage: a.int(&source_status(5)),
            source_b_voltage: a.int(&source_status(6)),
            source_a_frequency: a.int(&source_status(7)),
            source_b_frequency: a.int(&source_status(8)),
            source_a_voltage_status: a.int(&source_status(9)),
            source_b_voltage_status: a.int(&source_status(10)),
            source_a_frequency_status: a.int(&source_status(11)),
            source_b_frequency_status: a.int(&source_status(12)),
            redundancy: a.int(&source_status(16)),
        }),
        probe: layout.has_probe.then(|| RawProbe {
            temp_f: a.int(&envir_temperature_f()),
            temp_c: a.int(&envir_temperature_c()),
            humidity: a.int(&envir_humidity()),
            contacts: layout.contacts.iter().map(|&n| (n, a.int(&envir_contact(3, n)))).collect(),
        }),
        power_supplies: if layout.has_power_supplies {
            [1, 2].into_iter().map(|n| (n, a.int(&power_supply_status(n)))).filter(|(_, v)| v.is_some()).collect()
        } else {
            Vec::new()
        },
    }
}

/// Whether a poll object gives the shape of the model rather than a
/// reading: an outlet's state (the model has no "unknown") and bank, a load
/// row's phase and bank numbers (which say what the row is). A partial poll
/// carries these over for as long as it must; readings only briefly.
pub fn is_structural(o: &Oid) -> bool {
    let load = oid(&EPDU, &[2, 3, 1, 1]);
    let outlets = oid(&EPDU, &[3, 5, 1, 1]);
    let column = |table: &Oid| (o.starts_with(table) && o.len() == table.len() + 2).then(|| o[table.len()]);
    matches!(column(&load), Some(4 | 5)) || matches!(column(&outlets), Some(4 | 6))
}

/// The parts of the PDU that `missed` poll objects belong to, in the
/// model's words (`uptime`, `input`, `total`, `bank.2`, `outlet.7`, `ats`,
/// `power_supply`, `environment`),
/// each once, in poll order. A load row is named by its bank column in
/// `a` (0 = the phase total), or `load_row.r` when that is unknown too.
pub fn parts(missed: &[&Oid], a: &Answers<'_>) -> Vec<String> {
    let load = oid(&EPDU, &[2, 3, 1, 1]);
    let outlets = oid(&EPDU, &[3, 5, 1, 1]);
    let ats = oid(&EPDU2, &[9]);
    let mut parts: Vec<String> = Vec::new();
    for o in missed {
        let part = if **o == sys_uptime() {
            "uptime".to_owned()
        } else if **o == input_voltage() || **o == input_frequency() {
            "input".to_owned()
        } else if o.starts_with(&load) && o.len() == load.len() + 2 {
            let row = o[load.len() + 1];
            match a.int(&load_status(5, row)) {
                Some(0) => "total".to_owned(),
                Some(bank) => format!("bank.{bank}"),
                None => format!("load_row.{row}"),
            }
        } else if o.starts_with(&outlets) && o.len() == outlets.len() + 2 {
            format!("outlet.{}", o[outlets.len() + 1])
        } else if o.starts_with(&ats) {
            "ats".to_owned()
        } else if o.starts_with(&oid(&EPDU, &[4])) {
            "power_supply".to_owned()
        } else if o.starts_with(&oid(&ENVIRONMENT, &[4])) {
            "environment".to_owned()
        } else {
            super::codec::format_oid(o)
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts
}

/// The whole MIB view the simulator agent answers from, in OID order.
pub fn encode_view(
    ident: &RawIdentity,
    raw: &RawPoll,
    configs: &[OutletConfig],
    settings: &PduSettings,
) -> BTreeMap<Oid, VarValue> {
    let mut view = BTreeMap::new();
    let mut put = |oid: Oid, v: Option<VarValue>| {
        if let Some(v) = v {
            view.insert(oid, v);
        }
    };
    let text = |s: &Option<String>| s.as_ref().map(|s| VarValue::OctetString(s.as_bytes().to_vec()));
    let int = |v: Option<i64>| v.map(VarValue::Integer);
    let gauge = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).map(VarValue::Gauge32);

    put(sys_descr(), text(&ident.sys_descr));
    put(sys_object_id(), Some(VarValue::ObjectId(EPDU.to_vec())));
    put(sys_uptime(), raw.uptime_ticks.map(|t| VarValue::TimeTicks(t as u32)));
    put(sys_contact(), text(&ident.sys_contact));
    put(sys_name(), text(&ident.sys_name));
    put(sys_location(), text(&ident.sys_location));
    put(ident_name(), text(&ident.name));
    put(ident_hardware_rev(), text(&ident.hardware_rev));
    put(ident_firmware_rev(), text(&ident.firmware));
    put(ident_date_of_manufacture(), Some(VarValue::OctetString(b"03/15/2023".to_vec())));
    put(ident_model(), text(&ident.model));
    put(ident_serial(), text(&ident.serial));
    put(ident_rating(), int(ident.rating_amps));
    put(ident_num_outlets(), int(ident.num_outlets));
    put(ident_num_phases(), int(ident.num_phases));
    put(load_dev_num_phases(), int(ident.num_phases));
    put(load_dev_num_banks(), int(ident.num_banks));
    for &(bank, max) in &ident.bank_max_load {
        put(load_dev_bank(1, bank), Some(VarValue::Integer(bank.into())));
        put(load_dev_bank(2, bank), Some(VarValue::Integer(bank.into())));
        put(load_dev_bank(BANK_MAX_LOAD, bank), Some(VarValue::Integer(max)));
    }
    for row in &raw.load_rows {
        let r = row.index;
        put(load_status(1, r), Some(VarValue::Integer(r.into())));
        put(load_status(2, r), gauge(row.load));
        put(load_status(3, r), int(row.load_state));
        put(load_status(4, r), int(row.phase_number));
        put(load_status(5, r), int(row.bank_number));
        put(load_status(6, r), int(row.voltage));
        put(load_status(7, r), int(row.active_power));
        put(load_status(8, r), int(row.apparent_power));
        put(load_status(9, r), int(row.power_factor));
        put(load_status(10, r), int(row.energy));
    }
    for (o, config) in raw.outlets.iter().zip(configs) {
        let n = o.index;
        // Reading the control column returns the outlet state (MIB).
        put(outlet_control_command(n), int(o.state));
        put(outlet_config(1, n), Some(VarValue::Integer(n.into())));
        put(outlet_config(2, n), text(&o.name));
        put(outlet_config(CONFIG_ON_DELAY, n), Some(VarValue::Integer(config.on_delay)));
        put(outlet_config(CONFIG_OFF_DELAY, n), Some(VarValue::Integer(config.off_delay)));
        put(outlet_config(CONFIG_REBOOT_DURATION, n), Some(VarValue::Integer(config.reboot_duration)));
        put(outlet_status(1, n), Some(VarValue::Integer(n.into())));
        put(outlet_status(2, n), text(&o.name));
        put(outlet_status(4, n), int(o.state));
        put(outlet_status(5, n), int(o.command_pending));
        put(outlet_status(6, n), int(o.bank));
        put(outlet_status(7, n), gauge(o.load));
        put(outlet_status(8, n), gauge(o.active_power));
        put(outlet_status(13, n), gauge(o.energy));
        if let Some(p) = ident.outlet_peaks.iter().find(|p| p.index == n) {
            put(outlet_status(10, n), gauge(p.peak_power));
            put(outlet_status(11, n), text(&p.peak_time));
            put(outlet_status(12, n), text(&p.energy_start));
            put(outlet_status(14, n), text(&p.energy_start));
        }
    }
    if let (Some(p), Some(config)) = (&raw.probe, &ident.probe) {
        put(envir(&[1, 1, 0]), Some(VarValue::OctetString(b"Environment probe".to_vec())));
        put(envir_temperature_f(), int(p.temp_f));
        put(envir_temperature_c(), int(p.temp_c));
        put(envir_temp_high_c(), int(config.temp_high_c));
        put(envir_temp_low_c(), int(config.temp_low_c));
        put(envir_humidity(), int(p.humidity));
        put(envir_humid_high(), int(config.humid_high));
        put(envir_humid_low(), int(config.humid_low));
        put(envir(&[4, 1, 0]), Some(VarValue::Integer(p.contacts.len() as i64)));
        for &(n, status) in &p.contacts {
            let (name, normal) = config
                .contacts
                .iter()
                .find(|(i, _, _)| *i == n)
                .map(|(_, name, normal)| (name.clone(), *normal))
                .unwrap_or_default();
            put(envir_contact(1, n), Some(VarValue::Integer(n.into())));
            put(envir_contact(2, n), text(&name));
            put(envir_contact(3, n), int(status));
            put(envir_contact(4, n), int(normal));
        }
    }
    for &(n, status) in &raw.power_supplies {
        put(power_supply_status(n), int(status));
    }
    put(input_voltage(), int(raw.input_voltage));
    put(input_frequency(), int(raw.input_frequency));
    put(outlet_dev_command(), Some(VarValue::Integer(1)));
    put(coldstart_delay(), int(settings.coldstart_delay));
    put(coldstart_state(), int(settings.coldstart_state));
    put(load_dev_max_phase_load(), int(settings.phases.first().and_then(|p| p.max)));
    put(load_dev_max_bank_load(), int(settings.banks.first().and_then(|b| b.max)));
    for (rows, at) in [(&settings.banks, bank_config as fn(u32, u32) -> Oid), (&settings.phases, phase_config)] {
        for row in rows {
            put(at(1, row.index), Some(VarValue::Integer(row.index.into())));
            put(at(2, row.index), int(row.low));
            put(at(3, row.index), int(row.near_overload));
            put(at(4, row.index), int(row.overload));
        }
    }
    if let Some(source) = settings.source.as_ref().filter(|_| raw.ats.is_some()) {
        put(source_config(SOURCE_SENSITIVITY), int(source.voltage_sensitivity));
        put(source_config(SOURCE_NOMINAL_VOLTAGE), int(source.nominal_voltage));
        put(source_config(SOURCE_TRANSFER_RANGE), int(source.transfer_range));
    }
    if let Some(ats) = &raw.ats {
        put(preferred_source(), int(ats.preferred_source));
        put(source_status(1), Some(VarValue::Integer(1)));
        put(source_status(3), int(ats.selected_source));
        put(source_status(4), Some(VarValue::Integer(600)));
        put(source_status(5), int(ats.source_a_voltage));
        put(source_status(6), int(ats.source_b_voltage));
        put(source_status(7), int(ats.source_a_frequency));
        put(source_status(8), int(ats.source_b_frequency));
        put(source_status(9), int(ats.source_a_voltage_status));
        put(source_status(10), int(ats.source_b_voltage_status));
        put(source_status(11), int(ats.source_a_frequency_status));
        put(source_status(12), int(ats.source_b_frequency_status));
        put(source_status(16), int(ats.redundancy));
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;

    /// What discovery would find in a view (the index columns).
    fn layout_of(view: &BTreeMap<Oid, VarValue>) -> Layout {
        let rows_under = |prefix: Oid| -> Vec<u32> {
            view.keys()
                .filter(|k| k.starts_with(&prefix) && k.len() == prefix.len() + 1)
                .map(|k| k[prefix.len()])
                .collect()
        };
        Layout {
            has_probe: view.contains_key(&envir_temperature_c()),
            contacts: rows_under(envir_contact_index_column()),
            has_power_supplies: view.contains_key(&power_supply_status(1)),
            load_rows: rows_under(load_status_index_column()),
            outlets: rows_under(outlet_status_index_column()),
            banks: rows_under(oid(&EPDU, &[2, 1, 6, 1, BANK_MAX_LOAD])),
            has_ats: view.contains_key(&source_status(3)),
        }
    }

    #[test]
    fn what_the_agent_serves_decodes_back_to_the_same_readings() {
        let now = tokio::time::Instant::now();
        let mut sim = SimModel::new(11, now).with_probe();
        let raw = sim.read(now);
        let ident = sim.identity();
        let settings = sim.settings();
        let view = encode_view(&ident, &raw, &sim.outlet_configs(), &settings);
        let layout = layout_of(&view);
        assert_eq!(
            (layout.load_rows.len(), layout.outlets.len(), layout.banks.len(), layout.has_ats),
            (3, 10, 2, true)
        );

        let answers: HashMap<Oid, VarValue> = view.into_iter().collect();
        let a = Answers(&answers);
        let names = decode_outlet_names(&a, &layout);
        assert_eq!(decode_poll(&a, &layout, &names), raw);
        assert_eq!(decode_identity(&a, &layout), ident);
        assert_eq!(decode_settings(&a, &layout, &[1]), settings, "settings too");
    }

    #[test]
    fn exception_values_are_absent_not_zero() {
        let mut answers = HashMap::new();
        answers.insert(input_voltage(), VarValue::NoSuchObject);
        answers.insert(input_frequency(), VarValue::Integer(600));
        let a = Answers(&answers);
        let poll = decode_poll(&a, &Layout::default(), &[]);
        assert_eq!((poll.input_voltage, poll.input_frequency), (None, Some(600)));
    }

    #[test]
    fn the_poll_reads_only_what_discovery_found() {
        let layout = Layout { load_rows: vec![1], outlets: vec![1, 2], ..Layout::default() };
        let oids = layout.poll_oids();
        assert_eq!(oids.len(), 3 + LOAD_COLUMNS.len() + 2 * OUTLET_COLUMNS.len());
        assert!(!oids.contains(&source_status(3)));
    }

    #[test]
    fn missed_objects_are_named_by_the_part_of_the_pdu_they_belong_to() {
        let mut answers = HashMap::new();
        answers.insert(load_status(5, 1), VarValue::Integer(0));
        answers.insert(load_status(5, 2), VarValue::Integer(1));
        let missed = [
            sys_uptime(),
            input_frequency(),
            load_status(7, 1),
            load_status(7, 2),
            load_status(10, 2),
            load_status(7, 3),
            outlet_status(8, 5),
            outlet_status(13, 5),
            source_status(5),
            preferred_source(),
            power_supply_status(2),
            envir_humidity(),
        ];
        let missed: Vec<&Oid> = missed.iter().collect();
        assert_eq!(
            parts(&missed, &Answers(&answers)),
            ["uptime", "input", "total", "bank.1", "load_row.3", "outlet.5", "ats", "power_supply", "environment"]
        );
        assert!(is_structural(&outlet_status(4, 5)) && is_structural(&load_status(5, 2)));
        assert!(!is_structural(&outlet_status(8, 5)) && !is_structural(&input_voltage()));
    }
}
