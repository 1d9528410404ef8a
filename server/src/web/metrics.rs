//! `GET /metrics`: every PDU's readings and the bridge's own health in the
//! Prometheus text exposition format (version 0.0.4), for scrapers that send
//! a viewer's API token.
//!
//! Owns: the metric families (names, units, HELP, TYPE, labels) and the
//! per-series offsets that keep exposed counters monotonic. Does not own
//! any reading or count: a scrape renders the latest snapshots and the
//! subsystems' own counters as they are at that moment ([`gather`]), never
//! the history store, so it costs a few string writes per value.
//!
//! The one thing to know: an exposed counter never goes down. When the
//! value behind it does — a PDU's energy counter back at 0 after a reboot,
//! a PDU edited at run time whose new poller and SNMP client count from 0 —
//! the last value seen is added to that series' offset and the series goes
//! on from there. Labels that can change (outlet and PDU names, firmware)
//! live only in the `_info` families, so a rename never breaks a series.
//! An unreachable PDU shows only that (`pdu_up`, `pdu_connection_state`,
//! `pdu_data_age_seconds`), never its last readings as if they were fresh.

use super::{AppState, Services};
use crate::history::store::WriteHealth;
use crate::mqtt::MessageCounts;
use crate::queue::QueueHealth;
use crate::stats::HistogramFigures;
use app::model::{Connection, DeviceId, LoadState, MqttState, MqttStatus, PduSnapshot, RangeStatus, Source};
use app::rules::RuleStatus;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// The text format's media type (what Prometheus falls back to when it
/// asks for OpenMetrics first).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` route: its own offsets, kept as long as the router.
pub fn route() -> MethodRouter<AppState> {
    let offsets = Arc::new(Offsets::default());
    get(move |State(state): State<AppState>| {
        let offsets = offsets.clone();
        async move { serve(&state.services, &offsets) }
    })
}

fn serve(services: &Services, offsets: &Offsets) -> Response {
    let body = render(&gather(services), offsets);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// Everything one scrape shows, read from the running bridge first so that
/// rendering is a plain function of it.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub now_ms: u64,
    pub pdus: Vec<PduFacts>,
    pub mqtt: MqttStatus,
    pub messages: MessageCounts,
    /// The durable queues (history, rules, events).
    pub queues: Vec<QueueHealth>,
    /// `None` when history is off.
    pub history: Option<WriteHealth>,
    /// Each PDU's rules with their run counts.
    pub rules: Vec<(DeviceId, Vec<RuleStatus>)>,
    /// Active alarms by severity.
    pub alarms: Vec<(app::alarms::Severity, usize)>,
    /// What the notifier delivered, per configured channel.
    pub notifications: crate::notifications::DeliveryStats,
}

/// One PDU as a scrape sees it.
#[derive(Clone, Debug)]
pub struct PduFacts {
    pub id: DeviceId,
    pub snapshot: Option<Arc<PduSnapshot>>,
    /// Which run-time `Device` the bridge's own counters below belong to: a
    /// new one (the PDU was edited) counts from zero again.
    pub generation: usize,
    pub polls: HistogramFigures,
    pub polls_failed: u64,
    /// `None` for a simulated PDU (no SNMP).
    pub snmp: Option<SnmpFigures>,
}

/// One PDU's SNMP client's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnmpFigures {
    pub requests: u64,
    pub answers: u64,
    pub resends: u64,
    pub timeouts: u64,
    pub varbinds: usize,
}

/// What the running bridge says now.
pub fn gather(services: &Services) -> Scrape {
    let bridge = &services.bridge;
    let pdus = bridge
        .devices()
        .iter()
        .map(|device| PduFacts {
            id: device.id().clone(),
            snapshot: device.latest(),
            generation: Arc::as_ptr(device) as usize,
            polls: device.polls.duration.figures(),
            polls_failed: device.polls.failed(),
            snmp: match &device.source {
                crate::device::PduSource::Snmp(snmp) => {
                    let c = snmp.client();
                    Some(SnmpFigures {
                        requests: c.requests(),
                        answers: c.answers(),
                        resends: c.resends(),
                        timeouts: c.timeouts(),
                        varbinds: c.max_varbinds(),
                    })
                }
                crate::device::PduSource::Simulated(_) => None,
            },
        })
        .collect();
    let mut queues = bridge.bus().health();
    queues.push(bridge.events().health());
    Scrape {
        now_ms: crate::clock::unix_ms(),
        pdus,
        mqtt: services.mqtt.borrow().clone(),
        messages: crate::mqtt::message_counts(),
        queues,
        history: services.history.as_ref().map(|store| store.write_health()),
        rules: services.automation.engines().iter().map(|e| (e.device().id().clone(), e.list())).collect(),
        alarms: {
            let active = bridge.alarms().list().active;
            [app::alarms::Severity::Info, app::alarms::Severity::Warning, app::alarms::Severity::Critical]
                .into_iter()
                .map(|level| (level, active.iter().filter(|a| a.severity == level).count()))
                .collect()
        },
        notifications: bridge.alarms().notifier().map(|n| n.stats()).unwrap_or_default(),
    }
}

/// Per exposed counter series: the last value seen behind it and what has
/// been added to it since it first went down. Every series seen is kept
/// (a removed PDU's too, so it goes on where it left off if it comes back):
/// about a hundred bytes a series, a few thousand series for a big fleet.
#[derive(Default)]
pub struct Offsets(Mutex<HashMap<String, Track>>);

struct Track {
    last: f64,
    offset: f64,
    generation: usize,
}

/// The text being written and the offsets it consults.
struct Out<'a> {
    text: String,
    tracks: &'a mut HashMap<String, Track>,
}

/// A label set: (name, value) pairs in order.
type Labels<'a> = [(&'a str, &'a str)];

impl Out<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &Labels, value: f64) {
        self.text.push_str(name);
        write_labels(&mut self.text, labels);
        self.text.push(' ');
        write_value(&mut self.text, value);
        self.text.push('\n');
    }

    /// A counter sample that never goes down: `raw` is what the source says
    /// now; `generation` names the source (a new one counts from zero).
    fn counter(&mut self, name: &str, labels: &Labels, raw: f64, generation: usize) {
        let mut key = name.to_owned();
        write_labels(&mut key, labels);
        let track = self.tracks.entry(key).or_insert(Track { last: raw, offset: 0.0, generation });
        if raw < track.last || generation != track.generation {
            track.offset += track.last;
        }
        track.last = raw;
        track.generation = generation;
        let value = track.offset + raw;
        self.sample(name, labels, value);
    }
}

fn write_labels(text: &mut String, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    text.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(name);
        text.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '"' => text.push_str("\\\""),
                '\n' => text.push_str("\\n"),
                c => text.push(c),
            }
        }
        text.push('"');
    }
    text.push('}');
}

fn write_value(text: &mut String, v: f64) {
    if v.is_nan() {
        text.push_str("NaN");
    } else if v.is_infinite() {
        text.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(text, "{v}");
    }
}

fn bit(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// A PDU whose readings are shown: it has a snapshot and is not unreachable.
struct Shown<'a> {
    id: &'a str,
    serial: &'a str,
    s: &'a PduSnapshot,
}

impl Shown<'_> {
    fn labels(&self) -> [(&str, &str); 2] {
        [("device_id", self.id), ("serial", self.serial)]
    }
}

const LOAD_STATES: [(LoadState, &str); 4] = [
    (LoadState::Normal, "normal"),
    (LoadState::Low, "low"),
    (LoadState::NearOverload, "near_overload"),
    (LoadState::Overload, "overload"),
];
const RANGE_STATES: [(RangeStatus, &str); 3] =
    [(RangeStatus::Normal, "normal"), (RangeStatus::Over, "over"), (RangeStatus::Under, "under")];

/// Render `scrape` in the text format, counters kept monotonic by `offsets`.
pub fn render(scrape: &Scrape, offsets: &Offsets) -> String {
    let mut tracks = offsets.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Out { text: String::with_capacity(4096 + 6000 * scrape.pdus.len()), tracks: &mut tracks };
    pdu_families(&mut out, scrape);
    bridge_families(&mut out, scrape);
    out.text
}

fn pdu_families(out: &mut Out, scrape: &Scrape) {
    let serial = |s: &PduSnapshot| s.identity.serial.clone().unwrap_or_default();
    let serials: Vec<String> =
        scrape.pdus.iter().map(|p| p.snapshot.as_deref().map(serial).unwrap_or_default()).collect();
    let shown: Vec<Shown> = scrape
        .pdus
        .iter()
        .zip(&serials)
        .filter_map(|(p, serial)| {
            let s = p.snapshot.as_deref()?;
            (!matches!(s.connection, Connection::Unreachable { .. })).then_some(Shown { id: p.id.as_str(), serial, s })
        })
        .collect();

    out.head(
        "pdu_info",
        "gauge",
        "The PDU's identity (always 1): its name as the dashboard shows it, model, firmware, location.",
    );
    for (p, serial) in scrape.pdus.iter().zip(&serials) {
        let Some(s) = p.snapshot.as_deref() else { continue };
        let id = &s.identity;
        let labels = [
            ("device_id", p.id.as_str()),
            ("serial", serial.as_str()),
            ("label", s.label.as_str()),
            ("model", id.model.as_deref().unwrap_or("")),
            ("firmware", id.firmware.as_deref().unwrap_or("")),
            ("location", id.location.as_deref().unwrap_or("")),
            ("simulated", if s.simulated { "true" } else { "false" }),
        ];
        out.sample("pdu_info", &labels, 1.0);
    }
    out.head("pdu_up", "gauge", "1 when the PDU's last poll was answered, else 0 (stale, unreachable or no data yet).");
    for (p, serial) in scrape.pdus.iter().zip(&serials) {
        let online = p.snapshot.as_deref().is_some_and(|s| s.connection.is_online());
        out.sample("pdu_up", &[("device_id", p.id.as_str()), ("serial", serial.as_str())], bit(online));
    }
    out.head(
        "pdu_connection_state",
        "gauge",
        "The PDU's connection: 1 for the state it is in (online, stale, unreachable, no_data), 0 for the others.",
    );
    for (p, serial) in scrape.pdus.iter().zip(&serials) {
        let now = match p.snapshot.as_deref().map(|s| &s.connection) {
            None => "no_data",
            Some(Connection::Online) => "online",
            Some(Connection::Stale { .. }) => "stale",
            Some(Connection::Unreachable { .. }) => "unreachable",
        };
        for state in ["online", "stale", "unreachable", "no_data"] {
            let labels = [("device_id", p.id.as_str()), ("serial", serial.as_str()), ("state", state)];
            out.sample("pdu_connection_state", &labels, bit(state == now));
        }
    }
    out.head("pdu_data_age_seconds", "gauge", "Seconds since the PDU's values shown were read.");
    for (p, serial) in scrape.pdus.iter().zip(&serials) {
        let Some(s) = p.snapshot.as_deref() else { continue };
        let labels = [("device_id", p.id.as_str()), ("serial", serial.as_str())];
        out.sample("pdu_data_age_seconds", &labels, s.age_s(scrape.now_ms));
    }

    let gauge = |out: &mut Out, name: &str, help: &str, f: &dyn Fn(&PduSnapshot) -> Option<f64>| {
        out.head(name, "gauge", help);
        for p in &shown {
            if let Some(v) = f(p.s) {
                out.sample(name, &p.labels(), v);
            }
        }
    };
    gauge(out, "pdu_uptime_seconds", "Seconds since the PDU started (its sysUpTime).", &|s| {
        s.uptime_s.map(|u| u as f64)
    });
    gauge(out, "pdu_input_volts", "Voltage of the input feeding the load (the selected source).", &|s| s.input.voltage);
    gauge(out, "pdu_input_hertz", "Frequency of the input feeding the load.", &|s| s.input.frequency);
    gauge(out, "pdu_amperes", "Current drawn through the whole PDU.", &|s| s.totals.current);
    gauge(out, "pdu_watts", "Active power through the whole PDU.", &|s| s.totals.power);
    gauge(out, "pdu_volt_amperes", "Apparent power through the whole PDU.", &|s| s.totals.apparent_power);
    gauge(
        out,
        "pdu_ats_redundant",
        "1 while both sources can feed the load (ATS redundancy), 0 when it is lost.",
        &|s| s.ats.as_ref().and_then(|a| a.redundancy).map(|r| bit(r == app::model::Redundancy::Ok)),
    );
    // The sensors a PDU has (none for a PDU without a probe).
    gauge(out, "pdu_temperature_celsius", "The environment probe's temperature.", &|s| {
        s.sensors.environment.as_ref().and_then(|e| e.temperature_c)
    });
    gauge(out, "pdu_humidity_percent", "The environment probe's relative humidity.", &|s| {
        s.sensors.environment.as_ref().and_then(|e| e.humidity)
    });
    out.head("pdu_contact_open", "gauge", "1 while the probe's dry contact is open, 0 while closed.");
    for p in &shown {
        for c in p.s.sensors.environment.iter().flat_map(|e| &e.contacts) {
            let Some(open) = c.open else { continue };
            let [d, sn] = p.labels();
            let n = c.number.to_string();
            out.sample("pdu_contact_open", &[d, sn, ("contact", n.as_str())], bit(open));
        }
    }
    out.head(
        "pdu_power_supply_ok",
        "gauge",
        "1 while the PDU's power supply works, 0 when failed (absent: not present).",
    );
    for p in &shown {
        for supply in &p.s.sensors.power_supplies {
            if supply.state == app::model::PsuState::NotPresent {
                continue;
            }
            let [d, sn] = p.labels();
            let n = supply.number.to_string();
            let ok = bit(supply.state == app::model::PsuState::Ok);
            out.sample("pdu_power_supply_ok", &[d, sn, ("power_supply", n.as_str())], ok);
        }
    }
    out.head(
        "pdu_energy_kilowatt_hours_total",
        "counter",
        "Energy through the whole PDU, from its own counter (kept from going down across a counter reset).",
    );
    for p in &shown {
        if let Some(kwh) = p.s.totals.energy_kwh {
            out.counter("pdu_energy_kilowatt_hours_total", &p.labels(), kwh, 0);
        }
    }

    // The ATS: each source, which one is selected and which preferred.
    let source_gauge =
        |out: &mut Out, name: &str, help: &str, f: &dyn Fn(&app::model::SourceReading) -> Option<f64>| {
            out.head(name, "gauge", help);
            for p in &shown {
                for reading in p.s.ats.iter().flat_map(|a| &a.sources) {
                    if let Some(v) = f(reading) {
                        let [d, sn] = p.labels();
                        out.sample(name, &[d, sn, ("source", reading.source.letter())], v);
                    }
                }
            }
        };
    source_gauge(out, "pdu_source_volts", "Voltage of each ATS input (source A and B).", &|r| r.voltage);
    source_gauge(out, "pdu_source_hertz", "Frequency of each ATS input.", &|r| r.frequency);
    type RangePick = fn(&app::model::SourceReading) -> Option<RangeStatus>;
    let ranges: [(&str, &str, RangePick); 2] = [
        (
            "pdu_source_voltage_status",
            "Each ATS input's voltage against its limits: 1 for the status it has (normal, over, under), 0 for the others.",
            |r| r.voltage_status,
        ),
        (
            "pdu_source_frequency_status",
            "Each ATS input's frequency against its limits: 1 for the status it has (normal, over, under), 0 for the others.",
            |r| r.frequency_status,
        ),
    ];
    for (name, help, pick) in ranges {
        out.head(name, "gauge", help);
        for p in &shown {
            for reading in p.s.ats.iter().flat_map(|a| &a.sources) {
                let Some(now) = pick(reading) else { continue };
                for (status, word) in RANGE_STATES {
                    let [d, sn] = p.labels();
                    out.sample(
                        name,
                        &[d, sn, ("source", reading.source.letter()), ("status", word)],
                        bit(status == now),
                    );
                }
            }
        }
    }
    type SourcePick = fn(&app::model::Ats) -> Option<Source>;
    let choices: [(&str, &str, SourcePick); 2] = [
        (
            "pdu_ats_selected_source",
            "1 for the ATS input feeding the load now, 0 for the other (both 0 when neither can); changes() counts transfers.",
            |a| a.selected,
        ),
        ("pdu_ats_preferred_source", "1 for the ATS input set as preferred, 0 for the other.", |a| a.preferred),
    ];
    for (name, help, pick) in choices {
        out.head(name, "gauge", help);
        for p in &shown {
            let Some(ats) = &p.s.ats else { continue };
            let now = pick(ats);
            for source in Source::BOTH {
                let [d, sn] = p.labels();
                out.sample(name, &[d, sn, ("source", source.letter())], bit(now == Some(source)));
            }
        }
    }

    // Banks.
    let bank_gauge = |out: &mut Out, name: &str, help: &str, f: &dyn Fn(&app::model::Bank) -> Option<f64>| {
        out.head(name, "gauge", help);
        for p in &shown {
            for bank in &p.s.banks {
                if let Some(v) = f(bank) {
                    let n = bank.number.to_string();
                    let [d, sn] = p.labels();
                    out.sample(name, &[d, sn, ("bank", &n)], v);
                }
            }
        }
    };
    bank_gauge(out, "pdu_bank_volts", "Voltage of each bank.", &|b| b.voltage);
    bank_gauge(out, "pdu_bank_amperes", "Current drawn through each bank.", &|b| b.current);
    bank_gauge(out, "pdu_bank_watts", "Active power through each bank.", &|b| b.power);
    bank_gauge(out, "pdu_bank_volt_amperes", "Apparent power through each bank.", &|b| b.apparent_power);
    bank_gauge(out, "pdu_bank_power_factor", "Power factor of each bank (0 to 1).", &|b| b.power_factor);
    bank_gauge(out, "pdu_bank_max_amperes", "Each bank's breaker limit.", &|b| b.max_load_amps);
    out.head(
        "pdu_bank_load_state",
        "gauge",
        "Each bank's load against its limit: 1 for the state it is in (normal, low, near_overload, overload), 0 for the others.",
    );
    for p in &shown {
        for bank in &p.s.banks {
            let Some(now) = bank.load_state else { continue };
            let n = bank.number.to_string();
            for (state, word) in LOAD_STATES {
                let [d, sn] = p.labels();
                out.sample("pdu_bank_load_state", &[d, sn, ("bank", &n), ("state", word)], bit(state == now));
            }
        }
    }
    out.head(
        "pdu_bank_energy_kilowatt_hours_total",
        "counter",
        "Energy through each bank, from the PDU's counter (kept from going down across a counter reset).",
    );
    for p in &shown {
        for bank in &p.s.banks {
            if let Some(kwh) = bank.energy_kwh {
                let n = bank.number.to_string();
                let [d, sn] = p.labels();
                out.counter("pdu_bank_energy_kilowatt_hours_total", &[d, sn, ("bank", &n)], kwh, 0);
            }
        }
    }

    // Outlets: names only in the info family, so a rename breaks no series.
    out.head(
        "pdu_outlet_info",
        "gauge",
        "Each outlet's name and bank (always 1); join on device_id and outlet for names.",
    );
    for p in &shown {
        for o in &p.s.outlets {
            let (n, bank) = (o.number.to_string(), o.bank.map(|b| b.to_string()).unwrap_or_default());
            let [d, sn] = p.labels();
            out.sample("pdu_outlet_info", &[d, sn, ("outlet", &n), ("name", &o.name), ("bank", &bank)], 1.0);
        }
    }
    let outlet_gauge = |out: &mut Out, name: &str, help: &str, f: &dyn Fn(&app::model::Outlet) -> Option<f64>| {
        out.head(name, "gauge", help);
        for p in &shown {
            for o in &p.s.outlets {
                if let Some(v) = f(o) {
                    let n = o.number.to_string();
                    let [d, sn] = p.labels();
                    out.sample(name, &[d, sn, ("outlet", &n)], v);
                }
            }
        }
    };
    outlet_gauge(out, "pdu_outlet_on", "1 while the outlet's relay is on, 0 while it is off.", &|o| {
        Some(bit(o.state == app::model::OutletState::On))
    });
    outlet_gauge(
        out,
        "pdu_outlet_pending",
        "1 while a delayed command (or a reboot's second half) is under way on the outlet.",
        &|o| Some(bit(o.pending)),
    );
    outlet_gauge(
        out,
        "pdu_outlet_amperes",
        "Current drawn through each outlet (0 at or below the metering floor).",
        &|o| o.current,
    );
    outlet_gauge(
        out,
        "pdu_outlet_watts",
        "Active power through each outlet (0 at or below the metering floor).",
        &|o| o.power,
    );
    out.head(
        "pdu_outlet_energy_kilowatt_hours_total",
        "counter",
        "Energy through each outlet, from the PDU's counter (kept from going down across a counter reset).",
    );
    for p in &shown {
        for o in &p.s.outlets {
            if let Some(kwh) = o.energy_kwh {
                let n = o.number.to_string();
                let [d, sn] = p.labels();
                out.counter("pdu_outlet_energy_kilowatt_hours_total", &[d, sn, ("outlet", &n)], kwh, 0);
            }
        }
    }
}

fn bridge_families(out: &mut Out, scrape: &Scrape) {
    out.head("pdu_bridge_info", "gauge", "The bridge's version (always 1).");
    out.sample("pdu_bridge_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    out.head("pdu_bridge_pdus", "gauge", "PDUs the bridge watches.");
    out.sample("pdu_bridge_pdus", &[], scrape.pdus.len() as f64);

    let name = "pdu_bridge_poll_duration_seconds";
    out.head(name, "histogram", "How long each poll of a PDU took, answered or not.");
    for p in &scrape.pdus {
        let (id, generation) = (p.id.as_str(), p.generation);
        let mut bound = String::new();
        for (le, n) in &p.polls.cumulative {
            bound.clear();
            write_value(&mut bound, *le);
            out.counter(
                "pdu_bridge_poll_duration_seconds_bucket",
                &[("device_id", id), ("le", &bound)],
                *n as f64,
                generation,
            );
        }
        let count = p.polls.count as f64;
        out.counter("pdu_bridge_poll_duration_seconds_bucket", &[("device_id", id), ("le", "+Inf")], count, generation);
        out.counter("pdu_bridge_poll_duration_seconds_sum", &[("device_id", id)], p.polls.sum_seconds, generation);
        out.counter("pdu_bridge_poll_duration_seconds_count", &[("device_id", id)], count, generation);
    }
    out.head("pdu_bridge_polls_failed_total", "counter", "Polls of a PDU that ended without its readings.");
    for p in &scrape.pdus {
        out.counter(
            "pdu_bridge_polls_failed_total",
            &[("device_id", p.id.as_str())],
            p.polls_failed as f64,
            p.generation,
        );
    }
    type SnmpPick = fn(&SnmpFigures) -> u64;
    let snmp: [(&str, &str, SnmpPick); 4] = [
        ("pdu_bridge_snmp_requests_total", "SNMP requests sent to a PDU, every resend included.", |f| f.requests),
        ("pdu_bridge_snmp_answers_total", "SNMP answers received from a PDU.", |f| f.answers),
        ("pdu_bridge_snmp_retries_total", "SNMP requests sent again because the PDU had not answered yet.", |f| {
            f.resends
        }),
        ("pdu_bridge_snmp_timeouts_total", "SNMP requests given up without an answer.", |f| f.timeouts),
    ];
    for (name, help, pick) in snmp {
        out.head(name, "counter", help);
        for p in &scrape.pdus {
            if let Some(figures) = &p.snmp {
                out.counter(name, &[("device_id", p.id.as_str())], pick(figures) as f64, p.generation);
            }
        }
    }
    out.head(
        "pdu_bridge_snmp_varbinds_per_request",
        "gauge",
        "Objects per SNMP GET the bridge uses with a PDU now (smaller when the PDU showed a limit).",
    );
    for p in &scrape.pdus {
        if let Some(figures) = &p.snmp {
            out.sample(
                "pdu_bridge_snmp_varbinds_per_request",
                &[("device_id", p.id.as_str())],
                figures.varbinds as f64,
            );
        }
    }

    out.head(
        "pdu_bridge_mqtt_state",
        "gauge",
        "The MQTT link: 1 for the state it is in (off, connecting, connected, disconnected), 0 for the others.",
    );
    for (state, word) in [
        (MqttState::Off, "off"),
        (MqttState::Connecting, "connecting"),
        (MqttState::Connected, "connected"),
        (MqttState::Disconnected, "disconnected"),
    ] {
        out.sample("pdu_bridge_mqtt_state", &[("state", word)], bit(scrape.mqtt.state == state));
    }
    let m = &scrape.messages;
    for (name, help, value) in [
        ("pdu_bridge_mqtt_messages_published_total", "MQTT messages queued towards the broker.", m.published),
        (
            "pdu_bridge_mqtt_messages_dropped_total",
            "MQTT messages dropped because the queue towards the broker was full.",
            m.dropped,
        ),
        (
            "pdu_bridge_mqtt_commands_received_total",
            "Outlet commands received over MQTT for this bridge's PDUs.",
            m.commands,
        ),
    ] {
        out.head(name, "counter", help);
        out.counter(name, &[], value as f64, 0);
    }

    out.head("pdu_bridge_queue_items", "gauge", "Items waiting in a durable queue (history, rules of a PDU, events).");
    for q in &scrape.queues {
        out.sample("pdu_bridge_queue_items", &[("queue", &q.name)], q.queued as f64);
    }
    out.head("pdu_bridge_queue_capacity", "gauge", "Items a durable queue holds before it loses them.");
    for q in &scrape.queues {
        out.sample("pdu_bridge_queue_capacity", &[("queue", &q.name)], q.capacity as f64);
    }
    out.head("pdu_bridge_queue_lost_total", "counter", "Items a durable queue lost because its consumer fell behind.");
    for q in &scrape.queues {
        out.counter("pdu_bridge_queue_lost_total", &[("queue", &q.name)], q.lost as f64, 0);
    }

    let history = scrape.history.as_ref();
    out.head("pdu_bridge_history_up", "gauge", "1 while the history store is open, 0 when history is off.");
    out.sample("pdu_bridge_history_up", &[], bit(history.is_some()));
    out.head(
        "pdu_bridge_history_write_failing",
        "gauge",
        "1 while the history store refuses writes (samples wait in memory).",
    );
    out.sample("pdu_bridge_history_write_failing", &[], bit(history.is_some_and(|h| h.failing.is_some())));
    out.head("pdu_bridge_history_samples_written_total", "counter", "Samples the history writer has committed.");
    out.counter("pdu_bridge_history_samples_written_total", &[], history.map_or(0, |h| h.samples_written) as f64, 0);
    out.head(
        "pdu_bridge_history_lag_seconds",
        "gauge",
        "Seconds between now and the newest sample committed to history (batches commit every 10 samples or 10 s).",
    );
    if let Some(newest) = history.and_then(|h| h.newest_sample_s) {
        let lag = (scrape.now_ms as f64 / 1000.0 - newest as f64).max(0.0);
        out.sample("pdu_bridge_history_lag_seconds", &[], lag);
    }

    out.head("pdu_bridge_alarms_active", "gauge", "Active alarms (acknowledged or not), by severity.");
    for (severity, count) in &scrape.alarms {
        out.sample("pdu_bridge_alarms_active", &[("severity", severity.label())], *count as f64);
    }
    let channels = [("webhook", scrape.notifications.webhook), ("email", scrape.notifications.email)];
    for (name, help, pick) in [
        (
            "pdu_bridge_notifications_sent_total",
            "Alarm notifications a channel accepted.",
            (|c| c.sent) as fn(&crate::notifications::ChannelStats) -> u64,
        ),
        ("pdu_bridge_notifications_failed_total", "Alarm notifications given up after every retry.", |c| c.failed),
        (
            "pdu_bridge_notifications_dropped_total",
            "Alarm notifications dropped: the queue was full or the bridge was stopping.",
            |c| c.dropped,
        ),
    ] {
        out.head(name, "counter", help);
        for (channel, stats) in &channels {
            if let Some(stats) = stats {
                out.counter(name, &[("channel", channel)], pick(stats) as f64, 0);
            }
        }
    }

    out.head(
        "pdu_bridge_rule_runs_total",
        "counter",
        "Times a rule fired: switched outlets, or raised its alarm (notify).",
    );
    for (device, rules) in &scrape.rules {
        for rule in rules {
            let labels = [("device_id", device.as_str()), ("rule", rule.rule.name.as_str())];
            out.counter("pdu_bridge_rule_runs_total", &labels, rule.run_count as f64, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// One sample line: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// What a strict reader of the text format finds.
    #[derive(Default)]
    struct Parsed {
        help: HashMap<String, String>,
        kind: HashMap<String, String>,
        samples: Vec<Sample>,
    }

    impl Parsed {
        fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
            self.samples
                .iter()
                .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v)))
                .map(|(_, _, v)| *v)
        }
    }

    fn unescape_label(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String, String> {
        let mut value = String::new();
        loop {
            match chars.next().ok_or("a label value does not end")? {
                '"' => return Ok(value),
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape \\{other:?}")),
                },
                '\n' => return Err("a raw newline in a label value".into()),
                c => value.push(c),
            }
        }
    }

    /// Parse the text format strictly: every sample's family has HELP and
    /// TYPE before it, each family is declared once and its samples follow
    /// it, together.
    fn parse(text: &str) -> Result<Parsed, String> {
        let mut parsed = Parsed::default();
        let mut current: Option<String> = None;
        let mut closed: HashSet<String> = HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').ok_or(format!("HELP without text: {line}"))?;
                if parsed.help.insert(name.to_owned(), help.to_owned()).is_some() {
                    return Err(format!("{name}: HELP twice"));
                }
                if let Some(previous) = current.replace(name.to_owned()) {
                    closed.insert(previous);
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(format!("TYPE without a type: {line}"))?;
                if current.as_deref() != Some(name) {
                    return Err(format!("{name}: TYPE not right after its HELP"));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("{name}: unknown type {kind}"));
                }
                parsed.kind.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                return Err(format!("unexpected line {line:?}"));
            }
            let end = line.find(['{', ' ']).ok_or(format!("no value: {line}"))?;
            let name = &line[..end];
            let mut chars = line[end..].chars().peekable();
            let mut labels = Vec::new();
            if chars.peek() == Some(&'{') {
                chars.next();
                loop {
                    if chars.peek() == Some(&'}') {
                        chars.next();
                        break;
                    }
                    let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    if chars.next() != Some('"') {
                        return Err(format!("{name}: label {label} without a quoted value"));
                    }
                    labels.push((label, unescape_label(&mut chars)?));
                    match chars.next() {
                        Some(',') => {}
                        Some('}') => break,
                        other => return Err(format!("{name}: {other:?} after a label")),
                    }
                }
            }
            let rest: String = chars.collect();
            let value = match rest.trim() {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().map_err(|_| format!("{name}: value {v:?}"))?,
            };
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|f| parsed.kind.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or(name);
            if !parsed.kind.contains_key(family) || !parsed.help.contains_key(family) {
                return Err(format!("{name}: a sample without HELP and TYPE"));
            }
            if current.as_deref() != Some(family) || closed.contains(family) {
                return Err(format!("{name}: a sample away from its family's other samples"));
            }
            parsed.samples.push((name.to_owned(), labels, value));
        }
        Ok(parsed)
    }

    fn snapshot(id: &str) -> PduSnapshot {
        let now = tokio::time::Instant::now();
        let id = DeviceId::parse(id).unwrap();
        crate::pdu::sim::SimModel::new(3, now).snapshot(&id, now)
    }

    fn facts(s: PduSnapshot, generation: usize) -> PduFacts {
        PduFacts {
            id: s.device_id.clone(),
            snapshot: Some(Arc::new(s)),
            generation,
            polls: HistogramFigures::default(),
            polls_failed: 0,
            snmp: None,
        }
    }

    fn scrape(pdus: Vec<PduFacts>) -> Scrape {
        Scrape { now_ms: crate::clock::unix_ms(), pdus, history: Some(WriteHealth::default()), ..Default::default() }
    }

    /// A scrape with a bit of everything: an SNMP PDU, a simulated one with
    /// no data yet, queues, rules, history.
    fn full_scrape() -> Scrape {
        let stats = crate::stats::PollStats::default();
        stats.record(std::time::Duration::from_millis(30), true);
        stats.record(std::time::Duration::from_secs(3), false);
        let mut a = facts(snapshot("rack-a"), 1);
        a.polls = stats.duration.figures();
        a.polls_failed = stats.failed();
        a.snmp = Some(SnmpFigures { requests: 40, answers: 37, resends: 3, timeouts: 1, varbinds: 10 });
        let b = PduFacts { snapshot: None, ..facts(snapshot("rack-b"), 2) };
        let rule: app::rules::Rule = serde_json::from_value(serde_json::json!({
            "name": "night", "condition": "voltage_below", "input": 1, "threshold": 108,
            "outlet": [5, 9], "action": "off", "delay": 10, "restore_delay": 30
        }))
        .unwrap();
        let rules = vec![RuleStatus { rule, state: "armed".into(), pending_s: None, run_count: 2, last_run: None }];
        let queue = QueueHealth { name: "rules rack-a".into(), capacity: 10, queued: 1, lost: 0, last_loss_s: None };
        Scrape {
            rules: vec![(a.id.clone(), rules)],
            queues: vec![queue],
            history: Some(WriteHealth { failing: None, samples_written: 12, newest_sample_s: Some(1) }),
            ..scrape(vec![a, b])
        }
    }

    #[test]
    fn every_family_has_help_and_type_and_its_samples_together() {
        let text = render(&full_scrape(), &Offsets::default());
        let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(parsed.kind.len() >= 50, "{} families", parsed.kind.len());
        for (name, kind) in &parsed.kind {
            assert!(name.starts_with("pdu_"), "{name}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name} is a {kind}: only counters end in _total");
            assert!(!parsed.help[name].is_empty(), "{name} has no help");
        }
        // Readings and the bridge's own figures are there, with their labels.
        let a = [("device_id", "rack-a")];
        assert!(parsed.value("pdu_outlet_watts", &[("device_id", "rack-a"), ("outlet", "1")]).is_some());
        assert_eq!(parsed.value("pdu_up", &[("device_id", "rack-b")]), Some(0.0), "no data yet: down");
        assert_eq!(parsed.value("pdu_connection_state", &[("device_id", "rack-b"), ("state", "no_data")]), Some(1.0));
        assert_eq!(parsed.value("pdu_bridge_snmp_retries_total", &a), Some(3.0));
        assert_eq!(
            parsed.value("pdu_bridge_poll_duration_seconds_bucket", &[("device_id", "rack-a"), ("le", "0.05")]),
            Some(1.0)
        );
        assert_eq!(
            parsed.value("pdu_bridge_poll_duration_seconds_bucket", &[("device_id", "rack-a"), ("le", "+Inf")]),
            Some(2.0)
        );
        assert_eq!(parsed.value("pdu_bridge_polls_failed_total", &a), Some(1.0));
        assert_eq!(parsed.value("pdu_bridge_rule_runs_total", &[("rule", "night")]), Some(2.0));
        assert_eq!(parsed.value("pdu_bridge_queue_items", &[("queue", "rules rack-a")]), Some(1.0));
        let selected: f64 = ["A", "B"]
            .iter()
            .map(|s| parsed.value("pdu_ats_selected_source", &[("device_id", "rack-a"), ("source", s)]).unwrap())
            .sum();
        assert_eq!(selected, 1.0, "one source feeds the load");
    }

    #[test]
    fn counters_never_go_down_across_a_counter_reset_or_a_new_poller() {
        let offsets = Offsets::default();
        let with = |kwh: f64, requests: u64, generation: usize| {
            let mut s = snapshot("rack-a");
            s.outlets[0].energy_kwh = Some(kwh);
            s.totals.energy_kwh = Some(kwh * 2.0);
            let mut f = facts(s, generation);
            f.snmp = Some(SnmpFigures { requests, ..Default::default() });
            let text = render(&scrape(vec![f]), &offsets);
            let parsed = parse(&text).unwrap();
            let outlet = parsed.value("pdu_outlet_energy_kilowatt_hours_total", &[("outlet", "1")]).unwrap();
            let total = parsed.value("pdu_energy_kilowatt_hours_total", &[]).unwrap();
            (outlet, total, parsed.value("pdu_bridge_snmp_requests_total", &[]).unwrap())
        };
        // Values exact in binary, so the sums are exact too.
        assert_eq!(with(10.0, 500, 1), (10.0, 20.0, 500.0));
        assert_eq!(with(12.5, 520, 1), (12.5, 25.0, 520.0));
        // The PDU rebooted and its counters began again; it keeps counting.
        assert_eq!(with(0.25, 540, 1), (12.75, 25.5, 540.0));
        assert_eq!(with(0.5, 560, 1), (13.0, 26.0, 560.0));
        // The PDU was edited: a new poller and SNMP client count from zero;
        // the PDU's own energy counter did not reset.
        assert_eq!(with(0.75, 7, 2), (13.25, 26.5, 567.0));
        // Again, and a scrape that sees nothing new changes nothing.
        assert_eq!(with(0.75, 9, 3), (13.25, 26.5, 576.0));
        assert_eq!(with(0.75, 9, 3), (13.25, 26.5, 576.0));
    }

    #[test]
    fn label_values_with_quotes_backslashes_and_newlines_are_escaped() {
        let name = "Rack \"A\" \\ shelf\nsecond line";
        let mut s = snapshot("rack-a");
        s.outlets[2].name = name.to_owned();
        s.label = "PDU \\\"x\"".to_owned();
        let text = render(&scrape(vec![facts(s, 1)]), &Offsets::default());
        assert!(
            text.contains(r#"name="Rack \"A\" \\ shelf\nsecond line""#),
            "{}",
            text.lines().filter(|l| l.starts_with("pdu_outlet_info")).collect::<Vec<_>>().join("\n")
        );
        let parsed = parse(&text).unwrap();
        let back = parsed
            .samples
            .iter()
            .find(|(n, l, _)| n == "pdu_outlet_info" && l.iter().any(|(k, v)| k == "outlet" && v == "3"))
            .and_then(|(_, l, _)| l.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()));
        assert_eq!(back.as_deref(), Some(name), "read back as it was");
        let label = parsed.samples.iter().find(|(n, _, _)| n == "pdu_info").unwrap();
        assert!(label.1.contains(&("label".to_owned(), "PDU \\\"x\"".to_owned())));
    }

    #[test]
    fn an_unreachable_pdu_shows_that_and_none_of_its_old_readings() {
        let mut s = snapshot("rack-a");
        s.connection = Connection::Unreachable { since_ms: 1, reason: "no answer".into() };
        let parsed = parse(&render(&scrape(vec![facts(s, 1)]), &Offsets::default())).unwrap();
        assert_eq!(parsed.value("pdu_up", &[]), Some(0.0));
        assert_eq!(parsed.value("pdu_connection_state", &[("state", "unreachable")]), Some(1.0));
        assert!(parsed.value("pdu_data_age_seconds", &[]).is_some());
        for family in ["pdu_outlet_watts", "pdu_source_volts", "pdu_watts", "pdu_outlet_energy_kilowatt_hours_total"] {
            assert_eq!(parsed.value(family, &[]), None, "{family}");
            assert!(parsed.kind.contains_key(family), "{family} is declared all the same");
        }
    }
}
