//! Alarms end to end over real sockets: a PDU fault seen over SNMP raises an
//! alarm, the webhook receives it signed, an operator acknowledges it (a
//! viewer may not), the audit log and the events say who, and when the
//! fault goes the alarm clears into the past list and the webhook hears
//! that too. Also the PDU that stops answering and the bridge's own alarm
//! (history off). The state machine itself is tested under paused time in
//! `server::alarms`.

use crate::util::webhook_sink::Receiver;
use crate::util::{agent, http, http_raw, serve, Served};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "alarm-hook-S3cret-91ab";

async fn get(served: &Served, path: &str) -> Value {
    let (status, body) = http(served.addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Wait (real time, at most `secs`) until `GET path` satisfies `ok`.
async fn until(served: &Served, path: &str, secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, body) = http(served.addr, "GET", path, None).await;
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        if ok(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} not as wanted within {secs} s: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The webhook's notifications so far, as JSON.
async fn hooks_until(receiver: &Receiver, secs: u64, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let seen = receiver.seen();
        let bodies: Vec<Value> = seen.iter().map(|r| r.json()).collect();
        if ok(&bodies) {
            for request in &seen {
                request.verify_signature(SECRET);
            }
            return bodies;
        }
        assert!(tokio::time::Instant::now() < deadline, "the webhook did not get what was wanted: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn with_kind<'a>(list: &'a Value, kind: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|a| a["kind"] == kind)
}

async fn token(served: &Served, name: &str, role: &str) -> String {
    let body = json!({"name": name, "role": role}).to_string();
    let (status, made) = http(served.addr, "POST", "/api/tokens", Some(&body)).await;
    assert_eq!(status, 201, "{made}");
    serde_json::from_str::<Value>(&made).unwrap()["token"].as_str().unwrap().to_owned()
}

async fn post_as(served: &Served, token: Option<&str>, path: &str) -> (u16, Value) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let (status, body) = http_raw(served.addr, "POST", path, Some(""), &auth).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_failed_power_supply_is_an_alarm_notified_acknowledged_by_an_operator_and_cleared() {
    let agent = agent(61).await;
    let receiver = Receiver::start(&[]).await;
    let (port, url) = (agent.addr.port().to_string(), receiver.url_at("/hooks/pdu"));
    let served = serve(&[
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", &port),
        ("BRIDGE_NOTIFY_WEBHOOK_URL", &url),
        ("BRIDGE_NOTIFY_WEBHOOK_SECRET", SECRET),
    ])
    .await;
    until(&served, "/api/status", 15, |s| s["connection"]["state"] == "online").await;
    assert_eq!(get(&served, "/api/alarms").await, json!({"active": [], "past": []}), "a healthy PDU has no alarm");

    agent.sim.model().set_psu_failed(2, true);
    let alarms = until(&served, "/api/alarms", 15, |a| with_kind(&a["active"], "psu_failed").is_some()).await;
    let alarm = with_kind(&alarms["active"], "psu_failed").unwrap().clone();
    assert_eq!(alarm["severity"], "critical");
    assert_eq!(alarm["title"], "Power supply 2 failed");
    assert_eq!(alarm["device_id"], "pdu44001");
    assert_eq!(alarm["subject"], 2);
    assert!(alarm.get("acknowledged").is_none(), "{alarm}");
    let id = alarm["id"].as_u64().unwrap();

    let hooks = hooks_until(&receiver, 15, |b| b.iter().any(|n| n["state"] == "raised")).await;
    let raised = hooks.iter().find(|n| n["state"] == "raised").unwrap();
    assert_eq!(raised["alarm"], "psu_failed");
    assert_eq!(raised["severity"], "critical");
    assert_eq!(raised["title"], "pdu44001: Power supply 2 failed");
    assert_eq!(raised["id"], id);
    assert_eq!(hooks.iter().filter(|n| n["state"] == "raised").count(), 1, "one alarm, one notification: {hooks:?}");

    // Who may acknowledge.
    let viewer = token(&served, "wall", "viewer").await;
    let operator = token(&served, "night-shift", "operator").await;
    let path = format!("/api/alarms/{id}/acknowledge");
    let (status, refused) = post_as(&served, None, &path).await;
    assert_eq!(status, 401, "{refused}");
    let (status, refused) = post_as(&served, Some(&viewer), &path).await;
    assert_eq!(status, 403, "{refused}");
    assert!(get(&served, "/api/alarms").await["active"][0].get("acknowledged").is_none(), "nothing changed");
    let (status, acked) = post_as(&served, Some(&operator), &path).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged"]["by"], "token night-shift");
    let at = acked["acknowledged"]["at"].as_f64().unwrap();
    // A second acknowledgement keeps the first.
    let (status, again) = post_as(&served, Some(&served.token), &path).await;
    assert_eq!((status, &again["acknowledged"]["by"]), (200, &json!("token night-shift")));
    for (path, want) in [("/api/alarms/abc/acknowledge", 400), ("/api/alarms/7/acknowledge", 404)] {
        let (status, body) = post_as(&served, Some(&operator), path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(if want == 400 { "abc" } else { "7" }), "{body}");
    }

    let audit = get(&served, "/api/audit?limit=50").await;
    let line = |actor: &str| {
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "alarm_acknowledge" && e["actor"] == actor && e["target"] == format!("alarm {id}"))
            .unwrap_or_else(|| panic!("no audit line by {actor}: {audit}"))
            .clone()
    };
    let first = line("token night-shift");
    assert_eq!(first["result"], "ok");
    assert_eq!(first["detail"], "Power supply 2 failed (pdu44001/psu_failed/2)");
    let second = line("token tests");
    assert!(second["detail"].as_str().unwrap().ends_with("already acknowledged by token night-shift"), "{second}");
    let hooks = hooks_until(&receiver, 15, |b| b.iter().any(|n| n["state"] == "acknowledged")).await;
    let ack = hooks.iter().find(|n| n["state"] == "acknowledged").unwrap();
    assert!(ack["message"].as_str().unwrap().starts_with("acknowledged by token night-shift"), "{ack}");

    // The supply comes back: the alarm clears after its quiet spell, into the past.
    agent.sim.model().set_psu_failed(2, false);
    let alarms = until(&served, "/api/alarms", 30, |a| a["active"] == json!([])).await;
    let past = &alarms["past"][0];
    assert_eq!(past["id"], id);
    assert!(past["cleared_at"].as_f64().unwrap() >= at, "{past}");
    assert_eq!(past["acknowledged"]["by"], "token night-shift", "the past keeps who acknowledged");
    hooks_until(&receiver, 15, |b| b.iter().any(|n| n["state"] == "cleared" && n["id"] == id)).await;
    let (status, body) = post_as(&served, Some(&operator), &path).await;
    assert_eq!(status, 409, "a cleared alarm is not acknowledged: {body}");

    // Each step is an event, kept in the store.
    for kind in ["alarm_raised", "alarm_acknowledged", "alarm_cleared"] {
        let events = get(&served, &format!("/api/events?kind={kind}")).await;
        let list = events.as_array().unwrap_or_else(|| panic!("{events}"));
        assert_eq!(list.len(), 1, "{kind}: {events}");
        assert!(list[0]["details"].as_str().unwrap().starts_with("Power supply 2 failed"), "{events}");
    }

    // /metrics counts what the notifier did and what is active.
    let (_, metrics) = http(served.addr, "GET", "/metrics", None).await;
    assert!(metrics.contains("pdu_bridge_alarms_active{severity=\"critical\"} 0"), "{metrics}");
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("pdu_bridge_notifications_sent_total{channel=\"webhook\"}"))
        .unwrap_or_else(|| panic!("no sent counter: {metrics}"));
    assert_eq!(sent.rsplit(' ').next(), Some("3"), "raised, acknowledged, cleared: {sent}");
    // The secret never shows.
    assert!(!metrics.contains(SECRET) && !get(&served, "/api/alarms").await.to_string().contains(SECRET));
}

/// The bridge restarts while a power supply is still failed: the alarm is
/// the same one (id, acknowledgement), nobody is notified of it again, and
/// it clears as usual when the supply is back; the past list survives too.
#[tokio::test]
async fn an_alarm_still_true_after_a_restart_keeps_its_id_and_acknowledgement_and_is_not_raised_again() {
    let agent = agent(64).await;
    let receiver = Receiver::start(&[]).await;
    let data = tempfile::tempdir().unwrap();
    let (port, url) = (agent.addr.port().to_string(), receiver.url_at("/hooks/pdu"));
    let pairs = [
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", port.as_str()),
        ("BRIDGE_NOTIFY_WEBHOOK_URL", url.as_str()),
        ("BRIDGE_NOTIFY_WEBHOOK_SECRET", SECRET),
        ("BRIDGE_DATA_DIR", data.path().to_str().unwrap()),
    ];
    let served = serve(&pairs).await;
    until(&served, "/api/status", 15, |s| s["connection"]["state"] == "online").await;
    // One alarm that comes and goes before the restart, for the past list.
    agent.sim.model().set_psu_failed(1, true);
    until(&served, "/api/alarms", 15, |a| with_kind(&a["active"], "psu_failed").is_some()).await;
    agent.sim.model().set_psu_failed(1, false);
    agent.sim.model().set_psu_failed(2, true);
    let alarms = until(&served, "/api/alarms", 30, |a| {
        a["past"].as_array().is_some_and(|p| p.len() == 1)
            && with_kind(&a["active"], "psu_failed").is_some_and(|x| x["subject"] == 2)
    })
    .await;
    let id = with_kind(&alarms["active"], "psu_failed").unwrap()["id"].as_u64().unwrap();
    let (status, acked) = post_as(&served, Some(&served.token), &format!("/api/alarms/{id}/acknowledge")).await;
    assert_eq!(status, 200, "{acked}");
    hooks_until(&receiver, 15, |b| b.iter().any(|n| n["state"] == "acknowledged" && n["id"] == id)).await;
    let before = get(&served, "/api/alarms").await;
    served.shutdown.cancel();
    served.task.await.unwrap().unwrap();
    let notified = receiver.seen().len();

    let served = serve(&pairs).await;
    // At once, before the first poll: the list as it was.
    assert_eq!(get(&served, "/api/alarms").await, before);
    until(&served, "/api/status", 15, |s| s["connection"]["state"] == "online").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = get(&served, "/api/alarms").await;
    assert_eq!(after["active"], before["active"], "still failed: the same alarm, acknowledged");
    assert_eq!(
        receiver.seen().len(),
        notified,
        "nothing new to notify: {:?}",
        receiver.seen().iter().map(|r| r.json()).collect::<Vec<_>>()
    );

    agent.sim.model().set_psu_failed(2, false);
    let alarms = until(&served, "/api/alarms", 30, |a| a["active"] == json!([])).await;
    assert_eq!((alarms["past"][0]["id"].as_u64(), alarms["past"].as_array().unwrap().len()), (Some(id), 2));
    assert_eq!(alarms["past"][0]["acknowledged"]["by"], "token tests");
    hooks_until(&receiver, 15, |b| b.iter().any(|n| n["state"] == "cleared" && n["id"] == id)).await;
}

#[tokio::test]
async fn a_pdu_that_stops_answering_raises_a_critical_alarm_that_clears_when_it_is_back() {
    let agent = agent(62).await;
    let port = agent.addr.port().to_string();
    let served = serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", &port), ("BRIDGE_SNMP_TIMEOUT", "0.3")]).await;
    until(&served, "/api/status", 15, |s| s["connection"]["state"] == "online").await;
    agent.sim.set_faults(server::pdu::sim::Faults { drop_replies: true, ..Default::default() });
    let alarms = until(&served, "/api/alarms", 20, |a| with_kind(&a["active"], "pdu_unreachable").is_some()).await;
    let alarm = with_kind(&alarms["active"], "pdu_unreachable").unwrap();
    assert_eq!(alarm["severity"], "critical");
    assert!(alarm["details"].as_str().unwrap().starts_with("the PDU stopped answering"), "{alarm}");
    agent.sim.set_faults(server::pdu::sim::Faults::default());
    let alarms = until(&served, "/api/alarms", 30, |a| a["active"] == json!([])).await;
    assert_eq!(alarms["past"][0]["kind"], "pdu_unreachable");
}

#[tokio::test]
async fn a_history_store_that_cannot_be_opened_is_an_alarm_of_the_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "a file where a folder should be").unwrap();
    let db = blocker.join("history.db");
    let served = serve(&[("BRIDGE_HISTORY_DB", db.to_str().unwrap())]).await;
    let alarms =
        until(&served, "/api/alarms", 10, |a| with_kind(&a["active"], "history_write_failing").is_some()).await;
    let alarm = with_kind(&alarms["active"], "history_write_failing").unwrap();
    assert!(alarm.get("device_id").is_none_or(Value::is_null), "the bridge's own alarm: {alarm}");
    assert!(alarm["details"].as_str().unwrap().starts_with("history is off: "), "{alarm}");
    assert_eq!(alarm["severity"], "critical");
}

#[tokio::test]
async fn a_pdu_that_has_never_answered_is_an_alarm_too() {
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port().to_string();
    let served = serve(&[
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", &port),
        ("BRIDGE_SNMP_TIMEOUT", "0.2"),
        ("BRIDGE_SNMP_RETRIES", "0"),
    ])
    .await;
    let alarms = until(&served, "/api/alarms", 20, |a| with_kind(&a["active"], "pdu_unreachable").is_some()).await;
    let alarm = with_kind(&alarms["active"], "pdu_unreachable").unwrap();
    assert!(alarm["details"].as_str().unwrap().starts_with("the PDU has never answered: "), "{alarm}");
    assert_eq!(alarm["device_id"], "pdu44001");
    drop(nobody);
}
