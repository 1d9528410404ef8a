//! The event log: rule transitions and device events (ATS transfers, lost
//! sources, unreachable PDUs, reboots), kept for at least 90 days.
//!
//! Owns: the events file (`<data dir>/events.jsonl`, one JSON event a line,
//! appended; pruned of events older than the retention at start) and the
//! channel MQTT publishes from. Until the history store (issue 5) exists this
//! file is the store; reading it back is for the API and the dashboard.
//! Device events are derived here from consecutive snapshots, so every
//! source of snapshots (simulated, SNMP) produces the same events.

use crate::service::unix_secs;
use app::model::{Connection, DeviceId, Event, PduSnapshot, RangeStatus, Redundancy};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept at least this long.
pub const RETENTION_DAYS: u64 = 90;
/// Events kept in memory for the API and the dashboard.
const RECENT: usize = 1000;

pub struct EventLog {
    path: Option<PathBuf>,
    recent: Mutex<VecDeque<Event>>,
    bus: broadcast::Sender<Event>,
}

impl EventLog {
    /// An event log in `path` (created if missing), or in memory only.
    pub fn open(path: Option<PathBuf>) -> Self {
        let mut recent = VecDeque::new();
        if let Some(path) = &path {
            let cutoff = unix_secs() - (RETENTION_DAYS * 86_400) as f64;
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let kept: Vec<Event> =
                text.lines().filter_map(|l| serde_json::from_str::<Event>(l).ok()).filter(|e| e.ts >= cutoff).collect();
            // Rewrite without the expired ones (and without unreadable lines).
            let body: String = kept.iter().filter_map(|e| serde_json::to_string(e).ok()).map(|l| l + "\n").collect();
            if let Err(e) = crate::fsutil::write_atomically(path, body.as_bytes()) {
                tracing::warn!(path = %path.display(), error = %e, "cannot prune the events file");
            }
            recent.extend(kept.into_iter().rev().take(RECENT).rev());
        }
        Self { path, recent: Mutex::new(recent), bus: broadcast::channel(256).0 }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }

    pub fn record(&self, device_id: &DeviceId, rule: Option<&str>, kind: &str, details: impl Into<String>) {
        let event = Event {
            ts: unix_secs(),
            device_id: device_id.clone(),
            rule: rule.map(str::to_owned),
            kind: kind.to_owned(),
            details: details.into(),
        };
        tracing::info!(device = %device_id, rule = rule.unwrap_or("-"), kind, details = %event.details, "event");
        if let Some(path) = &self.path {
            let line = serde_json::to_string(&event).unwrap_or_default() + "\n";
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = appended {
                tracing::warn!(path = %path.display(), error = %e, "cannot append to the events file");
            }
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        let _ = self.bus.send(event);
    }

    /// Newest first.
    pub fn recent(&self, device_id: Option<&DeviceId>, limit: usize) -> Vec<Event> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().rev().filter(|e| device_id.is_none_or(|d| &e.device_id == d)).take(limit).cloned().collect()
    }

    /// Device events between two consecutive snapshots of one PDU.
    pub fn device_events(&self, before: &PduSnapshot, after: &PduSnapshot) {
        let id = &after.device_id;
        match (&before.connection, &after.connection) {
            (Connection::Unreachable { .. }, Connection::Unreachable { .. }) => return,
            (_, Connection::Unreachable { reason, .. }) => {
                self.record(id, None, "pdu_unreachable", format!("the PDU stopped answering: {reason}"));
                return;
            }
            (Connection::Unreachable { .. }, _) => self.record(id, None, "pdu_recovered", "the PDU answers again"),
            _ => {}
        }
        if let (Some(a), Some(b)) = (before.uptime_s, after.uptime_s) {
            if b < a {
                self.record(id, None, "pdu_rebooted", format!("sysUpTime went from {a} s back to {b} s"));
            }
        }
        let (Some(was), Some(now)) = (&before.ats, &after.ats) else { return };
        if was.selected != now.selected {
            let name =
                |s: Option<app::model::Source>| s.map(|s| format!("source {}", s.letter())).unwrap_or("none".into());
            self.record(
                id,
                None,
                "ats_transfer",
                format!("load moved from {} to {}", name(was.selected), name(now.selected)),
            );
        }
        for (old, new) in was.sources.iter().zip(&now.sources) {
            let ok = |r: &app::model::SourceReading| r.voltage_status == Some(RangeStatus::Normal);
            let letter = new.source.letter();
            match (ok(old), ok(new)) {
                (true, false) => self.record(id, None, "source_lost", format!("source {letter} is out of range")),
                (false, true) => self.record(id, None, "source_restored", format!("source {letter} is back in range")),
                _ => {}
            }
        }
        match (was.redundancy, now.redundancy) {
            (Some(Redundancy::Ok), Some(Redundancy::Lost)) => {
                self.record(id, None, "redundancy_lost", "only one input can feed the load")
            }
            (Some(Redundancy::Lost), Some(Redundancy::Ok)) => {
                self.record(id, None, "redundancy_restored", "both inputs can feed the load")
            }
            _ => {}
        }
    }
}
