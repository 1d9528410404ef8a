//! One poller per PDU: reads the device at a fixed cadence, turns the answer
//! into a corrected snapshot and publishes it on the bridge's channel.
//!
//! Owns: cadence, identity refresh, and the connection state.
//!
//! **Cadence.** A poll is due at each tick of the poll interval and its
//! snapshot carries that tick (`tick_ms`), which keys its history sample, so
//! every tick is one sample however long its poll took. The period is never
//! stretched: a poll that overruns makes the next one start at once, late,
//! for its own tick; only ticks whose whole period passed during one poll
//! are skipped.
//!
//! **Connection.** A tick's period that ends without any answer from the PDU
//! is a missed poll (a poll that is still being answered is late, not
//! missed), and so is a poll that fails having read nothing. The first miss
//! marks the values stale; after [`MISSES_BEFORE_UNREACHABLE`] in a row the
//! PDU is unreachable — never stale values that look fresh — within three
//! poll periods of the first missed tick, however long the SNMP timeout.
//! While unreachable the PDU is asked for one object every [`PROBE_EVERY`],
//! and its first answer brings a full poll at once; full polls that still
//! fail back off ([`backoff`]) while the probes go on.

use crate::bridge::Bridge;
use crate::clock::unix_ms;
use crate::device::{Device, PduSource};
use crate::pdu::{correct, scale, RawIdentity, SourceError};
use app::model::{Connection, PduSnapshot};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const MISSES_BEFORE_UNREACHABLE: u32 = 3;
/// Identity (names, firmware, location) changes rarely: re-read it every
/// few minutes rather than every poll.
const IDENTITY_REFRESH: Duration = Duration::from_secs(300);
/// While a PDU is unreachable it is asked for one object (sysUpTime) this
/// often, or as soon as the previous probe has given up if that took
/// longer; an unanswered probe is sent again on its own schedule meanwhile,
/// so the bridge hears the PDU within a few seconds of it answering again.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Full polls that fail although the probe is answered back off 1 s,
/// 2 s, 4 s … up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A poll is several requests (each with its own timeout and resends);
/// this many request deadlines bound the whole poll.
const POLL_BUDGET_REQUESTS: u32 = 8;
/// A wall clock that moved by more than this against the monotonic clock
/// was set (NTP at boot, an operator): ticks follow it from then on.
const CLOCK_STEP: Duration = Duration::from_secs(1);

/// How long full polls wait after `failures` of them failed in a row while
/// the probe was answered.
pub fn backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 1).min(6)).min(MAX_BACKOFF),
    }
}

/// The tick after `tick`, given that the poll for `tick` ended at `now`:
/// the next tick, even when its period has begun (the poll then starts at
/// once, late), unless its whole period has passed too.
pub fn next_tick(tick: Instant, period: Duration, now: Instant) -> Instant {
    let next = tick + period;
    if now < next + period {
        return next;
    }
    let behind = now.duration_since(next).as_nanos() / period.as_nanos().max(1);
    next + period * u32::try_from(behind).unwrap_or(u32::MAX)
}

/// Wall-clock time of cadence instants. Ticks are spaced by Tokio's clock
/// (which tests can pause); their unix time comes from one reading of the
/// wall clock, corrected when the wall clock is set — measured against the
/// standard monotonic clock, which tests never pause.
struct WallClock {
    at: Instant,
    unix_ms: u64,
    std_at: std::time::Instant,
    /// The wall clock's steps since `at`, as applied so far.
    step_ms: i64,
}

impl WallClock {
    fn new() -> Self {
        Self { at: Instant::now(), unix_ms: unix_ms(), std_at: std::time::Instant::now(), step_ms: 0 }
    }

    /// Unix milliseconds at `t`.
    fn unix_ms(&mut self, t: Instant) -> u64 {
        let measured = unix_ms() as i64 - self.unix_ms as i64 - self.std_at.elapsed().as_millis() as i64;
        if (measured - self.step_ms).unsigned_abs() > CLOCK_STEP.as_millis() as u64 {
            tracing::warn!(
                by_s = (measured - self.step_ms) as f64 / 1000.0,
                "the wall clock was set; poll times follow it"
            );
            self.step_ms = measured;
        }
        let offset = t.saturating_duration_since(self.at).as_millis() as i64;
        (self.unix_ms as i64 + self.step_ms + offset).max(0) as u64
    }
}

/// The connection state of one PDU.
#[derive(Default)]
struct Link {
    /// Missed polls in a row.
    misses: u32,
    failing_since_ms: Option<u64>,
    /// Full polls that failed in a row after the probe was answered.
    full_failures: u32,
    /// No full poll before this (after `full_failures`).
    full_poll_at: Option<Instant>,
}

impl Link {
    fn unreachable(&self) -> bool {
        self.misses >= MISSES_BEFORE_UNREACHABLE
    }
}

/// One poller per PDU of `bridge`, stopped by `shutdown`.
pub fn spawn(bridge: &Arc<Bridge>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    bridge.devices().iter().map(|d| tokio::spawn(run(bridge.clone(), d.clone(), shutdown.clone()))).collect()
}

/// How a poll that found another PDU at the address begins its reason.
pub const IDENTITY_MISMATCH: &str = "a different PDU answers at this address";

pub async fn run(bridge: Arc<Bridge>, device: Arc<Device>, shutdown: CancellationToken) {
    run_from(bridge, device, shutdown, Duration::ZERO).await
}

/// As [`run`], the first poll `phase` after now: PDUs started together
/// spread their polls over the period instead of asking all at once.
pub async fn run_from(bridge: Arc<Bridge>, device: Arc<Device>, shutdown: CancellationToken, phase: Duration) {
    let period = device.config.poll_interval;
    let mut wall = WallClock::new();
    let mut identity: Option<(RawIdentity, Instant)> = None;
    let mut link = Link::default();
    let mut tick = Instant::now() + phase.min(period);
    // Settings and the names file are watched beside the polls, on the
    // same one-request-at-a-time link.
    let watcher = tokio::spawn(crate::manage::watch(bridge.clone(), device.clone(), shutdown.clone()));
    let _stop_watcher = AbortOnDrop(watcher);
    loop {
        // A poke (after a command) polls at once, for the tick whose period
        // this is: its sample replaces that tick's with newer values.
        let due = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(tick) => tick,
            _ = device.poke.notified() => tick.checked_sub(period).unwrap_or(tick),
        };
        let was_unreachable = link.unreachable();
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            outcome = watched_poll(&bridge, &device, &mut identity, &mut link, due) => outcome,
        };
        let now = Instant::now();
        device.polls.record(now.duration_since(started), outcome.is_ok());
        match outcome {
            Ok(mut snapshot) => {
                if was_unreachable {
                    tracing::info!(device = %device.id(), "PDU reachable again");
                }
                link = Link::default();
                device.set_last_error(None);
                snapshot.tick_ms = Some(wall.unix_ms(due));
                bridge.publish(&device, snapshot);
                tick = next_tick(due, period, now);
            }
            Err(reason) => {
                missed(&bridge, &device, &mut link, reason);
                if was_unreachable {
                    link.full_failures += 1;
                    link.full_poll_at = Some(now + backoff(link.full_failures));
                }
                // The period this poll failed in is used up.
                tick = next_tick(due, period, now);
                if tick <= now {
                    tick += period;
                }
            }
        }
        if link.unreachable() {
            // Whoever answers next is asked who it is: after an outage the
            // address may belong to another PDU.
            identity = None;
            if !await_answer(&device, &link, &shutdown).await {
                break;
            }
            tick = Instant::now();
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Count a missed poll and say so: stale at the first, unreachable at the
/// third; later misses change nothing that is shown.
fn missed(bridge: &Bridge, device: &Device, link: &mut Link, reason: String) {
    link.misses += 1;
    let since = *link.failing_since_ms.get_or_insert_with(unix_ms);
    match link.misses {
        MISSES_BEFORE_UNREACHABLE => tracing::warn!(device = %device.id(), %reason, "PDU unreachable"),
        n => tracing::debug!(device = %device.id(), %reason, misses = n, "missed poll"),
    }
    device.set_last_error(Some(reason.clone()));
    if link.misses > MISSES_BEFORE_UNREACHABLE {
        return;
    }
    if let Some(previous) = device.latest() {
        let mut snapshot = (*previous).clone();
        snapshot.connection = if link.unreachable() {
            Connection::Unreachable { since_ms: since, reason }
        } else {
            Connection::Stale { since_ms: previous.ts_ms, reason }
        };
        bridge.publish(device, snapshot);
    }
}

/// Answers received from the PDU so far, where the source can tell (SNMP);
/// the in-process simulator answers a poll all at once.
fn answers(device: &Device) -> Option<u64> {
    match &device.source {
        PduSource::Snmp(snmp) => Some(snmp.client().answers()),
        PduSource::Simulated(_) => None,
    }
}

/// The poll for the tick `due`, counting each period that passes without an
/// answer as a missed poll while it runs. A poll that ends after such a
/// period with nothing read since is no news: it counts as failed.
async fn watched_poll(
    bridge: &Bridge,
    device: &Device,
    identity: &mut Option<(RawIdentity, Instant)>,
    link: &mut Link,
    due: Instant,
) -> Result<PduSnapshot, String> {
    let period = device.config.poll_interval;
    let poll = poll_once(device, identity);
    tokio::pin!(poll);
    let mut boundary = due + period;
    let mut seen = answers(device);
    let mut silent_since_miss = false;
    loop {
        tokio::select! {
            outcome = &mut poll => {
                let answered_since = answers(device).is_none_or(|n| Some(n) != seen);
                return match outcome {
                    Ok(_) if silent_since_miss && !answered_since => {
                        Err(format!("no answer within {:.1} s", period.as_secs_f64()))
                    }
                    other => other,
                };
            }
            _ = tokio::time::sleep_until(boundary) => {
                let now = answers(device);
                if now.is_none() || now == seen {
                    missed(bridge, device, link, format!("no answer within {:.1} s", period.as_secs_f64()));
                    silent_since_miss = true;
                } else {
                    silent_since_miss = false;
                }
                seen = now;
                boundary += period;
            }
        }
    }
}

/// While the PDU is unreachable: probe it until it answers and a full poll
/// is due. `false` when shut down first.
async fn await_answer(device: &Device, link: &Link, shutdown: &CancellationToken) -> bool {
    loop {
        let started = Instant::now();
        let answered = tokio::select! {
            _ = shutdown.cancelled() => return false,
            answered = probe(&device.source) => answered,
        };
        if answered {
            let at = link.full_poll_at.unwrap_or(started).max(Instant::now());
            return tokio::select! {
                _ = shutdown.cancelled() => false,
                _ = tokio::time::sleep_until(at) => true,
            };
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(started + PROBE_EVERY) => {}
            _ = device.poke.notified() => {}
        }
    }
}

/// Whether the PDU answers at all, with the smallest request.
async fn probe(source: &PduSource) -> bool {
    match source {
        PduSource::Snmp(snmp) => snmp.probe().await.is_ok(),
        PduSource::Simulated(sim) => sim.identity().await.is_ok(),
    }
}

async fn poll_once(
    device: &Device,
    identity: &mut Option<(RawIdentity, Instant)>,
) -> Result<app::model::PduSnapshot, String> {
    let deadline = device.config.poll_deadline() * POLL_BUDGET_REQUESTS;
    let timed_out = |_| SourceError::Timeout(deadline).to_string();

    let asked = device.identity_stale.swap(false, std::sync::atomic::Ordering::Relaxed);
    let stale_identity = asked || identity.as_ref().is_none_or(|(_, at)| at.elapsed() >= IDENTITY_REFRESH);
    if stale_identity {
        let fresh = tokio::time::timeout(deadline, device.source.identity())
            .await
            .map_err(timed_out)?
            .map_err(|e| e.to_string())?;
        if let (Some(expected), Some(found)) = (device.expected_serial(), &fresh.serial) {
            if expected.trim() != found.trim() {
                device.set_refused_serial(Some(found.trim().to_owned()));
                return Err(format!(
                    "{IDENTITY_MISMATCH} (serial {found}, expected {expected}); its readings are not \
                     recorded as this PDU's and no command reaches it: edit this PDU to accept it, or remove it"
                ));
            }
        }
        device.set_refused_serial(None);
        *identity = Some((fresh, Instant::now()));
    }
    let raw =
        tokio::time::timeout(deadline, device.source.poll()).await.map_err(timed_out)?.map_err(|e| e.to_string())?;
    let identity = identity.as_ref().map(|(i, _)| i).expect("identity was read above");

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
    device.outlet_names().apply(&mut snapshot.outlets);
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_poll_keeps_the_next_tick_and_only_whole_periods_are_skipped() {
        let t0 = Instant::now();
        let p = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(next_tick(t0, p, t0 + ms(300)), t0 + p, "on time");
        assert_eq!(next_tick(t0, p, t0 + ms(1_800)), t0 + p, "late: polled at once for its own tick");
        assert_eq!(next_tick(t0, p, t0 + ms(2_000)), t0 + 2 * p, "a whole period passed: skipped");
        assert_eq!(next_tick(t0, p, t0 + ms(5_300)), t0 + 5 * p);
    }

    #[test]
    fn full_polls_back_off_up_to_a_minute() {
        let secs: Vec<u64> = (0..10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
