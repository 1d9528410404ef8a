//! The rule state machine: one rule, one snapshot, one moment in, at most
//! one decision out. Pure, so every semantic of `shared/spec/rules.md` is
//! tested without a PDU or a clock.
//!
//! A rule is Armed, Pending (its condition holds, the `delay` is running) or
//! Fired (it switched outlets; `restore_delay` runs once the condition has
//! cleared, with hysteresis). Missing data — an unreachable PDU, an absent
//! reading — is neither true nor false: the rule waits, nothing switches.
//! Timers are measured in real time (`Instant`), not in polls.

use app::model::{OutletAction, OutletState, PduSnapshot, PsuState, Redundancy, Source};
use app::rules::{Condition, Limit, Minute, Rule, RuleAction, ScheduleType};
use std::time::Duration;
use tokio::time::Instant;

/// Local wall-clock time, in the configured time zone (DST already applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    pub minute: Minute,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Armed,
    Pending {
        since: Instant,
    },
    /// `clear_since`: when the condition was first seen cleared.
    Fired {
        clear_since: Option<Instant>,
    },
}

/// What a rule remembers. `switched` survives restarts (persisted by the
/// caller) so a shed outlet is restored even after the bridge restarted.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleState {
    pub phase: Phase,
    /// Outlets this rule switched, with their state before.
    pub switched: Vec<(u32, OutletState)>,
}

impl Default for RuleState {
    fn default() -> Self {
        Self { phase: Phase::Armed, switched: Vec::new() }
    }
}

/// What the caller must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The condition held for `delay`: switch these outlets. A one-shot
    /// rule must then be disabled.
    Fire { commands: Vec<(u32, OutletAction)>, disable: bool },
    /// The condition stayed clear for `restore_delay`: put these back.
    Restore { commands: Vec<(u32, OutletAction)> },
}

/// Three-valued truth: `None` is "cannot tell" (missing data).
type Truth = Option<bool>;

fn watched_voltage(rule: &Rule, s: &PduSnapshot) -> Option<f64> {
    let source = match rule.input {
        0 => return s.input.voltage,
        1 => Source::A,
        _ => Source::B,
    };
    s.ats.as_ref()?.source(source)?.voltage
}

fn watched_current(rule: &Rule, s: &PduSnapshot) -> Option<f64> {
    match rule.input {
        0 => s.totals.current,
        bank => s.banks.iter().find(|b| b.number == bank)?.current,
    }
}

fn in_window(minute: Minute, start: Minute, end: Minute) -> bool {
    if start < end {
        (start..end).contains(&minute)
    } else {
        // Wraps midnight: 22:00-06:30.
        minute >= start || minute < end
    }
}

/// Whether the condition holds (`clearing`: whether it has cleared, with
/// hysteresis applied to measured values).
fn evaluate(rule: &Rule, limit: Limit, s: &PduSnapshot, local: LocalTime, clearing: bool) -> Truth {
    // Only readings from a poll that answered: a stale snapshot repeats
    // older values, and acting on them would be acting on missing data.
    if !s.connection.is_online() {
        return None;
    }
    let h = if clearing { rule.hysteresis() } else { 0.0 };
    let holds = match (rule.condition, limit) {
        (Condition::VoltageBelow, Limit::Value(t)) => watched_voltage(rule, s)? < t + h,
        (Condition::VoltageAbove, Limit::Value(t)) => watched_voltage(rule, s)? > t - h,
        (Condition::LoadAbove, Limit::Value(t)) => watched_current(rule, s)? > t - h,
        (Condition::AtsSourceIs, Limit::Source(n)) => {
            let wanted = if n == 1 { Source::A } else { Source::B };
            s.ats.as_ref()?.selected? == wanted
        }
        (Condition::AtsPreferredLost, _) => {
            let ats = s.ats.as_ref()?;
            ats.selected != Some(ats.preferred?)
        }
        (Condition::RedundancyLost, _) => s.ats.as_ref()?.redundancy? == Redundancy::Lost,
        (Condition::TimeAfter, Limit::At(t)) => local.minute >= t,
        (Condition::TimeBefore, Limit::At(t)) => local.minute < t,
        (Condition::TimeBetween, Limit::Between(a, b)) => in_window(local.minute, a, b),
        // The probe and the power supplies: a PDU without them never fires.
        (Condition::TemperatureAbove, Limit::Value(t)) => s.sensors.environment.as_ref()?.temperature_c? > t - h,
        (Condition::HumidityAbove, Limit::Value(t)) => s.sensors.environment.as_ref()?.humidity? > t - h,
        (Condition::ContactOpen, Limit::Value(n)) => {
            let contacts = &s.sensors.environment.as_ref()?.contacts;
            contacts.iter().find(|c| f64::from(c.number) == n)?.open?
        }
        (Condition::PsuFailed, Limit::Value(n)) => {
            let supplies = &s.sensors.power_supplies;
            if n == 0.0 {
                if supplies.is_empty() {
                    return None;
                }
                supplies.iter().any(|p| p.state == PsuState::Failed)
            } else {
                supplies.iter().find(|p| f64::from(p.number) == n)?.state == PsuState::Failed
            }
        }
        _ => return None,
    };
    Some(if clearing { !holds } else { holds })
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

fn outlet_action(action: RuleAction) -> OutletAction {
    match action {
        RuleAction::On => OutletAction::On,
        RuleAction::Off => OutletAction::Off,
        RuleAction::Reboot => OutletAction::Reboot,
    }
}

/// Advance one rule. Call after every poll and when a timer is due.
pub fn step(rule: &Rule, state: &mut RuleState, s: &PduSnapshot, local: LocalTime, now: Instant) -> Option<Decision> {
    // Disabled: nothing switches, whatever state it is in.
    if !rule.enabled {
        return None;
    }
    let limit = rule.limit().ok()?;
    let active_day = rule.days_of_week.as_ref().is_none_or(|days| days.contains(&local.weekday));
    match state.phase.clone() {
        Phase::Armed | Phase::Pending { .. } if !active_day => {
            state.phase = Phase::Armed;
            None
        }
        Phase::Armed => match evaluate(rule, limit, s, local, false) {
            Some(true) => {
                state.phase = Phase::Pending { since: now };
                step(rule, state, s, local, now)
            }
            _ => None,
        },
        Phase::Pending { since } => match evaluate(rule, limit, s, local, false) {
            Some(true) if now.duration_since(since) >= secs(rule.delay) => Some(fire(rule, state, s)),
            Some(false) => {
                state.phase = Phase::Armed;
                None
            }
            _ => None,
        },
        Phase::Fired { clear_since } => match evaluate(rule, limit, s, local, true) {
            Some(true) => {
                let since = clear_since.unwrap_or(now);
                if now.duration_since(since) < secs(rule.restore_delay) {
                    state.phase = Phase::Fired { clear_since: Some(since) };
                    return None;
                }
                state.phase = Phase::Armed;
                let switched = std::mem::take(&mut state.switched);
                if !rule.restore || rule.action == RuleAction::Reboot {
                    return None;
                }
                let commands: Vec<(u32, OutletAction)> = switched
                    .into_iter()
                    .map(|(n, before)| {
                        (n, if before == OutletState::On { OutletAction::On } else { OutletAction::Off })
                    })
                    .filter(|(_, back)| *back != outlet_action(rule.action))
                    .collect();
                (!commands.is_empty()).then_some(Decision::Restore { commands })
            }
            Some(false) => {
                state.phase = Phase::Fired { clear_since: None };
                None
            }
            None => None,
        },
    }
}

fn fire(rule: &Rule, state: &mut RuleState, s: &PduSnapshot) -> Decision {
    let action = outlet_action(rule.action);
    let outlets = rule.outlet.list();
    state.switched = outlets.iter().filter_map(|&n| s.outlet(n).map(|o| (n, o.state))).collect();
    state.phase = Phase::Fired { clear_since: None };
    Decision::Fire {
        commands: outlets.into_iter().map(|n| (n, action)).collect(),
        disable: rule.schedule_type == ScheduleType::Oneshot,
    }
}

/// When `step` must run again even without a new snapshot: the end of a
/// running `delay` or `restore_delay`.
pub fn next_deadline(rule: &Rule, state: &RuleState) -> Option<Instant> {
    match state.phase {
        Phase::Pending { since } => Some(since + secs(rule.delay)),
        Phase::Fired { clear_since: Some(since) } => Some(since + secs(rule.restore_delay)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;
    use app::model::{Connection, DeviceId};
    use app::rules::parse_rules;

    const NOON_MONDAY: LocalTime = LocalTime { weekday: 0, minute: 12 * 60 };

    fn snapshot(volts_a: f64) -> PduSnapshot {
        let now = Instant::now();
        let mut sim = SimModel::new(1, now);
        sim.pin_source_voltage(Source::A, Some(volts_a), now);
        sim.snapshot(&DeviceId::parse("t").unwrap(), now)
    }

    fn brownout() -> Rule {
        parse_rules(
            r#"[{"name":"shed","condition":"voltage_below","input":1,"threshold":108,"outlet":[5,9],
                 "action":"off","delay":10,"restore_delay":30}]"#,
            Some(10),
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn a_brownout_longer_than_the_delay_sheds_and_recovery_restores_after_the_restore_delay() {
        let rule = brownout();
        let mut st = RuleState::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, at(0)), None);
        assert!(matches!(st.phase, Phase::Pending { .. }));
        assert_eq!(next_deadline(&rule, &st), Some(at(10)));
        assert_eq!(step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, at(9)), None);
        let fired = step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, at(10));
        assert_eq!(
            fired,
            Some(Decision::Fire { commands: vec![(5, OutletAction::Off), (9, OutletAction::Off)], disable: false })
        );
        assert_eq!(st.switched, vec![(5, OutletState::On), (9, OutletState::On)]);

        // Back above 108 but not above 108 + hysteresis: not cleared.
        assert_eq!(step(&rule, &mut st, &snapshot(108.5), NOON_MONDAY, at(20)), None);
        assert_eq!(st.phase, Phase::Fired { clear_since: None });
        assert_eq!(step(&rule, &mut st, &snapshot(115.0), NOON_MONDAY, at(21)), None);
        assert_eq!(step(&rule, &mut st, &snapshot(115.0), NOON_MONDAY, at(50)), None);
        let restored = step(&rule, &mut st, &snapshot(115.0), NOON_MONDAY, at(51));
        assert_eq!(restored, Some(Decision::Restore { commands: vec![(5, OutletAction::On), (9, OutletAction::On)] }));
        assert_eq!(st, RuleState::default());
    }

    #[test]
    fn a_dip_shorter_than_the_delay_does_nothing() {
        let rule = brownout();
        let mut st = RuleState::default();
        let t0 = Instant::now();
        step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, t0);
        assert_eq!(step(&rule, &mut st, &snapshot(118.0), NOON_MONDAY, t0 + Duration::from_secs(4)), None);
        assert_eq!(st.phase, Phase::Armed);
        assert_eq!(
            step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, t0 + Duration::from_secs(12)),
            None,
            "the delay starts again"
        );
    }

    #[test]
    fn stale_readings_are_missing_data_too() {
        let rule = brownout();
        let t0 = Instant::now();
        let mut st = RuleState::default();
        step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, t0);
        let mut stale = snapshot(100.0);
        stale.connection = Connection::Stale { since_ms: 0, reason: "no answer".into() };
        assert_eq!(step(&rule, &mut st, &stale, NOON_MONDAY, t0 + Duration::from_secs(30)), None);
        assert!(matches!(st.phase, Phase::Pending { .. }));
    }

    #[test]
    fn an_unreachable_pdu_neither_fires_nor_restores() {
        let rule = brownout();
        let t0 = Instant::now();
        let mut dead = snapshot(100.0);
        dead.connection = Connection::Unreachable { since_ms: 0, reason: "no answer".into() };
        let mut st = RuleState::default();
        step(&rule, &mut st, &snapshot(100.0), NOON_MONDAY, t0);
        assert_eq!(step(&rule, &mut st, &dead, NOON_MONDAY, t0 + Duration::from_secs(60)), None);
        assert!(matches!(st.phase, Phase::Pending { .. }), "waits, does not fire on missing data");

        let mut fired = RuleState { phase: Phase::Fired { clear_since: None }, switched: vec![(5, OutletState::On)] };
        assert_eq!(step(&rule, &mut fired, &dead, NOON_MONDAY, t0 + Duration::from_secs(600)), None);
        assert_eq!(fired.phase, Phase::Fired { clear_since: None }, "and does not restore on missing data");
    }

    #[test]
    fn time_between_wraps_midnight_and_days_of_week_gate_firing() {
        let rule = parse_rules(
            r#"[{"name":"night","condition":"time_between","threshold":"22:00-06:30","outlet":7,"action":"off",
                 "delay":0,"days_of_week":[0,1,2,3,4]}]"#,
            Some(10),
        )
        .unwrap()
        .remove(0);
        let s = snapshot(120.0);
        let t0 = Instant::now();
        let mut st = RuleState::default();
        let sat_23 = LocalTime { weekday: 5, minute: 23 * 60 };
        assert_eq!(step(&rule, &mut st, &s, sat_23, t0), None, "Saturday is not in days_of_week");
        let fri_23 = LocalTime { weekday: 4, minute: 23 * 60 };
        assert!(matches!(step(&rule, &mut st, &s, fri_23, t0), Some(Decision::Fire { .. })));
        // 02:00 next day (Saturday, inactive) is still inside the window: stays fired.
        assert_eq!(step(&rule, &mut st, &s, LocalTime { weekday: 5, minute: 120 }, t0), None);
        assert!(matches!(st.phase, Phase::Fired { .. }));
        // 06:30 Saturday: the window ends; a time rule restores even on an inactive day.
        let restored = step(&rule, &mut st, &s, LocalTime { weekday: 5, minute: 390 }, t0);
        assert_eq!(restored, Some(Decision::Restore { commands: vec![(7, OutletAction::On)] }));
    }

    #[test]
    fn ats_transfer_fires_ats_source_is_and_one_shots_ask_to_be_disabled() {
        let rule = parse_rules(
            r#"[{"name":"on-b","condition":"ats_source_is","threshold":2,"outlet":10,"action":"on","delay":0,
                 "schedule_type":"oneshot"}]"#,
            Some(10),
        )
        .unwrap()
        .remove(0);
        let t0 = Instant::now();
        let mut st = RuleState::default();
        assert_eq!(step(&rule, &mut st, &snapshot(120.0), NOON_MONDAY, t0), None);
        let on_b = snapshot(0.0); // source A dead: the ATS moved to B
        assert_eq!(on_b.ats.as_ref().unwrap().selected, Some(Source::B));
        assert_eq!(
            step(&rule, &mut st, &on_b, NOON_MONDAY, t0),
            Some(Decision::Fire { commands: vec![(10, OutletAction::On)], disable: true })
        );
    }

    #[test]
    fn restoring_puts_back_only_what_the_rule_changed_and_disabled_rules_switch_nothing() {
        let rule = brownout();
        let t0 = Instant::now();
        // Outlet 9 was already off before the rule fired: restoring leaves it off.
        let mut st = RuleState {
            phase: Phase::Fired { clear_since: None },
            switched: vec![(5, OutletState::On), (9, OutletState::Off)],
        };
        step(&rule, &mut st, &snapshot(118.0), NOON_MONDAY, t0);
        let restored = step(&rule, &mut st, &snapshot(118.0), NOON_MONDAY, t0 + Duration::from_secs(30));
        assert_eq!(restored, Some(Decision::Restore { commands: vec![(5, OutletAction::On)] }));

        let disabled = Rule { enabled: false, ..brownout() };
        let mut st = RuleState { phase: Phase::Fired { clear_since: None }, switched: vec![(5, OutletState::On)] };
        assert_eq!(step(&disabled, &mut st, &snapshot(118.0), NOON_MONDAY, t0 + Duration::from_secs(999)), None);
        assert_eq!(st.switched, vec![(5, OutletState::On)], "disabling a fired rule switches nothing by itself");
    }
}
