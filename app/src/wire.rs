//! What crosses the wire between the server and the page, apart from the
//! domain model: the live stream's path and event names, the values the
//! page is first rendered with, and a PDU's rules as pushed.
//!
//! Owns: names both sides must agree on. Plain data only: the server imports
//! it and so does the browser client (`crate::live`).

use crate::model::{Event, MqttStatus, PduSnapshot};
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
}
