//! Server functions the dashboard calls, with fixed endpoints so the WASM and
//! the server agree on URLs whatever the checkout path (the default URL
//! carries a hash of the crate path). Each is a thin adapter over the
//! server's one service layer (`crate::backend::Backend`); errors arrive as
//! [`ApiError`], field name included.

use crate::history::{EnergySummary, History, HistoryKind, Report};
use crate::model::{ApiError, EventPage, EventQuery, OutletAction, OutletCommandResult};
use crate::rules::RuleStatus;
#[cfg(feature = "ssr")]
use crate::wire::RulesUpdate;
#[cfg(feature = "ssr")]
use crate::wire::EVENTS_SHOWN;
use crate::wire::{InitialState, PduInfo};
use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        match e {
            ServerFnErrorErr::Request(why) => ApiError::Unavailable(format!("the bridge could not be reached: {why}")),
            ServerFnErrorErr::Args(why) | ServerFnErrorErr::MissingArg(why) => {
                ApiError::BadRequest { field: None, message: why }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Called by `SharedValue` on the server only; in the browser the value is
/// read back from the page.
pub fn initial_state() -> InitialState {
    #[cfg(feature = "ssr")]
    {
        let backend = use_context::<crate::backend::BackendHandle>();
        let snapshots = backend.as_ref().map(|b| b.0.snapshots()).unwrap_or_default();
        let mqtt = backend.as_ref().map(|b| b.0.mqtt()).unwrap_or_default();
        let pdus = backend.as_ref().map(|b| b.0.pdus()).unwrap_or_default();
        // Every configured PDU's rules, also of one that never answered.
        let rules: Vec<RulesUpdate> = backend
            .as_ref()
            .map(|b| pdus.iter().filter_map(|p| b.0.rules(Some(p.device_id.as_str())).ok()).collect())
            .unwrap_or_default();
        let events = backend.as_ref().map(|b| b.0.recent_events(EVENTS_SHOWN)).unwrap_or_default();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let query = use_context::<http::request::Parts>()
            .map(|parts| parts.uri.query().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let range = crate::history::range_from_query(&query).unwrap_or(crate::history::DEFAULT_RANGE).to_owned();
        let chart_outlet = crate::state::outlet_from_query(&query);
        let custom = crate::state::custom_from_query(&query);
        let (confirm, confirm_rule, outcome) = crate::state::forms_from_query(&query, &snapshots);
        InitialState {
            snapshots,
            mqtt,
            rules,
            events,
            now_ms,
            range,
            chart_outlet,
            custom,
            pdus,
            confirm,
            confirm_rule,
            outcome,
        }
    }
    #[cfg(not(feature = "ssr"))]
    {
        InitialState::default()
    }
}

#[cfg(feature = "ssr")]
fn backend() -> crate::backend::BackendHandle {
    expect_context::<crate::backend::BackendHandle>()
}

#[server(prefix = "/fn", endpoint = "outlet_command")]
pub async fn outlet_command(
    device_id: String,
    outlet: u32,
    action: OutletAction,
) -> Result<OutletCommandResult, ApiError> {
    backend().0.outlet_command(Some(device_id), outlet, action).await
}

/// Create (`original` absent) or replace a rule; `rule` is its JSON.
#[server(prefix = "/fn", endpoint = "rule_save")]
pub async fn rule_save(device_id: String, original: Option<String>, rule: String) -> Result<RuleStatus, ApiError> {
    let rule: crate::rules::Rule =
        serde_json::from_str(&rule).map_err(|e| ApiError::bad_request("rule", format!("rule: {e}")))?;
    backend().0.save_rule(Some(device_id), original, rule).await
}

#[server(prefix = "/fn", endpoint = "rule_delete")]
pub async fn rule_delete(device_id: String, name: String) -> Result<(), ApiError> {
    backend().0.delete_rule(Some(device_id), name).await
}

#[server(prefix = "/fn", endpoint = "rule_enable")]
pub async fn rule_enable(device_id: String, name: String, enabled: bool) -> Result<RuleStatus, ApiError> {
    backend().0.set_rule_enabled(Some(device_id), name, enabled).await
}

/// The dashboard's event list: a filtered page of stored events.
#[server(prefix = "/fn", endpoint = "events")]
pub async fn load_events(query: EventQuery) -> Result<EventPage, ApiError> {
    backend().0.events(query).await
}

/// The dashboard's charts: one kind of history over a named range.
#[server(prefix = "/fn", endpoint = "history")]
pub async fn load_history(device_id: String, kind: HistoryKind, range: String) -> Result<History, ApiError> {
    backend().0.history(Some(device_id), kind, range).await
}

/// The dashboard's charts over a custom range (unix seconds, `[start, end)`).
#[server(prefix = "/fn", endpoint = "history_between")]
pub async fn load_history_between(
    device_id: String,
    kind: HistoryKind,
    start: i64,
    end: i64,
) -> Result<History, ApiError> {
    backend().0.history_between(Some(device_id), kind, start, end).await
}

/// The energy panel: today, this week, this month and the reports.
#[server(prefix = "/fn", endpoint = "energy")]
pub async fn load_energy(device_id: String) -> Result<EnergySummary, ApiError> {
    backend().0.energy(Some(device_id)).await
}

/// One report, shown in the energy panel.
#[server(prefix = "/fn", endpoint = "report")]
pub async fn load_report(device_id: String, id: String) -> Result<Report, ApiError> {
    backend().0.report(Some(device_id), id).await
}

/// Every configured PDU with its address and last error, for the page's
/// word on a PDU that has not answered yet.
#[server(prefix = "/fn", endpoint = "pdus")]
pub async fn load_pdus() -> Result<Vec<PduInfo>, ApiError> {
    Ok(backend().0.pdus())
}
