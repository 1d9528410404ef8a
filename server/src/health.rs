//! What `/api/health` says: each subsystem (pollers, MQTT, history, rules)
//! with its state, the durable queues, and one overall verdict that is `ok`
//! only when nothing is degraded.
//!
//! Owns: the verdict, not the facts — each part keeps its own state and is
//! asked here.

use crate::bridge::{Bridge, DeviceHealth};
use crate::history::store::Store;
use crate::queue::QueueHealth;
use crate::rules::Automation;
use app::model::{MqttState, MqttStatus};
use serde::Serialize;

/// One subsystem's state.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Subsystem {
    pub name: &'static str,
    /// `ok`, `degraded` or `off` (switched off by the settings).
    pub status: &'static str,
    /// What is wrong, or worth knowing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What `/api/health` answers.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when any reason is given.
    pub status: &'static str,
    pub reasons: Vec<String>,
    pub devices: Vec<DeviceHealth>,
    /// The durable queues (history, rules, events): fill and losses.
    pub queues: Vec<QueueHealth>,
    pub subsystems: Vec<Subsystem>,
}

/// The bridge's whole health: the pollers' and queues' from [`Bridge::health`],
/// then MQTT, history and rules.
pub fn report(
    bridge: &Bridge,
    mqtt: &MqttStatus,
    history: Option<&Store>,
    history_note: Option<&str>,
    automation: &Automation,
) -> Health {
    let polled = bridge.health();
    let mut health = Health {
        status: "ok",
        reasons: polled.reasons,
        devices: polled.devices,
        queues: polled.queues,
        subsystems: Vec::new(),
    };
    // Only the devices' own reasons speak for the pollers; a consumer that
    // fell behind is the queues' matter.
    let pollers_ok = health.reasons.is_empty();
    let mut subsystems = vec![Subsystem {
        name: "poller",
        status: if health.devices.iter().all(|d| d.state == "online") && pollers_ok { "ok" } else { "degraded" },
        detail: None,
    }];
    let losing: Vec<String> = health
        .queues
        .iter()
        .filter(|q| q.losing())
        .map(|q| format!("{}: {} items lost so far (the consumer fell behind)", q.name, q.lost))
        .collect();
    subsystems.push(Subsystem {
        name: "queues",
        status: if losing.is_empty() { "ok" } else { "degraded" },
        detail: (!losing.is_empty()).then(|| losing.join("; ")),
    });
    health.reasons.extend(losing);

    let (status, detail) = match mqtt.state {
        MqttState::Off => ("off", None),
        MqttState::Connected | MqttState::Connecting => ("ok", None),
        MqttState::Disconnected => ("degraded", Some(mqtt.error.clone().unwrap_or_else(|| "disconnected".into()))),
    };
    if let Some(why) = detail.as_deref().filter(|_| status == "degraded") {
        health.reasons.push(format!("MQTT ({}): {why}", mqtt.broker));
    }
    subsystems.push(Subsystem { name: "mqtt", status, detail });

    let (status, detail) = match history {
        None => {
            ("degraded", Some(format!("history is off: {}", history_note.unwrap_or("the store could not be opened"))))
        }
        Some(store) => match store.write_health().failing {
            Some((since_ms, why)) => {
                let secs = crate::clock::unix_ms().saturating_sub(since_ms) / 1000;
                ("degraded", Some(format!("samples cannot be written for {secs} s: {why}")))
            }
            None => ("ok", history_note.map(str::to_owned)),
        },
    };
    if status == "degraded" {
        health.reasons.push(format!("history: {}", detail.clone().unwrap_or_default()));
    }
    subsystems.push(Subsystem { name: "history", status, detail });

    let refused: Vec<String> = automation.engines().iter().filter_map(|e| e.file_error()).collect();
    let detail = (!refused.is_empty()).then(|| refused.join("; "));
    if let Some(why) = &detail {
        health.reasons.push(format!("rules: {why}"));
    }
    subsystems.push(Subsystem { name: "rules", status: if detail.is_some() { "degraded" } else { "ok" }, detail });

    health.status = if health.reasons.is_empty() { "ok" } else { "degraded" };
    health.subsystems = subsystems;
    health
}
