//! The history store: rollups, query plans, retention (issue 5, first slice).

use server::history::sample::Sample;
use server::history::store::{Store, Table};
use server::history::Writer;
use server::pdu::sim::SimModel;
use sqlx::Row;
use std::time::Duration;

/// A sample of the simulated PDU `t` seconds after its start.
fn sample(sim: &mut SimModel, start: tokio::time::Instant, t: u64) -> Sample {
    let id = app::model::DeviceId::parse("pdu44001").unwrap();
    Sample::from_snapshot(&sim.snapshot(&id, start + Duration::from_secs(t)))
}

use crate::util::store;

#[tokio::test]
async fn rollups_recomputed_from_raw_equal_the_incremental_ones_with_gaps_duplicates_and_late_samples() {
    let (store, _dir) = store().await;
    let mut writer = Writer::new(store.clone());
    let start = tokio::time::Instant::now();
    let mut sim = SimModel::new(3, start);
    let base = 1_795_000_000 - 1_795_000_000 % 900; // a quarter-hour boundary
    for t in 0..(40 * 60) {
        if (5 * 60..8 * 60).contains(&t) {
            continue; // a gap: three minutes without the PDU
        }
        let s = sample(&mut sim, start, t as u64);
        writer.add("pdu44001", base + t, &s).await.unwrap();
        if t % 97 == 0 {
            // A duplicate second with other values: the later one wins.
            let again = sample(&mut sim, start, t as u64 + 5000);
            writer.add("pdu44001", base + t, &again).await.unwrap();
        }
        if t == 30 * 60 {
            // Late samples, long after their minutes were rolled up: one
            // replaces a second of minute 3, one lands in the gap (minute 6).
            let late = sample(&mut sim, start, 9999);
            writer.add("pdu44001", base + 3 * 60 + 30, &late).await.unwrap();
            writer.add("pdu44001", base + 6 * 60 + 10, &late).await.unwrap();
        }
    }
    writer.flush().await.unwrap();
    let device = store.device("pdu44001").await.unwrap();
    let end = base + 40 * 60;
    let mut incremental = Vec::new();
    for table in Table::ALL {
        incremental.push(store.rollups(table, device, base, end).await.unwrap());
    }
    let (incremental_minutes, incremental_quarters) = (incremental[1].clone(), incremental[3].clone());
    let minute = |m: i64| incremental_minutes.iter().find(|(ts, _)| *ts == base + m * 60).map(|(_, r)| r.count);
    assert_eq!(incremental_minutes.len(), 40 - 2 - 1, "two empty minutes, and the last one is still open");
    assert_eq!((minute(5), minute(6), minute(7)), (None, Some(1), None), "gaps stay gaps; the late one counts");
    assert_eq!(minute(3), Some(60), "a late duplicate replaces, it does not add");
    assert_eq!(incremental_quarters.len(), 2);

    // Recompute every complete bucket of every level from raw, bottom up.
    let latest = end - 1;
    for table in Table::ALL {
        let mut b = base;
        while b + table.seconds() <= latest {
            store.roll(table, device, b).await.unwrap();
            b += table.seconds();
        }
    }
    for (table, before) in Table::ALL.into_iter().zip(&incremental) {
        assert_eq!(&store.rollups(table, device, base, end).await.unwrap(), before, "{table:?}");
    }

    // A minute keeps the brownout that lasted a few seconds: min < avg.
    let (_, minute) = &incremental_minutes[0];
    let volts = minute.avg.shape.index("outlet.4.power").unwrap();
    assert!(
        minute.min.values[volts] <= minute.avg.values[volts] && minute.avg.values[volts] <= minute.max.values[volts]
    );
}

/// A probe plugged in after 20 minutes: its temperature and humidity are
/// kept from then on, and no earlier history of the PDU is hidden by the
/// change of the sample's shape (per second, per 10 s, per minute).
#[tokio::test]
async fn a_probe_plugged_in_later_is_kept_and_hides_no_earlier_history() {
    use server::history::query::query;
    use server::history::sample::Shape;
    let (store, _dir) = store().await;
    let mut writer = Writer::new(store.clone());
    let start = tokio::time::Instant::now();
    let (mut without, mut with) = (SimModel::new(5, start), SimModel::new(5, start).with_probe());
    with.pin_probe(Some(24.5), Some(41.0));
    let base = 1_795_000_000 - 1_795_000_000 % 1_800;
    for t in 0..40 * 60 {
        let sim = if t < 20 * 60 { &mut without } else { &mut with };
        writer.add("pdu44001", base + t, &sample(sim, start, t as u64)).await.unwrap();
    }
    writer.flush().await.unwrap();
    let last = sample(&mut with, start, 0);
    assert!(last.shape.probe);
    assert!(!sample(&mut without, start, 0).shape.probe);
    let metrics: Vec<String> =
        ["total.power", "environment.temperature", "environment.humidity"].map(Into::into).into();
    // Raw seconds (a 1 h window), 10 s rollups (6 h) and minutes (24 h).
    for (span, bucket) in [(3_600, 1), (6 * 3_600, 10), (86_400, 60)] {
        let h = query(&store, "pdu44001", last.shape, &metrics, base, base + span).await.unwrap();
        assert_eq!(h.bucket_s, bucket);
        let points = |m: &str| h.series(m).unwrap().points.clone();
        let (power, temperature, humidity) =
            (points("total.power"), points("environment.temperature"), points("environment.humidity"));
        let per_bucket = |n: i64| n / bucket;
        // The open minute is not rolled up yet; every other bucket has power.
        assert!(power.len() as i64 >= per_bucket(39 * 60), "{bucket} s: {} power points", power.len());
        assert_eq!(power[0].0, base, "{bucket} s: power before the probe came");
        assert!(temperature.iter().all(|p| p.0 >= base + 20 * 60 && p.1 == 24.5), "{bucket} s: {temperature:?}");
        assert!(temperature.len() as i64 >= per_bucket(19 * 60), "{bucket} s: {} temperatures", temperature.len());
        assert!(humidity.iter().all(|p| p.1 == 41.0) && humidity.len() == temperature.len());
        let unit = |m: &str| h.series(m).unwrap().unit.clone();
        assert_eq!((unit("environment.temperature"), unit("environment.humidity")), ("°C".into(), "%".into()));
    }
    // Asked before the probe came: the probe's series are there, empty
    // (absent, not zero), even when the PDU has no probe now.
    let never = Shape { probe: false, ..last.shape };
    let h = query(&store, "pdu44001", never, &metrics, base, base + 1_200).await.unwrap();
    assert!(h.series("environment.temperature").unwrap().points.is_empty());
    assert_eq!(h.series("total.power").unwrap().points.len(), 1_200);
}

#[tokio::test]
async fn every_range_query_uses_the_primary_key() {
    let (store, _dir) = store().await;
    let queries = server::history::store::range_queries();
    assert_eq!(queries.len(), 1 + 1 + 5, "raw, energy and five rollup levels");
    for (table, sql) in queries {
        // EXPLAIN QUERY PLAN rows are (id, parent, notused, detail).
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind(1)
            .bind(0)
            .bind(1)
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect();
        let text = plan.join(" | ");
        assert!(
            text.contains(&format!("SEARCH {table} USING PRIMARY KEY (device=? AND ts>? AND ts<?)")),
            "{table}: {text}"
        );
        assert!(!text.contains("TEMP B-TREE"), "{table}: ordered by the key, no sort: {text}");
    }
}

#[tokio::test]
async fn retention_never_deletes_raw_rows_that_are_not_rolled_up() {
    let (store, _dir) = store().await;
    let start = tokio::time::Instant::now();
    let mut sim = SimModel::new(4, start);
    let device = store.device("pdu44001").await.unwrap();
    let rows: Vec<_> = (0..600).map(|t| (device, 60_000 + t, sample(&mut sim, start, t as u64).encode())).collect();
    store.insert(&rows).await.unwrap();
    // Only the first five minutes are rolled up.
    for ten in (60_000..60_300).step_by(10) {
        store.roll(Table::TenSeconds, device, ten).await.unwrap();
    }
    for minute in (60_000..60_300).step_by(60) {
        store.roll(Table::Minute, device, minute).await.unwrap();
    }
    let deleted = store.prune_raw(70_000, 7).await.unwrap();
    assert_eq!(deleted, 300);
    let left = store.raw(device, 0, 100_000).await.unwrap();
    assert_eq!((left.len(), left[0].0), (300, 60_300));
}

#[tokio::test]
async fn the_history_api_serves_buckets_csv_and_clear_errors() {
    use crate::util::{call, call_text, Started};
    use axum::http::StatusCode;
    let bridge = Started::new(&[("BRIDGE_POLL_INTERVAL", "0.25")]).await;
    let router = bridge.router();
    let mut points = 0;
    for _ in 0..80 {
        let (code, h) = call(&router, "GET", "/api/history/banks?range=1h", None).await;
        assert_eq!(code, StatusCode::OK, "{h}");
        assert_eq!(h["bucket_s"], 1);
        let series = h["series"].as_array().unwrap();
        let power = series.iter().find(|s| s["metric"] == "bank.1.power").expect("bank 1 power");
        assert_eq!(power["unit"], "W");
        points = power["points"].as_array().unwrap().len();
        if points >= 3 {
            let [ts, avg, min, max] = <[f64; 4]>::try_from(
                power["points"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(),
            )
            .unwrap();
            assert!(ts > 1.7e9 && min <= avg && avg <= max && avg > 100.0, "{ts} {avg} {min} {max}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(points >= 3, "samples reach the store in batches: {points}");

    let (code, csv) = call_text(&router, "GET", "/api/history/outlets.csv?range=1h&outlet=4", None, "text/csv").await;
    assert_eq!(code, StatusCode::OK);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time,metric,unit,avg,min,max"));
    assert!(lines.all(|l| l.contains(",outlet.4.power,") || l.contains(",outlet.4.current,")), "{csv}");

    let cases = [
        ("/api/history/banks?range=2h", StatusCode::BAD_REQUEST, "range"),
        ("/api/history/sources?start=10&end=5", StatusCode::BAD_REQUEST, "start"),
        ("/api/history/outlets?outlet=11", StatusCode::NOT_FOUND, "outlet"),
        ("/api/history/weather", StatusCode::NOT_FOUND, "path"),
        ("/api/history/banks?start=yesterday&end=1", StatusCode::BAD_REQUEST, "start"),
    ];
    crate::util::assert_errors(&router, &cases).await;
}

/// A bridge restarted while its PDU is down: the PDU has not answered
/// since, but its stored history is shown, not "no reading yet".
#[tokio::test]
async fn a_pdu_silent_since_the_start_still_shows_its_stored_history() {
    use crate::util::{http, serve};
    let data = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    {
        let store = std::sync::Arc::new(Store::open(&data.path().join("history.db")).await.unwrap());
        let mut writer = Writer::new(store.clone());
        let start = tokio::time::Instant::now();
        let mut sim = SimModel::new(9, start);
        for t in 0..300 {
            writer.add("pdu44001", now - 900 + t, &sample(&mut sim, start, t as u64)).await.unwrap();
        }
        writer.flush().await.unwrap();
        store.pool().close().await;
    }
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port().to_string();
    let served = serve(&[
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", &port),
        ("BRIDGE_SNMP_TIMEOUT", "0.3"),
        ("BRIDGE_DATA_DIR", data.path().to_str().unwrap()),
    ])
    .await;
    let (status, body) = http(served.addr, "GET", "/api/history/banks?range=1h", None).await;
    assert_eq!(status, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    let power = h["series"].as_array().unwrap().iter().find(|s| s["metric"] == "total.power").unwrap();
    assert_eq!(power["points"].as_array().unwrap().len(), 300, "{body}");
    // An id the bridge does not have is not a PDU without history.
    let (status, body) = http(served.addr, "GET", "/api/history/banks?range=1h&device_id=nope", None).await;
    assert_eq!(status, 404, "{body}");

    // A PDU that never answered and has nothing stored: no data, not an error.
    let fresh = serve(&[("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", &port), ("BRIDGE_SNMP_TIMEOUT", "0.3")]).await;
    let (status, body) = http(fresh.addr, "GET", "/api/history/outlets?range=6h", None).await;
    assert_eq!(status, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((h["series"].as_array().map(Vec::len), &h["bucket_s"]), (Some(0), &serde_json::json!(10)), "{h}");
}

/// kill -9 in the middle of writing: the store reopens intact and loses at
/// most the batch that was not committed yet.
#[tokio::test]
async fn a_bridge_killed_while_writing_leaves_an_intact_store_missing_at_most_one_batch() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("history.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pdu-bridge"))
        .env_clear()
        .env("BRIDGE_WEB_PORT", "0")
        .env("BRIDGE_DATA_DIR", data.path())
        .env("BRIDGE_HISTORY_DB", &db)
        .env("MQTT_BROKER", "none")
        // 10 polls a second: a batch of 10 samples commits about every second.
        .env("BRIDGE_POLL_INTERVAL", "0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    let _ = child.wait();

    let store = Store::open(&db).await.unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(check, "ok");
    let device = store.device("pdu44001").await.unwrap();
    let rows = store.raw(device, 0, i64::MAX).await.unwrap();
    assert!(rows.len() >= 2, "samples were written: {}", rows.len());
    let newest = rows.last().unwrap().0;
    // A batch is 10 samples (1 s here) or 10 s; allow the batch and a poll.
    assert!(killed_at - newest <= 3, "lost more than a batch: newest {newest}, killed at {killed_at}");
}

/// A GET through `router` (so with its default token) that keeps the
/// response's headers: (status, headers, body).
pub(crate) async fn get_with_headers(
    router: &axum::Router,
    uri: &str,
) -> (axum::http::StatusCode, axum::http::HeaderMap, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Issue 16: with one outlet chosen the CSV held all ten, with unix times,
/// as `outlets.csv`.
#[tokio::test]
async fn the_csv_of_one_outlet_has_that_outlet_only_with_local_iso_times_and_a_file_name() {
    use crate::util::{call, Started};
    use axum::http::StatusCode;
    let bridge = Started::new(&[("BRIDGE_POLL_INTERVAL", "0.25"), ("BRIDGE_TIMEZONE", "Europe/Berlin")]).await;
    let router = bridge.router();
    let mut first = None;
    for _ in 0..80 {
        let (code, h) = call(&router, "GET", "/api/history/outlets?range=1h&outlet=4", None).await;
        assert_eq!(code, StatusCode::OK, "{h}");
        let power = h["series"].as_array().unwrap().iter().find(|s| s["metric"] == "outlet.4.power").cloned();
        let points = power.map(|p| p["points"].as_array().unwrap().clone()).unwrap_or_default();
        if points.len() >= 3 {
            first = Some((points[0][0].as_i64().unwrap(), points[0][1].as_f64().unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (first_ts, first_avg) = first.expect("outlet 4 has history within 20 s");

    let (code, headers, csv) = get_with_headers(&router, "/api/history/outlets.csv?range=1h&outlet=4").await;
    assert_eq!(code, StatusCode::OK, "{csv}");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"pdu44001-outlets-4-1h.csv\"");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time,metric,unit,avg,min,max"));
    // The first row, parsed: the outlet's first bucket, at its local time.
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let [time, metric, unit, avg, min, max] = <[&str; 6]>::try_from(row).unwrap();
    let ts = time.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{time}: {e}"));
    assert_eq!(ts.as_second(), first_ts, "{time}");
    let offset = jiff::tz::TimeZone::get("Europe/Berlin").unwrap().to_offset(ts).seconds();
    assert!(time.ends_with(&format!("{:+03}:00", offset / 3_600)), "{time} is Berlin time with its offset");
    assert_eq!((metric, unit), ("outlet.4.power", "W"));
    let [avg, min, max] = [avg, min, max].map(|v| v.parse::<f64>().unwrap());
    assert!((avg - first_avg).abs() < 0.0005 && min <= avg && avg <= max, "{avg} {min} {max}");
    // Exactly that outlet's columns, every row.
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(
            matches!(cells[1..3], ["outlet.4.power", "W"] | ["outlet.4.current", "A"]) && cells.len() == 6,
            "{line}"
        );
    }

    // A custom window is named by its local dates; no range is the default 24 h.
    let (start, end) = (at("2026-10-31T23:00:00Z"), at("2026-11-07T23:00:00Z"));
    let (code, headers, csv) =
        get_with_headers(&router, &format!("/api/history/banks.csv?start={start}&end={end}")).await;
    assert_eq!((code, csv.as_str()), (StatusCode::OK, "time,metric,unit,avg,min,max\n"));
    assert_eq!(headers["content-disposition"], "attachment; filename=\"pdu44001-banks-2026-11-01_2026-11-08.csv\"");
    let (_, headers, _) = get_with_headers(&router, "/api/history/sources.csv").await;
    assert_eq!(headers["content-disposition"], "attachment; filename=\"pdu44001-sources-24h.csv\"");
}

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}
