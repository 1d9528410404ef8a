//! MIB units → the model: the only place where 0.1 V becomes volts.
//!
//! Follows the CPS-MIB: load-status rows are mapped by their phase/bank
//! columns (phase rows, bank 0, are totals), the ATS state comes from the
//! ePDU2 source table, and enumerations outside the MIB's range are treated
//! as absent rather than guessed.

use super::{RawAts, RawIdentity, RawLoadRow, RawOutletTimings, RawPoll};
use app::model::{
    Ats, Bank, Connection, Contact, DeviceId, Environment, Identity, Input, LoadState, Outlet, OutletState,
    PduSnapshot, PowerSupply, PsuState, RangeStatus, Redundancy, Sensors, Source, SourceReading, Totals,
};

/// What the snapshot needs besides the device's answers.
pub struct Context<'a> {
    pub device_id: &'a DeviceId,
    pub label: &'a str,
    pub simulated: bool,
    pub poll_interval_ms: u64,
    pub ts_ms: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScaleError {
    #[error("outlet {outlet}: state {value:?} is not on (1) or off (2)")]
    OutletState { outlet: u32, value: Option<i64> },
}

fn tenths(v: Option<i64>) -> Option<f64> {
    v.map(|v| v as f64 / 10.0)
}

fn whole(v: Option<i64>) -> Option<f64> {
    v.map(|v| v as f64)
}

fn source(code: Option<i64>) -> Option<Source> {
    match code? {
        1 => Some(Source::A),
        2 => Some(Source::B),
        _ => None,
    }
}

fn range_status(code: Option<i64>) -> Option<RangeStatus> {
    match code? {
        1 => Some(RangeStatus::Normal),
        2 => Some(RangeStatus::Over),
        3 => Some(RangeStatus::Under),
        _ => None,
    }
}

fn load_state(code: Option<i64>) -> Option<LoadState> {
    match code? {
        1 => Some(LoadState::Normal),
        2 => Some(LoadState::Low),
        3 => Some(LoadState::NearOverload),
        4 => Some(LoadState::Overload),
        _ => None,
    }
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.fold(None, |acc, v| match (acc, v) {
        (acc, None) => acc,
        (None, Some(v)) => Some(v),
        (Some(a), Some(v)) => Some(a + v),
    })
}

pub fn identity(raw: &RawIdentity, outlet_count: usize, bank_count: usize) -> Identity {
    let count = |v: Option<i64>, fallback: usize| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(fallback as u32);
    Identity {
        model: raw.model.clone(),
        serial: raw.serial.clone(),
        firmware: raw.firmware.clone(),
        hardware_rev: raw.hardware_rev.clone(),
        name: raw.name.clone(),
        location: raw.sys_location.clone(),
        contact: raw.sys_contact.clone(),
        sys_name: raw.sys_name.clone(),
        rating_amps: raw.rating_amps.and_then(|v| u32::try_from(v).ok()),
        outlet_count: count(raw.num_outlets, outlet_count),
        bank_count: count(raw.num_banks, bank_count),
        phase_count: count(raw.num_phases, 1),
    }
}

fn bank(row: &RawLoadRow, number: u32, ident: &RawIdentity) -> Bank {
    Bank {
        number,
        voltage: tenths(row.voltage),
        current: tenths(row.load),
        power: whole(row.active_power),
        apparent_power: whole(row.apparent_power),
        power_factor: row.power_factor.map(|v| v as f64 / 100.0),
        load_state: load_state(row.load_state),
        energy_kwh: tenths(row.energy),
        max_load_amps: ident.bank_max_load.iter().find(|(b, _)| *b == number).map(|(_, a)| *a as f64),
    }
}

fn ats(raw: &RawAts) -> Ats {
    Ats {
        selected: source(raw.selected_source),
        preferred: source(raw.preferred_source),
        redundancy: match raw.redundancy {
            Some(1) => Some(Redundancy::Lost),
            Some(2) => Some(Redundancy::Ok),
            _ => None,
        },
        sources: vec![
            SourceReading {
                source: Source::A,
                voltage: tenths(raw.source_a_voltage),
                frequency: tenths(raw.source_a_frequency),
                voltage_status: range_status(raw.source_a_voltage_status),
                frequency_status: range_status(raw.source_a_frequency_status),
            },
            SourceReading {
                source: Source::B,
                voltage: tenths(raw.source_b_voltage),
                frequency: tenths(raw.source_b_frequency),
                voltage_status: range_status(raw.source_b_voltage_status),
                frequency_status: range_status(raw.source_b_frequency_status),
            },
        ],
    }
}

/// Build a snapshot from one poll. Corrections (metering floor, names) are
/// applied afterwards by the caller.
pub fn snapshot(ctx: &Context<'_>, ident: &RawIdentity, raw: &RawPoll) -> Result<PduSnapshot, ScaleError> {
    let mut banks: Vec<Bank> = raw
        .load_rows
        .iter()
        .filter_map(|row| match row.bank_number {
            Some(b) if b > 0 => Some(bank(row, b as u32, ident)),
            _ => None,
        })
        .collect();
    banks.sort_by_key(|b| b.number);
    let phase_rows: Vec<&RawLoadRow> = raw.load_rows.iter().filter(|r| r.bank_number == Some(0)).collect();

    let totals = if phase_rows.is_empty() {
        Totals {
            current: sum(banks.iter().map(|b| b.current)),
            power: sum(banks.iter().map(|b| b.power)),
            apparent_power: sum(banks.iter().map(|b| b.apparent_power)),
            energy_kwh: sum(banks.iter().map(|b| b.energy_kwh)),
        }
    } else {
        Totals {
            current: sum(phase_rows.iter().map(|r| tenths(r.load))),
            power: sum(phase_rows.iter().map(|r| whole(r.active_power))),
            apparent_power: sum(phase_rows.iter().map(|r| whole(r.apparent_power))),
            energy_kwh: sum(phase_rows.iter().map(|r| tenths(r.energy))),
        }
    };

    let outlets = raw
        .outlets
        .iter()
        .map(|o| {
            let state = match o.state {
                Some(1) => OutletState::On,
                Some(2) => OutletState::Off,
                value => return Err(ScaleError::OutletState { outlet: o.index, value }),
            };
            let timings = ident.outlet_timings.iter().find(|t| t.index == o.index);
            let peaks = ident.outlet_peaks.iter().find(|p| p.index == o.index);
            let text = |v: Option<&String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            // -1 ("never") and values outside u32 are not a delay to show.
            let secs =
                |v: fn(&RawOutletTimings) -> Option<i64>| timings.and_then(v).and_then(|s| u32::try_from(s).ok());
            Ok(Outlet {
                number: o.index,
                name: o.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("Outlet {}", o.index)),
                state,
                pending: o.command_pending == Some(1),
                bank: o.bank.and_then(|b| u32::try_from(b).ok()),
                current: tenths(o.load),
                power: whole(o.active_power),
                energy_kwh: tenths(o.energy),
                on_delay_s: secs(|t| t.on_delay),
                off_delay_s: secs(|t| t.off_delay),
                reboot_s: secs(|t| t.reboot_duration),
                peak_power: whole(peaks.and_then(|p| p.peak_power)),
                peak_power_at: text(peaks.and_then(|p| p.peak_time.as_ref())),
                energy_since: text(peaks.and_then(|p| p.energy_start.as_ref())),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let identity = identity(ident, outlets.len(), banks.len());
    Ok(PduSnapshot {
        device_id: ctx.device_id.clone(),
        label: ctx.label.to_owned(),
        simulated: ctx.simulated,
        connection: Connection::Online,
        ts_ms: ctx.ts_ms,
        tick_ms: None,
        stale: raw.stale.clone(),
        poll_interval_ms: ctx.poll_interval_ms,
        identity,
        uptime_s: raw.uptime_ticks.map(|t| t / 100),
        input: Input { voltage: tenths(raw.input_voltage), frequency: tenths(raw.input_frequency) },
        ats: raw.ats.as_ref().map(ats),
        banks,
        outlets,
        totals,
        sensors: sensors(ident, raw),
    })
}

fn sensors(ident: &RawIdentity, raw: &RawPoll) -> Sensors {
    let environment = raw.probe.as_ref().map(|p| {
        let config = ident.probe.clone().unwrap_or_default();
        let whole = |v: Option<i64>| v.map(|v| v as f64);
        Environment {
            temperature_c: tenths(p.temp_c),
            temperature_f: tenths(p.temp_f),
            humidity: whole(p.humidity),
            temperature_high_c: whole(config.temp_high_c),
            temperature_low_c: whole(config.temp_low_c),
            humidity_high: whole(config.humid_high),
            humidity_low: whole(config.humid_low),
            contacts: p
                .contacts
                .iter()
                .map(|&(number, status)| {
                    let (name, normal) = config
                        .contacts
                        .iter()
                        .find(|(i, _, _)| *i == number)
                        .map(|(_, name, normal)| (name.clone(), *normal))
                        .unwrap_or_default();
                    let abnormal = status == Some(2);
                    // Open when it rests open and is normal, or rests closed and is not.
                    let open = match (status, normal) {
                        (Some(1 | 2), Some(1)) => Some(!abnormal),
                        (Some(1 | 2), Some(2)) => Some(abnormal),
                        _ => None,
                    };
                    Contact { number, name: name.filter(|n| !n.trim().is_empty()), open, abnormal }
                })
                .collect(),
        }
    });
    let power_supplies = raw
        .power_supplies
        .iter()
        .filter_map(|&(number, code)| {
            let state = match code? {
                1 => PsuState::Ok,
                2 => PsuState::Failed,
                3 => PsuState::NotPresent,
                _ => return None,
            };
            Some(PowerSupply { number, state })
        })
        .collect();
    Sensors { environment, power_supplies }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::RawOutlet;

    fn ctx(id: &DeviceId) -> Context<'_> {
        Context { device_id: id, label: "t", simulated: false, poll_interval_ms: 1000, ts_ms: 0 }
    }

    #[test]
    fn load_rows_are_mapped_by_their_bank_column_not_their_position() {
        let id = DeviceId::parse("t").unwrap();
        let raw = RawPoll {
            load_rows: vec![
                RawLoadRow { index: 1, bank_number: Some(2), load: Some(31), ..Default::default() },
                RawLoadRow {
                    index: 2,
                    bank_number: Some(0),
                    phase_number: Some(1),
                    load: Some(75),
                    ..Default::default()
                },
                RawLoadRow { index: 3, bank_number: Some(1), load: Some(44), ..Default::default() },
            ],
            ..Default::default()
        };
        let s = snapshot(&ctx(&id), &RawIdentity::default(), &raw).unwrap();
        assert_eq!(
            s.banks.iter().map(|b| (b.number, b.current)).collect::<Vec<_>>(),
            vec![(1, Some(4.4)), (2, Some(3.1))]
        );
        assert_eq!(s.totals.current, Some(7.5), "the phase row is the total");
    }

    #[test]
    fn absent_objects_stay_absent_and_bad_enums_are_not_guessed() {
        let id = DeviceId::parse("t").unwrap();
        let raw = RawPoll {
            ats: Some(RawAts { selected_source: Some(9), source_a_voltage: Some(1204), ..Default::default() }),
            outlets: vec![RawOutlet { index: 1, state: Some(1), ..Default::default() }],
            ..Default::default()
        };
        let s = snapshot(&ctx(&id), &RawIdentity::default(), &raw).unwrap();
        let ats = s.ats.unwrap();
        assert_eq!(ats.selected, None);
        assert_eq!(ats.source(Source::A).unwrap().voltage, Some(120.4));
        assert_eq!(ats.source(Source::B).unwrap().voltage, None);
        assert_eq!(s.outlets[0].current, None);
        assert_eq!(s.outlets[0].name, "Outlet 1");
        assert_eq!(s.input.voltage, None);
    }

    #[test]
    fn outlet_delays_come_from_the_identity_and_never_is_not_a_delay() {
        let id = DeviceId::parse("t").unwrap();
        let raw = RawPoll {
            outlets: (1..=3).map(|index| RawOutlet { index, state: Some(1), ..Default::default() }).collect(),
            ..Default::default()
        };
        let ident = RawIdentity {
            outlet_timings: vec![
                RawOutletTimings { index: 2, on_delay: Some(15), off_delay: Some(-1), reboot_duration: Some(10) },
                RawOutletTimings { index: 3, on_delay: None, off_delay: Some(0), reboot_duration: None },
            ],
            ..Default::default()
        };
        let s = snapshot(&ctx(&id), &ident, &raw).unwrap();
        let delays = |n: usize| (s.outlets[n].on_delay_s, s.outlets[n].off_delay_s, s.outlets[n].reboot_s);
        assert_eq!(delays(0), (None, None, None), "not read");
        assert_eq!(delays(1), (Some(15), None, Some(10)));
        assert_eq!(delays(2), (None, Some(0), None));
    }

    #[test]
    fn an_outlet_state_outside_the_mib_fails_the_poll() {
        let id = DeviceId::parse("t").unwrap();
        let raw = RawPoll {
            outlets: vec![RawOutlet { index: 4, state: Some(7), ..Default::default() }],
            ..Default::default()
        };
        let err = snapshot(&ctx(&id), &RawIdentity::default(), &raw).unwrap_err();
        assert_eq!(err, ScaleError::OutletState { outlet: 4, value: Some(7) });
    }
}
