//! The dashboard: one page a rack owner keeps open all day.
//!
//! Owns: every visible piece, each a small component named after what the
//! user sees. They read and change the page's state (`crate::state`), which
//! starts from the server's values (so the server-rendered HTML already
//! shows real readings) and is then fed by the live stream (`crate::live`).

mod ats;
mod banks;
mod charts;
mod energy;
mod identity;
mod outlets;
mod rules;

use crate::format;
use crate::model::{Connection, DeviceId, MqttState};
use crate::state::{Dashboard, LinkState};
use leptos::prelude::*;

/// A signal that changes every minute in the browser (never on the
/// server): track it to reload data that ages.
pub fn every_minute() -> RwSignal<u32> {
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        let _ = set_interval_with_handle(
            move || tick.update(|n| *n = n.wrapping_add(1)),
            std::time::Duration::from_secs(60),
        );
    });
    tick
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let has_data = move || dash.current.with(Option::is_some);
    view! {
        <Header/>
        <main class="page">
            <Show
                when=has_data
                fallback=|| view! { <p class="waiting">"Waiting for the first reading from the PDU…"</p> }
            >
                <Banners/>
                <identity::IdentityStrip/>
                <div class="top-row">
                    <ats::AtsPanel/>
                    <banks::BankList/>
                </div>
                <outlets::OutletGrid/>
                <charts::HistoryPanel/>
                <energy::EnergyPanel/>
                <div class="bottom-row">
                    <rules::RulesPanel/>
                    <rules::EventList/>
                </div>
            </Show>
        </main>
    }
}

#[component]
fn Header() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let link = move || match dash.link.get() {
        LinkState::Connecting => ("wait", "connecting…"),
        LinkState::Live => ("ok", "live"),
        LinkState::Reconnecting => ("bad", "reconnecting…"),
    };
    let pdu = move || match dash.read(|s| s.connection.clone()) {
        Some(Connection::Online) => ("ok", "online"),
        Some(Connection::Stale { .. }) => ("wait", "stale"),
        Some(Connection::Unreachable { .. }) => ("bad", "unreachable"),
        None => ("wait", "no data yet"),
    };
    let mqtt = move || {
        dash.mqtt.with(|m| match m.state {
            MqttState::Off => ("off", "off"),
            MqttState::Connecting => ("wait", "connecting…"),
            MqttState::Connected => ("ok", "connected"),
            MqttState::Disconnected => ("bad", "disconnected"),
        })
    };
    // Where it connects, and why it failed: never credentials.
    let mqtt_detail = move || {
        dash.mqtt.with(|m| match &m.error {
            Some(e) => format!("{} — {e}", m.broker),
            None => m.broker.clone(),
        })
    };
    view! {
        <header class="topbar">
            <div class="brand">
                <img class="logo" src="/favicon.svg" alt="" width="22" height="22"/>
                <span class="brand-name">"pdu-bridge"</span>
                <span class="brand-pdu">{dash.text(|s| s.label.clone())}</span>
            </div>
            <DeviceSelector/>
            <ul class="indicators" aria-label="Connections">
                <li class=move || format!("indicator {}", link().0) data-testid="link-state">
                    <span class="dot" aria-hidden="true"></span>
                    "Live updates: "
                    <strong>{move || link().1}</strong>
                </li>
                <li class=move || format!("indicator {}", pdu().0) data-testid="pdu-state">
                    <span class="dot" aria-hidden="true"></span>
                    "PDU: "
                    <strong>{move || pdu().1}</strong>
                </li>
                <li class=move || format!("indicator {}", mqtt().0) data-testid="mqtt-state" title=mqtt_detail>
                    <span class="dot" aria-hidden="true"></span>
                    "MQTT: "
                    <strong>{move || mqtt().1}</strong>
                    " "
                    <span class="indicator-detail">{mqtt_detail}</span>
                </li>
            </ul>
        </header>
    }
}

/// Shown only when the bridge watches several PDUs.
#[component]
fn DeviceSelector() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let ids = move || {
        dash.snapshots.with(|all| all.iter().map(|s| (s.device_id.clone(), s.label.clone())).collect::<Vec<_>>())
    };
    let on_change = move |ev: leptos::ev::Event| {
        if let Ok(id) = DeviceId::parse(&event_target_value(&ev)) {
            dash.selected.set(Some(id));
        }
    };
    view! {
        <Show when=move || dash.snapshots.with(|all| all.len() > 1)>
            <label class="device-select">
                "PDU "
                <select on:change=on_change>
                    {move || {
                        ids()
                            .into_iter()
                            .map(|(id, label)| {
                                view! { <option value=id.to_string()>{label}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
        </Show>
    }
}

/// Demo mode and connection problems, in words.
#[component]
fn Banners() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let simulated = move || dash.read(|s| s.simulated).unwrap_or(false);
    let problem = move || {
        let now = dash.now_ms.get();
        match dash.read(|s| s.connection.clone())? {
            Connection::Online => None,
            Connection::Stale { since_ms, reason } => Some((
                "banner warn",
                format!(
                    "Data stale: the last poll failed ({reason}); values are {} old.",
                    format::age(now.saturating_sub(since_ms) as f64 / 1000.0)
                ),
            )),
            Connection::Unreachable { since_ms, reason } => Some((
                "banner alert",
                format!(
                    "PDU unreachable for {} ({reason}). The values below are the last known and may be wrong.",
                    format::age(now.saturating_sub(since_ms) as f64 / 1000.0)
                ),
            )),
        }
    };
    view! {
        <Show when=simulated>
            <p class="banner info" role="status" data-testid="demo-banner">
                <strong>"Demo mode: "</strong>
                "these readings come from a simulated PDU44001, not hardware. Set PDU_HOST to poll a real PDU."
            </p>
        </Show>
        {move || problem().map(|(class, text)| view! { <p class=class role="alert">{text}</p> })}
        {move || {
            dash.mqtt.with(|m| {
                (m.state == MqttState::Disconnected).then(|| {
                    let why = m.error.clone().unwrap_or_else(|| "no connection".into());
                    let broker = m.broker.clone();
                    view! {
                        <p class="banner warn" role="status" data-testid="mqtt-banner">
                            "MQTT disconnected (" {broker} "): " {why} ". Polling and this dashboard carry on."
                        </p>
                    }
                })
            })
        }}
    }
}
