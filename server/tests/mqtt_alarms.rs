//! Alarms over MQTT with real brokers: each PDU's retained `alarms` list and
//! `alarms/active` count, the live `alarm` message for every raise,
//! acknowledgement and clear, the Home Assistant "Alarm" entity, the
//! bridge's own alarms on every PDU, and a removed PDU's alarm topics
//! cleared. A real fault (a failed power supply on the simulated PDU, cleared
//! after the 15 s quiet spell) goes through Mosquitto; rule alarms, raised
//! and cleared at once, keep the other tests fast.

use crate::mqtt::{free_port, mosquitto_port, wait_healthy, Sub};
use crate::util::{http, serve, Served};
use app::model::{Connection, DeviceId};
use serde_json::{json, Value};
use std::time::Duration;

fn parse(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}

/// An `alarm` message in `state`, delivered live (the topic is never retained).
fn live_in(state: &'static str) -> impl Fn(&str, bool) -> bool {
    move |p, retained| {
        assert!(!retained, "an alarm message came retained: {p}");
        serde_json::from_str::<Value>(p).is_ok_and(|v| v["state"] == state)
    }
}

fn pdu44001() -> DeviceId {
    DeviceId::parse("pdu44001").unwrap()
}

/// Subscribe to a PDU's three alarm topics and wait until its list is
/// empty: whatever arrives after the returned mark is new.
async fn alarm_watch(port: u16, client: &str, base: &str, device: &str) -> (Sub, usize) {
    let t = |rest: &str| format!("{base}/{device}/{rest}");
    let mut sub = Sub::connect(port, client, &[&t("alarm"), &t("alarms"), &t("alarms/active")]).await;
    sub.wait(&t("alarms"), |p, _| p == "[]", 10).await;
    sub.wait(&t("alarms/active"), |p, _| p == "0", 10).await;
    let mark = sub.mark();
    (sub, mark)
}

/// A `pdus.json` of simulated PDUs (the bridge's data folder is made by `serve`).
fn simulated_pdus(ids: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pdus.json");
    let pdus: Vec<Value> = ids.iter().map(|id| json!({"device_id": id, "simulated": true})).collect();
    std::fs::write(&path, serde_json::to_vec(&json!({ "pdus": pdus })).unwrap()).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// Every PDU of the bridge has answered a poll.
async fn all_polled(served: &Served) {
    for _ in 0..200 {
        let devices = served.bridge.devices();
        if !devices.is_empty()
            && devices.iter().all(|d| d.latest().is_some_and(|s| matches!(s.connection, Connection::Online)))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every PDU answered within 10 s");
}

/// The real path: the simulated PDU reports power supply 2 failed, the
/// poller sees it, the alarm is raised, acknowledged by a user, and cleared
/// once the supply has been fine for the quiet spell — each step on
/// Mosquitto as a live `alarm` message, the retained list and the count.
#[tokio::test]
async fn a_failed_power_supply_is_raised_acknowledged_and_cleared_on_the_alarm_topics_through_mosquitto() {
    let port = mosquitto_port();
    let base = "t-alarm-psu";
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port.to_string()),
        ("BRIDGE_MQTT_BASE", base),
        ("BRIDGE_HA_DISCOVERY", "false"),
        ("BRIDGE_POLL_INTERVAL", "0.5"),
    ])
    .await;
    wait_healthy(&served).await;
    let t = |rest: &str| format!("{base}/pdu44001/{rest}");
    let (mut sub, mark) = alarm_watch(port, "test-t-alarm-psu", base, "pdu44001").await;
    let sim = served.bridge.devices()[0].simulator().unwrap().clone();

    sim.model().set_psu_failed(2, true);
    let raised = parse(&sub.wait_after(mark, &t("alarm"), live_in("raised"), 15).await);
    assert_eq!(
        (raised["kind"].as_str(), raised["subject"].as_u64(), raised["severity"].as_str()),
        (Some("psu_failed"), Some(2), Some("critical")),
        "{raised}"
    );
    assert_eq!(raised["device_id"], "pdu44001");
    assert_eq!(raised["title"], "Power supply 2 failed");
    assert!(raised["ts"].as_f64().unwrap() > 1.7e9);
    assert_eq!(raised["ts"], raised["raised_at"], "ts is when it was raised");
    let id = raised["id"].as_u64().unwrap();
    let list = parse(&sub.wait_after(mark, &t("alarms"), |p, _| p.contains("psu_failed"), 10).await);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"].as_u64(), Some(id));
    assert!(list[0].get("state").is_none() && list[0].get("cleared_at").is_none(), "the list holds alarms: {list}");
    sub.wait_after(mark, &t("alarms/active"), |p, _| p == "1", 10).await;

    served.bridge.alarms().acknowledge(id, "user ann").unwrap();
    let acked = parse(&sub.wait_after(mark, &t("alarm"), live_in("acknowledged"), 10).await);
    assert_eq!((acked["id"].as_u64(), acked["acknowledged"]["by"].as_str()), (Some(id), Some("user ann")), "{acked}");
    assert_eq!(acked["ts"], acked["acknowledged"]["at"]);
    let list = parse(&sub.wait_after(mark, &t("alarms"), |p, _| p.contains("user ann"), 10).await);
    assert_eq!(list[0]["acknowledged"]["by"], "user ann");

    sim.model().set_psu_failed(2, false);
    let cleared = parse(&sub.wait_after(mark, &t("alarm"), live_in("cleared"), 25).await);
    assert_eq!(cleared["id"].as_u64(), Some(id));
    let quiet = cleared["cleared_at"].as_f64().unwrap() - raised["raised_at"].as_f64().unwrap();
    assert!(quiet >= 15.0, "cleared only after the quiet spell: {quiet} s");
    assert_eq!(cleared["acknowledged"]["by"], "user ann", "the clear says who had acknowledged it");
    sub.wait_after(mark, &t("alarms"), |p, _| p == "[]", 10).await;
    sub.wait_after(mark, &t("alarms/active"), |p, _| p == "0", 10).await;
}

/// Rule alarms (raised and cleared at once) on the embedded broker, with
/// Home Assistant discovery: the "Alarm" problem sensor reads the count and
/// the list; a late subscriber and Home Assistant coming online get the
/// list again but never an old `alarm` message to act on.
#[tokio::test]
async fn home_assistant_and_late_subscribers_see_the_list_but_never_an_old_alarm_message() {
    let port = free_port();
    let base = "t-alarm";
    let served = serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", base)]).await;
    wait_healthy(&served).await;
    let t = |rest: &str| format!("{base}/pdu44001/{rest}");
    let mut ha = Sub::connect(port, "test-t-alarm-ha", &["homeassistant/binary_sensor/+/alarm/config"]).await;
    let config = parse(&ha.wait("homeassistant/binary_sensor/pdu_sim000000001/alarm/config", |_, _| true, 10).await);
    assert_eq!((config["name"].as_str(), config["device_class"].as_str()), (Some("Alarm"), Some("problem")));
    assert_eq!(
        (config["state_topic"].as_str(), config["json_attributes_topic"].as_str()),
        (Some(&*t("alarms/active")), Some(&*t("alarms")))
    );
    assert_eq!(config["unique_id"], "pdu_sim000000001_alarm");
    assert_eq!(config["device"]["identifiers"][0], "pdu_sim000000001", "the same HA device as the outlets");
    let will = format!("{base}/bridge/test-{}/status", served.addr.port());
    assert_eq!(
        config["availability"],
        json!([{"topic": will, "payload_available": "online", "payload_not_available": "offline"}])
    );

    let (mut sub, mark) = alarm_watch(port, "test-t-alarm", base, "pdu44001").await;
    served.bridge.alarms().raise_rule(&pdu44001(), "door", "door open for 60 s".into());
    let raised = parse(&sub.wait_after(mark, &t("alarm"), live_in("raised"), 10).await);
    assert_eq!((raised["kind"].as_str(), raised["rule"].as_str()), (Some("rule"), Some("door")), "{raised}");
    assert_eq!(raised["details"], "door open for 60 s");
    sub.wait_after(mark, &t("alarms/active"), |p, _| p == "1", 10).await;
    sub.wait_after(mark, &t("alarms"), |p, _| p.contains("\"door\""), 10).await;

    // A late subscriber gets the list, retained, and no `alarm` message.
    let mut late = Sub::connect(port, "test-t-alarm-late", &[&t("alarm")]).await;
    let mut late_list = Sub::connect(port, "test-t-alarm-late-list", &[&t("alarms")]).await;
    late_list.wait(&t("alarms"), |p, retained| retained && p.contains("\"door\""), 10).await;
    assert_eq!(late.any_within(Duration::from_secs(2)).await, None, "an old raise must not arrive to be acted on");

    // Home Assistant's birth message: the list again, live; no alarm message again.
    let again = sub.mark();
    sub.publish("homeassistant/status", "online", false).await;
    sub.wait_after(again, &t("alarms"), |p, retained| !retained && p.contains("\"door\""), 10).await;
    sub.wait_after(again, &t("alarms/active"), |p, retained| !retained && p == "1", 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(late.any_within(Duration::from_millis(500)).await, None, "the birth message resends no alarm message");

    let id = raised["id"].as_u64().unwrap();
    served.bridge.alarms().acknowledge(id, "user ann").unwrap();
    let acked = parse(&sub.wait_after(mark, &t("alarm"), live_in("acknowledged"), 10).await);
    assert_eq!(acked["acknowledged"]["by"], "user ann");
    served.bridge.alarms().clear_rule(&pdu44001(), "door");
    let cleared = parse(&sub.wait_after(mark, &t("alarm"), live_in("cleared"), 10).await);
    assert_eq!((cleared["id"].as_u64(), cleared["rule"].as_str()), (Some(id), Some("door")));
    assert!(cleared["ts"].as_f64().unwrap() >= raised["ts"].as_f64().unwrap());
    sub.wait_after(mark, &t("alarms"), |p, _| p == "[]", 10).await;
    sub.wait_after(mark, &t("alarms/active"), |p, _| p == "0", 10).await;
    // The late subscriber saw the acknowledgement and the clear live, nothing else.
    let states: Vec<String> =
        [late.any_within(Duration::from_secs(5)).await, late.any_within(Duration::from_secs(5)).await]
            .into_iter()
            .map(|m| parse(&m.expect("live alarm messages").1)["state"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(states, vec!["acknowledged", "cleared"]);
}

/// The bridge's own alarm (its history store failing) concerns every PDU:
/// it is raised on each PDU's `alarm` topic and listed in each list, and
/// cleared from all of them when the condition is gone.
#[tokio::test]
async fn the_bridges_own_alarm_goes_to_every_pdu() {
    let (_dir, file) = simulated_pdus(&["rack-a", "rack-b"]);
    let port = free_port();
    let base = "t-alarm-bridge";
    let served = serve(&[
        ("MQTT_PORT", &port.to_string()),
        ("BRIDGE_MQTT_BASE", base),
        ("BRIDGE_PDUS_FILE", &file),
        ("BRIDGE_HA_DISCOVERY", "false"),
    ])
    .await;
    all_polled(&served).await;
    let (mut a, mark_a) = alarm_watch(port, "test-t-alarm-bridge-a", base, "rack-a").await;
    let (mut b, mark_b) = alarm_watch(port, "test-t-alarm-bridge-b", base, "rack-b").await;

    // What the alarm task sees when the store is off; it looks again every
    // second, finds the store fine, and clears it after the quiet spell.
    let failing = server::alarms::bridge_conditions(None, Some("test: disk full"));
    served.bridge.alarms().observe_bridge(failing, tokio::time::Instant::now());
    let mut id = None;
    for (sub, mark, device) in [(&mut a, mark_a, "rack-a"), (&mut b, mark_b, "rack-b")] {
        let t = |rest: &str| format!("{base}/{device}/{rest}");
        let raised = parse(&sub.wait_after(mark, &t("alarm"), live_in("raised"), 10).await);
        assert_eq!((raised["kind"].as_str(), &raised["device_id"]), (Some("history_write_failing"), &Value::Null));
        assert_eq!(*id.get_or_insert(raised["id"].clone()), raised["id"], "one alarm, told to every PDU");
        let list = parse(&sub.wait_after(mark, &t("alarms"), |p, _| p.contains("history_write_failing"), 10).await);
        assert_eq!(list[0]["details"], "history is off: test: disk full");
        sub.wait_after(mark, &t("alarms/active"), |p, _| p == "1", 10).await;
    }
    for (sub, mark, device) in [(&mut a, mark_a, "rack-a"), (&mut b, mark_b, "rack-b")] {
        let t = |rest: &str| format!("{base}/{device}/{rest}");
        let cleared = parse(&sub.wait_after(mark, &t("alarm"), live_in("cleared"), 25).await);
        assert_eq!(cleared["id"], id.clone().unwrap());
        sub.wait_after(mark, &t("alarms"), |p, _| p == "[]", 10).await;
        sub.wait_after(mark, &t("alarms/active"), |p, _| p == "0", 10).await;
    }
}

/// A PDU removed while it has an active alarm: its list, its count and its
/// Home Assistant "Alarm" entity are cleared like its other retained topics;
/// the other PDU's are untouched.
#[tokio::test]
async fn a_removed_pdu_leaves_no_alarm_topic_or_entity_behind() {
    let (_dir, file) = simulated_pdus(&["main", "lab"]);
    let port = free_port();
    let base = "t-alarm-gone";
    let served =
        serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", base), ("BRIDGE_PDUS_FILE", &file)]).await;
    all_polled(&served).await;
    let (mut sub, mark) = alarm_watch(port, "test-t-alarm-gone", base, "lab").await;
    let mut ha = Sub::connect(port, "test-t-alarm-gone-ha", &["homeassistant/binary_sensor/+/alarm/config"]).await;
    let lab_entity =
        ha.wait_topic(|t, p| t.ends_with("/alarm/config") && p.contains(&format!("\"{base}/lab/alarms\"")), 10).await;
    served.bridge.alarms().raise_rule(&DeviceId::parse("lab").unwrap(), "door", "door open".into());
    served.bridge.alarms().raise_rule(&DeviceId::parse("main").unwrap(), "door", "door open".into());
    sub.wait_after(mark, &format!("{base}/lab/alarms/active"), |p, _| p == "1", 10).await;

    let (mark, ha_mark) = (sub.mark(), ha.mark());
    assert_eq!(http(served.addr, "DELETE", "/api/pdus/lab", None).await.0, 204);
    for topic in [format!("{base}/lab/alarms"), format!("{base}/lab/alarms/active")] {
        sub.wait_after(mark, &topic, |p, _| p.is_empty(), 10).await;
    }
    ha.wait_after(ha_mark, &lab_entity, |p, _| p.is_empty(), 10).await;
    let mut fresh = Sub::connect(port, "test-t-alarm-gone-fresh", &[&format!("{base}/lab/#"), &lab_entity]).await;
    assert_eq!(fresh.any_within(Duration::from_secs(2)).await, None, "retained alarm topics of a removed PDU remain");
    let mut main = Sub::connect(port, "test-t-alarm-gone-main", &[&format!("{base}/main/alarms/active")]).await;
    main.wait(&format!("{base}/main/alarms/active"), |p, retained| retained && p == "1", 10).await;
}
