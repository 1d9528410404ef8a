//! Alarms as they travel: what is wrong now (or was), how bad it is, who
//! acknowledged it and when. Shared by the server's alarm model, its API,
//! MQTT and the dashboard's banner and alarm list.
//!
//! Owns: the shapes. Does not own: deciding what is an alarm or when it is
//! raised and cleared (server `alarms`).

use crate::model::DeviceId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an alarm is about. One alarm per kind and subject (bank, source,
/// power supply, contact, rule) per PDU is active at a time.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The PDU stopped answering SNMP (three polls in a row failed).
    PduUnreachable,
    /// A bank at or above its overload threshold (ePDULoadStatusLoadState 4).
    BankOverload,
    /// A bank at or above its near-overload threshold (state 3).
    BankNearOverload,
    /// A bank below its low-load threshold (state 2): something that should
    /// draw power may be off.
    BankLowLoad,
    /// Input source A or B out of its voltage or frequency range.
    SourceOutOfRange,
    /// Only one input can feed the load.
    RedundancyLost,
    /// A power supply of the PDU reports a failure.
    PsuFailed,
    /// The environment probe's temperature is outside its thresholds.
    TemperatureOutOfRange,
    /// Its humidity is outside its thresholds.
    HumidityOutOfRange,
    /// A dry contact is not in its normal state (a door open, a leak).
    ContactAbnormal,
    /// The history store refuses writes: readings are being lost.
    HistoryWriteFailing,
    /// A rule with the `notify` action fired.
    Rule,
}

impl AlarmKind {
    /// The key used in APIs, MQTT and events: `bank_overload`.
    pub fn key(self) -> &'static str {
        match self {
            AlarmKind::PduUnreachable => "pdu_unreachable",
            AlarmKind::BankOverload => "bank_overload",
            AlarmKind::BankNearOverload => "bank_near_overload",
            AlarmKind::BankLowLoad => "bank_low_load",
            AlarmKind::SourceOutOfRange => "source_out_of_range",
            AlarmKind::RedundancyLost => "redundancy_lost",
            AlarmKind::PsuFailed => "psu_failed",
            AlarmKind::TemperatureOutOfRange => "temperature_out_of_range",
            AlarmKind::HumidityOutOfRange => "humidity_out_of_range",
            AlarmKind::ContactAbnormal => "contact_abnormal",
            AlarmKind::HistoryWriteFailing => "history_write_failing",
            AlarmKind::Rule => "rule",
        }
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How bad: `critical` needs someone now (overload, PDU gone, a failed
/// power supply), `warning` soon, `info` is worth knowing.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Who acknowledged an alarm, and when.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// `user ann`, `token nagios`.
    pub by: String,
    /// Unix seconds.
    pub at: f64,
}

/// One alarm, active or past.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Unique, also across restarts (numbered from the start time in ms).
    pub id: u64,
    /// The PDU it is about; `None` for the bridge's own alarms.
    pub device_id: Option<DeviceId>,
    pub kind: AlarmKind,
    /// The bank, source (1 = A, 2 = B), power supply or contact number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<u32>,
    /// The rule, for rule alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub severity: Severity,
    /// One line: "Bank 1 overload".
    pub title: String,
    /// What was measured, in words; updated while the alarm is active.
    pub details: String,
    /// Unix seconds.
    pub raised_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// Unix seconds; `None` while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<f64>,
}

impl Alarm {
    pub fn is_active(&self) -> bool {
        self.cleared_at.is_none()
    }

    /// What the alarm is about, as a stable key among the active ones:
    /// `pdu44001/bank_overload/1`, `bridge/history_write_failing`,
    /// `pdu44001/rule/door-open`.
    pub fn key(&self) -> String {
        let device = self.device_id.as_ref().map(DeviceId::as_str).unwrap_or("bridge");
        match (&self.rule, self.subject) {
            (Some(rule), _) => format!("{device}/{}/{rule}", self.kind),
            (None, Some(n)) => format!("{device}/{}/{n}", self.kind),
            (None, None) => format!("{device}/{}", self.kind),
        }
    }

    /// About this PDU (or the bridge itself, which concerns every PDU).
    pub fn concerns(&self, device_id: &DeviceId) -> bool {
        self.device_id.as_ref().is_none_or(|d| d == device_id)
    }
}

/// Active alarms (most severe first, then newest) and the most recent past
/// ones (newest cleared first).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmList {
    pub active: Vec<Alarm>,
    pub past: Vec<Alarm>,
}

impl AlarmList {
    /// Active alarms nobody has acknowledged yet: the banner's.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Alarm> {
        self.active.iter().filter(|a| a.acknowledged.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(kind: AlarmKind, subject: Option<u32>, rule: Option<&str>) -> Alarm {
        Alarm {
            id: 1,
            device_id: Some(DeviceId::parse("rack-a").unwrap()),
            kind,
            subject,
            rule: rule.map(str::to_owned),
            severity: Severity::Warning,
            title: String::new(),
            details: String::new(),
            raised_at: 0.0,
            acknowledged: None,
            cleared_at: None,
        }
    }

    #[test]
    fn keys_name_the_pdu_the_kind_and_the_subject() {
        assert_eq!(alarm(AlarmKind::BankOverload, Some(2), None).key(), "rack-a/bank_overload/2");
        assert_eq!(alarm(AlarmKind::RedundancyLost, None, None).key(), "rack-a/redundancy_lost");
        assert_eq!(alarm(AlarmKind::Rule, None, Some("door")).key(), "rack-a/rule/door");
        let mut bridge = alarm(AlarmKind::HistoryWriteFailing, None, None);
        bridge.device_id = None;
        assert_eq!(bridge.key(), "bridge/history_write_failing");
        assert!(bridge.concerns(&DeviceId::parse("any").unwrap()));
    }

    #[test]
    fn severities_order_from_info_to_critical_and_travel_in_lowercase() {
        assert!(Severity::Critical > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(serde_json::to_string(&Severity::Critical).unwrap(), "\"critical\"");
        assert_eq!(serde_json::to_string(&AlarmKind::BankNearOverload).unwrap(), "\"bank_near_overload\"");
    }
}
