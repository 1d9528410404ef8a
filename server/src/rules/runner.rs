//! One PDU's rules at run time: evaluates them after every snapshot of its
//! PDU and when a timer is due, carries out decisions through the bridge's
//! command path, persists rule state, follows the rules file, and carries
//! out the edits of the API and the dashboard.
//!
//! Owns: the rule set, each rule's state, and the rules and state files.
//! The one thing to know: decisions are computed under the lock and carried
//! out after it (commands take time), and files are written after the lock
//! is released, off the runtime threads, one write at a time; a command that
//! fails is reported and retried on the next evaluation, never counted as
//! success, and protected outlets are never switched off by a rule. A rules
//! file that cannot be read is never overwritten by an edit: edits are
//! refused until it is fixed or replaced explicitly ([`RuleEngine::replace`]).
//!
//! A `notify` rule switches nothing: firing raises its alarm through the
//! bridge's alarm model, and its condition clearing (after `restore_delay`,
//! whatever `restore` says) clears it. Disabling, editing or deleting it,
//! or the rules file changing it or leaving it out, clears its alarm and
//! starts the rule over. The alarm model lives in memory: a notify rule
//! still fired after a restart raises its alarm again when its runner starts.

use super::engine::{self, Decision, Phase, RuleState};
use crate::bridge::{Bridge, Requester};
use crate::clock::{unix_ms, unix_secs};
use crate::device::Device;
use crate::fsutil;
use app::model::{Event, OutletAction, OutletState, PduSnapshot};
use app::rules::{parse_rules, Rule, RuleAction, RuleStatus};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why an edit of the rules was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("a rule named {0:?} exists already")]
    Duplicate(String),
    #[error("no rule named {0:?}")]
    NoSuchRule(String),
    /// The rules file on disk is unreadable: nothing is written over it.
    #[error("{0}; fix the file or replace all rules explicitly (PUT /api/rules), which keeps a backup")]
    FileInvalid(String),
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: String },
}

/// How often the rules file is checked for changes.
const FILE_CHECK: Duration = Duration::from_secs(2);

/// What survives a restart, per rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Saved {
    fired: bool,
    switched: Vec<(u32, OutletState)>,
    run_count: u64,
    last_run_ms: Option<u64>,
    /// Commands that failed and are retried.
    retry: Vec<(u32, OutletAction)>,
    /// The words of a fired notify rule's alarm, to raise it again after a
    /// restart (the alarm model keeps nothing across one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alarm: Option<String>,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    states: HashMap<String, RuleState>,
    saved: HashMap<String, Saved>,
    file_seen: Option<SystemTime>,
    file_error: Option<String>,
}

pub struct RuleEngine {
    device: Arc<Device>,
    /// Commands go through the bridge; events are recorded with it.
    bridge: Arc<Bridge>,
    /// This PDU's snapshots, every one; taken by [`RuleEngine::run`].
    snapshots: Mutex<Option<mpsc::Receiver<Arc<PduSnapshot>>>>,
    rules_file: PathBuf,
    state_file: PathBuf,
    zone: TimeZone,
    /// Outlets a rule may never switch off.
    protected: Vec<u32>,
    inner: Mutex<Inner>,
    /// Wakes the runner after an edit.
    changed: Notify,
    /// Held while files are written, so writes land in the order they were decided.
    writing: tokio::sync::Mutex<()>,
}

/// What to write once the lock is released.
struct Pending {
    rules: Option<Vec<u8>>,
    state: Vec<u8>,
}

/// Snapshots a rule engine may fall behind by before losses are counted.
const QUEUE: usize = 120;

/// One piece of work decided under the lock, carried out after it.
struct Work {
    rule: String,
    kind: &'static str,
    commands: Vec<(u32, OutletAction)>,
    /// A notify rule's alarm to raise or clear.
    alarm: Option<Notice>,
    disable: bool,
}

/// What a notify rule does with its alarm.
enum Notice {
    /// Raise it with these words.
    Raise(String),
    /// Clear it; the words say why.
    Clear(String),
}

fn describe(commands: &[(u32, OutletAction)]) -> String {
    commands.iter().map(|(n, a)| format!("{} outlet {n}", a.verb())).collect::<Vec<_>>().join(", ")
}

impl RuleEngine {
    /// The rules of `device`; subscribes to its snapshots at once, so create
    /// engines before the pollers start.
    pub fn new(
        device: Arc<Device>,
        bridge: Arc<Bridge>,
        rules_file: PathBuf,
        state_file: PathBuf,
        zone: TimeZone,
        protected: Vec<u32>,
    ) -> Arc<Self> {
        let snapshots = bridge.bus().durable(format!("rules {}", device.id()), QUEUE, Some(device.id().clone()));
        let engine = Arc::new(Self {
            device,
            bridge,
            snapshots: Mutex::new(Some(snapshots)),
            rules_file,
            state_file,
            zone,
            protected,
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            writing: tokio::sync::Mutex::new(()),
        });
        // At start, before anything is served: reading here is fine.
        engine.load_state();
        let seen = fsutil::modified(&engine.rules_file);
        let text = seen.map(|_| std::fs::read_to_string(&engine.rules_file));
        if let Some(pending) = engine.apply_file(seen, text) {
            let _ = Self::write_files(&engine.rules_file, &engine.state_file, pending);
        }
        engine
    }

    fn event(&self, rule: &str, kind: &str, details: impl Into<String>) {
        let mut event = Event::new(unix_secs(), self.device.id().clone(), kind, details);
        event.rule = Some(rule.to_owned());
        self.bridge.events().record(event);
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outlet_count(&self) -> Option<u32> {
        self.device.latest().map(|s| s.outlets.len() as u32)
    }

    fn load_state(&self) {
        let Ok(text) = std::fs::read_to_string(&self.state_file) else { return };
        match serde_json::from_str::<HashMap<String, Saved>>(&text) {
            Ok(saved) => {
                let mut inner = self.inner();
                for (name, s) in &saved {
                    if s.fired {
                        // A shed outlet is still restored after a restart.
                        let state =
                            RuleState { phase: Phase::Fired { clear_since: None }, switched: s.switched.clone() };
                        inner.states.insert(name.clone(), state);
                    }
                }
                inner.saved = saved;
            }
            Err(e) => {
                tracing::warn!(path = %self.state_file.display(), error = %e, "ignoring an unreadable rule state file")
            }
        }
    }

    /// The state file's contents for `inner` (bookkeeping updated first).
    fn state_body(inner: &mut Inner) -> Vec<u8> {
        for rule in &inner.rules {
            let state = inner.states.get(&rule.name).cloned().unwrap_or_default();
            let saved = inner.saved.entry(rule.name.clone()).or_default();
            saved.fired = matches!(state.phase, Phase::Fired { .. });
            saved.switched = state.switched;
            if !saved.fired {
                saved.alarm = None;
            }
        }
        let names: Vec<String> = inner.rules.iter().map(|r| r.name.clone()).collect();
        inner.saved.retain(|name, _| names.contains(name));
        serde_json::to_vec_pretty(&inner.saved).unwrap_or_default()
    }

    /// Write decided contents: blocking, so called off the runtime threads.
    fn write_files(
        rules_file: &std::path::Path,
        state_file: &std::path::Path,
        pending: Pending,
    ) -> Result<(), RuleError> {
        if let Some(body) = pending.rules {
            fsutil::write_atomically(rules_file, &body)
                .map_err(|e| RuleError::Write { path: rules_file.display().to_string(), error: e.to_string() })?;
        }
        if let Err(e) = fsutil::write_atomically(state_file, &pending.state) {
            tracing::error!(path = %state_file.display(), error = %e, "cannot save rule state");
        }
        Ok(())
    }

    /// Decide under the lock with `decide`, then write what it returns after
    /// the lock is released, off the runtime threads, one write at a time.
    async fn persist<T>(
        &self,
        decide: impl FnOnce(&mut Inner) -> Result<(T, Option<Pending>), RuleError>,
    ) -> Result<T, RuleError> {
        let _one_writer = self.writing.lock().await;
        let (value, pending) = {
            let mut inner = self.inner();
            decide(&mut inner)?
        };
        let Some(pending) = pending else { return Ok(value) };
        let wrote_rules = pending.rules.is_some();
        let (rules_file, state_file) = (self.rules_file.clone(), self.state_file.clone());
        let written = tokio::task::spawn_blocking(move || Self::write_files(&rules_file, &state_file, pending))
            .await
            .unwrap_or_else(|e| {
                Err(RuleError::Write { path: self.rules_file.display().to_string(), error: e.to_string() })
            });
        if wrote_rules && written.is_ok() {
            self.inner().file_seen = fsutil::modified(&self.rules_file);
        }
        written.map(|()| value)
    }

    /// Read the rules file if it changed (off the runtime threads). An
    /// invalid file is refused with a clear error and the rules in force stay.
    pub async fn reload_file(&self) {
        let path = self.rules_file.clone();
        let read = tokio::task::spawn_blocking(move || {
            let seen = fsutil::modified(&path);
            (seen, seen.map(|_| std::fs::read_to_string(&path)))
        })
        .await;
        let Ok((seen, text)) = read else { return };
        if seen.is_some() && seen == self.inner().file_seen {
            return;
        }
        if let Some(pending) = self.apply_file(seen, text) {
            let _ = self.persist(|_| Ok(((), Some(pending)))).await;
        }
    }

    /// Take in what the rules file holds; returns the state to write if the
    /// rules changed.
    fn apply_file(&self, seen: Option<SystemTime>, text: Option<std::io::Result<String>>) -> Option<Pending> {
        let (Some(seen), Some(text)) = (seen, text) else { return None };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                self.inner().file_error = Some(format!("{}: {e}", self.rules_file.display()));
                return None;
            }
        };
        let mut inner = self.inner();
        inner.file_seen = Some(seen);
        let mut retired = Vec::new();
        let pending = match parse_rules(&text, self.outlet_count()) {
            Ok(rules) => {
                tracing::info!(path = %self.rules_file.display(), rules = rules.len(), "rules loaded");
                inner.file_error = None;
                let before = std::mem::replace(&mut inner.rules, rules);
                let names: Vec<String> = inner.rules.iter().map(|r| r.name.clone()).collect();
                inner.states.retain(|name, _| names.contains(name));
                retired = Self::retire(&mut inner, &before);
                Some(Pending { rules: None, state: Self::state_body(&mut inner) })
            }
            Err(e) => {
                let message =
                    format!("{} is invalid: {e}; the previous rules stay in force", self.rules_file.display());
                tracing::error!("{message}");
                inner.file_error = Some(message);
                None
            }
        };
        drop(inner);
        self.clear_alarms(&retired);
        self.changed.notify_one();
        pending
    }

    /// After `inner.rules` changed from `before`: the notify rules that were
    /// edited (disabling is an edit), renamed or removed start over, and
    /// their names are returned, for their alarms to be cleared once the
    /// lock is released. Nothing is switched either way. A rule that became
    /// a notify rule starts over too: what it switched is forgotten, as when
    /// a fired rule is deleted.
    fn retire(inner: &mut Inner, before: &[Rule]) -> Vec<String> {
        let now = |name: &str| inner.rules.iter().find(|r| r.name == name);
        let gone: Vec<String> = before
            .iter()
            .filter(|old| !old.action.switches() && now(&old.name) != Some(*old))
            .map(|old| old.name.clone())
            .collect();
        let became: Vec<String> = inner
            .rules
            .iter()
            .filter(|new| !new.action.switches())
            .filter(|new| before.iter().any(|old| old.name == new.name && old != *new))
            .map(|new| new.name.clone())
            .collect();
        for name in gone.iter().chain(&became) {
            inner.states.remove(name);
        }
        gone
    }

    /// Clear the alarms of these notify rules (after the lock is released).
    fn clear_alarms(&self, rules: &[String]) {
        for rule in rules {
            self.bridge.alarms().clear_rule(self.device.id(), rule);
        }
    }

    /// At start: a notify rule still fired from before a restart raises its
    /// alarm again (the alarm model keeps nothing across one), with the
    /// words it was raised with; a disabled one starts over. Under the lock,
    /// as in [`RuleEngine::notice`], so an edit meanwhile cannot leave the
    /// alarm raised.
    fn raise_again(&self) {
        let mut inner = self.inner();
        let Inner { rules, states, saved, .. } = &mut *inner;
        for rule in rules.iter().filter(|r| !r.action.switches()) {
            if !matches!(states.get(&rule.name).map(|s| &s.phase), Some(Phase::Fired { .. })) {
                continue;
            }
            if !rule.enabled {
                states.remove(&rule.name);
                continue;
            }
            let details = match saved.get(&rule.name).and_then(|s| s.alarm.as_deref()) {
                Some(words) => format!("{words} (seen before the bridge restarted)"),
                None => "the condition held before the bridge restarted".to_owned(),
            };
            self.bridge.alarms().raise_rule(self.device.id(), &rule.name, details);
        }
    }

    /// Why the rules file was refused, if it was.
    pub fn file_error(&self) -> Option<String> {
        self.inner().file_error.clone()
    }

    /// The files to write after an edit of `inner.rules`.
    fn edited(inner: &mut Inner) -> Pending {
        inner.file_error = None;
        Pending {
            rules: Some(serde_json::to_vec_pretty(&inner.rules).unwrap_or_default()),
            state: Self::state_body(inner),
        }
    }

    /// Edits are refused while the file on disk is unreadable.
    fn writable(inner: &Inner) -> Result<(), RuleError> {
        match &inner.file_error {
            Some(e) => Err(RuleError::FileInvalid(e.clone())),
            None => Ok(()),
        }
    }

    /// Evaluate every rule against `snapshot` now, and carry out what they decide.
    pub async fn evaluate(&self, snapshot: &PduSnapshot) {
        let local = super::local_time(jiff::Timestamp::now(), &self.zone);
        let now = Instant::now();
        let mut work = Vec::new();
        let decided = self
            .persist(|inner| {
                let Inner { rules, states, saved, .. } = &mut *inner;
                for rule in rules.iter() {
                    let retry = saved.get_mut(&rule.name).map(|s| std::mem::take(&mut s.retry)).unwrap_or_default();
                    if !retry.is_empty() && snapshot.connection.is_online() {
                        let name = rule.name.clone();
                        work.push(Work { rule: name, kind: "retried", commands: retry, alarm: None, disable: false });
                    } else if !retry.is_empty() {
                        saved.entry(rule.name.clone()).or_default().retry = retry;
                    }
                    let state = states.entry(rule.name.clone()).or_default();
                    let (kind, commands, alarm, disable) = match engine::step(rule, state, snapshot, local, now) {
                        Some(Decision::Fire { commands, disable }) => ("triggered", commands, None, disable),
                        Some(Decision::Restore { commands }) => ("restored", commands, None, false),
                        Some(Decision::Raise { details }) => {
                            ("triggered", Vec::new(), Some(Notice::Raise(details)), false)
                        }
                        Some(Decision::Clear { details, disable }) => {
                            ("restored", Vec::new(), Some(Notice::Clear(details)), disable)
                        }
                        None => continue,
                    };
                    work.push(Work { rule: rule.name.clone(), kind, commands, alarm, disable });
                }
                // Only a decision changes what must survive a restart.
                let pending = (!work.is_empty()).then(|| Pending { rules: None, state: Self::state_body(inner) });
                Ok(((), pending))
            })
            .await;
        if let Err(e) = decided {
            tracing::error!(error = %e, "cannot save rule state");
        }
        for w in work {
            self.carry_out(w).await;
        }
    }

    async fn carry_out(&self, work: Work) {
        let mut failed = Vec::new();
        let mut done = Vec::new();
        for (n, action) in &work.commands {
            if action.cuts_power() && self.protected.contains(n) {
                self.event(&work.rule, "failed", format!("outlet {n} is protected: a rule never switches it off"));
                continue;
            }
            match self.bridge.outlet_command(&self.device, *n, *action, Requester::rule(&work.rule)).await {
                Ok(_) => done.push((*n, *action)),
                Err(e) => {
                    self.event(&work.rule, "failed", format!("could not {} outlet {n}: {e}; retrying", action.verb()));
                    failed.push((*n, *action));
                }
            }
        }
        let others: Vec<String> = {
            let inner = self.inner();
            inner
                .states
                .iter()
                .filter(|(name, st)| **name != work.rule && matches!(st.phase, Phase::Fired { .. }))
                .filter(|(_, st)| st.switched.iter().any(|(n, _)| done.iter().any(|(d, _)| d == n)))
                .map(|(name, _)| name.clone())
                .collect()
        };
        if !done.is_empty() {
            let mut details = describe(&done);
            if !others.is_empty() {
                details.push_str(&format!(" (also switched by {}; this rule fired later and wins)", others.join(", ")));
            }
            self.event(&work.rule, work.kind, details);
        }
        let persisted = self
            .persist(|inner| {
                let raised = self.notice(inner, &work);
                let saved = inner.saved.entry(work.rule.clone()).or_default();
                saved.retry = failed;
                if work.kind == "triggered" && (!done.is_empty() || raised.is_some()) {
                    saved.run_count += 1;
                    saved.last_run_ms = Some(unix_ms());
                }
                if work.alarm.is_some() {
                    saved.alarm = raised;
                }
                let rule = inner.rules.iter_mut().find(|r| r.name == work.rule).filter(|_| work.disable);
                let disabled = match rule {
                    Some(rule) => {
                        rule.enabled = false;
                        // A file that cannot be read is never overwritten.
                        Self::writable(inner).is_ok()
                    }
                    None => false,
                };
                let pending = if disabled {
                    Self::edited(inner)
                } else {
                    Pending { rules: None, state: Self::state_body(inner) }
                };
                Ok((disabled, Some(pending)))
            })
            .await;
        match persisted {
            Ok(true) if work.alarm.is_some() => {
                self.event(&work.rule, "disabled", "a one-shot notify rule disables itself once its alarm has cleared")
            }
            Ok(true) => self.event(&work.rule, "disabled", "a one-shot rule disables itself after firing"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, rule = %work.rule, "cannot save rule state"),
        }
    }

    /// Raise or clear a notify rule's alarm, under the lock: an edit that
    /// retired the rule since it fired (its state is no longer fired) then
    /// cannot leave its alarm raised. The rule's event comes first, then
    /// the alarm's own (the alarm model records it and tells the webhook,
    /// e-mail, dashboard and MQTT; none of it waits). Returns the words of
    /// the alarm it raised.
    fn notice(&self, inner: &Inner, work: &Work) -> Option<String> {
        let alarms = self.bridge.alarms();
        match &work.alarm {
            Some(Notice::Raise(details)) => {
                let fired = matches!(inner.states.get(&work.rule).map(|s| &s.phase), Some(Phase::Fired { .. }));
                let rule = inner.rules.iter().find(|r| r.name == work.rule);
                if !fired || !rule.is_some_and(|r| r.enabled && !r.action.switches()) {
                    return None;
                }
                self.event(&work.rule, work.kind, format!("alarm raised: {details}"));
                alarms.raise_rule(self.device.id(), &work.rule, details.clone());
                Some(details.clone())
            }
            Some(Notice::Clear(details)) => {
                self.event(&work.rule, work.kind, format!("alarm cleared: {details}"));
                alarms.clear_rule(self.device.id(), &work.rule);
                None
            }
            None => None,
        }
    }

    /// The earliest moment a running delay ends.
    fn next_deadline(&self) -> Option<Instant> {
        let inner = self.inner();
        inner.rules.iter().filter_map(|r| inner.states.get(&r.name).and_then(|s| engine::next_deadline(r, s))).min()
    }

    /// Evaluate after every snapshot of this PDU and whenever a delay ends;
    /// follow the rules file.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(mut snapshots) = self.snapshots.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            tracing::error!(device = %self.device.id(), "rules: a second runner was started; this one does nothing");
            return;
        };
        self.raise_again();
        let mut file_check = tokio::time::interval(FILE_CHECK);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                // A stopped PDU's runner decides nothing more.
                biased;
                _ = shutdown.cancelled() => break,
                received = snapshots.recv() => match received {
                    Some(s) => self.evaluate(&s).await,
                    None => break,
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    if let Some(s) = self.device.latest() {
                        self.evaluate(&s).await;
                    }
                }
                _ = file_check.tick() => self.reload_file().await,
                _ = self.changed.notified() => {}
            }
        }
    }

    /// Every rule with its live state, in file order.
    pub fn list(&self) -> Vec<RuleStatus> {
        let inner = self.inner();
        let now = Instant::now();
        inner
            .rules
            .iter()
            .map(|rule| {
                let state = inner.states.get(&rule.name).cloned().unwrap_or_default();
                let saved = inner.saved.get(&rule.name).cloned().unwrap_or_default();
                let (phase, remaining) = match (&state.phase, rule.enabled) {
                    (_, false) => ("disabled", None),
                    (Phase::Armed, _) => ("armed", None),
                    (Phase::Pending { .. }, _) => {
                        let left =
                            engine::next_deadline(rule, &state).map(|d| d.saturating_duration_since(now).as_secs_f64());
                        ("pending", left)
                    }
                    (Phase::Fired { .. }, _) => ("fired", None),
                };
                RuleStatus {
                    rule: rule.clone(),
                    state: phase.to_owned(),
                    pending_s: remaining,
                    run_count: saved.run_count,
                    last_run: saved.last_run_ms.map(|ms| ms as f64 / 1000.0),
                }
            })
            .collect()
    }

    fn invalid(e: app::rules::FieldError) -> RuleError {
        RuleError::Invalid { field: e.field, message: e.message }
    }

    /// Where the rule named `name` stands in the file.
    fn position(inner: &Inner, name: &str) -> Result<usize, RuleError> {
        inner.rules.iter().position(|r| r.name == name).ok_or_else(|| RuleError::NoSuchRule(name.to_owned()))
    }

    /// What the event of an edit of `name` (before it is made) adds when
    /// the rule is fired; `changed`: whether the edit changes the rule (a
    /// notify rule's alarm is cleared only then).
    fn fired_note(inner: &Inner, name: &str, changed: bool) -> &'static str {
        let notify = inner.rules.iter().any(|r| r.name == name && r.action == RuleAction::Notify);
        match inner.states.get(name).map(|s| &s.phase) {
            Some(Phase::Fired { .. }) if notify && changed => " while fired; its alarm was cleared",
            Some(Phase::Fired { .. }) if notify => "",
            Some(Phase::Fired { .. }) => " while fired; nothing was switched back",
            _ => "",
        }
    }

    pub async fn create(&self, rule: Rule) -> Result<RuleStatus, RuleError> {
        rule.validate(self.outlet_count()).map_err(Self::invalid)?;
        let name = rule.name.clone();
        self.persist(|inner| {
            Self::writable(inner)?;
            if inner.rules.iter().any(|r| r.name == rule.name) {
                return Err(RuleError::Duplicate(rule.name.clone()));
            }
            inner.rules.push(rule);
            Ok(((), Some(Self::edited(inner))))
        })
        .await?;
        self.event(&name, "created", "rule created");
        self.changed.notify_one();
        self.status(&name)
    }

    pub async fn update(&self, name: &str, rule: Rule) -> Result<RuleStatus, RuleError> {
        rule.validate(self.outlet_count()).map_err(Self::invalid)?;
        let new_name = rule.name.clone();
        let (note, retired) = self
            .persist(|inner| {
                Self::writable(inner)?;
                let at = Self::position(inner, name)?;
                if rule.name != name && inner.rules.iter().any(|r| r.name == rule.name) {
                    return Err(RuleError::Duplicate(rule.name.clone()));
                }
                let unchanged = inner.rules[at] == rule;
                let note = Self::fired_note(inner, name, !unchanged);
                let before = inner.rules.clone();
                let switching = before[at].action.switches() && rule.action.switches();
                inner.rules[at] = rule;
                // What a switching rule switched stays its own under its new
                // name; a notify rule saved as it was keeps its state (and its
                // alarm), an edited one starts over (`retire`).
                if let Some(state) = inner.states.remove(name).filter(|_| switching || unchanged) {
                    inner.states.insert(new_name.clone(), state);
                }
                let retired = Self::retire(inner, &before);
                Ok(((note, retired), Some(Self::edited(inner))))
            })
            .await?;
        // The rule's event first, then its alarm's (as when it fires).
        self.event(&new_name, "updated", format!("rule updated{note}"));
        self.clear_alarms(&retired);
        self.changed.notify_one();
        self.status(&new_name)
    }

    pub async fn delete(&self, name: &str) -> Result<(), RuleError> {
        let (note, retired) = self
            .persist(|inner| {
                Self::writable(inner)?;
                let at = Self::position(inner, name)?;
                let note = Self::fired_note(inner, name, true);
                let before = inner.rules.clone();
                inner.rules.remove(at);
                inner.states.remove(name);
                let retired = Self::retire(inner, &before);
                Ok(((note, retired), Some(Self::edited(inner))))
            })
            .await?;
        self.event(name, "deleted", format!("rule deleted{note}"));
        self.clear_alarms(&retired);
        Ok(())
    }

    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<RuleStatus, RuleError> {
        let (note, retired) = self
            .persist(|inner| {
                Self::writable(inner)?;
                let changed = inner.rules.iter().any(|r| r.name == name && r.enabled != enabled);
                let note = Self::fired_note(inner, name, changed);
                let before = inner.rules.clone();
                let rule = inner
                    .rules
                    .iter_mut()
                    .find(|r| r.name == name)
                    .ok_or_else(|| RuleError::NoSuchRule(name.to_owned()))?;
                rule.enabled = enabled;
                let retired = Self::retire(inner, &before);
                Ok(((note, retired), Some(Self::edited(inner))))
            })
            .await?;
        let kind = if enabled { "enabled" } else { "disabled" };
        self.event(name, kind, format!("rule {kind}{note}"));
        self.clear_alarms(&retired);
        self.changed.notify_one();
        self.status(name)
    }

    /// Replace every rule at once, also over a rules file that cannot be
    /// read; the file it replaces is kept beside it with a timestamp.
    pub async fn replace(&self, rules: Vec<Rule>) -> Result<Vec<RuleStatus>, RuleError> {
        let count = self.outlet_count();
        let mut names = std::collections::HashSet::new();
        for (i, rule) in rules.iter().enumerate() {
            rule.validate(count)
                .map_err(|e| RuleError::Invalid { field: format!("[{i}].{}", e.field), message: e.message })?;
            if !names.insert(rule.name.clone()) {
                return Err(RuleError::Duplicate(rule.name.clone()));
            }
        }
        let (from, to) = (self.rules_file.clone(), backup_name(&self.rules_file));
        let kept = tokio::task::spawn_blocking(move || match std::fs::copy(&from, &to) {
            Ok(_) => Ok(Some(to)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RuleError::Write { path: to.display().to_string(), error: e.to_string() }),
        })
        .await
        .unwrap_or_else(|e| {
            Err(RuleError::Write { path: self.rules_file.display().to_string(), error: e.to_string() })
        })?;
        let retired = self
            .persist(|inner| {
                let names: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
                let before = std::mem::replace(&mut inner.rules, rules);
                inner.states.retain(|name, _| names.contains(name));
                let retired = Self::retire(inner, &before);
                Ok((retired, Some(Self::edited(inner))))
            })
            .await?;
        let details = match kept {
            Some(path) => format!("all rules replaced; the previous file is kept as {}", path.display()),
            None => "all rules replaced".to_owned(),
        };
        self.event("", "replaced", details);
        self.clear_alarms(&retired);
        self.changed.notify_one();
        Ok(self.list())
    }

    fn status(&self, name: &str) -> Result<RuleStatus, RuleError> {
        self.list().into_iter().find(|s| s.rule.name == name).ok_or_else(|| RuleError::NoSuchRule(name.to_owned()))
    }
}

/// `rules.json` → `rules.json.2026-12-01T22-47-34Z.bak`.
fn backup_name(path: &std::path::Path) -> PathBuf {
    let stamp = jiff::Timestamp::now().strftime("%Y-%m-%dT%H-%M-%SZ").to_string();
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{stamp}.bak"));
    path.with_file_name(name)
}
