//! History charts: total and bank power, bank current, source A/B voltage
//! and outlet power over a chosen range, drawn in the browser with plotters
//! from the server's downsampled buckets (average line, min/max band, gaps
//! as gaps), with a hover read-out and CSV download.
//!
//! The range lives in the URL (`?range=7d`), so a view can be bookmarked
//! and the back button steps through ranges. Charts load after the page is
//! usable; the server renders their frames and a loading note.

use crate::api::load_history;
use crate::chart::{self, Drawn, Line, TimeAxis, PALETTE};
use crate::format;
use crate::history::{History, HistoryKind, RANGES};
use crate::state::Dashboard;
use leptos::prelude::*;

const SIZE: (u32, u32) = (720, 230);

type Loaded = Option<Result<History, String>>;

#[component]
pub fn HistoryPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let device = Memo::new(move |_| dash.read(|s| s.device_id.to_string()));
    // The charts follow the clock.
    let refresh = super::every_minute();
    follow_url(dash.range);
    let load = move |kind: HistoryKind| {
        let resource = LocalResource::new(move || {
            let (device, range) = (device.get(), dash.range.get());
            refresh.track();
            async move {
                let device = device.ok_or_else(|| "no PDU yet".to_owned())?;
                load_history(device, kind, range).await.map_err(|e| e.to_string())
            }
        });
        Signal::derive(move || resource.get())
    };
    let (banks, sources, outlets) = (load(HistoryKind::Banks), load(HistoryKind::Sources), load(HistoryKind::Outlets));

    // Memos, so a new snapshot each second redraws nothing unless the lines change.
    let bank_count = move || dash.read(|s| s.banks.len()).unwrap_or(0);
    let power_lines = Memo::new(move |_| {
        let mut lines =
            vec![Line { metric: "total.power".into(), label: "Total".into(), color: PALETTE[0], band: true }];
        lines.extend((1..=bank_count()).map(|b| Line {
            metric: format!("bank.{b}.power"),
            label: format!("Bank {b}"),
            color: PALETTE[b % PALETTE.len()],
            band: false,
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
            })
            .collect()
    });
    let voltage_lines = Memo::new(move |_| {
        vec![
            Line { metric: "source.a.voltage".into(), label: "Source A".into(), color: PALETTE[0], band: true },
            Line { metric: "source.b.voltage".into(), label: "Source B".into(), color: PALETTE[1], band: true },
        ]
    });
    // All outlets as lines, or one outlet with its band.
    let outlet_choice = RwSignal::new(0usize);
    let outlet_names = move || {
        dash.read(|s| s.outlets.iter().map(|o| (o.number, o.name.clone())).collect::<Vec<_>>()).unwrap_or_default()
    };
    let outlet_lines = Memo::new(move |_| -> Vec<Line> {
        let chosen = outlet_choice.get();
        outlet_names()
            .into_iter()
            .filter(|(n, _)| chosen == 0 || *n as usize == chosen)
            .map(|(n, name)| Line {
                metric: format!("outlet.{n}.power"),
                label: format!("{n} {name}"),
                color: PALETTE[(n as usize - 1) % PALETTE.len()],
                band: chosen != 0,
            })
            .collect()
    });
    let pick_outlet = move |ev: leptos::ev::Event| outlet_choice.set(event_target_value(&ev).parse().unwrap_or(0));
    let outlet_picker = move || {
        view! {
            <select class="chart-pick" aria-label="Outlet" on:change=pick_outlet>
                <option value="0">"All outlets"</option>
                {move || {
                    outlet_names()
                        .into_iter()
                        .map(|(n, name)| view! { <option value=n.to_string()>{format!("{n} {name}")}</option> })
                        .collect_view()
                }}
            </select>
        }
    };

    view! {
        <section class="card history" id="history" aria-labelledby="history-title">
            <div class="card-head">
                <h2 id="history-title">"History"</h2>
                <RangeButtons/>
            </div>
            <div class="charts">
                <Chart title="Power" unit="W" kind=HistoryKind::Banks data=banks lines=power_lines testid="chart-power"/>
                <Chart
                    title="Bank current"
                    unit="A"
                    kind=HistoryKind::Banks
                    data=banks
                    lines=current_lines
                    testid="chart-current"
                />
                <Chart
                    title="Source voltage"
                    unit="V"
                    kind=HistoryKind::Sources
                    data=sources
                    lines=voltage_lines
                    testid="chart-voltage"
                />
                <Chart
                    title="Outlet power"
                    unit="W"
                    kind=HistoryKind::Outlets
                    data=outlets
                    lines=outlet_lines
                    testid="chart-outlets"
                >
                    {outlet_picker}
                </Chart>
            </div>
        </section>
    }
}

#[component]
fn RangeButtons() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    view! {
        <div class="range-buttons" role="group" aria-label="Range">
            {RANGES
                .into_iter()
                .map(|r| {
                    let pressed = move || (dash.range.get() == r).to_string();
                    view! {
                        <button type="button" aria-pressed=pressed on:click=move |_| choose_range(dash.range, r)>
                            {r}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// One chart with its legend, hover read-out and CSV link.
#[component]
fn Chart(
    title: &'static str,
    unit: &'static str,
    kind: HistoryKind,
    data: Signal<Loaded>,
    #[prop(into)] lines: Signal<Vec<Line>>,
    testid: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let drawn = Memo::new(move |_| -> Option<Result<Option<(Drawn, History)>, String>> {
        let loaded = data.get()?;
        let lines = lines.get();
        Some(loaded.and_then(|h| {
            if lines.iter().all(|l| h.series(&l.metric).is_none_or(|s| s.points.is_empty())) {
                return Ok(None);
            }
            let span = h.end - h.start;
            let label = |ts| format::tick(ts, span);
            let axis = TimeAxis { offset: format::utc_offset(h.start), label: &label };
            let drawn = chart::draw(&h, &lines, unit, SIZE, &axis)?;
            Ok(Some((drawn, h)))
        }))
    });
    let hover = RwSignal::new(None::<f64>);
    let csv = move || {
        let device = dash.read(|s| s.device_id.to_string()).unwrap_or_default();
        format!("/api/history/{}.csv?range={}&device_id={device}", kind.as_str(), dash.range.get())
    };
    let legend = move || {
        lines
            .get()
            .into_iter()
            .map(|l| {
                let swatch = format!("background: rgb({},{},{})", l.color.0, l.color.1, l.color.2);
                view! {
                    <li>
                        <span class="swatch" style=swatch></span>
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
            view! { <Plot drawn history lines=lines.get_untracked() unit hover/> }.into_any()
        }
    };
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>
                <span class="chart-title">{title}</span>
                {children.map(|c| c())}
                <a class="chart-csv" href=csv download="">
                    "CSV"
                </a>
            </figcaption>
            <ul class="legend">{legend}</ul>
            <div class="chart-body">{body}</div>
        </figure>
    }
}

/// The drawn SVG with a cursor line and read-out under the pointer.
#[component]
fn Plot(
    drawn: Drawn,
    history: History,
    lines: Vec<Line>,
    unit: &'static str,
    hover: RwSignal<Option<f64>>,
) -> impl IntoView {
    let (width, height) = (f64::from(drawn.width), f64::from(drawn.height));
    let svg = drawn.svg.clone();
    let (segments, points) = (drawn.segments, history.series.iter().map(|s| s.points.len()).sum::<usize>());
    let on_move = move |ev: leptos::ev::MouseEvent| hover.set(pointer_x(&ev, width));
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
        <div
            class="plot"
            style=format!("aspect-ratio: {width} / {height}")
            data-segments=segments
            data-points=points
            on:mousemove=on_move
            on:mouseleave=move |_| hover.set(None)
        >
            <div class="plot-svg" inner_html=svg></div>
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

/// Pick a range and record it in the URL (a new history entry).
fn choose_range(range: RwSignal<String>, r: &'static str) {
    if range.get_untracked() == r {
        return;
    }
    range.set(r.to_owned());
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("?range={r}")));
    }
}

/// Follow the back and forward buttons.
fn follow_url(range: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::{prelude::Closure, JsCast};
        let on_pop = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let search = window().location().search().unwrap_or_default();
            let r = crate::history::range_from_query(&search).unwrap_or(crate::history::DEFAULT_RANGE);
            range.set(r.to_owned());
        });
        let _ = window().add_event_listener_with_callback("popstate", on_pop.as_ref().unchecked_ref());
        on_pop.forget();
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = range;
}
