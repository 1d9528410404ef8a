//! Server functions the dashboard calls, with fixed endpoints so the WASM and
//! the server agree on URLs whatever the checkout path (the default URL
//! carries a hash of the crate path).

use crate::history::{EnergySummary, History, HistoryKind, Report};
use crate::live::RulesUpdate;
use crate::model::{Event, MqttStatus, OutletAction, OutletCommandResult, PduSnapshot};
use crate::rules::RuleStatus;

/// Events the dashboard shows.
pub const EVENTS_SHOWN: usize = 50;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

/// Called by `SharedValue` on the server only; in the browser the value is
/// read back from the page.
pub fn initial_state() -> InitialState {
    #[cfg(feature = "ssr")]
    {
        let backend = use_context::<crate::backend::BackendHandle>();
        let snapshots = backend.as_ref().map(|b| b.0.snapshots()).unwrap_or_default();
        let mqtt = backend.as_ref().map(|b| b.0.mqtt()).unwrap_or_default();
        let rules = backend
            .as_ref()
            .map(|b| {
                snapshots
                    .iter()
                    .filter_map(|s| {
                        let rules = b.0.rules(Some(s.device_id.as_str())).ok()?;
                        Some(RulesUpdate { device_id: s.device_id.clone(), rules })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let events = backend.as_ref().map(|b| b.0.events(EVENTS_SHOWN)).unwrap_or_default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let range = use_context::<http::request::Parts>()
            .and_then(|parts| crate::history::range_from_query(parts.uri.query().unwrap_or_default()))
            .unwrap_or(crate::history::DEFAULT_RANGE)
            .to_owned();
        InitialState { snapshots, mqtt, rules, events, now_ms, range }
    }
    #[cfg(not(feature = "ssr"))]
    {
        InitialState::default()
    }
}

#[server(prefix = "/fn", endpoint = "outlet_command")]
pub async fn outlet_command(
    device_id: String,
    outlet: u32,
    action: OutletAction,
) -> Result<OutletCommandResult, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.outlet_command(Some(device_id), outlet, action).await.map_err(server_error)
}

#[cfg(feature = "ssr")]
fn server_error(e: crate::model::ApiError) -> ServerFnError {
    ServerFnError::ServerError(e.to_string())
}

/// Create (`original` absent) or replace a rule; `rule` is its JSON.
#[server(prefix = "/fn", endpoint = "rule_save")]
pub async fn rule_save(device_id: String, original: Option<String>, rule: String) -> Result<RuleStatus, ServerFnError> {
    let parsed: Result<crate::rules::Rule, ServerFnError> =
        serde_json::from_str(&rule).map_err(|e| ServerFnError::ServerError(format!("rule: {e}")));
    let rule = parsed?;
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.save_rule(Some(&device_id), original.as_deref(), rule).map_err(server_error)
}

#[server(prefix = "/fn", endpoint = "rule_delete")]
pub async fn rule_delete(device_id: String, name: String) -> Result<(), ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.delete_rule(Some(&device_id), &name).map_err(server_error)
}

#[server(prefix = "/fn", endpoint = "rule_enable")]
pub async fn rule_enable(device_id: String, name: String, enabled: bool) -> Result<RuleStatus, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.set_rule_enabled(Some(&device_id), &name, enabled).map_err(server_error)
}

/// The dashboard's charts: one kind of history over a named range.
#[server(prefix = "/fn", endpoint = "history")]
pub async fn load_history(device_id: String, kind: HistoryKind, range: String) -> Result<History, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.history(Some(device_id), kind, range).await.map_err(server_error)
}

/// The energy panel: today, this week, this month and the reports.
#[server(prefix = "/fn", endpoint = "energy")]
pub async fn load_energy(device_id: String) -> Result<EnergySummary, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.energy(Some(device_id)).await.map_err(server_error)
}

/// One report, shown in the energy panel.
#[server(prefix = "/fn", endpoint = "report")]
pub async fn load_report(device_id: String, id: String) -> Result<Report, ServerFnError> {
    let backend = expect_context::<crate::backend::BackendHandle>();
    backend.0.report(Some(device_id), id).await.map_err(server_error)
}
