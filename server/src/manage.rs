//! Running a PDU from the bridge: its slow-changing settings (read every few
//! minutes and after each change, written with a read-back), outlet names
//! (the bridge's names file, reloaded when it changes, and the names stored
//! on the PDU) and the all-outlets command.
//!
//! Owns: the write path for everything that is not a single outlet's
//! command — validation against the MIB's ranges before any SET, one write
//! at a time per PDU, the read-back that confirms each change, and the event
//! and audit line for each. Does not own: the OIDs (`snmp::mib`), the shapes
//! and ranges (`app::settings`), HTTP (`web`). The one thing to know: a
//! change is reported from what the PDU reads back, never from what was
//! asked; a read-back that differs is an error even though the SET passed.

use crate::bridge::{Bridge, Requester};
use crate::clock::{unix_ms, unix_secs};
use crate::device::Device;
use crate::pdu::correct::OutletNames;
use crate::pdu::SourceError;
use app::model::{Connection, DeviceId, Event};
use app::settings::{
    check_pdu_text, AllOutletsAction, AllOutletsResult, AppliedChange, OutletReadBack, PduSettings, RenameRequest,
    RenameResult, SettingChange, SettingsResult, REFRESH_SECS,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The names file is looked at this often for changes made by hand.
pub const NAMES_CHECK: Duration = Duration::from_secs(2);
/// A settings read that failed is tried again this soon.
const SETTINGS_RETRY: Duration = Duration::from_secs(30);
/// A settings read is several requests: this many request deadlines bound it.
const SETTINGS_BUDGET_REQUESTS: u32 = 12;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManageError {
    #[error("no reading from PDU {0} yet; nothing was changed")]
    NoReading(DeviceId),
    #[error("PDU {0} is unreachable; nothing was changed")]
    Unreachable(DeviceId),
    #[error("a different PDU (serial {found}) answers at the address of {device}; nothing was changed")]
    WrongPdu { device: DeviceId, found: String },
    #[error("PDU {device} has no outlet {outlet}")]
    NoSuchOutlet { device: DeviceId, outlet: u32 },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("PDU {device} refused {field}: {why}{done}")]
    Refused { device: DeviceId, field: String, why: String, done: String },
    #[error("PDU {device} did not answer within {secs:.1} s writing {field}; {meaning}{done}")]
    Timeout { device: DeviceId, field: String, secs: f64, meaning: &'static str, done: String },
    #[error("PDU {device} accepted {field} = {wanted} but reads back {found}")]
    ReadBack { device: DeviceId, field: String, wanted: String, found: String },
    #[error("PDU {device} has protected outlets ({outlets}): turning every outlet off needs an admin's explicit confirmation")]
    Protected { device: DeviceId, outlets: String },
    #[error("the outlet names file {path} could not be written: {why}")]
    NamesFile { path: String, why: String },
}

fn invalid(e: app::model::ApiError) -> ManageError {
    match e {
        app::model::ApiError::Invalid { field, message } => ManageError::Invalid { field, message },
        other => {
            ManageError::Invalid { field: other.field().unwrap_or("request").to_owned(), message: other.to_string() }
        }
    }
}

/// What was applied before a failure, for the error's message.
fn done(applied: &[AppliedChange]) -> String {
    if applied.is_empty() {
        String::new()
    } else {
        let fields: Vec<&str> = applied.iter().map(|a| a.setting.as_str()).collect();
        format!(" (already applied: {})", fields.join(", "))
    }
}

/// Settings and rename writes go only to a PDU that is reachable and is the
/// one this id stands for.
fn check_writable(device: &Device) -> Result<(), ManageError> {
    let id = device.id();
    if let Some(found) = device.refused_serial() {
        return Err(ManageError::WrongPdu { device: id.clone(), found });
    }
    let snapshot = device.latest().ok_or_else(|| ManageError::NoReading(id.clone()))?;
    if let Connection::Unreachable { .. } = snapshot.connection {
        return Err(ManageError::Unreachable(id.clone()));
    }
    Ok(())
}

/// Read the settings from the PDU now, stamped with the time and id.
pub async fn read_settings(device: &Device) -> Result<PduSettings, SourceError> {
    let deadline = device.config.poll_deadline() * SETTINGS_BUDGET_REQUESTS;
    let mut settings = tokio::time::timeout(deadline, device.source.settings())
        .await
        .map_err(|_| SourceError::Timeout(deadline))??;
    settings.device_id = Some(device.id().clone());
    settings.read_at_ms = Some(unix_ms() as i64);
    Ok(settings)
}

/// Beside each PDU's poller: read its settings at start, every
/// [`REFRESH_SECS`] and when asked; reload its names file when it changes.
pub async fn watch(bridge: Arc<Bridge>, device: Arc<Device>, shutdown: CancellationToken) {
    let mut settings_at = Instant::now();
    loop {
        let names_at = Instant::now() + NAMES_CHECK;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(names_at.min(settings_at)) => {}
            _ = device.settings_wanted.notified() => settings_at = Instant::now(),
        }
        reload_names(&bridge, &device).await;
        if Instant::now() < settings_at {
            continue;
        }
        let reachable = device.latest().is_some_and(|s| matches!(s.connection, Connection::Online));
        if !reachable {
            // Nothing is asked of a PDU that is not answering: look again soon.
            settings_at = Instant::now() + NAMES_CHECK;
            continue;
        }
        let _one = device.writes.lock().await;
        match read_settings(&device).await {
            Ok(settings) => {
                device.set_settings(settings);
                settings_at = Instant::now() + Duration::from_secs(REFRESH_SECS);
            }
            Err(e) => {
                tracing::warn!(device = %device.id(), error = %e, "could not read the PDU's settings");
                let mut kept = device.settings().map(|s| (*s).clone()).unwrap_or_default();
                kept.device_id = Some(device.id().clone());
                kept.error = Some(format!("could not read the settings: {e}"));
                device.set_settings(kept);
                settings_at = Instant::now() + SETTINGS_RETRY;
            }
        }
    }
}

/// Load the names file again if it changed since it was last loaded or
/// written. An invalid file is refused with a clear message and the names
/// in force stay.
async fn reload_names(bridge: &Bridge, device: &Device) {
    let path = device.config.names_file.clone();
    let seen = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || crate::fsutil::modified(&path)).await.ok().flatten()
    };
    if seen == device.names_seen() {
        return;
    }
    let loaded = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || OutletNames::load(&path)).await
    };
    let id = device.id().clone();
    match loaded {
        Ok(Ok(names)) => {
            tracing::info!(device = %id, file = %path.display(), "outlet names reloaded");
            device.set_outlet_names(names, seen);
            bridge.events().record(Event::new(
                unix_secs(),
                id,
                "outlet_names_reloaded",
                format!("outlet names reloaded from {}", path.display()),
            ));
            device.poke.notify_one();
        }
        Ok(Err(e)) => {
            tracing::warn!(device = %id, error = %e, "outlet names file refused; the names in force stay");
            device.set_outlet_names(device.outlet_names(), seen);
            bridge.events().record(Event::new(
                unix_secs(),
                id,
                "outlet_names_refused",
                format!("{e}; the names in force stay"),
            ));
        }
        Err(_) => {}
    }
}

async fn record(bridge: &Bridge, requester: &Requester, action: &str, target: &str, outcome: &str, details: &str) {
    if let Some(audit) = bridge.audit() {
        audit.record(&requester.actor, requester.from.as_deref(), action, target, outcome, details).await;
    }
}

/// Apply `changes` in order, each validated first against the settings the
/// PDU has, then written and read back. Every applied change is an event
/// and an audit line.
pub async fn change_settings(
    bridge: &Bridge,
    device: &Device,
    requester: &Requester,
    changes: Vec<SettingChange>,
) -> Result<SettingsResult, ManageError> {
    let id = device.id().clone();
    let result = apply(device, &changes).await;
    let (applied, outcome) = match &result {
        Ok(r) => (r.applied.clone(), Ok(())),
        Err((applied, e)) => (applied.clone(), Err(e.clone())),
    };
    for a in &applied {
        let details = format!("{}: {} → {}", a.setting, a.before, a.after);
        let mut event = Event::new(unix_secs(), id.clone(), "setting_changed", details.clone());
        event.origin = Some(requester.origin_label().to_owned());
        bridge.events().record(event);
        record(bridge, requester, "setting_changed", &format!("{id} {}", a.setting), "ok", &details).await;
    }
    if let Err(e) = &outcome {
        let field = changes.first().map(SettingChange::field).unwrap_or_default();
        tracing::warn!(device = %id, error = %e, by = %requester.actor, "settings change failed");
        record(bridge, requester, "setting_changed", &format!("{id} {field}"), "failed", &e.to_string()).await;
    }
    if !applied.is_empty() {
        // Names show in the snapshot (and on MQTT) after the next identity read.
        device.identity_stale.store(true, Ordering::Relaxed);
        device.poke.notify_one();
    }
    result.map_err(|(_, e)| e)
}

type Partial = (Vec<AppliedChange>, ManageError);

async fn apply(device: &Device, changes: &[SettingChange]) -> Result<SettingsResult, Partial> {
    let id = device.id().clone();
    let fail = |e| (Vec::new(), e);
    if changes.is_empty() {
        return Err(fail(ManageError::Invalid { field: "changes".into(), message: "nothing to change".into() }));
    }
    check_writable(device).map_err(fail)?;
    let _one = device.writes.lock().await;
    let read_failed = |e: SourceError| ManageError::Timeout {
        device: id.clone(),
        field: "settings".into(),
        secs: device.config.poll_deadline().as_secs_f64(),
        meaning: match e {
            SourceError::Timeout(_) => "the settings could not be read",
            _ => "the PDU refused to read its settings",
        },
        done: String::new(),
    };
    let before = read_settings(device).await.map_err(|e| fail(read_failed(e)))?;
    for change in changes {
        change.validate(&before).map_err(|e| fail(invalid(e)))?;
    }
    let deadline = device.config.poll_deadline();
    let mut applied: Vec<AppliedChange> = Vec::new();
    for change in changes {
        let field = change.field();
        let written = tokio::time::timeout(deadline, device.source.write_setting(change))
            .await
            .map_err(|_| SourceError::Timeout(deadline))
            .and_then(|r| r);
        if let Err(e) = written {
            let error = match e {
                SourceError::Timeout(d) => ManageError::Timeout {
                    device: id.clone(),
                    field,
                    secs: d.as_secs_f64(),
                    meaning: "whether it was applied is unknown: read the settings again",
                    done: done(&applied),
                },
                other => {
                    ManageError::Refused { device: id.clone(), field, why: other.to_string(), done: done(&applied) }
                }
            };
            return Err((applied, error));
        }
        applied.push(AppliedChange { setting: field, before: before.shown(change), after: change.shown() });
    }
    let after = match read_settings(device).await {
        Ok(after) => after,
        Err(e) => {
            let error = ManageError::Timeout {
                device: id.clone(),
                field: "settings".into(),
                secs: deadline.as_secs_f64(),
                meaning: match e {
                    SourceError::Timeout(_) => "the change was sent but could not be read back",
                    _ => "the change was sent but the PDU refused to read it back",
                },
                done: done(&applied),
            };
            return Err((applied, error));
        }
    };
    device.set_settings(after.clone());
    for (change, a) in changes.iter().zip(applied.iter_mut()) {
        let found = after.shown(change);
        if found != a.after {
            let error =
                ManageError::ReadBack { device: id.clone(), field: a.setting.clone(), wanted: a.after.clone(), found };
            return Err((applied, error));
        }
        a.after = found;
    }
    Ok(SettingsResult { applied, settings: after })
}

/// Name an outlet in the bridge (its names file) and, when asked, on the
/// PDU too; an empty name in the bridge only lets the PDU's own show again.
pub async fn rename_outlet(
    bridge: &Bridge,
    device: &Device,
    requester: &Requester,
    outlet: u32,
    request: RenameRequest,
) -> Result<RenameResult, ManageError> {
    let id = device.id().clone();
    let snapshot = device.latest().ok_or_else(|| ManageError::NoReading(id.clone()))?;
    if snapshot.outlet(outlet).is_none() {
        return Err(ManageError::NoSuchOutlet { device: id.clone(), outlet });
    }
    let name = request.name.trim().to_owned();
    let field = format!("outlet.{outlet}.name");
    let bad = |message: String| ManageError::Invalid { field: field.clone(), message };
    if request.write_to_pdu {
        check_pdu_text(&field, &name, app::settings::PDU_NAME_MAX).map_err(invalid)?;
    } else if name.chars().count() > OutletNames::MAX_NAME {
        return Err(bad(format!("must be at most {} characters", OutletNames::MAX_NAME)));
    } else if name.chars().any(char::is_control) {
        return Err(bad("must not contain control characters".into()));
    }
    let name_on_pdu = if request.write_to_pdu {
        let change = SettingChange::OutletName { outlet, value: name.clone() };
        let result = change_settings(bridge, device, requester, vec![change]).await?;
        result.settings.outlets.iter().find(|o| o.number == outlet).and_then(|o| o.name.clone())
    } else {
        None
    };

    let mut names = device.outlet_names();
    names.set(outlet, (!name.is_empty()).then(|| name.clone()));
    let path = device.config.names_file.clone();
    let text = names.to_json();
    let written = tokio::task::spawn_blocking(move || {
        crate::fsutil::write_atomically(&path, text.as_bytes()).map(|()| crate::fsutil::modified(&path))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map_err(|e| e.to_string()));
    let seen =
        written.map_err(|why| ManageError::NamesFile { path: device.config.names_file.display().to_string(), why })?;
    device.set_outlet_names(names, seen);

    let shown = if name.is_empty() {
        device.settings().and_then(|s| s.outlets.iter().find(|o| o.number == outlet).and_then(|o| o.name.clone()))
    } else {
        Some(name.clone())
    };
    let where_ = if request.write_to_pdu { "in the bridge and on the PDU" } else { "in the bridge" };
    let details = if name.is_empty() {
        format!("outlet {outlet}: the bridge's name removed; the PDU's own name shows")
    } else {
        format!("outlet {outlet} named {name:?} {where_}")
    };
    let mut event = Event::new(unix_secs(), id.clone(), "outlet_renamed", details.clone());
    event.outlet = Some(outlet);
    event.origin = Some(requester.origin_label().to_owned());
    bridge.events().record(event);
    record(bridge, requester, "outlet_renamed", &format!("{id} outlet {outlet}"), "ok", &details).await;
    tracing::info!(device = %id, outlet, by = %requester.actor, "{details}");
    device.poke.notify_one();
    Ok(RenameResult { outlet, name: shown.unwrap_or_default(), name_on_pdu })
}

/// Every outlet at once with its configured delays (ePDUOutletDevCommand),
/// answered with each outlet's state read back. Turning everything off on a
/// PDU with protected outlets needs an admin's explicit confirmation.
pub async fn all_outlets(
    bridge: &Bridge,
    device: &Device,
    requester: &Requester,
    action: AllOutletsAction,
) -> Result<AllOutletsResult, ManageError> {
    let id = device.id().clone();
    let result = all_outlets_checked(device, requester, action).await;
    let (outcome, details) = match &result {
        Ok(r) => {
            let pending = r.outlets.iter().filter(|o| o.pending).count();
            ("ok", format!("{}: accepted ({pending} outlets pending)", action.verb()))
        }
        Err(ManageError::Protected { .. }) => (
            "refused",
            format!(
                "{}: refused ({})",
                action.verb(),
                result.as_ref().err().map(ToString::to_string).unwrap_or_default()
            ),
        ),
        Err(e) => ("failed", format!("{}: {e}", action.verb())),
    };
    let mut event = Event::new(unix_secs(), id.clone(), "outlet_command", details.clone());
    event.origin = Some(requester.origin_label().to_owned());
    event.outcome = Some(if outcome == "ok" { "ok" } else { "failed" }.to_owned());
    bridge.events().record(event);
    record(bridge, requester, "all_outlets", &format!("{id} all outlets"), outcome, &details).await;
    device.poke.notify_one();
    result
}

async fn all_outlets_checked(
    device: &Device,
    requester: &Requester,
    action: AllOutletsAction,
) -> Result<AllOutletsResult, ManageError> {
    let id = device.id().clone();
    check_writable(device)?;
    let protected = &device.config.protected;
    if action == AllOutletsAction::DelayOff && !protected.is_empty() && !requester.protected_ok {
        let outlets = protected.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        return Err(ManageError::Protected { device: id, outlets });
    }
    let field = "all_outlets".to_owned();
    let deadline = device.config.poll_deadline();
    let _one = device.commands.lock().await;
    match tokio::time::timeout(deadline, device.source.all_outlets(action)).await {
        Err(_) | Ok(Err(SourceError::Timeout(_))) => {
            return Err(ManageError::Timeout {
                device: id,
                field,
                secs: deadline.as_secs_f64(),
                meaning: "whether the outlets were switched is unknown: check them",
                done: String::new(),
            })
        }
        Ok(Err(e)) => return Err(ManageError::Refused { device: id, field, why: e.to_string(), done: String::new() }),
        Ok(Ok(())) => {}
    }
    let numbers: Vec<u32> = device.latest().map(|s| s.outlets.iter().map(|o| o.number).collect()).unwrap_or_default();
    let mut outlets = Vec::new();
    for n in numbers {
        let read = tokio::time::timeout(deadline, device.source.outlet_state(n)).await;
        let (state, pending) = match read {
            Ok(Ok((state, pending))) => (Some(state), pending),
            _ => (None, false),
        };
        outlets.push(OutletReadBack { outlet: n, state, pending });
    }
    Ok(AllOutletsResult { action, outlets })
}
