//! The topic tree of `shared/spec/mqtt.md`: which topics a snapshot becomes,
//! with which payloads, and when. Pure: no broker needed to test it.
//!
//! `{base}/{d}/status` goes out every poll; per-metric topics go out when
//! their value changes and all of them again every refresh interval; when
//! the PDU is unreachable only its availability (`offline`) and the status
//! (which says so) go out, never values that would look fresh. Energy
//! topics never go down by a little (meter noise, rounding): Home
//! Assistant's `total_increasing` would count that as a meter reset.

use app::model::{Connection, LoadState, PduSnapshot, PsuState, RangeStatus, Redundancy, Source};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// A decrease of an energy counter up to this much is noise and is held
/// back; a larger one is a real counter reset and is passed on.
const ENERGY_NOISE_KWH: f64 = 0.5;

/// The last will of the bridge `bridge_id`.
pub fn bridge_will(base: &str, bridge_id: &str) -> String {
    format!("{base}/bridge/{bridge_id}/status")
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
    /// QoS 1 when true, else 0.
    pub at_least_once: bool,
}

impl Outgoing {
    /// Retained at QoS 0: the state topics.
    pub fn retained(topic: String, payload: String) -> Self {
        Self { topic, payload, retain: true, at_least_once: false }
    }
}

/// Topic names for one PDU.
#[derive(Clone, Debug)]
pub struct Topics {
    pub device: String,
    /// The bridge's last will (`online`/`offline`): what Home Assistant
    /// watches to know the bridge itself is up.
    pub bridge_will: String,
}

impl Topics {
    /// A PDU whose bridge's last will is its own `bridge/status`.
    pub fn new(base: &str, device_id: &str) -> Self {
        let device = format!("{base}/{device_id}");
        Self { bridge_will: format!("{device}/bridge/status"), device }
    }

    /// A PDU of the bridge `bridge_id`, whose one connection has its last
    /// will on `{base}/bridge/{bridge_id}/status`.
    pub fn in_bridge(base: &str, device_id: &str, bridge_id: &str) -> Self {
        Self { device: format!("{base}/{device_id}"), bridge_will: bridge_will(base, bridge_id) }
    }

    pub fn of(&self, rest: &str) -> String {
        format!("{}/{rest}", self.device)
    }

    pub fn bridge_status(&self) -> String {
        self.of("bridge/status")
    }

    pub fn availability(&self) -> String {
        self.of("availability")
    }

    pub fn commands(&self) -> String {
        self.of("outlet/+/command")
    }

    /// `automation/status`: every rule with its live state (retained); `[]`
    /// when the PDU has no rules.
    pub fn automation_status(&self, rules: &serde_json::Value) -> Outgoing {
        Outgoing::retained(self.of("automation/status"), rules.to_string())
    }

    /// `automation/event`: `{rule, type, details, ts}`, not retained, QoS 1.
    pub fn automation_event(&self, rule: &str, kind: &str, details: &str, ts: f64) -> Outgoing {
        let payload = json!({"rule": rule, "type": kind, "details": details, "ts": ts}).to_string();
        Outgoing { topic: self.of("automation/event"), payload, retain: false, at_least_once: true }
    }
}

/// `{base}/{d}/outlet/{n}/command`: the device id and outlet of a command
/// topic, or `None` for any other topic (`…/command/response` included).
/// The one definition of what a command is: the link acts on these, the
/// broker's front door keeps the read-only account away from them.
pub fn command_target<'a>(base: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(base)?.strip_prefix('/')?;
    let mut levels = rest.split('/');
    match (levels.next(), levels.next(), levels.next(), levels.next(), levels.next()) {
        (Some(device), Some("outlet"), Some(outlet), Some("command"), None) => Some((device, outlet)),
        _ => None,
    }
}

fn num(v: Option<f64>) -> Option<String> {
    v.filter(|v| v.is_finite()).map(|v| {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

fn letter(s: Option<Source>) -> Option<String> {
    s.map(|s| s.letter().to_owned())
}

fn voltage_status(s: Option<RangeStatus>) -> Option<String> {
    s.map(|s| match s {
        RangeStatus::Normal => "normal",
        RangeStatus::Over => "overVoltage",
        RangeStatus::Under => "underVoltage",
    })
    .map(str::to_owned)
}

fn load_state(s: Option<LoadState>) -> Option<String> {
    s.map(|s| match s {
        LoadState::Normal => "normal",
        LoadState::Low => "low",
        LoadState::NearOverload => "nearOverload",
        LoadState::Overload => "overload",
    })
    .map(str::to_owned)
}

/// Every per-metric topic of a snapshot (after `{base}/{d}/`), with its
/// plain payload. Absent readings have no topic.
pub fn metrics(s: &PduSnapshot) -> Vec<(String, String)> {
    let mut out: Vec<(String, Option<String>)> =
        vec![("input/voltage".into(), num(s.input.voltage)), ("input/frequency".into(), num(s.input.frequency))];
    if let Some(ats) = &s.ats {
        for r in &ats.sources {
            let l = r.source.letter().to_lowercase();
            out.push((format!("source/{l}/voltage"), num(r.voltage)));
            out.push((format!("source/{l}/frequency"), num(r.frequency)));
            out.push((format!("source/{l}/voltage_status"), voltage_status(r.voltage_status)));
        }
        out.push(("ats/current_source".into(), letter(ats.selected)));
        out.push(("ats/preferred_source".into(), letter(ats.preferred)));
        let redundancy = ats.redundancy.map(|r| if r == Redundancy::Ok { "ok" } else { "lost" }.to_owned());
        out.push(("ats/redundancy".into(), redundancy));
    }
    for b in &s.banks {
        let n = b.number;
        out.push((format!("bank/{n}/current"), num(b.current)));
        out.push((format!("bank/{n}/voltage"), num(b.voltage)));
        out.push((format!("bank/{n}/power"), num(b.power)));
        out.push((format!("bank/{n}/apparent_power"), num(b.apparent_power)));
        out.push((format!("bank/{n}/power_factor"), num(b.power_factor)));
        out.push((format!("bank/{n}/energy"), num(b.energy_kwh)));
        out.push((format!("bank/{n}/load_state"), load_state(b.load_state)));
    }
    for o in &s.outlets {
        let n = o.number;
        out.push((format!("outlet/{n}/state"), Some(o.state.label().to_owned())));
        out.push((format!("outlet/{n}/name"), Some(o.name.clone())));
        out.push((format!("outlet/{n}/current"), num(o.current)));
        out.push((format!("outlet/{n}/power"), num(o.power)));
        out.push((format!("outlet/{n}/energy"), num(o.energy_kwh)));
        out.push((format!("outlet/{n}/peak_power"), num(o.peak_power)));
    }
    // The sensors the PDU has; nothing for those it lacks.
    if let Some(e) = &s.sensors.environment {
        out.push(("environment/temperature".into(), num(e.temperature_c)));
        out.push(("environment/temperature_f".into(), num(e.temperature_f)));
        out.push(("environment/humidity".into(), num(e.humidity)));
        for c in &e.contacts {
            let state = c.open.map(|open| if open { "open" } else { "closed" }.to_owned());
            out.push((format!("environment/contact/{}", c.number), state));
        }
    }
    for p in &s.sensors.power_supplies {
        let state = match p.state {
            PsuState::Ok => "ok",
            PsuState::Failed => "failed",
            PsuState::NotPresent => "not_present",
        };
        out.push((format!("power_supply/{}", p.number), Some(state.to_owned())));
    }
    out.into_iter().filter_map(|(t, v)| v.map(|v| (t, v))).collect()
}

/// `{base}/{d}/device`: who the PDU is.
pub fn device_json(s: &PduSnapshot) -> String {
    let i = &s.identity;
    json!({
        "model": i.model, "serial": i.serial, "firmware": i.firmware, "hardware_rev": i.hardware_rev,
        "name": i.name, "location": i.location, "outlet_count": i.outlet_count,
        "bank_count": i.bank_count, "phase_count": i.phase_count,
    })
    .to_string()
}

/// `{base}/{d}/status`: the snapshot plus `ts` in unix seconds.
pub fn status_json(s: &PduSnapshot) -> String {
    let mut value = serde_json::to_value(s).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("ts".into(), json!(s.ts_ms as f64 / 1000.0));
    }
    value.to_string()
}

/// Turns snapshots into messages for one PDU.
pub struct Publisher {
    topics: Topics,
    refresh: Duration,
    /// What each per-metric topic last carried.
    last: HashMap<String, String>,
    last_full: Option<Instant>,
    available: Option<bool>,
}

impl Publisher {
    pub fn new(topics: Topics, refresh: Duration) -> Self {
        Self { topics, refresh, last: HashMap::new(), last_full: None, available: None }
    }

    /// Empty retained messages for every retained topic of this PDU, so a
    /// removed PDU leaves nothing behind on the broker.
    pub fn clearing(&self) -> Vec<Outgoing> {
        let fixed = ["status", "availability", "device", "automation/status", "bridge/status"];
        fixed
            .iter()
            .map(|rest| rest.to_string())
            .chain(self.last.keys().cloned())
            .map(|rest| Outgoing {
                topic: self.topics.of(&rest),
                payload: String::new(),
                retain: true,
                at_least_once: true,
            })
            .collect()
    }

    /// Forget what was sent: the next snapshot republishes everything (after
    /// a reconnect, or when Home Assistant comes online).
    pub fn republish_all(&mut self) {
        self.last.clear();
        self.last_full = None;
        self.available = None;
    }

    pub fn messages(&mut self, s: &PduSnapshot, now: Instant) -> Vec<Outgoing> {
        let mut out = vec![Outgoing::retained(self.topics.of("status"), status_json(s))];
        let available = !matches!(s.connection, Connection::Unreachable { .. });
        if self.available != Some(available) {
            out.push(Outgoing {
                topic: self.topics.availability(),
                payload: if available { "online" } else { "offline" }.into(),
                retain: true,
                at_least_once: true,
            });
            self.available = Some(available);
        }
        if !available {
            return out;
        }
        let full = self.last_full.is_none_or(|at| now.duration_since(at) >= self.refresh);
        if full {
            self.last_full = Some(now);
            out.push(Outgoing::retained(self.topics.of("device"), device_json(s)));
        }
        for (rest, mut payload) in metrics(s) {
            let previous = self.last.get(&rest);
            if rest.ends_with("/energy") {
                if let (Some(prev), Ok(new)) = (previous.and_then(|p| p.parse::<f64>().ok()), payload.parse::<f64>()) {
                    if new < prev && prev - new <= ENERGY_NOISE_KWH {
                        payload.clone_from(previous.expect("parsed above"));
                    }
                }
            }
            if full || previous != Some(&payload) {
                out.push(Outgoing::retained(self.topics.of(&rest), payload.clone()));
                self.last.insert(rest, payload);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;
    use app::model::DeviceId;

    #[test]
    fn only_outlet_command_topics_under_the_base_are_commands() {
        assert_eq!(command_target("pdu", "pdu/rack1/outlet/3/command"), Some(("rack1", "3")));
        assert_eq!(command_target("site/pdu", "site/pdu/rack1/outlet/x/command"), Some(("rack1", "x")));
        for topic in [
            "pdu/rack1/outlet/3/command/response",
            "pdu/rack1/outlet/3/state",
            "pdux/rack1/outlet/3/command",
            "other/rack1/outlet/3/command",
            "pdu/outlet/3/command",
            "homeassistant/status",
        ] {
            assert_eq!(command_target("pdu", topic), None, "{topic}");
        }
    }

    fn snapshot(sim: &mut SimModel, at: Instant) -> PduSnapshot {
        let mut s = sim.snapshot(&DeviceId::parse("pdu44001").unwrap(), at);
        s.ts_ms = 1;
        s
    }

    fn find<'a>(out: &'a [Outgoing], topic: &str) -> Option<&'a Outgoing> {
        out.iter().find(|m| m.topic == topic)
    }

    #[test]
    fn the_first_snapshot_publishes_the_whole_tree_with_plain_payloads() {
        let start = Instant::now();
        let mut sim = SimModel::new(1, start);
        let mut p = Publisher::new(Topics::new("pdu", "pdu44001"), Duration::from_secs(60));
        let out = p.messages(&snapshot(&mut sim, start), start);
        let get = |t: &str| find(&out, t).unwrap_or_else(|| panic!("no {t}")).payload.clone();
        assert_eq!(get("pdu/pdu44001/availability"), "online");
        assert_eq!(get("pdu/pdu44001/outlet/4/name"), "Server-1");
        assert_eq!(get("pdu/pdu44001/outlet/10/state"), "off");
        assert_eq!(get("pdu/pdu44001/outlet/10/power"), "0");
        assert_eq!(get("pdu/pdu44001/ats/current_source"), "A");
        assert_eq!(get("pdu/pdu44001/ats/redundancy"), "ok");
        assert_eq!(get("pdu/pdu44001/source/b/voltage_status"), "normal");
        assert_eq!(get("pdu/pdu44001/bank/1/load_state"), "normal");
        let volts: f64 = get("pdu/pdu44001/source/a/voltage").parse().unwrap();
        assert!((100.0..140.0).contains(&volts));
        let status: serde_json::Value = serde_json::from_str(&get("pdu/pdu44001/status")).unwrap();
        assert_eq!(status["ts"], 0.001);
        let device: serde_json::Value = serde_json::from_str(&get("pdu/pdu44001/device")).unwrap();
        assert_eq!(device["outlet_count"], 10);
        assert!(out.iter().all(|m| m.retain));
        assert!(find(&out, "pdu/pdu44001/availability").unwrap().at_least_once);
    }

    #[test]
    fn unchanged_values_wait_for_the_refresh_but_status_goes_every_poll() {
        let start = Instant::now();
        let mut sim = SimModel::new(1, start);
        let mut p = Publisher::new(Topics::new("pdu", "d"), Duration::from_secs(60));
        let s = snapshot(&mut sim, start);
        p.messages(&s, start);
        let again = p.messages(&s, start + Duration::from_secs(1));
        assert_eq!(again.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(), vec!["pdu/d/status"]);
        let mut changed = s.clone();
        changed.outlets[2].state = app::model::OutletState::Off;
        let out = p.messages(&changed, start + Duration::from_secs(2));
        assert_eq!(find(&out, "pdu/d/outlet/3/state").unwrap().payload, "off");
        assert!(find(&out, "pdu/d/outlet/4/state").is_none());
        let refreshed = p.messages(&changed, start + Duration::from_secs(61));
        assert!(find(&refreshed, "pdu/d/outlet/4/state").is_some(), "everything again after the refresh interval");
    }

    #[test]
    fn an_unreachable_pdu_goes_offline_and_publishes_no_values() {
        let start = Instant::now();
        let mut sim = SimModel::new(1, start);
        let mut p = Publisher::new(Topics::new("pdu", "d"), Duration::from_secs(60));
        let mut s = snapshot(&mut sim, start);
        p.messages(&s, start);
        s.connection = Connection::Unreachable { since_ms: 0, reason: "no answer".into() };
        let out = p.messages(&s, start + Duration::from_secs(120));
        let topics: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(topics, vec!["pdu/d/status", "pdu/d/availability"]);
        assert_eq!(out[1].payload, "offline");
    }

    #[test]
    fn energy_never_goes_down_by_noise_but_a_real_reset_passes() {
        let start = Instant::now();
        let mut sim = SimModel::new(1, start);
        let mut p = Publisher::new(Topics::new("pdu", "d"), Duration::from_secs(60));
        let mut s = snapshot(&mut sim, start);
        s.outlets[0].energy_kwh = Some(10.3);
        p.messages(&s, start);
        s.outlets[0].energy_kwh = Some(10.2);
        let out = p.messages(&s, start + Duration::from_secs(61));
        assert_eq!(find(&out, "pdu/d/outlet/1/energy").unwrap().payload, "10.3");
        s.outlets[0].energy_kwh = Some(0.0);
        let out = p.messages(&s, start + Duration::from_secs(62));
        assert_eq!(find(&out, "pdu/d/outlet/1/energy").unwrap().payload, "0");
    }
}
