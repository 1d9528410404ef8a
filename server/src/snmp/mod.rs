//! SNMP v2c: the wire codec, the CPS-MIB map, the client the bridge polls
//! real PDUs with, and the agent that serves the simulated PDU over UDP.
//!
//! Owns: everything that knows about OIDs and BER. The rest of the bridge
//! sees a PDU only through [`crate::device::PduSource`] and [`SnmpPdu`].

pub mod agent;
pub mod client;
pub mod codec;
pub mod mib;

use crate::pdu::{RawIdentity, RawPoll, SourceError};
use app::model::{OutletAction, OutletState};
use app::settings::{AllOutletsAction, PduSettings, SettingChange};
use client::{SnmpClient, SnmpError};
use codec::{Oid, VarValue};
use mib::{Answers, Layout};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

impl From<SnmpError> for SourceError {
    fn from(e: SnmpError) -> Self {
        match e {
            SnmpError::Timeout(d) => SourceError::Timeout(d),
            other => SourceError::Refused(other.to_string()),
        }
    }
}

/// A poll's reading that was not answered is carried over from an earlier
/// poll (marked stale) for at most this many polls, then it is absent: the
/// same three misses after which a PDU is unreachable. What gives the
/// model its shape ([`mib::is_structural`]) is carried over until read again.
const CARRY_POLLS: u64 = 3;

/// What the bridge learnt about a device at discovery.
#[derive(Default)]
struct Known {
    layout: Option<Layout>,
    names: Vec<(u32, String)>,
    /// sysUpTime of the previous poll: going backwards = the PDU rebooted.
    last_uptime: Option<u64>,
    /// Polls that got an answer so far.
    polls: u64,
    /// Each poll object's latest answer and the poll that read it, so a
    /// partial poll can carry over what it missed.
    last: HashMap<Oid, (VarValue, u64)>,
}

/// A real PDU (or the simulator agent) over SNMP.
pub struct SnmpPdu {
    client: SnmpClient,
    known: Mutex<Known>,
    /// Reboots seen (sysUpTime went backwards), logged and counted here; the
    /// `pdu_rebooted` event comes from the snapshots (`events::derive`).
    reboots: AtomicU64,
}

fn indices(walked: &[(Oid, VarValue)], column: &Oid) -> Vec<u32> {
    walked.iter().filter(|(o, _)| o.len() == column.len() + 1).map(|(o, _)| o[column.len()]).collect()
}

impl SnmpPdu {
    pub fn new(client: SnmpClient) -> Self {
        Self { client, known: Mutex::new(Known::default()), reboots: AtomicU64::new(0) }
    }

    /// How many times the PDU was seen to reboot.
    pub fn reboots(&self) -> u64 {
        self.reboots.load(Ordering::Relaxed)
    }

    pub fn client(&self) -> &SnmpClient {
        &self.client
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Capability discovery: which load rows, outlets and banks exist, and
    /// whether the ePDU2 source (ATS) table answers. Absent is not zero: what
    /// is not found is not polled.
    async fn discover(&self) -> Result<Layout, SnmpError> {
        let rows_column = mib::load_status_index_column();
        let outlets_column = mib::outlet_status_index_column();
        let banks_column = mib::oid(&mib::EPDU, &[2, 1, 6, 1, mib::BANK_MAX_LOAD]);
        let load_rows = indices(&self.client.walk(&rows_column).await?, &rows_column);
        let outlets = indices(&self.client.walk(&outlets_column).await?, &outlets_column);
        let banks = indices(&self.client.walk(&banks_column).await?, &banks_column);
        let probes = [mib::source_status(3), mib::envir_temperature_c(), mib::power_supply_status(1)];
        let found = self.client.get(&probes).await?;
        let answers = |o: &Oid| found.get(o).is_some_and(|v| !v.is_exception());
        let (has_ats, has_probe, has_power_supplies) = (answers(&probes[0]), answers(&probes[1]), answers(&probes[2]));
        // The probe's contacts, only when there is a probe: absent is absent.
        let contacts = if has_probe {
            let column = mib::envir_contact_index_column();
            indices(&self.client.walk(&column).await?, &column)
        } else {
            Vec::new()
        };
        let layout = Layout { load_rows, outlets, banks, has_ats, has_probe, contacts, has_power_supplies };
        tracing::info!(
            load_rows = layout.load_rows.len(),
            outlets = layout.outlets.len(),
            banks = layout.banks.len(),
            ats = layout.has_ats,
            probe = layout.has_probe,
            power_supplies = layout.has_power_supplies,
            "discovered the PDU's capabilities"
        );
        Ok(layout)
    }

    async fn layout(&self) -> Result<Layout, SnmpError> {
        if let Some(layout) = self.known().layout.clone() {
            return Ok(layout);
        }
        let layout = self.discover().await?;
        self.known().layout = Some(layout.clone());
        Ok(layout)
    }

    pub async fn identity(&self) -> Result<RawIdentity, SourceError> {
        let layout = self.layout().await?;
        let answers = self.client.get(&layout.identity_oids()).await?;
        let a = Answers(&answers);
        self.known().names = mib::decode_outlet_names(&a, &layout);
        Ok(mib::decode_identity(&a, &layout))
    }

    /// One poll. Objects it could not read (a lossy link) are carried over
    /// from the previous polls and named in `RawPoll::stale`; a poll that
    /// read nothing at all fails.
    pub async fn poll(&self) -> Result<RawPoll, SourceError> {
        let layout = self.layout().await?;
        let oids = layout.poll_oids();
        let got = self.client.get_all(&oids).await;
        if got.answers.is_empty() {
            return Err(got.stopped.unwrap_or(SnmpError::Io("the agent answered nothing".into())).into());
        }
        let mut answers = got.answers;
        let names = self.known().names.clone();
        let mut known = self.known();
        known.polls += 1;
        let poll = known.polls;
        let mut missed = Vec::new();
        for oid in &oids {
            match answers.get(oid) {
                Some(value) => {
                    known.last.insert(oid.clone(), (value.clone(), poll));
                }
                None => {
                    let recent = |at: &u64| poll - at <= CARRY_POLLS || mib::is_structural(oid);
                    if let Some((value, _)) = known.last.get(oid).filter(|(_, at)| recent(at)) {
                        answers.insert(oid.clone(), value.clone());
                    }
                    missed.push(oid);
                }
            }
        }
        let a = Answers(&answers);
        let mut raw = mib::decode_poll(&a, &layout, &names);
        raw.stale = mib::parts(&missed, &a);
        if let Some(e) = got.stopped.filter(|_| !missed.is_empty()) {
            tracing::debug!(error = %e, stale = ?raw.stale, "a partial poll: the rest is carried over");
        }
        if let (Some(before), Some(now)) = (known.last_uptime, raw.uptime_ticks) {
            if now < before {
                tracing::warn!(
                    uptime_s = now / 100,
                    "the PDU rebooted (sysUpTime went backwards); discovering it again"
                );
                self.reboots.fetch_add(1, Ordering::Relaxed);
                known.layout = None;
            }
        }
        known.last_uptime = raw.uptime_ticks.or(known.last_uptime);
        Ok(raw)
    }

    /// The slow-changing settings (`app::settings`). Phase thresholds are
    /// found by walking their table: the phase count is not the bank count.
    pub async fn settings(&self) -> Result<PduSettings, SourceError> {
        let layout = self.layout().await?;
        let column = mib::phase_config(2, 0);
        let column = column[..column.len() - 1].to_vec();
        let phases = indices(&self.client.walk(&column).await?, &column);
        let answers = self.client.get(&mib::settings_oids(&layout, &phases)).await?;
        Ok(mib::decode_settings(&Answers(&answers), &layout, &phases))
    }

    /// Write one setting (one SET); the caller reads it back.
    pub async fn write_setting(&self, change: &SettingChange) -> Result<(), SourceError> {
        Ok(self.client.set_all(mib::encode_change(change)).await?)
    }

    /// ePDUOutletDevCommand: every outlet at once.
    pub async fn all_outlets(&self, action: AllOutletsAction) -> Result<(), SourceError> {
        Ok(self.client.set(&mib::outlet_dev_command(), VarValue::Integer(action.code())).await?)
    }

    /// Whether the PDU answers at all: one object (sysUpTime), the cheapest
    /// request, for watching an unreachable PDU.
    pub async fn probe(&self) -> Result<(), SourceError> {
        self.client.get(&[mib::sys_uptime()]).await?;
        Ok(())
    }

    pub async fn outlet_command(&self, outlet: u32, action: OutletAction) -> Result<(), SourceError> {
        let layout = self.layout().await?;
        if !layout.outlets.contains(&outlet) {
            return Err(SourceError::NoSuchOutlet(outlet));
        }
        let code = match action {
            OutletAction::On => 1,
            OutletAction::Off => 2,
            OutletAction::Reboot => 3,
            OutletAction::DelayOn => 4,
            OutletAction::DelayOff => 5,
            OutletAction::DelayReboot => 6,
            OutletAction::Cancel => 7,
        };
        Ok(self.client.set(&mib::outlet_control_command(outlet), VarValue::Integer(code)).await?)
    }

    pub async fn outlet_state(&self, outlet: u32) -> Result<(OutletState, bool), SourceError> {
        let (state_oid, pending_oid) = (mib::outlet_status(4, outlet), mib::outlet_status(5, outlet));
        let answers = self.client.get(&[state_oid.clone(), pending_oid.clone()]).await?;
        let a = Answers(&answers);
        let state = match a.int(&state_oid) {
            Some(1) => OutletState::On,
            Some(2) => OutletState::Off,
            other => return Err(SourceError::Refused(format!("outlet {outlet} state read back as {other:?}"))),
        };
        Ok((state, a.int(&pending_oid) == Some(1)))
    }
}
