//! Energy: today, this week and this month (per source and per outlet),
//! and the weekly and monthly reports to view here, print or download.

use crate::api::{load_energy, load_report};
use crate::history::{EnergySummary, EnergyTotals, Report};
use crate::state::Dashboard;
use leptos::prelude::*;

fn kwh(v: f64) -> String {
    format!("{v:.2} kWh")
}

fn cost(v: Option<f64>, currency: &str) -> Option<String> {
    v.map(|c| if currency.is_empty() { format!("cost {c:.2}") } else { format!("{c:.2} {currency}") })
}

fn watts(v: Option<f64>) -> String {
    v.map(|w| format!("{w:.0} W")).unwrap_or_else(|| "—".into())
}

#[component]
pub fn EnergyPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let device = Memo::new(move |_| dash.read(|s| s.device_id.to_string()));
    let refresh = super::every_minute();
    let summary = LocalResource::new(move || {
        let device = device.get();
        refresh.track();
        async move { load_energy(device.ok_or_else(|| "no PDU yet".to_owned())?).await.map_err(|e| e.to_string()) }
    });
    let open = RwSignal::new(None::<String>);
    let body = move || match summary.get() {
        None => view! { <p class="chart-note">"Loading energy…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="chart-note bad">"Energy unavailable: " {e}</p> }.into_any(),
        Some(Ok(s)) => view! { <Summary s open device/> }.into_any(),
    };
    view! {
        <section class="card energy" id="energy" aria-labelledby="energy-title">
            <h2 id="energy-title">"Energy"</h2>
            {body}
        </section>
    }
}

#[component]
fn Summary(s: EnergySummary, open: RwSignal<Option<String>>, device: Memo<Option<String>>) -> impl IntoView {
    let periods = [("Today", &s.today), ("This week", &s.week), ("This month", &s.month)];
    let kpis = periods
        .iter()
        .map(|(label, t)| {
            let detail = format!(
                "A {} · B {} · peak {} · avg {}",
                kwh(t.sources.get("a").copied().unwrap_or(0.0)),
                kwh(t.sources.get("b").copied().unwrap_or(0.0)),
                watts(t.peak_w),
                watts(t.avg_w)
            );
            view! {
                <div class="kpi" data-testid="energy-kpi">
                    <span class="kpi-label">{*label}</span>
                    <strong>{kwh(t.kwh)}</strong>
                    <span class="kpi-cost">{cost(t.cost, &s.currency)}</span>
                    <span class="kpi-detail">{detail}</span>
                </div>
            }
        })
        .collect_view();
    let outlet = |t: &EnergyTotals, n: u32| t.outlets.get(&n).map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
    let rows = s
        .outlet_names
        .iter()
        .map(|(n, name)| {
            view! {
                <tr>
                    <td>{*n}</td>
                    <td class="name">{name.clone()}</td>
                    <td>{outlet(&s.today, *n)}</td>
                    <td>{outlet(&s.week, *n)}</td>
                    <td>{outlet(&s.month, *n)}</td>
                </tr>
            }
        })
        .collect_view();
    let device_q = s.device_id.clone();
    let reports = s
        .reports
        .iter()
        .map(|r| {
            let id = r.id.clone();
            let base = format!("/api/reports/{}", r.id);
            let q = format!("?device_id={device_q}");
            let toggle = move |_| open.update(|o| *o = if o.as_deref() == Some(&id) { None } else { Some(id.clone()) });
            let title = r.title.clone();
            let file = format!("{device_q}-{}", r.id);
            view! {
                <li>
                    <button type="button" class="link" on:click=toggle>
                        {r.title.clone()}
                    </button>
                    <a href=format!("{base}.html{q}") target="_blank" aria-label=format!("Print page of {title} (opens a new tab)")>
                        "Print page"
                    </a>
                    <a href=format!("{base}.csv{q}") download=format!("{file}.csv") aria-label=format!("Download {title} as CSV")>
                        "CSV"
                    </a>
                    <a href=format!("{base}.json{q}") download=format!("{file}.json") aria-label=format!("Download {title} as JSON")>
                        "JSON"
                    </a>
                </li>
            }
        })
        .collect_view();
    let no_reports = s.reports.is_empty();
    let zone = s.time_zone.clone();
    view! {
        <div class="kpis">{kpis}</div>
        <p class="muted small">"Local days in " {zone} ", from the PDU's energy counters."</p>
        <div class="energy-row">
            <table class="energy-outlets">
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col" class="name">"Outlet"</th>
                        <th scope="col">"Today kWh"</th>
                        <th scope="col">"Week kWh"</th>
                        <th scope="col">"Month kWh"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <div class="reports">
                <h3>"Reports"</h3>
                <Show when=move || no_reports>
                    <p class="muted small">
                        "The first weekly report appears after the first complete Monday–Sunday week."
                    </p>
                </Show>
                <ul class="report-list" data-testid="report-list">
                    {reports}
                </ul>
            </div>
        </div>
        <ReportView open device/>
    }
}

/// The opened report, read from the server.
#[component]
fn ReportView(open: RwSignal<Option<String>>, device: Memo<Option<String>>) -> impl IntoView {
    let report = LocalResource::new(move || {
        let (id, device) = (open.get(), device.get());
        async move {
            match (id, device) {
                (Some(id), Some(device)) => Some(load_report(device, id).await.map_err(|e| e.to_string())),
                _ => None,
            }
        }
    });
    move || match report.get().flatten() {
        None => ().into_any(),
        Some(Err(e)) => view! { <p class="chart-note bad">"Report unavailable: " {e}</p> }.into_any(),
        Some(Ok(r)) => view! { <ReportTable r/> }.into_any(),
    }
}

#[component]
fn ReportTable(r: Report) -> impl IntoView {
    let currency = r.currency.clone();
    let priced = r.price_per_kwh.is_some();
    let source = |t: &EnergyTotals, s: &str| format!("{:.2}", t.sources.get(s).copied().unwrap_or(0.0));
    let money = |v: Option<f64>| v.map(|c| format!("{c:.2}")).unwrap_or_else(|| "0.00".into());
    let days = r
        .days
        .iter()
        .map(|d| {
            let t = &d.totals;
            view! {
                <tr>
                    <th scope="row" class="name">{d.date.clone()}</th>
                    <td>{format!("{:.2}", t.kwh)}</td>
                    <td>{source(t, "a")}</td>
                    <td>{source(t, "b")}</td>
                    <td>{watts(t.peak_w)}</td>
                    <td>{watts(t.avg_w)}</td>
                    {priced.then(|| view! { <td>{money(t.cost)}</td> })}
                </tr>
            }
        })
        .collect_view();
    let change = match (r.previous_kwh, r.change_percent) {
        (Some(p), Some(c)) => format!("{c:+.1} % against the period before ({p:.2} kWh)"),
        (Some(p), None) => format!("{p:.2} kWh the period before"),
        _ => "no data for the period before".to_owned(),
    };
    let price = match r.price_per_kwh {
        Some(p) => format!("Cost {} {currency} at {p:.2} {currency} per kWh.", money(r.totals.cost),),
        None => "No cost: no price is set (BRIDGE_PRICE_PER_KWH, BRIDGE_CURRENCY).".to_owned(),
    };
    let print = move |_| print_report();
    view! {
        <article class="report" data-testid="report-view">
            <div class="card-head">
                <h3>{r.title.clone()}</h3>
                <button type="button" class="report-actions" on:click=print>"Print"</button>
            </div>
            <p>
                <strong data-testid="report-kwh">{kwh(r.totals.kwh)}</strong>
                " · source A " {source(&r.totals, "a")} " kWh · source B " {source(&r.totals, "b")} " kWh · peak "
                {watts(r.totals.peak_w)}
                " · average "
                {watts(r.totals.avg_w)}
                " · "
                {change}
            </p>
            <p data-testid="report-cost">{price}</p>
            <table class="energy-outlets">
                <caption class="visually-hidden">"Energy by day"</caption>
                <thead>
                    <tr>
                        <th scope="col" class="name">"Day"</th>
                        <th scope="col">"kWh"</th>
                        <th scope="col">"Source A kWh"</th>
                        <th scope="col">"Source B kWh"</th>
                        <th scope="col">"Peak"</th>
                        <th scope="col">"Average"</th>
                        {priced.then(|| view! { <th scope="col">{format!("Cost {}", r.currency)}</th> })}
                    </tr>
                </thead>
                <tbody>{days}</tbody>
            </table>
        </article>
    }
}

/// Print only the opened report (the stylesheet hides the rest while the
/// body carries `printing-report`).
fn print_report() {
    #[cfg(feature = "hydrate")]
    if let Some(body) = document().body() {
        let _ = body.class_list().add_1("printing-report");
        let _ = window().print();
        let _ = body.class_list().remove_1("printing-report");
    }
}
