//! The one service layer over the bridge, rules, events and history: the
//! JSON API's handlers and the dashboard's server functions (through
//! [`app::backend::Backend`]) are thin adapters over these methods.
//!
//! Owns: resolving the device once, at the edge, and turning each
//! subsystem's own errors into [`ApiError`] — the only place that happens.

use crate::auth::{Auth, AuthError};
use crate::bridge::{Bridge, CommandError, DeviceError, Origin, Requester};
use crate::device::Device;
use crate::events::store::{self as event_store, Filter, MAX_PAGE};
use crate::health::Health;
use crate::history::query::{self, Window};
use crate::history::reports::{self, Settings};
use crate::history::store::{Store, StoreError};
use crate::history::HistoryError;
use crate::manage::{self, ManageError};
use crate::rules::runner::{RuleEngine, RuleError};
use crate::rules::Automation;
use app::access::{
    AuditPage, AuditQuery, Caller, CallerKind, NewToken, Role, SessionInfo, TokenInfo, TokenRequest, UserChange,
    UserInfo,
};
use app::history::{EnergyDay, EnergySummary, History, HistoryKind, Report, ReportSummary};
use app::model::{ApiError, Event, EventPage, EventQuery, MqttStatus, OutletAction, OutletCommandResult, PduSnapshot};
use app::rules::{Rule, RuleStatus};
use app::settings::{
    AllOutletsAction, AllOutletsResult, PduSettings, RenameRequest, RenameResult, SettingChange, SettingsResult,
};
use app::wire::RulesUpdate;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::watch;

/// How long a read of stored events waits for the ones just recorded.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Everything a request may need; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub bridge: Arc<Bridge>,
    pub automation: Arc<Automation>,
    /// The history store; `None` if it could not be opened.
    pub history: Option<Arc<Store>>,
    /// Where local days begin and what a kWh costs, for energy and reports.
    pub reports: Settings,
    /// The MQTT link's state, for the dashboard.
    pub mqtt: watch::Receiver<MqttStatus>,
    /// Why history is off, or that a damaged store was replaced at start.
    pub history_note: Option<String>,
    /// Users, sessions, tokens and the audit log.
    pub auth: Arc<Auth>,
    /// Which PDUs run; adds, changes and removes them.
    pub fleet: Arc<crate::fleet::Fleet>,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::WrongPassword => ApiError::Unauthorized(e.to_string()),
            AuthError::Throttled(_) => ApiError::TooMany(e.to_string()),
            AuthError::Invalid { field, message } => ApiError::Invalid { field: field.to_owned(), message },
            AuthError::NoSuchUser(_) => ApiError::not_found("name", e.to_string()),
            AuthError::NoSuchToken(_) | AuthError::NoSuchSession(_) => ApiError::not_found("id", e.to_string()),
            AuthError::Conflict(_) => ApiError::Conflict(e.to_string()),
            AuthError::Forbidden(_) => ApiError::Forbidden { field: Some("role".into()), message: e.to_string() },
            AuthError::Store(_) | AuthError::Hash(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// Refuse `caller` unless their role is at least `needed`.
fn need(caller: &Caller, needed: Role) -> Result<(), ApiError> {
    if caller.may(needed) {
        Ok(())
    } else {
        Err(super::auth::refusal(caller, needed))
    }
}

impl From<crate::alarms::AlarmError> for ApiError {
    fn from(e: crate::alarms::AlarmError) -> Self {
        match e {
            crate::alarms::AlarmError::NotFound(_) => ApiError::not_found("id", e.to_string()),
            crate::alarms::AlarmError::Cleared(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Unknown(_) => ApiError::not_found("device_id", e.to_string()),
            DeviceError::Ambiguous => ApiError::bad_request("device_id", e.to_string()),
            DeviceError::None => ApiError::not_found("device_id", e.to_string()),
        }
    }
}

impl From<crate::fleet::FleetError> for ApiError {
    fn from(e: crate::fleet::FleetError) -> Self {
        use crate::fleet::FleetError;
        match e {
            FleetError::Invalid { field, message } => ApiError::Invalid { field: field.into(), message },
            FleetError::Unknown(_) => ApiError::not_found("device_id", e.to_string()),
            FleetError::Conflict(_) => ApiError::Conflict(e.to_string()),
            FleetError::File { .. } | FleetError::Start(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NoSuchOutlet { .. } => ApiError::not_found("outlet", e.to_string()),
            CommandError::NoReading(_) | CommandError::Unreachable(_) | CommandError::Timeout { .. } => {
                ApiError::Unavailable(e.to_string())
            }
            CommandError::Refused { .. } => ApiError::DeviceRefused(e.to_string()),
            CommandError::Protected { .. } => {
                ApiError::Forbidden { field: Some("confirm_protected".into()), message: e.to_string() }
            }
            CommandError::WrongPdu { .. } => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NoSuchOutlet { .. } => ApiError::not_found("outlet", e.to_string()),
            ManageError::NoReading(_) | ManageError::Unreachable(_) | ManageError::Timeout { .. } => {
                ApiError::Unavailable(e.to_string())
            }
            ManageError::WrongPdu { .. } => ApiError::Conflict(e.to_string()),
            ManageError::Invalid { field, message } => ApiError::Invalid { field, message },
            ManageError::Refused { .. } | ManageError::ReadBack { .. } => ApiError::DeviceRefused(e.to_string()),
            ManageError::Protected { .. } => {
                ApiError::Forbidden { field: Some("confirm_protected".into()), message: e.to_string() }
            }
            ManageError::NamesFile { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Invalid { field, message } => ApiError::Invalid { field, message },
            RuleError::Duplicate(_) => ApiError::Conflict(e.to_string()),
            RuleError::NoSuchRule(_) => ApiError::not_found("name", e.to_string()),
            RuleError::FileInvalid(_) => ApiError::Conflict(e.to_string()),
            RuleError::Write { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Off => ApiError::Unavailable(e.to_string()),
            HistoryError::BadInput { field, message } => ApiError::bad_request(field, message),
            HistoryError::NoSuchOutlet(_) => ApiError::not_found("outlet", e.to_string()),
            HistoryError::NoSuchReport(_) => ApiError::not_found("id", e.to_string()),
            HistoryError::Corrupt(_) | HistoryError::Store(_) => ApiError::Internal(e.to_string()),
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Services {
    pub fn device(&self, device_id: Option<&str>) -> Result<Arc<Device>, ApiError> {
        Ok(self.bridge.device(device_id)?)
    }

    fn store(&self) -> Result<&Store, ApiError> {
        Ok(self.history.as_deref().ok_or(HistoryError::Off)?)
    }

    fn engine(&self, device_id: Option<&str>) -> Result<Arc<RuleEngine>, ApiError> {
        let device = self.device(device_id)?;
        self.automation
            .engine(device.id())
            .ok_or_else(|| ApiError::Internal(format!("PDU {} has no rule engine", device.id())))
    }

    pub fn status(&self, device_id: Option<&str>) -> Result<Arc<PduSnapshot>, ApiError> {
        let device = self.device(device_id)?;
        device.latest().ok_or_else(|| ApiError::Unavailable(format!("no reading from PDU {} yet", device.id())))
    }

    pub fn health(&self) -> Health {
        let mqtt = self.mqtt.borrow().clone();
        crate::health::report(
            &self.bridge,
            &mqtt,
            self.history.as_deref(),
            self.history_note.as_deref(),
            &self.automation,
        )
    }

    /// Switch an outlet for `caller` (an operator at least; a protected
    /// outlet goes off only for an admin who says `confirm_protected`).
    pub async fn outlet_command(
        &self,
        caller: &Caller,
        via: Origin,
        device_id: Option<&str>,
        outlet: u32,
        action: OutletAction,
        confirm_protected: bool,
    ) -> Result<OutletCommandResult, ApiError> {
        need(caller, Role::Operator)?;
        let device = self.device(device_id)?;
        let requester = Requester::caller(via, caller, confirm_protected);
        Ok(self.bridge.outlet_command(&device, outlet, action, requester).await?)
    }

    /// A PDU's settings as last read (not read yet: `read_at_ms` absent).
    pub fn settings(&self, device_id: Option<&str>) -> Result<PduSettings, ApiError> {
        let device = self.device(device_id)?;
        Ok(device
            .settings()
            .map(|s| (*s).clone())
            .unwrap_or_else(|| PduSettings { device_id: Some(device.id().clone()), ..PduSettings::default() }))
    }

    /// Change settings on the PDU (admins), each read back.
    pub async fn change_settings(
        &self,
        caller: &Caller,
        via: Origin,
        device_id: Option<&str>,
        changes: Vec<SettingChange>,
    ) -> Result<SettingsResult, ApiError> {
        need(caller, Role::Admin)?;
        let device = self.device(device_id)?;
        let requester = Requester::caller(via, caller, false);
        Ok(manage::change_settings(&self.bridge, &device, &requester, changes).await?)
    }

    /// Name an outlet (operators; writing it to the PDU too).
    pub async fn rename_outlet(
        &self,
        caller: &Caller,
        via: Origin,
        device_id: Option<&str>,
        outlet: u32,
        request: RenameRequest,
    ) -> Result<RenameResult, ApiError> {
        need(caller, Role::Operator)?;
        let device = self.device(device_id)?;
        let requester = Requester::caller(via, caller, false);
        Ok(manage::rename_outlet(&self.bridge, &device, &requester, outlet, request).await?)
    }

    /// The names outlets are shown with now, by number.
    pub fn outlet_names(
        &self,
        device_id: Option<&str>,
    ) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
        let snapshot = self.status(device_id)?;
        Ok(snapshot.outlets.iter().map(|o| (o.number.to_string(), o.name.clone())).collect())
    }

    /// Every outlet at once (operators; off with protected outlets: admins
    /// who confirm).
    pub async fn all_outlets(
        &self,
        caller: &Caller,
        via: Origin,
        device_id: Option<&str>,
        action: AllOutletsAction,
        confirm_protected: bool,
    ) -> Result<AllOutletsResult, ApiError> {
        need(caller, Role::Operator)?;
        let device = self.device(device_id)?;
        let requester = Requester::caller(via, caller, confirm_protected);
        Ok(manage::all_outlets(&self.bridge, &device, &requester, action).await?)
    }

    /// Active and recent alarms.
    pub fn alarms(&self) -> app::alarms::AlarmList {
        self.bridge.alarms().list()
    }

    /// Acknowledge an active alarm (operators): kept with the alarm, in
    /// the events and in the audit log.
    pub async fn acknowledge_alarm(&self, caller: &Caller, id: u64) -> Result<app::alarms::Alarm, ApiError> {
        need(caller, Role::Operator)?;
        let result = self.bridge.alarms().acknowledge(id, &caller.who());
        let (outcome, detail) = match &result {
            Ok((a, true)) => ("ok", format!("{} ({})", a.title, a.key())),
            Ok((a, false)) => {
                let by = a.acknowledged.as_ref().map(|ack| ack.by.as_str()).unwrap_or("someone");
                ("ok", format!("{} ({}): already acknowledged by {by}", a.title, a.key()))
            }
            Err(e) => ("failed", e.to_string()),
        };
        self.auth
            .record(
                &caller.who(),
                caller.from.as_deref(),
                "alarm_acknowledge",
                &format!("alarm {id}"),
                outcome,
                &detail,
            )
            .await;
        Ok(result?.0)
    }

    /// Send a test notification to every configured channel now (admins).
    pub async fn test_notification(&self, caller: &Caller) -> Result<(), ApiError> {
        need(caller, Role::Admin)?;
        let notifier =
            self.bridge.alarms().notifier().cloned().unwrap_or_else(crate::notifications::Notifier::disabled);
        let n = crate::notifications::Notification {
            device_id: None,
            alarm: "test".into(),
            severity: app::alarms::Severity::Info,
            state: crate::notifications::NotificationState::Test,
            title: "pdu-bridge: test notification".into(),
            message: format!("sent by {} from the bridge's API to check the alarm channels", caller.who()),
            ts: crate::clock::unix_ms() as i64,
            id: 0,
        };
        let result = notifier.deliver_now(&n).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        let detail = result.as_ref().err().map(|e| e.to_string()).unwrap_or_else(|| "delivered".into());
        self.auth
            .record(&caller.who(), caller.from.as_deref(), "notification_test", "notifications", outcome, &detail)
            .await;
        result.map_err(|e| match e {
            crate::notifications::DeliveryError::NotConfigured => ApiError::Conflict(e.to_string()),
            crate::notifications::DeliveryError::Failed(_) => ApiError::DeviceRefused(e.to_string()),
        })
    }

    /// Write a rule change to the audit log, whichever way it ended.
    async fn audit_rule<T>(&self, caller: &Caller, rule: &str, what: &str, result: &Result<T, ApiError>) {
        let (outcome, detail) = match result {
            Ok(_) => ("ok", what.to_owned()),
            Err(e) => ("failed", format!("{what}: {e}")),
        };
        self.auth
            .record(&caller.who(), caller.from.as_deref(), "rule_change", &format!("rule {rule}"), outcome, &detail)
            .await;
    }

    pub fn rules(&self, device_id: Option<&str>) -> Result<RulesUpdate, ApiError> {
        let engine = self.engine(device_id)?;
        Ok(RulesUpdate {
            device_id: engine.device().id().clone(),
            rules: engine.list(),
            file_error: engine.file_error(),
        })
    }

    /// Every PDU with its settings (never its communities) and state.
    pub fn pdu_list(&self) -> Vec<app::fleet::PduView> {
        self.fleet.list()
    }

    pub fn pdu(&self, device_id: &str) -> Result<app::fleet::PduView, ApiError> {
        Ok(self.fleet.get(device_id)?)
    }

    /// Add a PDU (`original` = `None`) or change one; admins only.
    pub async fn save_pdu(
        &self,
        caller: &Caller,
        original: Option<&str>,
        entry: app::fleet::PduEntry,
    ) -> Result<app::fleet::PduView, ApiError> {
        need(caller, Role::Admin)?;
        let id = entry.device_id.clone();
        let (result, what) = match original {
            Some(old) => (self.fleet.update(old, entry).await.map_err(ApiError::from), "changed"),
            None => (self.fleet.add(entry).await.map_err(ApiError::from), "added"),
        };
        self.audit_pdu(caller, &id, what, &result).await;
        result
    }

    pub async fn remove_pdu(&self, caller: &Caller, device_id: &str) -> Result<(), ApiError> {
        need(caller, Role::Admin)?;
        let result = self.fleet.remove(device_id).await.map_err(ApiError::from);
        self.audit_pdu(caller, device_id, "removed", &result).await;
        result
    }

    /// Look for CyberPower PDUs on a subnet; the ones watched already say
    /// under which id. Admins only (it sends SNMP to every address).
    pub async fn discover(
        &self,
        caller: &Caller,
        request: app::fleet::DiscoverRequest,
    ) -> Result<app::fleet::DiscoverResult, ApiError> {
        need(caller, Role::Admin)?;
        // One scan at a time; a /22 of silent addresses takes about 16 s.
        let Ok(_one) = self.fleet.scanning.try_lock() else {
            return Err(ApiError::Conflict("a discovery scan is running; try again when it has finished".into()));
        };
        let limits = crate::discover::Limits { concurrency: 64, ..Default::default() };
        let mut result = crate::discover::scan(&request, &limits)
            .await
            .map_err(|e| ApiError::Invalid { field: e.field().into(), message: e.to_string() })?;
        let known = self.fleet.list();
        for found in &mut result.found {
            let by_serial = known.iter().find(|p| p.settings.serial.as_deref() == Some(found.serial.as_str()));
            let by_address = || {
                known.iter().find(|p| {
                    !p.settings.simulated && p.settings.host == found.host && p.settings.snmp_port == found.port
                })
            };
            found.known_as = by_serial.or_else(by_address).map(|p| p.settings.device_id.clone());
        }
        let detail = format!("{}: {} found", request.cidr, result.found.len());
        self.auth.record(&caller.who(), caller.from.as_deref(), "pdu_discover", &request.cidr, "ok", &detail).await;
        Ok(result)
    }

    async fn audit_pdu<T>(&self, caller: &Caller, device_id: &str, what: &str, result: &Result<T, ApiError>) {
        let (outcome, detail) = match result {
            Ok(_) => ("ok", what.to_owned()),
            Err(e) => ("failed", format!("{what}: {e}")),
        };
        let target = format!("pdu {device_id}");
        self.auth.record(&caller.who(), caller.from.as_deref(), "pdu_change", &target, outcome, &detail).await;
    }

    /// Create (`original` = `None`) or replace a rule.
    pub async fn save_rule(
        &self,
        caller: &Caller,
        device_id: Option<&str>,
        original: Option<&str>,
        rule: Rule,
    ) -> Result<RuleStatus, ApiError> {
        need(caller, Role::Operator)?;
        let engine = self.engine(device_id)?;
        let name = rule.name.clone();
        let result = match original {
            Some(old) => engine.update(old, rule).await.map_err(ApiError::from),
            None => engine.create(rule).await.map_err(ApiError::from),
        };
        let what = match original {
            Some(old) if old != name => format!("replaced {old}"),
            Some(_) => "updated".to_owned(),
            None => "created".to_owned(),
        };
        self.audit_rule(caller, &name, &what, &result).await;
        result
    }

    pub async fn delete_rule(&self, caller: &Caller, device_id: Option<&str>, name: &str) -> Result<(), ApiError> {
        need(caller, Role::Operator)?;
        let result = self.engine(device_id)?.delete(name).await.map_err(ApiError::from);
        self.audit_rule(caller, name, "deleted", &result).await;
        result
    }

    pub async fn set_rule_enabled(
        &self,
        caller: &Caller,
        device_id: Option<&str>,
        name: &str,
        enabled: bool,
    ) -> Result<RuleStatus, ApiError> {
        need(caller, Role::Operator)?;
        let result = self.engine(device_id)?.set_enabled(name, enabled).await.map_err(ApiError::from);
        self.audit_rule(caller, name, if enabled { "enabled" } else { "disabled" }, &result).await;
        result
    }

    pub async fn replace_rules(
        &self,
        caller: &Caller,
        device_id: Option<&str>,
        rules: Vec<Rule>,
    ) -> Result<Vec<RuleStatus>, ApiError> {
        need(caller, Role::Operator)?;
        let count = rules.len();
        let result = self.engine(device_id)?.replace(rules).await.map_err(ApiError::from);
        self.audit_rule(caller, "*", &format!("every rule replaced ({count} rules)"), &result).await;
        result
    }

    /// The longest a session may last, for the cookie's lifetime.
    pub fn session_max_secs(&self) -> u64 {
        self.auth.session_max().as_secs()
    }

    pub async fn users(&self, caller: &Caller) -> Result<Vec<UserInfo>, ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.users().await?)
    }

    pub async fn add_user(&self, caller: &Caller, change: UserChange) -> Result<UserInfo, ApiError> {
        need(caller, Role::Admin)?;
        let name = change.name.ok_or_else(|| ApiError::bad_request("name", "the new user's name"))?;
        let password = change.password.ok_or_else(|| ApiError::bad_request("password", "the new user's password"))?;
        let role = change.role.ok_or_else(|| ApiError::bad_request("role", "viewer, operator or admin"))?;
        Ok(self.auth.add_user(caller, &name, role, &password).await?)
    }

    /// An admin changes anyone's role or password; a signed-in user only
    /// their own password.
    pub async fn update_user(&self, caller: &Caller, name: &str, change: UserChange) -> Result<UserInfo, ApiError> {
        let own = caller.kind == CallerKind::User && caller.name.eq_ignore_ascii_case(name);
        if !(own && change.role.is_none()) {
            need(caller, Role::Admin)?;
        }
        if change.name.as_deref().is_some_and(|n| !n.eq_ignore_ascii_case(name)) {
            return Err(ApiError::bad_request("name", "a user cannot be renamed; add a new one"));
        }
        if change.role.is_none() && change.password.is_none() {
            // `{}` or `[null, null]`: answering 200 would say something changed.
            let message = "nothing to change: give a new `role` or `password`".to_owned();
            return Err(ApiError::Invalid { field: "role".into(), message });
        }
        Ok(self.auth.update_user(caller, name, &change).await?)
    }

    pub async fn remove_user(&self, caller: &Caller, name: &str) -> Result<(), ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.remove_user(caller, name).await?)
    }

    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>, ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.tokens().await?)
    }

    pub async fn create_token(&self, caller: &Caller, request: TokenRequest) -> Result<NewToken, ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.create_token(caller, &request.name, request.role).await?)
    }

    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.revoke_token(caller, id).await?)
    }

    /// The caller's own sessions, or everyone's for an admin who asks.
    pub async fn sessions(
        &self,
        caller: &Caller,
        all: bool,
        current: Option<&str>,
    ) -> Result<Vec<SessionInfo>, ApiError> {
        if all {
            need(caller, Role::Admin)?;
        }
        let user = (!all).then_some(caller.name.as_str());
        if !all && caller.kind != CallerKind::User {
            return Ok(Vec::new());
        }
        Ok(self.auth.sessions(user, current).await?)
    }

    pub async fn end_session(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        Ok(self.auth.end_session(caller, id).await?)
    }

    /// Sign the caller out everywhere.
    pub async fn end_all_sessions(&self, caller: &Caller) -> Result<u64, ApiError> {
        if caller.kind != CallerKind::User {
            return Err(ApiError::bad_request("session", "only a signed-in user has sessions"));
        }
        Ok(self.auth.end_sessions_of(caller, &caller.name).await?)
    }

    pub async fn audit(&self, caller: &Caller, q: AuditQuery) -> Result<AuditPage, ApiError> {
        need(caller, Role::Admin)?;
        Ok(self.auth.audit(&q).await?)
    }

    pub fn recent_events(&self, limit: usize) -> Vec<Event> {
        self.bridge.events().recent(limit)
    }

    pub async fn events(&self, q: EventQuery) -> Result<EventPage, ApiError> {
        let device_id = match q.device_id.as_deref() {
            Some(id) => Some(self.device(Some(id))?.id().to_string()),
            None => None,
        };
        let millis = |field: &str, v: Option<f64>| match v {
            Some(s) if s.is_finite() && (0.0..=1e11).contains(&s) => Ok(Some((s * 1000.0).round() as i64)),
            Some(_) => Err(ApiError::bad_request(field, "unix seconds from 0 to 100000000000")),
            None => Ok(None),
        };
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request("limit", format!("a page size from 1 to {MAX_PAGE}")));
        }
        let before_id = match q.cursor.as_deref() {
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ApiError::bad_request("cursor", "the next_cursor of an earlier page"))?,
            ),
            None => None,
        };
        let filter = Filter {
            device_id,
            kind: q.kind,
            outlet: q.outlet,
            since_ms: millis("since", q.since)?,
            until_ms: millis("until", q.until)?,
            before_id,
            limit,
        };
        let store = self.store()?;
        self.bridge.events().settled(SETTLE).await;
        let page = event_store::query(store, &filter).await.map_err(store_error)?;
        Ok(EventPage { events: page.events, next_cursor: page.next_before_id.map(|id| id.to_string()) })
    }

    pub async fn history(
        &self,
        device_id: Option<&str>,
        kind: HistoryKind,
        window: &Window,
        outlet: Option<u32>,
    ) -> Result<History, ApiError> {
        let device = self.device(device_id)?;
        Ok(query::fetch(self.store()?, &device, kind, window, outlet).await?)
    }

    pub async fn energy(&self, device_id: Option<&str>) -> Result<EnergySummary, ApiError> {
        let device = self.device(device_id)?;
        Ok(reports::summary(self.store()?, &device, &self.reports).await?)
    }

    pub async fn daily(&self, device_id: Option<&str>, days: u32) -> Result<Vec<EnergyDay>, ApiError> {
        let device = self.device(device_id)?;
        Ok(reports::daily(self.store()?, device.id().as_str(), &self.reports, days).await?)
    }

    pub async fn reports(&self, device_id: Option<&str>) -> Result<Vec<ReportSummary>, ApiError> {
        let device = self.device(device_id)?;
        Ok(reports::list(self.store()?, device.id().as_str()).await?)
    }

    pub async fn report(&self, device_id: Option<&str>, id: &str) -> Result<Report, ApiError> {
        let device = self.device(device_id)?;
        Ok(reports::fetch(self.store()?, device.id().as_str(), id).await?)
    }
}

/// The dashboard's server functions: each one call of the service layer.
impl app::backend::Backend for Services {
    fn alarms(&self) -> app::alarms::AlarmList {
        Services::alarms(self)
    }

    fn acknowledge_alarm(&self, caller: Caller, id: u64) -> BoxFuture<'static, Result<app::alarms::Alarm, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.acknowledge_alarm(&caller, id).await })
    }

    fn snapshots(&self) -> Vec<PduSnapshot> {
        self.bridge.snapshots().iter().map(|s| (**s).clone()).collect()
    }

    fn pdus(&self) -> Vec<app::wire::PduInfo> {
        self.bridge
            .devices()
            .iter()
            .map(|d| {
                let address = match &d.config.kind {
                    crate::config::DeviceKind::Snmp { host, port, .. } if host.contains(':') => {
                        Some(format!("[{host}]:{port}"))
                    }
                    crate::config::DeviceKind::Snmp { host, port, .. } => Some(format!("{host}:{port}")),
                    crate::config::DeviceKind::Simulated { .. } => None,
                };
                let label = d.config.label.clone().or_else(|| d.latest().map(|s| s.label.clone()));
                app::wire::PduInfo {
                    device_id: d.id().clone(),
                    label: label.unwrap_or_else(|| d.id().to_string()),
                    address,
                    simulated: d.config.is_simulated(),
                    last_error: d.last_error(),
                    protected: d.config.protected.clone(),
                    rack: d.config.rack.clone(),
                    feed: d.config.feed,
                    disabled: false,
                }
            })
            .chain(self.fleet.list().into_iter().filter(|p| !p.settings.enabled).filter_map(|p| {
                let device_id = app::model::DeviceId::parse(&p.settings.device_id).ok()?;
                Some(app::wire::PduInfo {
                    device_id,
                    label: p.settings.label.clone().unwrap_or_else(|| p.settings.device_id.clone()),
                    address: p.settings.address(),
                    simulated: p.settings.simulated,
                    last_error: None,
                    protected: p.settings.protected_outlets.clone(),
                    rack: p.settings.rack.clone(),
                    feed: p.settings.feed,
                    disabled: true,
                })
            }))
            .collect()
    }

    fn mqtt(&self) -> MqttStatus {
        self.mqtt.borrow().clone()
    }

    fn rules(&self, device_id: Option<&str>) -> Result<RulesUpdate, ApiError> {
        Services::rules(self, device_id)
    }

    fn save_rule(
        &self,
        caller: Caller,
        device_id: Option<String>,
        original: Option<String>,
        rule: Rule,
    ) -> BoxFuture<'static, Result<RuleStatus, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.save_rule(&caller, device_id.as_deref(), original.as_deref(), rule).await })
    }

    fn delete_rule(
        &self,
        caller: Caller,
        device_id: Option<String>,
        name: String,
    ) -> BoxFuture<'static, Result<(), ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.delete_rule(&caller, device_id.as_deref(), &name).await })
    }

    fn set_rule_enabled(
        &self,
        caller: Caller,
        device_id: Option<String>,
        name: String,
        enabled: bool,
    ) -> BoxFuture<'static, Result<RuleStatus, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.set_rule_enabled(&caller, device_id.as_deref(), &name, enabled).await })
    }

    fn recent_events(&self, limit: usize) -> Vec<Event> {
        Services::recent_events(self, limit)
    }

    fn events(&self, query: EventQuery) -> BoxFuture<'static, Result<EventPage, ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::events(&this, query).await })
    }

    fn history(
        &self,
        device_id: Option<String>,
        kind: HistoryKind,
        range: String,
    ) -> BoxFuture<'static, Result<History, ApiError>> {
        let this = self.clone();
        Box::pin(async move {
            let window = Window { range: Some(range), start: None, end: None };
            Services::history(&this, device_id.as_deref(), kind, &window, None).await
        })
    }

    fn history_between(
        &self,
        device_id: Option<String>,
        kind: HistoryKind,
        start: i64,
        end: i64,
    ) -> BoxFuture<'static, Result<History, ApiError>> {
        let this = self.clone();
        Box::pin(async move {
            let window = Window { range: None, start: Some(start), end: Some(end) };
            Services::history(&this, device_id.as_deref(), kind, &window, None).await
        })
    }

    fn energy(&self, device_id: Option<String>) -> BoxFuture<'static, Result<EnergySummary, ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::energy(&this, device_id.as_deref()).await })
    }

    fn report(&self, device_id: Option<String>, id: String) -> BoxFuture<'static, Result<Report, ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::report(&this, device_id.as_deref(), &id).await })
    }

    fn outlet_command(
        &self,
        caller: Caller,
        device_id: Option<String>,
        outlet: u32,
        action: OutletAction,
        confirm_protected: bool,
    ) -> BoxFuture<'static, Result<OutletCommandResult, ApiError>> {
        let this = self.clone();
        Box::pin(async move {
            let device_id = device_id.as_deref();
            this.outlet_command(&caller, Origin::Dashboard, device_id, outlet, action, confirm_protected).await
        })
    }

    fn users(&self, caller: Caller) -> BoxFuture<'static, Result<Vec<UserInfo>, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.users(&caller).await })
    }

    fn add_user(&self, caller: Caller, change: UserChange) -> BoxFuture<'static, Result<UserInfo, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.add_user(&caller, change).await })
    }

    fn update_user(
        &self,
        caller: Caller,
        name: String,
        change: UserChange,
    ) -> BoxFuture<'static, Result<UserInfo, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.update_user(&caller, &name, change).await })
    }

    fn remove_user(&self, caller: Caller, name: String) -> BoxFuture<'static, Result<(), ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.remove_user(&caller, &name).await })
    }

    fn tokens(&self, caller: Caller) -> BoxFuture<'static, Result<Vec<TokenInfo>, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.tokens(&caller).await })
    }

    fn create_token(&self, caller: Caller, request: TokenRequest) -> BoxFuture<'static, Result<NewToken, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.create_token(&caller, request).await })
    }

    fn revoke_token(&self, caller: Caller, id: String) -> BoxFuture<'static, Result<(), ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.revoke_token(&caller, &id).await })
    }

    fn sessions(
        &self,
        caller: Caller,
        all: bool,
        current: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<SessionInfo>, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.sessions(&caller, all, current.as_deref()).await })
    }

    fn end_session(&self, caller: Caller, id: String) -> BoxFuture<'static, Result<(), ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.end_session(&caller, &id).await })
    }

    fn end_all_sessions(&self, caller: Caller) -> BoxFuture<'static, Result<u64, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.end_all_sessions(&caller).await })
    }

    fn audit(&self, caller: Caller, query: AuditQuery) -> BoxFuture<'static, Result<AuditPage, ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::audit(&this, &caller, query).await })
    }

    fn settings(&self, device_id: Option<String>) -> Result<PduSettings, ApiError> {
        Services::settings(self, device_id.as_deref())
    }

    fn change_settings(
        &self,
        caller: Caller,
        device_id: Option<String>,
        changes: Vec<SettingChange>,
    ) -> BoxFuture<'static, Result<SettingsResult, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.change_settings(&caller, Origin::Dashboard, device_id.as_deref(), changes).await })
    }

    fn rename_outlet(
        &self,
        caller: Caller,
        device_id: Option<String>,
        outlet: u32,
        request: RenameRequest,
    ) -> BoxFuture<'static, Result<RenameResult, ApiError>> {
        let this = self.clone();
        Box::pin(
            async move { this.rename_outlet(&caller, Origin::Dashboard, device_id.as_deref(), outlet, request).await },
        )
    }

    fn all_outlets(
        &self,
        caller: Caller,
        device_id: Option<String>,
        action: AllOutletsAction,
        confirm_protected: bool,
    ) -> BoxFuture<'static, Result<AllOutletsResult, ApiError>> {
        let this = self.clone();
        Box::pin(async move {
            this.all_outlets(&caller, Origin::Dashboard, device_id.as_deref(), action, confirm_protected).await
        })
    }

    fn fleet(&self) -> Vec<app::fleet::PduView> {
        self.fleet.list()
    }

    fn save_pdu(
        &self,
        caller: Caller,
        original: Option<String>,
        entry: app::fleet::PduEntry,
    ) -> BoxFuture<'static, Result<app::fleet::PduView, ApiError>> {
        let this = self.clone();
        Box::pin(async move { this.save_pdu(&caller, original.as_deref(), entry).await })
    }

    fn remove_pdu(&self, caller: Caller, device_id: String) -> BoxFuture<'static, Result<(), ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::remove_pdu(&this, &caller, &device_id).await })
    }

    fn discover(
        &self,
        caller: Caller,
        request: app::fleet::DiscoverRequest,
    ) -> BoxFuture<'static, Result<app::fleet::DiscoverResult, ApiError>> {
        let this = self.clone();
        Box::pin(async move { Services::discover(&this, &caller, request).await })
    }
}
