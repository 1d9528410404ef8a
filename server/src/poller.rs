//! One poller per PDU: reads the device at a fixed cadence, turns the answer
//! into a corrected snapshot and publishes it on the bridge's channel.
//!
//! Owns: cadence, identity refresh, and the connection state. The cadence is
//! kept (`MissedTickBehavior::Skip`): a slow poll never stretches the period,
//! and a poll that overruns makes the next one wait for the next slot rather
//! than bursting. After [`MISSES_BEFORE_UNREACHABLE`] failed polls in a row the
//! PDU is shown unreachable — never stale values that look fresh — and the
//! first good poll brings it straight back; meanwhile attempts back off
//! ([`backoff`]).

use crate::bridge::Bridge;
use crate::clock::unix_ms;
use crate::device::Device;
use crate::pdu::{correct, scale, RawIdentity, SourceError};
use app::model::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

pub const MISSES_BEFORE_UNREACHABLE: u32 = 3;
/// Identity (names, firmware, location) changes rarely: re-read it every
/// few minutes rather than every poll.
const IDENTITY_REFRESH: Duration = Duration::from_secs(300);
/// While a PDU is unreachable, attempts back off 1 s, 2 s, 4 s … up to this,
/// so a dead PDU is not hammered; the first answer restores the cadence.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A poll is several requests (each with its own timeout and retries);
/// this many request deadlines bound the whole poll.
const POLL_BUDGET_REQUESTS: u32 = 8;

/// How long to wait before the next attempt after `failures` misses in a row.
pub fn backoff(failures: u32) -> Duration {
    match failures.checked_sub(MISSES_BEFORE_UNREACHABLE) {
        None => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(6)).min(MAX_BACKOFF),
    }
}

#[derive(Default)]
struct PollState {
    identity: Option<(RawIdentity, Instant)>,
    failures: u32,
    failing_since_ms: Option<u64>,
}

/// One poller per PDU of `bridge`, stopped by `shutdown`.
pub fn spawn(bridge: &Arc<Bridge>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    bridge.devices().iter().map(|d| tokio::spawn(run(bridge.clone(), d.clone(), shutdown.clone()))).collect()
}

pub async fn run(bridge: Arc<Bridge>, device: Arc<Device>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(device.config.poll_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut state = PollState::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
            _ = device.poke.notified() => {}
        }
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            outcome = poll_once(&device, &mut state) => outcome,
        };
        match outcome {
            Ok(snapshot) => {
                if state.failures >= MISSES_BEFORE_UNREACHABLE {
                    tracing::info!(device = %device.id(), "PDU reachable again");
                }
                state.failures = 0;
                state.failing_since_ms = None;
                device.set_last_error(None);
                bridge.publish(&device, snapshot);
            }
            Err(reason) => {
                state.failures += 1;
                let since = *state.failing_since_ms.get_or_insert_with(unix_ms);
                if state.failures == MISSES_BEFORE_UNREACHABLE {
                    tracing::warn!(device = %device.id(), %reason, "PDU unreachable");
                } else {
                    tracing::debug!(device = %device.id(), %reason, failures = state.failures, "poll failed");
                }
                device.set_last_error(Some(reason.clone()));
                let pause = backoff(state.failures);
                if let Some(previous) = device.latest() {
                    let mut snapshot = (*previous).clone();
                    snapshot.connection = if state.failures >= MISSES_BEFORE_UNREACHABLE {
                        Connection::Unreachable { since_ms: since, reason }
                    } else {
                        Connection::Stale { since_ms: previous.ts_ms, reason }
                    };
                    bridge.publish(&device, snapshot);
                }
                if !pause.is_zero() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                        _ = device.poke.notified() => {}
                    }
                }
            }
        }
    }
}

async fn poll_once(device: &Device, state: &mut PollState) -> Result<app::model::PduSnapshot, String> {
    let deadline = device.config.poll_deadline() * POLL_BUDGET_REQUESTS;
    let timed_out = |_| SourceError::Timeout(deadline).to_string();

    let stale_identity = state.identity.as_ref().is_none_or(|(_, at)| at.elapsed() >= IDENTITY_REFRESH);
    if stale_identity {
        let identity = tokio::time::timeout(deadline, device.source.identity())
            .await
            .map_err(timed_out)?
            .map_err(|e| e.to_string())?;
        state.identity = Some((identity, Instant::now()));
    }
    let raw =
        tokio::time::timeout(deadline, device.source.poll()).await.map_err(timed_out)?.map_err(|e| e.to_string())?;
    let identity = state.identity.as_ref().map(|(i, _)| i).expect("identity was read above");

    let config = &device.config;
    let label = config.label.clone().or_else(|| identity.name.clone()).unwrap_or_else(|| config.id.to_string());
    let ctx = scale::Context {
        device_id: &config.id,
        label: &label,
        simulated: config.is_simulated(),
        poll_interval_ms: config.poll_interval.as_millis() as u64,
        ts_ms: unix_ms(),
    };
    let mut snapshot = scale::snapshot(&ctx, identity, &raw).map_err(|e| format!("malformed reply: {e}"))?;
    correct::apply_metering_floor(&mut snapshot.outlets, config.floor);
    config.outlet_names.apply(&mut snapshot.outlets);
    Ok(snapshot)
}
