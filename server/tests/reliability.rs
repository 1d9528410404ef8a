//! Nothing the user wrote is destroyed, a damaged store is moved aside, and
//! `/api/health` names each subsystem (issue 17, item 2).

use crate::util::{call, config, Started};
use axum::http::StatusCode;
use server::history::store::Store;

/// A rules file that cannot be read is kept as it is: listing says why, edits
/// are refused, and only an explicit replacement of every rule writes it
/// (keeping the old file as a timestamped backup).
#[tokio::test]
async fn a_corrupt_rules_file_is_preserved_and_edits_are_refused_until_it_is_replaced() {
    let (config, dir) = config(&[]);
    let file = config.data_dir.join("rules.json");
    let damaged = "[{\"name\": \"shed\", \"condition\": \"voltage_below\",  <- cut off by a full disk";
    std::fs::create_dir_all(&config.data_dir).unwrap();
    std::fs::write(&file, damaged).unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let bridge = Started::new(&[("BRIDGE_DATA_DIR", &data)]).await;
    let router = bridge.router();

    let (code, e) = call(&router, "GET", "/api/rules", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(e["error"].as_str().unwrap().contains("rules.json"), "{e}");
    let rule = r#"{"name":"night","condition":"time_between","threshold":"22:00-06:00","outlet":[7],"action":"off"}"#;
    let (code, e) = call(&router, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{e}");
    let (code, _) = call(&router, "DELETE", "/api/rules/shed", None).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), damaged, "not a byte written over it");
    let (code, health) = call(&router, "GET", "/api/health", None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let rules = health["subsystems"].as_array().unwrap().iter().find(|s| s["name"] == "rules").unwrap().clone();
    assert_eq!(rules["status"], "degraded", "{health}");

    let (code, list) = call(&router, "PUT", "/api/rules", Some(&format!("[{rule}]"))).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list[0]["name"], "night");
    let backups: Vec<_> = std::fs::read_dir(&config.data_dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with("rules.json.")
                && e.file_name().to_string_lossy().ends_with(".bak")
        })
        .collect();
    assert_eq!(backups.len(), 1, "one backup");
    assert_eq!(std::fs::read_to_string(backups[0].path()).unwrap(), damaged, "the old file kept whole");
    let (code, list) = call(&router, "GET", "/api/rules", None).await;
    assert_eq!((code, list.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (code, _) = call(&router, "POST", "/api/rules/night/disable", None).await;
    assert_eq!(code, StatusCode::OK, "edits work again");
}

/// Damage pages in the middle of a store file.
fn damage(path: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(path).unwrap().len();
    assert!(len > 8 * 4096, "a store with some pages: {len}");
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    // Every other page after the header page, whole (b-tree headers too).
    for page in (1..len / 4096).step_by(2) {
        f.seek(SeekFrom::Start(page * 4096)).unwrap();
        f.write_all(&[0xA5; 4096]).unwrap();
    }
    f.sync_all().unwrap();
}

/// A store at `path` with some pages of samples, then damaged.
async fn damaged_store(path: &std::path::Path) {
    {
        let store = Store::open(path).await.unwrap();
        let key = store.device("pdu44001").await.unwrap();
        let rows: Vec<(i64, i64, Vec<u8>)> = (0..4000).map(|t| (key, t, vec![7u8; 64])).collect();
        store.insert(&rows).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
        store.pool().close().await;
    }
    damage(path);
}

#[tokio::test]
async fn a_damaged_store_is_renamed_aside_and_a_new_one_started_with_an_alarm() {
    let (config, _dir) = config(&[]);
    damaged_store(&config.history_db).await;
    let opened = Store::open_checked(&config.history_db).await.unwrap();
    let (moved, why) = opened.replaced.expect("the damage is found");
    assert!(why.contains("quick_check") || why.contains("malformed"), "{why}");
    assert!(moved.exists() && moved.to_string_lossy().contains("history.db.damaged-"), "{}", moved.display());
    assert_eq!(opened.store.quick_check().await, Ok(()), "a sound new store");
    assert_eq!(opened.store.latest(opened.store.device("pdu44001").await.unwrap()).await.unwrap(), None);
}

/// The running bridge says so: an event everyone sees, and the history
/// subsystem's note, while history works on the new store.
#[tokio::test]
async fn a_bridge_started_on_a_damaged_store_raises_an_alarm_and_keeps_history() {
    let (config, _dir) = config(&[]);
    damaged_store(&config.history_db).await;
    let data = config.data_dir.to_str().unwrap().to_owned();
    let bridge = Started::new(&[("BRIDGE_DATA_DIR", &data)]).await;
    let router = bridge.router();
    let (_, events) = call(&router, "GET", "/api/events?kind=history_replaced", None).await;
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    let (_, health) = call(&router, "GET", "/api/health", None).await;
    let history = health["subsystems"].as_array().unwrap().iter().find(|s| s["name"] == "history").unwrap().clone();
    assert_eq!(history["status"], "ok", "history works again: {health}");
    assert!(history["detail"].as_str().unwrap().contains("moved to"), "{health}");
    let damaged = std::fs::read_dir(&config.data_dir).unwrap().flatten();
    assert_eq!(damaged.filter(|e| e.file_name().to_string_lossy().starts_with("history.db.damaged-")).count(), 1);
}

#[tokio::test]
async fn health_names_each_subsystem_and_is_not_ok_while_mqtt_is_down() {
    let dead = crate::mqtt::free_port().to_string();
    let bridge = Started::new(&[("MQTT_BROKER", "127.0.0.1"), ("MQTT_PORT", &dead)]).await;
    let router = bridge.router();
    let mut health = serde_json::Value::Null;
    for _ in 0..100 {
        let (code, h) = call(&router, "GET", "/api/health", None).await;
        health = h;
        if code == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let names: Vec<&str> =
        health["subsystems"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["poller", "queues", "mqtt", "history", "rules"]);
    let status = |name: &str| {
        health["subsystems"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["status"].clone()
    };
    assert_eq!(
        (status("poller"), status("mqtt"), status("history")),
        ("ok".into(), "degraded".into(), "ok".into()),
        "{health}"
    );
    assert_eq!(health["status"], "degraded");
    assert!(health["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().starts_with("MQTT")), "{health}");
    assert!(health["queues"].as_array().unwrap().iter().any(|q| q["name"] == "history"), "{health}");
}

/// Fifty commands at once to one outlet: each answer reports the state read
/// back after that command, and says when a later command followed it.
#[tokio::test]
async fn concurrent_commands_to_one_outlet_are_answered_truthfully() {
    use app::model::{OutletAction, OutletState};
    use server::bridge::Origin;
    let bridge = Started::new(&[]).await;
    // Each request takes a little while, as over a network, so commands overlap.
    let faults = server::pdu::sim::Faults { delay: Some(std::time::Duration::from_millis(5)), ..Default::default() };
    bridge.sim().set_faults(faults);
    let commands = (0..50).map(|i| {
        let services = bridge.services.clone();
        let action = if i % 2 == 0 { OutletAction::Off } else { OutletAction::On };
        async move {
            (
                action,
                services
                    .outlet_command(&crate::util::shell_admin(), Origin::Api, None, 5, action, false)
                    .await
                    .unwrap(),
            )
        }
    });
    let answers = futures::future::join_all(commands).await;
    for (action, answer) in &answers {
        let expected = if *action == OutletAction::Off { OutletState::Off } else { OutletState::On };
        assert_eq!(answer.state, expected, "{action}: the state this command left, not another's");
    }
    let superseded = answers.iter().filter(|(_, a)| a.superseded).count();
    assert!(superseded >= 1, "commands queued behind others say so");
    assert!(answers.iter().any(|(_, a)| !a.superseded), "the last one is not superseded");
    // The outlet ends as the last command left it.
    let last = answers.iter().max_by(|a, b| a.1.ts.total_cmp(&b.1.ts)).unwrap();
    let now = bridge.sim().model().outlet_state(5, tokio::time::Instant::now()).unwrap().0;
    assert_eq!(now, last.1.state);
}

/// A store left by the previous version (schema 3: no events table) is
/// upgraded at start: its samples, rollups and energy read as before, and
/// events are kept from then on.
#[tokio::test]
async fn a_store_written_by_the_previous_schema_is_upgraded_at_start_and_keeps_its_history() {
    use server::history::query::query;
    use server::history::sample::{Sample, Shape};
    use server::history::store::SCHEMA_VERSION;
    use server::history::Writer;
    let dir = tempfile::tempdir().unwrap();
    // Three hours of samples written by this version, copied into a file with
    // the older schema, as the previous version would have left it.
    let current = dir.path().join("current.db");
    let older = dir.path().join("history.db");
    let store = std::sync::Arc::new(Store::open(&current).await.unwrap());
    let id = app::model::DeviceId::parse("pdu44001").unwrap();
    let start = tokio::time::Instant::now();
    let mut sim = server::pdu::sim::SimModel::new(3, start);
    let mut writer = Writer::new(store.clone());
    // Yesterday, so the retention that runs at start keeps it.
    let t0 = (server::clock::unix_secs() as i64 - 86_400) / 3_600 * 3_600;
    let mut shape = None;
    for t in (0..3 * 3_600).step_by(10) {
        let snapshot = sim.snapshot(&id, start + std::time::Duration::from_secs(t as u64));
        let sample = Sample::from_snapshot(&snapshot);
        shape = Some(sample.shape);
        writer.add("pdu44001", t0 + t, &sample).await.unwrap();
    }
    writer.flush().await.unwrap();
    writer.roll_open().await.unwrap();
    let shape: Shape = shape.unwrap();
    let metrics = ["total.power".to_owned(), "bank.1.current".to_owned()];
    let expected = query(&store, "pdu44001", shape, &metrics, t0, t0 + 3 * 3_600).await.unwrap();
    store.pool().close().await;

    Store::create_at_version(&older, 3).await.unwrap();
    {
        let copy = Store::inspect(&older).await.unwrap();
        assert_eq!(copy, (3, Ok(())), "a schema-3 file");
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&older);
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await.unwrap();
        let attach = format!("ATTACH DATABASE '{}' AS cur", current.display());
        sqlx::query(&attach).execute(&mut conn).await.unwrap();
        for table in [
            "devices",
            "samples",
            "rollup_1m",
            "rollup_15m",
            "rollup_10s",
            "rollup_5m",
            "rollup_30m",
            "energy",
            "reports",
        ] {
            let copy = format!("INSERT INTO main.{table} SELECT * FROM cur.{table}");
            sqlx::query(&copy).execute(&mut conn).await.unwrap();
        }
        let has_events: i64 = sqlx::query_scalar("SELECT count(*) FROM main.sqlite_master WHERE name = 'events'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(has_events, 0, "the older schema has no events table");
        let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM main.samples").fetch_one(&mut conn).await.unwrap();
        assert_eq!(copied, 3 * 360, "every sample copied");
        sqlx::Connection::close(conn).await.unwrap();
    }

    // The bridge starts on it: upgraded, its history intact, events kept.
    let data = dir.path().to_str().unwrap().to_owned();
    let bridge = Started::new(&[("BRIDGE_DATA_DIR", &data)]).await;
    let (version, check) = Store::inspect(&older).await.unwrap();
    assert_eq!((version, check), (SCHEMA_VERSION, Ok(())));
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.contains("damaged")), "{files:?}");
    let upgraded = query(&bridge.history, "pdu44001", shape, &metrics, t0, t0 + 3 * 3_600).await.unwrap();
    assert_eq!(upgraded, expected, "the same history after the upgrade");
    let router = bridge.router();
    let (code, _) = call(&router, "POST", "/api/outlets/2/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::OK);
    let (_, events) = call(&router, "GET", "/api/events?kind=outlet_command", None).await;
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
}

/// Regression: a consumer that fell behind made `/api/health` call the
/// pollers degraded; it is the queues' matter, and the pollers are fine.
#[tokio::test]
async fn a_consumer_falling_behind_degrades_the_queues_not_the_pollers() {
    let bridge = Started::new(&[("BRIDGE_POLL_INTERVAL", "0.1")]).await;
    // A consumer that never reads, with room for one snapshot.
    let _never_read = bridge.bridge.bus().durable("slow-consumer", 1, None);
    let router = bridge.router();
    let mut health = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, h) = call(&router, "GET", "/api/health", None).await;
        health = h;
        if health["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "slow-consumer" && q["lost"].as_u64() > Some(0))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let status = |name: &str| {
        health["subsystems"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["status"].clone()
    };
    assert_eq!((status("poller"), status("queues")), ("ok".into(), "degraded".into()), "{health}");
    assert_eq!(health["status"], "degraded");
    assert!(
        health["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().starts_with("slow-consumer: ")),
        "{health}"
    );
}
