//! The sensors a PDU has, over real SNMP: a PDU with an environment probe
//! and one without (the simulator grows the probe as an option), their
//! readings on the API, MQTT (with Home Assistant entities) and /metrics,
//! and the rule conditions that read them — which never fire on a PDU that
//! lacks the sensor.

use crate::mqtt::{free_port, Sub};
use crate::util::{http, serve, serve_sim, Agent, Served};
use serde_json::{json, Value};
use server::pdu::sim::SimulatedPdu;
use std::time::Duration;

/// The simulator over SNMP, with the environment probe or without.
async fn agent(seed: u64, probe: bool) -> Agent {
    let sim = SimulatedPdu::new(seed, Duration::from_secs(2));
    if probe {
        sim.add_probe();
    }
    serve_sim(sim).await
}

async fn get(served: &Served, path: &str) -> Value {
    let (_, body) = http(served.addr, "GET", path, None).await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn until(served: &Served, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let status = get(served, "/api/status").await;
        if ok(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within {secs} s: {}", status["sensors"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_probe_is_read_published_and_drives_rules_and_a_pdu_without_one_has_none() {
    let agent = agent(41, true).await;
    let (port, sim) = (agent.addr.port(), agent.sim.clone());
    let broker = free_port().to_string();
    let port = port.to_string();
    let served =
        serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", port.as_str()), ("MQTT_PORT", broker.as_str())]).await;
    let status = until(&served, 15, |s| s["sensors"]["environment"]["temperature_c"].is_f64()).await;
    let env = &status["sensors"]["environment"];
    let c = env["temperature_c"].as_f64().unwrap();
    let f = env["temperature_f"].as_f64().unwrap();
    assert!((15.0..35.0).contains(&c) && (f - (c * 1.8 + 32.0)).abs() < 0.2, "{env}");
    assert_eq!(env["temperature_high_c"], 35.0);
    assert_eq!(env["contacts"][0], json!({"number": 1, "name": "Rack door", "open": false, "abnormal": false}));
    assert_eq!(env["contacts"][1]["open"], true, "the leak sensor rests open");
    assert_eq!(
        status["sensors"]["power_supplies"],
        json!([{"number": 1, "state": "ok"}, {"number": 2, "state": "ok"}])
    );
    // Peak power and the energy start come with the identity.
    assert_eq!(status["outlets"][0]["energy_since"], "01/06/2025 09:12:44");

    // MQTT and Home Assistant.
    let mut sub = Sub::connect(
        broker.parse().unwrap(),
        "sensors",
        &["pdu/pdu44001/environment/#", "pdu/pdu44001/power_supply/#", "homeassistant/sensor/+/temperature/config"],
    )
    .await;
    sub.wait("pdu/pdu44001/environment/contact/1", |p, _| p == "closed", 10).await;
    sub.wait("pdu/pdu44001/power_supply/2", |p, _| p == "ok", 10).await;
    sub.wait_topic(|t, p| t.ends_with("/temperature/config") && p.contains(r#""device_class":"temperature""#), 10)
        .await;

    // Rules on the sensors: the room gets hot, the door opens, a supply fails.
    let rules = json!([
        {"name": "hot", "condition": "temperature_above", "threshold": 30, "outlet": 9, "action": "off", "delay": 0, "restore": true},
        {"name": "door", "condition": "contact_open", "threshold": 1, "outlet": 8, "action": "off", "delay": 0, "restore": false},
        {"name": "psu", "condition": "psu_failed", "threshold": 0, "outlet": 7, "action": "off", "delay": 0, "restore": false},
    ]);
    for rule in rules.as_array().unwrap() {
        let (status, body) = http(served.addr, "POST", "/api/rules", Some(&rule.to_string())).await;
        assert_eq!(status, 201, "{body}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let state = |s: &Value, n: usize| s["outlets"][n - 1]["state"].as_str().unwrap_or_default().to_owned();
    let before = get(&served, "/api/status").await;
    assert_eq!((state(&before, 9), state(&before, 8), state(&before, 7)), ("on".into(), "on".into(), "on".into()));
    sim.model().pin_probe(Some(38.5), None);
    sim.model().set_contact_open(1, true);
    sim.model().set_psu_failed(2, true);
    let after = until(&served, 10, |s| state(s, 9) == "off" && state(s, 8) == "off" && state(s, 7) == "off").await;
    assert_eq!(after["sensors"]["environment"]["temperature_c"], 38.5);
    sub.wait("pdu/pdu44001/environment/temperature", |p, _| p == "38.5", 5).await;
    // Held for whole poll periods: the rules' switching pokes a poll that
    // replaces its tick's sample, so a spell shorter than a tick can be
    // replaced in history by what came after it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Cooler again: the temperature rule restores its outlet.
    sim.model().pin_probe(Some(22.0), None);
    until(&served, 10, |s| state(s, 9) == "on").await;

    // The history keeps the hot spell, in °C, beside the humidity (samples
    // reach the store in batches of at most 10 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let h = get(&served, "/api/history/environment?range=1h").await;
        let series = |m: &str| h["series"].as_array().unwrap().iter().find(|s| s["metric"] == m).unwrap().clone();
        let (temperature, humidity) = (series("environment.temperature"), series("environment.humidity"));
        let hottest =
            temperature["points"].as_array().unwrap().iter().filter_map(|p| p[3].as_f64()).fold(0.0, f64::max);
        if hottest == 38.5 {
            assert_eq!((temperature["unit"].as_str(), humidity["unit"].as_str()), (Some("°C"), Some("%")));
            let wet = humidity["points"][0][1].as_f64().unwrap();
            assert!((20.0..80.0).contains(&wet), "{humidity}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no 38.5 °C in the history: {temperature}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // /metrics carries the sensors.
    let (_, metrics) = http(served.addr, "GET", "/metrics", None).await;
    for family in ["pdu_temperature_celsius", "pdu_humidity_percent", "pdu_contact_open", "pdu_power_supply_ok"] {
        assert!(metrics.contains(&format!("# TYPE {family} gauge")), "{family}");
    }
    assert!(metrics.contains(r#"pdu_power_supply_ok{device_id="pdu44001",serial="SIM000000041",power_supply="2"} 0"#));
}

#[tokio::test]
async fn a_pdu_without_a_probe_shows_none_and_its_rules_wait() {
    let agent = agent(42, false).await;
    let port = agent.addr.port();
    let port = port.to_string();
    let served = serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", port.as_str())]).await;
    let status = until(&served, 15, |s| s["sensors"]["power_supplies"].is_array()).await;
    assert!(status["sensors"].get("environment").is_none(), "absent, not zero: {}", status["sensors"]);
    let rule = json!({"name": "hot", "condition": "temperature_above", "threshold": -30, "outlet": 3, "action": "off", "delay": 0});
    let (code, body) = http(served.addr, "POST", "/api/rules", Some(&rule.to_string())).await;
    assert_eq!(code, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = get(&served, "/api/status").await;
    assert_eq!(status["outlets"][2]["state"], "on", "no probe, no reading: the rule waits");
    let (_, metrics) = http(served.addr, "GET", "/metrics", None).await;
    assert!(!metrics.contains("pdu_temperature_celsius{"), "no samples without a probe");
    // Its history has the probe's series, empty: absent, not zero.
    let h = get(&served, "/api/history/environment?range=1h").await;
    let series = h["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{h}");
    assert!(series.iter().all(|s| s["points"].as_array().unwrap().is_empty()), "{h}");
    // A threshold out of range is refused, naming the field.
    let bad = json!({"name": "wet", "condition": "humidity_above", "threshold": 120, "outlet": 3, "action": "off"});
    let (code, body) = http(served.addr, "POST", "/api/rules", Some(&bad.to_string())).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("threshold"), "{body}");
}
