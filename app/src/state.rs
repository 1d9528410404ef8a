//! The page's reactive state: the latest snapshot of every PDU, rules,
//! events, the link to the bridge, and the chosen history range.
//!
//! Owns: what the components read and what the live stream writes. Starts
//! from [`InitialState`], the values the server rendered with, so hydration
//! lines up; `Copy`, so every closure can hold it.

use crate::model::{DeviceId, Event, MqttStatus, PduSnapshot};
use crate::rules::RuleStatus;
use crate::wire::{InitialState, RulesUpdate, EVENTS_SHOWN};
use leptos::prelude::*;

/// State of the push channel from the bridge to this page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    Reconnecting,
}

/// The page's state; `Copy`, so every closure can hold it.
#[derive(Clone, Copy)]
pub struct Dashboard {
    /// Latest snapshot of every PDU, as pushed by the bridge.
    pub snapshots: RwSignal<Vec<PduSnapshot>>,
    /// The PDU the user picked; `None` shows the first.
    pub selected: RwSignal<Option<DeviceId>>,
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
}

impl Dashboard {
    pub fn from_initial(initial: InitialState) -> Self {
        let snapshots = RwSignal::new(initial.snapshots);
        let selected = RwSignal::new(None::<DeviceId>);
        let current = Memo::new(move |_| {
            selected.with(|sel| {
                snapshots.with(|all| match sel {
                    Some(id) => all.iter().find(|s| &s.device_id == id).cloned(),
                    None => all.first().cloned(),
                })
            })
        });
        Self {
            snapshots,
            selected,
            now_ms: RwSignal::new(initial.now_ms),
            link: RwSignal::new(LinkState::Connecting),
            mqtt: RwSignal::new(initial.mqtt),
            rules: RwSignal::new(initial.rules),
            events: RwSignal::new(initial.events),
            current,
            range: RwSignal::new(if initial.range.is_empty() {
                crate::history::DEFAULT_RANGE.to_owned()
            } else {
                initial.range
            }),
        }
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
        let Some(id) = self.read(|s| s.device_id.clone()) else { return Vec::new() };
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
        let Some(device_id) = self.read(|s| s.device_id.clone()) else { return };
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
        let id = self.read(|s| s.device_id.clone())?;
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
