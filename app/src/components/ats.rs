//! The ATS panel: both inputs, which one feeds the load, which one is
//! preferred, and a transfer-switch diagram whose blade follows the active
//! source (it moves the moment a transfer shows up in a snapshot).

use super::FreshnessNote;
use crate::format;
use crate::model::{Ats, RangeStatus, Redundancy, Source, SourceReading};
use crate::state::Dashboard;
use leptos::prelude::*;

fn ats_text(
    dash: Dashboard,
    f: impl Fn(&Ats) -> String + Copy + Send + Sync + 'static,
) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    dash.text(move |s| s.ats.as_ref().map(f).unwrap_or_else(|| "—".to_owned()))
}

/// A source at (nearly) 0 V is gone, whatever status the PDU reports.
fn is_dead(r: &SourceReading) -> bool {
    r.voltage.is_some_and(|v| v < 1.0)
}

fn source_is_healthy(ats: &Ats, source: Source) -> bool {
    ats.source(source).is_some_and(|r| !is_dead(r) && r.voltage_status == Some(RangeStatus::Normal))
}

/// The source's state in words, from the PDU's own range check.
fn source_status(r: &SourceReading) -> String {
    if is_dead(r) {
        return "lost: no voltage".to_owned();
    }
    match r.voltage_status {
        Some(RangeStatus::Normal) => "within its range",
        Some(RangeStatus::Over) => "above its range",
        Some(RangeStatus::Under) => "below its range",
        None => "not reported",
    }
    .to_owned()
}

/// A dead source has no frequency: whatever the PDU says is not a reading.
fn source_frequency(r: &SourceReading) -> String {
    if is_dead(r) {
        "—".to_owned()
    } else {
        format::reading(r.frequency, 1, "Hz")
    }
}

#[component]
pub fn AtsPanel() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let has_ats = move || dash.read(|s| s.ats.is_some()).unwrap_or(false);
    let summary = ats_text(dash, |ats| {
        let feeding = match ats.selected {
            Some(src) if Some(src) == ats.preferred => format!("Load on source {} (preferred)", src.letter()),
            Some(src) => format!("Load on source {} (not the preferred source)", src.letter()),
            None => "No source can feed the load".to_owned(),
        };
        let redundancy = match ats.redundancy {
            Some(Redundancy::Ok) => "redundancy ok",
            Some(Redundancy::Lost) => "redundancy LOST",
            None => "redundancy unknown",
        };
        format!("{feeding} · {redundancy}")
    });
    let input = dash.text(|s| {
        let frequency = if s.input.voltage.is_some_and(|v| v < 1.0) { None } else { s.input.frequency };
        format!("{} · {}", format::reading(s.input.voltage, 1, "V"), format::reading(frequency, 1, "Hz"))
    });
    let preferred =
        ats_text(dash, |ats| ats.preferred.map(|s| format!("source {}", s.letter())).unwrap_or_else(|| "none".into()));
    let redundancy = ats_text(dash, |ats| {
        match ats.redundancy {
            Some(Redundancy::Ok) => "both inputs usable",
            Some(Redundancy::Lost) => "lost: one input only",
            None => "unknown",
        }
        .to_owned()
    });
    view! {
        <section class="card ats" aria-labelledby="ats-title">
            <h2 id="ats-title">"Power inputs"</h2>
            <FreshnessNote/>
            <Show
                when=has_ats
                fallback=|| view! { <p class="muted">"This PDU reports no transfer switch."</p> }
            >
                <div class="ats-body">
                    <SourceCard source=Source::A/>
                    <TransferDiagram/>
                    <SourceCard source=Source::B/>
                </div>
                <p class="ats-summary" data-testid="ats-summary">{summary}</p>
                <dl class="readings ats-details">
                    <dt>"Input (selected source)"</dt>
                    <dd>{input}</dd>
                    <dt>"Preferred source"</dt>
                    <dd>{preferred}</dd>
                    <dt>"Redundancy"</dt>
                    <dd>{redundancy}</dd>
                </dl>
            </Show>
        </section>
    }
}

#[component]
fn SourceCard(source: Source) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let flags = move || {
        dash.read(|s| {
            s.ats.as_ref().map(|ats| {
                (ats.selected == Some(source), ats.preferred == Some(source), source_is_healthy(ats, source))
            })
        })
        .flatten()
        .unwrap_or((false, false, false))
    };
    let class = move || {
        let (active, _, healthy) = flags();
        format!("source{}{}", if active { " active" } else { "" }, if healthy { "" } else { " failed" })
    };
    let reading = move |f: fn(&crate::model::SourceReading) -> String| {
        ats_text(dash, move |ats| ats.source(source).map(f).unwrap_or_else(|| "—".to_owned()))
    };
    let voltage = reading(|r| format::reading(r.voltage, 1, "V"));
    let frequency = reading(source_frequency);
    let status = reading(source_status);
    let letter = source.letter();
    view! {
        <div class=class data-testid=format!("source-{}", letter.to_lowercase())>
            <h3>"Source " {letter}</h3>
            <p class="badges">
                <Show when=move || flags().0>
                    <span class="badge active-badge">"active"</span>
                </Show>
                <Show when=move || flags().1>
                    <span class="badge">"preferred"</span>
                </Show>
            </p>
            <p class="big" data-testid="voltage">{voltage}</p>
            <p class="sub">{frequency}</p>
            <p class="status" data-testid="source-status">"Voltage " <strong>{status}</strong></p>
        </div>
    }
}

/// Two inputs, one blade, one output. The blade's position is a class, so
/// CSS animates the transfer.
#[component]
fn TransferDiagram() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let selected = move || dash.read(|s| s.ats.as_ref().and_then(|a| a.selected)).flatten();
    let healthy =
        move |src: Source| dash.read(|s| s.ats.as_ref().map(|a| source_is_healthy(a, src))).flatten().unwrap_or(false);
    let wire = move |src: Source| {
        move || {
            if selected() == Some(src) {
                "wire live"
            } else if healthy(src) {
                "wire idle"
            } else {
                "wire dead"
            }
        }
    };
    let blade = move || match selected() {
        Some(Source::A) => "blade to-a",
        Some(Source::B) => "blade to-b",
        None => "blade open",
    };
    let output = move || if selected().is_some() { "wire live" } else { "wire dead" };
    let label = move || match selected() {
        Some(src) => format!("Transfer switch: the load is fed from source {}", src.letter()),
        None => "Transfer switch: open, no source feeds the load".to_owned(),
    };
    view! {
        <svg class="transfer" viewBox="0 0 210 160" role="img" aria-label=label data-testid="transfer-diagram">
            <path class=wire(Source::A) d="M 22 41 H 104"></path>
            <path class=wire(Source::B) d="M 22 119 H 104"></path>
            <circle class="terminal" cx="14" cy="41" r="8"></circle>
            <circle class="terminal" cx="14" cy="119" r="8"></circle>
            <text class="terminal-label" x="14" y="45">"A"</text>
            <text class="terminal-label" x="14" y="123">"B"</text>
            <circle class="contact" cx="104" cy="41" r="4"></circle>
            <circle class="contact" cx="104" cy="119" r="4"></circle>
            <line class=blade x1="150" y1="80" x2="90" y2="80"></line>
            <circle class="pivot" cx="150" cy="80" r="5"></circle>
            <path class=output d="M 150 80 H 196"></path>
            <text class="load-label" x="196" y="100">"load"</text>
        </svg>
    }
}
