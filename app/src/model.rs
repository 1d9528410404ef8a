//! The domain model shared by the server and the browser: one PDU's state as
//! the bridge presents it (after scaling and corrections), the outlet commands
//! and their answers, and the JSON error shape.
//!
//! Owns: the types and their validation (device ids, actions). Does not own:
//! how readings are obtained (server `pdu`) or drawn (`components`).
//! Every value is in SI units (V, A, W, VA, Hz, kWh; power factor 0–1), and a
//! reading the PDU does not provide is `None` — absent is never zero.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The id a PDU is known by in topics, URLs and the API (`PDU_DEVICE_ID`).
/// Validated once at the edge: `[a-z0-9_-]`, 1–64 characters, so it is always
/// safe in an MQTT topic (no `/ # +`) and in a URL path segment.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl DeviceId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(format!("device id {value:?} must be 1 to {} characters long", Self::MAX_LEN));
        }
        if let Some(bad) =
            value.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
        {
            return Err(format!("device id {value:?} contains {bad:?}; allowed are a-z, 0-9, '_' and '-'"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> Self {
        id.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One ATS input.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    A,
    B,
}

impl Source {
    pub const BOTH: [Source; 2] = [Source::A, Source::B];

    pub fn other(self) -> Source {
        match self {
            Source::A => Source::B,
            Source::B => Source::A,
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            Source::A => "A",
            Source::B => "B",
        }
    }
}

/// ePDU2SourceStatusSourceA/BVolStatus and the frequency statuses (1, 2, 3).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RangeStatus {
    Normal,
    Over,
    Under,
}

impl RangeStatus {
    pub fn label(self) -> &'static str {
        match self {
            RangeStatus::Normal => "normal",
            RangeStatus::Over => "over",
            RangeStatus::Under => "under",
        }
    }
}

/// ePDU2SourceStatusRedundancyState: 1 lost, 2 fully redundant.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Redundancy {
    Ok,
    Lost,
}

/// ePDULoadStatusLoadState: 1 normal, 2 low, 3 nearOverload, 4 overload.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadState {
    Normal,
    Low,
    NearOverload,
    Overload,
}

impl LoadState {
    pub fn label(self) -> &'static str {
        match self {
            LoadState::Normal => "normal",
            LoadState::Low => "low",
            LoadState::NearOverload => "near overload",
            LoadState::Overload => "overload",
        }
    }
}

/// An outlet relay: ePDUOutletStatusOutletState 1 on, 2 off.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutletState {
    On,
    Off,
}

impl OutletState {
    pub fn label(self) -> &'static str {
        match self {
            OutletState::On => "on",
            OutletState::Off => "off",
        }
    }
}

/// Who the PDU is. Strings the device does not answer are `None`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub hardware_rev: Option<String>,
    /// ePDUIdentName, the device name stored on the PDU.
    pub name: Option<String>,
    pub location: Option<String>,
    pub contact: Option<String>,
    pub sys_name: Option<String>,
    pub rating_amps: Option<u32>,
    pub outlet_count: u32,
    pub bank_count: u32,
    pub phase_count: u32,
}

/// Whether the numbers in a snapshot are current.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Connection {
    /// The last poll answered.
    Online,
    /// One or two polls in a row failed: values are from `since_ms` or before.
    Stale { since_ms: u64, reason: String },
    /// Three or more polls in a row failed: values must not be trusted.
    Unreachable { since_ms: u64, reason: String },
}

impl Connection {
    pub fn is_online(&self) -> bool {
        matches!(self, Connection::Online)
    }
}

/// The selected source's input, as the PDU sees it (ePDUStatusInputVoltage).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub voltage: Option<f64>,
    pub frequency: Option<f64>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceReading {
    pub source: Source,
    pub voltage: Option<f64>,
    pub frequency: Option<f64>,
    pub voltage_status: Option<RangeStatus>,
    pub frequency_status: Option<RangeStatus>,
}

/// The automatic transfer switch (ePDU2 source table). Absent on PDUs
/// without an ATS.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ats {
    /// The source feeding the load; `None` when neither can.
    pub selected: Option<Source>,
    pub preferred: Option<Source>,
    pub redundancy: Option<Redundancy>,
    pub sources: Vec<SourceReading>,
}

impl Ats {
    pub fn source(&self, source: Source) -> Option<&SourceReading> {
        self.sources.iter().find(|s| s.source == source)
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bank {
    pub number: u32,
    pub voltage: Option<f64>,
    pub current: Option<f64>,
    pub power: Option<f64>,
    pub apparent_power: Option<f64>,
    pub power_factor: Option<f64>,
    pub load_state: Option<LoadState>,
    pub energy_kwh: Option<f64>,
    /// ePDULoadDevBankMaxLoad, the bank's breaker limit.
    pub max_load_amps: Option<f64>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outlet {
    pub number: u32,
    /// After the user's name overrides.
    pub name: String,
    pub state: OutletState,
    /// A delayed command (or the second half of a reboot) is in progress.
    pub pending: bool,
    pub bank: Option<u32>,
    /// After the metering floor.
    pub current: Option<f64>,
    pub power: Option<f64>,
    /// Never floored.
    pub energy_kwh: Option<f64>,
    /// The delays set on the PDU for this outlet, in seconds, read with the
    /// identity (every few minutes): a delayed on waits `on_delay_s`, a
    /// delayed off `off_delay_s`, a reboot keeps it off for `reboot_s`.
    /// `None` when the PDU did not say (or says "never", -1): the words then
    /// name "the delay set on the PDU" instead of a number.
    #[serde(default)]
    pub on_delay_s: Option<u32>,
    #[serde(default)]
    pub off_delay_s: Option<u32>,
    #[serde(default)]
    pub reboot_s: Option<u32>,
    /// ePDUOutletStatusPeakPower, W, and when it was reached (the PDU's own
    /// clock, as it writes it), read with the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_power: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_power_at: Option<String>,
    /// Since when the PDU has counted this outlet's energy
    /// (ePDUOutletStatusEnergyStartTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_since: Option<String>,
}

/// The whole PDU: the phase rows of the load table when present, else the
/// sum of the banks.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub current: Option<f64>,
    pub power: Option<f64>,
    pub apparent_power: Option<f64>,
    pub energy_kwh: Option<f64>,
}

/// Everything the bridge knows about one PDU after one poll.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PduSnapshot {
    pub device_id: DeviceId,
    /// What the dashboard calls this PDU (configured label, else device name).
    pub label: String,
    /// Demo mode: these values come from the simulated PDU, not hardware.
    pub simulated: bool,
    pub connection: Connection,
    /// When the values were read, unix milliseconds.
    pub ts_ms: u64,
    /// When this poll was due (its scheduled tick), unix milliseconds.
    /// History keys a sample by this second, so each tick is one sample
    /// however long its poll took; `None` for snapshots made outside the
    /// poller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u64>,
    /// Parts of the PDU this poll could not read over a lossy link
    /// (`outlet.3`, `bank.1`, `total`, `input`, `ats`, `uptime`, `power_supply`, `environment`): their values
    /// are carried over from the poll before, or absent. Empty when the poll
    /// read everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
    pub poll_interval_ms: u64,
    pub identity: Identity,
    pub uptime_s: Option<u64>,
    pub input: Input,
    pub ats: Option<Ats>,
    pub banks: Vec<Bank>,
    pub outlets: Vec<Outlet>,
    pub totals: Totals,
    /// The sensors this PDU has (an environment probe, power supplies);
    /// what it lacks is absent, not zero.
    #[serde(default)]
    pub sensors: Sensors,
}

/// The optional sensors of a PDU.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sensors {
    /// The environment probe (CPS-MIB environmentSensor), when one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// ePDUPowerSupply1/2Status, when the PDU answers them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_supplies: Vec<PowerSupply>,
}

impl Sensors {
    /// Power supplies that report a failure.
    pub fn failed_supplies(&self) -> Vec<u32> {
        self.power_supplies.iter().filter(|p| p.state == PsuState::Failed).map(|p| p.number).collect()
    }
}

/// The environment probe: temperature (the probe reports both scales),
/// humidity, their alarm thresholds and the dry contacts.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// °C (envirTemperatureCelsius, 0.1 °C).
    pub temperature_c: Option<f64>,
    /// °F (envirTemperature, 0.1 °F).
    pub temperature_f: Option<f64>,
    /// % relative humidity.
    pub humidity: Option<f64>,
    /// The probe's own thresholds (°C, %), read with the identity.
    #[serde(default)]
    pub temperature_high_c: Option<f64>,
    #[serde(default)]
    pub temperature_low_c: Option<f64>,
    #[serde(default)]
    pub humidity_high: Option<f64>,
    #[serde(default)]
    pub humidity_low: Option<f64>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

impl Environment {
    /// What is outside the probe's own thresholds, in words.
    pub fn out_of_range(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |value: Option<f64>, low: Option<f64>, high: Option<f64>, what: &str, unit: &str| {
            let Some(v) = value else { return };
            if let Some(h) = high.filter(|h| v > *h) {
                out.push(format!("{what} {v:.1} {unit} is above {h:.0} {unit}"));
            }
            if let Some(l) = low.filter(|l| v < *l) {
                out.push(format!("{what} {v:.1} {unit} is below {l:.0} {unit}"));
            }
        };
        check(self.temperature_c, self.temperature_low_c, self.temperature_high_c, "temperature", "°C");
        check(self.humidity, self.humidity_low, self.humidity_high, "humidity", "%");
        out
    }
}

/// One dry contact of the probe.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub number: u32,
    pub name: Option<String>,
    /// Open now (from its status and its normal state); `None`: unknown.
    pub open: Option<bool>,
    /// envirContactStatus says abnormal.
    pub abnormal: bool,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsuState {
    Ok,
    Failed,
    NotPresent,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerSupply {
    pub number: u32,
    pub state: PsuState,
}

impl PduSnapshot {
    pub fn outlet(&self, number: u32) -> Option<&Outlet> {
        self.outlets.iter().find(|o| o.number == number)
    }

    /// Seconds since the values were read, as seen at `now_ms`.
    pub fn age_s(&self, now_ms: u64) -> f64 {
        now_ms.saturating_sub(self.ts_ms) as f64 / 1000.0
    }
}

/// What can be asked of an outlet (ePDUOutletControlOutletCommand).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutletAction {
    On,
    Off,
    Reboot,
    DelayOn,
    DelayOff,
    DelayReboot,
    Cancel,
}

impl OutletAction {
    pub const ALL: [OutletAction; 7] = [
        OutletAction::On,
        OutletAction::Off,
        OutletAction::Reboot,
        OutletAction::DelayOn,
        OutletAction::DelayOff,
        OutletAction::DelayReboot,
        OutletAction::Cancel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutletAction::On => "on",
            OutletAction::Off => "off",
            OutletAction::Reboot => "reboot",
            OutletAction::DelayOn => "delayon",
            OutletAction::DelayOff => "delayoff",
            OutletAction::DelayReboot => "delayreboot",
            OutletAction::Cancel => "cancel",
        }
    }

    /// Words for a confirmation: "turn off", "reboot" …
    pub fn verb(self) -> &'static str {
        match self {
            OutletAction::On => "turn on",
            OutletAction::Off => "turn off",
            OutletAction::Reboot => "reboot",
            OutletAction::DelayOn => "turn on after the outlet's delay",
            OutletAction::DelayOff => "turn off after the outlet's delay",
            OutletAction::DelayReboot => "reboot after the outlet's delay",
            OutletAction::Cancel => "cancel the pending command of",
        }
    }

    /// Whether carrying it out can cut power to what is plugged in.
    pub fn cuts_power(self) -> bool {
        matches!(self, OutletAction::Off | OutletAction::Reboot | OutletAction::DelayOff | OutletAction::DelayReboot)
    }
}

impl FromStr for OutletAction {
    type Err = String;

    /// Trimmed and case-insensitive, as MQTT payloads are.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|a| a.as_str() == wanted).ok_or_else(|| {
            let allowed: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown action {s:?}; allowed: {}", allowed.join(", "))
        })
    }
}

impl fmt::Display for OutletAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to an outlet command: the state read back from the PDU after
/// the write, never the requested one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutletCommandResult {
    pub success: bool,
    pub device_id: DeviceId,
    pub outlet: u32,
    pub command: OutletAction,
    pub state: OutletState,
    pub pending: bool,
    pub error: Option<String>,
    /// Unix seconds.
    pub ts: f64,
    /// A later command to the same outlet was received while this one was
    /// carried out or waiting: `state` is what this command left, read back
    /// before the later one ran, and the outlet may not stay so.
    #[serde(default)]
    pub superseded: bool,
}

/// How the bridge's MQTT link is doing, for the dashboard header.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttState {
    /// `MQTT_BROKER=none`.
    #[default]
    Off,
    Connecting,
    Connected,
    Disconnected,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttStatus {
    pub state: MqttState,
    /// `host:port`, and whether it is the embedded broker; never credentials.
    pub broker: String,
    /// Why the last connection attempt failed.
    pub error: Option<String>,
}

/// Every error the bridge reports to a user or a script. On the wire it is
/// always the JSON error shape, `{"error", "field"?}`, plus the HTTP
/// `status` (the server functions use it to rebuild the same error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Input that can never succeed; `field` names what is wrong.
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    #[error("{message}")]
    NotFound { field: Option<String>, message: String },
    /// Well-formed input that breaks a rule of the domain (422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Already exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The PDU cannot be reached (or has not answered yet).
    #[error("{0}")]
    Unavailable(String),
    /// The PDU answered but refused or failed the request.
    #[error("{0}")]
    DeviceRefused(String),
    /// The request may not be made from where it came (403): another site,
    /// another host name; `field` names what gave it away.
    #[error("{message}")]
    Forbidden { field: Option<String>, message: String },
    /// Not signed in, or the session or token is no longer valid (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Too many tries; wait (429).
    #[error("{0}")]
    TooMany(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { field: Some(field.to_owned()), message: message.into() }
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        ApiError::NotFound { field: Some(field.to_owned()), message: message.into() }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound { .. } => 404,
            ApiError::Invalid { .. } => 422,
            ApiError::Conflict(_) => 409,
            ApiError::Unavailable(_) => 503,
            ApiError::DeviceRefused(_) => 502,
            ApiError::Forbidden { .. } => 403,
            ApiError::Unauthorized(_) => 401,
            ApiError::TooMany(_) => 429,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. }
            | ApiError::NotFound { field, .. }
            | ApiError::Forbidden { field, .. } => field.as_deref(),
            ApiError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.to_string(), field: self.field().map(str::to_owned) }
    }
}

/// Something that happened: a rule's transition, a device event or an
/// outlet command. Kept in the store, shown in the dashboard, published on
/// MQTT (`automation/event`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The store's id, newest highest (absent until stored); paging cursors
    /// are built from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Unix seconds.
    pub ts: f64,
    pub device_id: DeviceId,
    /// The rule, for rule events.
    pub rule: Option<String>,
    /// `triggered`, `restored`, `failed`, `created`, `updated`, `deleted`,
    /// `enabled`, `disabled`; device events: `ats_transfer`, `source_lost`,
    /// `source_restored`, `redundancy_lost`, `redundancy_restored`,
    /// `pdu_unreachable`, `pdu_recovered`, `pdu_rebooted`; and
    /// `outlet_command`.
    #[serde(rename = "type")]
    pub kind: String,
    pub details: String,
    /// The outlet an event is about, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlet: Option<u32>,
    /// Who asked, for outlet commands: `dashboard`, `api`, `mqtt` or `rule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// How an outlet command ended: `ok` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl Event {
    /// An event of `kind` now, about nothing more specific than the PDU.
    pub fn new(ts: f64, device_id: DeviceId, kind: &str, details: impl Into<String>) -> Self {
        Self {
            id: None,
            ts,
            device_id,
            rule: None,
            kind: kind.to_owned(),
            details: details.into(),
            outlet: None,
            origin: None,
            outcome: None,
        }
    }
}

/// Which events to read, newest first (`GET /api/events`, the dashboard's
/// event list). Every field narrows; none = every event.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    pub device_id: Option<String>,
    /// One event type (`ats_transfer`, `outlet_command`, …).
    pub kind: Option<String>,
    pub outlet: Option<u32>,
    /// Unix seconds, inclusive.
    pub since: Option<f64>,
    /// Unix seconds, exclusive.
    pub until: Option<f64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// One page of events and the cursor of the next (`None`: no more).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
}

/// [`ApiError`] as it travels: the error shape and its status.
#[derive(Serialize, Deserialize)]
struct WireError {
    error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    status: u16,
}

impl Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ErrorBody { error, field } = self.body();
        WireError { error, field, status: self.status_code() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ApiError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let WireError { error, field, status } = WireError::deserialize(deserializer)?;
        Ok(match status {
            400 => ApiError::BadRequest { field, message: error },
            404 => ApiError::NotFound { field, message: error },
            422 => {
                let field = field.unwrap_or_default();
                let message = error.strip_prefix(&format!("{field}: ")).map(str::to_owned).unwrap_or(error);
                ApiError::Invalid { field, message }
            }
            409 => ApiError::Conflict(error),
            503 => ApiError::Unavailable(error),
            502 => ApiError::DeviceRefused(error),
            403 => ApiError::Forbidden { field, message: error },
            401 => ApiError::Unauthorized(error),
            429 => ApiError::TooMany(error),
            _ => ApiError::Internal(error),
        })
    }
}

/// The JSON body of every error response: `{"error": "...", "field": "..."}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_travels_as_the_error_shape_and_comes_back_whole() {
        let errors = [
            ApiError::bad_request("days", "a number of days from 1 to 400"),
            ApiError::not_found("outlet", "no outlet 99"),
            ApiError::Invalid { field: "outlet".into(), message: "outlet 9 is listed twice".into() },
            ApiError::Conflict("a rule named \"x\" exists already".into()),
            ApiError::Unavailable("PDU x is unreachable".into()),
            ApiError::DeviceRefused("refused".into()),
            ApiError::Forbidden { field: Some("origin".into()), message: "another site".into() },
            ApiError::Internal("disk".into()),
        ];
        for e in errors {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["error"], e.to_string(), "{json}");
            assert_eq!(json["field"].as_str(), e.field(), "{json}");
            assert_eq!(json["status"], e.status_code());
            assert_eq!(serde_json::from_value::<ApiError>(json).unwrap(), e);
        }
    }

    #[test]
    fn device_ids_allow_only_topic_safe_characters() {
        assert!(DeviceId::parse("rack1-pdu_2").is_ok());
        for bad in ["", "Rack1", "a/b", "a#", "a+b", "a b", &"x".repeat(65)] {
            assert!(DeviceId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn actions_parse_trimmed_and_case_insensitive() {
        assert_eq!(" OFF\n".parse::<OutletAction>(), Ok(OutletAction::Off));
        assert_eq!("DelayOn".parse::<OutletAction>(), Ok(OutletAction::DelayOn));
        let err = "explode".parse::<OutletAction>().unwrap_err();
        assert!(err.contains("explode") && err.contains("reboot"), "{err}");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let snapshot = PduSnapshot {
            sensors: Default::default(),
            device_id: DeviceId::parse("pdu44001").unwrap(),
            label: "PDU".into(),
            simulated: true,
            connection: Connection::Stale { since_ms: 5, reason: "timeout".into() },
            ts_ms: 10,
            tick_ms: Some(9),
            stale: vec!["outlet.3".into()],
            poll_interval_ms: 1000,
            identity: Identity::default(),
            uptime_s: None,
            input: Input::default(),
            ats: None,
            banks: vec![],
            outlets: vec![],
            totals: Totals::default(),
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(json.contains(r#""connection":{"state":"stale""#), "{json}");
        assert_eq!(serde_json::from_str::<PduSnapshot>(&json).unwrap(), snapshot);
    }
}
