//! Energy by local day, and the weekly (Monday–Sunday) and monthly reports
//! made from it: generated automatically once a period is complete, with
//! catch-up of every period missed while the bridge was down, and rendered
//! as JSON, CSV and print-ready HTML.
//!
//! Local days come from the configured time zone's rules, so a day is 23 or
//! 25 hours long across a DST change and still sums exactly its own slots.

use super::energy::{Slot, SLOT};
use super::store::{Store, StoreError, StoredReport};
use super::HistoryError;
use crate::clock::unix_secs;
use crate::device::Device;
use app::history::{EnergyDay, EnergySummary, EnergyTotals, Report, ReportSummary};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How reports are priced and where days begin.
#[derive(Clone, Debug)]
pub struct Settings {
    pub zone: TimeZone,
    pub price_per_kwh: Option<f64>,
    pub currency: String,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self { zone: config.zone(), price_per_kwh: config.price_per_kwh, currency: config.currency.clone() }
    }

    pub fn zone_name(&self) -> String {
        self.zone.iana_name().unwrap_or("local").to_owned()
    }
}

/// The first second of a local date (its first existing instant, should a
/// DST change ever skip midnight).
pub fn day_start(zone: &TimeZone, date: Date) -> i64 {
    date.to_zoned_datetime(zone.clone()).map(|z| z.timestamp().as_second()).unwrap_or_default()
}

/// The local date of a moment.
pub fn local_date(zone: &TimeZone, ts: i64) -> Date {
    Timestamp::from_second(ts).map(|t| t.to_zoned_datetime(zone.clone()).date()).unwrap_or_default()
}

/// Add up slots into totals.
pub fn totals(slots: &[(i64, Slot)], price: Option<f64>) -> EnergyTotals {
    let mut sum = Slot::default();
    for (_, s) in slots {
        sum.add(s);
    }
    // Wh → kWh, to the watt-hour.
    let kwh = |wh: f64| wh.round() / 1000.0;
    let numbered = |prefix: &str| -> BTreeMap<u32, f64> {
        sum.wh.iter().filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.parse().ok()?, kwh(*v)))).collect()
    };
    let total = kwh(sum.get("pdu"));
    EnergyTotals {
        kwh: total,
        sources: ["a", "b"]
            .into_iter()
            .filter_map(|s| Some((s.to_owned(), kwh(*sum.wh.get(&format!("source.{s}"))?))))
            .collect(),
        banks: numbered("bank."),
        outlets: numbered("outlet."),
        peak_w: sum.peak_w,
        avg_w: (sum.power_n > 0).then(|| (sum.power_sum / f64::from(sum.power_n) * 10.0).round() / 10.0),
        cost: price.map(|p| (total * p * 100.0).round() / 100.0),
    }
}

/// The slots (in time order) in `[from, to)`.
fn within(slots: &[(i64, Slot)], from: i64, to: i64) -> &[(i64, Slot)] {
    let (a, b) = (slots.partition_point(|(ts, _)| *ts < from), slots.partition_point(|(ts, _)| *ts < to));
    &slots[a..b.max(a)]
}

/// Each local day in `[first, last]` of `slots` (in time order).
fn split_days(slots: &[(i64, Slot)], settings: &Settings, first: Date, last: Date) -> Vec<EnergyDay> {
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        let (from, to) = (day_start(&settings.zone, date), day_start(&settings.zone, date.tomorrow().unwrap_or(date)));
        out.push(EnergyDay { date: date.to_string(), totals: totals(within(slots, from, to), settings.price_per_kwh) });
        let Ok(next) = date.tomorrow() else { break };
        date = next;
    }
    out
}

/// Energy of each local day in `[first, last]`, from one read of the slots.
pub async fn days(
    store: &Store,
    device: i64,
    settings: &Settings,
    first: Date,
    last: Date,
) -> Result<Vec<EnergyDay>, StoreError> {
    let end = day_start(&settings.zone, last.tomorrow().unwrap_or(last));
    let slots = store.energy(device, day_start(&settings.zone, first), end).await?;
    Ok(split_days(&slots, settings, first, last))
}

/// A report's period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// The week starting on this Monday.
    Week(Date),
    /// The month starting on this first day.
    Month(Date),
}

impl Period {
    pub fn id(self) -> String {
        match self {
            Period::Week(monday) => format!("week-{monday}"),
            Period::Month(first) => format!("month-{}", first.strftime("%Y-%m")),
        }
    }

    /// `week-2026-11-16` or `month-2026-11` back into a period.
    pub fn parse(id: &str) -> Option<Self> {
        if let Some(date) = id.strip_prefix("week-") {
            let monday: Date = date.parse().ok()?;
            return (monday.weekday() == Weekday::Monday).then_some(Period::Week(monday));
        }
        let month = id.strip_prefix("month-")?;
        let first: Date = format!("{month}-01").parse().ok()?;
        (first.strftime("%Y-%m").to_string() == month).then_some(Period::Month(first))
    }

    pub fn containing(date: Date, week: bool) -> Self {
        if week {
            let back = date.weekday().to_monday_zero_offset();
            Period::Week(date.checked_sub(i64::from(back).days()).unwrap_or(date))
        } else {
            Period::Month(date.first_of_month())
        }
    }

    pub fn first_day(self) -> Date {
        match self {
            Period::Week(d) | Period::Month(d) => d,
        }
    }

    /// The first day after the period.
    pub fn next_first(self) -> Date {
        match self {
            Period::Week(d) => d.checked_add(7.days()).unwrap_or(d),
            Period::Month(d) => d.checked_add(1.month()).unwrap_or(d),
        }
    }

    /// The period after this one, of the same kind.
    pub fn next(self) -> Self {
        match self {
            Period::Week(_) => Period::Week(self.next_first()),
            Period::Month(_) => Period::Month(self.next_first()),
        }
    }

    pub fn previous(self) -> Self {
        match self {
            Period::Week(d) => Period::Week(d.checked_sub(7.days()).unwrap_or(d)),
            Period::Month(d) => Period::Month(d.checked_sub(1.month()).unwrap_or(d)),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Period::Week(_) => "week",
            Period::Month(_) => "month",
        }
    }

    fn title(self) -> String {
        match self {
            Period::Week(monday) => {
                let sunday = self.next_first().yesterday().unwrap_or(monday);
                format!("Week {} ({} – {})", monday.iso_week_date().week(), monday, sunday)
            }
            Period::Month(first) => first.strftime("%B %Y").to_string(),
        }
    }

    /// `[start, end)` in unix seconds.
    pub fn bounds(self, zone: &TimeZone) -> (i64, i64) {
        (day_start(zone, self.first_day()), day_start(zone, self.next_first()))
    }
}

/// Build the report of a period from the energy slots.
pub async fn build(
    store: &Store,
    device: i64,
    device_id: &str,
    settings: &Settings,
    period: Period,
    outlet_names: BTreeMap<u32, String>,
) -> Result<Report, StoreError> {
    let last = period.next_first().yesterday().unwrap_or(period.first_day());
    let (start, end) = period.bounds(&settings.zone);
    let slots = store.energy(device, start, end).await?;
    let days = split_days(&slots, settings, period.first_day(), last);
    let totals = totals(&slots, settings.price_per_kwh);
    let (p_start, p_end) = period.previous().bounds(&settings.zone);
    let previous = store.energy(device, p_start, p_end).await?;
    let previous_kwh = (!previous.is_empty()).then(|| self::totals(&previous, None).kwh);
    let change_percent = previous_kwh.filter(|p| *p > 0.0).map(|p| ((totals.kwh - p) / p * 1000.0).round() / 10.0);
    Ok(Report {
        id: period.id(),
        device_id: device_id.to_owned(),
        kind: period.kind().to_owned(),
        title: period.title(),
        time_zone: settings.zone_name(),
        first_day: period.first_day().to_string(),
        last_day: last.to_string(),
        start,
        end,
        created: unix_secs() as i64,
        totals,
        days,
        outlet_names,
        previous_kwh,
        change_percent,
        price_per_kwh: settings.price_per_kwh,
        currency: settings.currency.clone(),
    })
}

/// Make every report that is due and missing: each week and month that has
/// ended by `now` since the device's first energy slot. Returns the ids made.
pub async fn generate_due(
    store: &Store,
    settings: &Settings,
    now: i64,
    names: &(dyn Fn(&str) -> BTreeMap<u32, String> + Sync),
) -> Result<Vec<String>, StoreError> {
    let mut made = Vec::new();
    for (device, device_id) in store.devices().await? {
        let Some(first) = store.first_energy(device).await? else { continue };
        let have: HashSet<String> = store.report_ids(device).await?.into_iter().map(|r| r.0).collect();
        let first_date = local_date(&settings.zone, first);
        for week in [true, false] {
            let mut period = Period::containing(first_date, week);
            while period.bounds(&settings.zone).1 <= now {
                let id = period.id();
                if !have.contains(&id) {
                    let report = build(store, device, &device_id, settings, period, names(&device_id)).await?;
                    let (start, end) = (report.start, report.end);
                    let body = serde_json::to_string(&report).unwrap_or_default();
                    let stored = StoredReport { id: id.clone(), kind: report.kind, start, end, created: now, body };
                    store.put_report(device, &stored).await?;
                    made.push(format!("{device_id}/{id}"));
                }
                period = period.next();
            }
        }
    }
    Ok(made)
}

/// The outlet names of the PDU with a device id, as it shows them now
/// (empty for a PDU no longer watched).
pub type OutletNamesOf = Arc<dyn Fn(&str) -> BTreeMap<u32, String> + Send + Sync>;

/// A PDU's outlet names as it shows them now.
pub fn outlet_names(device: &Device) -> BTreeMap<u32, String> {
    device.latest().map(|s| s.outlets.iter().map(|o| (o.number, o.name.to_string())).collect()).unwrap_or_default()
}

/// Make due reports at start and then every hour until `shutdown`; outlet
/// a PDU's outlet names come from `names` (its device id), asked then.
pub async fn run(store: Arc<Store>, names: OutletNamesOf, settings: Settings, shutdown: CancellationToken) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hourly.tick() => {}
        }
        let names = |id: &str| names(id);
        match generate_due(&store, &settings, unix_secs() as i64, &names).await {
            Ok(made) if !made.is_empty() => tracing::info!(reports = ?made, "energy reports made"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "energy reports could not be made"),
        }
    }
}

/// Today, this week and this month so far, and the reports there are.
pub async fn summary(store: &Store, device: &Device, settings: &Settings) -> Result<EnergySummary, HistoryError> {
    let key = store.device(device.id().as_str()).await?;
    let now = unix_secs() as i64;
    let today = local_date(&settings.zone, now);
    let (week, month) = (Period::containing(today, true).first_day(), today.first_of_month());
    // One read from the earlier of the week's and the month's start.
    let from = day_start(&settings.zone, week.min(month));
    let slots = store.energy(key, from, now + SLOT).await?;
    let since =
        |first: Date| totals(within(&slots, day_start(&settings.zone, first), now + SLOT), settings.price_per_kwh);
    Ok(EnergySummary {
        device_id: device.id().to_string(),
        time_zone: settings.zone_name(),
        today: since(today),
        week: since(week),
        month: since(month),
        outlet_names: outlet_names(device),
        currency: settings.currency.clone(),
        reports: list(store, device.id().as_str()).await?,
    })
}

/// The most days [`daily`] answers for.
pub const MAX_DAYS: u32 = 400;

/// kWh of each of the last `days` local days, today last (today so far).
pub async fn daily(
    store: &Store,
    device_id: &str,
    settings: &Settings,
    days: u32,
) -> Result<Vec<EnergyDay>, HistoryError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(HistoryError::BadInput {
            field: "days",
            message: format!("a number of days from 1 to {MAX_DAYS}"),
        });
    }
    let key = store.device(device_id).await?;
    let today = local_date(&settings.zone, unix_secs() as i64);
    let first = today.checked_sub(i64::from(days - 1).days()).unwrap_or(today);
    Ok(self::days(store, key, settings, first, today).await?)
}

/// A device's reports, newest first.
pub async fn list(store: &Store, device_id: &str) -> Result<Vec<ReportSummary>, HistoryError> {
    let key = store.device(device_id).await?;
    let rows = store.report_ids(key).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, start, end)| {
            let title = Period::parse(&id)?.title();
            Some(ReportSummary { id, kind, title, start, end })
        })
        .collect())
}

/// One report, or [`HistoryError::NoSuchReport`].
pub async fn fetch(store: &Store, device_id: &str, id: &str) -> Result<Report, HistoryError> {
    if Period::parse(id).is_none() {
        return Err(HistoryError::NoSuchReport(format!(
            "no report {id:?}: ids look like week-2026-11-16 or month-2026-11"
        )));
    }
    let key = store.device(device_id).await?;
    let body = store.report(key, id).await?;
    let body = body.ok_or_else(|| HistoryError::NoSuchReport(format!("no report {id:?} (not made yet?)")))?;
    serde_json::from_str(&body).map_err(|e| HistoryError::Corrupt(format!("report {id}: {e}")))
}

fn money(v: f64, currency: &str) -> String {
    if currency.is_empty() {
        format!("{v:.2}")
    } else {
        format!("{v:.2} {currency}")
    }
}

/// kWh with `decimals`: a channel without energy in the period (source B
/// while A carried the load) used none, so it is 0, never left blank.
fn kwh(v: Option<f64>, decimals: usize) -> String {
    format!("{:.decimals$}", v.unwrap_or(0.0))
}

/// Power in W, or `None` when the period has no power reading at all (the
/// bridge was down all day): then nobody knows it, and 0 would be made up.
fn watts(v: Option<f64>, decimals: usize) -> Option<String> {
    v.map(|v| format!("{v:.decimals$}"))
}

/// Every outlet of the report: those the PDU named and those with energy.
fn outlet_numbers(report: &Report) -> Vec<u32> {
    let mut numbers: Vec<u32> = report.outlet_names.keys().chain(report.totals.outlets.keys()).copied().collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// The report as CSV: one row a day, then the whole period (`total`). Every
/// energy cell holds a number (`0.000` for none); `cost` is a column only
/// when the report has a price. `peak_w` and `avg_w` are empty only for a
/// day without a single power reading.
pub fn csv(report: &Report) -> String {
    let banks: Vec<u32> = report.totals.banks.keys().copied().collect();
    let outlets = outlet_numbers(report);
    let priced = report.price_per_kwh.is_some();
    let mut out = String::from("date,kwh,source_a_kwh,source_b_kwh");
    for b in &banks {
        out.push_str(&format!(",bank_{b}_kwh"));
    }
    for o in &outlets {
        out.push_str(&format!(",outlet_{o}_kwh"));
    }
    out.push_str(if priced { ",peak_w,avg_w,cost\n" } else { ",peak_w,avg_w\n" });
    let row = |label: &str, t: &EnergyTotals| {
        let mut line = format!("{label},{:.3}", t.kwh);
        for s in ["a", "b"] {
            line.push_str(&format!(",{}", kwh(t.sources.get(s).copied(), 3)));
        }
        for b in &banks {
            line.push_str(&format!(",{}", kwh(t.banks.get(b).copied(), 3)));
        }
        for o in &outlets {
            line.push_str(&format!(",{}", kwh(t.outlets.get(o).copied(), 3)));
        }
        let power = |v, decimals| watts(v, decimals).unwrap_or_default();
        line.push_str(&format!(",{},{}", power(t.peak_w, 0), power(t.avg_w, 1)));
        if priced {
            line.push_str(&format!(",{:.2}", t.cost.unwrap_or(0.0)));
        }
        line.push('\n');
        line
    };
    for day in &report.days {
        out.push_str(&row(&day.date, &day.totals));
    }
    out.push_str(&row("total", &report.totals));
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// When the report was made, in its own time zone when this machine knows
/// it (`2026-11-23 00:14 +01:00`).
fn made_at(report: &Report) -> String {
    let Ok(t) = Timestamp::from_second(report.created) else { return String::new() };
    match TimeZone::get(&report.time_zone) {
        Ok(zone) => t.to_zoned_datetime(zone).strftime("%Y-%m-%d %H:%M %:z").to_string(),
        Err(_) => t.to_string(),
    }
}

/// The report as a page that prints well (A4, no dashboard around it), with
/// a Print button. Its one script is inline and carries `nonce`, the CSP
/// nonce of the response (`web::guard`), since the CSP allows no other
/// inline script and no `onclick`.
pub fn html(report: &Report, nonce: &str) -> String {
    let t = &report.totals;
    let priced = report.price_per_kwh.is_some();
    let power = |v, decimals| watts(v, decimals).unwrap_or_else(|| "—".to_owned());
    let mut days = String::new();
    for d in &report.days {
        let cost = if priced { format!("<td>{:.2}</td>", d.totals.cost.unwrap_or(0.0)) } else { String::new() };
        days.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{cost}</tr>\n",
            escape(&d.date),
            d.totals.kwh,
            kwh(d.totals.sources.get("a").copied(), 2),
            kwh(d.totals.sources.get("b").copied(), 2),
            power(d.totals.peak_w, 0),
            power(d.totals.avg_w, 0),
        ));
    }
    let mut outlets = String::new();
    for n in outlet_numbers(report) {
        let name = report.outlet_names.get(&n).map(|s| escape(s)).unwrap_or_default();
        let used = t.outlets.get(&n).copied().unwrap_or(0.0);
        let share = if t.kwh > 0.0 { used / t.kwh * 100.0 } else { 0.0 };
        outlets.push_str(&format!(
            "<tr><th scope=\"row\">{n}</th><td class=\"name\">{name}</td><td>{used:.2}</td><td>{share:.0} %</td></tr>\n"
        ));
    }
    let change = match (report.previous_kwh, report.change_percent) {
        (Some(p), Some(c)) => format!("{p:.2} kWh the period before ({c:+.1} %)"),
        (Some(p), None) => format!("{p:.2} kWh the period before"),
        _ => "no data for the period before".to_owned(),
    };
    let currency = escape(&report.currency);
    let (cost, cost_head) = match report.price_per_kwh {
        Some(p) => (
            format!(
                "<p data-testid=\"report-cost\"><strong>Cost:</strong> {} at {} per kWh</p>",
                money(t.cost.unwrap_or(0.0), &currency),
                money(p, &currency)
            ),
            format!(
                "<th scope=\"col\">Cost{}</th>",
                if currency.is_empty() { String::new() } else { format!(" {currency}") }
            ),
        ),
        None => (
            "<p data-testid=\"report-cost\">No price per kWh is set (BRIDGE_PRICE_PER_KWH), so no cost is shown.</p>"
                .to_owned(),
            String::new(),
        ),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {device}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; color: #1c2127; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.4rem; margin-bottom: 0.2rem; }} .sub {{ color: #5f6b7a; margin-top: 0; }}
.actions {{ display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; }}
.actions button {{ font: inherit; min-height: 44px; padding: 0 1.2rem; }}
.actions a {{ display: inline-block; padding: 0.7rem 0; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 1.5rem; margin: 1rem 0; }} .kpis div {{ min-width: 8rem; }}
.kpis strong {{ display: block; font-size: 1.3rem; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid #d5dae1; padding: 0.3rem 0.5rem; text-align: right; }}
th:first-child, td:first-child, .name {{ text-align: left; }}
@media print {{ body {{ margin: 0; max-width: none; }} .actions, button, a {{ display: none; }} }}
@page {{ size: A4; margin: 15mm; }}
</style></head><body>
<h1>Energy report: {title}</h1>
<p class="sub">PDU {device} · {first} to {last} ({zone})</p>
<p class="actions"><button type="button" id="print">Print</button>
<a href="{id}.csv?device_id={device}">Download CSV</a> <a href="{id}.json?device_id={device}">Download JSON</a></p>
<div class="kpis">
<div>Energy<strong>{kwh:.2} kWh</strong></div>
<div>Source A<strong>{a} kWh</strong></div>
<div>Source B<strong>{b} kWh</strong></div>
<div>Peak power<strong>{peak}</strong></div>
<div>Average power<strong>{avg}</strong></div>
</div>
<p><strong>Compared with before:</strong> {change}</p>
{cost}
<h2>By day</h2>
<table><thead><tr><th scope="col">Date</th><th scope="col">kWh</th><th scope="col">Source A kWh</th><th scope="col">Source B kWh</th><th scope="col">Peak W</th><th scope="col">Avg W</th>{cost_head}</tr></thead>
<tbody>
{days}</tbody></table>
<h2>By outlet</h2>
<table><thead><tr><th scope="col">Outlet</th><th scope="col" class="name">Name</th><th scope="col">kWh</th><th scope="col">Share</th></tr></thead>
<tbody>
{outlets}</tbody></table>
<p class="sub">Energy from the PDU's own counters; made {created} by pdu-bridge.</p>
<script nonce="{nonce}">document.getElementById("print").addEventListener("click", () => window.print());</script>
</body></html>
"#,
        title = escape(&report.title),
        device = escape(&report.device_id),
        first = escape(&report.first_day),
        last = escape(&report.last_day),
        zone = escape(&report.time_zone),
        kwh = t.kwh,
        a = kwh(t.sources.get("a").copied(), 2),
        b = kwh(t.sources.get("b").copied(), 2),
        peak = watts(t.peak_w, 0).map(|w| format!("{w} W")).unwrap_or_else(|| "—".to_owned()),
        avg = watts(t.avg_w, 0).map(|w| format!("{w} W")).unwrap_or_else(|| "—".to_owned()),
        created = made_at(report),
        id = escape(&report.id),
        nonce = escape(nonce),
    )
}
