//! Events in the store: filters, pages with a cursor, retention, the
//! one-time import of an old `events.jsonl`, query plans, and an outlet
//! command from each origin recorded with its outcome.

use crate::mqtt::{free_port, Sub};
use crate::util::{http, http_as, serve, store};
use app::model::{DeviceId, Event};
use serde_json::Value;
use server::events::store::{self as events, Filter};
use sqlx::Row;
use std::time::Duration;

fn event(ts: f64, device: &str, kind: &str, outlet: Option<u32>) -> Event {
    let mut e = Event::new(ts, DeviceId::parse(device).unwrap(), kind, format!("{kind} at {ts}"));
    e.outlet = outlet;
    e
}

/// 30 events, one a second from t = 1000: devices a/b alternate, every third
/// is an outlet command on outlet 1 + i % 2.
fn thirty() -> Vec<Event> {
    (0..30)
        .map(|i| {
            let device = if i % 2 == 0 { "a" } else { "b" };
            if i % 3 == 0 {
                event(1000.0 + i as f64, device, "outlet_command", Some(1 + (i % 2) as u32))
            } else {
                event(1000.0 + i as f64, device, "ats_transfer", None)
            }
        })
        .collect()
}

#[tokio::test]
async fn pages_follow_the_cursor_across_page_boundaries_newest_first_with_filters() {
    let (store, _dir) = store().await;
    events::insert(&store, &thirty()).await.unwrap();

    // Every event exactly once, newest first, over pages of 7.
    let mut seen = Vec::new();
    let mut filter = Filter { limit: 7, ..Default::default() };
    loop {
        let page = events::query(&store, &filter).await.unwrap();
        assert!(page.events.len() <= 7);
        seen.extend(page.events.iter().map(|e| e.ts));
        match page.next_before_id {
            Some(id) => filter.before_id = Some(id),
            None => break,
        }
    }
    let expected: Vec<f64> = (0..30).rev().map(|i| 1000.0 + i as f64).collect();
    assert_eq!(seen, expected);

    let only = |f: Filter| {
        let store = store.clone();
        async move { events::query(&store, &Filter { limit: 100, ..f }).await.unwrap().events }
    };
    let b = only(Filter { device_id: Some("b".into()), ..Default::default() }).await;
    assert_eq!(b.len(), 15);
    assert!(b.iter().all(|e| e.device_id.as_str() == "b"));
    let commands = only(Filter { kind: Some("outlet_command".into()), ..Default::default() }).await;
    assert_eq!(commands.len(), 10);
    let outlet_2 = only(Filter { outlet: Some(2), ..Default::default() }).await;
    assert_eq!(outlet_2.iter().map(|e| e.ts).collect::<Vec<_>>(), vec![1027.0, 1021.0, 1015.0, 1009.0, 1003.0]);
    // since is inclusive, until exclusive (milliseconds).
    let window = only(Filter { since_ms: Some(1_010_000), until_ms: Some(1_013_000), ..Default::default() }).await;
    assert_eq!(window.iter().map(|e| e.ts).collect::<Vec<_>>(), vec![1012.0, 1011.0, 1010.0]);
    let both = only(Filter { device_id: Some("a".into()), kind: Some("outlet_command".into()), ..Default::default() });
    assert!(both.await.iter().all(|e| e.device_id.as_str() == "a" && e.kind == "outlet_command"));
}

#[tokio::test]
async fn every_event_filter_reads_its_page_through_an_index_without_sorting() {
    let (store, _dir) = store().await;
    let some = || Some("x".to_owned());
    let cases = [
        (Filter::default(), "events"),
        (Filter { device_id: some(), ..Default::default() }, "events_device"),
        (Filter { kind: some(), ..Default::default() }, "events_kind"),
        (Filter { outlet: Some(3), ..Default::default() }, "events_outlet"),
        (Filter { device_id: some(), before_id: Some(10), since_ms: Some(1), ..Default::default() }, "events_device"),
    ];
    for (filter, index) in cases {
        let (sql, values) = events::sql(&Filter { limit: 50, ..filter.clone() });
        let explain_sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut explain = sqlx::query(&explain_sql);
        for v in values {
            explain = match v {
                events::SqlValue::Int(i) => explain.bind(i),
                events::SqlValue::Text(t) => explain.bind(t),
            };
        }
        let plan: Vec<String> = explain.fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(3)).collect();
        let text = plan.join(" | ");
        assert!(!text.contains("TEMP B-TREE"), "{filter:?}: read in id order, no sort: {text}");
        if index == "events" {
            assert!(text.contains("SCAN events"), "{filter:?}: {text}");
        } else {
            assert!(text.contains(&format!("USING INDEX {index}")), "{filter:?}: {text}");
        }
    }
}

#[tokio::test]
async fn events_past_retention_are_deleted_and_newer_ones_kept() {
    let (store, _dir) = store().await;
    events::insert(&store, &thirty()).await.unwrap();
    assert_eq!(events::prune(&store, 1_020_000).await.unwrap(), 20);
    let left = events::query(&store, &Filter { limit: 100, ..Default::default() }).await.unwrap().events;
    assert_eq!(left.len(), 10);
    assert!(left.iter().all(|e| e.ts >= 1020.0));
}

#[tokio::test]
async fn an_old_events_file_is_imported_once_and_its_unreadable_lines_are_kept_aside() {
    let (store, dir) = store().await;
    let path = dir.path().join("events.jsonl");
    let good = |ts: f64, kind: &str| serde_json::to_string(&event(ts, "pdu44001", kind, None)).unwrap();
    let body = format!(
        "{}\n{{\"ts\": \"broken\"\n{}\n\n{}\n",
        good(100.0, "ats_transfer"),
        good(101.0, "triggered"),
        // An event as the earlier versions wrote it: no outlet, origin or outcome.
        r#"{"ts":102.5,"device_id":"pdu44001","rule":"shed","type":"restored","details":"switched on outlet 5"}"#
    );
    std::fs::write(&path, &body).unwrap();

    let report = events::import_jsonl(&store, path.clone()).await.unwrap().expect("a file to import");
    assert!(report.contains("3 events imported"), "{report}");
    let stored = events::query(&store, &Filter { limit: 10, ..Default::default() }).await.unwrap().events;
    let kinds: Vec<&str> = stored.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["restored", "triggered", "ats_transfer"]);
    assert_eq!(stored[0].rule.as_deref(), Some("shed"));
    assert_eq!(stored[0].ts, 102.5);

    assert!(!path.exists(), "renamed, so it is not imported again");
    assert_eq!(std::fs::read_to_string(dir.path().join("events.jsonl.imported")).unwrap(), body, "kept whole");
    let aside = std::fs::read_to_string(dir.path().join("events.jsonl.unreadable")).unwrap();
    assert!(aside.contains("# line 2:") && aside.contains("{\"ts\": \"broken\""), "{aside}");
    assert_eq!(events::import_jsonl(&store, path).await.unwrap(), None, "once only");
}

#[tokio::test]
async fn an_outlet_command_from_each_origin_is_an_event_with_its_outcome() {
    let mqtt = free_port();
    let rules = r#"[{"name":"shed","condition":"load_above","input":1,"threshold":0.1,"outlet":9,"action":"off","delay":0,"restore":false}]"#;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("rules.json"), rules).unwrap();
    let served = serve(&[
        ("MQTT_PORT", &mqtt.to_string()),
        ("BRIDGE_HA_DISCOVERY", "false"),
        ("BRIDGE_RULES_FILE", data.path().join("rules.json").to_str().unwrap()),
    ])
    .await;
    let commands = |body: &str| -> Vec<Value> { serde_json::from_str::<Vec<Value>>(body).unwrap_or_default() };
    // The rule fires by itself once the first snapshot is in.
    let mut found = Vec::new();
    for _ in 0..100 {
        let (_, body) = http(served.addr, "GET", "/api/events?kind=outlet_command", None).await;
        found = commands(&body);
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!found.is_empty(), "the rule's command is an event");

    let (code, body) = http(served.addr, "POST", "/api/outlets/3/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, 200, "{body}");
    // A form post, as a browser sends the dashboard's server functions.
    let form = "application/x-www-form-urlencoded";
    let (code, body) =
        http_as(served.addr, "POST", "/fn/outlet_command", Some("device_id=pdu44001&outlet=4&action=off"), form).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(served.addr, "POST", "/api/outlets/99/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, 404, "{body}");
    let mut sub = Sub::connect(mqtt, "events-test", &["pdu/pdu44001/outlet/6/command/response"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.publish("pdu/pdu44001/outlet/6/command", "off", false).await;
    sub.wait("pdu/pdu44001/outlet/6/command/response", |_, _| true, 10).await;

    let (code, body) = http(served.addr, "GET", "/api/events?kind=outlet_command&limit=20", None).await;
    assert_eq!(code, 200, "{body}");
    let events = commands(&body);
    let row = |outlet: u64| {
        events
            .iter()
            .find(|e| e["outlet"] == outlet)
            .map(|e| (e["origin"].as_str().unwrap_or("").to_owned(), e["outcome"].as_str().unwrap_or("").to_owned()))
            .unwrap_or_else(|| panic!("no command event for outlet {outlet}: {events:?}"))
    };
    assert_eq!(row(9), ("rule".into(), "ok".into()));
    assert_eq!(row(3), ("api".into(), "ok".into()));
    assert_eq!(row(4), ("dashboard".into(), "ok".into()));
    assert_eq!(row(6), ("mqtt".into(), "ok".into()));
    assert_eq!(row(99), ("api".into(), "failed".into()));
    let rule_event = events.iter().find(|e| e["outlet"] == 9).unwrap();
    assert_eq!(rule_event["rule"], "shed");
    assert!(events.iter().find(|e| e["outlet"] == 99).unwrap()["details"].as_str().unwrap().contains("no outlet 99"));
    served.shutdown.cancel();
}
