//! The dashboard: one page a rack owner keeps open all day.
//!
//! Owns: every visible piece, each a small component named after what the
//! user sees. They read and change the page's state (`crate::state`), which
//! starts from the server's values (so the server-rendered HTML already
//! shows real readings) and is then fed by the live stream (`crate::live`).
//! At the top, the status strip says in one line per PDU whether power is
//! fine; below it every reading says how old it is when it is not live.

pub mod access;
mod account;
pub mod alarms;
mod ats;
mod banks;
mod charts;
mod dialog;
mod energy;
pub mod fleet;
mod identity;
mod outlets;
pub mod pdus;
mod rename;
mod rules;
mod sensors;
pub mod settings;

use crate::format;
use crate::model::{DeviceId, MqttState};
use crate::state::{AddressedPdu, Dashboard, LinkState, Trust, View};
use crate::status::{self, Alarm, Severity};
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

/// A moment as the reader sees it: local time in the browser (UTC in the
/// server's HTML, which says so), the full date and zone on hover, and a
/// machine-readable `datetime`.
#[component]
pub fn When(ms: u64) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let ts = (ms / 1000) as i64;
    let text = move || {
        let now = dash.now_ms.get();
        let zone = if dash.hydrated.get() { String::new() } else { " UTC".to_owned() };
        format!("{}{zone}", format::clock(ms, now))
    };
    let full = move || {
        dash.hydrated.track();
        format!("{} {}", format::stamp(ts), format::zone(ts))
    };
    let iso = move || {
        dash.hydrated.track();
        format::iso(ts)
    };
    view! { <time datetime=iso title=full>{text}</time> }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let addressed = use_context::<AddressedPdu>().unwrap_or_default();
    let unknown = Memo::new(move |_| dash.unknown(&addressed));
    let has_data = move || dash.current.with(Option::is_some);
    let has_pdu = move || dash.current_id.with(Option::is_some);
    let class = move || if dash.trust().frozen() { "page frozen" } else { "page" };
    view! {
        <a class="skip-link" href="#content">"Skip to the dashboard"</a>
        <Header/>
        <main id="content" tabindex="-1" class=class>
            <account::SessionEnded/>
            <alarms::AlarmBanner/>
            <StatusStrip/>
            <Show
                when=move || unknown.with(Option::is_none)
                fallback=move || view! { <NoSuchPdu asked=unknown.get().unwrap_or_default()/> }
            >
                <Banners/>
                <Show when=has_data fallback=NeverReached>
                    <identity::IdentityStrip/>
                    <div class="top-row">
                        <ats::AtsPanel/>
                        <banks::BankList/>
                    </div>
                    <sensors::SensorStrip/>
                    <outlets::OutletGrid/>
                </Show>
                // History is the store's: shown also while the PDU has not
                // answered since the bridge started.
                <Show when=has_pdu>
                    <charts::HistoryPanel/>
                </Show>
                <Show when=has_data>
                    <energy::EnergyPanel/>
                </Show>
                <Show when=has_pdu>
                    <div class="bottom-row">
                        <rules::RulesPanel/>
                        <rules::EventList/>
                    </div>
                </Show>
            </Show>
        </main>
    }
}

/// An address naming a PDU the bridge does not have (mistyped, or removed
/// since the link was made): say so, and lead to every PDU there is.
#[component]
fn NoSuchPdu(asked: String) -> impl IntoView {
    view! {
        <section class="card never" aria-labelledby="no-such-title" data-testid="no-such-pdu">
            <h2 id="no-such-title">"No PDU with id “" {asked} "”"</h2>
            <p>"The bridge watches no PDU by this id: it may have been removed, or the address is mistyped."</p>
            <p><a href=View::FLEET_PATH>"See every PDU in the fleet"</a></p>
        </section>
    }
}

/// How the PDU on screen is doing, for the header: a class and words.
fn pdu_indicator(dash: Dashboard) -> (&'static str, &'static str) {
    // Without the live stream the page cannot know the PDU's state.
    match dash.trust() {
        Trust::NoLink { .. } => ("off", "unknown (no link)"),
        Trust::Unreachable { .. } => ("bad", "unreachable"),
        Trust::Stale { .. } => ("wait", "stale"),
        Trust::Lagging { .. } => ("wait", "no new readings"),
        Trust::Live if dash.current.with(Option::is_none) => ("bad", "never answered"),
        Trust::Live => ("ok", "online"),
    }
}

#[component]
fn Header() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let view = use_context::<View>().unwrap_or(View::Dashboard);
    let addressed = use_context::<AddressedPdu>().unwrap_or_default();
    let unknown = Memo::new(move |_| dash.unknown(&addressed).is_some());
    let link = move || match dash.link.get() {
        LinkState::Connecting => ("wait", "connecting…"),
        LinkState::Live => ("ok", "live"),
        LinkState::Reconnecting => ("bad", "lost, reconnecting…"),
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
    let label = move || match view {
        View::Fleet => "Fleet".to_owned(),
        View::Alarms => "Alarms".to_owned(),
        _ if unknown.get() => "No such PDU".to_owned(),
        _ => dash
            .read(|s| s.label.clone())
            .or_else(|| dash.current_id.get().and_then(|id| dash.info(&id)).map(|p| p.label))
            .unwrap_or_default(),
    };
    // The fleet and the alarm list speak of every PDU, a PDU's page of its own.
    let pdu_state = match view {
        View::Fleet | View::Alarms => view! { <fleet::FleetIndicator/> }.into_any(),
        _ => {
            let pdu = move || if unknown.get() { ("off", "no such PDU") } else { pdu_indicator(dash) };
            view! {
                <li class=move || format!("indicator {}", pdu().0) data-testid="pdu-state">
                    <span class="dot" aria-hidden="true"></span>
                    "PDU: "
                    <strong>{move || pdu().1}</strong>
                </li>
            }
            .into_any()
        }
    };
    view! {
        <header class="topbar">
            <h1 class="brand">
                <img class="logo" src="/favicon.svg" alt="" width="22" height="22"/>
                <span class="brand-name">"pdu-bridge"</span>
                <span class="brand-pdu">{label}</span>
            </h1>
            <PduSwitcher/>
            <ul class="indicators" aria-label="Connections">
                <li class=move || format!("indicator {}", link().0) data-testid="link-state">
                    <span class="dot" aria-hidden="true"></span>
                    "Live updates: "
                    <strong>{move || link().1}</strong>
                </li>
                {pdu_state}
                <li class=move || format!("indicator {}", mqtt().0) data-testid="mqtt-state" title=mqtt_detail>
                    <span class="dot" aria-hidden="true"></span>
                    "MQTT: "
                    <strong>{move || mqtt().1}</strong>
                    " "
                    <span class="indicator-detail">{mqtt_detail}</span>
                </li>
            </ul>
            <alarms::AlarmsLink/>
            <account::AccountBar/>
            <SectionLinks/>
        </header>
    }
}

/// Links to the sections of the page on screen, and to the other page.
#[component]
fn SectionLinks() -> impl IntoView {
    let view = use_context::<View>().unwrap_or(View::Dashboard);
    let dash = expect_context::<Dashboard>();
    let admin = dash.may(crate::access::Role::Admin);
    let addressed = use_context::<AddressedPdu>().unwrap_or_default();
    let known = move || dash.unknown(&addressed).is_none();
    match view {
        View::Dashboard => view! {
            <nav class="jump" aria-label="Sections">
                <Show when=known fallback=|| view! { <a href=View::FLEET_PATH>"Every PDU"</a> }>
                    <a href="#outlets">"Outlets"</a>
                    <a href="#history">"History"</a>
                    <a href="#energy">"Energy"</a>
                    <a href="#rules">"Rules"</a>
                    <a href="#events">"Events"</a>
                    <a href=move || dash.current_id.get().map(|id| View::settings_path(&id)).unwrap_or_default() data-testid="settings-link">
                        "Settings"
                    </a>
                </Show>
            </nav>
        }
        .into_any(),
        View::Settings => view! {
            <nav class="jump" aria-label="Sections">
                <Show when=known fallback=|| view! { <a href=View::FLEET_PATH>"Every PDU"</a> }>
                    <a href=move || dash.current_id.get().map(|id| View::pdu_path(&id)).unwrap_or_default() data-testid="dashboard-link">
                        "← Dashboard"
                    </a>
                    <a href="#device">"Device"</a>
                    <a href="#ats">"ATS"</a>
                    <a href="#power-up">"Power-up"</a>
                    <a href="#outlet-settings">"Outlets"</a>
                    <a href="#thresholds">"Thresholds"</a>
                    <a href="#every-outlet">"Every outlet"</a>
                </Show>
            </nav>
        }
        .into_any(),
        View::Fleet => view! {
            <nav class="jump" aria-label="Sections">
                <a href="#fleet-pdus">"PDUs"</a>
                <a href="#fleet-totals">"Totals"</a>
                <a href="#racks">"Racks"</a>
            </nav>
        }
        .into_any(),
        View::Alarms => view! {
            <nav class="jump" aria-label="Sections">
                <a href="/">"← Dashboard"</a>
                <a href="#active-alarms">"Active"</a>
                <a href="#past-alarms">"Past"</a>
            </nav>
        }
        .into_any(),
        View::Access => view! {
            <nav class="jump" aria-label="Sections">
                <a href="/">"← Dashboard"</a>
                <a href="#account">"Your account"</a>
                <a href="#sessions">"Your sessions"</a>
                {admin.then(|| view! {
                    <a href="#users">"Users"</a>
                    <a href="#tokens">"API tokens"</a>
                    <a href="#audit">"Audit log"</a>
                })}
            </nav>
        }
        .into_any(),
    }
}

/// Links to every PDU's page and to the fleet, the page on screen marked;
/// shown only when the bridge watches several PDUs. Plain links: each page
/// is a real address, and the back button works.
#[component]
fn PduSwitcher() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let view = use_context::<View>().unwrap_or(View::Dashboard);
    let addressed = use_context::<AddressedPdu>().unwrap_or_default();
    let several = move || dash.pdus.with(|all| all.len() > 1);
    let on_screen = Memo::new(move |_| match view {
        View::Dashboard | View::Settings if dash.unknown(&addressed).is_none() => dash.current_id.get(),
        _ => None,
    });
    let fleet_current = (view == View::Fleet).then_some("page");
    view! {
        <Show when=several>
            <nav class="switcher" aria-label="PDUs" data-testid="pdu-switcher">
                <ul>
                    <li>
                        <a href=View::FLEET_PATH aria-current=fleet_current data-testid="switch-fleet">"Fleet"</a>
                    </li>
                    <For
                        each=move || dash.pdus.with(|all| all.iter().map(|p| (p.device_id.clone(), p.label.clone())).collect::<Vec<_>>())
                        key=|pdu| pdu.clone()
                        children=move |(id, label)| {
                            // From a settings page to the other PDUs' settings.
                            let href = if view == View::Settings { View::settings_path(&id) } else { View::pdu_path(&id) };
                            let testid = format!("switch-{id}");
                            let current = move || on_screen.with(|on| (on.as_ref() == Some(&id)).then_some("page"));
                            view! { <li><a href=href aria-current=current data-testid=testid>{label}</a></li> }
                        }
                    />
                </ul>
            </nav>
        </Show>
    }
}

/// One line per PDU, worst condition first, in words, colour and a symbol,
/// with the time it began; the page's own link to the bridge above them.
#[component]
fn StatusStrip() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    // This page's PDU; the fleet page has every PDU's state.
    let ids = move || {
        let configured = dash.pdus.with(|p| p.iter().map(|p| p.device_id.clone()).collect::<Vec<_>>());
        let all: Vec<DeviceId> = if configured.is_empty() {
            dash.snapshots.with(|all| all.iter().map(|s| s.device_id.clone()).collect())
        } else {
            configured
        };
        match dash.current_id.get() {
            Some(current) if all.len() > 1 => all.into_iter().filter(|id| *id == current).collect(),
            _ => all,
        }
    };
    let link_lost = move || match dash.trust() {
        Trust::NoLink { since_ms } => Some(since_ms),
        _ => None,
    };
    view! {
        <section class="status-strip" aria-labelledby="status-title" aria-live="polite" data-testid="status-strip">
            <h2 id="status-title" class="visually-hidden">"Status at a glance"</h2>
            {move || {
                link_lost()
                    .map(|since| {
                        let alarm = Alarm {
                            severity: Severity::Critical,
                            key: "no-link".into(),
                            title: "No link to the bridge".into(),
                            detail: "This page receives nothing: the bridge stopped or the network dropped. Every value below is frozen and switching is off until the link is back; it reconnects by itself.".into(),
                            since_ms: since,
                        };
                        view! { <StatusLine label=String::new() alarms=vec![alarm] testid="status-link".into()/> }
                    })
            }}
            <For each=ids key=|id| id.clone() children=move |id| view! { <PduStatus id/> }/>
        </section>
    }
}

/// How the bridge's reason begins when another PDU answers at a PDU's
/// address (`server::poller::IDENTITY_MISMATCH`).
const WRONG_PDU: &str = "a different PDU answers at this address";

/// What a PDU that has never answered shows instead of readings.
fn never_reached(dash: Dashboard, id: &DeviceId) -> Alarm {
    let info = dash.info(id);
    let at = info.as_ref().and_then(|p| p.address.clone()).map(|a| format!(" at {a}")).unwrap_or_default();
    let error = info.and_then(|p| p.last_error);
    let wrong_pdu = error.as_deref().is_some_and(|e| e.starts_with(WRONG_PDU));
    let why =
        error.map(|e| format!("Last error: {e}.")).unwrap_or_else(|| "The first poll is still under way.".to_owned());
    let title = if wrong_pdu { "A different PDU answers at its address" } else { "PDU has not answered" };
    Alarm {
        severity: Severity::Critical,
        key: "never-reached".into(),
        title: title.into(),
        detail: format!("No reading from the PDU{at} since the bridge started. {why}"),
        since_ms: None,
    }
}

#[component]
fn PduStatus(id: DeviceId) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let key = StoredValue::new(id.clone());
    // When this page first saw a condition whose start the bridge did not
    // record: the browser's clock, so only after hydration.
    let first_seen = StoredValue::new(std::collections::HashMap::<String, u64>::new());
    let alarms = Memo::new(move |_| {
        let id = key.get_value();
        let now = dash.now_ms.get();
        let snapshot = dash.snapshots.with(|all| all.iter().find(|s| s.device_id == id).cloned());
        let mut alarms = match snapshot {
            Some(s) => dash.events.with(|events| status::alarms(&s, events, now)),
            None => {
                dash.pdus.track();
                vec![never_reached(dash, &id)]
            }
        };
        if dash.hydrated.get() {
            first_seen.update_value(|seen| {
                seen.retain(|k, _| alarms.iter().any(|a| &a.key == k));
                // A PDU that never answered has no start the page could know.
                for a in alarms.iter_mut().filter(|a| a.severity != Severity::Ok && a.key != "never-reached") {
                    a.since_ms = a.since_ms.or_else(|| Some(*seen.entry(a.key.clone()).or_insert(now)));
                }
            });
        }
        alarms
    });
    let label = move || {
        let id = key.get_value();
        dash.snapshots
            .with(|all| all.iter().find(|s| s.device_id == id).map(|s| s.label.clone()))
            .or_else(|| dash.info(&id).map(|p| p.label))
            .unwrap_or_else(|| id.to_string())
    };
    let several = move || dash.pdus.with(|p| p.len() > 1);
    move || {
        let shown = if several() { label() } else { String::new() };
        view! { <StatusLine label=shown alarms=alarms.get() testid=format!("status-{}", key.get_value())/> }
    }
}

/// The worst condition large, the others beside it.
#[component]
fn StatusLine(label: String, alarms: Vec<Alarm>, testid: String) -> impl IntoView {
    let Some(worst) = alarms.first().cloned() else { return ().into_any() };
    let others = alarms[1..].to_vec();
    // A transfer is a moment; the rest are conditions that last.
    let since = |a: &Alarm| {
        let word = if a.key == "transfer" { " at " } else { " since " };
        a.since_ms.map(|ms| view! { <span class="since">{word} <When ms/></span> })
    };
    let prefix = if label.is_empty() { String::new() } else { format!("{label}: ") };
    view! {
        <div class=format!("pdu-status sev-{}", worst.severity.class()) data-testid=testid data-severity=worst.severity.class()>
            <p class="status-head">
                <span class="sev-symbol" aria-hidden="true">{worst.severity.symbol()}</span>
                <span class="visually-hidden">{worst.severity.word()} ": "</span>
                <strong data-testid="status-title">{prefix}{worst.title.clone()}</strong>
                {since(&worst)}
            </p>
            <p class="status-detail" data-testid="status-detail">{worst.detail.clone()}</p>
            {(!others.is_empty()).then(|| view! {
                <ul class="status-more" aria-label="Also">
                    {others.iter().map(|a| view! {
                        <li class=format!("chip sev-{}", a.severity.class()) data-testid=format!("alarm-{}", a.key) title=a.detail.clone()>
                            <span aria-hidden="true">{a.severity.symbol()} " "</span>
                            <span class="visually-hidden">{a.severity.word()} ": "</span>
                            {a.title.clone()}
                            {since(a)}
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
    .into_any()
}

/// A PDU without a single reading: where the bridge looks for it, the last
/// error, and what to check.
#[component]
fn NeverReached() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let info = move || dash.current_id.get().and_then(|id| dash.info(&id));
    let address = move || info().and_then(|p| p.address).unwrap_or_else(|| "the simulated PDU".into());
    let port = move || info().and_then(|p| p.address).and_then(|a| a.rsplit_once(':').map(|(_, p)| p.to_owned()));
    let error =
        move || info().and_then(|p| p.last_error).unwrap_or_else(|| "none yet: the first poll is under way".into());
    let wrong_pdu = move || info().and_then(|p| p.last_error).is_some_and(|e| e.starts_with(WRONG_PDU));
    view! {
        <section class="card never" aria-labelledby="never-title" data-testid="never-reached">
            <h2 id="never-title">"No reading from the PDU yet"</h2>
            <dl class="readings never-facts">
                <dt>"Polled at"</dt>
                <dd data-testid="never-address">{address}</dd>
                <dt>"Last error"</dt>
                <dd data-testid="never-error">{error}</dd>
            </dl>
            <p>"What to check:"</p>
            <ul class="checklist">
                {move || wrong_pdu().then(|| view! {
                    <li data-testid="never-wrong-pdu">"Something answers, but with another serial than this PDU's: the address now belongs to another unit. Correct the address, or accept the unit as this PDU (Manage PDUs on the " <a href="/fleet">"fleet page"</a> ")."</li>
                })}
                <li>"The address names the PDU's network card (" {move || port().map(|p| format!("UDP port {p}")).unwrap_or_default()} "): PDU_HOST and PDU_SNMP_PORT, or its settings on the " <a href="/fleet">"fleet page"</a> "."</li>
                <li>"SNMP v2c is enabled on the PDU and PDU_COMMUNITY_READ matches its read community."</li>
                <li>"No firewall between the bridge and the PDU drops SNMP (UDP)."</li>
                <li>"The PDU is powered and its network card answers a ping. " <code>"pdu-bridge check"</code> " tries all of this in one go."</li>
            </ul>
            <p class="muted">"Rules and events stay available below; readings and outlets appear with the first answer."</p>
        </section>
    }
}

/// How old the values in a card are, when they are not live.
#[component]
pub fn FreshnessNote() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let read_ms = move || dash.read(|s| s.ts_ms).unwrap_or_default();
    move || {
        let read = read_ms();
        match dash.trust() {
            Trust::Live => ().into_any(),
            Trust::NoLink { .. } => view! {
                <p class="freshness frozen-note" data-testid="freshness">
                    "Frozen: last values received, read at " <When ms=read/> ". No link to the bridge."
                </p>
            }
            .into_any(),
            Trust::Unreachable { .. } => view! {
                <p class="freshness frozen-note" data-testid="freshness">
                    "Last known at " <When ms=read/> ". The PDU is unreachable."
                </p>
            }
            .into_any(),
            Trust::Stale { .. } | Trust::Lagging { .. } => view! {
                <p class="freshness" data-testid="freshness">"Read at " <When ms=read/> "; newer readings are late."</p>
            }
            .into_any(),
        }
    }
}

/// Demo mode and the MQTT link, in words.
#[component]
fn Banners() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let simulated = move || dash.read(|s| s.simulated).unwrap_or(false);
    view! {
        <Show when=simulated>
            <p class="banner info" data-testid="demo-banner">
                <strong>"Demo mode: "</strong>
                "these readings come from a simulated PDU44001, not hardware. Set PDU_HOST, or add a PDU on the fleet page, to poll a real one."
            </p>
        </Show>
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
