//! The seam between the dashboard and the bridge (server side only).
//!
//! Server functions and SSR read live data and send commands through this
//! trait; the `server` crate implements it with its one service layer, the
//! same one its JSON API calls, so every check lives in one place.

use crate::access::{
    AuditPage, AuditQuery, Caller, NewToken, SessionInfo, TokenInfo, TokenRequest, UserChange, UserInfo,
};
use crate::history::{EnergySummary, History, HistoryKind, Report};
use crate::model::{
    ApiError, Event, EventPage, EventQuery, MqttStatus, OutletAction, OutletCommandResult, PduSnapshot,
};
use crate::rules::{Rule, RuleStatus};
use crate::wire::{PduInfo, RulesUpdate};
use futures::future::BoxFuture;
use std::sync::Arc;

pub trait Backend: Send + Sync + 'static {
    /// The latest snapshot of every PDU, in configuration order.
    fn snapshots(&self) -> Vec<PduSnapshot>;

    /// Every configured PDU, in configuration order, with its address and
    /// why its last poll failed: the dashboard's word on a PDU that has
    /// never answered.
    fn pdus(&self) -> Vec<PduInfo>;

    /// The MQTT link's state.
    fn mqtt(&self) -> MqttStatus;

    /// A PDU's rules with their live state, and whether its file was refused.
    fn rules(&self, device_id: Option<&str>) -> Result<RulesUpdate, ApiError>;

    /// Create (`original` = `None`) or replace a rule.
    fn save_rule(
        &self,
        caller: Caller,
        device_id: Option<String>,
        original: Option<String>,
        rule: Rule,
    ) -> BoxFuture<'static, Result<RuleStatus, ApiError>>;

    fn delete_rule(
        &self,
        caller: Caller,
        device_id: Option<String>,
        name: String,
    ) -> BoxFuture<'static, Result<(), ApiError>>;

    fn set_rule_enabled(
        &self,
        caller: Caller,
        device_id: Option<String>,
        name: String,
        enabled: bool,
    ) -> BoxFuture<'static, Result<RuleStatus, ApiError>>;

    /// Active and recent alarms.
    fn alarms(&self) -> crate::alarms::AlarmList;

    /// Acknowledge an active alarm (operators and admins): who and when
    /// are kept with it and in the audit log.
    fn acknowledge_alarm(&self, caller: Caller, id: u64) -> BoxFuture<'static, Result<crate::alarms::Alarm, ApiError>>;

    /// The newest events, newest first, without waiting for the store.
    fn recent_events(&self, limit: usize) -> Vec<Event>;

    /// A page of stored events.
    fn events(&self, query: EventQuery) -> BoxFuture<'static, Result<EventPage, ApiError>>;

    /// One kind of history over a named range ending now.
    fn history(
        &self,
        device_id: Option<String>,
        kind: HistoryKind,
        range: String,
    ) -> BoxFuture<'static, Result<History, ApiError>>;

    /// One kind of history between two moments (unix seconds, `[start, end)`):
    /// the dashboard's custom range.
    fn history_between(
        &self,
        device_id: Option<String>,
        kind: HistoryKind,
        start: i64,
        end: i64,
    ) -> BoxFuture<'static, Result<History, ApiError>>;

    /// Energy today, this week and this month, and the reports there are.
    fn energy(&self, device_id: Option<String>) -> BoxFuture<'static, Result<EnergySummary, ApiError>>;

    /// One stored report.
    fn report(&self, device_id: Option<String>, id: String) -> BoxFuture<'static, Result<Report, ApiError>>;

    /// Switch an outlet from the dashboard and report the state read back
    /// from the PDU. `device_id` may be omitted when there is exactly one PDU.
    /// `confirm_protected`: switch a protected outlet off (admins only).
    fn outlet_command(
        &self,
        caller: Caller,
        device_id: Option<String>,
        outlet: u32,
        action: OutletAction,
        confirm_protected: bool,
    ) -> BoxFuture<'static, Result<OutletCommandResult, ApiError>>;

    /// Users (admins only).
    fn users(&self, caller: Caller) -> BoxFuture<'static, Result<Vec<UserInfo>, ApiError>>;

    fn add_user(&self, caller: Caller, change: UserChange) -> BoxFuture<'static, Result<UserInfo, ApiError>>;

    /// A new role or password (an admin), or one's own new password.
    fn update_user(
        &self,
        caller: Caller,
        name: String,
        change: UserChange,
    ) -> BoxFuture<'static, Result<UserInfo, ApiError>>;

    fn remove_user(&self, caller: Caller, name: String) -> BoxFuture<'static, Result<(), ApiError>>;

    /// API tokens (admins only).
    fn tokens(&self, caller: Caller) -> BoxFuture<'static, Result<Vec<TokenInfo>, ApiError>>;

    /// A new token; its secret is in the answer only.
    fn create_token(&self, caller: Caller, request: TokenRequest) -> BoxFuture<'static, Result<NewToken, ApiError>>;

    fn revoke_token(&self, caller: Caller, id: String) -> BoxFuture<'static, Result<(), ApiError>>;

    /// The caller's sessions (`all`: everyone's, admins only), `current` marked.
    fn sessions(
        &self,
        caller: Caller,
        all: bool,
        current: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<SessionInfo>, ApiError>>;

    fn end_session(&self, caller: Caller, id: String) -> BoxFuture<'static, Result<(), ApiError>>;

    /// Sign the caller out everywhere; how many sessions ended.
    fn end_all_sessions(&self, caller: Caller) -> BoxFuture<'static, Result<u64, ApiError>>;

    /// A page of the audit log (admins only).
    fn audit(&self, caller: Caller, query: AuditQuery) -> BoxFuture<'static, Result<AuditPage, ApiError>>;

    /// A PDU's slow-changing settings as last read.
    fn settings(&self, device_id: Option<String>) -> Result<crate::settings::PduSettings, ApiError>;

    /// Change settings on the PDU (admins only), each read back.
    fn change_settings(
        &self,
        caller: Caller,
        device_id: Option<String>,
        changes: Vec<crate::settings::SettingChange>,
    ) -> BoxFuture<'static, Result<crate::settings::SettingsResult, ApiError>>;

    /// Name an outlet in the bridge, and on the PDU when asked (operators).
    fn rename_outlet(
        &self,
        caller: Caller,
        device_id: Option<String>,
        outlet: u32,
        request: crate::settings::RenameRequest,
    ) -> BoxFuture<'static, Result<crate::settings::RenameResult, ApiError>>;

    /// Every outlet at once, each with its delay (operators).
    fn all_outlets(
        &self,
        caller: Caller,
        device_id: Option<String>,
        action: crate::settings::AllOutletsAction,
        confirm_protected: bool,
    ) -> BoxFuture<'static, Result<crate::settings::AllOutletsResult, ApiError>>;

    /// Every PDU's settings (no secrets) and state.
    fn fleet(&self) -> Vec<crate::fleet::PduView>;

    /// Add (`original` = `None`) or change a PDU (admins only).
    fn save_pdu(
        &self,
        caller: Caller,
        original: Option<String>,
        entry: crate::fleet::PduEntry,
    ) -> BoxFuture<'static, Result<crate::fleet::PduView, ApiError>>;

    /// Stop watching a PDU; its history is kept (admins only).
    fn remove_pdu(&self, caller: Caller, device_id: String) -> BoxFuture<'static, Result<(), ApiError>>;

    /// Look for PDUs on a subnet (admins only).
    fn discover(
        &self,
        caller: Caller,
        request: crate::fleet::DiscoverRequest,
    ) -> BoxFuture<'static, Result<crate::fleet::DiscoverResult, ApiError>>;
}

/// How the backend travels in Leptos context.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);
