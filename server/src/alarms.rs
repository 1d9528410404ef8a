//! Alarms: what is wrong now with a PDU or with the bridge itself, who has
//! acknowledged it, and what was wrong before.
//!
//! Owns: deciding what is an alarm ([`found_in`] reads a snapshot; the
//! bridge's own conditions come from its history store), the active and
//! recent alarms ([`Registry`], a pure state machine), and telling people:
//! an event for every raise, acknowledgement and clear, a notification
//! ([`crate::notifications`]), and a change the dashboard's stream and MQTT
//! follow ([`Alarms::subscribe`], [`Alarms::changes`]). Does not own: the
//! readings (the poller), delivery (the notifier) or who may acknowledge
//! (the web layer checks the role and writes the audit line).
//!
//! The one thing to know: an alarm is raised at the first snapshot that
//! shows its condition and cleared only after the condition has been absent
//! for [`CLEAR_AFTER`], so a bank hovering at its threshold or a flickering
//! input gives one alarm, not one a second. Missing data is not a clear: a
//! PDU that stops answering raises `pdu_unreachable` and keeps its other
//! alarms as they were until it answers again.
//!
//! The list is kept in `alarms.json` in the data folder ([`keep`]) and taken
//! back at start ([`Alarms::restore_from`]): an alarm still true after a
//! restart keeps its id and acknowledgement and is not announced again.

use crate::clock::{unix_ms, unix_secs};
use crate::events::EventSink;
use crate::history::store::Store;
use crate::notifications::{Notification, NotificationState, Notifier};
use app::alarms::{Acknowledgement, Alarm, AlarmKind, AlarmList, Severity};
use app::model::{Connection, DeviceId, Event, LoadState, PduSnapshot, PsuState, RangeStatus, Redundancy};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a condition must stay away before its alarm clears.
pub const CLEAR_AFTER: Duration = Duration::from_secs(15);
/// Past alarms kept for the list (older ones are in the event history).
pub const PAST_KEPT: usize = 200;
/// How often the bridge's own conditions are looked at and quiet alarms cleared.
const TICK: Duration = Duration::from_secs(1);

/// A condition seen now.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub kind: AlarmKind,
    pub subject: Option<u32>,
    pub rule: Option<String>,
    pub severity: Severity,
    pub title: String,
    pub details: String,
}

impl Found {
    fn new(kind: AlarmKind, subject: Option<u32>, severity: Severity, title: String, details: String) -> Self {
        Found { kind, subject, rule: None, severity, title, details }
    }
}

/// Which kinds one look could judge: a snapshot of an unreachable PDU says
/// nothing about its banks, a stale one nothing at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    Nothing,
    Reachability,
    Readings,
    Bridge,
}

impl Judged {
    fn covers(self, kind: AlarmKind) -> bool {
        match self {
            Judged::Nothing => false,
            Judged::Reachability => kind == AlarmKind::PduUnreachable,
            Judged::Readings => !matches!(kind, AlarmKind::Rule | AlarmKind::HistoryWriteFailing),
            Judged::Bridge => kind == AlarmKind::HistoryWriteFailing,
        }
    }
}

/// The alarm conditions one snapshot shows, and which kinds it could judge.
pub fn found_in(s: &PduSnapshot) -> (Vec<Found>, Judged) {
    use AlarmKind::*;
    match &s.connection {
        Connection::Unreachable { reason, .. } => {
            let found = Found::new(
                PduUnreachable,
                None,
                Severity::Critical,
                "PDU unreachable".into(),
                format!("the PDU stopped answering: {reason}"),
            );
            return (vec![found], Judged::Reachability);
        }
        Connection::Stale { .. } => return (Vec::new(), Judged::Nothing),
        Connection::Online => {}
    }
    let mut out = Vec::new();
    for bank in &s.banks {
        let amps = bank.current.map(|a| format!("{a:.1} A")).unwrap_or_else(|| "load unknown".into());
        let limit = bank.max_load_amps.map(|m| format!(" (limit {m:.0} A)")).unwrap_or_default();
        let (kind, severity, what) = match bank.load_state {
            Some(LoadState::Overload) => (BankOverload, Severity::Critical, "overload"),
            Some(LoadState::NearOverload) => (BankNearOverload, Severity::Warning, "near overload"),
            Some(LoadState::Low) => (BankLowLoad, Severity::Info, "low load"),
            _ => continue,
        };
        let details = format!("bank {} draws {amps}{limit}; the PDU reports {what}", bank.number);
        out.push(Found::new(kind, Some(bank.number), severity, format!("Bank {} {what}", bank.number), details));
    }
    if let Some(ats) = &s.ats {
        for source in &ats.sources {
            let bad = |status: Option<RangeStatus>, what: &str, value: Option<f64>, unit: &str| {
                let status = status.filter(|st| *st != RangeStatus::Normal)?;
                let value = value.map(|v| format!(" ({v:.1} {unit})")).unwrap_or_default();
                Some(format!("{what} {} range{value}", status.label()))
            };
            let problems: Vec<String> = [
                bad(source.voltage_status, "voltage", source.voltage, "V"),
                bad(source.frequency_status, "frequency", source.frequency, "Hz"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !problems.is_empty() {
                let letter = source.source.letter();
                let number = if source.source == app::model::Source::A { 1 } else { 2 };
                out.push(Found::new(
                    SourceOutOfRange,
                    Some(number),
                    Severity::Warning,
                    format!("Source {letter} out of range"),
                    format!("input {letter}: {}", problems.join(", ")),
                ));
            }
        }
        if ats.redundancy == Some(Redundancy::Lost) {
            let feeding = ats.selected.map(|s| format!("source {} alone", s.letter())).unwrap_or("no source".into());
            out.push(Found::new(
                RedundancyLost,
                None,
                Severity::Warning,
                "Redundancy lost".into(),
                format!("only one input can feed the load; it runs on {feeding}"),
            ));
        }
    }
    for psu in &s.sensors.power_supplies {
        if psu.state == PsuState::Failed {
            out.push(Found::new(
                PsuFailed,
                Some(psu.number),
                Severity::Critical,
                format!("Power supply {} failed", psu.number),
                format!("the PDU reports power supply {} failed", psu.number),
            ));
        }
    }
    if let Some(env) = &s.sensors.environment {
        let mut range = |kind, what: &str, value: Option<f64>, low: Option<f64>, high: Option<f64>, unit: &str| {
            let Some(v) = value else { return };
            let (word, limit) = match (low, high) {
                (_, Some(h)) if v > h => ("above", h),
                (Some(l), _) if v < l => ("below", l),
                _ => return,
            };
            out.push(Found::new(
                kind,
                None,
                Severity::Warning,
                format!("{} out of range", capitalised(what)),
                format!("{what} {v:.1} {unit} is {word} {limit:.0} {unit}"),
            ));
        };
        range(
            TemperatureOutOfRange,
            "temperature",
            env.temperature_c,
            env.temperature_low_c,
            env.temperature_high_c,
            "°C",
        );
        range(HumidityOutOfRange, "humidity", env.humidity, env.humidity_low, env.humidity_high, "%");
        for contact in &env.contacts {
            if contact.abnormal {
                let name = contact.name.clone().unwrap_or_else(|| format!("Contact {}", contact.number));
                let state = match contact.open {
                    Some(true) => "open",
                    Some(false) => "closed",
                    None => "in an unknown state",
                };
                out.push(Found::new(
                    ContactAbnormal,
                    Some(contact.number),
                    Severity::Warning,
                    format!("{name}: not in its normal state"),
                    format!("contact {} ({name}) is {state}, not in its normal state", contact.number),
                ));
            }
        }
    }
    (out, Judged::Readings)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What happened to an alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Raised,
    Acknowledged,
    Cleared,
}

impl Change {
    /// The event kind it is recorded under.
    pub fn event_kind(self) -> &'static str {
        match self {
            Change::Raised => "alarm_raised",
            Change::Acknowledged => "alarm_acknowledged",
            Change::Cleared => "alarm_cleared",
        }
    }
}

/// One alarm as it changed (MQTT's `alarm` topic carries this).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    pub change: Change,
    pub alarm: Alarm,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlarmError {
    #[error("there is no alarm {0}")]
    NotFound(u64),
    #[error("alarm {0} has already cleared; only active alarms are acknowledged")]
    Cleared(u64),
}

struct Tracked {
    alarm: Alarm,
    /// Since when its condition has been absent, while it is.
    quiet_since: Option<Instant>,
}

/// The active and past alarms: a state machine with no I/O. `now` is for
/// the clearing delay, `wall` (unix seconds) is what alarms are stamped with.
pub struct Registry {
    active: BTreeMap<String, Tracked>,
    past: VecDeque<Alarm>,
    next_id: u64,
}

impl Registry {
    /// Alarm ids start from `first_id` (the start time in ms, so they stay
    /// unique across restarts for receivers that de-duplicate by id).
    pub fn new(first_id: u64) -> Self {
        Registry { active: BTreeMap::new(), past: VecDeque::new(), next_id: first_id.max(1) }
    }

    /// Take one look at `device` (`None`: the bridge itself): conditions in
    /// `found` are raised if new; active alarms of the kinds `judged` covers
    /// that are not in `found` start (or continue) their way to clearing.
    pub fn judge(
        &mut self,
        device: Option<&DeviceId>,
        judged: Judged,
        found: Vec<Found>,
        now: Instant,
        wall: f64,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for f in found {
            let alarm = self.alarm(device, f, wall);
            let key = alarm.key();
            match self.active.get_mut(&key) {
                Some(tracked) => tracked.quiet_since = None,
                None => {
                    out.push(Transition { change: Change::Raised, alarm: alarm.clone() });
                    self.active.insert(key.clone(), Tracked { alarm, quiet_since: None });
                }
            }
            seen.push(key);
        }
        for (key, tracked) in self.active.iter_mut() {
            let a = &tracked.alarm;
            if a.device_id.as_ref() == device && judged.covers(a.kind) && !seen.contains(key) {
                tracked.quiet_since.get_or_insert(now);
            }
        }
        out.extend(self.expire(now, wall));
        out
    }

    /// Take back the alarms kept before a restart, ids, raise times and
    /// acknowledgements as they were. Nothing is announced: the next looks
    /// decide. An alarm whose condition is gone clears after its quiet
    /// spell; a rule's alarm clears unless its rule raises it again within
    /// [`CLEAR_AFTER`] (the rule may be gone from the file by now).
    pub fn restore(&mut self, kept: AlarmList, now: Instant) {
        let (active, cleared): (Vec<Alarm>, Vec<Alarm>) = kept.active.into_iter().partition(Alarm::is_active);
        for alarm in active {
            self.next_id = self.next_id.max(alarm.id.saturating_add(1));
            let quiet_since = (alarm.kind == AlarmKind::Rule).then_some(now);
            self.active.entry(alarm.key()).or_insert(Tracked { alarm, quiet_since });
        }
        for alarm in cleared.into_iter().chain(kept.past).filter(|a| !a.is_active()) {
            self.next_id = self.next_id.max(alarm.id.saturating_add(1));
            if self.past.len() < PAST_KEPT {
                self.past.push_back(alarm);
            }
        }
    }

    /// Raise a rule's alarm at once (`notify` rules have their own delays).
    pub fn raise_rule(&mut self, device: &DeviceId, rule: &str, details: String, wall: f64) -> Vec<Transition> {
        let found = Found {
            kind: AlarmKind::Rule,
            subject: None,
            rule: Some(rule.to_owned()),
            severity: Severity::Warning,
            title: format!("Rule {rule}"),
            details,
        };
        let alarm = self.alarm(Some(device), found, wall);
        let key = alarm.key();
        if let Some(kept) = self.active.get_mut(&key) {
            // Raised before a restart: the rule still holds, it stays.
            kept.quiet_since = None;
            return Vec::new();
        }
        self.active.insert(key, Tracked { alarm: alarm.clone(), quiet_since: None });
        vec![Transition { change: Change::Raised, alarm }]
    }

    /// Clear a rule's alarm at once, if it is active.
    pub fn clear_rule(&mut self, device: &DeviceId, rule: &str, wall: f64) -> Vec<Transition> {
        let key = format!("{device}/{}/{rule}", AlarmKind::Rule);
        self.clear(&key, wall).into_iter().collect()
    }

    /// Clear at once every alarm of a PDU that is no longer watched.
    pub fn forget(&mut self, keep: &[DeviceId], wall: f64) -> Vec<Transition> {
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(_, t)| t.alarm.device_id.as_ref().is_some_and(|d| !keep.contains(d)))
            .map(|(k, _)| k.clone())
            .collect();
        gone.iter().filter_map(|k| self.clear(k, wall)).collect()
    }

    /// Clear the alarms whose condition has been absent for [`CLEAR_AFTER`].
    pub fn expire(&mut self, now: Instant, wall: f64) -> Vec<Transition> {
        let due: Vec<String> = self
            .active
            .iter()
            .filter(|(_, t)| t.quiet_since.is_some_and(|since| now.duration_since(since) >= CLEAR_AFTER))
            .map(|(k, _)| k.clone())
            .collect();
        due.iter().filter_map(|k| self.clear(k, wall)).collect()
    }

    /// Acknowledge active alarm `id`; acknowledging twice keeps the first.
    /// `Ok((alarm, true))` when this call acknowledged it.
    pub fn acknowledge(&mut self, id: u64, by: &str, wall: f64) -> Result<(Alarm, bool), AlarmError> {
        if let Some(t) = self.active.values_mut().find(|t| t.alarm.id == id) {
            if t.alarm.acknowledged.is_some() {
                return Ok((t.alarm.clone(), false));
            }
            t.alarm.acknowledged = Some(Acknowledgement { by: by.to_owned(), at: wall });
            return Ok((t.alarm.clone(), true));
        }
        if self.past.iter().any(|a| a.id == id) {
            return Err(AlarmError::Cleared(id));
        }
        Err(AlarmError::NotFound(id))
    }

    /// Active alarms, most severe first, then newest; past ones newest first.
    pub fn list(&self) -> AlarmList {
        let mut active: Vec<Alarm> = self.active.values().map(|t| t.alarm.clone()).collect();
        active.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.raised_at.total_cmp(&a.raised_at)));
        AlarmList { active, past: self.past.iter().cloned().collect() }
    }

    fn alarm(&mut self, device: Option<&DeviceId>, f: Found, wall: f64) -> Alarm {
        let alarm = Alarm {
            id: self.next_id,
            device_id: device.cloned(),
            kind: f.kind,
            subject: f.subject,
            rule: f.rule,
            severity: f.severity,
            title: f.title,
            details: f.details,
            raised_at: wall,
            acknowledged: None,
            cleared_at: None,
        };
        // Only an alarm that is raised uses its number up.
        if !self.active.contains_key(&alarm.key()) {
            self.next_id += 1;
        }
        alarm
    }

    fn clear(&mut self, key: &str, wall: f64) -> Option<Transition> {
        let mut alarm = self.active.remove(key)?.alarm;
        alarm.cleared_at = Some(wall);
        if self.past.len() == PAST_KEPT {
            self.past.pop_back();
        }
        self.past.push_front(alarm.clone());
        Some(Transition { change: Change::Cleared, alarm })
    }
}

/// The alarms of the running bridge and where their changes go.
pub struct Alarms {
    registry: Mutex<Registry>,
    events: Arc<EventSink>,
    /// Set once at start, when the notification settings are known.
    notifier: OnceLock<Notifier>,
    /// Every transition, for MQTT's `alarm` topic.
    transitions: broadcast::Sender<Transition>,
    /// Bumped on every transition: the dashboard's stream sends the list again.
    version: watch::Sender<u64>,
}

impl Alarms {
    pub fn new(events: Arc<EventSink>) -> Self {
        Alarms {
            registry: Mutex::new(Registry::new(unix_ms())),
            events,
            notifier: OnceLock::new(),
            transitions: broadcast::channel(256).0,
            version: watch::channel(0).0,
        }
    }

    /// Send notifications through `notifier` from now on.
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    /// The notifier, for its counters and a test message.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.get()
    }

    pub fn list(&self) -> AlarmList {
        self.lock().list()
    }

    /// Every transition from now on; a slow reader skips ahead (the list,
    /// from [`Alarms::list`], is always complete).
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    /// A number that changes whenever any alarm does.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Take back the list kept in `path` (see [`keep`]). A file that cannot
    /// be read is moved aside as `….unreadable`, never overwritten, and
    /// said so in the log and the events. Returns how many alarms came back.
    pub fn restore_from(&self, path: &Path) -> usize {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => return self.refuse_kept(path, &e.to_string()),
        };
        match serde_json::from_str::<AlarmList>(&text) {
            Ok(kept) => {
                let n = kept.active.len() + kept.past.len();
                self.lock().restore(kept, Instant::now());
                self.version.send_modify(|v| *v += 1);
                n
            }
            Err(e) => self.refuse_kept(path, &e.to_string()),
        }
    }

    fn refuse_kept(&self, path: &Path, problem: &str) -> usize {
        let aside = path.with_extension("json.unreadable");
        let moved = match std::fs::rename(path, &aside) {
            Ok(()) => format!("moved aside to {}", aside.display()),
            Err(e) => format!("and could not be moved aside: {e}"),
        };
        let details = format!("the kept alarm list {} could not be read ({problem}); {moved}", path.display());
        tracing::error!("{details}; starting with no past alarms");
        self.events.record(Event::new(unix_secs(), bridge_id(), "alarms_file_refused", details));
        0
    }

    /// Look at one snapshot.
    pub fn observe(&self, snapshot: &PduSnapshot, now: Instant) {
        let (found, judged) = found_in(snapshot);
        let done = self.lock().judge(Some(&snapshot.device_id), judged, found, now, unix_secs());
        self.publish(done);
    }

    /// Look at the bridge's own conditions (`found`: those present now).
    pub fn observe_bridge(&self, found: Vec<Found>, now: Instant) {
        let done = self.lock().judge(None, Judged::Bridge, found, now, unix_secs());
        self.publish(done);
    }

    /// Raise `pdu_unreachable` for PDUs that have never answered, clear what
    /// has been quiet long enough and the alarms of PDUs no longer watched.
    pub fn tick(&self, watched: &[Watched], now: Instant) {
        let done = {
            let mut registry = self.lock();
            let mut done = Vec::new();
            for w in watched {
                if let Some(reason) = &w.never_answered {
                    let found = Found::new(
                        AlarmKind::PduUnreachable,
                        None,
                        Severity::Critical,
                        "PDU unreachable".into(),
                        format!("the PDU has never answered: {reason}"),
                    );
                    done.extend(registry.judge(Some(&w.id), Judged::Reachability, vec![found], now, unix_secs()));
                }
            }
            done.extend(registry.expire(now, unix_secs()));
            let ids: Vec<DeviceId> = watched.iter().map(|w| w.id.clone()).collect();
            done.extend(registry.forget(&ids, unix_secs()));
            done
        };
        self.publish(done);
    }

    /// A `notify` rule fired.
    pub fn raise_rule(&self, device: &DeviceId, rule: &str, details: String) {
        let done = self.lock().raise_rule(device, rule, details, unix_secs());
        self.publish(done);
    }

    /// A `notify` rule's condition cleared, or the rule was disabled or deleted.
    pub fn clear_rule(&self, device: &DeviceId, rule: &str) {
        let done = self.lock().clear_rule(device, rule, unix_secs());
        self.publish(done);
    }

    /// Acknowledge alarm `id` as `by` (`user ann`); whether this call did
    /// (`false`: someone had already, and the first acknowledgement stays).
    pub fn acknowledge(&self, id: u64, by: &str) -> Result<(Alarm, bool), AlarmError> {
        let (alarm, new) = self.lock().acknowledge(id, by, unix_secs())?;
        if new {
            self.publish(vec![Transition { change: Change::Acknowledged, alarm: alarm.clone() }]);
        }
        Ok((alarm, new))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tell everyone: events, notifications, MQTT and the dashboard.
    fn publish(&self, done: Vec<Transition>) {
        if done.is_empty() {
            return;
        }
        for t in done {
            let a = &t.alarm;
            let device = a.device_id.clone().unwrap_or_else(bridge_id);
            let details = match (t.change, &a.acknowledged) {
                (Change::Acknowledged, Some(ack)) => format!("{}: acknowledged by {}", a.title, ack.by),
                (Change::Cleared, _) => format!("{}: cleared", a.title),
                _ => format!("{} ({}): {}", a.title, a.severity, a.details),
            };
            let mut event = Event::new(unix_secs(), device, t.change.event_kind(), details);
            event.rule.clone_from(&a.rule);
            self.events.record(event);
            if let Some(notifier) = self.notifier.get() {
                notifier.send(notification(&t));
            }
            let _ = self.transitions.send(t);
        }
        self.version.send_modify(|v| *v += 1);
    }
}

/// The device id the bridge's own alarms are recorded under in events.
fn bridge_id() -> DeviceId {
    DeviceId::parse("bridge").expect("a valid id")
}

/// What is sent to the webhook and by e-mail.
pub fn notification(t: &Transition) -> Notification {
    let a = &t.alarm;
    let place = a.device_id.as_ref().map(DeviceId::as_str).unwrap_or("bridge");
    let (state, message) = match (t.change, &a.acknowledged) {
        (Change::Raised, _) => (NotificationState::Raised, a.details.clone()),
        (Change::Acknowledged, Some(ack)) => {
            (NotificationState::Acknowledged, format!("acknowledged by {}; still active: {}", ack.by, a.details))
        }
        (Change::Acknowledged, None) => (NotificationState::Acknowledged, a.details.clone()),
        (Change::Cleared, _) => (NotificationState::Cleared, format!("cleared; it was: {}", a.details)),
    };
    Notification {
        device_id: a.device_id.as_ref().map(|d| d.as_str().to_owned()),
        alarm: a.kind.key().to_owned(),
        severity: a.severity,
        state,
        title: format!("{place}: {}", a.title),
        message,
        ts: unix_ms() as i64,
        id: a.id,
    }
}

/// The bridge's own conditions: the history store failing writes or off.
pub fn bridge_conditions(history: Option<&Store>, history_off: Option<&str>) -> Vec<Found> {
    let why = match (history, history_off) {
        (Some(store), _) => match store.write_health().failing {
            Some((since_ms, why)) => {
                let secs = unix_ms().saturating_sub(since_ms) / 1000;
                format!("readings cannot be written to the history store for {secs} s: {why}")
            }
            None => return Vec::new(),
        },
        (None, Some(off)) => format!("history is off: {off}"),
        (None, None) => return Vec::new(),
    };
    vec![Found::new(AlarmKind::HistoryWriteFailing, None, Severity::Critical, "History write failing".into(), why)]
}

/// A PDU the bridge watches, as the alarm task sees it once a second.
#[derive(Clone, Debug, PartialEq)]
pub struct Watched {
    pub id: DeviceId,
    /// Why its polls fail, when it has never answered and has missed at
    /// least as many polls as make a known PDU unreachable; such a PDU
    /// sends no snapshot to judge.
    pub never_answered: Option<String>,
}

/// The alarm task: every snapshot is looked at, and once a second the
/// bridge's own conditions, quiet alarms and removed PDUs, until `shutdown`.
pub async fn run(
    alarms: Arc<Alarms>,
    mut snapshots: broadcast::Receiver<Arc<PduSnapshot>>,
    watched: impl Fn() -> Vec<Watched> + Send + 'static,
    history: Option<Arc<Store>>,
    history_off: Option<String>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            received = snapshots.recv() => match received {
                Ok(snapshot) => alarms.observe(&snapshot, Instant::now()),
                // Alarms follow state: the next snapshot says what is true.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                alarms.observe_bridge(bridge_conditions(history.as_deref(), history_off.as_deref()), now);
                alarms.tick(&watched(), now);
            }
        }
    }
}

/// Keep the alarm list in `path` whenever it changes, and once more at
/// `shutdown`, so a restart takes it back ([`Alarms::restore_from`]).
pub async fn keep(alarms: Arc<Alarms>, path: PathBuf, shutdown: CancellationToken) {
    let mut changes = alarms.changes();
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            changed = changes.changed() => changed.is_err(),
        };
        let text = serde_json::to_vec_pretty(&alarms.list()).unwrap_or_default();
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || crate::fsutil::write_atomically(&target, &text)).await;
        match written {
            Ok(Ok(())) => failing = false,
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::error!(path = %path.display(), error = %e, "cannot keep the alarm list; it lives in memory only");
            }
            _ => {}
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;

    fn id() -> DeviceId {
        DeviceId::parse("rack-a").unwrap()
    }

    fn normal() -> PduSnapshot {
        SimModel::new(1, Instant::now()).snapshot(&id(), Instant::now())
    }

    fn overloaded(bank: u32) -> PduSnapshot {
        let mut s = normal();
        s.banks.iter_mut().find(|b| b.number == bank).unwrap().load_state = Some(LoadState::Overload);
        s
    }

    fn unreachable() -> PduSnapshot {
        let mut s = normal();
        s.connection = Connection::Unreachable { since_ms: 0, reason: "timed out".into() };
        s
    }

    fn changes(ts: &[Transition]) -> Vec<(Change, String)> {
        ts.iter().map(|t| (t.change, t.alarm.key())).collect()
    }

    #[test]
    fn the_simulated_pdu_at_rest_has_no_alarm() {
        let (found, judged) = found_in(&normal());
        assert_eq!(found, Vec::new());
        assert_eq!(judged, Judged::Readings);
    }

    #[test]
    fn each_pdu_state_is_found_with_words_and_a_severity() {
        let mut s = normal();
        s.banks[0].load_state = Some(LoadState::NearOverload);
        s.banks[1].load_state = Some(LoadState::Low);
        let ats = s.ats.as_mut().unwrap();
        ats.redundancy = Some(Redundancy::Lost);
        ats.sources[1].voltage_status = Some(RangeStatus::Under);
        ats.sources[1].voltage = Some(96.0);
        s.sensors.power_supplies = vec![
            app::model::PowerSupply { number: 1, state: PsuState::Ok },
            app::model::PowerSupply { number: 2, state: PsuState::Failed },
        ];
        s.sensors.environment = Some(app::model::Environment {
            temperature_c: Some(41.0),
            temperature_high_c: Some(35.0),
            humidity: Some(50.0),
            humidity_high: Some(80.0),
            contacts: vec![app::model::Contact {
                number: 1,
                name: Some("Rack door".into()),
                open: Some(true),
                abnormal: true,
            }],
            ..Default::default()
        });
        let (found, _) = found_in(&s);
        let got: Vec<(AlarmKind, Option<u32>, Severity, &str)> =
            found.iter().map(|f| (f.kind, f.subject, f.severity, f.title.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (AlarmKind::BankNearOverload, Some(1), Severity::Warning, "Bank 1 near overload"),
                (AlarmKind::BankLowLoad, Some(2), Severity::Info, "Bank 2 low load"),
                (AlarmKind::SourceOutOfRange, Some(2), Severity::Warning, "Source B out of range"),
                (AlarmKind::RedundancyLost, None, Severity::Warning, "Redundancy lost"),
                (AlarmKind::PsuFailed, Some(2), Severity::Critical, "Power supply 2 failed"),
                (AlarmKind::TemperatureOutOfRange, None, Severity::Warning, "Temperature out of range"),
                (AlarmKind::ContactAbnormal, Some(1), Severity::Warning, "Rack door: not in its normal state"),
            ]
        );
        assert_eq!(found[2].details, "input B: voltage under range (96.0 V)");
        assert_eq!(found[5].details, "temperature 41.0 °C is above 35 °C");
    }

    #[test]
    fn an_unreachable_pdu_judges_only_its_reachability() {
        let (found, judged) = found_in(&unreachable());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, AlarmKind::PduUnreachable);
        assert_eq!(found[0].severity, Severity::Critical);
        assert_eq!(judged, Judged::Reachability);
        let mut stale = normal();
        stale.connection = Connection::Stale { since_ms: 0, reason: "one timeout".into() };
        assert_eq!(found_in(&stale), (Vec::new(), Judged::Nothing));
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_is_raised_at_once_acknowledged_and_cleared_only_after_a_quiet_spell() {
        let mut r = Registry::new(100);
        let t0 = Instant::now();
        let judge = |r: &mut Registry, s: &PduSnapshot| {
            let (found, judged) = found_in(s);
            r.judge(Some(&s.device_id), judged, found, Instant::now(), unix_secs())
        };
        assert_eq!(changes(&judge(&mut r, &overloaded(1))), vec![(Change::Raised, "rack-a/bank_overload/1".into())]);
        assert_eq!(judge(&mut r, &overloaded(1)), Vec::new(), "still overloaded: nothing new");
        let id = r.list().active[0].id;
        assert_eq!(id, 100);

        let (acked, new) = r.acknowledge(id, "user ann", 5.0).unwrap();
        assert!(new);
        assert_eq!(acked.acknowledged, Some(Acknowledgement { by: "user ann".into(), at: 5.0 }));
        let (again, new) = r.acknowledge(id, "user bob", 6.0).unwrap();
        assert!(!new, "the first acknowledgement stays");
        assert_eq!(again.acknowledged.unwrap().by, "user ann");

        // Back to normal: the alarm waits CLEAR_AFTER before it clears.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(judge(&mut r, &normal()), Vec::new());
        tokio::time::advance(CLEAR_AFTER - Duration::from_millis(1)).await;
        assert_eq!(judge(&mut r, &normal()), Vec::new());
        assert_eq!(r.list().active.len(), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        let cleared = r.expire(Instant::now(), 99.0);
        assert_eq!(changes(&cleared), vec![(Change::Cleared, "rack-a/bank_overload/1".into())]);
        assert_eq!(cleared[0].alarm.cleared_at, Some(99.0));
        let list = r.list();
        assert!(list.active.is_empty());
        assert_eq!(list.past.len(), 1);
        assert_eq!(list.past[0].acknowledged.as_ref().unwrap().by, "user ann", "the past keeps who acknowledged");
        assert_eq!(r.acknowledge(id, "user ann", 100.0), Err(AlarmError::Cleared(id)));
        assert_eq!(r.acknowledge(7, "user ann", 100.0), Err(AlarmError::NotFound(7)));
        assert!(Instant::now().duration_since(t0) >= CLEAR_AFTER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_back_within_the_quiet_spell_keeps_the_same_alarm() {
        let mut r = Registry::new(1);
        let (found, judged) = found_in(&overloaded(2));
        r.judge(Some(&id()), judged, found.clone(), Instant::now(), 0.0);
        tokio::time::advance(Duration::from_secs(10)).await;
        r.judge(Some(&id()), Judged::Readings, Vec::new(), Instant::now(), 0.0);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(r.judge(Some(&id()), judged, found, Instant::now(), 0.0), Vec::new(), "flapping: no second alarm");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(r.expire(Instant::now(), 0.0), Vec::new(), "present again: the quiet spell restarted");
        assert_eq!(r.list().active.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_pdu_keeps_its_other_alarms_until_it_answers() {
        let mut r = Registry::new(1);
        let judge = |r: &mut Registry, s: &PduSnapshot| {
            let (found, judged) = found_in(s);
            r.judge(Some(&s.device_id), judged, found, Instant::now(), 0.0)
        };
        judge(&mut r, &overloaded(1));
        let raised = judge(&mut r, &unreachable());
        assert_eq!(changes(&raised), vec![(Change::Raised, "rack-a/pdu_unreachable".into())]);
        tokio::time::advance(Duration::from_secs(120)).await;
        assert_eq!(judge(&mut r, &unreachable()), Vec::new(), "missing data does not clear the overload");
        assert_eq!(r.list().active.len(), 2);
        assert_eq!(r.list().active[0].severity, Severity::Critical);
        // It answers, overloaded still: only the unreachable alarm goes, after the quiet spell.
        judge(&mut r, &overloaded(1));
        tokio::time::advance(CLEAR_AFTER).await;
        let cleared = judge(&mut r, &overloaded(1));
        assert_eq!(changes(&cleared), vec![(Change::Cleared, "rack-a/pdu_unreachable".into())]);
    }

    #[tokio::test(start_paused = true)]
    async fn rule_alarms_and_removed_pdus_clear_at_once() {
        let mut r = Registry::new(1);
        assert_eq!(r.raise_rule(&id(), "door", "door open 60 s".into(), 0.0).len(), 1);
        assert_eq!(r.raise_rule(&id(), "door", "again".into(), 0.0), Vec::new());
        assert_eq!(changes(&r.clear_rule(&id(), "door", 1.0)), vec![(Change::Cleared, "rack-a/rule/door".into())]);
        assert_eq!(r.clear_rule(&id(), "door", 1.0), Vec::new());

        let (found, judged) = found_in(&overloaded(1));
        r.judge(Some(&id()), judged, found, Instant::now(), 0.0);
        assert_eq!(r.forget(&[id()], 2.0), Vec::new());
        assert_eq!(changes(&r.forget(&[], 2.0)), vec![(Change::Cleared, "rack-a/bank_overload/1".into())]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pdu_that_never_answered_is_unreachable_until_its_first_reading() {
        let alarms = Alarms::new(Arc::new(EventSink::default()));
        let silent = Watched { id: id(), never_answered: Some("timed out after 2 s".into()) };
        alarms.tick(std::slice::from_ref(&silent), Instant::now());
        let active = alarms.list().active;
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].kind, AlarmKind::PduUnreachable);
        assert_eq!(active[0].details, "the PDU has never answered: timed out after 2 s");
        alarms.tick(&[silent], Instant::now());
        assert_eq!(alarms.list().active.len(), 1, "one alarm however long it stays silent");
        // It answers: the alarm clears after the quiet spell.
        alarms.observe(&normal(), Instant::now());
        let answered = Watched { id: id(), never_answered: None };
        tokio::time::advance(CLEAR_AFTER).await;
        alarms.tick(std::slice::from_ref(&answered), Instant::now());
        assert!(alarms.list().active.is_empty());
        assert_eq!(alarms.list().past[0].kind, AlarmKind::PduUnreachable);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bridge_alarm_follows_the_history_store() {
        let mut r = Registry::new(1);
        let off = bridge_conditions(None, Some("disk full"));
        assert_eq!(off[0].details, "history is off: disk full");
        let raised = r.judge(None, Judged::Bridge, off, Instant::now(), 0.0);
        assert_eq!(changes(&raised), vec![(Change::Raised, "bridge/history_write_failing".into())]);
        // A PDU's look never clears the bridge's alarm.
        r.judge(Some(&id()), Judged::Readings, Vec::new(), Instant::now(), 0.0);
        tokio::time::advance(CLEAR_AFTER * 2).await;
        assert_eq!(r.expire(Instant::now(), 0.0), Vec::new());
        r.judge(None, Judged::Bridge, bridge_conditions(None, None), Instant::now(), 0.0);
        tokio::time::advance(CLEAR_AFTER).await;
        assert_eq!(r.expire(Instant::now(), 0.0).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn every_change_is_an_event_and_a_stream_update() {
        let events = Arc::new(EventSink::default());
        let mut log = events.subscribe();
        let alarms = Alarms::new(events.clone());
        let mut version = alarms.changes();
        let mut transitions = alarms.subscribe();
        alarms.observe(&overloaded(1), Instant::now());
        let raised = log.recv().await.unwrap();
        assert_eq!(raised.kind, "alarm_raised");
        assert_eq!(raised.device_id, id());
        assert!(raised.details.starts_with("Bank 1 overload (critical): bank 1 draws"), "{}", raised.details);
        assert!(version.has_changed().unwrap());
        version.mark_unchanged();
        let t = transitions.recv().await.unwrap();
        let (ack, new) = alarms.acknowledge(t.alarm.id, "user ann").unwrap();
        assert!(new);
        assert_eq!(ack.acknowledged.unwrap().by, "user ann");
        assert_eq!(log.recv().await.unwrap().details, "Bank 1 overload: acknowledged by user ann");
        assert_eq!(transitions.recv().await.unwrap().change, Change::Acknowledged);
        assert!(version.has_changed().unwrap());
        // Acknowledging again changes nothing and tells nobody.
        assert!(!alarms.acknowledge(t.alarm.id, "user bob").unwrap().1);
        assert!(transitions.try_recv().is_err());

        alarms.observe(&normal(), Instant::now());
        tokio::time::advance(CLEAR_AFTER).await;
        alarms.tick(&[Watched { id: id(), never_answered: None }], Instant::now());
        assert_eq!(log.recv().await.unwrap().kind, "alarm_cleared");
        let n = notification(&transitions.recv().await.unwrap());
        assert_eq!(n.state, NotificationState::Cleared);
        assert_eq!(n.title, "rack-a: Bank 1 overload");
        assert_eq!(n.alarm, "bank_overload");
        assert_eq!(n.severity, Severity::Critical);
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_takes_back_ids_and_acknowledgements_and_announces_nothing_still_true() {
        // Before: bank 1 overloaded (acknowledged), bank 2 near overload, a
        // rule alarm, and one alarm in the past.
        let mut before = Registry::new(500);
        let mut s = overloaded(1);
        s.banks[1].load_state = Some(LoadState::NearOverload);
        let (found, judged) = found_in(&s);
        before.judge(Some(&id()), judged, found, Instant::now(), 10.0);
        let ack = before.list().active.iter().find(|a| a.kind == AlarmKind::BankOverload).unwrap().id;
        before.acknowledge(ack, "user ann", 11.0).unwrap();
        before.raise_rule(&id(), "door", "door open 60 s".into(), 12.0);
        before.raise_rule(&id(), "gone", "from the file while the bridge was down".into(), 12.0);
        before.raise_rule(&id(), "old", "long ago".into(), 1.0);
        before.clear_rule(&id(), "old", 2.0);
        let kept: AlarmList = serde_json::from_str(&serde_json::to_string(&before.list()).unwrap()).unwrap();

        // After: a fresh registry whose own ids would start lower.
        let mut after = Registry::new(100);
        after.restore(kept.clone(), Instant::now());
        assert_eq!(after.list(), kept, "the list reads as before");
        // Bank 1 still overloaded, bank 2 fine now; the door rule still holds.
        let (found, judged) = found_in(&overloaded(1));
        assert_eq!(after.judge(Some(&id()), judged, found, Instant::now(), 20.0), Vec::new(), "nothing new to say");
        assert_eq!(
            after.raise_rule(&id(), "door", "door open 60 s (seen before the bridge restarted)".into(), 20.0),
            Vec::new()
        );
        tokio::time::advance(CLEAR_AFTER).await;
        let (found, judged) = found_in(&overloaded(1));
        let cleared = after.judge(Some(&id()), judged, found, Instant::now(), 35.0);
        let mut cleared = changes(&cleared);
        cleared.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            cleared,
            vec![(Change::Cleared, "rack-a/bank_near_overload/2".into()), (Change::Cleared, "rack-a/rule/gone".into()),],
            "what is no longer true clears after its quiet spell"
        );
        let list = after.list();
        let keys: Vec<String> = list.active.iter().map(Alarm::key).collect();
        assert_eq!(keys, ["rack-a/bank_overload/1", "rack-a/rule/door"]);
        assert_eq!(list.active[0].id, ack);
        assert_eq!(list.active[0].acknowledged.as_ref().unwrap().by, "user ann");
        assert_eq!(list.past.last().map(Alarm::key).unwrap(), "rack-a/rule/old", "the past is kept");
        // New alarms never reuse a kept id.
        let newest = kept.active.iter().chain(&kept.past).map(|a| a.id).max().unwrap();
        let raised = after.raise_rule(&id(), "new", "x".into(), 40.0);
        assert_eq!(raised[0].alarm.id, newest + 1);
    }

    #[tokio::test]
    async fn the_list_is_kept_in_a_file_and_an_unreadable_one_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alarms.json");
        let events = Arc::new(EventSink::default());
        let alarms = Arc::new(Alarms::new(events.clone()));
        assert_eq!(alarms.restore_from(&path), 0, "no file yet: nothing to take back");
        let stop = CancellationToken::new();
        let keeper = tokio::spawn(keep(alarms.clone(), path.clone(), stop.clone()));
        tokio::task::yield_now().await;
        alarms.observe(&overloaded(1), Instant::now());
        let id = alarms.list().active[0].id;
        alarms.acknowledge(id, "user ann").unwrap();
        stop.cancel();
        keeper.await.unwrap();
        let again = Alarms::new(Arc::new(EventSink::default()));
        assert_eq!(again.restore_from(&path), 1);
        assert_eq!(again.list(), alarms.list());

        std::fs::write(&path, "{\"active\": [{\"id\": \"not a number\"}]}").unwrap();
        let mut log = events.subscribe();
        let third = Alarms::new(events.clone());
        assert_eq!(third.restore_from(&path), 0);
        let said = log.recv().await.unwrap();
        assert_eq!(said.kind, "alarms_file_refused");
        assert!(
            said.details.contains("alarms.json could not be read") && said.details.contains("unreadable"),
            "{}",
            said.details
        );
        assert!(!path.exists());
        let aside = std::fs::read_to_string(dir.path().join("alarms.json.unreadable")).unwrap();
        assert!(aside.contains("not a number"), "kept as it was: {aside}");
    }
}
