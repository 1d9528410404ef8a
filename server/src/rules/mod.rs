//! Automation rules: the rule state machine ([`engine`]), the per-PDU
//! runner that carries decisions out ([`runner`]), and local time in the
//! configured time zone.
//!
//! Owns: evaluation semantics and the rule files. The rule format and its
//! validation live in `app::rules`, shared with the browser's editor.

pub mod engine;
pub mod runner;

use engine::LocalTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The wall-clock time rules see at `at`, in `zone`: DST transitions are
/// the zone's (a spring-forward day has no 02:30; a fall-back day has 01:30
/// twice).
pub fn local_time(at: Timestamp, zone: &TimeZone) -> LocalTime {
    let local = zone.to_datetime(at);
    LocalTime {
        weekday: local.weekday().to_monday_zero_offset() as u8,
        minute: local.hour() as u16 * 60 + local.minute() as u16,
    }
}

/// A time zone by IANA name (`Europe/Berlin`), from the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))
}

use crate::bridge::Bridge;
use crate::config::Config;
use app::model::DeviceId;
use runner::RuleEngine;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every PDU's rule engine.
pub struct Automation {
    engines: std::sync::RwLock<Vec<Arc<RuleEngine>>>,
    zone: jiff::tz::TimeZone,
    data_dir: std::path::PathBuf,
}

impl Automation {
    /// An engine per PDU, subscribed to its snapshots: create this before
    /// the pollers start.
    pub fn new(config: &Config, bridge: &Arc<Bridge>) -> Arc<Self> {
        let automation = Self { engines: Default::default(), zone: config.zone(), data_dir: config.data_dir.clone() };
        let engines = bridge.devices().into_iter().map(|device| automation.engine_for(device, bridge)).collect();
        *automation.engines.write().unwrap_or_else(|e| e.into_inner()) = engines;
        Arc::new(automation)
    }

    /// A new engine for `device` (reads its rule files: call it off the
    /// runtime's threads once the bridge runs).
    pub fn engine_for(&self, device: Arc<crate::device::Device>, bridge: &Arc<Bridge>) -> Arc<RuleEngine> {
        let dc = device.config.clone();
        RuleEngine::new(
            device,
            bridge.clone(),
            dc.rules_file.clone(),
            self.data_dir.join(format!("rules-state-{}.json", dc.id)),
            self.zone.clone(),
            dc.protected.clone(),
        )
    }

    pub fn spawn(&self, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        self.engines().into_iter().map(|e| tokio::spawn(e.run(shutdown.clone()))).collect()
    }

    /// Every engine now.
    pub fn engines(&self) -> Vec<Arc<RuleEngine>> {
        self.engines.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The engine of the PDU `device_id`.
    pub fn engine(&self, device_id: &DeviceId) -> Option<Arc<RuleEngine>> {
        self.engines.read().unwrap_or_else(|e| e.into_inner()).iter().find(|e| e.device().id() == device_id).cloned()
    }

    /// Use `engine` for its PDU from now on (in place of the one it had).
    pub fn insert(&self, engine: Arc<RuleEngine>) {
        let mut all = self.engines.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|e| e.device().id() != engine.device().id());
        all.push(engine);
    }

    /// Forget the engine of `device_id` (its task is stopped by its owner).
    pub fn remove(&self, device_id: &DeviceId) {
        self.engines.write().unwrap_or_else(|e| e.into_inner()).retain(|e| e.device().id() != device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn spring_forward_skips_an_hour_of_wall_clock() {
        let berlin = zone("Europe/Berlin").unwrap();
        // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        assert_eq!(local_time(utc("2026-03-29T00:59:00Z"), &berlin), LocalTime { weekday: 6, minute: 60 + 59 });
        assert_eq!(local_time(utc("2026-03-29T01:00:00Z"), &berlin), LocalTime { weekday: 6, minute: 3 * 60 });
    }

    #[test]
    fn fall_back_repeats_an_hour_of_wall_clock() {
        let new_york = zone("America/New_York").unwrap();
        // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens twice.
        let first = local_time(utc("2026-11-01T05:30:00Z"), &new_york);
        let second = local_time(utc("2026-11-01T06:30:00Z"), &new_york);
        assert_eq!(first, LocalTime { weekday: 6, minute: 90 });
        assert_eq!(second, first);
    }

    /// Time rules through the zone: on the spring-forward day 02:30 does not
    /// exist and a rule "from 02:30" fires at 03:00; on the fall-back day a
    /// window 01:00-02:00 holds through both 01:xx hours.
    #[test]
    fn time_rules_across_dst_days() {
        use app::model::OutletAction;
        use engine::{step, Decision, RuleState};
        let rules = app::rules::parse_rules(
            r#"[{"name":"late","condition":"time_after","threshold":"02:30","outlet":1,"action":"off","delay":0},
                {"name":"window","condition":"time_between","threshold":"01:00-02:00","outlet":2,"action":"off","delay":0}]"#,
            Some(10),
        )
        .unwrap();
        let now = tokio::time::Instant::now();
        let s = crate::pdu::sim::SimModel::new(1, now).snapshot(&app::model::DeviceId::parse("t").unwrap(), now);

        let berlin = zone("Europe/Berlin").unwrap();
        let mut late = RuleState::default();
        assert_eq!(
            step(&rules[0], &mut late, &s, local_time(utc("2026-03-29T00:59:00Z"), &berlin), now),
            None,
            "01:59"
        );
        let at_three = step(&rules[0], &mut late, &s, local_time(utc("2026-03-29T01:00:00Z"), &berlin), now);
        assert_eq!(
            at_three,
            Some(Decision::Fire { commands: vec![(1, OutletAction::Off)], disable: false }),
            "03:00 CEST"
        );

        let new_york = zone("America/New_York").unwrap();
        let mut window = RuleState::default();
        assert!(step(&rules[1], &mut window, &s, local_time(utc("2026-11-01T05:10:00Z"), &new_york), now).is_some());
        // 06:10Z is 01:10 again (EST): still inside, nothing is restored.
        assert_eq!(step(&rules[1], &mut window, &s, local_time(utc("2026-11-01T06:10:00Z"), &new_york), now), None);
        assert!(matches!(window.phase, engine::Phase::Fired { .. }));
        let after = step(&rules[1], &mut window, &s, local_time(utc("2026-11-01T07:00:00Z"), &new_york), now);
        assert_eq!(after, Some(Decision::Restore { commands: vec![(2, OutletAction::On)] }), "02:00 EST ends it");
    }

    #[test]
    fn weekdays_count_from_monday() {
        let utc_zone = zone("UTC").unwrap();
        assert_eq!(local_time(utc("2026-11-23T12:00:00Z"), &utc_zone).weekday, 0, "a Monday");
        assert_eq!(local_time(utc("2026-11-29T12:00:00Z"), &utc_zone).weekday, 6, "a Sunday");
        assert!(zone("Mars/Olympus").is_err());
    }
}
