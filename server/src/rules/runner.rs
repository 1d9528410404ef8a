//! One PDU's rules at run time: evaluates them after every poll and when a
//! timer is due, carries out decisions through the service path, persists
//! rule state, follows the rules file, and serves the edit operations of the
//! HTTP API.
//!
//! Owns: the rule set, each rule's state, and the rules and state files.
//! The one thing to know: decisions are computed under the lock and carried
//! out after it (commands take time); a command that fails is reported and
//! retried on the next evaluation, never counted as success, and protected
//! outlets are never switched off by a rule.

use super::engine::{self, Decision, Phase, RuleState};
use crate::events::EventLog;
use crate::fsutil;
use crate::service::{unix_ms, Bridge, Device};
use app::model::{ApiError, OutletAction, OutletState, PduSnapshot};
use app::rules::{parse_rules, Rule, RuleStatus};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    bridge: Arc<Bridge>,
    events: Arc<EventLog>,
    rules_file: PathBuf,
    state_file: PathBuf,
    zone: TimeZone,
    /// Outlets a rule may never switch off.
    protected: Vec<u32>,
    inner: Mutex<Inner>,
    /// Wakes the runner after an edit.
    changed: Notify,
}

/// One piece of work decided under the lock, carried out after it.
struct Work {
    rule: String,
    kind: &'static str,
    commands: Vec<(u32, OutletAction)>,
    disable: bool,
}

fn describe(commands: &[(u32, OutletAction)]) -> String {
    commands.iter().map(|(n, a)| format!("{} outlet {n}", a.verb())).collect::<Vec<_>>().join(", ")
}

impl RuleEngine {
    pub fn new(
        device: Arc<Device>,
        bridge: Arc<Bridge>,
        events: Arc<EventLog>,
        rules_file: PathBuf,
        state_file: PathBuf,
        zone: TimeZone,
        protected: Vec<u32>,
    ) -> Arc<Self> {
        let engine = Arc::new(Self {
            device,
            bridge,
            events,
            rules_file,
            state_file,
            zone,
            protected,
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
        });
        engine.load_state();
        engine.reload_file();
        engine
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

    fn save_state(&self, inner: &mut Inner) {
        for rule in &inner.rules {
            let state = inner.states.get(&rule.name).cloned().unwrap_or_default();
            let saved = inner.saved.entry(rule.name.clone()).or_default();
            saved.fired = matches!(state.phase, Phase::Fired { .. });
            saved.switched = state.switched;
        }
        let names: Vec<String> = inner.rules.iter().map(|r| r.name.clone()).collect();
        inner.saved.retain(|name, _| names.contains(name));
        let body = serde_json::to_vec_pretty(&inner.saved).unwrap_or_default();
        if let Err(e) = fsutil::write_atomically(&self.state_file, &body) {
            tracing::error!(path = %self.state_file.display(), error = %e, "cannot save rule state");
        }
    }

    /// Read the rules file if it changed. An invalid file is refused with a
    /// clear error and the rules in force stay.
    pub fn reload_file(&self) {
        let seen = fsutil::modified(&self.rules_file);
        if seen.is_some() && seen == self.inner().file_seen {
            return;
        }
        let Some(seen) = seen else { return };
        let text = match std::fs::read_to_string(&self.rules_file) {
            Ok(t) => t,
            Err(e) => {
                self.inner().file_error = Some(format!("{}: {e}", self.rules_file.display()));
                return;
            }
        };
        let mut inner = self.inner();
        inner.file_seen = Some(seen);
        match parse_rules(&text, self.outlet_count()) {
            Ok(rules) => {
                tracing::info!(path = %self.rules_file.display(), rules = rules.len(), "rules loaded");
                inner.file_error = None;
                inner.rules = rules;
                let names: Vec<String> = inner.rules.iter().map(|r| r.name.clone()).collect();
                inner.states.retain(|name, _| names.contains(name));
                self.save_state(&mut inner);
            }
            Err(e) => {
                let message = format!("{}: {e}; the previous rules stay in force", self.rules_file.display());
                tracing::error!("{message}");
                inner.file_error = Some(message);
            }
        }
        drop(inner);
        self.changed.notify_one();
    }

    /// Why the rules file was refused, if it was.
    pub fn file_error(&self) -> Option<String> {
        self.inner().file_error.clone()
    }

    fn write_file(&self, inner: &mut Inner) -> Result<(), ApiError> {
        let body = serde_json::to_vec_pretty(&inner.rules).map_err(|e| ApiError::Internal(e.to_string()))?;
        fsutil::write_atomically(&self.rules_file, &body)
            .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", self.rules_file.display())))?;
        inner.file_seen = fsutil::modified(&self.rules_file);
        inner.file_error = None;
        self.save_state(inner);
        Ok(())
    }

    /// Evaluate every rule against `snapshot` now, and carry out what they decide.
    pub async fn evaluate(&self, snapshot: &PduSnapshot) {
        let local = super::local_time(jiff::Timestamp::now(), &self.zone);
        let now = Instant::now();
        let mut work = Vec::new();
        {
            let mut inner = self.inner();
            let Inner { rules, states, saved, .. } = &mut *inner;
            for rule in rules.iter() {
                let retry = saved.get_mut(&rule.name).map(|s| std::mem::take(&mut s.retry)).unwrap_or_default();
                if !retry.is_empty() && snapshot.connection.is_online() {
                    work.push(Work { rule: rule.name.clone(), kind: "retried", commands: retry, disable: false });
                } else if !retry.is_empty() {
                    saved.entry(rule.name.clone()).or_default().retry = retry;
                }
                let state = states.entry(rule.name.clone()).or_default();
                match engine::step(rule, state, snapshot, local, now) {
                    Some(Decision::Fire { commands, disable }) => {
                        work.push(Work { rule: rule.name.clone(), kind: "triggered", commands, disable })
                    }
                    Some(Decision::Restore { commands }) => {
                        work.push(Work { rule: rule.name.clone(), kind: "restored", commands, disable: false })
                    }
                    None => {}
                }
            }
            if !work.is_empty() {
                self.save_state(&mut inner);
            }
        }
        for w in work {
            self.carry_out(w).await;
        }
    }

    async fn carry_out(&self, work: Work) {
        let id = self.device.id().clone();
        let mut failed = Vec::new();
        let mut done = Vec::new();
        for (n, action) in &work.commands {
            if action.cuts_power() && self.protected.contains(n) {
                self.events.record(
                    &id,
                    Some(&work.rule),
                    "failed",
                    format!("outlet {n} is protected: a rule never switches it off"),
                );
                continue;
            }
            match self.bridge.outlet_command(Some(id.as_str()), *n, *action).await {
                Ok(_) => done.push((*n, *action)),
                Err(e) => {
                    self.events.record(
                        &id,
                        Some(&work.rule),
                        "failed",
                        format!("could not {} outlet {n}: {e}; retrying", action.verb()),
                    );
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
            self.events.record(&id, Some(&work.rule), work.kind, details);
        }
        let mut inner = self.inner();
        let saved = inner.saved.entry(work.rule.clone()).or_default();
        saved.retry = failed;
        if work.kind == "triggered" && !done.is_empty() {
            saved.run_count += 1;
            saved.last_run_ms = Some(unix_ms());
        }
        if work.disable {
            if let Some(rule) = inner.rules.iter_mut().find(|r| r.name == work.rule) {
                rule.enabled = false;
            }
            let _ = self.write_file(&mut inner);
            drop(inner);
            self.events.record(&id, Some(&work.rule), "disabled", "a one-shot rule disables itself after firing");
            return;
        }
        self.save_state(&mut inner);
    }

    /// The earliest moment a running delay ends.
    fn next_deadline(&self) -> Option<Instant> {
        let inner = self.inner();
        inner.rules.iter().filter_map(|r| inner.states.get(&r.name).and_then(|s| engine::next_deadline(r, s))).min()
    }

    /// Evaluate after every snapshot of this PDU and whenever a delay ends;
    /// follow the rules file.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut snapshots = self.bridge.subscribe();
        let mut file_check = tokio::time::interval(FILE_CHECK);
        let mut previous: Option<Arc<PduSnapshot>> = self.device.latest();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = snapshots.recv() => {
                    let Ok(s) = received else { continue };
                    if s.device_id != *self.device.id() {
                        continue;
                    }
                    if let Some(before) = &previous {
                        self.events.device_events(before, &s);
                    }
                    previous = Some(s.clone());
                    self.evaluate(&s).await;
                }
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    if let Some(s) = self.device.latest() {
                        self.evaluate(&s).await;
                    }
                }
                _ = file_check.tick() => self.reload_file(),
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

    fn invalid(e: app::rules::FieldError) -> ApiError {
        ApiError::Invalid { field: e.field, message: e.message }
    }

    fn fired_note(&self, inner: &Inner, name: &str) -> &'static str {
        match inner.states.get(name).map(|s| &s.phase) {
            Some(Phase::Fired { .. }) => " while fired; nothing was switched back",
            _ => "",
        }
    }

    pub fn create(&self, rule: Rule) -> Result<RuleStatus, ApiError> {
        rule.validate(self.outlet_count()).map_err(Self::invalid)?;
        let mut inner = self.inner();
        if inner.rules.iter().any(|r| r.name == rule.name) {
            return Err(ApiError::Conflict(format!("a rule named {:?} exists already", rule.name)));
        }
        let name = rule.name.clone();
        inner.rules.push(rule);
        self.write_file(&mut inner)?;
        drop(inner);
        self.events.record(self.device.id(), Some(&name), "created", "rule created");
        self.changed.notify_one();
        self.status(&name)
    }

    pub fn update(&self, name: &str, rule: Rule) -> Result<RuleStatus, ApiError> {
        rule.validate(self.outlet_count()).map_err(Self::invalid)?;
        let mut inner = self.inner();
        let Some(at) = inner.rules.iter().position(|r| r.name == name) else {
            return Err(ApiError::not_found("name", format!("no rule named {name:?}")));
        };
        if rule.name != name && inner.rules.iter().any(|r| r.name == rule.name) {
            return Err(ApiError::Conflict(format!("a rule named {:?} exists already", rule.name)));
        }
        let note = self.fired_note(&inner, name);
        let new_name = rule.name.clone();
        inner.rules[at] = rule;
        if let Some(state) = inner.states.remove(name) {
            inner.states.insert(new_name.clone(), state);
        }
        self.write_file(&mut inner)?;
        drop(inner);
        self.events.record(self.device.id(), Some(&new_name), "updated", format!("rule updated{note}"));
        self.changed.notify_one();
        self.status(&new_name)
    }

    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut inner = self.inner();
        let Some(at) = inner.rules.iter().position(|r| r.name == name) else {
            return Err(ApiError::not_found("name", format!("no rule named {name:?}")));
        };
        let note = self.fired_note(&inner, name);
        inner.rules.remove(at);
        inner.states.remove(name);
        self.write_file(&mut inner)?;
        drop(inner);
        self.events.record(self.device.id(), Some(name), "deleted", format!("rule deleted{note}"));
        Ok(())
    }

    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<RuleStatus, ApiError> {
        let mut inner = self.inner();
        let note = self.fired_note(&inner, name);
        let rule = inner
            .rules
            .iter_mut()
            .find(|r| r.name == name)
            .ok_or_else(|| ApiError::not_found("name", format!("no rule named {name:?}")))?;
        rule.enabled = enabled;
        self.write_file(&mut inner)?;
        drop(inner);
        let kind = if enabled { "enabled" } else { "disabled" };
        self.events.record(self.device.id(), Some(name), kind, format!("rule {kind}{note}"));
        self.changed.notify_one();
        self.status(name)
    }

    fn status(&self, name: &str) -> Result<RuleStatus, ApiError> {
        self.list()
            .into_iter()
            .find(|s| s.rule.name == name)
            .ok_or_else(|| ApiError::not_found("name", format!("no rule named {name:?}")))
    }
}
