//! The dashboard: one page a rack owner keeps open all day.
//!
//! Owns: the page's reactive state ([`Dashboard`]) and every visible piece,
//! each a small component named after what the user sees. The state starts
//! from the server's values (so the server-rendered HTML already shows real
//! readings) and is then fed by the live stream (`crate::live`).

mod ats;
mod banks;
mod charts;
mod energy;
mod identity;
mod outlets;
mod rules;

use crate::api::InitialState;
use crate::format;
use crate::live::RulesUpdate;
use crate::model::{Connection, DeviceId, Event, MqttState, MqttStatus, PduSnapshot};
use crate::rules::RuleStatus;
use leptos::prelude::*;

/// State of the push channel from the bridge to this page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    Reconnecting,
}

/// The page's state; `Copy`, so every closure can hold it.
#[derive(Clone, Copy)]
pub struct Dashboard {
    /// Latest snapshot of every PDU, as pushed by the bridge.
    pub snapshots: RwSignal<Vec<PduSnapshot>>,
    /// The PDU the user picked; `None` shows the first.
    pub selected: RwSignal<Option<DeviceId>>,
    /// The clock data ages are measured against (server time until the
    /// browser's clock takes over after hydration).
    pub now_ms: RwSignal<u64>,
    pub link: RwSignal<LinkState>,
    /// The bridge's MQTT link.
    pub mqtt: RwSignal<MqttStatus>,
    /// Every PDU's rules with their live state.
    pub rules: RwSignal<Vec<RulesUpdate>>,
    /// Recent events, newest first.
    pub events: RwSignal<Vec<Event>>,
    /// The PDU on screen.
    pub current: Memo<Option<PduSnapshot>>,
    /// The history charts' range (`1h` … `60d`), mirrored in the URL.
    pub range: RwSignal<String>,
}

impl Dashboard {
    pub fn from_initial(initial: InitialState) -> Self {
        let snapshots = RwSignal::new(initial.snapshots);
        let selected = RwSignal::new(None::<DeviceId>);
        let current = Memo::new(move |_| {
            selected.with(|sel| {
                snapshots.with(|all| match sel {
                    Some(id) => all.iter().find(|s| &s.device_id == id).cloned(),
                    None => all.first().cloned(),
                })
            })
        });
        Self {
            snapshots,
            selected,
            now_ms: RwSignal::new(initial.now_ms),
            link: RwSignal::new(LinkState::Connecting),
            mqtt: RwSignal::new(initial.mqtt),
            rules: RwSignal::new(initial.rules),
            events: RwSignal::new(initial.events),
            current,
            range: RwSignal::new(if initial.range.is_empty() {
                crate::history::DEFAULT_RANGE.to_owned()
            } else {
                initial.range
            }),
        }
    }

    /// Replace (or add) one PDU's snapshot.
    pub fn upsert(&self, snapshot: PduSnapshot) {
        self.snapshots.update(|all| match all.iter_mut().find(|s| s.device_id == snapshot.device_id) {
            Some(slot) => *slot = snapshot,
            None => all.push(snapshot),
        });
    }

    /// The rules of the PDU on screen.
    pub fn current_rules(&self) -> Vec<RuleStatus> {
        let Some(id) = self.read(|s| s.device_id.clone()) else { return Vec::new() };
        self.rules.with(|all| all.iter().find(|u| u.device_id == id).map(|u| u.rules.clone()).unwrap_or_default())
    }

    /// Replace one PDU's rules (a pushed update).
    pub fn set_rules(&self, update: RulesUpdate) {
        self.rules.update(|all| match all.iter_mut().find(|u| u.device_id == update.device_id) {
            Some(slot) => *slot = update,
            None => all.push(update),
        });
    }

    /// Apply one rule's new status to the PDU on screen.
    pub fn upsert_rule(&self, status: RuleStatus) {
        let Some(device_id) = self.read(|s| s.device_id.clone()) else { return };
        let mut rules = self.current_rules();
        match rules.iter_mut().find(|r| r.rule.name == status.rule.name) {
            Some(slot) => *slot = status,
            None => rules.push(status),
        }
        self.set_rules(RulesUpdate { device_id, rules });
    }

    pub fn remove_rule(&self, name: &str) {
        let Some(device_id) = self.read(|s| s.device_id.clone()) else { return };
        let rules = self.current_rules().into_iter().filter(|r| r.rule.name != name).collect();
        self.set_rules(RulesUpdate { device_id, rules });
    }

    pub fn push_event(&self, event: Event) {
        self.events.update(|all| {
            all.insert(0, event);
            all.truncate(crate::api::EVENTS_SHOWN);
        });
    }

    /// One value of the PDU on screen, `None` before the first reading.
    pub fn read<T>(&self, f: impl FnOnce(&PduSnapshot) -> T) -> Option<T> {
        self.current.with(|s| s.as_ref().map(f))
    }

    /// A reactive text drawn from the PDU on screen ("—" before any data).
    pub fn text(
        self,
        f: impl Fn(&PduSnapshot) -> String + Copy + Send + Sync + 'static,
    ) -> impl Fn() -> String + Copy + Send + Sync + 'static {
        move || self.read(f).unwrap_or_else(|| "—".to_owned())
    }
}

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
