//! Bank cards: what each breaker carries, against its limit.

use super::FreshnessNote;
use crate::format;
use crate::model::{Bank, PduSnapshot};
use crate::state::Dashboard;
use leptos::prelude::*;

fn bank(s: &PduSnapshot, number: u32) -> Option<&Bank> {
    s.banks.iter().find(|b| b.number == number)
}

#[component]
pub fn BankList() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let numbers = move || dash.read(|s| s.banks.iter().map(|b| b.number).collect::<Vec<_>>()).unwrap_or_default();
    let total = dash.text(|s| {
        format!("{} · {}", format::reading(s.totals.power, 0, "W"), format::reading(s.totals.current, 1, "A"))
    });
    view! {
        <section class="card banks" aria-labelledby="banks-title">
            <h2 id="banks-title">"Banks"</h2>
            <FreshnessNote/>
            <p class="total" data-testid="total">"Total " <strong>{total}</strong></p>
            <div class="bank-list">
                <For each=numbers key=|n| *n children=move |n| view! { <BankCard number=n/> }/>
            </div>
        </section>
    }
}

#[component]
fn BankCard(number: u32) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let field =
        move |f: fn(&Bank) -> String| dash.text(move |s| bank(s, number).map(f).unwrap_or_else(|| "—".to_owned()));
    let current = move || dash.read(|s| bank(s, number).and_then(|b| b.current)).flatten();
    let limit = move || dash.read(|s| bank(s, number).and_then(|b| b.max_load_amps)).flatten();
    let load = field(|b| {
        let state = b.load_state.map(|l| l.label()).unwrap_or("unknown");
        match b.max_load_amps {
            Some(max) => {
                format!("{} of {} — {state}", format::reading(b.current, 1, "A"), format::reading(Some(max), 0, "A"))
            }
            None => format!("{} — {state}", format::reading(b.current, 1, "A")),
        }
    });
    let state_class = field(|b| {
        format!("bank load-{}", b.load_state.map(|l| l.label().replace(' ', "-")).unwrap_or_else(|| "unknown".into()))
    });
    view! {
        <div class=state_class data-testid=format!("bank-{number}")>
            <h3>"Bank " {number}</h3>
            <p class="load">{load}</p>
            <meter
                min="0"
                max=move || limit().unwrap_or(16.0)
                high=move || limit().unwrap_or(16.0) * 0.8
                optimum="0"
                value=move || current().unwrap_or(0.0)
                aria-label=format!("Bank {number} current against its limit")
            ></meter>
            <dl class="readings">
                <dt>"Power"</dt>
                <dd data-testid="power">{field(|b| format::reading(b.power, 0, "W"))}</dd>
                <dt>"Apparent"</dt>
                <dd>{field(|b| format::reading(b.apparent_power, 0, "VA"))}</dd>
                <dt>"Voltage"</dt>
                <dd>{field(|b| format::reading(b.voltage, 1, "V"))}</dd>
                <dt>"Power factor"</dt>
                <dd>{field(|b| format::reading(b.power_factor, 2, ""))}</dd>
                <dt>"Energy"</dt>
                <dd>{field(|b| format::reading(b.energy_kwh, 1, "kWh"))}</dd>
            </dl>
        </div>
    }
}
