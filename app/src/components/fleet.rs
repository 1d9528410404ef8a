//! The fleet page (`/fleet`): every PDU in one sortable table, the fleet's
//! totals, and the racks fed by an A/B pair of PDUs with whether one feed
//! could carry the rack alone.
//!
//! Owns: the fleet's rows, their order and the racks' verdicts (pure
//! functions, tested natively, so the server renders exactly what the
//! browser hydrates) and how they are drawn. Does not own the PDU list or
//! the readings: both are the page's state, fed by the live stream, so the
//! page follows every poll and every PDU added or removed without polling.
//! The sort order lives in the address (`?sort=power&dir=desc`): the
//! headers' buttons are forms, so sorting works before and without the WASM.

use super::{account, Header};
use crate::fleet::Feed;
use crate::format;
use crate::model::{Connection, DeviceId, Event, PduSnapshot, Source};
use crate::state::{Dashboard, LinkState, View};
use crate::status::{self, Alarm, Severity};
use crate::wire::PduInfo;
use leptos::prelude::*;
use std::cmp::Ordering;

/// How a PDU is doing, in one word; ordered worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    Unreachable,
    /// Configured, but no reading yet.
    NoData,
    Stale,
    /// Polling is switched off.
    Disabled,
    Online,
}

impl Reach {
    pub fn word(self) -> &'static str {
        match self {
            Reach::Online => "online",
            Reach::Stale => "stale",
            Reach::Unreachable => "unreachable",
            Reach::NoData => "no data",
            Reach::Disabled => "disabled",
        }
    }

    /// The indicator classes of the header (`ok`, `wait`, `bad`, `off`).
    pub fn class(self) -> &'static str {
        match self {
            Reach::Online => "ok",
            Reach::Stale => "wait",
            Reach::Unreachable | Reach::NoData => "bad",
            Reach::Disabled => "off",
        }
    }

    /// Beside the colour, so colour is never the only signal.
    pub fn symbol(self) -> &'static str {
        match self {
            Reach::Online => "✔",
            Reach::Stale => "▲",
            Reach::Unreachable | Reach::NoData => "✖",
            Reach::Disabled => "○",
        }
    }
}

/// One PDU as the fleet table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: DeviceId,
    pub label: String,
    pub reach: Reach,
    /// Why the last poll failed, when it did.
    pub reason: Option<String>,
    /// Whether the PDU has a transfer switch at all.
    pub has_ats: bool,
    /// The source feeding the load; `None` when neither can (or no ATS).
    pub source: Option<Source>,
    /// The input voltage the PDU sees (the active source's).
    pub voltage: Option<f64>,
    pub current: Option<f64>,
    /// The PDU's rated current (ePDUIdentDeviceRating).
    pub rating_amps: Option<f64>,
    pub power: Option<f64>,
    /// The PDU's own energy meter, since it was last reset.
    pub energy_kwh: Option<f64>,
    /// Warnings and alarms beyond the connection (which `reach` says).
    pub alarms: Vec<Alarm>,
    /// When the values were read, unix ms; `None` before the first reading.
    pub read_ms: Option<u64>,
}

impl Row {
    /// The whole PDU's current as a share of its rating, unclamped (an
    /// overloaded PDU reads over 100 %).
    pub fn load_pct(&self) -> Option<f64> {
        match (self.current, self.rating_amps) {
            (Some(a), Some(r)) if r > 0.0 => Some(a / r * 100.0),
            _ => None,
        }
    }

    pub fn has_data(&self) -> bool {
        self.read_ms.is_some()
    }

    /// Criticals weigh more than any number of warnings.
    fn alarm_weight(&self) -> f64 {
        self.alarms.iter().map(|a| if a.severity == Severity::Critical { 1000.0 } else { 1.0 }).sum()
    }

    pub fn source_text(&self) -> String {
        match (self.has_data(), self.has_ats, self.source) {
            (false, _, _) => "—".to_owned(),
            (true, false, _) => "no ATS".to_owned(),
            (true, true, Some(s)) => s.letter().to_owned(),
            (true, true, None) => "none".to_owned(),
        }
    }
}

/// Conditions the table lists as alarms: what needs a look, apart from the
/// connection, which the state column says.
fn fleet_alarms(s: &PduSnapshot, events: &[Event], now_ms: u64) -> Vec<Alarm> {
    status::alarms(s, events, now_ms)
        .into_iter()
        .filter(|a| matches!(a.severity, Severity::Critical | Severity::Warning))
        .filter(|a| a.key != "unreachable" && a.key != "stale")
        .collect()
}

fn row(info: Option<&PduInfo>, s: Option<&PduSnapshot>, events: &[Event], now_ms: u64) -> Option<Row> {
    let id = info.map(|p| p.device_id.clone()).or_else(|| s.map(|s| s.device_id.clone()))?;
    let label = info.map(|p| p.label.clone()).or_else(|| s.map(|s| s.label.clone())).unwrap_or_else(|| id.to_string());
    let (reach, reason) = match (info.is_some_and(|p| p.disabled), s.map(|s| &s.connection)) {
        (true, _) => (Reach::Disabled, None),
        (false, None) => (Reach::NoData, info.and_then(|p| p.last_error.clone())),
        (false, Some(Connection::Online)) => (Reach::Online, None),
        (false, Some(Connection::Stale { reason, .. })) => (Reach::Stale, Some(reason.clone())),
        (false, Some(Connection::Unreachable { reason, .. })) => (Reach::Unreachable, Some(reason.clone())),
    };
    let ats = s.and_then(|s| s.ats.as_ref());
    Some(Row {
        id,
        label,
        reach,
        reason,
        has_ats: ats.is_some(),
        source: ats.and_then(|a| a.selected),
        voltage: s.and_then(|s| s.input.voltage),
        current: s.and_then(|s| s.totals.current),
        rating_amps: s.and_then(|s| s.identity.rating_amps).map(f64::from),
        power: s.and_then(|s| s.totals.power),
        energy_kwh: s.and_then(|s| s.totals.energy_kwh),
        alarms: s.map(|s| fleet_alarms(s, events, now_ms)).unwrap_or_default(),
        read_ms: s.map(|s| s.ts_ms),
    })
}

/// Every configured PDU in the bridge's order, then any PDU that sends
/// readings but is not (or not yet) listed.
pub fn rows(pdus: &[PduInfo], snapshots: &[PduSnapshot], events: &[Event], now_ms: u64) -> Vec<Row> {
    let snapshot = |id: &DeviceId| snapshots.iter().find(|s| &s.device_id == id);
    let listed = pdus.iter().filter_map(|p| row(Some(p), snapshot(&p.device_id), events, now_ms));
    let unlisted = snapshots
        .iter()
        .filter(|s| pdus.iter().all(|p| p.device_id != s.device_id))
        .filter_map(|s| row(None, Some(s), events, now_ms));
    listed.chain(unlisted).collect()
}

/// A column of the fleet table, by which it can be sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Label,
    State,
    Source,
    Voltage,
    Load,
    Power,
    Alarms,
    Age,
}

impl Column {
    /// In the table's order: what tells whether a PDU needs a look comes
    /// first, so a phone shows it before the table scrolls sideways.
    pub const ALL: [Column; 8] = [
        Column::Label,
        Column::State,
        Column::Power,
        Column::Load,
        Column::Alarms,
        Column::Source,
        Column::Voltage,
        Column::Age,
    ];

    /// Its name in the address (`?sort=power`).
    pub fn key(self) -> &'static str {
        match self {
            Column::Label => "label",
            Column::State => "state",
            Column::Source => "source",
            Column::Voltage => "voltage",
            Column::Load => "load",
            Column::Power => "power",
            Column::Alarms => "alarms",
            Column::Age => "age",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Column::Label => "PDU",
            Column::State => "State",
            Column::Source => "Active source",
            Column::Voltage => "Input voltage",
            Column::Load => "Load of rating",
            Column::Power => "Power",
            Column::Alarms => "Alarms",
            Column::Age => "Last reading",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }

    /// Amounts sort largest first on the first press: the PDU that needs a
    /// look comes to the top.
    fn first_descending(self) -> bool {
        matches!(self, Column::Voltage | Column::Load | Column::Power | Column::Alarms | Column::Age)
    }
}

/// How the fleet table is sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort { column: Column::Label, descending: false }
    }
}

impl Sort {
    /// `sort=power&dir=desc`, in any order; anything else sorts by label.
    pub fn from_query(query: &str) -> Self {
        let value =
            |key: &str| query.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
        let Some(column) = value("sort").and_then(Column::parse) else { return Sort::default() };
        let descending = match value("dir") {
            Some("desc") => true,
            Some("asc") => false,
            _ => column.first_descending(),
        };
        Sort { column, descending }
    }

    pub fn dir(self) -> &'static str {
        if self.descending {
            "desc"
        } else {
            "asc"
        }
    }

    pub fn query(self) -> String {
        format!("sort={}&dir={}", self.column.key(), self.dir())
    }

    /// The order a press on `column`'s header asks for: the other way
    /// round when it is the sorted column already.
    pub fn pressed(self, column: Column) -> Sort {
        let descending = if self.column == column { !self.descending } else { column.first_descending() };
        Sort { column, descending }
    }
}

/// Present values first, in the asked direction; absent ones always last.
fn by<T: PartialOrd>(a: Option<T>, b: Option<T>, descending: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sort the rows; rows that tie stay in label order.
pub fn sort_rows(rows: &mut [Row], sort: Sort) {
    let d = sort.descending;
    rows.sort_by(|a, b| {
        let first = match sort.column {
            Column::Label => Ordering::Equal,
            Column::State => by(Some(a.reach), Some(b.reach), d),
            Column::Source => {
                let rank = |r: &Row| r.has_data().then(|| r.source_text());
                by(rank(a), rank(b), d)
            }
            Column::Voltage => by(a.voltage, b.voltage, d),
            Column::Load => by(a.load_pct(), b.load_pct(), d),
            Column::Power => by(a.power, b.power, d),
            Column::Alarms => by(Some(a.alarm_weight()), Some(b.alarm_weight()), d),
            // The oldest reading is the largest age: the smallest time.
            Column::Age => by(a.read_ms, b.read_ms, !d),
        };
        let label = a.label.to_lowercase().cmp(&b.label.to_lowercase()).then_with(|| a.id.cmp(&b.id));
        let label = if sort.column == Column::Label && d { label.reverse() } else { label };
        first.then(label)
    });
}

/// The fleet's sums, from the PDUs whose values are current (online or
/// stale): an unreachable PDU's last known values would count a load that
/// may be gone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetTotals {
    pub pdus: usize,
    pub online: usize,
    /// PDUs whose values are summed.
    pub counted: usize,
    pub power: Option<f64>,
    pub current: Option<f64>,
    pub energy_kwh: Option<f64>,
}

pub fn totals(rows: &[Row]) -> FleetTotals {
    let counted: Vec<&Row> = rows.iter().filter(|r| matches!(r.reach, Reach::Online | Reach::Stale)).collect();
    let sum = |f: fn(&Row) -> Option<f64>| {
        counted.iter().filter_map(|r| f(r)).fold(None, |acc: Option<f64>, v| Some(acc.unwrap_or(0.0) + v))
    };
    FleetTotals {
        pdus: rows.len(),
        online: rows.iter().filter(|r| r.reach == Reach::Online).count(),
        counted: counted.len(),
        power: sum(|r| r.power),
        current: sum(|r| r.current),
        energy_kwh: sum(|r| r.energy_kwh),
    }
}

/// A continuous load should stay under 80 % of a circuit's rating.
pub const CONTINUOUS_SHARE: f64 = 80.0;

/// Whether one feed's PDU could carry the whole rack alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Carry {
    /// Within 80 % of its rating.
    Yes { pct: f64 },
    /// Within its rating, above 80 %.
    Tight { pct: f64 },
    /// Over its rating.
    No { pct: f64 },
    /// What is missing to tell.
    Unknown(String),
}

impl Carry {
    pub fn severity(&self) -> Severity {
        match self {
            Carry::Yes { .. } => Severity::Ok,
            Carry::Tight { .. } | Carry::Unknown(_) => Severity::Warning,
            Carry::No { .. } => Severity::Critical,
        }
    }
}

/// One PDU of a rack.
#[derive(Clone, Debug, PartialEq)]
pub struct RackFeed {
    pub label: String,
    pub feed: Option<Feed>,
    pub current: Option<f64>,
    pub power: Option<f64>,
    pub rating_amps: Option<f64>,
    /// Whether it could carry the rack's combined current alone.
    pub carry: Carry,
}

/// A rack fed by the PDUs that name it (normally an A and a B feed).
#[derive(Clone, Debug, PartialEq)]
pub struct Rack {
    pub name: String,
    pub feeds: Vec<RackFeed>,
    /// The sum of its PDUs' currents; `None` while one has no current value.
    pub current: Option<f64>,
    /// The sum of the power its PDUs read (those that read one).
    pub power: Option<f64>,
    /// PDUs of the rack without a current value, by label.
    pub missing: Vec<String>,
}

/// The racks PDUs name, by name, each with its PDUs in feed order.
pub fn racks(pdus: &[PduInfo], rows: &[Row]) -> Vec<Rack> {
    let mut names: Vec<&str> = pdus.iter().filter_map(|p| p.rack.as_deref()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let mut members: Vec<(&PduInfo, Option<&Row>)> = pdus
                .iter()
                .filter(|p| p.rack.as_deref() == Some(name))
                .map(|p| (p, rows.iter().find(|r| r.id == p.device_id && r.has_data())))
                .collect();
            members.sort_by_key(|(p, _)| (p.feed.map(|f| f == Feed::B), p.label.clone()));
            // Values of an unreachable PDU are the last known: not counted.
            let current_of = |r: Option<&Row>| r.filter(|r| r.reach != Reach::Unreachable).and_then(|r| r.current);
            let missing: Vec<String> =
                members.iter().filter(|(_, r)| current_of(*r).is_none()).map(|(p, _)| p.label.clone()).collect();
            let current = missing.is_empty().then(|| members.iter().filter_map(|(_, r)| current_of(*r)).sum::<f64>());
            let powers: Vec<f64> = members.iter().filter_map(|(_, r)| r.and_then(|r| r.power)).collect();
            let power = (!powers.is_empty()).then(|| powers.iter().sum());
            let feeds = members
                .iter()
                .map(|(p, r)| {
                    let rating_amps = r.and_then(|r| r.rating_amps);
                    let carry = match (current, rating_amps) {
                        (None, _) => Carry::Unknown(format!("no current reading from {}", missing.join(", "))),
                        (_, None) => Carry::Unknown("the PDU did not report its rating".into()),
                        (Some(a), Some(rating)) => {
                            let pct = a / rating * 100.0;
                            if pct > 100.0 {
                                Carry::No { pct }
                            } else if pct > CONTINUOUS_SHARE {
                                Carry::Tight { pct }
                            } else {
                                Carry::Yes { pct }
                            }
                        }
                    };
                    RackFeed {
                        label: p.label.clone(),
                        feed: p.feed,
                        current: r.and_then(|r| r.current),
                        power: r.and_then(|r| r.power),
                        rating_amps,
                        carry,
                    }
                })
                .collect();
            Rack { name: name.to_owned(), feeds, current, power, missing }
        })
        .collect()
}

/// "Feed A: Rack 1 A could carry it alone: 52 % of its 12 A rating."
pub fn carry_words(feed: &RackFeed, combined: Option<f64>) -> String {
    let who = match feed.feed {
        Some(f) => format!("Feed {f:?} ({})", feed.label),
        None => feed.label.clone(),
    };
    let amps = format::reading(combined, 1, "A");
    let rating = format::reading(feed.rating_amps, 0, "A");
    match &feed.carry {
        Carry::Yes { pct } => format!("{who} could carry the rack alone: {amps} is {pct:.0} % of its {rating} rating."),
        Carry::Tight { pct } => format!(
            "{who} could carry the rack alone only just: {amps} is {pct:.0} % of its {rating} rating, above the {CONTINUOUS_SHARE:.0} % a continuous load should stay under."
        ),
        Carry::No { pct } => {
            format!("{who} could not carry the rack alone: {amps} is {pct:.0} % of its {rating} rating.")
        }
        Carry::Unknown(why) => format!("{who}: cannot tell whether it could carry the rack alone ({why})."),
    }
}

/// Keep the sort order in the address without a new history entry, so a
/// reload or a bookmark keeps it and the back button leaves the page.
fn remember_sort(sort: Sort) {
    #[cfg(feature = "hydrate")]
    if let Ok(history) = window().history() {
        let url = format!("{}?{}", View::FLEET_PATH, sort.query());
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = sort;
}

/// The fleet's connection in the header: how many PDUs are online.
#[component]
pub fn FleetIndicator() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let state = move || {
        if dash.link.get() == LinkState::Reconnecting {
            return ("off", "unknown (no link)".to_owned());
        }
        let rows = dash.pdus.with(|p| dash.snapshots.with(|s| rows(p, s, &[], 0)));
        let online = rows.iter().filter(|r| r.reach == Reach::Online).count();
        let worst = rows.iter().map(|r| r.reach).filter(|r| *r != Reach::Disabled).min().unwrap_or(Reach::Online);
        (worst.class(), format!("{online} of {} online", rows.len()))
    };
    view! {
        <li class=move || format!("indicator {}", state().0) data-testid="fleet-state">
            <span class="dot" aria-hidden="true"></span>
            "PDUs: "
            <strong>{move || state().1}</strong>
        </li>
    }
}

#[component]
pub fn FleetPage() -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let sort = RwSignal::new(Sort::from_query(&crate::current_query()));
    let rows = Memo::new(move |_| {
        let now = dash.now_ms.get();
        dash.pdus.with(|p| dash.snapshots.with(|s| dash.events.with(|e| rows(p, s, e, now))))
    });
    let no_link = move || dash.link.get() == LinkState::Reconnecting;
    let class = move || if no_link() { "page fleet-page frozen" } else { "page fleet-page" };
    view! {
        <a class="skip-link" href="#content">"Skip to the fleet"</a>
        <Header/>
        <main id="content" tabindex="-1" class=class>
            <account::SessionEnded/>
            <super::alarms::AlarmBanner/>
            <Show when=no_link>
                <p class="banner alert" role="status" data-testid="fleet-no-link">
                    "No link to the bridge: the values below are frozen until it is back; the page reconnects by itself."
                </p>
            </Show>
            <FleetTable rows sort/>
            <FleetTotalsCard rows/>
            <RackList rows/>
            <super::pdus::ManagePdus/>
        </main>
    }
}

#[component]
fn FleetTable(rows: Memo<Vec<Row>>, sort: RwSignal<Sort>) -> impl IntoView {
    let order = Memo::new(move |_| {
        let mut all = rows.get();
        sort_rows(&mut all, sort.get());
        all.into_iter().map(|r| r.id).collect::<Vec<_>>()
    });
    let caption = move || {
        sort.with(|s| {
            let way = if s.descending { "descending" } else { "ascending" };
            format!("Every PDU, sorted by {} ({way})", s.column.title().to_lowercase())
        })
    };
    view! {
        <section class="card fleet" id="fleet-pdus" aria-labelledby="fleet-title">
            <h2 id="fleet-title">"PDUs"</h2>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="muted" data-testid="fleet-empty">"The bridge watches no PDU yet."</p>
            </Show>
            <div class="table-wrap" role="region" aria-label="PDU table (scrolls sideways)" tabindex="0">
                <table class="fleet-table" data-testid="fleet-table">
                    <caption class="visually-hidden">{caption}</caption>
                    <thead>
                        <tr>
                            {Column::ALL.into_iter().map(|column| view! { <SortHeader column sort/> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || order.get() key=|id| id.clone() children=move |id| view! { <FleetRow id rows/> }/>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// A column's header: a button that sorts by it (a form, so it works
/// before and without the WASM), saying how the table is sorted.
#[component]
fn SortHeader(column: Column, sort: RwSignal<Sort>) -> impl IntoView {
    let aria =
        move || sort.with(|s| (s.column == column).then_some(if s.descending { "descending" } else { "ascending" }));
    let arrow = move || match aria() {
        Some("descending") => "▼",
        Some(_) => "▲",
        None => "↕",
    };
    let next = move || sort.get().pressed(column);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pressed = next();
        sort.set(pressed);
        remember_sort(pressed);
    };
    view! {
        <th scope="col" aria-sort=aria data-col=column.key()>
            <form class="sort" method="get" action=View::FLEET_PATH on:submit=on_submit>
                <button type="submit" name="sort" value=column.key() data-testid=format!("sort-{}", column.key())>
                    {column.title()}
                    <span class="sort-arrow" aria-hidden="true">{arrow}</span>
                </button>
                <input type="hidden" name="dir" value=move || next().dir()/>
            </form>
        </th>
    }
}

#[component]
fn FleetRow(id: DeviceId, rows: Memo<Vec<Row>>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let key = StoredValue::new(id.clone());
    let row = Memo::new(move |_| rows.with(|all| all.iter().find(|r| r.id == key.get_value()).cloned()));
    // One cell's text, updated in place: a row is never redrawn, so focus
    // on its link survives every poll.
    let text = move |f: fn(&Row) -> String| move || row.with(|r| r.as_ref().map(f).unwrap_or_default());
    let reach = move || row.with(|r| r.as_ref().map(|r| r.reach).unwrap_or(Reach::NoData));
    let reason = move || row.with(|r| r.as_ref().and_then(|r| r.reason.clone()));
    let load_of = move || {
        row.with(|r| {
            r.as_ref()
                .and_then(|r| r.rating_amps.filter(|_| r.load_pct().is_some()))
                .map(|a| format!(" of {}", format::reading(Some(a), 0, "A")))
        })
    };
    let age = move || {
        let now = dash.now_ms.get();
        row.with(|r| match r.as_ref().and_then(|r| r.read_ms) {
            Some(ms) => format!("{} ago", format::age(now.saturating_sub(ms) as f64 / 1000.0)),
            None => "never".to_owned(),
        })
    };
    let alarms = move || row.with(|r| r.as_ref().map(|r| r.alarms.clone()).unwrap_or_default());
    let label = text(|r| r.label.clone());
    view! {
        <tr data-testid=format!("fleet-row-{id}") class=move || format!("reach-{}", reach().class())>
            <th scope="row" data-col="label">
                <a href=View::pdu_path(&id) data-testid="fleet-link">{label}</a>
                " "
                <a class="fleet-settings" href=View::settings_path(&id) data-testid="fleet-settings-link">
                    "settings"
                    <span class="visually-hidden">" of " {label}</span>
                </a>
            </th>
            <td data-col="state" data-testid="fleet-state-cell">
                <span class=move || format!("reach {}", reach().class())>
                    <span aria-hidden="true">{move || reach().symbol()} " "</span>
                    {move || reach().word()}
                </span>
                {move || reason().map(|why| view! { <span class="reach-why">{why}</span> })}
            </td>
            <td data-col="power" class="num">{text(|r| format::reading(r.power, 0, "W"))}</td>
            <td data-col="load" class="num">
                {text(|r| format::reading(r.load_pct(), 0, "%"))}
                <span class="muted">{load_of}</span>
            </td>
            <td data-col="alarms">
                {move || {
                    let alarms = alarms();
                    // Without a reading the PDU's own alarms are not known.
                    let never = row.with(|r| r.as_ref().is_none_or(|r| r.read_ms.is_none()));
                    if alarms.is_empty() {
                        let word = if never { "unknown" } else { "none" };
                        return view! { <span class="muted">{word}</span> }.into_any();
                    }
                    view! {
                        <ul class="fleet-alarms">
                            {alarms
                                .into_iter()
                                .map(|a| view! {
                                    <li class=format!("chip sev-{}", a.severity.class()) data-testid=format!("fleet-alarm-{}", a.key)>
                                        <span aria-hidden="true">{a.severity.symbol()} " "</span>
                                        <span class="visually-hidden">{a.severity.word()} ": "</span>
                                        {a.title}
                                    </li>
                                })
                                .collect_view()}
                        </ul>
                    }
                    .into_any()
                }}
            </td>
            <td data-col="source">{text(Row::source_text)}</td>
            <td data-col="voltage" class="num">{text(|r| format::reading(r.voltage, 1, "V"))}</td>
            <td data-col="age" class="num">{age}</td>
        </tr>
    }
}

#[component]
fn FleetTotalsCard(rows: Memo<Vec<Row>>) -> impl IntoView {
    let sums = Memo::new(move |_| rows.with(|r| totals(r)));
    let text = move |f: fn(&FleetTotals) -> String| move || sums.with(f);
    view! {
        <section class="card" id="fleet-totals" aria-labelledby="fleet-totals-title" data-testid="fleet-totals">
            <h2 id="fleet-totals-title">"Fleet totals"</h2>
            <div class="kpis">
                <p class="kpi">
                    <span class="kpi-label">"Power"</span>
                    <strong data-testid="fleet-power">{text(|t| format::reading(t.power, 0, "W"))}</strong>
                </p>
                <p class="kpi">
                    <span class="kpi-label">"Current"</span>
                    <strong data-testid="fleet-current">{text(|t| format::reading(t.current, 1, "A"))}</strong>
                </p>
                <p class="kpi">
                    <span class="kpi-label">"Energy (the PDUs' meters)"</span>
                    <strong data-testid="fleet-energy">{text(|t| format::reading(t.energy_kwh, 1, "kWh"))}</strong>
                </p>
                <p class="kpi">
                    <span class="kpi-label">"PDUs online"</span>
                    <strong data-testid="fleet-online">{text(|t| format!("{} of {}", t.online, t.pdus))}</strong>
                </p>
            </div>
            <p class="muted small">
                {text(|t| {
                    format!(
                        "Sums of the {} PDU{} with current values; an unreachable PDU's last known values are not counted.",
                        t.counted,
                        if t.counted == 1 { "" } else { "s" }
                    )
                })}
            </p>
        </section>
    }
}

#[component]
fn RackList(rows: Memo<Vec<Row>>) -> impl IntoView {
    let dash = expect_context::<Dashboard>();
    let racks = Memo::new(move |_| dash.pdus.with(|p| rows.with(|r| racks(p, r))));
    view! {
        <section class="card racks" id="racks" aria-labelledby="racks-title" data-testid="racks">
            <h2 id="racks-title">"Racks"</h2>
            <Show when=move || racks.with(Vec::is_empty)>
                <p class="muted">
                    "No PDU names a rack. Give the A and B PDUs of a rack the same "
                    <code>"rack"</code>
                    " (and their "
                    <code>"feed"</code>
                    ") in pdus.json to see here whether one feed could carry the rack alone."
                </p>
            </Show>
            <div class="rack-list">
                {move || racks.get().into_iter().map(|rack| view! { <RackCard rack/> }).collect_view()}
            </div>
        </section>
    }
}

#[component]
fn RackCard(rack: Rack) -> impl IntoView {
    let combined = rack.current;
    let worst = rack.feeds.iter().map(|f| f.carry.severity()).min().unwrap_or(Severity::Ok);
    let single = (rack.feeds.len() < 2).then(|| {
        view! { <p class="muted small">"Only one PDU names this rack: there is no second feed to fall back on."</p> }
    });
    let load = match rack.current {
        Some(a) => format!("{}, {}", format::reading(Some(a), 1, "A"), format::reading(rack.power, 0, "W")),
        None => format!("unknown, no current reading from {}", rack.missing.join(", ")),
    };
    view! {
        <article class=format!("rack sev-{}", worst.class()) data-testid=format!("rack-{}", rack.name)>
            <h3>"Rack " {rack.name.clone()}</h3>
            <p class="rack-load" data-testid="rack-load">"Combined load: " <strong>{load}</strong></p>
            <ul class="rack-feeds">
                {rack
                    .feeds
                    .iter()
                    .map(|f| {
                        let sev = f.carry.severity();
                        view! {
                            <li class=format!("sev-{}", sev.class()) data-testid="rack-feed">
                                <span class="sev-symbol" aria-hidden="true">{sev.symbol()} " "</span>
                                {carry_words(f, combined)}
                                {f.current.map(|a| view! {
                                    <span class="muted">
                                        " It carries " {format::reading(Some(a), 1, "A")} " now, "
                                        {format::reading(f.power, 0, "W")} "."
                                    </span>
                                })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            {single}
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Ats, Identity, Input, Redundancy, Totals};

    fn info(id: &str, rack: Option<&str>, feed: Option<Feed>) -> PduInfo {
        PduInfo {
            device_id: DeviceId::parse(id).unwrap(),
            label: id.to_uppercase(),
            address: None,
            simulated: true,
            last_error: None,
            protected: vec![],
            rack: rack.map(str::to_owned),
            feed,
            disabled: false,
        }
    }

    fn snapshot(id: &str, amps: f64, watts: f64, connection: Connection) -> PduSnapshot {
        PduSnapshot {
            sensors: Default::default(),
            device_id: DeviceId::parse(id).unwrap(),
            label: id.into(),
            simulated: true,
            connection,
            ts_ms: 1_000,
            tick_ms: None,
            stale: vec![],
            poll_interval_ms: 1000,
            identity: Identity { rating_amps: Some(12), ..Identity::default() },
            uptime_s: None,
            input: Input { voltage: Some(120.0), frequency: Some(60.0) },
            ats: Some(Ats { selected: Some(Source::A), preferred: Some(Source::A), redundancy: None, sources: vec![] }),
            banks: vec![],
            outlets: vec![],
            totals: Totals { current: Some(amps), power: Some(watts), apparent_power: None, energy_kwh: Some(2.0) },
        }
    }

    fn fleet() -> (Vec<PduInfo>, Vec<PduSnapshot>) {
        let pdus = vec![
            info("rack1-a", Some("rack1"), Some(Feed::A)),
            info("rack1-b", Some("rack1"), Some(Feed::B)),
            info("lab", None, None),
            info("spare", None, None),
        ];
        let snapshots = vec![
            snapshot("rack1-b", 4.0, 450.0, Connection::Online),
            snapshot("rack1-a", 5.0, 580.0, Connection::Online),
            snapshot("lab", 1.0, 100.0, Connection::Unreachable { since_ms: 1, reason: "timeout".into() }),
        ];
        (pdus, snapshots)
    }

    fn ids(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn every_configured_pdu_has_a_row_with_its_state_in_words() {
        let (pdus, snapshots) = fleet();
        let rows = rows(&pdus, &snapshots, &[], 2_000);
        assert_eq!(ids(&rows), ["rack1-a", "rack1-b", "lab", "spare"]);
        let words: Vec<&str> = rows.iter().map(|r| r.reach.word()).collect();
        assert_eq!(words, ["online", "online", "unreachable", "no data"]);
        assert_eq!(rows[0].load_pct().map(f64::round), Some(42.0));
        assert_eq!(rows[0].source_text(), "A");
        assert_eq!(rows[3].source_text(), "—");
        assert_eq!(rows[2].reason.as_deref(), Some("timeout"));
    }

    #[test]
    fn the_table_sorts_by_any_column_with_absent_values_last() {
        let (pdus, snapshots) = fleet();
        let mut all = rows(&pdus, &snapshots, &[], 2_000);
        sort_rows(&mut all, Sort::from_query("sort=power&dir=desc"));
        assert_eq!(ids(&all), ["rack1-a", "rack1-b", "lab", "spare"]);
        sort_rows(&mut all, Sort::from_query("?dir=asc&sort=power"));
        assert_eq!(ids(&all), ["lab", "rack1-b", "rack1-a", "spare"]);
        sort_rows(&mut all, Sort::from_query("sort=state"));
        assert_eq!(ids(&all), ["lab", "spare", "rack1-a", "rack1-b"]);
        sort_rows(&mut all, Sort::from_query("sort=label&dir=desc"));
        assert_eq!(ids(&all), ["spare", "rack1-b", "rack1-a", "lab"]);
        sort_rows(&mut all, Sort::from_query("sort=nonsense"));
        assert_eq!(ids(&all), ["lab", "rack1-a", "rack1-b", "spare"]);
    }

    #[test]
    fn a_header_press_sorts_by_it_then_turns_the_order_round() {
        let sort = Sort::default().pressed(Column::Power);
        assert_eq!(sort.query(), "sort=power&dir=desc");
        assert_eq!(sort.pressed(Column::Power).query(), "sort=power&dir=asc");
        assert_eq!(sort.pressed(Column::Label).query(), "sort=label&dir=asc");
        assert_eq!(Sort::from_query("sort=load"), Sort { column: Column::Load, descending: true });
    }

    #[test]
    fn totals_leave_out_the_last_known_values_of_an_unreachable_pdu() {
        let (pdus, snapshots) = fleet();
        let t = totals(&rows(&pdus, &snapshots, &[], 2_000));
        assert_eq!((t.pdus, t.online, t.counted), (4, 2, 2));
        assert_eq!(t.power, Some(1030.0));
        assert_eq!(t.current, Some(9.0));
        assert_eq!(t.energy_kwh, Some(4.0));
    }

    #[test]
    fn a_rack_says_whether_each_feed_could_carry_it_alone() {
        let (pdus, mut snapshots) = fleet();
        let rack = |snapshots: &[PduSnapshot]| racks(&pdus, &rows(&pdus, snapshots, &[], 2_000)).remove(0);
        let r = rack(&snapshots);
        assert_eq!(r.name, "rack1");
        assert_eq!(r.current, Some(9.0));
        assert_eq!(r.feeds.iter().map(|f| f.feed).collect::<Vec<_>>(), [Some(Feed::A), Some(Feed::B)]);
        assert_eq!(r.feeds[0].carry, Carry::Yes { pct: 75.0 });
        assert!(carry_words(&r.feeds[0], r.current)
            .starts_with("Feed A (RACK1-A) could carry the rack alone: 9.0 A is 75 %"));

        snapshots[0].totals.current = Some(6.0);
        assert!(matches!(rack(&snapshots).feeds[1].carry, Carry::Tight { .. }));
        snapshots[0].totals.current = Some(8.0);
        assert!(matches!(rack(&snapshots).feeds[1].carry, Carry::No { .. }));

        snapshots[0].connection = Connection::Unreachable { since_ms: 1, reason: "timeout".into() };
        let r = rack(&snapshots);
        assert_eq!((r.current, r.missing.clone()), (None, vec!["RACK1-B".to_owned()]));
        assert!(matches!(&r.feeds[0].carry, Carry::Unknown(why) if why.contains("RACK1-B")));
    }

    #[test]
    fn alarms_beyond_the_connection_are_listed() {
        let (pdus, mut snapshots) = fleet();
        snapshots[1].ats.as_mut().unwrap().redundancy = Some(Redundancy::Lost);
        let rows = rows(&pdus, &snapshots, &[], 2_000);
        let keys: Vec<&str> = rows[0].alarms.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["redundancy"]);
        assert!(rows[2].alarms.is_empty(), "unreachable is the state, not an alarm");
    }
}
