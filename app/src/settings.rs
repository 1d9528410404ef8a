//! A PDU's slow-changing settings as the bridge last read them (the
//! identity strings, the ATS source configuration, what outlets do when the
//! PDU powers up, each outlet's delays and name on the PDU, and the load
//! thresholds of banks and phases), and the changes a user may ask for.
//!
//! Owns: the shapes and the validation of a change against the CPS-MIB's
//! allowed ranges, shared by the server (before any SET) and the browser (as
//! the user types). Does not own: how settings are read or written (server
//! `snmp`, `manage`). The one thing to know: every value is what the PDU
//! said, in the MIB's own units (seconds, whole amps, its enum codes), and
//! `None` means the PDU does not have that setting — absent, not zero.

use crate::model::{ApiError, DeviceId};
use serde::{Deserialize, Serialize};

/// How often settings are read again (they change by hand, on the PDU or
/// here): the spec's "every few minutes".
pub const REFRESH_SECS: u64 = 300;

/// The longest outlet or device name a PDU stores (ePDUOutletConfigOutletName
/// and ePDUIdentName: the spec's "string (≤ 31)").
pub const PDU_NAME_MAX: usize = 31;
/// sysLocation and sysContact: DisplayString; CyberPower cards keep 63.
pub const PDU_TEXT_MAX: usize = 63;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PduSettings {
    pub device_id: Option<DeviceId>,
    /// When they were read (unix ms); `None` = not read yet.
    pub read_at_ms: Option<i64>,
    /// Why the last read failed, if it did (the values are then older).
    pub error: Option<String>,
    /// ePDUIdentName.
    pub device_name: Option<String>,
    /// sysLocation.
    pub location: Option<String>,
    /// sysContact.
    pub contact: Option<String>,
    /// ePDU2SourceConfig, on a PDU with an ATS.
    pub source: Option<SourceSettings>,
    /// ePDUOutletDevColdstartDelay, s: -1 never, 0 at once, 1–300.
    pub coldstart_delay: Option<i64>,
    /// ePDUOutletDevColdstartState: 1 all on, 2 as before.
    pub coldstart_state: Option<i64>,
    pub outlets: Vec<OutletSettings>,
    /// ePDULoadBankConfigTable.
    pub banks: Vec<LoadThresholds>,
    /// ePDULoadPhaseConfigTable.
    pub phases: Vec<LoadThresholds>,
}

/// ePDU2SourceConfig (E2.9.2.1.c.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SourceSettings {
    /// 1 A, 2 B, 3 none.
    pub preferred: Option<i64>,
    /// 1 high, 2 medium, 3 low.
    pub voltage_sensitivity: Option<i64>,
    /// 1 wide, 2 medium, 3 narrow.
    pub transfer_range: Option<i64>,
    /// V.
    pub nominal_voltage: Option<i64>,
}

/// One row of ePDUOutletConfigTable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OutletSettings {
    pub number: u32,
    /// The name stored on the PDU (the bridge may show another).
    pub name: Option<String>,
    /// PowerOnTime, s: what delayedOn waits (-1 never).
    pub on_delay: Option<i64>,
    /// PowerOffTime, s (-1 never).
    pub off_delay: Option<i64>,
    /// RebootDuration, s (5–60).
    pub reboot_duration: Option<i64>,
}

/// A bank's or phase's load thresholds, whole amps, and the limit the
/// overload threshold may not exceed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoadThresholds {
    pub index: u32,
    pub low: Option<i64>,
    pub near_overload: Option<i64>,
    pub overload: Option<i64>,
    /// ePDULoadDevMaxBankLoad / MaxPhaseLoad (or the device rating).
    pub max: Option<i64>,
}

/// One change a user asks for. Thresholds travel as a whole row because the
/// MIB ties them together (low < near ≤ overload ≤ max).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "setting", rename_all = "snake_case", deny_unknown_fields)]
pub enum SettingChange {
    DeviceName { value: String },
    Location { value: String },
    Contact { value: String },
    PreferredSource { value: i64 },
    VoltageSensitivity { value: i64 },
    TransferRange { value: i64 },
    ColdstartDelay { value: i64 },
    ColdstartState { value: i64 },
    OutletName { outlet: u32, value: String },
    OutletOnDelay { outlet: u32, value: i64 },
    OutletOffDelay { outlet: u32, value: i64 },
    OutletRebootDuration { outlet: u32, value: i64 },
    BankThresholds { bank: u32, low: i64, near_overload: i64, overload: i64 },
    PhaseThresholds { phase: u32, low: i64, near_overload: i64, overload: i64 },
}

/// `PUT /api/config`: the changes, applied in order; each is checked
/// before any is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    pub changes: Vec<SettingChange>,
}

/// What a change did, read back from the PDU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppliedChange {
    pub setting: String,
    pub before: String,
    pub after: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SettingsResult {
    pub applied: Vec<AppliedChange>,
    pub settings: PduSettings,
}

/// `PUT /api/outlets/{n}/name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// The name; empty removes the bridge's name (the PDU's own shows again).
    pub name: String,
    /// Also write it to the PDU (at most 31 characters of printable ASCII).
    #[serde(default)]
    pub write_to_pdu: bool,
}

/// What a rename did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RenameResult {
    pub outlet: u32,
    /// The name the bridge shows now.
    pub name: String,
    /// The name the PDU holds, read back after the write (when written).
    pub name_on_pdu: Option<String>,
}

/// Every outlet at once (ePDUOutletDevCommand), each with its configured
/// delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AllOutletsAction {
    /// delayedAllOn: each outlet after its power-on delay.
    DelayOn,
    /// delayedAllOff: each outlet after its power-off delay.
    DelayOff,
    /// cancelAllPendingCommands.
    Cancel,
}

impl AllOutletsAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delayon" | "delay_on" | "on" => Some(Self::DelayOn),
            "delayoff" | "delay_off" | "off" => Some(Self::DelayOff),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Self::DelayOn => "turn on every outlet (each after its delay)",
            Self::DelayOff => "turn off every outlet (each after its delay)",
            Self::Cancel => "cancel every pending command",
        }
    }

    /// ePDUOutletDevCommand's value.
    pub fn code(self) -> i64 {
        match self {
            Self::DelayOn => 5,
            Self::DelayOff => 6,
            Self::Cancel => 8,
        }
    }
}

/// One outlet's state read back after an all-outlets command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OutletReadBack {
    pub outlet: u32,
    /// `None`: it could not be read back.
    pub state: Option<crate::model::OutletState>,
    /// A delayed command is still to be carried out.
    pub pending: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AllOutletsResult {
    pub action: AllOutletsAction,
    pub outlets: Vec<OutletReadBack>,
}

/// `POST /api/outlets/command`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllOutletsRequest {
    pub action: String,
    /// Needed (and only an admin may give it) when the PDU has protected
    /// outlets and the action turns outlets off.
    #[serde(default)]
    pub confirm_protected: bool,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::Invalid { field: field.into(), message: message.into() }
}

/// Text a PDU can store: printable ASCII (DisplayString), 1 to `max`.
pub fn check_pdu_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(field, format!("must be 1 to {max} characters")));
    }
    if let Some(c) = value.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(invalid(field, format!("{c:?} cannot be stored on the PDU: use printable ASCII")));
    }
    Ok(())
}

fn range(field: &str, value: i64, allowed: std::ops::RangeInclusive<i64>, meaning: &str) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("{value} is out of range: {meaning}")))
    }
}

impl SettingChange {
    /// The field a change is about, as errors and events name it
    /// (`outlet.3.on_delay`, `bank.1.thresholds`).
    pub fn field(&self) -> String {
        use SettingChange::*;
        match self {
            DeviceName { .. } => "device_name".into(),
            Location { .. } => "location".into(),
            Contact { .. } => "contact".into(),
            PreferredSource { .. } => "preferred_source".into(),
            VoltageSensitivity { .. } => "voltage_sensitivity".into(),
            TransferRange { .. } => "transfer_range".into(),
            ColdstartDelay { .. } => "coldstart_delay".into(),
            ColdstartState { .. } => "coldstart_state".into(),
            OutletName { outlet, .. } => format!("outlet.{outlet}.name"),
            OutletOnDelay { outlet, .. } => format!("outlet.{outlet}.on_delay"),
            OutletOffDelay { outlet, .. } => format!("outlet.{outlet}.off_delay"),
            OutletRebootDuration { outlet, .. } => format!("outlet.{outlet}.reboot_duration"),
            BankThresholds { bank, .. } => format!("bank.{bank}.thresholds"),
            PhaseThresholds { phase, .. } => format!("phase.{phase}.thresholds"),
        }
    }

    /// Check a change against the MIB's ranges and against what the PDU
    /// has (`current`): an outlet, bank or setting it does not have is
    /// refused before anything is sent.
    pub fn validate(&self, current: &PduSettings) -> Result<(), ApiError> {
        use SettingChange::*;
        let field = self.field();
        let outlet = |n: u32| {
            current
                .outlets
                .iter()
                .find(|o| o.number == n)
                .ok_or_else(|| invalid(&field, format!("this PDU has no outlet {n}")))
        };
        let source = || current.source.as_ref().ok_or_else(|| invalid(&field, "this PDU has no ATS"));
        match self {
            DeviceName { value } | OutletName { value, .. } => {
                if let OutletName { outlet: n, .. } = self {
                    outlet(*n)?;
                }
                check_pdu_text(&field, value, PDU_NAME_MAX)
            }
            Location { value } | Contact { value } => check_pdu_text(&field, value, PDU_TEXT_MAX),
            PreferredSource { value } => {
                source()?;
                range(&field, *value, 1..=2, "1 (source A) or 2 (source B)")
            }
            VoltageSensitivity { value } => {
                source()?.voltage_sensitivity.ok_or_else(|| invalid(&field, "this PDU does not have it"))?;
                range(&field, *value, 1..=3, "1 high, 2 medium or 3 low")
            }
            TransferRange { value } => {
                source()?.transfer_range.ok_or_else(|| invalid(&field, "this PDU does not have it"))?;
                range(&field, *value, 1..=3, "1 wide, 2 medium or 3 narrow")
            }
            ColdstartDelay { value } => {
                current.coldstart_delay.ok_or_else(|| invalid(&field, "this PDU does not have it"))?;
                range(&field, *value, -1..=300, "-1 (never), 0 (at once) or 1 to 300 seconds")
            }
            ColdstartState { value } => {
                current.coldstart_state.ok_or_else(|| invalid(&field, "this PDU does not have it"))?;
                range(&field, *value, 1..=2, "1 (all on) or 2 (as before)")
            }
            OutletOnDelay { outlet: n, value } | OutletOffDelay { outlet: n, value } => {
                outlet(*n)?;
                range(&field, *value, -1..=7200, "-1 (never) or 0 to 7200 seconds")
            }
            OutletRebootDuration { outlet: n, value } => {
                outlet(*n)?;
                range(&field, *value, 5..=60, "5 to 60 seconds")
            }
            BankThresholds { bank: i, low, near_overload, overload }
            | PhaseThresholds { phase: i, low, near_overload, overload } => {
                let rows = if matches!(self, BankThresholds { .. }) { &current.banks } else { &current.phases };
                let what = if matches!(self, BankThresholds { .. }) { "bank" } else { "phase" };
                let row = rows
                    .iter()
                    .find(|r| r.index == *i)
                    .ok_or_else(|| invalid(&field, format!("this PDU has no {what} {i} thresholds")))?;
                if *low < 0 || low >= near_overload {
                    return Err(invalid(
                        &field,
                        format!("low ({low} A) must be 0 or more and below near-overload ({near_overload} A)"),
                    ));
                }
                if near_overload > overload {
                    return Err(invalid(
                        &field,
                        format!("near-overload ({near_overload} A) must not exceed overload ({overload} A)"),
                    ));
                }
                match row.max {
                    Some(max) if *overload > max => Err(invalid(
                        &field,
                        format!("overload ({overload} A) must not exceed the {what}'s limit of {max} A"),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The value as it reads in events and the audit log.
    pub fn shown(&self) -> String {
        use SettingChange::*;
        match self {
            DeviceName { value } | Location { value } | Contact { value } | OutletName { value, .. } => {
                format!("{value:?}")
            }
            PreferredSource { value }
            | VoltageSensitivity { value }
            | TransferRange { value }
            | ColdstartDelay { value }
            | ColdstartState { value }
            | OutletOnDelay { value, .. }
            | OutletOffDelay { value, .. }
            | OutletRebootDuration { value, .. } => value.to_string(),
            BankThresholds { low, near_overload, overload, .. }
            | PhaseThresholds { low, near_overload, overload, .. } => {
                thresholds_shown(Some(*low), Some(*near_overload), Some(*overload))
            }
        }
    }
}

pub fn thresholds_shown(low: Option<i64>, near: Option<i64>, over: Option<i64>) -> String {
    let a = |v: Option<i64>| v.map(|v| format!("{v} A")).unwrap_or_else(|| "?".into());
    format!("low {} / near {} / over {}", a(low), a(near), a(over))
}

impl PduSettings {
    /// What the PDU holds now for the setting `change` is about, shown the
    /// way [`SettingChange::shown`] shows the new value.
    pub fn shown(&self, change: &SettingChange) -> String {
        use SettingChange::*;
        let text = |v: &Option<String>| v.as_ref().map(|s| format!("{s:?}")).unwrap_or_else(|| "absent".into());
        let int = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "absent".into());
        let outlet = |n: &u32| self.outlets.iter().find(|o| o.number == *n);
        let source = |f: fn(&SourceSettings) -> Option<i64>| int(self.source.as_ref().and_then(f));
        let row = |rows: &[LoadThresholds], i: &u32| {
            rows.iter()
                .find(|r| r.index == *i)
                .map(|r| thresholds_shown(r.low, r.near_overload, r.overload))
                .unwrap_or_else(|| "absent".into())
        };
        match change {
            DeviceName { .. } => text(&self.device_name),
            Location { .. } => text(&self.location),
            Contact { .. } => text(&self.contact),
            PreferredSource { .. } => source(|s| s.preferred),
            VoltageSensitivity { .. } => source(|s| s.voltage_sensitivity),
            TransferRange { .. } => source(|s| s.transfer_range),
            ColdstartDelay { .. } => int(self.coldstart_delay),
            ColdstartState { .. } => int(self.coldstart_state),
            OutletName { outlet: n, .. } => text(&outlet(n).and_then(|o| o.name.clone())),
            OutletOnDelay { outlet: n, .. } => int(outlet(n).and_then(|o| o.on_delay)),
            OutletOffDelay { outlet: n, .. } => int(outlet(n).and_then(|o| o.off_delay)),
            OutletRebootDuration { outlet: n, .. } => int(outlet(n).and_then(|o| o.reboot_duration)),
            BankThresholds { bank, .. } => row(&self.banks, bank),
            PhaseThresholds { phase, .. } => row(&self.phases, phase),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PduSettings {
        PduSettings {
            source: Some(SourceSettings {
                preferred: Some(1),
                voltage_sensitivity: Some(2),
                transfer_range: Some(1),
                nominal_voltage: Some(120),
            }),
            coldstart_delay: Some(0),
            coldstart_state: Some(2),
            outlets: vec![OutletSettings { number: 1, ..Default::default() }],
            banks: vec![LoadThresholds {
                index: 1,
                low: Some(0),
                near_overload: Some(12),
                overload: Some(16),
                max: Some(16),
            }],
            ..Default::default()
        }
    }

    fn field_of(change: SettingChange) -> String {
        match change.validate(&settings()) {
            Err(ApiError::Invalid { field, message }) => format!("{field}: {message}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn changes_inside_the_mib_ranges_pass() {
        let ok = [
            SettingChange::ColdstartDelay { value: -1 },
            SettingChange::ColdstartDelay { value: 300 },
            SettingChange::OutletOnDelay { outlet: 1, value: 7200 },
            SettingChange::OutletRebootDuration { outlet: 1, value: 5 },
            SettingChange::BankThresholds { bank: 1, low: 0, near_overload: 14, overload: 16 },
            SettingChange::OutletName { outlet: 1, value: "Core switch".into() },
        ];
        for change in ok {
            assert_eq!(change.validate(&settings()), Ok(()), "{change:?}");
        }
    }

    #[test]
    fn changes_outside_them_name_the_field_and_what_is_allowed() {
        assert_eq!(
            field_of(SettingChange::ColdstartDelay { value: 301 }),
            "coldstart_delay: 301 is out of range: -1 (never), 0 (at once) or 1 to 300 seconds"
        );
        assert!(field_of(SettingChange::OutletRebootDuration { outlet: 1, value: 4 })
            .starts_with("outlet.1.reboot_duration: 4 is out of range"));
        assert_eq!(
            field_of(SettingChange::OutletOnDelay { outlet: 9, value: 1 }),
            "outlet.9.on_delay: this PDU has no outlet 9"
        );
        assert!(field_of(SettingChange::BankThresholds { bank: 1, low: 0, near_overload: 14, overload: 20 })
            .contains("limit of 16 A"));
        assert!(field_of(SettingChange::BankThresholds { bank: 1, low: 14, near_overload: 14, overload: 16 })
            .contains("below near-overload"));
        assert!(field_of(SettingChange::OutletName { outlet: 1, value: "x".repeat(32) }).contains("1 to 31 characters"));
        assert!(field_of(SettingChange::DeviceName { value: "café".into() }).contains("printable ASCII"));
        assert!(field_of(SettingChange::PreferredSource { value: 3 }).contains("1 (source A) or 2 (source B)"));
        let no_ats = PduSettings { source: None, ..settings() };
        assert!(matches!(SettingChange::PreferredSource { value: 1 }.validate(&no_ats), Err(ApiError::Invalid { .. })));
    }

    #[test]
    fn a_change_reads_as_json_with_its_setting_named() {
        let change: SettingChange =
            serde_json::from_str(r#"{"setting": "outlet_on_delay", "outlet": 3, "value": 10}"#).unwrap();
        assert_eq!(change, SettingChange::OutletOnDelay { outlet: 3, value: 10 });
        let unknown = serde_json::from_str::<SettingChange>(r#"{"setting": "coldstart_delay", "value": 1, "x": 1}"#);
        assert!(unknown.is_err());
    }
}
