//! What crosses the wire between the server and the page, apart from the
//! domain model: the live stream's path and event names, the values the
//! page is first rendered with, and a PDU's rules as pushed.
//!
//! Owns: names both sides must agree on. Plain data only: the server imports
//! it and so does the browser client (`crate::live`).

use crate::model::{DeviceId, Event, MqttStatus, OutletAction, PduSnapshot};
use serde::{Deserialize, Serialize};

/// The SSE path, shared with the server's router.
pub const STREAM_PATH: &str = "/api/stream";
/// The SSE event name carrying one `PduSnapshot` as JSON.
pub const SNAPSHOT_EVENT: &str = "snapshot";
/// The SSE event name carrying the `MqttStatus` as JSON, when it changes.
pub const MQTT_EVENT: &str = "mqtt";
/// The SSE event name carrying one PDU's rules (`RulesUpdate`) after each poll.
pub const RULES_EVENT: &str = "rules";
/// The SSE event name carrying one new `Event`.
pub const LOG_EVENT: &str = "event";
/// The SSE event name carrying every PDU (`Vec<PduInfo>`) after one is
/// added, changed or removed.
pub const PDUS_EVENT: &str = "pdus";
/// The SSE event name carrying every alarm (`AlarmList`), now and whenever
/// one is raised, acknowledged, changes or clears.
pub const ALARMS_EVENT: &str = "alarms";

/// A PDU's rules with their live state, as pushed to the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesUpdate {
    pub device_id: crate::model::DeviceId,
    pub rules: Vec<crate::rules::RuleStatus>,
    /// Why the PDU's rules file was refused, if it was: edits wait until
    /// it is fixed or replaced.
    #[serde(default)]
    pub file_error: Option<String>,
}

/// A PDU the bridge is set up to poll, whether or not it has ever answered:
/// what the dashboard needs to say which PDU is silent and what to check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PduInfo {
    pub device_id: DeviceId,
    /// The configured label, else the PDU's name once known, else the id.
    pub label: String,
    /// `host:port` polled over SNMP; `None` for the in-process simulated PDU.
    pub address: Option<String>,
    pub simulated: bool,
    /// Why the last poll failed, if it did; never credentials.
    pub last_error: Option<String>,
    /// Outlets that only an admin may switch off, and only by saying so.
    #[serde(default)]
    pub protected: Vec<u32>,
    /// A/B pairing: the rack this PDU feeds and which feed it is.
    #[serde(default)]
    pub rack: Option<String>,
    #[serde(default)]
    pub feed: Option<crate::fleet::Feed>,
    /// Polling is switched off for this PDU.
    #[serde(default)]
    pub disabled: bool,
}

/// Where the dashboard's forms post (they work before and without the WASM;
/// once hydrated, the page handles them itself).
pub const OUTLET_FORM_PATH: &str = "/forms/outlet";
pub const RULE_FORM_PATH: &str = "/forms/rule";
/// Acknowledges the alarm `id`, then goes back to `back` (a path on this site).
pub const ALARM_FORM_PATH: &str = "/forms/alarm";

/// An outlet command asked for by a form and waiting for its confirmation
/// (`/?confirm=outlet&device_id=…&o=3&action=off`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutletRequest {
    pub device_id: DeviceId,
    pub outlet: u32,
    pub action: OutletAction,
}

/// What a form post did, shown once on the page its answer redirects to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormOutcome {
    /// `outlet`, `rule` or `alarm`: which panel shows it.
    pub panel: String,
    pub ok: bool,
    pub text: String,
}

/// Events the dashboard shows at first, newest first.
pub const EVENTS_SHOWN: usize = 50;

/// What the server renders with and the browser hydrates from: both sides
/// must start from the same values for hydration to line up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InitialState {
    pub snapshots: Vec<PduSnapshot>,
    pub mqtt: MqttStatus,
    /// Every PDU's rules.
    pub rules: Vec<RulesUpdate>,
    /// Recent events, newest first.
    pub events: Vec<Event>,
    /// The server's clock at render time, unix milliseconds, so data ages
    /// render identically on both sides until the browser's clock takes over.
    pub now_ms: u64,
    /// The history range in the page's URL (`?range=7d`), so the server
    /// renders the same pressed button the browser hydrates.
    #[serde(default)]
    pub range: String,
    /// The outlet the outlet-power chart shows (`?outlet=4`); 0 = all.
    #[serde(default)]
    pub chart_outlet: u32,
    /// A custom chart range (`?start=…&end=…`, unix seconds) instead of a named one.
    #[serde(default)]
    pub custom: Option<(i64, i64)>,
    /// Every configured PDU, including those that have never answered.
    #[serde(default)]
    pub pdus: Vec<PduInfo>,
    /// An outlet command posted by a form, to confirm.
    #[serde(default)]
    pub confirm: Option<OutletRequest>,
    /// A rule whose deletion a form asked for, to confirm.
    #[serde(default)]
    pub confirm_rule: Option<String>,
    /// The rule editor the address opens (`?editor=new`, `?editor=edit&rule=…`,
    /// or a refused form's fields), so it opens without the WASM.
    #[serde(default)]
    pub rule_editor: Option<crate::rules::RuleDraft>,
    /// What the last form post did.
    #[serde(default)]
    pub outcome: Option<FormOutcome>,
    /// Who is signed in (the dashboard hides or disables what their role
    /// may not do; the server refuses it regardless).
    #[serde(default)]
    pub caller: Option<crate::access::Caller>,
    /// The settings of the PDU a settings page shows (`/pdu/{id}/settings`),
    /// as last read, so the page shows them before the WASM runs; `None`
    /// on every other page.
    #[serde(default)]
    pub settings: Option<Result<crate::settings::PduSettings, crate::model::ApiError>>,
    /// Active and recent alarms.
    #[serde(default)]
    pub alarms: crate::alarms::AlarmList,
}

/// The public id of the session a request came with, as the server's
/// sign-in check puts it on the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMark(pub String);
