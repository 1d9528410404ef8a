//! History charts: total and bank power, bank current, source A/B voltage,
//! outlet power, and the probe's temperature and humidity when the PDU has
//! one, over a chosen range, drawn in the browser with plotters
//! from the server's downsampled buckets (average line, min/max band, gaps
//! as gaps), with a hover read-out, a table of the same data for those who
//! cannot see the chart, and a CSV of exactly what the chart shows.
//!
//! The range and the chosen outlet live in the URL (`?range=7d&outlet=4`),
//! so a view can be bookmarked and the back button steps through them.
//! Charts are drawn at the width they are shown (labels stay 12 px on a
//! phone), power and current from zero, voltage in a fixed mains band, and
//! times in the viewer's zone, named under the charts.

use crate::api::{load_events, load_history, load_history_between};
use crate::chart::{self, Drawn, Line, TimeAxis, YScale, PALETTE};
use crate::format;
use crate::history::{History, HistoryKind, RANGES};
use crate::model::{Event, EventQuery};
use crate::state::{Dashboard, CUSTOM_RANGE};
use leptos::prelude::*;

type Loaded = Option<Result<History, String>>;

/// The event kinds marked on the time axis: (kind, symbol, words).
const MARKED: [(&str, &str, &str); 4] = [
    ("ats_transfer", "⇄", "ATS transfer"),
    ("source_lost", "▼", "source lost"),
    ("pdu_unreachable", "✖", "PDU unreachable"),
    ("outlet_command", "│", "outlet switched"),
];

#[component]
pub fn HistoryPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    // The PDU on screen, also before it has answered since the bridge
    // started: its stored history is worth seeing then most of all.
    let device = Memo::new(move |_| dash.current_id.get().map(|id| id.to_string()));
    // The charts follow the clock.
    let refresh = super::every_minute();
    follow_url(dash);
    let load = move |kind: HistoryKind| {
        let resource = LocalResource::new(move || {
            let (device, range, custom) = (device.get(), dash.range.get(), dash.custom.get());
            refresh.track();
            fetch(device, kind, range, custom)
        });
        Signal::derive(move || resource.get())
    };
    let (banks, sources, outlets) = (load(HistoryKind::Banks), load(HistoryKind::Sources), load(HistoryKind::Outlets));
    // Temperature and humidity, asked for only while the PDU has a probe.
    let has_probe = Memo::new(move |_| dash.read(|s| s.sensors.environment.is_some()).unwrap_or(false));
    let environment = LocalResource::new(move || {
        let (device, range, custom, probe) = (device.get(), dash.range.get(), dash.custom.get(), has_probe.get());
        refresh.track();
        async move {
            match probe {
                true => Some(fetch(device, HistoryKind::Environment, range, custom).await),
                false => None,
            }
        }
    });
    let environment = Signal::derive(move || environment.get().flatten());
    let probe_line = |metric: &str, label: &str| {
        vec![Line { metric: metric.into(), label: label.into(), color: PALETTE[0], band: true, dash: false }]
    };
    let temperature_lines = Signal::derive(move || probe_line("environment.temperature", "Probe temperature"));
    let humidity_lines = Signal::derive(move || probe_line("environment.humidity", "Probe humidity"));
    // Transfers, lost sources and outlet switches in the range, for the markers.
    let events = LocalResource::new(move || {
        let (device, range, custom) = (device.get(), dash.range.get(), dash.custom.get());
        refresh.track();
        async move {
            let (since, until) = match (range.as_str(), custom) {
                (CUSTOM_RANGE, Some((start, end))) => (start as f64, Some(end as f64)),
                _ => (js_now_s() - crate::history::range_seconds(&range).unwrap_or(86_400) as f64, None),
            };
            let query =
                EventQuery { device_id: device, since: Some(since), until, limit: Some(1000), ..Default::default() };
            load_events(query)
                .await
                .map(|page| page.events.into_iter().filter(|e| MARKED.iter().any(|(k, ..)| *k == e.kind)).collect())
                .unwrap_or_default()
        }
    });
    let events = Signal::derive(move || events.get().unwrap_or_default());

    // Memos, so a new snapshot each second redraws nothing unless the lines change.
    // Before the PDU's first answer, its banks and outlets are those its
    // stored history has.
    let stored = move |data: Signal<Loaded>, kind: &str| -> Vec<u32> {
        let numbers = |h: &History| {
            h.series
                .iter()
                .filter_map(|s| s.metric.strip_prefix(kind)?.strip_suffix(".power")?.parse().ok())
                .collect::<Vec<u32>>()
        };
        data.with(|d| d.as_ref().and_then(|r| r.as_ref().ok()).map(numbers)).unwrap_or_default()
    };
    let bank_count = move || dash.read(|s| s.banks.len()).unwrap_or_else(|| stored(banks, "bank.").len());
    let power_lines = Memo::new(move |_| {
        let mut lines = vec![Line {
            metric: "total.power".into(),
            label: "Total".into(),
            color: PALETTE[0],
            band: true,
            dash: false,
        }];
        lines.extend((1..=bank_count()).map(|b| Line {
            metric: format!("bank.{b}.power"),
            label: format!("Bank {b}"),
            color: PALETTE[b % PALETTE.len()],
            band: false,
            dash: b % 2 == 0,
        }));
        lines
    });
    let current_lines = Memo::new(move |_| -> Vec<Line> {
        (1..=bank_count())
            .map(|b| Line {
                metric: format!("bank.{b}.current"),
                label: format!("Bank {b}"),
                color: PALETTE[b % PALETTE.len()],
                band: true,
                dash: b % 2 == 0,
            })
            .collect()
    });
    let voltage_lines = Memo::new(move |_| {
        vec![
            Line {
                metric: "source.a.voltage".into(),
                label: "Source A".into(),
                color: PALETTE[0],
                band: true,
                dash: false,
            },
            Line {
                metric: "source.b.voltage".into(),
                label: "Source B".into(),
                color: PALETTE[1],
                band: true,
                dash: true,
            },
        ]
    });
    // All outlets as lines, or one outlet with its band.
    let outlet_choice = dash.chart_outlet;
    let outlet_names = move || {
        dash.read(|s| s.outlets.iter().map(|o| (o.number, o.name.clone())).collect::<Vec<_>>())
            .unwrap_or_else(|| stored(outlets, "outlet.").into_iter().map(|n| (n, String::new())).collect())
    };
    let outlet_lines = Memo::new(move |_| -> Vec<Line> {
        let chosen = outlet_choice.get();
        outlet_names()
            .into_iter()
            .filter(|(n, _)| chosen == 0 || *n == chosen)
            .map(|(n, name)| Line {
                metric: format!("outlet.{n}.power"),
                label: format!("{n} {name}").trim_end().to_owned(),
                color: PALETTE[(n as usize - 1) % PALETTE.len()],
                band: chosen != 0,
                dash: chosen == 0 && n % 2 == 0,
            })
            .collect()
    });
    let pick_outlet = move |ev: leptos::ev::Event| {
        outlet_choice.set(event_target_value(&ev).parse().unwrap_or(0));
        push_url(dash);
    };
    let outlet_picker = move || {
        view! {
            <label class="chart-pick">
                <span class="visually-hidden">"Outlet"</span>
                <select aria-label="Outlet" on:change=pick_outlet prop:value=move || outlet_choice.get().to_string()>
                    <option value="0">"All outlets"</option>
                    {move || {
                        outlet_names()
                            .into_iter()
                            .map(|(n, name)| view! { <option value=n.to_string()>{format!("{n} {name}").trim_end().to_owned()}</option> })
                            .collect_view()
                    }}
                </select>
            </label>
        }
    };
    let outlet_series = Signal::derive(move || match outlet_choice.get() {
        0 => "outlet-power".to_owned(),
        n => format!("outlet-{n}-power"),
    });
    let zone = move || {
        dash.now_ms.track();
        if dash.hydrated.get() {
            let zone = format::zone(js_now_s() as i64);
            let name = zone_name();
            if name.is_empty() || name.ends_with("UTC") {
                zone
            } else {
                format!("{name} ({zone})")
            }
        } else {
            "UTC until the page has loaded".to_owned()
        }
    };

    let custom_open = RwSignal::new(false);
    view! {
        <section class="card history" id="history" aria-labelledby="history-title">
            <div class="card-head">
                <h2 id="history-title">"History"</h2>
                <RangeButtons open=custom_open/>
            </div>
            <Show when=move || custom_open.get()>
                <CustomRange open=custom_open/>
            </Show>
            <p class="muted small chart-zone" data-testid="chart-zone">
                "Times in " {zone} ". Markers above a chart: "
                {MARKED.iter().map(|(_, sym, words)| format!("{sym} {words}")).collect::<Vec<_>>().join(" · ")} "."
            </p>
            <div class="charts">
                <Chart
                    title="Power"
                    unit="W"
                    scale=YScale::FromZero
                    kind=HistoryKind::Banks
                    series="power"
                    data=banks
                    lines=power_lines
                    events
                    testid="chart-power"
                />
                <Chart
                    title="Bank current"
                    unit="A"
                    scale=YScale::FromZero
                    kind=HistoryKind::Banks
                    series="bank-current"
                    data=banks
                    lines=current_lines
                    events
                    testid="chart-current"
                />
                <Chart
                    title="Source voltage"
                    unit="V"
                    scale=YScale::Mains
                    kind=HistoryKind::Sources
                    series="source-voltage"
                    data=sources
                    lines=voltage_lines
                    events
                    testid="chart-voltage"
                />
                <Chart
                    title="Outlet power"
                    unit="W"
                    scale=YScale::FromZero
                    kind=HistoryKind::Outlets
                    series=outlet_series
                    data=outlets
                    lines=outlet_lines
                    events
                    testid="chart-outlets"
                >
                    {outlet_picker}
                </Chart>
                <Show when=move || has_probe.get()>
                    <Chart
                        title="Temperature"
                        unit="°C"
                        scale=YScale::Around(4)
                        kind=HistoryKind::Environment
                        series="temperature"
                        data=environment
                        lines=temperature_lines
                        events
                        testid="chart-temperature"
                    />
                    <Chart
                        title="Humidity"
                        unit="%"
                        scale=YScale::Around(10)
                        kind=HistoryKind::Environment
                        series="humidity"
                        data=environment
                        lines=humidity_lines
                        events
                        testid="chart-humidity"
                    />
                </Show>
            </div>
        </section>
    }
}

/// One kind of history over the chosen range or custom window.
async fn fetch(
    device: Option<String>,
    kind: HistoryKind,
    range: String,
    custom: Option<(i64, i64)>,
) -> Result<History, String> {
    let device = device.ok_or_else(|| "no PDU yet".to_owned())?;
    match (range.as_str(), custom) {
        (CUSTOM_RANGE, Some((start, end))) => load_history_between(device, kind, start, end).await,
        _ => load_history(device, kind, range).await,
    }
    .map_err(|e| e.to_string())
}

#[component]
fn RangeButtons(open: RwSignal<bool>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <div class="range-buttons" role="group" aria-label="Range">
            {RANGES
                .into_iter()
                .map(|r| {
                    let pressed = move || (dash.range.get() == r).to_string();
                    view! {
                        <button type="button" aria-pressed=pressed on:click=move |_| choose_range(dash, r)>
                            {r}
                        </button>
                    }
                })
                .collect_view()}
            <button
                type="button"
                aria-pressed=move || (dash.range.get() == CUSTOM_RANGE).to_string()
                aria-expanded=move || open.get().to_string()
                aria-controls="custom-range"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "Custom…"
            </button>
        </div>
    }
}

/// `2026-11-27T14:05`, the value of a `datetime-local` input, in the viewer's zone.
fn local_input(ts: i64) -> String {
    let (y, mo, d, h, mi, _) = format::civil(ts);
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}")
}

/// A `datetime-local` value as unix seconds, read in the viewer's zone.
fn parse_local_input(value: &str) -> Option<i64> {
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::parse(value);
        ms.is_finite().then(|| (ms / 1000.0) as i64)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = value;
        None
    }
}

/// Two moments, in the viewer's zone, for a range of one's own.
#[component]
fn CustomRange(open: RwSignal<bool>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let now = (js_now_s() as i64).max(dash.now_ms.get_untracked() as i64 / 1000);
    let (start, end) = dash.custom.get_untracked().unwrap_or((now - 2 * 86_400, now));
    let from = RwSignal::new(local_input(start));
    let to = RwSignal::new(local_input(end));
    let error = RwSignal::new(None::<&'static str>);
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match (parse_local_input(&from.get_untracked()), parse_local_input(&to.get_untracked())) {
            (Some(s), Some(e)) if s < e && e - s <= 400 * 86_400 => {
                error.set(None);
                dash.custom.set(Some((s, e)));
                dash.range.set(CUSTOM_RANGE.to_owned());
                push_url(dash);
                open.set(false);
            }
            (Some(s), Some(e)) if s >= e => error.set(Some("“From” must be before “To”.")),
            (Some(_), Some(_)) => error.set(Some("At most 400 days at a time.")),
            _ => error.set(Some("Both moments are needed, as date and time.")),
        }
    };
    view! {
        <form class="custom-range" id="custom-range" on:submit=apply data-testid="custom-range">
            <label class="field">
                <span>"From"</span>
                <input type="datetime-local" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev))/>
            </label>
            <label class="field">
                <span>"To"</span>
                <input type="datetime-local" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="primary">"Show"</button>
            <p class="form-error" role="alert">{move || error.get()}</p>
        </form>
    }
}

/// "Total 180–260 W, average 221 W; Bank 1 …": what a chart shows, in words.
fn summary(title: &str, history: &History, lines: &[Line], unit: &str) -> String {
    let parts: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let points = &history.series(&l.metric)?.points;
            if points.is_empty() {
                return None;
            }
            let lo = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
            let hi = points.iter().map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
            let avg = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
            Some(format!("{} {lo:.1} to {hi:.1} {unit}, average {avg:.1} {unit}", l.label))
        })
        .collect();
    format!("{title} from {} to {}: {}.", format::stamp(history.start), format::stamp(history.end), parts.join("; "))
}

/// At most this many rows in a chart's table: buckets are merged to fit.
const TABLE_ROWS: usize = 48;

/// The chart's buckets as rows (`time`, then `avg (min–max)` per line),
/// merged so the table stays readable.
fn table_rows(history: &History, lines: &[Line]) -> Vec<(i64, Vec<String>)> {
    let mut times: Vec<i64> =
        lines.iter().filter_map(|l| history.series(&l.metric)).flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    times.sort_unstable();
    times.dedup();
    let per_row = times.len().div_ceil(TABLE_ROWS).max(1);
    times
        .chunks(per_row)
        .map(|chunk| {
            let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
            let cells = lines
                .iter()
                .map(|l| {
                    let points: Vec<_> = history
                        .series(&l.metric)
                        .map(|s| s.points.iter().filter(|p| p.0 >= first && p.0 <= last).collect())
                        .unwrap_or_default();
                    if points.is_empty() {
                        return "—".to_owned();
                    }
                    let avg = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
                    let lo = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
                    let hi = points.iter().map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
                    format!("{avg:.1} ({lo:.1}–{hi:.1})")
                })
                .collect();
            (first, cells)
        })
        .collect()
}

/// Exactly what a chart shows, one row per bucket and line, times in ISO
/// 8601 with the viewer's offset.
pub fn csv(history: &History, lines: &[Line], unit: &str) -> String {
    let mut rows: Vec<(i64, usize, String)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(series) = history.series(&l.metric) else { continue };
        for p in &series.points {
            rows.push((p.0, i, format!("{},{},{unit},{:.3},{:.3},{:.3}", format::iso(p.0), l.metric, p.1, p.2, p.3)));
        }
    }
    rows.sort_by_key(|(ts, i, _)| (*ts, *i));
    let mut out = String::from("time,metric,unit,avg,min,max\n");
    for (_, _, row) in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// One chart with its legend, hover read-out, table and CSV link.
#[component]
fn Chart(
    title: &'static str,
    unit: &'static str,
    scale: YScale,
    kind: HistoryKind,
    /// Names the CSV file: `power`, `outlet-4-power` …
    #[prop(into)]
    series: Signal<String>,
    data: Signal<Loaded>,
    #[prop(into)] lines: Signal<Vec<Line>>,
    events: Signal<Vec<Event>>,
    testid: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let body_ref = NodeRef::<leptos::html::Div>::new();
    let width = measured_width(body_ref);
    let drawn = Memo::new(move |_| -> Option<Result<Option<(Drawn, History)>, String>> {
        let loaded = data.get()?;
        let lines = lines.get();
        let width = width.get();
        Some(loaded.and_then(|h| {
            if lines.iter().all(|l| h.series(&l.metric).is_none_or(|s| s.points.is_empty())) {
                return Ok(None);
            }
            let span = h.end - h.start;
            let label = |ts| format::tick(ts, span);
            let axis = TimeAxis { offset: format::utc_offset(h.start), label: &label };
            let height = if width < 520 { 210 } else { 240 };
            let drawn = chart::draw(&h, &lines, unit, scale, (width, height), &axis)?;
            Ok(Some((drawn, h)))
        }))
    });
    let hover = RwSignal::new(None::<f64>);
    let file_name = move || {
        let device = dash.current_id.get().map(|id| id.to_string()).unwrap_or_default();
        let range = match (dash.range.get().as_str(), dash.custom.get()) {
            (CUSTOM_RANGE, Some((s, e))) => format!("{}-to-{}", file_time(s), file_time(e)),
            (r, _) => r.to_owned(),
        };
        format!("{device}-{}-{range}.csv", series.get())
    };
    // Without the WASM: the server's CSV of the same range (and outlet).
    let href = move || {
        let device = dash.current_id.get().map(|id| id.to_string()).unwrap_or_default();
        let outlet = match (kind, dash.chart_outlet.get()) {
            (HistoryKind::Outlets, n) if n > 0 => format!("&outlet={n}"),
            _ => String::new(),
        };
        let window = match (dash.range.get().as_str(), dash.custom.get()) {
            (CUSTOM_RANGE, Some((s, e))) => format!("start={s}&end={e}"),
            (r, _) => format!("range={r}"),
        };
        format!("/api/history/{}.csv?{window}&device_id={device}{outlet}", kind.as_str())
    };
    let download = move |ev: leptos::ev::MouseEvent| {
        let Some(Ok(Some((_, history)))) = drawn.get_untracked() else { return };
        ev.prevent_default();
        save_file(&file_name(), &csv(&history, &lines.get_untracked(), unit));
    };
    let legend = move || {
        lines
            .get()
            .into_iter()
            .map(|l| {
                let class = if l.dash { "swatch dashed" } else { "swatch" };
                let color = format!("--swatch: rgb({},{},{})", l.color.0, l.color.1, l.color.2);
                view! {
                    <li>
                        <span class=class style=color></span>
                        {l.label}
                    </li>
                }
            })
            .collect_view()
    };
    let body = move || match drawn.get() {
        None => view! { <p class="chart-note" data-testid="chart-loading">"Loading history…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="chart-note bad">"History unavailable: " {e}</p> }.into_any(),
        Some(Ok(None)) => view! {
            <p class="chart-note" data-testid="chart-empty">
                "No data in this range yet: history starts with the bridge's first poll."
            </p>
        }
        .into_any(),
        Some(Ok(Some((drawn, history)))) => {
            let lines = lines.get_untracked();
            let described = summary(title, &history, &lines, unit);
            view! { <Plot drawn history lines unit hover events described/> }.into_any()
        }
    };
    let show_table = RwSignal::new(false);
    let table = move || {
        if !show_table.get() {
            return None;
        }
        let Some(Ok(Some((_, history)))) = drawn.get() else { return None };
        let lines = lines.get();
        let rows = table_rows(&history, &lines);
        Some(view! {
            <div class="chart-table-wrap" tabindex="0" role="region" aria-label=format!("{title}: table")>
                <table class="chart-table" data-testid="chart-table">
                    <caption class="visually-hidden">{format!("{title}, {unit}: average (minimum–maximum) per period")}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"From"</th>
                            {lines.iter().map(|l| view! { <th scope="col">{format!("{} ({unit})", l.label)}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|(ts, cells)| view! {
                            <tr>
                                <th scope="row">{format::stamp(ts)}</th>
                                {cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })
    };
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>
                <span class="chart-title">{title}</span>
                {children.map(|c| c())}
                <a
                    class="chart-csv"
                    href=href
                    download=file_name
                    aria-label=format!("Download the {} chart's data as CSV", title.to_lowercase())
                    on:click=download
                >
                    "CSV"
                </a>
            </figcaption>
            <ul class="legend">{legend}</ul>
            <div class="chart-body" node_ref=body_ref>{body}</div>
            <button
                hidden=move || !matches!(drawn.get(), Some(Ok(Some(_))))
                type="button"
                class="link chart-table-toggle"
                aria-expanded=move || show_table.get().to_string()
                on:click=move |_| show_table.update(|s| *s = !*s)
            >
                {move || if show_table.get() { "Hide the table" } else { "Show as a table" }}
            </button>
            {table}
        </figure>
    }
}

/// The drawn SVG with event markers, a cursor line and a read-out under
/// the pointer.
#[component]
fn Plot(
    drawn: Drawn,
    history: History,
    lines: Vec<Line>,
    unit: &'static str,
    hover: RwSignal<Option<f64>>,
    events: Signal<Vec<Event>>,
    described: String,
) -> impl IntoView {
    let (width, height) = (f64::from(drawn.width), f64::from(drawn.height));
    let svg = drawn.svg.clone();
    let (segments, points) = (drawn.segments, history.series.iter().map(|s| s.points.len()).sum::<usize>());
    let on_move = move |ev: leptos::ev::MouseEvent| hover.set(pointer_x(&ev, width));
    let marker_frame = drawn.clone();
    let markers = move || {
        let frame = &marker_frame;
        events
            .get()
            .into_iter()
            .filter(|e| (frame.x_range.0..=frame.x_range.1).contains(&(e.ts as i64)))
            .map(|e| {
                let (kind, symbol, words) = MARKED.iter().find(|(k, ..)| *k == e.kind).copied().unwrap_or(MARKED[0]);
                let x = frame.x_of(e.ts as i64) / width * 100.0;
                let text = format!("{words} at {}: {}", format::stamp(e.ts as i64), e.details);
                view! {
                    <span class=format!("marker marker-{kind}") style=format!("left: {x:.2}%") title=text>
                        {symbol}
                    </span>
                }
            })
            .collect_view()
    };
    let readout = move || {
        let ts = drawn.time_at(hover.get()?)?;
        let values: Vec<String> = lines
            .iter()
            .filter_map(|l| {
                let p = chart::nearest(&history.series(&l.metric)?.points, ts, history.bucket_s)?;
                Some(if l.band && p.2 != p.3 {
                    format!("{} {:.1} {unit} ({:.1}–{:.1})", l.label, p.1, p.2, p.3)
                } else {
                    format!("{} {:.1} {unit}", l.label, p.1)
                })
            })
            .collect();
        let x = drawn.x_of(ts) / width * 100.0;
        Some((
            x,
            format!(
                "{} · {}",
                format::stamp(ts),
                if values.is_empty() { "no data".into() } else { values.join(" · ") }
            ),
        ))
    };
    view! {
        <div class="markers" aria-hidden="true">{markers}</div>
        <div
            class="plot"
            style=format!("aspect-ratio: {width} / {height}")
            data-segments=segments
            data-points=points
            on:mousemove=on_move
            on:mouseleave=move |_| hover.set(None)
        >
            <div class="plot-svg" role="img" aria-label=described inner_html=svg></div>
            {move || {
                readout()
                    .map(|(x, text)| {
                        view! {
                            <div class="cursor" style=format!("left: {x:.2}%")></div>
                            <p class="readout" data-testid="readout">{text}</p>
                        }
                    })
            }}
        </div>
    }
}

/// The width a chart is shown at, in CSS pixels, following the window.
fn measured_width(node: NodeRef<leptos::html::Div>) -> RwSignal<u32> {
    let width = RwSignal::new(720u32);
    #[cfg(feature = "hydrate")]
    {
        let measure = move || {
            if let Some(el) = node.get_untracked() {
                let w = el.client_width();
                if w > 0 {
                    width.set(w as u32);
                }
            }
        };
        Effect::new(move |_| {
            if node.get().is_some() {
                measure();
            }
        });
        let handle = window_event_listener(leptos::ev::resize, move |_| measure());
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = node;
    width
}

/// The pointer's x in SVG pixels (the plot scales with the page).
fn pointer_x(ev: &leptos::ev::MouseEvent, width: f64) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el: web_sys::Element = ev.current_target()?.dyn_into().ok()?;
        let rect = el.get_bounding_client_rect();
        (rect.width() > 0.0).then(|| (f64::from(ev.client_x()) - rect.left()) * width / rect.width())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (ev, width);
        None
    }
}

/// Unix seconds by the browser's clock (0 elsewhere: charts load only there).
fn js_now_s() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() / 1000.0
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// The viewer's IANA zone (`Europe/Berlin`), if the browser says.
fn zone_name() -> String {
    #[cfg(feature = "hydrate")]
    {
        let options =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new()).resolved_options();
        js_sys::Reflect::get(&options, &wasm_bindgen::JsValue::from_str("timeZone"))
            .ok()
            .and_then(|z| z.as_string())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

/// Offer `text` as a download named `name` (made in the page: it is exactly
/// what the chart shows).
fn save_file(name: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/csv;charset=utf-8");
        let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else { return };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
        let Some(a) = document().create_element("a").ok().and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
        else {
            return;
        };
        a.set_href(&url);
        a.set_download(name);
        if let Some(body) = document().body() {
            let _ = body.append_child(&a);
            a.click();
            a.remove();
        }
        set_timeout(move || drop(web_sys::Url::revoke_object_url(&url)), std::time::Duration::from_secs(60));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, text);
}

/// `20261127T1405`: a moment in a file name, in the viewer's zone.
fn file_time(ts: i64) -> String {
    let (y, mo, d, h, mi, _) = format::civil(ts);
    format!("{y}{mo:02}{d:02}T{h:02}{mi:02}")
}

/// Pick a range and record it in the URL (a new history entry).
fn choose_range(dash: Dashboard, r: &'static str) {
    if dash.range.get_untracked() == r {
        return;
    }
    dash.range.set(r.to_owned());
    push_url(dash);
}

/// Record the range and the chosen outlet in the URL (a new history entry).
fn push_url(dash: Dashboard) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let outlet = match dash.chart_outlet.get_untracked() {
            0 => String::new(),
            n => format!("&outlet={n}"),
        };
        let url = match (dash.range.get_untracked().as_str(), dash.custom.get_untracked()) {
            (CUSTOM_RANGE, Some((s, e))) => format!("?start={s}&end={e}{outlet}"),
            (r, _) => format!("?range={r}{outlet}"),
        };
        let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = dash;
}

/// Follow the back and forward buttons.
fn follow_url(dash: Dashboard) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::{prelude::Closure, JsCast};
        let on_pop = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let search = window().location().search().unwrap_or_default();
            let custom = crate::state::custom_from_query(&search);
            let r = crate::history::range_from_query(&search).unwrap_or(crate::history::DEFAULT_RANGE);
            dash.custom.set(custom);
            dash.range.set(if custom.is_some() { CUSTOM_RANGE.to_owned() } else { r.to_owned() });
            dash.chart_outlet.set(crate::state::outlet_from_query(&search));
        });
        let _ = window().add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
        on_pop.forget();
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = dash;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Point, Series};

    fn history() -> History {
        History {
            device_id: "pdu".into(),
            start: 1_795_867_500,
            end: 1_795_867_530,
            bucket_s: 10,
            series: vec![
                Series {
                    metric: "outlet.4.power".into(),
                    unit: "W".into(),
                    points: vec![Point(1_795_867_500, 100.0, 90.0, 110.0), Point(1_795_867_510, 102.0, 95.0, 108.0)],
                },
                Series {
                    metric: "outlet.5.power".into(),
                    unit: "W".into(),
                    points: vec![Point(1_795_867_500, 7.0, 7.0, 7.0)],
                },
            ],
        }
    }

    fn outlet4() -> Vec<Line> {
        vec![Line {
            metric: "outlet.4.power".into(),
            label: "4 Server-1".into(),
            color: PALETTE[3],
            band: true,
            dash: false,
        }]
    }

    #[test]
    fn the_csv_holds_exactly_the_lines_shown_with_iso_times() {
        let text = csv(&history(), &outlet4(), "W");
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "time,metric,unit,avg,min,max");
        assert_eq!(rows[1], "2026-11-28T12:05:00Z,outlet.4.power,W,100.000,90.000,110.000");
        assert_eq!(rows.len(), 3, "outlet 5 is not shown, so not exported:\n{text}");
    }

    #[test]
    fn a_chart_has_words_and_a_table_for_those_who_cannot_see_it() {
        let h = history();
        let words = summary("Outlet power", &h, &outlet4(), "W");
        assert!(words.contains("4 Server-1 90.0 to 110.0 W, average 101.0 W"), "{words}");
        let rows = table_rows(&h, &outlet4());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1, vec!["100.0 (90.0–110.0)".to_owned()]);
    }
}
