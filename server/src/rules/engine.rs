//! The rule state machine: one rule, one snapshot, one moment in, at most
//! one decision out. Pure, so every semantic of `shared/spec/rules.md` is
//! tested without a PDU or a clock.
//!
//! A rule is Armed, Pending (its condition holds, the `delay` is running) or
//! Fired (it switched outlets, or a `notify` rule raised its alarm;
//! `restore_delay` runs once the condition has cleared, with hysteresis).
//! Missing data — an unreachable PDU, an absent reading — is neither true
//! nor false: the rule waits, nothing switches, no alarm comes or goes.
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
    /// A `notify` rule's condition held for `delay`: raise its alarm,
    /// saying in `details` what held. Nothing is switched.
    Raise { details: String },
    /// A `notify` rule's condition stayed clear for `restore_delay` (its
    /// `restore` is ignored: the alarm always clears). A one-shot rule must
    /// then be disabled: it raised its one alarm and said when it was over.
    Clear { details: String, disable: bool },
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

/// The command a switching action sends (`None`: `notify`, which sends none).
fn outlet_action(action: RuleAction) -> Option<OutletAction> {
    match action {
        RuleAction::On => Some(OutletAction::On),
        RuleAction::Off => Some(OutletAction::Off),
        RuleAction::Reboot => Some(OutletAction::Reboot),
        RuleAction::Notify => None,
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
            Some(true) if now.duration_since(since) >= secs(rule.delay) => Some(fire(rule, limit, state, s, local)),
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
                if !rule.action.switches() {
                    let details = match rule.restore_delay {
                        d if d > 0.0 => format!("the condition has been clear for {d} s"),
                        _ => "the condition has cleared".to_owned(),
                    };
                    return Some(Decision::Clear { details, disable: rule.schedule_type == ScheduleType::Oneshot });
                }
                if !rule.restore || rule.action == RuleAction::Reboot {
                    return None;
                }
                let commands: Vec<(u32, OutletAction)> = switched
                    .into_iter()
                    .map(|(n, before)| {
                        (n, if before == OutletState::On { OutletAction::On } else { OutletAction::Off })
                    })
                    .filter(|(_, back)| Some(*back) != outlet_action(rule.action))
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

fn fire(rule: &Rule, limit: Limit, state: &mut RuleState, s: &PduSnapshot, local: LocalTime) -> Decision {
    let Some(action) = outlet_action(rule.action) else {
        state.switched = Vec::new();
        state.phase = Phase::Fired { clear_since: None };
        return Decision::Raise { details: what_held(rule, limit, s, local) };
    };
    let outlets = rule.outlet.list();
    state.switched = outlets.iter().filter_map(|&n| s.outlet(n).map(|o| (n, o.state))).collect();
    state.phase = Phase::Fired { clear_since: None };
    Decision::Fire {
        commands: outlets.into_iter().map(|n| (n, action)).collect(),
        disable: rule.schedule_type == ScheduleType::Oneshot,
    }
}

/// What held, in words, with the reading that made it hold: "temperature
/// 41.2 °C above 35 for 60 s". Called when the rule fires, so the readings
/// its condition watched are there.
pub fn what_held(rule: &Rule, limit: Limit, s: &PduSnapshot, local: LocalTime) -> String {
    let reading = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.1} {unit}")).unwrap_or_else(|| "unknown".into());
    let hhmm = |m: Minute| format!("{:02}:{:02}", m / 60, m % 60);
    let ats = s.ats.as_ref();
    let env = s.sensors.environment.as_ref();
    let held = match (rule.condition, limit) {
        (Condition::VoltageBelow | Condition::VoltageAbove, Limit::Value(t)) => {
            let what = match rule.input {
                0 => "input voltage",
                1 => "source A voltage",
                _ => "source B voltage",
            };
            let side = if rule.condition == Condition::VoltageBelow { "below" } else { "above" };
            format!("{what} {} {side} {t}", reading(watched_voltage(rule, s), "V"))
        }
        (Condition::LoadAbove, Limit::Value(t)) => {
            let what = match rule.input {
                0 => "PDU load".to_owned(),
                bank => format!("bank {bank} load"),
            };
            format!("{what} {} above {t}", reading(watched_current(rule, s), "A"))
        }
        (Condition::AtsSourceIs, Limit::Source(n)) => {
            format!("the ATS on source {}", if n == 1 { "A" } else { "B" })
        }
        (Condition::AtsPreferredLost, _) => {
            let letter = |src: Option<Source>| src.map(Source::letter).unwrap_or("?");
            let (selected, preferred) = (letter(ats.and_then(|a| a.selected)), letter(ats.and_then(|a| a.preferred)));
            format!("the ATS on source {selected}, not on its preferred source {preferred}")
        }
        (Condition::RedundancyLost, _) => "redundancy lost".to_owned(),
        (Condition::TimeAfter, Limit::At(t)) => format!("time {} at or after {}", hhmm(local.minute), hhmm(t)),
        (Condition::TimeBefore, Limit::At(t)) => format!("time {} before {}", hhmm(local.minute), hhmm(t)),
        (Condition::TimeBetween, Limit::Between(a, b)) => {
            format!("time {} between {} and {}", hhmm(local.minute), hhmm(a), hhmm(b))
        }
        (Condition::TemperatureAbove, Limit::Value(t)) => {
            format!("temperature {} above {t}", reading(env.and_then(|e| e.temperature_c), "°C"))
        }
        (Condition::HumidityAbove, Limit::Value(t)) => {
            format!("humidity {} above {t}", reading(env.and_then(|e| e.humidity), "%"))
        }
        (Condition::ContactOpen, Limit::Value(n)) => {
            let contact = env.and_then(|e| e.contacts.iter().find(|c| f64::from(c.number) == n));
            match contact.and_then(|c| c.name.as_deref()) {
                Some(name) => format!("probe contact {n} ({name}) open"),
                None => format!("probe contact {n} open"),
            }
        }
        (Condition::PsuFailed, Limit::Value(0.0)) => {
            let failed: Vec<String> = s
                .sensors
                .power_supplies
                .iter()
                .filter(|p| p.state == PsuState::Failed)
                .map(|p| p.number.to_string())
                .collect();
            match failed.len() {
                1 => format!("power supply {} failed", failed[0]),
                _ => format!("power supplies {} failed", failed.join(", ")),
            }
        }
        (Condition::PsuFailed, Limit::Value(n)) => format!("power supply {n} failed"),
        (condition, _) => app::rules::condition_key(condition).replace('_', " "),
    };
    match rule.delay {
        d if d > 0.0 => format!("{held} for {d} s"),
        _ => held,
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

    fn notify(json: &str) -> Rule {
        parse_rules(&format!("[{json}]"), Some(10)).unwrap().remove(0)
    }

    /// The simulated PDU with its probe at `temp_c`.
    fn probe_at(temp_c: f64) -> PduSnapshot {
        let now = Instant::now();
        let mut sim = SimModel::new(1, now).with_probe();
        sim.pin_probe(Some(temp_c), None);
        sim.snapshot(&DeviceId::parse("t").unwrap(), now)
    }

    const HOT: &str = r#"{"name":"hot","condition":"temperature_above","threshold":35,"action":"notify",
        "delay":60,"restore_delay":30,"hysteresis":1}"#;

    #[tokio::test(start_paused = true)]
    async fn a_notify_rule_raises_after_the_delay_and_clears_after_the_restore_delay_switching_nothing() {
        let rule = notify(HOT);
        let mut st = RuleState::default();
        let step_at = |st: &mut RuleState, s: &PduSnapshot| step(&rule, st, s, NOON_MONDAY, Instant::now());
        let t0 = Instant::now();
        assert_eq!(step_at(&mut st, &probe_at(41.2)), None);
        assert_eq!(next_deadline(&rule, &st), Some(t0 + Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(step_at(&mut st, &probe_at(41.2)), None, "not before the delay");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            step_at(&mut st, &probe_at(41.2)),
            Some(Decision::Raise { details: "temperature 41.2 °C above 35 for 60 s".into() })
        );
        assert_eq!(st, RuleState { phase: Phase::Fired { clear_since: None }, switched: vec![] }, "nothing switched");
        assert_eq!(step_at(&mut st, &probe_at(41.2)), None, "raised once");

        // Below 35 but not below 35 - hysteresis: not cleared.
        assert_eq!(step_at(&mut st, &probe_at(34.5)), None);
        assert_eq!(st.phase, Phase::Fired { clear_since: None });
        assert_eq!(step_at(&mut st, &probe_at(30.0)), None);
        let cleared_at = Instant::now();
        assert_eq!(next_deadline(&rule, &st), Some(cleared_at + Duration::from_secs(30)));
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(step_at(&mut st, &probe_at(30.0)), None, "not before the restore delay");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            step_at(&mut st, &probe_at(30.0)),
            Some(Decision::Clear { details: "the condition has been clear for 30 s".into(), disable: false })
        );
        assert_eq!(st, RuleState::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_notify_rule_clears_whatever_restore_says_and_a_one_shot_disables_itself_only_then() {
        let rule = notify(
            r#"{"name":"psu","condition":"psu_failed","threshold":0,"action":"notify","delay":0,"restore":false,
                "schedule_type":"oneshot"}"#,
        );
        let now = Instant::now();
        let mut sim = SimModel::new(1, now);
        sim.set_psu_failed(2, true);
        let failed = sim.snapshot(&DeviceId::parse("t").unwrap(), now);
        let mut st = RuleState::default();
        assert_eq!(
            step(&rule, &mut st, &failed, NOON_MONDAY, now),
            Some(Decision::Raise { details: "power supply 2 failed".into() }),
            "no disable yet: the one-shot still has to say when it is over"
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            step(&rule, &mut st, &snapshot(120.0), NOON_MONDAY, Instant::now()),
            Some(Decision::Clear { details: "the condition has cleared".into(), disable: true }),
            "restore: false is ignored"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_notify_dip_shorter_than_the_delay_and_missing_data_do_nothing() {
        let rule = notify(HOT);
        let mut st = RuleState::default();
        assert_eq!(step(&rule, &mut st, &probe_at(41.2), NOON_MONDAY, Instant::now()), None);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(step(&rule, &mut st, &probe_at(25.0), NOON_MONDAY, Instant::now()), None);
        assert_eq!(st.phase, Phase::Armed, "the dip ended before the delay");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(step(&rule, &mut st, &probe_at(41.2), NOON_MONDAY, Instant::now()), None, "the delay starts again");
        assert!(matches!(st.phase, Phase::Pending { .. }));

        // Fired, then the PDU stops answering with the probe cool: no clear on missing data.
        let mut fired = RuleState { phase: Phase::Fired { clear_since: None }, switched: vec![] };
        let mut dead = probe_at(20.0);
        dead.connection = Connection::Unreachable { since_ms: 0, reason: "no answer".into() };
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(step(&rule, &mut fired, &dead, NOON_MONDAY, Instant::now()), None);
        assert_eq!(fired.phase, Phase::Fired { clear_since: None });
        // And a PDU without the probe never raises it.
        let mut st = RuleState::default();
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(step(&rule, &mut st, &snapshot(120.0), NOON_MONDAY, Instant::now()), None);
        assert_eq!(st.phase, Phase::Armed);
    }

    #[test]
    fn what_held_says_the_reading_and_the_limit() {
        let at = |json: &str, s: &PduSnapshot, local: LocalTime| {
            let rule = notify(json);
            what_held(&rule, rule.limit().unwrap(), s, local)
        };
        assert_eq!(
            at(
                r#"{"name":"low","condition":"voltage_below","input":1,"threshold":108,"action":"notify","delay":10}"#,
                &snapshot(100.0),
                NOON_MONDAY
            ),
            "source A voltage 100.0 V below 108 for 10 s"
        );
        let on_b = snapshot(0.0);
        assert_eq!(
            at(
                r#"{"name":"b","condition":"ats_source_is","threshold":2,"action":"notify","delay":0}"#,
                &on_b,
                NOON_MONDAY
            ),
            "the ATS on source B"
        );
        assert_eq!(
            at(
                r#"{"name":"p","condition":"ats_preferred_lost","threshold":0,"action":"notify","delay":0}"#,
                &on_b,
                NOON_MONDAY
            ),
            "the ATS on source B, not on its preferred source A"
        );
        let late = LocalTime { weekday: 4, minute: 23 * 60 + 5 };
        assert_eq!(
            at(
                r#"{"name":"n","condition":"time_between","threshold":"22:00-06:30","action":"notify","delay":0}"#,
                &on_b,
                late
            ),
            "time 23:05 between 22:00 and 06:30"
        );
        let now = Instant::now();
        let mut sim = SimModel::new(1, now).with_probe();
        sim.set_contact_open(1, true);
        let open = sim.snapshot(&DeviceId::parse("t").unwrap(), now);
        assert_eq!(
            at(
                r#"{"name":"door","condition":"contact_open","threshold":1,"action":"notify","delay":2.5}"#,
                &open,
                NOON_MONDAY
            ),
            "probe contact 1 (Rack door) open for 2.5 s"
        );
    }
}
