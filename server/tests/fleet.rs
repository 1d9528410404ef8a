//! Several PDUs in one bridge (`pdus.json`, the Python bridge's file), PDUs
//! added and removed at run time with their MQTT topics cleared, and two
//! bridges sharing one broker without answering each other's commands.

use crate::mqtt::{free_port, mosquitto_port, Sub};
use crate::util::{agent, http, serve, sized_agent, Served};
use serde_json::{json, Value};
use server::pdu::sim::SimulatedPdu;
use server::snmp::agent::{self, Communities};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A `pdus.json` in a folder of its own (the bridge's data folder is made by `serve`).
fn pdus_file(pdus: Value) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pdus.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&pdus).unwrap()).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

async fn get(served: &Served, path: &str) -> (u16, Value) {
    let (status, body) = http(served.addr, "GET", path, None).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Wait (at most `secs`) until `GET path` satisfies `ok`; its body.
async fn until(served: &Served, path: &str, secs: u64, ok: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = get(served, path).await;
        if ok(status, &body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "GET {path} never satisfied the test: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn states(list: &Value) -> Vec<(String, String)> {
    list["pdus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["device_id"].as_str().unwrap().to_owned(), p["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn all_online(status: u16, list: &Value) -> bool {
    status == 200 && states(list).iter().all(|(_, s)| s == "online")
}

/// The Python bridge's file, unchanged, plus an entry of this project's own:
/// every PDU is polled at once over real SNMP, each answers with its own
/// serial, no community is ever shown, and the shared snmpsim PDU joins
/// when the peers run.
#[tokio::test]
async fn one_bridge_polls_every_pdu_of_the_python_bridges_file() {
    // A ten-outlet PDU and a smaller one of eight.
    let (a, b) = (agent(101).await, sized_agent(202, 8).await);
    let mut pdus = vec![
        json!({"device_id": "rack1-pdu", "host": "127.0.0.1", "snmp_port": a.addr.port(),
               "community_read": "public", "community_write": "private", "label": "Main rack", "enabled": true}),
        json!({"device_id": "rack2-pdu", "host": "127.0.0.1", "snmp_port": b.addr.port(), "label": "Second rack"}),
        json!({"device_id": "lab", "simulated": true}),
        json!({"device_id": "spare", "host": "127.0.0.1", "snmp_port": 9, "enabled": false}),
    ];
    let peers = std::env::var("PDU_BRIDGE_PEERS").is_ok_and(|v| v == "1");
    if peers {
        pdus.push(json!({"device_id": "snmpsim", "host": "127.0.0.1", "snmp_port": 11161}));
    }
    let (_dir, file) = pdus_file(json!({ "pdus": pdus }));
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_PDUS_FILE", &file)]).await;

    let list = until(&served, "/api/pdus", 20, |status, list| {
        status == 200 && states(list).iter().filter(|(id, _)| id != "spare").all(|(_, s)| s == "online")
    })
    .await;
    let count = if peers { 5 } else { 4 };
    assert_eq!(states(&list).len(), count, "{list}");
    assert!(states(&list).contains(&("spare".to_owned(), "disabled".to_owned())));
    assert!(!list.to_string().contains("private"), "no community in answers: {list}");

    let serial = |body: &Value| body["identity"]["serial"].as_str().unwrap_or_default().to_owned();
    let (_, one) = get(&served, "/api/status?device_id=rack1-pdu").await;
    let (_, two) = get(&served, "/api/status?device_id=rack2-pdu").await;
    assert_eq!(serial(&one), a.sim.identity().await.unwrap().serial.unwrap());
    assert_eq!(serial(&two), b.sim.identity().await.unwrap().serial.unwrap());
    assert_ne!(serial(&one), serial(&two));
    assert_eq!(one["label"], "Main rack");
    assert_eq!(one["outlets"].as_array().unwrap().len(), 10);
    assert_eq!(two["outlets"].as_array().unwrap().len(), 8, "{two}");
    let watts = |body: &Value| {
        body["outlets"].as_array().unwrap().iter().map(|o| o["power"].as_f64().unwrap_or(0.0)).sum::<f64>()
    };
    assert!(watts(&two) < watts(&one), "the smaller PDU carries less: {} vs {}", watts(&two), watts(&one));
    if peers {
        let (_, peer) = get(&served, "/api/status?device_id=snmpsim").await;
        assert_eq!(peer["outlets"].as_array().unwrap().len(), 10, "{peer}");
    }
    // With several PDUs a request must say which.
    let (status, body) = get(&served, "/api/status").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("device_id")), "{body}");
    let (status, _) = get(&served, "/api/status?device_id=spare").await;
    assert_eq!(status, 404, "a disabled PDU is not polled");

    // Serials are written down once learned (a different PDU at that address is then refused).
    let written = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains(&serial(&one)) && text.contains(&serial(&two)) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("serials recorded in pdus.json");
    assert!(written.contains("\"community_write\": \"private\""), "the file keeps the secrets it had");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Added and removed while the bridge runs: a poller starts at once, MQTT
/// and Home Assistant learn of it, and removal leaves nothing retained on
/// the broker while the history stays.
#[tokio::test]
async fn pdus_come_and_go_at_run_time_with_their_mqtt_topics() {
    let (_dir, file) = pdus_file(json!({"pdus": [{"device_id": "main", "simulated": true}]}));
    let base = "t-fleet-hot";
    let port = free_port();
    let port_text = port.to_string();
    let served = serve(&[
        ("MQTT_PORT", &port_text),
        ("BRIDGE_PDUS_FILE", &file),
        ("BRIDGE_MQTT_BASE", base),
        ("BRIDGE_POLL_INTERVAL", "0.5"),
    ])
    .await;
    until(&served, "/api/pdus", 15, all_online).await;
    let mut sub = Sub::connect(port, "test-fleet-hot", &[&format!("{base}/#"), "homeassistant/#"]).await;
    sub.wait(&format!("{base}/main/bridge/status"), |p, _| p == "online", 10).await;

    // Refused: bad fields name themselves, a taken id conflicts; nothing is added.
    let (status, body) =
        http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"Bad Id","simulated":true}"#)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("device_id"), "{body}");
    let (status, _) = http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"main","simulated":true}"#)).await;
    assert_eq!(status, 409);
    let second_a = r#"{"device_id":"x","simulated":true,"rack":"r1","feed":"A"}"#;
    let (status, _) = http(served.addr, "POST", "/api/pdus", Some(second_a)).await;
    assert_eq!(status, 201);
    let (status, body) =
        http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"y","simulated":true,"rack":"r1","feed":"A"}"#))
            .await;
    assert_eq!(status, 422, "one A feed a rack: {body}");
    assert!(body.contains("\"field\":\"feed\""), "{body}");
    assert_eq!(http(served.addr, "DELETE", "/api/pdus/x", None).await.0, 204);
    let typo = r#"{"device_id":"typo","host":"127.0.0.1","comunity_write":"secret"}"#;
    let (status, body) = http(served.addr, "POST", "/api/pdus", Some(typo)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"field\":\"comunity_write\""), "{body}");
    let (status, _) =
        http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"x","host":"10.0.0.1","snmp_port":0}"#)).await;
    assert_eq!(status, 422);

    let (status, body) =
        http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"lab","simulated":true,"label":"Lab"}"#)).await;
    assert_eq!(status, 201, "{body}");
    until(&served, "/api/status?device_id=lab", 10, |s, _| s == 200).await;
    sub.wait(&format!("{base}/lab/status"), |p, _| !p.is_empty(), 10).await;
    sub.wait(&format!("{base}/lab/outlet/1/state"), |p, _| p == "on" || p == "off", 10).await;
    let config_topic = sub
        .wait_topic(|t, p| t.starts_with("homeassistant/switch/") && t.contains("outlet_1") && p.contains("/lab/"), 10)
        .await;
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"lab\""));
    // Some history to keep.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, before) = get(&served, "/api/history/banks?device_id=lab&range=1h").await;
    assert_eq!(status, 200, "{before}");

    let mark = sub.mark();
    let (status, _) = http(served.addr, "DELETE", "/api/pdus/lab", None).await;
    assert_eq!(status, 204);
    for topic in [format!("{base}/lab/status"), format!("{base}/lab/outlet/1/state"), config_topic.clone()] {
        sub.wait_after(mark, &topic, |p, _| p.is_empty(), 10).await;
    }
    assert!(!std::fs::read_to_string(&file).unwrap().contains("\"lab\""));
    let (status, _) = get(&served, "/api/status?device_id=lab").await;
    assert_eq!(status, 404);
    // A new subscriber finds nothing of it retained.
    let mut fresh = Sub::connect(port, "test-fleet-hot-fresh", &[&format!("{base}/lab/#"), &config_topic]).await;
    let left = fresh.any_within(Duration::from_secs(2)).await;
    assert_eq!(left, None, "retained topics of a removed PDU remain");
    // The other PDU kept running.
    until(&served, "/api/status?device_id=main", 5, |s, _| s == 200).await;

    // Back under the same id: its history is still there.
    let (status, _) = http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"lab","simulated":true}"#)).await;
    assert_eq!(status, 201);
    // Its first poll since it came back, so the history has a new sample too.
    until(&served, "/api/status?device_id=lab", 10, |s, _| s == 200).await;
    let (status, after) = get(&served, "/api/history/banks?device_id=lab&range=1h").await;
    assert_eq!(status, 200, "{after}");
    let points = |v: &Value| {
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["points"].as_array().map(Vec::len).unwrap_or_default())
            .sum::<usize>()
    };
    assert!(points(&after) >= points(&before) && points(&before) > 0, "history kept: {before} / {after}");
}

/// Two bridges on one broker, each owning its PDU under one topic base: a
/// command for the other bridge's PDU is not answered (no false "no such
/// PDU" racing the owner's answer), and it never switches this bridge's PDU
/// (the Python bridge's wrong-PDU bug: a command for PDU B switched PDU A).
#[tokio::test]
async fn two_bridges_on_one_broker_answer_only_for_their_own_pdus() {
    let port = mosquitto_port().to_string();
    let base = "t-fleet-two";
    let (_da, file_a) = pdus_file(json!({"pdus": [{"device_id": "pdu-a", "simulated": true}]}));
    let (_db, file_b) = pdus_file(json!({"pdus": [{"device_id": "pdu-b", "simulated": true}]}));
    let common = [("MQTT_BROKER", "127.0.0.1"), ("MQTT_PORT", port.as_str()), ("BRIDGE_MQTT_BASE", base)];
    let with = |file: &str| {
        let mut pairs: Vec<(&str, String)> = common.iter().map(|(k, v)| (*k, v.to_string())).collect();
        pairs.push(("BRIDGE_PDUS_FILE", file.to_owned()));
        pairs
    };
    let (pa, pb) = (with(&file_a), with(&file_b));
    let a = serve(&pa.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    let b = serve(&pb.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    until(&a, "/api/pdus", 15, all_online).await;
    until(&b, "/api/pdus", 15, all_online).await;

    let mut sub = Sub::connect(
        mosquitto_port(),
        "test-fleet-two",
        &[&format!("{base}/+/outlet/+/command/response"), &format!("{base}/+/bridge/status")],
    )
    .await;
    sub.wait(&format!("{base}/pdu-a/bridge/status"), |p, _| p == "online", 15).await;
    sub.wait(&format!("{base}/pdu-b/bridge/status"), |p, _| p == "online", 15).await;
    let state = |served: &Served, id: &'static str| {
        let addr = served.addr;
        async move {
            let (_, body) = http(addr, "GET", &format!("/api/status?device_id={id}"), None).await;
            let body: Value = serde_json::from_str(&body).unwrap();
            body["outlets"][2]["state"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(state(&a, "pdu-a").await, "on");
    assert_eq!(state(&b, "pdu-b").await, "on");

    let mark = sub.mark();
    sub.publish(&format!("{base}/pdu-b/outlet/3/command"), "off", false).await;
    let answer = sub.wait_after(mark, &format!("{base}/pdu-b/outlet/3/command/response"), |_, _| true, 10).await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((answer["success"].as_bool(), answer["state"].as_str()), (Some(true), Some("off")), "{answer}");
    // Exactly one answer: bridge A stays silent about a PDU it does not own.
    let mark = sub.mark();
    let extra = sub.any_within(Duration::from_secs(2)).await;
    assert!(
        extra.as_ref().is_none_or(|(t, _)| !t.ends_with("/command/response")),
        "a second answer: {extra:?} after {mark}"
    );
    assert_eq!(state(&b, "pdu-b").await, "off");
    assert_eq!(state(&a, "pdu-a").await, "on", "a command for PDU B must never switch PDU A");

    // Nobody owns `pdu-z`: nobody answers.
    sub.publish(&format!("{base}/pdu-z/outlet/3/command"), "off", false).await;
    let extra = sub.any_within(Duration::from_secs(2)).await;
    assert!(extra.is_none_or(|(t, _)| !t.ends_with("/command/response")));
}

/// The fleet is the admins': viewers and operators read the list (without
/// secrets) and are refused every change and every scan, through the API
/// and through the dashboard's server functions; nothing changes.
#[tokio::test]
async fn only_an_admin_changes_the_fleet() {
    use crate::util::{call_with, Started};
    use app::access::Role;
    use axum::http::StatusCode;
    let started = Started::new(&[]).await;
    let router = started.bare_router();
    let json = ("content-type", "application/json");
    let add = r#"{"device_id":"lab","simulated":true}"#;
    let scan = r#"{"cidr":"127.0.0.1/32","port":9}"#;
    for role in [Role::Viewer, Role::Operator] {
        let token = format!("Bearer {}", started.token_for(&format!("t-{role}"), role).await);
        let auth = ("authorization", token.as_str());
        let (code, body) = call_with(&router, "GET", "/api/pdus", None, &[auth]).await;
        assert_eq!(code, StatusCode::OK, "{role} reads the list: {body}");
        assert!(!body.contains("community"), "{body}");
        for (method, path, body) in [
            ("POST", "/api/pdus", Some(add)),
            ("PUT", "/api/pdus/pdu44001", Some(r#"{"device_id":"pdu44001","simulated":true}"#)),
            ("DELETE", "/api/pdus/pdu44001", None),
            ("POST", "/api/pdus/discover", Some(scan)),
            ("POST", "/fn/pdu_save", Some(r#"{"entry":{"device_id":"lab","simulated":true}}"#)),
            ("POST", "/fn/pdu_remove", Some(r#"{"device_id":"pdu44001"}"#)),
            ("POST", "/fn/pdus_discover", Some(r#"{"request":{"cidr":"127.0.0.1/32"}}"#)),
        ] {
            let (code, answer) = call_with(&router, method, path, body, &[json, auth]).await;
            assert_eq!(code, StatusCode::FORBIDDEN, "{role}: {method} {path}: {answer}");
        }
    }
    assert_eq!(started.bridge.devices().len(), 1, "nothing was added or removed");
    assert!(!started.config.fleet.file.exists(), "no pdus.json was written");
}

/// A single-PDU setup becomes a fleet at the first PDU added: the running
/// PDU is carried into the new `pdus.json` with its rules, and both run.
/// In the demo, the first PDU added ends the demo instead.
#[tokio::test]
async fn the_first_pdu_added_carries_the_single_pdu_setup_over() {
    let pdu = agent(501).await;
    let port = pdu.addr.port().to_string();
    let rule = r#"{"name":"keep me","outlet":3,"condition":"voltage_below","threshold":90,"action":"off"}"#;
    let served = serve(&[("MQTT_BROKER", "none"), ("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", &port)]).await;
    until(&served, "/api/status", 10, |s, _| s == 200).await;
    let (status, body) = http(served.addr, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        http(served.addr, "POST", "/api/pdus", Some(r#"{"device_id":"second","simulated":true}"#)).await;
    assert_eq!(status, 201, "{body}");
    let file = served.data_dir().join("pdus.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = written["pdus"].as_array().unwrap().iter().map(|p| p["device_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pdu44001", "second"]);
    assert_eq!(written["pdus"][0]["snmp_port"], pdu.addr.port());
    until(&served, "/api/pdus", 15, all_online).await;
    let (status, rules) = get(&served, "/api/rules?device_id=pdu44001").await;
    assert_eq!(status, 200);
    assert_eq!(rules[0]["name"], "keep me", "{rules}");
    assert!(served.data_dir().join("rules-pdu44001.json").is_file());

    let demo = serve(&[("MQTT_BROKER", "none")]).await;
    until(&demo, "/api/status", 10, |s, _| s == 200).await;
    let add = json!({"device_id": "real", "host": "127.0.0.1", "snmp_port": pdu.addr.port()}).to_string();
    let (status, body) = http(demo.addr, "POST", "/api/pdus", Some(&add)).await;
    assert_eq!(status, 201, "{body}");
    let list = until(&demo, "/api/pdus", 15, all_online).await;
    assert_eq!(states(&list), [("real".to_owned(), "online".to_owned())], "the demo PDU is gone");
    let (status, _) = get(&demo, "/api/status?device_id=pdu44001").await;
    assert_eq!(status, 404);
}

/// A different PDU answering at a known address is flagged and its
/// readings are not recorded as the known PDU's; the same PDU at a new
/// address keeps its id.
#[tokio::test]
async fn a_different_pdu_at_a_known_address_is_flagged_not_merged() {
    let (first, other) = (agent(301).await, agent(302).await);
    let serial = first.sim.identity().await.unwrap().serial.unwrap();
    let (_dir, file) = pdus_file(json!({"pdus": [
        {"device_id": "rack", "host": "127.0.0.1", "snmp_port": other.addr.port(), "serial": serial}]}));
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_PDUS_FILE", &file), ("BRIDGE_SNMP_TIMEOUT", "0.5")]).await;
    let list = until(&served, "/api/pdus", 15, |s, l| s == 200 && !l["pdus"][0]["identity_mismatch"].is_null()).await;
    let why = list["pdus"][0]["identity_mismatch"].as_str().unwrap();
    assert!(why.contains(&serial) && why.contains("different PDU"), "{why}");
    let (status, _) = get(&served, "/api/status?device_id=rack").await;
    assert_eq!(status, 503, "no reading of the other PDU is shown as this one's");
    let other_serial = other.sim.identity().await.unwrap().serial.unwrap();
    assert_eq!(list["pdus"][0]["answering_serial"], other_serial.as_str());
    let (status, body) =
        http(served.addr, "POST", "/api/outlets/3/command?device_id=rack", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(status, 409, "no command reaches the other PDU: {body}");
    assert!(body.contains("nothing was switched"), "{body}");
    assert_eq!(other.sim.outlet_state(3).await.unwrap().0, app::model::OutletState::On);
    // A change that leaves the serial out keeps it: still refused.
    let relabel = json!({"device_id": "rack", "host": "127.0.0.1", "snmp_port": other.addr.port(), "label": "R"});
    let (status, _) = http(served.addr, "PUT", "/api/pdus/rack", Some(&relabel.to_string())).await;
    assert_eq!(status, 200);
    until(&served, "/api/pdus", 15, |s, l| s == 200 && !l["pdus"][0]["identity_mismatch"].is_null()).await;

    // Moved to the right address: same id, online, no flag.
    let entry = json!({"device_id": "rack", "host": "127.0.0.1", "snmp_port": first.addr.port(), "serial": serial});
    let (status, body) = http(served.addr, "PUT", "/api/pdus/rack", Some(&entry.to_string())).await;
    assert_eq!(status, 200, "{body}");
    let list = until(&served, "/api/pdus", 15, all_online).await;
    assert!(list["pdus"][0]["identity_mismatch"].is_null(), "{list}");
    let (_, now) = get(&served, "/api/status?device_id=rack").await;
    assert_eq!(now["identity"]["serial"], serial.as_str());
}

/// Discovery through the API over several agents on loopback addresses:
/// every PDU is found, the one watched already says under which id, and a
/// found PDU added with its address is then known by its serial.
#[tokio::test]
async fn discovered_pdus_are_marked_when_known_and_can_be_added() {
    use std::net::Ipv4Addr;
    // Three simulator agents on 127.62.0.1-3, one port.
    let addresses: Vec<Ipv4Addr> = (1..=3).map(|n| Ipv4Addr::new(127, 62, 0, n)).collect();
    let mut sockets = Vec::new();
    'port: for _ in 0..50 {
        sockets.clear();
        let first = tokio::net::UdpSocket::bind((addresses[0], 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        sockets.push(first);
        for &address in &addresses[1..] {
            match tokio::net::UdpSocket::bind((address, port)).await {
                Ok(socket) => sockets.push(socket),
                Err(_) => continue 'port,
            }
        }
        break;
    }
    assert_eq!(sockets.len(), 3, "one port free on every address");
    let port = sockets[0].local_addr().unwrap().port();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let mut sims = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let sim = SimulatedPdu::new(400 + i as u64, Duration::from_secs(2));
        let communities = Communities { read: "public".into(), write: "private".into() };
        tokio::spawn(agent::serve(socket, sim.clone(), communities, stop.clone()));
        sims.push(sim);
    }
    let serials: Vec<String> = {
        let mut out = Vec::new();
        for sim in &sims {
            out.push(sim.identity().await.unwrap().serial.unwrap());
        }
        out
    };
    let (_dir, file) = pdus_file(json!({"pdus": [
        {"device_id": "known", "host": "127.62.0.1", "snmp_port": port}]}));
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_PDUS_FILE", &file)]).await;
    until(&served, "/api/pdus", 15, all_online).await;

    let scan = json!({"cidr": "127.62.0.0/29", "port": port}).to_string();
    let (status, body) = http(served.addr, "POST", "/api/pdus/discover", Some(&scan)).await;
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["scanned"], 6);
    let found = result["found"].as_array().unwrap();
    let hosts: Vec<&str> = found.iter().map(|f| f["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["127.62.0.1", "127.62.0.2", "127.62.0.3"]);
    assert_eq!(found[0]["known_as"], "known");
    assert!(found[1]["known_as"].is_null() && found[2]["known_as"].is_null());
    assert_eq!(found[1]["serial"], serials[1].as_str());
    assert_eq!(found[1]["model"], "PDU44001");

    let add = json!({"device_id": "found", "host": "127.62.0.2", "snmp_port": port}).to_string();
    let (status, body) = http(served.addr, "POST", "/api/pdus", Some(&add)).await;
    assert_eq!(status, 201, "{body}");
    let added: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(added["serial"], serials[1].as_str(), "the serial is asked for when a PDU is added");
    // The same PDU under another id (another address spelling) is refused by its serial.
    let again = json!({"device_id": "twice", "host": "127.62.0.2", "snmp_port": port}).to_string();
    let (status, _) = http(served.addr, "POST", "/api/pdus", Some(&again)).await;
    assert_eq!(status, 409);
    let (_, body) = http(served.addr, "POST", "/api/pdus/discover", Some(&scan)).await;
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["found"][1]["known_as"], "found");
    // A bad network names the field; nothing is scanned.
    let (status, body) = http(served.addr, "POST", "/api/pdus/discover", Some(r#"{"cidr":"10.0.0.0/21"}"#)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"field\":\"cidr\""), "{body}");
}

/// With several PDUs, a form posted on a PDU's own page (before or without
/// the WASM) comes back to that page, and the command went to that PDU.
#[tokio::test]
async fn a_form_on_a_pdus_page_comes_back_to_it() {
    use crate::util::http_full;
    let (_dir, file) = pdus_file(json!({"pdus": [
        {"device_id": "first", "simulated": true}, {"device_id": "second", "simulated": true}]}));
    let served = serve(&[("MQTT_BROKER", "none"), ("BRIDGE_PDUS_FILE", &file)]).await;
    until(&served, "/api/pdus", 15, all_online).await;
    let auth = format!("Authorization: Bearer {}\r\nContent-Type: application/x-www-form-urlencoded\r\n", served.token);
    let (status, head, _) =
        http_full(served.addr, "POST", "/forms/outlet", Some("device_id=second&o=3&action=off&confirmed=1"), &auth)
            .await;
    assert_eq!(status, 303, "{head}");
    let location = head.lines().find(|l| l.to_ascii_lowercase().starts_with("location:")).unwrap();
    assert!(location.contains("/pdu/second?done=outlet"), "{location}");
    let state = |id: &'static str| {
        let addr = served.addr;
        async move {
            let (_, body) = http(addr, "GET", &format!("/api/status?device_id={id}"), None).await;
            serde_json::from_str::<Value>(&body).unwrap()["outlets"][2]["state"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(state("second").await, "off");
    assert_eq!(state("first").await, "on");
}
