//! The simulated PDU44001 as a real SNMP v2c agent on UDP
//! (`pdu-bridge simulate`): GET, GETNEXT, GETBULK and SET over the MIB view of
//! [`crate::snmp::mib::encode_view`], with a read and a write community and
//! the error statuses and exception values of a real agent. The bridge polls
//! it exactly as it polls hardware; stock net-snmp tools work against it.
//!
//! Like the device, it answers one request at a time. Fault injection comes
//! from the simulator's [`Faults`]: drop every reply, answer late, or stay
//! silent on requests with more varbinds than a limit (as some CyberPower
//! network cards do).

use super::codec::{self, status, Message, Oid, PduKind, VarValue};
use super::mib;
use crate::pdu::sim::{IdentityText, SimModel, SimulatedPdu};
use app::model::OutletAction;
use app::settings::{PduSettings, SettingChange};
use std::collections::BTreeMap;
use std::ops::Bound;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// GETBULK repetitions served at most, whatever is asked.
const MAX_REPETITIONS: u32 = 64;

#[derive(Clone, Debug)]
pub struct Communities {
    pub read: String,
    pub write: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

/// Serve `sim` on `socket` until `shutdown`.
pub async fn serve(socket: UdpSocket, sim: SimulatedPdu, communities: Communities, shutdown: CancellationToken) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "agent receive failed");
                    continue;
                }
            },
        };
        // Undecodable datagrams are dropped, as real agents do.
        let Ok(request) = codec::decode(&buf[..len]) else { continue };
        let access = if request.community == communities.write.as_bytes() {
            Access::ReadWrite
        } else if request.community == communities.read.as_bytes() {
            Access::ReadOnly
        } else {
            // Unknown community: silence (an authentication failure).
            continue;
        };
        let faults = sim.faults();
        if faults.drop_replies || faults.max_varbinds.is_some_and(|max| request.varbinds.len() > max) {
            continue;
        }
        if let Some(delay) = faults.delay {
            tokio::time::sleep(delay).await;
        }
        let refused = faults.refuse_sets.filter(|_| request.kind == PduKind::Set);
        let answered = match refused {
            Some(status) => Some(response(&request, status, 1, request.varbinds.clone())),
            None => answer(&request, access, &mut sim.model(), Instant::now()),
        };
        let Some(response) = answered else { continue };
        let Some(bytes) = codec::encode(&response) else { continue };
        if let Err(e) = socket.send_to(&bytes, peer).await {
            tracing::debug!(error = %e, "agent send failed");
        }
    }
}

fn view(pdu: &mut SimModel, now: Instant) -> BTreeMap<Oid, VarValue> {
    let raw = pdu.read(now);
    mib::encode_view(&pdu.identity(), &raw, &pdu.outlet_configs(), &pdu.settings())
}

/// The missing-object answer of a v2c GET: noSuchInstance where the object
/// (column or scalar) exists with other instances, noSuchObject otherwise.
fn missing(view: &BTreeMap<Oid, VarValue>, oid: &Oid) -> VarValue {
    let object = &oid[..oid.len().saturating_sub(1)];
    let exists = view
        .range::<Oid, _>((Bound::Excluded(&object.to_vec()), Bound::Unbounded))
        .next()
        .is_some_and(|(k, _)| k.starts_with(object));
    if exists {
        VarValue::NoSuchInstance
    } else {
        VarValue::NoSuchObject
    }
}

fn next_after(view: &BTreeMap<Oid, VarValue>, oid: &Oid) -> (Oid, VarValue) {
    match view.range::<Oid, _>((Bound::Excluded(oid), Bound::Unbounded)).next() {
        Some((k, v)) => (k.clone(), v.clone()),
        None => (oid.clone(), VarValue::EndOfMibView),
    }
}

fn response(request: &Message, error_status: u32, error_index: u32, varbinds: Vec<(Oid, VarValue)>) -> Message {
    Message {
        community: request.community.clone(),
        kind: PduKind::Response,
        request_id: request.request_id,
        error_status,
        error_index,
        varbinds,
    }
}

/// Answer one request; `None` for PDUs an agent does not answer.
fn answer(request: &Message, access: Access, pdu: &mut SimModel, now: Instant) -> Option<Message> {
    match request.kind {
        PduKind::Get => {
            let view = view(pdu, now);
            let varbinds = request
                .varbinds
                .iter()
                .map(|(oid, _)| (oid.clone(), view.get(oid).cloned().unwrap_or_else(|| missing(&view, oid))))
                .collect();
            Some(response(request, status::NO_ERROR, 0, varbinds))
        }
        PduKind::GetNext => {
            let view = view(pdu, now);
            let varbinds = request.varbinds.iter().map(|(oid, _)| next_after(&view, oid)).collect();
            Some(response(request, status::NO_ERROR, 0, varbinds))
        }
        PduKind::GetBulk { non_repeaters, max_repetitions } => {
            let view = view(pdu, now);
            let split = (non_repeaters as usize).min(request.varbinds.len());
            let (singles, repeaters) = request.varbinds.split_at(split);
            let mut varbinds: Vec<(Oid, VarValue)> = singles.iter().map(|(oid, _)| next_after(&view, oid)).collect();
            let mut cursors: Vec<Oid> = repeaters.iter().map(|(oid, _)| oid.clone()).collect();
            let mut size: usize = varbinds.iter().map(|(o, v)| codec::varbind_size(o, v)).sum();
            'rows: for _ in 0..max_repetitions.min(MAX_REPETITIONS) {
                if cursors.is_empty() {
                    break;
                }
                for cursor in cursors.iter_mut() {
                    let (oid, value) = next_after(&view, cursor);
                    size += codec::varbind_size(&oid, &value);
                    if size > codec::MAX_MESSAGE - 512 {
                        break 'rows;
                    }
                    cursor.clone_from(&oid);
                    varbinds.push((oid, value));
                }
                if varbinds.iter().rev().take(cursors.len()).all(|(_, v)| *v == VarValue::EndOfMibView) {
                    break;
                }
            }
            Some(response(request, status::NO_ERROR, 0, varbinds))
        }
        PduKind::Set => Some(set(request, access, pdu, now)),
        PduKind::Response => None,
    }
}

/// One validated write, applied only when every varbind of the SET is valid.
enum Write {
    Command(u32, OutletAction),
    /// ePDUOutletDevCommand: the same action on every outlet (none for
    /// noCommandAll).
    AllOutlets(Option<OutletAction>),
    Setting(SettingChange),
    Text(IdentityText, String),
}

fn set(request: &Message, access: Access, pdu: &mut SimModel, now: Instant) -> Message {
    if access == Access::ReadOnly {
        return response(request, status::NO_ACCESS, 1, request.varbinds.clone());
    }
    let view = view(pdu, now);
    let settings = pdu.settings();
    let mut writes = Vec::new();
    // Threshold columns of one row are checked together, as the SET leaves
    // the row: (bank?, index) -> (low, near, overload, first varbind).
    let mut rows: BTreeMap<(bool, u32), (i64, i64, i64, usize)> = BTreeMap::new();
    for (i, (oid, value)) in request.varbinds.iter().enumerate() {
        let refused = |error| response(request, error, i as u32 + 1, request.varbinds.clone());
        if let Some((bank, index, column)) = threshold(oid) {
            let v = match integer(value, 0..=i64::from(u16::MAX)) {
                Ok(v) => v,
                Err(e) => return refused(e),
            };
            let current = if bank { &settings.banks } else { &settings.phases };
            let Some(row) = current.iter().find(|r| r.index == index) else { return refused(status::NOT_WRITABLE) };
            let entry = rows.entry((bank, index)).or_insert((
                row.low.unwrap_or(0),
                row.near_overload.unwrap_or(0),
                row.overload.unwrap_or(0),
                i,
            ));
            match column {
                2 => entry.0 = v,
                3 => entry.1 = v,
                _ => entry.2 = v,
            }
            continue;
        }
        match validate(oid, value, &view, &settings) {
            Ok(write) => writes.push(write),
            Err(error) => return refused(error),
        }
    }
    for ((bank, index), (low, near_overload, overload, first)) in rows {
        let change = if bank {
            SettingChange::BankThresholds { bank: index, low, near_overload, overload }
        } else {
            SettingChange::PhaseThresholds { phase: index, low, near_overload, overload }
        };
        if change.validate(&settings).is_err() {
            return response(request, status::WRONG_VALUE, first as u32 + 1, request.varbinds.clone());
        }
        writes.push(Write::Setting(change));
    }
    for write in writes {
        let applied = match write {
            Write::Command(n, action) => pdu.command(n, action, now),
            Write::AllOutlets(action) => {
                for n in 1..=pdu.outlet_count() {
                    if let Some(action) = action {
                        let _ = pdu.command(n, action, now);
                    }
                }
                Ok(())
            }
            Write::Setting(change) => pdu.apply_setting(&change, now),
            Write::Text(which, text) => {
                pdu.set_identity_text(which, &text);
                Ok(())
            }
        };
        if applied.is_err() {
            return response(request, status::GEN_ERR, 1, request.varbinds.clone());
        }
    }
    response(request, status::NO_ERROR, 0, request.varbinds.clone())
}

/// A threshold column of ePDULoadBankConfigTable / PhaseConfigTable:
/// (bank?, index, column 2-4).
fn threshold(oid: &Oid) -> Option<(bool, u32, u32)> {
    let (&index, head) = oid.split_last()?;
    let (&column, _) = head.split_last()?;
    if !(2..=4).contains(&column) {
        return None;
    }
    if *oid == mib::bank_config(column, index) {
        Some((true, index, column))
    } else if *oid == mib::phase_config(column, index) {
        Some((false, index, column))
    } else {
        None
    }
}

fn text(value: &VarValue, max: usize) -> Result<String, u32> {
    match value {
        VarValue::OctetString(bytes) if bytes.len() > max => Err(status::WRONG_LENGTH),
        VarValue::OctetString(bytes) => String::from_utf8(bytes.clone()).map_err(|_| status::WRONG_VALUE),
        _ => Err(status::WRONG_TYPE),
    }
}

fn integer(value: &VarValue, range: std::ops::RangeInclusive<i64>) -> Result<i64, u32> {
    match value {
        VarValue::Integer(v) if range.contains(v) => Ok(*v),
        VarValue::Integer(_) => Err(status::WRONG_VALUE),
        _ => Err(status::WRONG_TYPE),
    }
}

/// Check one varbind of a SET against the MIB's access and ranges.
fn validate(oid: &Oid, value: &VarValue, view: &BTreeMap<Oid, VarValue>, settings: &PduSettings) -> Result<Write, u32> {
    if !view.contains_key(oid) {
        return Err(status::NOT_WRITABLE);
    }
    let action = |code: i64| match code {
        1 => OutletAction::On,
        2 => OutletAction::Off,
        3 => OutletAction::Reboot,
        4 => OutletAction::DelayOn,
        5 => OutletAction::DelayOff,
        6 => OutletAction::DelayReboot,
        _ => OutletAction::Cancel,
    };
    // A setting is checked by the same rules the bridge checks before it
    // sends one (the MIB's ranges): out of range is wrongValue.
    let setting = |change: SettingChange| match change.validate(settings) {
        Ok(()) => Ok(Write::Setting(change)),
        Err(_) => Err(status::WRONG_VALUE),
    };
    let n = oid.last().copied().filter(|n| settings.outlets.iter().any(|o| o.number == *n));
    use SettingChange::*;
    match n {
        Some(n) if *oid == mib::outlet_control_command(n) => Ok(Write::Command(n, action(integer(value, 1..=7)?))),
        Some(n) if *oid == mib::outlet_config(2, n) => setting(OutletName { outlet: n, value: text(value, 31)? }),
        Some(n) if *oid == mib::outlet_config(mib::CONFIG_ON_DELAY, n) => {
            setting(OutletOnDelay { outlet: n, value: integer(value, i64::MIN..=i64::MAX)? })
        }
        Some(n) if *oid == mib::outlet_config(mib::CONFIG_OFF_DELAY, n) => {
            setting(OutletOffDelay { outlet: n, value: integer(value, i64::MIN..=i64::MAX)? })
        }
        Some(n) if *oid == mib::outlet_config(mib::CONFIG_REBOOT_DURATION, n) => {
            setting(OutletRebootDuration { outlet: n, value: integer(value, i64::MIN..=i64::MAX)? })
        }
        _ if *oid == mib::outlet_dev_command() => Ok(Write::AllOutlets(match integer(value, 1..=8)? {
            1 => None,
            2 => Some(OutletAction::On),
            3 => Some(OutletAction::Off),
            4 => Some(OutletAction::Reboot),
            5 => Some(OutletAction::DelayOn),
            6 => Some(OutletAction::DelayOff),
            7 => Some(OutletAction::DelayReboot),
            _ => Some(OutletAction::Cancel),
        })),
        _ if *oid == mib::preferred_source() => setting(PreferredSource { value: integer(value, 1..=3)? }),
        _ if *oid == mib::source_config(mib::SOURCE_SENSITIVITY) => {
            setting(VoltageSensitivity { value: integer(value, i64::MIN..=i64::MAX)? })
        }
        _ if *oid == mib::source_config(mib::SOURCE_TRANSFER_RANGE) => {
            setting(TransferRange { value: integer(value, i64::MIN..=i64::MAX)? })
        }
        _ if *oid == mib::coldstart_delay() => setting(ColdstartDelay { value: integer(value, i64::MIN..=i64::MAX)? }),
        _ if *oid == mib::coldstart_state() => setting(ColdstartState { value: integer(value, i64::MIN..=i64::MAX)? }),
        _ if *oid == mib::ident_name() => setting(DeviceName { value: text(value, 31)? }),
        _ if *oid == mib::sys_location() => setting(Location { value: text(value, 63)? }),
        _ if *oid == mib::sys_contact() => setting(Contact { value: text(value, 63)? }),
        _ if *oid == mib::sys_name() => Ok(Write::Text(IdentityText::SysName, text(value, 63)?)),
        _ => Err(status::NOT_WRITABLE),
    }
}
