//! The page's reactive state: the latest snapshot of every PDU, the PDUs
//! that have not answered yet, rules, events, the link to the bridge, the
//! chosen history range and outlet, and which page and PDU the address asks
//! for.
//!
//! Owns: what the components read and what the live stream writes. Starts
//! from [`InitialState`], the values the server rendered with, so hydration
//! lines up; `Copy`, so every closure can hold it.

use crate::access::{Caller, CallerKind, Role};
use crate::model::{ApiError, Connection, DeviceId, Event, MqttStatus, PduSnapshot};
use crate::model::{OutletAction, OutletState};
use crate::rules::{RuleDraft, RuleStatus};
use crate::settings::PduSettings;
use crate::wire::{FormOutcome, InitialState, OutletRequest, PduInfo, RulesUpdate, EVENTS_SHOWN};
use leptos::prelude::*;

/// State of the push channel from the bridge to this page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    Reconnecting,
}

/// How far the values on screen can be trusted, worst first: the page's
/// own link to the bridge, then the bridge's link to the PDU.
#[derive(Clone, Debug, PartialEq)]
pub enum Trust {
    /// The page has lost its live stream: nothing on it updates.
    NoLink {
        since_ms: Option<u64>,
    },
    /// Three or more polls in a row failed: the values are the last known.
    Unreachable {
        since_ms: u64,
        reason: String,
    },
    /// The last poll or two failed.
    Stale {
        since_ms: u64,
        reason: String,
    },
    /// The stream is up but no new reading has come for a while.
    Lagging {
        read_ms: u64,
    },
    Live,
}

impl Trust {
    /// Readings are the last known and commands would fail: grey the
    /// values and switch the controls off.
    pub fn frozen(&self) -> bool {
        matches!(self, Trust::NoLink { .. } | Trust::Unreachable { .. })
    }
}

/// Which page of the app the address asks for: a PDU's dashboard (`/` shows
/// the first PDU, `/pdu/{device_id}` the one it names), a PDU's settings
/// (`/settings` for the first PDU, `/pdu/{device_id}/settings`), the fleet
/// (`/fleet`), the access page (`/access`) or every PDU's alarms
/// (`/alarms`). Plain links lead between them; there is no client-side
/// router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Settings,
    Fleet,
    Access,
    Alarms,
}

impl View {
    pub const ACCESS_PATH: &'static str = "/access";
    pub const ALARMS_PATH: &'static str = "/alarms";
    pub const FLEET_PATH: &'static str = "/fleet";
    pub const SETTINGS_PATH: &'static str = "/settings";
    const PDU_PREFIX: &'static str = "/pdu/";

    pub fn from_path(path: &str) -> Self {
        match path.trim_end_matches('/') {
            Self::ACCESS_PATH => View::Access,
            Self::ALARMS_PATH => View::Alarms,
            Self::FLEET_PATH => View::Fleet,
            Self::SETTINGS_PATH => View::Settings,
            p if p
                .strip_prefix(Self::PDU_PREFIX)
                .and_then(|rest| rest.strip_suffix(Self::SETTINGS_PATH))
                .is_some_and(|id| !id.is_empty()) =>
            {
                View::Settings
            }
            _ => View::Dashboard,
        }
    }

    /// The address of one PDU's settings page.
    pub fn settings_path(id: &DeviceId) -> String {
        format!("{}{id}{}", Self::PDU_PREFIX, Self::SETTINGS_PATH)
    }

    /// The address of one PDU's dashboard.
    pub fn pdu_path(id: &DeviceId) -> String {
        format!("{}{id}", Self::PDU_PREFIX)
    }
}

/// The PDU the address names (`/pdu/{device_id}`), as written there, valid
/// or not: provided as context, so every part of the page can tell that no
/// PDU answers to it (mistyped, or removed since) instead of showing
/// another one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressedPdu(pub Option<String>);

impl AddressedPdu {
    pub fn from_path(path: &str) -> Self {
        let named = path
            .strip_prefix(View::PDU_PREFIX)
            .map(|rest| rest.trim_end_matches('/'))
            .map(|rest| rest.strip_suffix(View::SETTINGS_PATH).unwrap_or(rest))
            .filter(|r| !r.is_empty());
        Self(named.map(|raw| percent_decode(raw).unwrap_or_else(|| raw.to_owned())))
    }
}

/// A path segment with its `%XX` escapes decoded; `None` when it is not
/// UTF-8 once decoded.
fn percent_decode(value: &str) -> Option<String> {
    form_decode(&value.replace('+', "%2B"))
}

/// Why a caller may not do something that needs `needed`, in words; `None`
/// when they may. `what` finishes "may look but not …".
pub fn role_refusal(caller: Option<&Caller>, needed: Role, what: &str) -> Option<String> {
    match caller {
        Some(c) if c.may(needed) => None,
        Some(c) if c.kind == CallerKind::Anonymous => {
            Some(format!("You are viewing without signing in: sign in to {what}."))
        }
        Some(c) => Some(format!("Your role ({}) may look but not {what}.", c.role)),
        None => Some(format!("Sign in to {what}.")),
    }
}

/// Where the sign-in page sends the user back to: this page.
pub fn login_url(here: &str) -> String {
    let next: String = here
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/login?next={next}")
}

/// `outlet=4` in a query string: the outlet the outlet chart shows (0 = all).
pub fn outlet_from_query(query: &str) -> u32 {
    query.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("outlet=")?.parse().ok()).unwrap_or(0)
}

/// The range the charts show when it is not a named one.
pub const CUSTOM_RANGE: &str = "custom";

/// `start=…&end=…` (unix seconds) in a query string: a custom chart range.
pub fn custom_from_query(query: &str) -> Option<(i64, i64)> {
    let start = param(query, "start")?.parse().ok()?;
    let end = param(query, "end")?.parse().ok()?;
    (start < end).then_some((start, end))
}

/// One `key=value` of a query string (values from our own redirects are
/// plain: ids, numbers, words; `+` and `%20` are not expected).
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// A value of an `application/x-www-form-urlencoded` query (`+` is a
/// space, `%XX` a byte); `None` when it is not UTF-8 once decoded.
fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What happened to an outlet, in words: "Outlet 3 “NAS” is off."
pub fn outlet_outcome(outlet: u32, name: &str, action: OutletAction, state: OutletState, pending: bool) -> String {
    let head = format!("Outlet {outlet} “{name}”");
    match (action, pending) {
        (OutletAction::Reboot, true) => format!("{head} is off for its reboot and comes back on by itself."),
        (OutletAction::DelayReboot, true) => format!("{head} reboots after the delay set on the PDU."),
        (OutletAction::DelayOn, true) => format!("{head} turns on after the delay set on the PDU."),
        (OutletAction::DelayOff, true) => format!("{head} turns off after the delay set on the PDU."),
        (_, true) => format!("{head} is {}; a command is still under way.", state.label()),
        (OutletAction::Cancel, false) => format!("{head}: pending command cancelled; it is {}.", state.label()),
        (_, false) => format!("{head} is {}.", state.label()),
    }
}

/// Why an outlet command or rule change failed, from an HTTP status: fixed
/// words, so a crafted link cannot put text on the page.
pub fn failure_words(code: u16) -> &'static str {
    match code {
        503 => "the PDU is unreachable, or has not answered yet",
        502 => "the PDU refused the command",
        404 => "no such outlet, rule or PDU",
        409 => "it conflicts with the rules file (a name used twice, or a file that cannot be used)",
        400 | 422 => "the request was not valid",
        403 => "refused: your role may not do this (or the request did not come from this dashboard)",
        _ => "the bridge failed to carry it out",
    }
}

/// The confirmation and the outcome a form post redirected to
/// (`?confirm=outlet…`, `?done=…`, `?failed=…`), so the page shows them
/// before and without the WASM.
pub fn forms_from_query(
    query: &str,
    snapshots: &[PduSnapshot],
) -> (Option<OutletRequest>, Option<String>, Option<FormOutcome>) {
    let device = param(query, "device_id").and_then(|d| DeviceId::parse(d).ok());
    // `o`, not `outlet`: that one is the outlet chart's choice.
    let outlet = param(query, "o").and_then(|n| n.parse::<u32>().ok());
    let action = param(query, "action").and_then(|a| a.parse::<OutletAction>().ok());
    let name = |n: u32| {
        snapshots
            .iter()
            .find(|s| device.as_ref().is_none_or(|d| &s.device_id == d))
            .and_then(|s| s.outlet(n))
            .map(|o| o.name.clone())
            .unwrap_or_default()
    };
    // A rule name may hold spaces: the server's redirect encodes it.
    let rule = param(query, "rule").and_then(form_decode).filter(|r| crate::rules::valid_name(r));
    let rule = rule.as_deref();
    let confirm = match (param(query, "confirm"), &device, outlet, action) {
        (Some("outlet"), Some(device_id), Some(outlet), Some(action)) => {
            Some(OutletRequest { device_id: device_id.clone(), outlet, action })
        }
        _ => None,
    };
    let confirm_rule = rule.filter(|_| param(query, "confirm") == Some("rule-delete")).map(str::to_owned);
    let outcome = match (param(query, "done"), param(query, "failed")) {
        (Some("outlet"), _) => {
            let state = match param(query, "state") {
                Some("on") => OutletState::On,
                _ => OutletState::Off,
            };
            outlet.zip(action).map(|(n, a)| FormOutcome {
                panel: "outlet".into(),
                ok: true,
                text: outlet_outcome(n, &name(n), a, state, param(query, "pending") == Some("1")),
            })
        }
        (Some("rule"), _) => rule.map(|r| {
            let what = match param(query, "what") {
                Some("enabled") => "enabled",
                Some("disabled") => "disabled",
                Some("saved") => "saved",
                Some("created") => "created",
                Some("updated") => "updated",
                _ => "deleted",
            };
            FormOutcome { panel: "rule".into(), ok: true, text: format!("Rule “{r}” {what}.") }
        }),
        (Some("alarm"), _) => Some(FormOutcome { panel: "alarm".into(), ok: true, text: "Alarm acknowledged.".into() }),
        (_, Some("alarm")) => {
            let code = param(query, "code").and_then(|c| c.parse().ok()).unwrap_or(500);
            let why = match code {
                404 => "there is no such alarm",
                409 => "it has already cleared",
                code => failure_words(code),
            };
            Some(FormOutcome {
                panel: "alarm".into(),
                ok: false,
                text: format!("The alarm was not acknowledged: {why}."),
            })
        }
        (_, Some(panel @ ("outlet" | "rule"))) => {
            let code = param(query, "code").and_then(|c| c.parse().ok()).unwrap_or(500);
            let what = match (panel, outlet, rule) {
                ("outlet", Some(n), _) => format!("Outlet {n} “{}”", name(n)),
                ("rule", _, Some(r)) => format!("Rule “{r}”"),
                _ => "The change".to_owned(),
            };
            Some(FormOutcome {
                panel: panel.into(),
                ok: false,
                text: format!("{what}: not done, {}.", failure_words(code)),
            })
        }
        _ => None,
    };
    (confirm, confirm_rule, outcome)
}

/// The rule editor an address opens: `editor=new`, `editor=edit&rule=NAME`
/// (a rule of `device_id`, else of any PDU), or `editor=check&…` with the
/// fields of a form the server refused (shown with what is wrong).
pub fn rule_editor_from_query(query: &str, rules: &[RulesUpdate]) -> Option<RuleDraft> {
    let pairs: Vec<(String, String)> = query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((form_decode(k)?, form_decode(v)?)))
        .collect();
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    match get("editor")? {
        "new" => Some(RuleDraft::new()),
        "edit" => {
            let name = get("rule")?;
            let device = get("device_id");
            rules
                .iter()
                .filter(|u| device.is_none_or(|d| u.device_id.as_str() == d))
                .find_map(|u| u.rules.iter().find(|r| r.rule.name == name))
                .map(|r| RuleDraft::from_rule(&r.rule))
        }
        "check" => Some(RuleDraft { show_errors: true, ..RuleDraft::from_pairs(&pairs) }),
        _ => None,
    }
}

/// The page's state; `Copy`, so every closure can hold it.
#[derive(Clone, Copy)]
pub struct Dashboard {
    /// Latest snapshot of every PDU, as pushed by the bridge.
    pub snapshots: RwSignal<Vec<PduSnapshot>>,
    /// Every configured PDU, also those that have never answered (their
    /// address and last error say what to check).
    pub pdus: RwSignal<Vec<PduInfo>>,
    /// The PDU the user picked; `None` shows the first.
    pub selected: RwSignal<Option<DeviceId>>,
    /// The PDU on screen, whether or not it has answered yet.
    pub current_id: Memo<Option<DeviceId>>,
    /// False while the page is the server's HTML, true once the WASM runs:
    /// texts in the viewer's time zone are drawn only then.
    pub hydrated: RwSignal<bool>,
    /// When the live stream dropped, while it is down.
    pub link_down_since: RwSignal<Option<u64>>,
    /// The clock data ages are measured against (server time until the
    /// browser's clock takes over after hydration).
    pub now_ms: RwSignal<u64>,
    pub link: RwSignal<LinkState>,
    /// The bridge's MQTT link.
    pub mqtt: RwSignal<MqttStatus>,
    /// Every PDU's rules with their live state.
    pub rules: RwSignal<Vec<RulesUpdate>>,
    /// Recent events, newest first.
    pub events: RwSignal<Vec<Event>>,
    /// The PDU on screen.
    pub current: Memo<Option<PduSnapshot>>,
    /// The history charts' range (`1h` … `60d`), mirrored in the URL.
    pub range: RwSignal<String>,
    /// The outlet the outlet-power chart shows (0 = all), mirrored in the URL.
    pub chart_outlet: RwSignal<u32>,
    /// The custom range (unix seconds) while `range` is `custom`.
    pub custom: RwSignal<Option<(i64, i64)>>,
    /// An outlet command a form posted before the WASM ran, to confirm.
    pub confirm: StoredValue<Option<OutletRequest>>,
    /// A rule a form asked to delete before the WASM ran, to confirm.
    pub confirm_rule: StoredValue<Option<String>>,
    /// The rule editor the address opened.
    pub rule_editor: StoredValue<Option<RuleDraft>>,
    /// What the last form post did.
    pub outcome: StoredValue<Option<FormOutcome>>,
    /// Who is signed in, as the server rendered the page for them: what
    /// their role may not do is disabled and says why (the server refuses
    /// it regardless).
    pub caller: StoredValue<Option<Caller>>,
    /// The bridge answered 401: the session ended (expired, or signed out
    /// elsewhere); the page says so and links to the sign-in page.
    pub session_ended: RwSignal<bool>,
    /// The settings a settings page was rendered with (or why they could
    /// not be had); the page keeps its own copy from there.
    pub settings: StoredValue<Option<Result<PduSettings, ApiError>>>,
    /// Active and recent alarms, as pushed by the bridge.
    pub alarms: RwSignal<crate::alarms::AlarmList>,
}

impl Dashboard {
    pub fn from_initial(initial: InitialState) -> Self {
        let snapshots = RwSignal::new(initial.snapshots);
        let pdus = RwSignal::new(initial.pdus);
        let selected = RwSignal::new(None::<DeviceId>);
        let current_id = Memo::new(move |_| {
            selected.get().or_else(|| {
                pdus.with(|p| p.first().map(|p| p.device_id.clone()))
                    .or_else(|| snapshots.with(|all| all.first().map(|s| s.device_id.clone())))
            })
        });
        let current = Memo::new(move |_| {
            let id = current_id.get()?;
            snapshots.with(|all| all.iter().find(|s| s.device_id == id).cloned())
        });
        Self {
            snapshots,
            pdus,
            selected,
            current_id,
            hydrated: RwSignal::new(false),
            link_down_since: RwSignal::new(None),
            now_ms: RwSignal::new(initial.now_ms),
            link: RwSignal::new(LinkState::Connecting),
            mqtt: RwSignal::new(initial.mqtt),
            rules: RwSignal::new(initial.rules),
            events: RwSignal::new(initial.events),
            alarms: RwSignal::new(initial.alarms),
            current,
            range: RwSignal::new(if initial.custom.is_some() {
                CUSTOM_RANGE.to_owned()
            } else if initial.range.is_empty() {
                crate::history::DEFAULT_RANGE.to_owned()
            } else {
                initial.range
            }),
            custom: RwSignal::new(initial.custom),
            chart_outlet: RwSignal::new(initial.chart_outlet),
            confirm: StoredValue::new(initial.confirm),
            confirm_rule: StoredValue::new(initial.confirm_rule),
            rule_editor: StoredValue::new(initial.rule_editor),
            outcome: StoredValue::new(initial.outcome),
            caller: StoredValue::new(initial.caller),
            session_ended: RwSignal::new(false),
            settings: StoredValue::new(initial.settings),
        }
    }

    /// Show the PDU the address names, if it names one.
    pub fn select(&self, addressed: &AddressedPdu) {
        if let Some(id) = addressed.0.as_deref().and_then(|a| DeviceId::parse(a).ok()) {
            self.selected.set(Some(id));
        }
    }

    /// What the address names when no PDU answers to it (reactive: a PDU
    /// added or removed while the page is open changes the answer).
    pub fn unknown(&self, addressed: &AddressedPdu) -> Option<String> {
        let asked = addressed.0.as_ref()?;
        let known = DeviceId::parse(asked).is_ok_and(|id| {
            self.pdus.with(|all| all.iter().any(|p| p.device_id == id))
                || self.snapshots.with(|all| all.iter().any(|s| s.device_id == id))
        });
        (!known).then(|| asked.clone())
    }

    /// Drop the PDUs the bridge no longer lists, with their snapshots and
    /// rules (a pushed list after one was added, changed or removed).
    pub fn set_pdus(&self, pdus: Vec<PduInfo>) {
        let listed = |id: &DeviceId| pdus.iter().any(|p| &p.device_id == id);
        self.snapshots.update(|all| all.retain(|s| listed(&s.device_id)));
        self.rules.update(|all| all.retain(|u| listed(&u.device_id)));
        self.pdus.set(pdus);
    }

    /// Whether the signed-in caller has at least `role`.
    pub fn may(&self, role: Role) -> bool {
        self.caller.with_value(|c| c.as_ref().is_some_and(|c| c.may(role)))
    }

    /// Why the caller may not do what needs `needed` ("switch outlets"), if not.
    pub fn refusal(&self, needed: Role, what: &str) -> Option<String> {
        self.caller.with_value(|c| role_refusal(c.as_ref(), needed, what))
    }

    /// A server function's error in words; a 401 also marks the session
    /// as ended, which the page shows with a link to sign in again.
    pub fn explain(&self, error: &ApiError) -> String {
        match error {
            ApiError::Unauthorized(_) => {
                self.session_ended.set(true);
                "Your session ended — sign in again.".to_owned()
            }
            ApiError::Forbidden { message, .. } => format!("Refused: {message}"),
            other => other.to_string(),
        }
    }

    /// How far the values of the PDU on screen can be trusted (reactive).
    pub fn trust(&self) -> Trust {
        if self.link.get() == LinkState::Reconnecting {
            return Trust::NoLink { since_ms: self.link_down_since.get() };
        }
        let Some((connection, read_ms, interval_ms)) =
            self.read(|s| (s.connection.clone(), s.ts_ms, s.poll_interval_ms))
        else {
            return Trust::Live;
        };
        match connection {
            Connection::Unreachable { since_ms, reason } => Trust::Unreachable { since_ms, reason },
            Connection::Stale { since_ms, reason } => Trust::Stale { since_ms, reason },
            Connection::Online => {
                // Only the browser's clock can tell: the server renders the
                // values it has just read.
                let late_after = (5 * interval_ms).max(10_000);
                if self.hydrated.get() && self.now_ms.get().saturating_sub(read_ms) > late_after {
                    Trust::Lagging { read_ms }
                } else {
                    Trust::Live
                }
            }
        }
    }

    /// The rule whose deletion a form post asked to confirm.
    pub fn confirm_rule_delete(&self) -> Option<String> {
        self.confirm_rule.get_value()
    }

    /// The configured PDU behind `id`, if the bridge listed it.
    pub fn info(&self, id: &DeviceId) -> Option<PduInfo> {
        self.pdus.with(|all| all.iter().find(|p| &p.device_id == id).cloned())
    }

    /// Replace (or add) one PDU's snapshot.
    pub fn upsert(&self, snapshot: PduSnapshot) {
        self.snapshots.update(|all| match all.iter_mut().find(|s| s.device_id == snapshot.device_id) {
            Some(slot) => *slot = snapshot,
            None => all.push(snapshot),
        });
    }

    /// The rules of the PDU on screen.
    pub fn current_rules(&self) -> Vec<RuleStatus> {
        let Some(id) = self.current_id.get() else { return Vec::new() };
        self.rules.with(|all| all.iter().find(|u| u.device_id == id).map(|u| u.rules.clone()).unwrap_or_default())
    }

    /// Replace one PDU's rules (a pushed update).
    pub fn set_rules(&self, update: RulesUpdate) {
        self.rules.update(|all| match all.iter_mut().find(|u| u.device_id == update.device_id) {
            Some(slot) => *slot = update,
            None => all.push(update),
        });
    }

    /// Change the rules of the PDU on screen in place.
    fn edit_rules(&self, f: impl FnOnce(&mut Vec<RuleStatus>)) {
        let Some(device_id) = self.current_id.get_untracked() else { return };
        self.rules.update(|all| match all.iter_mut().find(|u| u.device_id == device_id) {
            Some(update) => f(&mut update.rules),
            None => {
                let mut rules = Vec::new();
                f(&mut rules);
                all.push(RulesUpdate { device_id, rules, file_error: None });
            }
        });
    }

    /// Apply one rule's new status to the PDU on screen.
    pub fn upsert_rule(&self, status: RuleStatus) {
        self.edit_rules(|rules| match rules.iter_mut().find(|r| r.rule.name == status.rule.name) {
            Some(slot) => *slot = status,
            None => rules.push(status),
        });
    }

    pub fn remove_rule(&self, name: &str) {
        self.edit_rules(|rules| rules.retain(|r| r.rule.name != name));
    }

    /// Why the rules file of the PDU on screen was refused, if it was.
    pub fn rules_file_error(&self) -> Option<String> {
        let id = self.current_id.get()?;
        self.rules.with(|all| all.iter().find(|u| u.device_id == id).and_then(|u| u.file_error.clone()))
    }

    pub fn push_event(&self, event: Event) {
        self.events.update(|all| {
            all.insert(0, event);
            all.truncate(EVENTS_SHOWN);
        });
    }

    /// One value of the PDU on screen, `None` before the first reading.
    pub fn read<T>(&self, f: impl FnOnce(&PduSnapshot) -> T) -> Option<T> {
        self.current.with(|s| s.as_ref().map(f))
    }

    /// A reactive text drawn from the PDU on screen ("—" before any data).
    pub fn text(
        self,
        f: impl Fn(&PduSnapshot) -> String + Copy + Send + Sync + 'static,
    ) -> impl Fn() -> String + Copy + Send + Sync + 'static {
        move || self.read(f).unwrap_or_else(|| "—".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_outlet_comes_from_the_query() {
        assert_eq!(outlet_from_query("?range=7d&outlet=4"), 4);
        assert_eq!(outlet_from_query("range=7d"), 0);
        assert_eq!(outlet_from_query("outlet=x"), 0);
        assert_eq!(custom_from_query("?start=100&end=200&outlet=2"), Some((100, 200)));
        assert_eq!(custom_from_query("?start=200&end=100"), None);
    }

    #[test]
    fn a_role_that_may_not_says_so_in_words() {
        let caller = |role, kind| Caller { name: "ann".into(), kind, role, from: None };
        let viewer = caller(Role::Viewer, CallerKind::User);
        assert_eq!(
            role_refusal(Some(&viewer), Role::Operator, "switch outlets").as_deref(),
            Some("Your role (viewer) may look but not switch outlets.")
        );
        assert_eq!(role_refusal(Some(&caller(Role::Operator, CallerKind::User)), Role::Operator, "x"), None);
        let anonymous = caller(Role::Viewer, CallerKind::Anonymous);
        assert!(role_refusal(Some(&anonymous), Role::Operator, "x").unwrap().contains("without signing in"));
        assert_eq!(View::from_path("/access/"), View::Access);
        assert_eq!(View::from_path("/"), View::Dashboard);
        assert_eq!(View::from_path("/fleet"), View::Fleet);
        assert_eq!(View::from_path("/alarms/"), View::Alarms);
        assert_eq!(View::from_path("/pdu/rack1-a"), View::Dashboard);
        assert_eq!(login_url("/access?x=1"), "/login?next=/access%3Fx%3D1");
    }

    #[test]
    fn the_address_names_the_pdu_on_screen() {
        assert_eq!(AddressedPdu::from_path("/"), AddressedPdu(None));
        assert_eq!(AddressedPdu::from_path("/fleet"), AddressedPdu(None));
        assert_eq!(AddressedPdu::from_path("/pdu/rack1-a"), AddressedPdu(Some("rack1-a".into())));
        assert_eq!(AddressedPdu::from_path("/pdu/rack1-a/"), AddressedPdu(Some("rack1-a".into())));
        assert_eq!(AddressedPdu::from_path("/pdu/Rack%201+x"), AddressedPdu(Some("Rack 1+x".into())));
        assert_eq!(View::pdu_path(&DeviceId::parse("lab").unwrap()), "/pdu/lab");
        assert_eq!(AddressedPdu::from_path("/pdu/lab/settings"), AddressedPdu(Some("lab".into())));
        assert_eq!(AddressedPdu::from_path("/settings"), AddressedPdu(None));
        assert_eq!(View::settings_path(&DeviceId::parse("lab").unwrap()), "/pdu/lab/settings");
        assert_eq!(View::from_path("/pdu/lab/settings"), View::Settings);
        assert_eq!(View::from_path("/settings/"), View::Settings);
        assert_eq!(View::from_path("/pdu/settings"), View::Dashboard, "a PDU whose id is `settings`");
    }

    #[test]
    fn a_pdu_removed_while_its_page_is_open_is_said_to_be_gone() {
        let info = |id: &str| PduInfo {
            device_id: DeviceId::parse(id).unwrap(),
            label: id.into(),
            address: None,
            simulated: true,
            last_error: None,
            protected: vec![],
            rack: None,
            feed: None,
            disabled: false,
        };
        // Signals live in an owner's arena (with the server's features, a
        // sandboxed one must be active).
        let owner = Owner::new();
        owner.with(|| {
            let dash =
                Dashboard::from_initial(InitialState { pdus: vec![info("a"), info("b")], ..InitialState::default() });
            assert_eq!(dash.current_id.get_untracked().unwrap().as_str(), "a", "`/` shows the first PDU");
            let addressed = AddressedPdu::from_path("/pdu/b");
            dash.select(&addressed);
            assert_eq!(dash.current_id.get_untracked().unwrap().as_str(), "b");
            assert_eq!(dash.unknown(&addressed), None);
            assert_eq!(dash.unknown(&AddressedPdu::from_path("/pdu/Not%20an%20id")).as_deref(), Some("Not an id"));
            dash.set_pdus(vec![info("a")]);
            assert_eq!(dash.unknown(&addressed).as_deref(), Some("b"));
        });
    }

    #[test]
    fn the_address_opens_the_rule_editor() {
        assert_eq!(rule_editor_from_query("?editor=new", &[]), Some(RuleDraft::new()));
        assert_eq!(rule_editor_from_query("?editor=edit&rule=gone", &[]), None);
        assert_eq!(rule_editor_from_query("?rule=new", &[]), None, "a rule name alone opens nothing");
        let back =
            rule_editor_from_query("editor=check&name=Shed+NAS&condition=load_above&bank=2&value=9%2C5", &[]).unwrap();
        assert!(back.show_errors);
        assert_eq!((back.name.as_str(), back.input, back.value.as_str()), ("Shed NAS", 2, "9,5"));
    }

    #[test]
    fn form_redirects_become_a_confirmation_or_fixed_words() {
        let (confirm, _, outcome) = forms_from_query("?confirm=outlet&device_id=pdu&o=3&action=off", &[]);
        let confirm = confirm.unwrap();
        assert_eq!((confirm.outlet, confirm.action), (3, OutletAction::Off));
        assert!(outcome.is_none());
        let (_, _, outcome) = forms_from_query("done=outlet&o=7&action=reboot&state=off&pending=1", &[]);
        assert!(outcome.unwrap().text.contains("comes back on by itself"));
        let (_, _, outcome) = forms_from_query("failed=outlet&o=2&action=off&code=503", &[]);
        let outcome = outcome.unwrap();
        assert!(!outcome.ok && outcome.text.contains("unreachable"), "{}", outcome.text);
        let (_, _, outcome) = forms_from_query("done=rule&rule=%3Cb%3E&what=deleted", &[]);
        assert!(outcome.is_none(), "a name that is not a rule name is not shown");
        let (_, _, outcome) = forms_from_query("done=rule&rule=shed-nas&what=deleted", &[]);
        assert_eq!(outcome.unwrap().text, "Rule “shed-nas” deleted.");
        let (_, rule, _) = forms_from_query("confirm=rule-delete&rule=shed-nas", &[]);
        assert_eq!(rule.as_deref(), Some("shed-nas"));
        let (_, rule, _) = forms_from_query("confirm=rule-delete&rule=Night+shed+2", &[]);
        assert_eq!(rule.as_deref(), Some("Night shed 2"));
        let (_, _, outcome) = forms_from_query("done=rule&rule=Night%20shed%202&what=enabled", &[]);
        assert_eq!(outcome.unwrap().text, "Rule “Night shed 2” enabled.");
        let (_, _, outcome) = forms_from_query("failed=rule&rule=Night%2Fshed&code=404", &[]);
        assert_eq!(outcome.unwrap().text, "The change: not done, no such outlet, rule or PDU.");
        let (_, _, outcome) = forms_from_query("done=alarm&id=17", &[]);
        let outcome = outcome.unwrap();
        assert_eq!((outcome.panel.as_str(), outcome.ok, outcome.text.as_str()), ("alarm", true, "Alarm acknowledged."));
        let (_, _, outcome) = forms_from_query("failed=alarm&code=409", &[]);
        assert_eq!(outcome.unwrap().text, "The alarm was not acknowledged: it has already cleared.");
    }
}
