//! Energy from the PDU's counters, local days across DST, and the weekly
//! and monthly reports (issue 5).

use server::history::energy::{Slot, SLOT};
use server::history::reports::{self, Period, Settings};
use server::history::sample::Sample;
use server::history::store::Store;
use server::history::Writer;
use server::pdu::sim::SimModel;
use std::collections::BTreeMap;

use crate::util::store;

fn berlin() -> Settings {
    Settings {
        zone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        price_per_kwh: Some(0.3),
        currency: "EUR".into(),
    }
}

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

/// A PDU44001 sample with bank 1 at `watts` and its counter at `units` (0.1 kWh).
fn sample(base: &Sample, watts: i64, units: i64) -> Sample {
    let mut s = base.clone();
    let shape = s.shape;
    s.values[shape.index("bank.1.power").unwrap()] = Some(watts);
    s.values[shape.index("bank.1.energy").unwrap()] = Some(units);
    s.values[shape.index("bank.2.power").unwrap()] = Some(0);
    s.values[shape.index("bank.2.energy").unwrap()] = Some(0);
    s.values[shape.index("total.power").unwrap()] = Some(watts);
    s.values[shape.index("ats.selected").unwrap()] = Some(1);
    s
}

fn base() -> Sample {
    let now = tokio::time::Instant::now();
    Sample::from_snapshot(&SimModel::new(1, now).snapshot(&app::model::DeviceId::parse("pdu44001").unwrap(), now))
}

/// 1.2 kW for an hour; the PDU resets its counters half-way. Counting goes
/// on from the new counter, the reset interval is integrated from power,
/// and nothing is negative (a naive difference would be -0.5 kWh).
#[tokio::test]
async fn energy_across_a_counter_reset_is_never_negative() {
    let (store, _dir) = store().await;
    let mut writer = Writer::new(store.clone());
    let base = base();
    let t0 = at("2026-11-23T10:00:00Z");
    for t in 0..=3_600i64 {
        // 1.2 kWh an hour = 12 units of 0.1 kWh; the counter restarts at 1800 s.
        let units = if t < 1_800 { 5_000 + t * 12 / 3_600 } else { (t - 1_800) * 12 / 3_600 };
        writer.add("pdu44001", t0 + t, &sample(&base, 1_200, units)).await.unwrap();
    }
    writer.flush().await.unwrap();
    let device = store.device("pdu44001").await.unwrap();
    let slots = store.energy(device, t0 - SLOT, t0 + 2 * 3_600).await.unwrap();
    assert_eq!(slots.len(), 4 + 1, "four quarter hours and the first second of the next");
    assert!(slots.iter().all(|(_, s)| s.wh.values().all(|v| *v >= 0.0)), "{slots:?}");
    let total: f64 = slots.iter().map(|(_, s)| s.get("bank.1")).sum();
    // 500 Wh counted before the reset, 1 s of 1.2 kW across it, 600 Wh after.
    assert!((total - (500.0 + 1_200.0 / 3_600.0 + 600.0)).abs() < 1e-6, "{total}");
    let pdu: f64 = slots.iter().map(|(_, s)| s.get("pdu")).sum();
    let source_a: f64 = slots.iter().map(|(_, s)| s.get("source.a")).sum();
    assert!((pdu - total).abs() < 1e-6 && (source_a - total).abs() < 1e-6);
    assert_eq!(slots.iter().map(|(_, s)| s.get("source.b")).sum::<f64>(), 0.0);
    // Peak and average come from the power readings.
    let t = reports::totals(&slots, None);
    assert_eq!((t.peak_w, t.avg_w), (Some(1_200.0), Some(1_200.0)));

    // A restart of the bridge (a new writer) counts what happened while it
    // was down from the stored sample on: 20 minutes later, 0.4 kWh more,
    // spread over the slots the gap covers.
    let mut writer = Writer::new(store.clone());
    writer.add("pdu44001", t0 + 3_600 + 1_200, &sample(&base, 1_200, 6 + 4)).await.unwrap();
    writer.flush().await.unwrap();
    let slots = store.energy(device, t0 - SLOT, t0 + 3 * 3_600).await.unwrap();
    let total_after: f64 = slots.iter().map(|(_, s)| s.get("bank.1")).sum();
    assert!((total_after - total - 400.0).abs() < 1e-6, "{total_after}");
    assert!(slots.iter().filter(|(ts, _)| *ts >= t0 + 3_600).count() == 2, "spread over the gap: {slots:?}");
}

/// Slots of 100 Wh each quarter hour from `from` to `to`.
async fn steady(store: &Store, from: i64, to: i64) -> i64 {
    let device = store.device("pdu44001").await.unwrap();
    let slot = Slot {
        wh: BTreeMap::from([
            ("pdu".to_owned(), 100.0),
            ("source.a".to_owned(), 100.0),
            ("bank.1".to_owned(), 100.0),
            ("outlet.3".to_owned(), 40.0),
        ]),
        peak_w: Some(400.0),
        power_sum: 400.0,
        power_n: 1,
    };
    let slots: Vec<(i64, i64, &Slot)> = (from..to).step_by(SLOT as usize).map(|ts| (device, ts, &slot)).collect();
    store.put_energy(&slots).await.unwrap();
    device
}

#[tokio::test]
async fn local_days_are_23_and_25_hours_long_across_dst() {
    let (store, _dir) = store().await;
    let settings = berlin();
    let device = steady(&store, at("2026-03-27T00:00:00Z"), at("2026-04-01T00:00:00Z")).await;
    let days = reports::days(&store, device, &settings, "2026-03-28".parse().unwrap(), "2026-03-30".parse().unwrap())
        .await
        .unwrap();
    let kwh: Vec<(&str, f64)> = days.iter().map(|d| (d.date.as_str(), d.totals.kwh)).collect();
    assert_eq!(kwh, [("2026-03-28", 9.6), ("2026-03-29", 9.2), ("2026-03-30", 9.6)], "spring forward: 23 h");
    assert_eq!(days[1].totals.cost, Some(2.76));

    steady(&store, at("2026-10-24T00:00:00Z"), at("2026-10-27T00:00:00Z")).await;
    let days = reports::days(&store, device, &settings, "2026-10-25".parse().unwrap(), "2026-10-25".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(days[0].totals.kwh, 10.0, "fall back: 25 h");
    assert_eq!(days[0].totals.outlets[&3], 4.0);
}

#[tokio::test]
async fn weekly_and_monthly_reports_are_made_for_completed_periods_with_catch_up() {
    let (store, _dir) = store().await;
    let settings = berlin();
    // Data from Wednesday 14 October to Tuesday 10 November 2026.
    steady(&store, at("2026-10-14T08:00:00Z"), at("2026-11-10T12:00:00Z")).await;
    let names = |_: &str| BTreeMap::from([(3u32, "NAS <main>".to_owned())]);

    // The bridge was down until 27 November: every missed period is made now.
    let made = reports::generate_due(&store, &settings, at("2026-11-27T12:00:00Z"), &names).await.unwrap();
    let weeks = ["2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"];
    let mut expected: Vec<String> = weeks.iter().map(|w| format!("pdu44001/week-{w}")).collect();
    expected.push("pdu44001/month-2026-10".into());
    assert_eq!(made, expected, "November is not over, the week of 23 November neither");
    let again = reports::generate_due(&store, &settings, at("2026-11-27T13:00:00Z"), &names).await.unwrap();
    assert!(again.is_empty(), "made once: {again:?}");

    // Monday 00:00 to Monday 00:00 local; this week has the 25-hour Sunday.
    let week = reports::fetch(&store, "pdu44001", "week-2026-10-19").await.unwrap();
    assert_eq!((week.start, week.end), (at("2026-10-18T22:00:00Z"), at("2026-10-25T23:00:00Z")));
    assert_eq!((week.first_day.as_str(), week.last_day.as_str()), ("2026-10-19", "2026-10-25"));
    assert_eq!(week.days.len(), 7);
    assert_eq!(week.days[6].totals.kwh, 10.0);
    assert_eq!(week.totals.kwh, 67.6, "169 hours");
    assert_eq!(week.totals.cost, Some(20.28));
    assert_eq!(week.totals.sources["a"], 67.6);
    assert_eq!(week.totals.outlets[&3], 27.04);
    // The first week began on Wednesday at 10:00 local: compared with nothing.
    let first = reports::fetch(&store, "pdu44001", "week-2026-10-12").await.unwrap();
    assert_eq!(first.previous_kwh, None);
    let next = reports::fetch(&store, "pdu44001", "week-2026-10-26").await.unwrap();
    assert_eq!((next.totals.kwh, next.previous_kwh, next.change_percent), (67.2, Some(67.6), Some(-0.6)));
    let month = reports::fetch(&store, "pdu44001", "month-2026-10").await.unwrap();
    assert_eq!((month.days.len(), month.days[0].date.as_str()), (31, "2026-10-01"));
    assert_eq!(month.days[0].totals.kwh, 0.0);
    assert_eq!(month.start, at("2026-09-30T22:00:00Z"));

    // Renderings: CSV a row a day plus the total; HTML escapes names.
    let csv = reports::csv(&week);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "date,kwh,source_a_kwh,source_b_kwh,bank_1_kwh,outlet_3_kwh,peak_w,avg_w,cost");
    assert_eq!(lines.len(), 1 + 7 + 1);
    assert!(lines[8].starts_with("total,67.600,67.600,0.000,67.600,27.040,400,400.0,20.28"), "{}", lines[8]);
    let html = reports::html(&week, "n0nce");
    assert!(html.contains("NAS &lt;main&gt;") && !html.contains("<main>"));
    assert!(html.contains("67.60 kWh") && html.contains("20.28 EUR"));

    assert_eq!(Period::parse("week-2026-10-20"), None, "not a Monday");
    assert_eq!(Period::parse("month-2026-13"), None);
    let err = reports::fetch(&store, "pdu44001", "week-2026-11-23").await.unwrap_err();
    assert!(matches!(err, server::history::HistoryError::NoSuchReport(_)), "{err}");
}

#[tokio::test]
async fn the_energy_and_report_api() {
    use crate::util::{call, call_text, Started};
    use axum::http::StatusCode;
    let bridge = Started::new(&[("BRIDGE_TIMEZONE", "Europe/Berlin"), ("BRIDGE_PRICE_PER_KWH", "0.25")]).await;
    let store = bridge.history.clone();
    let now = server::clock::unix_secs() as i64;
    // Slots on the 15-minute grid up to the current one, so "today" has energy
    // even in the first minutes of a local day.
    let from = now - 20 * 86_400;
    steady(&store, from - from.rem_euclid(SLOT), now + 1).await;
    let settings = Settings::from_config(&bridge.config);
    reports::generate_due(&store, &settings, now, &|id| {
        bridge.bridge.device(Some(id)).map(|d| reports::outlet_names(&d)).unwrap_or_default()
    })
    .await
    .unwrap();
    let router = bridge.router();

    let (code, energy) = call(&router, "GET", "/api/energy", None).await;
    assert_eq!(code, StatusCode::OK, "{energy}");
    assert_eq!(energy["time_zone"], "Europe/Berlin");
    assert!(energy["today"]["kwh"].as_f64().unwrap() > 0.0, "{energy}");
    let kwh = |period: &str| energy[period]["kwh"].as_f64().unwrap();
    assert!(kwh("week") >= kwh("today") && kwh("month") >= kwh("today"), "{energy}");
    assert!(energy["today"]["cost"].as_f64().is_some());

    let (code, days) = call(&router, "GET", "/api/energy/daily?days=7", None).await;
    assert_eq!(code, StatusCode::OK, "{days}");
    let days = days.as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert!(days.iter().all(|d| d["totals"]["kwh"].as_f64().unwrap() > 0.0), "{days:?}");
    assert!(days[5]["date"].as_str() < days[6]["date"].as_str(), "today last");

    let (code, list) = call(&router, "GET", "/api/reports", None).await;
    assert_eq!(code, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert!(list.len() >= 2, "{list:?}");
    let id = list.iter().find(|r| r["kind"] == "week").unwrap()["id"].as_str().unwrap().to_owned();
    let (code, report) = call(&router, "GET", &format!("/api/reports/{id}?device_id=pdu44001"), None).await;
    assert_eq!((code, report["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert_eq!(report["days"].as_array().unwrap().len(), 7);
    assert!(report["outlet_names"]["3"].is_string(), "names from the live PDU: {report}");
    let (code, csv) = call_text(&router, "GET", &format!("/api/reports/{id}.csv"), None, "text/csv").await;
    assert_eq!(code, StatusCode::OK);
    assert!(csv.starts_with("date,kwh,") && csv.lines().count() == 9, "{csv}");
    let (code, html) = call_text(&router, "GET", &format!("/api/reports/{id}.html"), None, "text/html").await;
    assert_eq!(code, StatusCode::OK);
    assert!(html.contains("<h1>Energy report: Week "), "{html}");

    let cases = [
        ("/api/reports/week-2020-01-06", StatusCode::NOT_FOUND, "id"),
        ("/api/reports/yesterday", StatusCode::NOT_FOUND, "id"),
        ("/api/reports?device_id=nope", StatusCode::NOT_FOUND, "device_id"),
        ("/api/energy/daily?days=0", StatusCode::BAD_REQUEST, "days"),
        ("/api/energy/daily?days=many", StatusCode::BAD_REQUEST, "days"),
    ];
    crate::util::assert_errors(&router, &cases).await;
}

/// The demo's simulated history: filled once, charts at 7 days have data,
/// energy is counted.
#[tokio::test]
async fn the_demo_fill_gives_a_simulated_pdu_history_once() {
    let (store, _dir) = store().await;
    let id = app::model::DeviceId::parse("pdu44001").unwrap();
    let pdu = server::history::DemoPdu { id, seed: 7, probe: true };
    let end = at("2026-11-27T12:00:00Z");
    let n = server::history::demo_fill(&store, &pdu, 2, end, 60).await.unwrap();
    assert_eq!(n as i64, (2 * 86_400 - 7_200) / 60 + 7_200);
    assert_eq!(server::history::demo_fill(&store, &pdu, 2, end, 60).await.unwrap(), 0, "never over real history");
    let device = store.device("pdu44001").await.unwrap();
    let shape = store.latest(device).await.unwrap().unwrap().1.shape;
    assert!(shape.probe, "a simulated PDU with a probe gets its temperature filled too");
    let metrics = ["total.power".into(), "environment.temperature".into()];
    let h = server::history::query::query(&store, "pdu44001", shape, &metrics, end - 7 * 86_400, end).await.unwrap();
    assert!(h.series[0].points.len() >= 2 * 86_400 / 300 - 2, "{}", h.series[0].points.len());
    assert_eq!(h.series[1].points.len(), h.series[0].points.len());
    let slots = store.energy(device, end - 3 * 86_400, end).await.unwrap();
    let t = reports::totals(&slots, None);
    assert!(t.kwh > 1.0 && t.outlets.len() == 10, "{t:?}");
}

/// A bridge in Berlin whose store has 100 Wh a quarter hour from source A
/// (none from B) for the last 20 days, its reports made; and the newest
/// weekly report's id (a week wholly inside those 20 days).
async fn bridge_with_reports(price: Option<&str>) -> (crate::util::Started, String) {
    let mut settings = vec![("BRIDGE_TIMEZONE", "Europe/Berlin"), ("BRIDGE_CURRENCY", "EUR")];
    settings.extend(price.map(|p| ("BRIDGE_PRICE_PER_KWH", p)));
    let bridge = crate::util::Started::new(&settings).await;
    let now = server::clock::unix_secs() as i64;
    let from = now - 20 * 86_400;
    steady(&bridge.history, from - from.rem_euclid(SLOT), now + 1).await;
    reports::generate_due(&bridge.history, &Settings::from_config(&bridge.config), now, &|id| {
        bridge.bridge.device(Some(id)).map(|d| reports::outlet_names(&d)).unwrap_or_default()
    })
    .await
    .unwrap();
    let (_, list) = crate::util::call(&bridge.router(), "GET", "/api/reports", None).await;
    let week = list.as_array().unwrap().iter().find(|r| r["kind"] == "week").expect("a weekly report");
    let id = week["id"].as_str().unwrap().to_owned();
    (bridge, id)
}

/// Issue 16: the weekly report showed "kWh" with no number for source B and
/// an empty Cost column.
#[tokio::test]
async fn a_report_has_every_number_of_the_energy_api_and_a_cost_only_with_a_price() {
    use crate::history::get_with_headers;
    use crate::util::{call, call_text};
    use axum::http::StatusCode;
    for price in [Some("0.25"), None] {
        let (bridge, id) = bridge_with_reports(price).await;
        let router = bridge.router();
        let (_, report) = call(&router, "GET", &format!("/api/reports/{id}"), None).await;
        let (_, daily) = call(&router, "GET", "/api/energy/daily?days=30", None).await;
        // The energy API's row of each of the report's days.
        let days: Vec<&serde_json::Value> = report["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                daily.as_array().unwrap().iter().find(|e| e["date"] == d["date"]).expect("the day in /api/energy/daily")
            })
            .collect();
        assert_eq!(days.len(), 7);
        let number = |v: &serde_json::Value, decimals: usize| format!("{:.decimals$}", v.as_f64().unwrap_or(0.0));
        assert!(days.iter().all(|d| d["totals"]["sources"]["b"].is_null()), "no energy from source B");

        let (code, headers, csv) = get_with_headers(&router, &format!("/api/reports/{id}.csv")).await;
        assert_eq!(code, StatusCode::OK, "{csv}");
        assert_eq!(headers["content-disposition"], format!("attachment; filename=\"pdu44001-{id}.csv\"").as_str());
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        assert_eq!(column("cost").is_some(), price.is_some(), "a cost column only with a price: {header:?}");
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 7 + 1);
        for (row, day) in rows.iter().zip(&days) {
            assert!(row.len() == header.len() && row.iter().all(|cell| !cell.is_empty()), "every number: {row:?}");
            let cell = |name: &str| row[column(name).unwrap()];
            assert_eq!(cell("date"), day["date"]);
            assert_eq!(cell("kwh"), number(&day["totals"]["kwh"], 3));
            assert_eq!(cell("source_a_kwh"), number(&day["totals"]["sources"]["a"], 3));
            assert_eq!(cell("source_b_kwh"), "0.000");
            if price.is_some() {
                assert_eq!(cell("cost"), number(&day["totals"]["cost"], 2));
            }
        }
        let total: f64 = days.iter().map(|d| d["totals"]["kwh"].as_f64().unwrap()).sum();
        let total_row = &rows[7];
        assert_eq!(total_row[0], "total");
        assert!((total_row[1].parse::<f64>().unwrap() - total).abs() < 0.0005, "{total_row:?} against {total}");

        let (code, html) = call_text(&router, "GET", &format!("/api/reports/{id}.html"), None, "text/html").await;
        assert_eq!(code, StatusCode::OK);
        assert!(html.contains(&format!("Energy<strong>{total:.2} kWh</strong>")), "{html}");
        assert!(html.contains("Source B<strong>0.00 kWh</strong>"), "{html}");
        for day in &days {
            let t = &day["totals"];
            let row = format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>0.00</td>",
                day["date"].as_str().unwrap(),
                number(&t["kwh"], 2),
                number(&t["sources"]["a"], 2)
            );
            let at = html.find(&row).unwrap_or_else(|| panic!("{row} in {html}"));
            let row = &html[at..at + html[at..].find("</tr>").unwrap()];
            assert!(!row.contains("<td></td>") && !row.contains("<td> "), "{row}");
            if price.is_some() {
                assert!(row.ends_with(&format!("<td>{}</td>", number(&t["cost"], 2))), "{row}");
            }
        }
        let note = "No price per kWh is set (BRIDGE_PRICE_PER_KWH), so no cost is shown.";
        match price {
            Some(_) => {
                let cost = report["totals"]["cost"].as_f64().unwrap();
                assert!((cost - total * 0.25).abs() < 0.006, "{cost}");
                assert!(html.contains(&format!("<strong>Cost:</strong> {cost:.2} EUR at 0.25 EUR per kWh")), "{html}");
                assert!(html.contains("<th scope=\"col\">Cost EUR</th>") && !html.contains(note));
            }
            None => {
                assert!(report["totals"]["cost"].is_null());
                assert!(html.contains(note) && !html.contains(">Cost"), "{html}");
            }
        }
    }
}

/// Issue 16: the print page had no Print button. The CSP allows no inline
/// script but the page's own, by nonce, and no `onclick`.
#[tokio::test]
async fn the_print_page_has_a_print_button_whose_script_the_csp_allows() {
    use crate::history::get_with_headers;
    let (bridge, id) = bridge_with_reports(Some("0.25")).await;
    let (code, headers, html) = get_with_headers(&bridge.router(), &format!("/api/reports/{id}.html")).await;
    assert_eq!(code, axum::http::StatusCode::OK);
    let csp = headers["content-security-policy"].to_str().unwrap();
    let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
    assert!(!script_src.contains("'unsafe-inline'"), "{csp}");
    let nonce = script_src.split_whitespace().find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\'')).unwrap();
    assert!(html.contains(r#"<button type="button" id="print">Print</button>"#), "{html}");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 1, "{html}");
    assert!(scripts[0].starts_with(&format!(" nonce=\"{nonce}\">")), "the script carries the response's nonce");
    assert!(scripts[0].contains(r#"getElementById("print").addEventListener("click", () => window.print())"#));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains(" onclick=") && !lower.contains("javascript:"), "no inline handlers: {html}");
    // Printed, the page is the report only: no button, no links.
    assert!(html.contains("@media print {") && html.contains(".actions, button, a { display: none; }"), "{html}");
}
