//! The sensors strip: the environment probe (temperature in both scales,
//! humidity, each contact in words) and the power supplies — only what the
//! PDU has. A reading outside the probe's own thresholds, an abnormal
//! contact or a failed supply says so in words, not only in colour.

use crate::model::{PsuState, Sensors};
use crate::state::Dashboard;
use leptos::prelude::*;

/// One line per sensor: (label, value, something is wrong).
pub fn lines(s: &Sensors) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    if let Some(e) = &s.environment {
        let out_of_range = e.out_of_range();
        let temperature = match (e.temperature_c, e.temperature_f) {
            (Some(c), Some(f)) => format!("{c:.1} °C ({f:.1} °F)"),
            (Some(c), None) => format!("{c:.1} °C"),
            (None, Some(f)) => format!("{f:.1} °F"),
            (None, None) => "—".to_owned(),
        };
        let hot = out_of_range.iter().any(|w| w.starts_with("temperature"));
        out.push(("Temperature".to_owned(), temperature + if hot { " — out of range" } else { "" }, hot));
        let wet = out_of_range.iter().any(|w| w.starts_with("humidity"));
        let humidity = e.humidity.map(|h| format!("{h:.0} %")).unwrap_or_else(|| "—".to_owned());
        out.push(("Humidity".to_owned(), humidity + if wet { " — out of range" } else { "" }, wet));
        for c in &e.contacts {
            let name = c.name.clone().unwrap_or_else(|| format!("Contact {}", c.number));
            let state = match c.open {
                Some(true) => "open",
                Some(false) => "closed",
                None => "unknown",
            };
            let alarm = if c.abnormal { " — not in its normal state" } else { "" };
            out.push((name, format!("{state}{alarm}"), c.abnormal));
        }
    }
    for p in &s.power_supplies {
        let (state, bad) = match p.state {
            PsuState::Ok => ("working", false),
            PsuState::Failed => ("FAILED", true),
            PsuState::NotPresent => ("not present", false),
        };
        out.push((format!("Power supply {}", p.number), state.to_owned(), bad));
    }
    out
}

#[component]
pub fn SensorStrip() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let rows = move || dash.read(|s| lines(&s.sensors)).unwrap_or_default();
    view! {
        <Show when=move || !rows().is_empty()>
            <section class="card sensors" aria-labelledby="sensors-title" data-testid="sensors">
                <h2 id="sensors-title">"Sensors"</h2>
                <dl class="sensor-list">
                    {move || rows().into_iter().map(|(label, value, bad)| view! {
                        <div class=if bad { "sensor bad" } else { "sensor" }>
                            <dt>{label}</dt>
                            <dd>{if bad { "⚠ " } else { "" }}{value}</dd>
                        </div>
                    }).collect_view()}
                </dl>
            </section>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Contact, Environment, PowerSupply};

    #[test]
    fn only_what_the_pdu_has_and_trouble_in_words() {
        assert!(lines(&Sensors::default()).is_empty(), "a PDU without sensors shows none");
        let sensors = Sensors {
            environment: Some(Environment {
                temperature_c: Some(38.5),
                temperature_f: Some(101.3),
                humidity: Some(40.0),
                temperature_high_c: Some(35.0),
                contacts: vec![Contact { number: 1, name: Some("Rack door".into()), open: Some(true), abnormal: true }],
                ..Default::default()
            }),
            power_supplies: vec![PowerSupply { number: 2, state: PsuState::Failed }],
        };
        let shown = lines(&sensors);
        assert_eq!(shown[0], ("Temperature".into(), "38.5 °C (101.3 °F) — out of range".into(), true));
        assert_eq!(shown[1], ("Humidity".into(), "40 %".into(), false));
        assert_eq!(shown[2], ("Rack door".into(), "open — not in its normal state".into(), true));
        assert_eq!(shown[3], ("Power supply 2".into(), "FAILED".into(), true));
    }
}
