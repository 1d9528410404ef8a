//! Home Assistant MQTT discovery: one HA device per PDU, keyed by the PDU's
//! serial (so a new device id or IP never orphans entities), a switch per
//! outlet and sensors for every reading, each available only while both the
//! bridge and the PDU are; and two entities that must show while the PDU is
//! away: the bridge's connectivity and the PDU's "Alarm" problem sensor
//! (whose alarms include "PDU unreachable").

use super::topics::{Outgoing, Topics};
use app::model::PduSnapshot;
use serde_json::{json, Value};

/// Discovery needs the serial: without one there is no stable identity.
pub fn node_id(s: &PduSnapshot) -> Option<String> {
    node_of_serial(s.identity.serial.as_deref()?)
}

/// The node id of the PDU with `serial`.
pub fn node_of_serial(serial: &str) -> Option<String> {
    let id: String =
        serial.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    (!id.is_empty()).then(|| format!("pdu_{id}"))
}

struct Sensor {
    key: String,
    name: String,
    topic: String,
    unit: Option<&'static str>,
    device_class: Option<&'static str>,
    state_class: Option<&'static str>,
    diagnostic: bool,
    enabled: bool,
}

fn sensor(key: String, name: String, topic: String) -> Sensor {
    Sensor { key, name, topic, unit: None, device_class: None, state_class: None, diagnostic: false, enabled: true }
}

impl Sensor {
    fn measure(mut self, unit: &'static str, class: &'static str) -> Self {
        self.unit = Some(unit);
        self.device_class = Some(class);
        self.state_class = Some("measurement");
        self
    }

    fn energy(mut self) -> Self {
        self.unit = Some("kWh");
        self.device_class = Some("energy");
        self.state_class = Some("total_increasing");
        self
    }

    fn diagnostic(mut self, enabled: bool) -> Self {
        self.diagnostic = true;
        self.enabled = enabled;
        self
    }
}

/// Every discovery message for the PDU: `(config topic, payload)`.
/// What the announced entities are named after: the device's name, the
/// outlets' and contacts' names, and which sensors there are. When it
/// changes, discovery is sent again.
pub fn names_of(s: &PduSnapshot) -> String {
    let mut names = s.identity.name.clone().unwrap_or_else(|| s.label.clone());
    for o in &s.outlets {
        names.push('\n');
        names.push_str(&o.name);
    }
    if let Some(e) = &s.sensors.environment {
        for c in &e.contacts {
            names.push_str(&format!("\ncontact {}: {:?}", c.number, c.name));
        }
    }
    names.push_str(&format!("\npower supplies: {}", s.sensors.power_supplies.len()));
    names
}

pub fn messages(prefix: &str, topics: &Topics, s: &PduSnapshot, dashboard_url: &str) -> Vec<Outgoing> {
    let Some(node) = node_id(s) else { return Vec::new() };
    let i = &s.identity;
    let device = json!({
        "identifiers": [node],
        "manufacturer": "CyberPower",
        "model": i.model,
        "serial_number": i.serial,
        "sw_version": i.firmware,
        "hw_version": i.hardware_rev,
        "name": i.name.clone().unwrap_or_else(|| s.label.clone()),
        "configuration_url": dashboard_url,
    });
    let origin = json!({"name": "pdu-bridge", "sw_version": env!("CARGO_PKG_VERSION")});
    let availability = json!([
        {"topic": topics.bridge_will, "payload_available": "online", "payload_not_available": "offline"},
        {"topic": topics.availability(), "payload_available": "online", "payload_not_available": "offline"},
    ]);
    let base = |name: String, unique: String| -> Value {
        json!({
            "name": name,
            "unique_id": unique,
            "object_id": unique,
            "device": device,
            "origin": origin,
            "availability": availability,
            "availability_mode": "all",
        })
    };
    let mut out = Vec::new();
    let mut push = |component: &str, key: &str, payload: Value| {
        out.push(Outgoing {
            topic: format!("{prefix}/{component}/{node}/{key}/config"),
            payload: payload.to_string(),
            retain: true,
            at_least_once: true,
        });
    };

    for o in &s.outlets {
        let n = o.number;
        // The outlet's name shows in Home Assistant; a rename announces again.
        let name = if o.name.is_empty() || o.name == format!("Outlet {n}") {
            format!("Outlet {n}")
        } else {
            format!("Outlet {n} {}", o.name)
        };
        let mut p = base(name, format!("{node}_outlet_{n}"));
        p["device_class"] = json!("outlet");
        p["state_topic"] = json!(topics.of(&format!("outlet/{n}/state")));
        p["command_topic"] = json!(topics.of(&format!("outlet/{n}/command")));
        p["payload_on"] = json!("on");
        p["payload_off"] = json!("off");
        p["state_on"] = json!("on");
        p["state_off"] = json!("off");
        push("switch", &format!("outlet_{n}"), p);
    }

    let mut sensors = vec![
        sensor("input_voltage".into(), "Input voltage".into(), topics.of("input/voltage")).measure("V", "voltage"),
        sensor("input_frequency".into(), "Input frequency".into(), topics.of("input/frequency"))
            .measure("Hz", "frequency"),
    ];
    if s.ats.is_some() {
        for l in ["a", "b"] {
            let up = l.to_uppercase();
            sensors.push(
                sensor(
                    format!("source_{l}_voltage"),
                    format!("Source {up} voltage"),
                    topics.of(&format!("source/{l}/voltage")),
                )
                .measure("V", "voltage"),
            );
            sensors.push(
                sensor(
                    format!("source_{l}_frequency"),
                    format!("Source {up} frequency"),
                    topics.of(&format!("source/{l}/frequency")),
                )
                .measure("Hz", "frequency"),
            );
        }
        sensors.push(sensor("ats_current_source".into(), "ATS active source".into(), topics.of("ats/current_source")));
        sensors.push(sensor("ats_redundancy".into(), "ATS redundancy".into(), topics.of("ats/redundancy")));
    }
    for b in &s.banks {
        let n = b.number;
        let t = |m: &str| topics.of(&format!("bank/{n}/{m}"));
        sensors.push(
            sensor(format!("bank_{n}_current"), format!("Bank {n} current"), t("current")).measure("A", "current"),
        );
        sensors.push(
            sensor(format!("bank_{n}_voltage"), format!("Bank {n} voltage"), t("voltage")).measure("V", "voltage"),
        );
        sensors.push(sensor(format!("bank_{n}_power"), format!("Bank {n} power"), t("power")).measure("W", "power"));
        sensors.push(
            sensor(format!("bank_{n}_apparent_power"), format!("Bank {n} apparent power"), t("apparent_power"))
                .measure("VA", "apparent_power"),
        );
        let mut pf = sensor(format!("bank_{n}_power_factor"), format!("Bank {n} power factor"), t("power_factor"))
            .diagnostic(false);
        pf.device_class = Some("power_factor");
        pf.state_class = Some("measurement");
        sensors.push(pf);
        sensors.push(sensor(format!("bank_{n}_energy"), format!("Bank {n} energy"), t("energy")).energy());
        sensors.push(sensor(format!("bank_{n}_load_state"), format!("Bank {n} load state"), t("load_state")));
    }
    for o in &s.outlets {
        let n = o.number;
        let t = |m: &str| topics.of(&format!("outlet/{n}/{m}"));
        sensors.push(
            sensor(format!("outlet_{n}_current"), format!("Outlet {n} current"), t("current")).measure("A", "current"),
        );
        sensors
            .push(sensor(format!("outlet_{n}_power"), format!("Outlet {n} power"), t("power")).measure("W", "power"));
        sensors.push(sensor(format!("outlet_{n}_energy"), format!("Outlet {n} energy"), t("energy")).energy());
    }
    if let Some(e) = &s.sensors.environment {
        sensors.push(
            sensor("temperature".into(), "Temperature".into(), topics.of("environment/temperature"))
                .measure("°C", "temperature"),
        );
        sensors.push(
            sensor("humidity".into(), "Humidity".into(), topics.of("environment/humidity")).measure("%", "humidity"),
        );
        for c in &e.contacts {
            let n = c.number;
            let name = c.name.clone().unwrap_or_else(|| format!("Contact {n}"));
            sensors.push(sensor(format!("contact_{n}"), name, topics.of(&format!("environment/contact/{n}"))));
        }
    }
    for p in &s.sensors.power_supplies {
        let n = p.number;
        sensors.push(
            sensor(format!("power_supply_{n}"), format!("Power supply {n}"), topics.of(&format!("power_supply/{n}")))
                .diagnostic(true),
        );
    }
    for sn in sensors {
        let mut p = base(sn.name, format!("{node}_{}", sn.key));
        p["state_topic"] = json!(sn.topic);
        if let Some(unit) = sn.unit {
            p["unit_of_measurement"] = json!(unit);
        }
        if let Some(class) = sn.device_class {
            p["device_class"] = json!(class);
        }
        if let Some(class) = sn.state_class {
            p["state_class"] = json!(class);
        }
        if sn.diagnostic {
            p["entity_category"] = json!("diagnostic");
        }
        if !sn.enabled {
            p["enabled_by_default"] = json!(false);
        }
        push("sensor", &sn.key, p);
    }

    // The bridge itself: its own availability would hide its state.
    let bridge = json!({
        "name": "Bridge",
        "unique_id": format!("{node}_bridge"),
        "object_id": format!("{node}_bridge"),
        "device": device,
        "origin": origin,
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "state_topic": topics.bridge_will,
        "payload_on": "online",
        "payload_off": "offline",
    });
    push("binary_sensor", "bridge", bridge);

    // On while the PDU has an active alarm, the list as its attributes.
    // Available with the bridge alone: the PDU's availability would hide
    // the "PDU unreachable" alarm exactly when it is raised.
    let mut alarm = base("Alarm".into(), format!("{node}_alarm"));
    alarm["availability"] = json!([
        {"topic": topics.bridge_will, "payload_available": "online", "payload_not_available": "offline"},
    ]);
    alarm["device_class"] = json!("problem");
    alarm["state_topic"] = json!(topics.of("alarms/active"));
    alarm["value_template"] = json!("{{ 'ON' if value | int(0) > 0 else 'OFF' }}");
    alarm["payload_on"] = json!("ON");
    alarm["payload_off"] = json!("OFF");
    alarm["json_attributes_topic"] = json!(topics.of("alarms"));
    // Home Assistant takes attributes from a JSON object only; the list is an array.
    alarm["json_attributes_template"] = json!("{{ {'alarms': value_json} | tojson }}");
    push("binary_sensor", "alarm", alarm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;
    use app::model::DeviceId;
    use std::collections::HashSet;

    fn payloads() -> Vec<(String, Value)> {
        let now = tokio::time::Instant::now();
        let mut sim = SimModel::new(1, now);
        let s = sim.snapshot(&DeviceId::parse("rack1").unwrap(), now);
        messages("homeassistant", &Topics::new("pdu", "rack1"), &s, "http://localhost:8080/")
            .into_iter()
            .map(|m| (m.topic, serde_json::from_str(&m.payload).unwrap()))
            .collect()
    }

    fn config<'a>(all: &'a [(String, Value)], topic: &str) -> &'a Value {
        &all.iter().find(|(t, _)| t == topic).unwrap_or_else(|| panic!("no {topic}")).1
    }

    #[test]
    fn outlets_are_switches_keyed_by_the_serial_with_both_availability_topics() {
        let all = payloads();
        let sw = config(&all, "homeassistant/switch/pdu_sim000000001/outlet_3/config");
        assert_eq!(sw["unique_id"], "pdu_sim000000001_outlet_3");
        assert_eq!(sw["device_class"], "outlet");
        assert_eq!(sw["state_topic"], "pdu/rack1/outlet/3/state");
        assert_eq!(sw["command_topic"], "pdu/rack1/outlet/3/command");
        assert_eq!((sw["payload_on"].as_str(), sw["payload_off"].as_str()), (Some("on"), Some("off")));
        assert_eq!(sw["availability_mode"], "all");
        let topics: Vec<&str> =
            sw["availability"].as_array().unwrap().iter().map(|a| a["topic"].as_str().unwrap()).collect();
        assert_eq!(topics, vec!["pdu/rack1/bridge/status", "pdu/rack1/availability"]);
        let device = &sw["device"];
        assert_eq!(device["identifiers"][0], "pdu_sim000000001");
        assert_eq!((device["manufacturer"].as_str(), device["model"].as_str()), (Some("CyberPower"), Some("PDU44001")));
        assert_eq!(
            (device["sw_version"].as_str(), device["serial_number"].as_str()),
            (Some("1.3.4"), Some("SIM000000001"))
        );
        assert_eq!(device["configuration_url"], "http://localhost:8080/");
        assert_eq!(sw["origin"]["name"], "pdu-bridge");
    }

    #[test]
    fn sensors_have_the_right_classes_and_units() {
        let all = payloads();
        let s = |key: &str| config(&all, &format!("homeassistant/sensor/pdu_sim000000001/{key}/config")).clone();
        let volts = s("source_a_voltage");
        assert_eq!(
            (volts["device_class"].as_str(), volts["unit_of_measurement"].as_str()),
            (Some("voltage"), Some("V"))
        );
        assert_eq!(volts["state_class"], "measurement");
        assert_eq!(volts["state_topic"], "pdu/rack1/source/a/voltage");
        let energy = s("outlet_4_energy");
        assert_eq!(
            (energy["device_class"].as_str(), energy["unit_of_measurement"].as_str()),
            (Some("energy"), Some("kWh"))
        );
        assert_eq!(energy["state_class"], "total_increasing");
        let pf = s("bank_1_power_factor");
        assert_eq!(
            (pf["entity_category"].as_str(), pf["enabled_by_default"].as_bool()),
            (Some("diagnostic"), Some(false))
        );
        for (key, class, unit) in [
            ("bank_2_current", "current", "A"),
            ("bank_2_power", "power", "W"),
            ("bank_2_apparent_power", "apparent_power", "VA"),
            ("input_frequency", "frequency", "Hz"),
        ] {
            let v = s(key);
            assert_eq!(
                (v["device_class"].as_str(), v["unit_of_measurement"].as_str()),
                (Some(class), Some(unit)),
                "{key}"
            );
        }
        let bridge = config(&all, "homeassistant/binary_sensor/pdu_sim000000001/bridge/config");
        assert_eq!(bridge["device_class"], "connectivity");
        assert!(bridge.get("availability").is_none(), "the bridge entity must show offline, not unavailable");
    }

    #[test]
    fn the_alarm_entity_is_a_problem_sensor_on_the_count_with_the_list_as_attributes() {
        let all = payloads();
        let alarm = config(&all, "homeassistant/binary_sensor/pdu_sim000000001/alarm/config");
        assert_eq!((alarm["name"].as_str(), alarm["device_class"].as_str()), (Some("Alarm"), Some("problem")));
        assert_eq!(alarm["unique_id"], "pdu_sim000000001_alarm");
        assert_eq!(alarm["device"]["identifiers"][0], "pdu_sim000000001");
        assert_eq!(alarm["origin"]["name"], "pdu-bridge");
        assert_eq!(alarm["state_topic"], "pdu/rack1/alarms/active");
        assert_eq!(alarm["json_attributes_topic"], "pdu/rack1/alarms");
        let topics: Vec<&str> =
            alarm["availability"].as_array().unwrap().iter().map(|a| a["topic"].as_str().unwrap()).collect();
        assert_eq!(topics, vec!["pdu/rack1/bridge/status"], "shown while the PDU is unreachable: that is an alarm");
        let template = alarm["value_template"].as_str().unwrap();
        assert!(template.contains("value | int(0) > 0"), "{template}");
        assert_eq!((alarm["payload_on"].as_str(), alarm["payload_off"].as_str()), (Some("ON"), Some("OFF")));
        assert!(template.contains("'ON'") && template.contains("'OFF'"), "{template}");
        assert_eq!(alarm["json_attributes_template"], "{{ {'alarms': value_json} | tojson }}");
    }

    #[test]
    fn unique_ids_are_unique() {
        let all = payloads();
        let ids: HashSet<&str> = all.iter().map(|(_, p)| p["unique_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(all.iter().filter(|(t, _)| t.contains("/switch/")).count(), 10);
    }
}
