//! Running a PDU from the bridge: every setting written and read back over
//! real SNMP (our simulator agent, and snmpsim when the peers run), refused
//! SETs, outlet names in the bridge and on the PDU, the names file reloaded
//! when edited by hand, every outlet at once, and who may do which.

use crate::mqtt::Sub;
use crate::util::{agent, http, http_raw, serve, Served};
use serde_json::{json, Value};
use server::pdu::sim::{Faults, SimulatedPdu};

use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn bridge_for(port: u16, extra: &[(&str, &str)]) -> Served {
    let port = port.to_string();
    let mut pairs = vec![("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", port.as_str())];
    pairs.extend_from_slice(extra);
    serve(&pairs).await
}

async fn call(served: &Served, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http(served.addr, method, path, body.as_deref()).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Wait (at most `secs`) until `GET path` satisfies `ok`; its body.
async fn until(served: &Served, path: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = call(served, "GET", path, None).await;
        if status == 200 && ok(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "GET {path} did not come right within {secs} s: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outlet_name(status: &Value, n: usize) -> String {
    status["outlets"][n - 1]["name"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_setting_is_written_to_the_pdu_and_read_back() {
    let agent = agent(31).await;
    let served = bridge_for(agent.addr.port(), &[]).await;
    let before = until(&served, "/api/config", 15, |s| s["read_at_ms"].is_i64()).await;
    assert_eq!(before["coldstart_delay"], 0, "read at start: {before}");
    assert_eq!(before["outlets"].as_array().unwrap().len(), 10);
    assert_eq!(before["banks"][0]["max"], 12);

    let changes = json!({"changes": [
        {"setting": "device_name", "value": "rack7-pdu-a"},
        {"setting": "location", "value": "Row 3, rack 7"},
        {"setting": "contact", "value": "ops@example.net"},
        {"setting": "preferred_source", "value": 2},
        {"setting": "voltage_sensitivity", "value": 3},
        {"setting": "transfer_range", "value": 2},
        {"setting": "coldstart_delay", "value": 45},
        {"setting": "coldstart_state", "value": 1},
        {"setting": "outlet_on_delay", "outlet": 3, "value": 20},
        {"setting": "outlet_off_delay", "outlet": 3, "value": -1},
        {"setting": "outlet_reboot_duration", "outlet": 3, "value": 60},
        {"setting": "outlet_name", "outlet": 4, "value": "db-primary"},
        {"setting": "bank_thresholds", "bank": 1, "low": 1, "near_overload": 9, "overload": 11},
        {"setting": "phase_thresholds", "phase": 1, "low": 1, "near_overload": 13, "overload": 15},
    ]});
    let (status, result) = call(&served, "PUT", "/api/config", Some(changes)).await;
    assert_eq!(status, 200, "{result}");
    let applied = result["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 14);
    assert_eq!(applied[6], json!({"setting": "coldstart_delay", "before": "0", "after": "45"}));

    // The device itself holds every value now (read from the model, not the bridge).
    let on_pdu = agent.sim.model().settings();
    assert_eq!(on_pdu.device_name.as_deref(), Some("rack7-pdu-a"));
    assert_eq!(on_pdu.location.as_deref(), Some("Row 3, rack 7"));
    assert_eq!(on_pdu.contact.as_deref(), Some("ops@example.net"));
    let source = on_pdu.source.as_ref().unwrap();
    assert_eq!((source.preferred, source.voltage_sensitivity, source.transfer_range), (Some(2), Some(3), Some(2)));
    assert_eq!((on_pdu.coldstart_delay, on_pdu.coldstart_state), (Some(45), Some(1)));
    let o3 = &on_pdu.outlets[2];
    assert_eq!((o3.on_delay, o3.off_delay, o3.reboot_duration), (Some(20), Some(-1), Some(60)));
    assert_eq!(on_pdu.outlets[3].name.as_deref(), Some("db-primary"));
    let b1 = &on_pdu.banks[0];
    assert_eq!((b1.low, b1.near_overload, b1.overload), (Some(1), Some(9), Some(11)));
    assert_eq!(on_pdu.phases[0].near_overload, Some(13));
    // The answer is what the bridge read back, and so is GET /api/config.
    assert_eq!(result["settings"]["coldstart_delay"], 45);
    let (_, now) = call(&served, "GET", "/api/config", None).await;
    assert_eq!(now["outlets"][2]["off_delay"], -1);
    // The ATS follows its new preferred source (both inputs are fine).
    until(&served, "/api/status", 10, |s| s["ats"]["preferred"] == "B" && s["ats"]["selected"] == "B").await;
    // The identity strip shows the new location after the identity is read again.
    until(&served, "/api/status", 10, |s| s["identity"]["location"] == "Row 3, rack 7").await;
    // An event for each change, with before and after.
    let events =
        until(&served, "/api/events?kind=setting_changed", 10, |e| e.as_array().is_some_and(|a| a.len() == 14)).await;
    let details: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["details"].as_str()).collect();
    assert!(details.contains(&"coldstart_delay: 0 → 45"), "{details:?}");
}

#[tokio::test]
async fn settings_out_of_range_or_refused_by_the_pdu_are_clear_errors_and_change_nothing() {
    let agent = agent(32).await;
    let served = bridge_for(agent.addr.port(), &[]).await;
    until(&served, "/api/config", 15, |s| s["read_at_ms"].is_i64()).await;
    let before = agent.sim.model().settings();
    let refused = |body: Value, status: u16, field: &'static str, text: &'static str| (body, status, field, text);
    for (body, status, field, text) in [
        refused(
            json!({"changes": [{"setting": "coldstart_delay", "value": 301}]}),
            422,
            "coldstart_delay",
            "-1 (never), 0 (at once) or 1 to 300 seconds",
        ),
        refused(
            json!({"changes": [{"setting": "outlet_reboot_duration", "outlet": 2, "value": 4}]}),
            422,
            "outlet.2.reboot_duration",
            "5 to 60 seconds",
        ),
        refused(
            json!({"changes": [{"setting": "outlet_on_delay", "outlet": 11, "value": 4}]}),
            422,
            "outlet.11.on_delay",
            "no outlet 11",
        ),
        refused(
            json!({"changes": [{"setting": "bank_thresholds", "bank": 1, "low": 0, "near_overload": 10, "overload": 13}]}),
            422,
            "bank.1.thresholds",
            "limit of 12 A",
        ),
        refused(
            json!({"changes": [{"setting": "outlet_name", "outlet": 1, "value": "a name much longer than the PDU keeps"}]}),
            422,
            "outlet.1.name",
            "1 to 31 characters",
        ),
        refused(
            json!({"changes": [{"setting": "preferred_source", "value": 3}]}),
            422,
            "preferred_source",
            "1 (source A) or 2 (source B)",
        ),
        // A valid change after an invalid one: nothing at all is sent.
        refused(
            json!({"changes": [{"setting": "coldstart_delay", "value": 5}, {"setting": "coldstart_state", "value": 7}]}),
            422,
            "coldstart_state",
            "1 (all on) or 2 (as before)",
        ),
        refused(json!({"changes": [{"setting": "colstart_delay", "value": 5}]}), 400, "", "colstart_delay"),
        refused(json!({"changes": []}), 422, "changes", "nothing to change"),
    ] {
        let (got, answer) = call(&served, "PUT", "/api/config", Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(text), "{body} → {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{body} → {answer}");
        }
    }
    assert_eq!(agent.sim.model().settings(), before, "nothing reached the PDU");

    // Firmware that keeps the object read-only: the SET is refused by the PDU.
    agent.sim.set_faults(Faults { refuse_sets: Some(17), ..Faults::default() });
    let (status, answer) =
        call(&served, "PUT", "/api/config", Some(json!({"changes": [{"setting": "coldstart_delay", "value": 30}]})))
            .await;
    assert_eq!(status, 502, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("refused coldstart_delay") && error.contains("notWritable"), "{error}");
    assert_eq!(agent.sim.model().settings(), before);
    // The second of two changes refused: the answer says the first was applied.
    agent.sim.set_faults(Faults::default());
    let (status, answer) = call(
        &served,
        "PUT",
        "/api/config",
        Some(json!({"changes": [{"setting": "coldstart_delay", "value": 30}, {"setting": "location", "value": "x"}]})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // A read-only community: noAccess, named.
    drop(served);
    let served = bridge_for(agent.addr.port(), &[("PDU_COMMUNITY_WRITE", "public")]).await;
    until(&served, "/api/config", 15, |s| s["read_at_ms"].is_i64()).await;
    let (status, answer) =
        call(&served, "PUT", "/api/config", Some(json!({"changes": [{"setting": "coldstart_delay", "value": 60}]})))
            .await;
    assert_eq!(status, 502, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("noAccess"), "{answer}");
    assert_eq!(agent.sim.model().settings().coldstart_delay, Some(30));
}

#[tokio::test]
async fn an_outlet_is_renamed_in_the_bridge_only_or_on_the_pdu_too_and_mqtt_follows_at_once() {
    let agent = agent(33).await;
    let broker = crate::mqtt::free_port().to_string();
    let served = bridge_for(agent.addr.port(), &[("MQTT_PORT", broker.as_str())]).await;
    until(&served, "/api/status", 15, |s| outlet_name(s, 3) == "NAS").await;
    let mut sub = Sub::connect(
        broker.parse().unwrap(),
        "names",
        &["pdu/pdu44001/outlet/+/name", "homeassistant/switch/+/outlet_3/config"],
    )
    .await;
    sub.wait("pdu/pdu44001/outlet/3/name", |p, _| p == "NAS", 10).await;

    // The bridge only: the PDU keeps its own name.
    let (status, answer) = call(&served, "PUT", "/api/outlets/3/name", Some(json!({"name": "Backup NAS"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"outlet": 3, "name": "Backup NAS", "name_on_pdu": null}));
    assert_eq!(agent.sim.model().settings().outlets[2].name.as_deref(), Some("NAS"));
    sub.wait("pdu/pdu44001/outlet/3/name", |p, _| p == "Backup NAS", 5).await;
    // Home Assistant's switch is announced again with the new name.
    sub.wait_topic(|t, p| t.ends_with("/outlet_3/config") && p.contains(r#""name":"Outlet 3 Backup NAS""#), 5).await;
    until(&served, "/api/status", 5, |s| outlet_name(s, 3) == "Backup NAS").await;
    let names_file = served.data_dir().join("outlet_names.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&names_file).unwrap()).unwrap();
    assert_eq!(file, json!({"3": "Backup NAS"}));
    let (_, names) = call(&served, "GET", "/api/outlet-names", None).await;
    assert_eq!((names["3"].as_str(), names["1"].as_str()), (Some("Backup NAS"), Some("Router")));

    // On the PDU too: written, read back, and shown.
    let (status, answer) =
        call(&served, "PUT", "/api/outlets/2/name", Some(json!({"name": "Core-SW", "write_to_pdu": true}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name_on_pdu"], "Core-SW");
    assert_eq!(agent.sim.model().settings().outlets[1].name.as_deref(), Some("Core-SW"));
    sub.wait("pdu/pdu44001/outlet/2/name", |p, _| p == "Core-SW", 5).await;

    // What the PDU cannot store is refused before anything is sent.
    let (status, answer) =
        call(&served, "PUT", "/api/outlets/2/name", Some(json!({"name": "Ünïcode", "write_to_pdu": true}))).await;
    assert_eq!((status, answer["field"].as_str()), (422, Some("outlet.2.name")), "{answer}");
    let (status, answer) = call(&served, "PUT", "/api/outlets/2/name", Some(json!({"name": "x".repeat(65)}))).await;
    assert_eq!(status, 422, "{answer}");
    let (status, _) = call(&served, "PUT", "/api/outlets/12/name", Some(json!({"name": "nope"}))).await;
    assert_eq!(status, 404);
    let (status, answer) = call(&served, "PUT", "/api/outlets/2/name", Some(json!({"nmae": "typo"}))).await;
    assert_eq!(status, 400, "{answer}");

    // An empty name lets the PDU's own show again.
    let (status, answer) = call(&served, "PUT", "/api/outlets/3/name", Some(json!({"name": ""}))).await;
    assert_eq!((status, answer["name"].as_str()), (200, Some("NAS")), "{answer}");
    sub.wait("pdu/pdu44001/outlet/3/name", |p, _| p == "NAS", 5).await;

    // The file edited by hand is reloaded; an invalid one is refused and the names stay.
    std::fs::write(&names_file, r#"{"5": "Hypervisor"}"#).unwrap();
    until(&served, "/api/status", 10, |s| outlet_name(s, 5) == "Hypervisor").await;
    std::fs::write(&names_file, r#"{"five": "oops"}"#).unwrap();
    until(&served, "/api/events?kind=outlet_names_refused", 10, |e| {
        e[0]["details"].as_str().is_some_and(|d| d.contains("\"five\" is not an outlet number"))
    })
    .await;
    let (_, status) = call(&served, "GET", "/api/status", None).await;
    assert_eq!(outlet_name(&status, 5), "Hypervisor");

    // The device's own name and location, written to the PDU.
    let (status, answer) = call(&served, "PUT", "/api/device/location", Some(json!({"location": "Cage 2"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(agent.sim.model().settings().location.as_deref(), Some("Cage 2"));
    until(&served, "/api/status", 10, |s| s["identity"]["location"] == "Cage 2").await;
    let (status, _) = call(&served, "PUT", "/api/device/name", Some(json!({"name": "pdu-cage2"}))).await;
    assert_eq!(status, 200);
    let (status, answer) = call(&served, "PUT", "/api/device/serial", Some(json!({"serial": "x"}))).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = call(&served, "PUT", "/api/device/name", Some(json!({"location": "x"}))).await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn every_outlet_at_once_follows_the_configured_delays_and_guards_protected_outlets() {
    let agent = agent(34).await;
    let served = bridge_for(agent.addr.port(), &[("BRIDGE_PROTECTED_OUTLETS", "1")]).await;
    until(&served, "/api/status", 15, |s| s["outlets"].as_array().is_some_and(|o| o.len() == 10)).await;
    // Off with a protected outlet: refused without an admin's confirmation.
    let (status, answer) = call(&served, "POST", "/api/outlets/command", Some(json!({"action": "delayoff"}))).await;
    assert_eq!((status, answer["field"].as_str()), (403, Some("confirm_protected")), "{answer}");
    let pending = |sim: &SimulatedPdu| {
        (1..=10).filter(|n| sim.model().outlet_state(*n, tokio::time::Instant::now()).unwrap().1).count()
    };
    assert_eq!(pending(&agent.sim), 0, "nothing was sent");

    let (status, answer) =
        call(&served, "POST", "/api/outlets/command", Some(json!({"action": "delayoff", "confirm_protected": true})))
            .await;
    assert_eq!(status, 200, "{answer}");
    let outlets = answer["outlets"].as_array().unwrap();
    assert_eq!(outlets.len(), 10);
    // Outlet 10 is off already; every other one waits its 3 s off delay.
    assert!(outlets[..9].iter().all(|o| o["pending"] == true && o["state"] == "on"), "{answer}");
    let (status, answer) = call(&served, "POST", "/api/outlets/command", Some(json!({"action": "cancel"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(pending(&agent.sim), 0, "cancelled");
    let (status, answer) = call(&served, "POST", "/api/outlets/command", Some(json!({"action": "explode"}))).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("action")), "{answer}");
    let events = until(&served, "/api/events?kind=outlet_command", 5, |e| {
        e.as_array().is_some_and(|a| {
            a.iter().any(|e| e["details"].as_str().is_some_and(|d| d.contains("cancel every pending")))
        })
    })
    .await;
    assert!(events.as_array().unwrap().iter().any(|e| e["outcome"] == "failed"), "the refusal is recorded too");
}

#[tokio::test]
async fn only_admins_change_settings_and_operators_rename_and_switch_every_outlet() {
    let agent = agent(35).await;
    let served = bridge_for(agent.addr.port(), &[]).await;
    until(&served, "/api/config", 15, |s| s["read_at_ms"].is_i64()).await;
    let token = |name: &'static str, role: &'static str| {
        let served = &served;
        async move {
            let (status, made) = call(served, "POST", "/api/tokens", Some(json!({"name": name, "role": role}))).await;
            assert_eq!(status, 201, "{made}");
            made["token"].as_str().unwrap().to_owned()
        }
    };
    let viewer = token("wall", "viewer").await;
    let operator = token("ops", "operator").await;
    let as_ = |token: &str| format!("Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n");
    let setting = r#"{"changes": [{"setting": "coldstart_delay", "value": 9}]}"#;
    for (token, method, path, body, want) in [
        (&viewer, "GET", "/api/config", None, 200),
        (&viewer, "GET", "/api/outlet-names", None, 200),
        (&viewer, "PUT", "/api/config", Some(setting), 403),
        (&operator, "PUT", "/api/config", Some(setting), 403),
        (&operator, "PUT", "/api/device/name", Some(r#"{"name": "x"}"#), 403),
        (&viewer, "PUT", "/api/outlets/1/name", Some(r#"{"name": "x"}"#), 403),
        (&viewer, "POST", "/api/outlets/command", Some(r#"{"action": "cancel"}"#), 403),
        (&operator, "PUT", "/api/outlets/1/name", Some(r#"{"name": "Edge router"}"#), 200),
        (&operator, "POST", "/api/outlets/command", Some(r#"{"action": "cancel"}"#), 200),
    ] {
        let (status, answer) = http_raw(served.addr, method, path, body, &as_(token)).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
    }
    // An operator's confirmation does not count: only an admin's does.
    let (status, _) = http_raw(
        served.addr,
        "POST",
        "/api/outlets/command",
        Some(r#"{"action": "delayoff", "confirm_protected": true}"#),
        &as_(&operator),
    )
    .await;
    assert_eq!(status, 200, "no protected outlets here: an operator may");
    let (status, _) = http_raw(served.addr, "GET", "/api/config", None, "").await;
    assert_eq!(status, 401);
    assert_eq!(agent.sim.model().settings().coldstart_delay, Some(0), "nothing changed by the refused ones");
}

/// The independent snmpsim PDU (`../shared/peers`): a name written to it
/// and a setting changed, each read back.
#[tokio::test]
async fn a_name_and_a_setting_are_written_to_the_snmpsim_pdu_and_read_back() {
    if !crate::peers::peers_started() {
        return;
    }
    let served = bridge_for(11161, &[]).await;
    let before = until(&served, "/api/config", 20, |s| s["read_at_ms"].is_i64()).await;
    let original = before["outlets"][6]["name"].as_str().unwrap().to_owned();
    let (status, answer) =
        call(&served, "PUT", "/api/outlets/7/name", Some(json!({"name": "Modem-LTE", "write_to_pdu": true}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name_on_pdu"], "Modem-LTE");
    let (status, answer) =
        call(&served, "PUT", "/api/config", Some(json!({"changes": [{"setting": "coldstart_delay", "value": 12}]})))
            .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["settings"]["coldstart_delay"], 12);
    // Put the shared peer back as it was.
    let restore = json!({"changes": [
        {"setting": "coldstart_delay", "value": before["coldstart_delay"]},
        {"setting": "outlet_name", "outlet": 7, "value": original},
    ]});
    let (status, answer) = call(&served, "PUT", "/api/config", Some(restore)).await;
    assert_eq!(status, 200, "{answer}");
}

/// The settings are read once the PDU answers, then every five minutes: a
/// change made on the PDU itself shows within that, not before.
#[tokio::test(start_paused = true)]
async fn settings_are_read_at_start_and_again_every_five_minutes() {
    let (config, _dir) = crate::util::config(&[("BRIDGE_MOCK_MODE", "true"), ("MQTT_BROKER", "none")]);
    let bridge = std::sync::Arc::new(server::bridge::Bridge::new(&config));
    let device = bridge.devices()[0].clone();
    let stop = CancellationToken::new();
    let poller = tokio::spawn(server::poller::run(bridge.clone(), device.clone(), stop.clone()));
    let started = tokio::time::Instant::now();
    while device.settings().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "read within seconds of the first poll");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(device.settings().unwrap().coldstart_delay, Some(0));
    let sim = device.simulator().unwrap().clone();
    let change = app::settings::SettingChange::ColdstartDelay { value: 90 };
    sim.model().apply_setting(&change, tokio::time::Instant::now()).unwrap();
    tokio::time::sleep(Duration::from_secs(290)).await;
    assert_eq!(device.settings().unwrap().coldstart_delay, Some(0), "not read again yet");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(device.settings().unwrap().coldstart_delay, Some(90), "read again after five minutes");
    stop.cancel();
    poller.await.unwrap();
}

/// Regression: the dashboard's `settings_change` took a form-encoded body,
/// in which every value is a string the tagged `SettingChange` cannot read
/// as a number, so every change made on the settings page was refused.
#[tokio::test]
async fn the_settings_page_server_function_takes_its_changes_as_json() {
    let served = serve(&[]).await;
    until(&served, "/api/config", 15, |s| s["read_at_ms"].is_i64()).await;
    let body = json!({"device_id": "pdu44001", "changes": [{"setting": "coldstart_delay", "value": 15}]});
    let (status, text) = http(served.addr, "POST", "/fn/settings_change", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{text}");
    let result: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(result["applied"][0]["after"], "15", "{text}");
    assert_eq!(result["settings"]["coldstart_delay"], 15, "{text}");
}
