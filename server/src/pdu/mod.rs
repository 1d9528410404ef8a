//! The PDU: what one poll returns in the device's own units ([`RawPoll`],
//! exactly what the CPS-MIB objects hold), the simulated PDU44001 ([`sim`]),
//! and how readings become the model ([`scale`], [`correct`]).
//!
//! Owns: the boundary between "what the device said" and "what the bridge
//! shows". Does not own: where readings come from at run time (`device`),
//! cadence and fan-out (`poller`), command policy (`bridge`). The one thing
//! to know: every reading is an `Option` — an object the device does not
//! answer is absent, never zero — and scaling happens in exactly one place,
//! so the in-process simulator and the SNMP path share it.

pub mod correct;
pub mod scale;
pub mod sim;

use std::time::Duration;

/// Identity and layout, read at start and every few minutes (MIB units).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawIdentity {
    pub sys_descr: Option<String>,
    pub sys_name: Option<String>,
    pub sys_location: Option<String>,
    pub sys_contact: Option<String>,
    /// ePDUIdentName.
    pub name: Option<String>,
    pub hardware_rev: Option<String>,
    pub firmware: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// ePDUIdentDeviceRating, A.
    pub rating_amps: Option<i64>,
    pub num_outlets: Option<i64>,
    pub num_phases: Option<i64>,
    /// ePDULoadDevNumBanks.
    pub num_banks: Option<i64>,
    /// ePDULoadDevBankMaxLoad by bank number, A.
    pub bank_max_load: Vec<(u32, i64)>,
    /// Each outlet's delays (ePDUOutletConfigTable): set by hand on the PDU
    /// and rarely changed, so read with the identity, not every poll.
    pub outlet_timings: Vec<RawOutletTimings>,
    /// Each outlet's peak power and energy start (ePDUOutletStatus .10-.14),
    /// which change seldom: read with the identity.
    pub outlet_peaks: Vec<RawOutletPeak>,
    /// The environment probe's thresholds and contact names, when it has one.
    pub probe: Option<RawProbeConfig>,
}

/// ePDUOutletStatusPeakPower (W), PeakPowerTime and EnergyStartTime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawOutletPeak {
    pub index: u32,
    pub peak_power: Option<i64>,
    pub peak_time: Option<String>,
    pub energy_start: Option<String>,
}

/// The probe's settings (envirTempCelsiusHigh/LowThreshold °C,
/// envirHumidHigh/LowThreshold %, envirContactName/NormalState).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawProbeConfig {
    pub temp_high_c: Option<i64>,
    pub temp_low_c: Option<i64>,
    pub humid_high: Option<i64>,
    pub humid_low: Option<i64>,
    /// (index, name, normal state: 1 normally open, 2 normally closed).
    pub contacts: Vec<(u32, Option<String>, Option<i64>)>,
}

/// The probe's readings, every poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawProbe {
    /// envirTemperature, 0.1 °F.
    pub temp_f: Option<i64>,
    /// envirTemperatureCelsius, 0.1 °C.
    pub temp_c: Option<i64>,
    /// envirHumidity, %.
    pub humidity: Option<i64>,
    /// (index, envirContactStatus: 1 normal, 2 abnormal).
    pub contacts: Vec<(u32, Option<i64>)>,
}

/// One outlet's row of ePDUOutletConfigTable (E.3.4.1.1.{4,5,6}.n), seconds.
/// The MIB allows -1 for the delays ("never power on/off").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawOutletTimings {
    pub index: u32,
    /// ePDUOutletConfigPowerOnTime: delayedOn waits this long.
    pub on_delay: Option<i64>,
    /// ePDUOutletConfigPowerOffTime: delayedOff waits this long.
    pub off_delay: Option<i64>,
    /// ePDUOutletConfigRebootDuration: how long a reboot keeps the outlet off.
    pub reboot_duration: Option<i64>,
}

/// One row of ePDULoadStatusTable. Rows are told apart by their phase and
/// bank columns (bank 0 = a phase total row), never by position.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawLoadRow {
    pub index: u32,
    /// 0.1 A.
    pub load: Option<i64>,
    /// 1 normal, 2 low, 3 nearOverload, 4 overload.
    pub load_state: Option<i64>,
    pub phase_number: Option<i64>,
    pub bank_number: Option<i64>,
    /// 0.1 V.
    pub voltage: Option<i64>,
    /// W.
    pub active_power: Option<i64>,
    /// VA.
    pub apparent_power: Option<i64>,
    /// 0.01.
    pub power_factor: Option<i64>,
    /// 0.1 kWh, cumulative.
    pub energy: Option<i64>,
}

/// One row of ePDUOutletStatusTable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawOutlet {
    pub index: u32,
    pub name: Option<String>,
    /// 1 on, 2 off.
    pub state: Option<i64>,
    /// 1 a command is pending, 2 none.
    pub command_pending: Option<i64>,
    pub bank: Option<i64>,
    /// 0.1 A.
    pub load: Option<i64>,
    /// W.
    pub active_power: Option<i64>,
    /// 0.1 kWh, cumulative.
    pub energy: Option<i64>,
}

/// The ePDU2 source (ATS) status row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawAts {
    /// 1 A, 2 B, 3 none.
    pub selected_source: Option<i64>,
    /// ePDU2SourceConfigPreferredSource: 1 A, 2 B, 3 none.
    pub preferred_source: Option<i64>,
    /// 0.1 V.
    pub source_a_voltage: Option<i64>,
    pub source_b_voltage: Option<i64>,
    /// 0.1 Hz.
    pub source_a_frequency: Option<i64>,
    pub source_b_frequency: Option<i64>,
    /// 1 normal, 2 over, 3 under.
    pub source_a_voltage_status: Option<i64>,
    pub source_b_voltage_status: Option<i64>,
    pub source_a_frequency_status: Option<i64>,
    pub source_b_frequency_status: Option<i64>,
    /// 1 lost, 2 fully redundant.
    pub redundancy: Option<i64>,
}

/// Everything one poll reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawPoll {
    /// Parts of the PDU this poll could not read (a lossy link), in the
    /// model's words (`outlet.3`, `bank.1`, `ats` …): their values are
    /// carried over from an earlier poll, or absent. Empty for a whole poll.
    pub stale: Vec<String>,
    /// sysUpTime, 1/100 s.
    pub uptime_ticks: Option<u64>,
    /// ePDUStatusInputVoltage (selected source), 0.1 V.
    pub input_voltage: Option<i64>,
    /// 0.1 Hz.
    pub input_frequency: Option<i64>,
    pub load_rows: Vec<RawLoadRow>,
    pub outlets: Vec<RawOutlet>,
    pub ats: Option<RawAts>,
    /// The environment probe, when the PDU has one.
    pub probe: Option<RawProbe>,
    /// ePDUPowerSupply1Status (1 ok, 2 failed) and 2Status (1 ok, 2 failed,
    /// 3 not present), by number, when answered.
    pub power_supplies: Vec<(u32, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the PDU has no outlet {0}")]
    NoSuchOutlet(u32),
    #[error("the PDU refused the request: {0}")]
    Refused(String),
}

/// Per-outlet timings (ePDUOutletConfig columns 4-6), in seconds: what the
/// simulated PDU keeps and the SNMP agent serves and writes.
#[derive(Clone, Debug, PartialEq)]
pub struct OutletConfig {
    pub on_delay: i64,
    pub off_delay: i64,
    pub reboot_duration: i64,
}
