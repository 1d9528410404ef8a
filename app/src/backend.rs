//! The seam between the dashboard and the bridge (server side only).
//!
//! Server functions and SSR read live data and send commands through this
//! trait; the `server` crate implements it with its one service path, so
//! authentication and auditing can later be added in exactly one place.

use crate::history::{EnergySummary, History, HistoryKind, Report};
use crate::model::{ApiError, Event, MqttStatus, OutletAction, OutletCommandResult, PduSnapshot};
use crate::rules::{Rule, RuleStatus};
use futures::future::BoxFuture;
use std::sync::Arc;

pub trait Backend: Send + Sync + 'static {
    /// The latest snapshot of every PDU, in configuration order.
    fn snapshots(&self) -> Vec<PduSnapshot>;

    /// The MQTT link's state.
    fn mqtt(&self) -> MqttStatus;

    /// A PDU's rules with their live state.
    fn rules(&self, device_id: Option<&str>) -> Result<Vec<RuleStatus>, ApiError>;

    /// Create (`original` = `None`) or replace a rule.
    fn save_rule(&self, device_id: Option<&str>, original: Option<&str>, rule: Rule) -> Result<RuleStatus, ApiError>;

    fn delete_rule(&self, device_id: Option<&str>, name: &str) -> Result<(), ApiError>;

    fn set_rule_enabled(&self, device_id: Option<&str>, name: &str, enabled: bool) -> Result<RuleStatus, ApiError>;

    /// Recent events, newest first.
    fn events(&self, limit: usize) -> Vec<Event>;

    /// One kind of history over a named range ending now.
    fn history(
        &self,
        device_id: Option<String>,
        kind: HistoryKind,
        range: String,
    ) -> BoxFuture<'static, Result<History, ApiError>>;

    /// Energy today, this week and this month, and the reports there are.
    fn energy(&self, device_id: Option<String>) -> BoxFuture<'static, Result<EnergySummary, ApiError>>;

    /// One stored report.
    fn report(&self, device_id: Option<String>, id: String) -> BoxFuture<'static, Result<Report, ApiError>>;

    /// Switch an outlet and report the state read back from the PDU.
    /// `device_id` may be omitted when there is exactly one PDU.
    fn outlet_command(
        &self,
        device_id: Option<String>,
        outlet: u32,
        action: OutletAction,
    ) -> BoxFuture<'static, Result<OutletCommandResult, ApiError>>;
}

/// How the backend travels in Leptos context.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);
