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
        let rule_editor = crate::state::rule_editor_from_query(&query, &rules);
        let settings = backend.as_ref().and_then(|b| {
            let path = crate::current_path();
            (crate::state::View::from_path(&path) == crate::state::View::Settings).then(|| {
                // `/settings` shows the first PDU, as `/` does.
                let named = crate::state::AddressedPdu::from_path(&path).0;
                let id = named.or_else(|| pdus.first().map(|p| p.device_id.to_string()));
                b.0.settings(id)
            })
        });
        InitialState {
            settings,
            rule_editor,
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
            caller: caller(),
            alarms: backend.as_ref().map(|b| b.0.alarms()).unwrap_or_default(),
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

/// Who is calling, as the server's sign-in check put it on the request.
#[cfg(feature = "ssr")]
pub fn caller() -> Option<crate::access::Caller> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<crate::access::Caller>().cloned())
}

#[cfg(feature = "ssr")]
fn signed_in() -> Result<crate::access::Caller, ApiError> {
    caller().ok_or_else(|| ApiError::Unauthorized("sign in first; nothing was done".into()))
}

/// The current session's public id, for marking it in the session list.
#[cfg(feature = "ssr")]
fn current_session() -> Option<String> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::wire::SessionMark>().map(|s| s.0.clone()))
}

#[server(prefix = "/fn", endpoint = "outlet_command")]
pub async fn outlet_command(
    device_id: String,
    outlet: u32,
    action: OutletAction,
    #[server(default)] confirm_protected: bool,
) -> Result<OutletCommandResult, ApiError> {
    backend().0.outlet_command(signed_in()?, Some(device_id), outlet, action, confirm_protected).await
}

/// Create (`original` absent) or replace a rule; `rule` is its JSON.
#[server(prefix = "/fn", endpoint = "rule_save")]
pub async fn rule_save(device_id: String, original: Option<String>, rule: String) -> Result<RuleStatus, ApiError> {
    let rule: crate::rules::Rule =
        serde_json::from_str(&rule).map_err(|e| ApiError::bad_request("rule", format!("rule: {e}")))?;
    backend().0.save_rule(signed_in()?, Some(device_id), original, rule).await
}

#[server(prefix = "/fn", endpoint = "rule_delete")]
pub async fn rule_delete(device_id: String, name: String) -> Result<(), ApiError> {
    backend().0.delete_rule(signed_in()?, Some(device_id), name).await
}

#[server(prefix = "/fn", endpoint = "rule_enable")]
pub async fn rule_enable(device_id: String, name: String, enabled: bool) -> Result<RuleStatus, ApiError> {
    backend().0.set_rule_enabled(signed_in()?, Some(device_id), name, enabled).await
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

/// Users, for an admin's access page.
#[server(prefix = "/fn", endpoint = "users")]
pub async fn load_users() -> Result<Vec<crate::access::UserInfo>, ApiError> {
    backend().0.users(signed_in()?).await
}

#[server(prefix = "/fn", endpoint = "user_add")]
pub async fn user_add(change: crate::access::UserChange) -> Result<crate::access::UserInfo, ApiError> {
    backend().0.add_user(signed_in()?, change).await
}

/// A new role (admins) or password (admins, or one's own).
#[server(prefix = "/fn", endpoint = "user_update")]
pub async fn user_update(name: String, change: crate::access::UserChange) -> Result<crate::access::UserInfo, ApiError> {
    backend().0.update_user(signed_in()?, name, change).await
}

/// One's own new password.
#[server(prefix = "/fn", endpoint = "password_change")]
pub async fn password_change(password: String) -> Result<(), ApiError> {
    let caller = signed_in()?;
    let change = crate::access::UserChange { name: None, role: None, password: Some(password) };
    backend().0.update_user(caller.clone(), caller.name, change).await.map(|_| ())
}

#[server(prefix = "/fn", endpoint = "user_remove")]
pub async fn user_remove(name: String) -> Result<(), ApiError> {
    backend().0.remove_user(signed_in()?, name).await
}

#[server(prefix = "/fn", endpoint = "tokens")]
pub async fn load_tokens() -> Result<Vec<crate::access::TokenInfo>, ApiError> {
    backend().0.tokens(signed_in()?).await
}

/// A new API token: the answer is the only time its secret is shown.
#[server(prefix = "/fn", endpoint = "token_create")]
pub async fn token_create(request: crate::access::TokenRequest) -> Result<crate::access::NewToken, ApiError> {
    backend().0.create_token(signed_in()?, request).await
}

#[server(prefix = "/fn", endpoint = "token_revoke")]
pub async fn token_revoke(id: String) -> Result<(), ApiError> {
    backend().0.revoke_token(signed_in()?, id).await
}

/// The caller's sessions (`all`: everyone's, for an admin).
#[server(prefix = "/fn", endpoint = "sessions")]
pub async fn load_sessions(all: bool) -> Result<Vec<crate::access::SessionInfo>, ApiError> {
    backend().0.sessions(signed_in()?, all, current_session()).await
}

#[server(prefix = "/fn", endpoint = "session_end")]
pub async fn session_end(id: String) -> Result<(), ApiError> {
    backend().0.end_session(signed_in()?, id).await
}

/// Sign out everywhere.
#[server(prefix = "/fn", endpoint = "sessions_end_all")]
pub async fn sessions_end_all() -> Result<u64, ApiError> {
    backend().0.end_all_sessions(signed_in()?).await
}

#[server(prefix = "/fn", endpoint = "audit")]
pub async fn load_audit(query: crate::access::AuditQuery) -> Result<crate::access::AuditPage, ApiError> {
    backend().0.audit(signed_in()?, query).await
}

/// Every PDU's settings (never its communities) and state.
#[server(prefix = "/fn", endpoint = "fleet")]
pub async fn load_fleet() -> Result<Vec<crate::fleet::PduView>, ApiError> {
    signed_in()?;
    Ok(backend().0.fleet())
}

/// Add (`original` absent) or change a PDU; it is polled at once.
#[server(prefix = "/fn", endpoint = "pdu_save")]
pub async fn pdu_save(
    original: Option<String>,
    entry: crate::fleet::PduEntry,
) -> Result<crate::fleet::PduView, ApiError> {
    backend().0.save_pdu(signed_in()?, original, entry).await
}

/// Stop watching a PDU; its history is kept.
#[server(prefix = "/fn", endpoint = "pdu_remove")]
pub async fn pdu_remove(device_id: String) -> Result<(), ApiError> {
    backend().0.remove_pdu(signed_in()?, device_id).await
}

/// Look for CyberPower PDUs on a subnet (at most a /22).
#[server(prefix = "/fn", endpoint = "pdus_discover")]
pub async fn pdus_discover(request: crate::fleet::DiscoverRequest) -> Result<crate::fleet::DiscoverResult, ApiError> {
    backend().0.discover(signed_in()?, request).await
}

/// A PDU's settings as the bridge last read them.
#[server(prefix = "/fn", endpoint = "settings")]
pub async fn load_settings(device_id: String) -> Result<crate::settings::PduSettings, ApiError> {
    signed_in()?;
    backend().0.settings(Some(device_id))
}

/// Change settings on the PDU; each is read back. The changes travel as
/// JSON: in a form-encoded body every value is a string, which the tagged
/// `SettingChange` cannot read back as a number.
#[server(prefix = "/fn", endpoint = "settings_change", input = leptos::server_fn::codec::Json)]
pub async fn settings_change(
    device_id: String,
    changes: Vec<crate::settings::SettingChange>,
) -> Result<crate::settings::SettingsResult, ApiError> {
    backend().0.change_settings(signed_in()?, Some(device_id), changes).await
}

/// Name an outlet in the bridge, and on the PDU too when asked.
#[server(prefix = "/fn", endpoint = "outlet_rename")]
pub async fn outlet_rename(
    device_id: String,
    outlet: u32,
    name: String,
    #[server(default)] write_to_pdu: bool,
) -> Result<crate::settings::RenameResult, ApiError> {
    let request = crate::settings::RenameRequest { name, write_to_pdu };
    backend().0.rename_outlet(signed_in()?, Some(device_id), outlet, request).await
}

/// Every outlet at once, each after its configured delay.
#[server(prefix = "/fn", endpoint = "all_outlets")]
pub async fn all_outlets(
    device_id: String,
    action: crate::settings::AllOutletsAction,
    #[server(default)] confirm_protected: bool,
) -> Result<crate::settings::AllOutletsResult, ApiError> {
    backend().0.all_outlets(signed_in()?, Some(device_id), action, confirm_protected).await
}

/// Active and recent alarms.
#[server(prefix = "/fn", endpoint = "alarms")]
pub async fn load_alarms() -> Result<crate::alarms::AlarmList, ApiError> {
    Ok(backend().0.alarms())
}

/// Acknowledge an active alarm.
#[server(prefix = "/fn", endpoint = "alarm_acknowledge")]
pub async fn alarm_acknowledge(id: u64) -> Result<crate::alarms::Alarm, ApiError> {
    backend().0.acknowledge_alarm(signed_in()?, id).await
}
