//! Cadence, connection state and corrections, under paused Tokio time.

use crate::util::config;
use app::model::{Connection, OutletState, PduSnapshot, Redundancy, Source};
use server::bridge::Bridge;
use server::pdu::sim::{Faults, SimulatedPdu};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

async fn next(rx: &mut broadcast::Receiver<Arc<PduSnapshot>>) -> Arc<PduSnapshot> {
    rx.recv().await.expect("the poller publishes")
}

/// A bridge on the simulated PDU, subscribed before its poller starts (so
/// no snapshot is missed); `prepare` runs on the simulator before the first
/// poll. Dropping it stops the poller.
struct Polled {
    bridge: Arc<Bridge>,
    sim: SimulatedPdu,
    rx: broadcast::Receiver<Arc<PduSnapshot>>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Polled {
    fn start(pairs: &[(&str, &str)], prepare: impl FnOnce(&SimulatedPdu)) -> Self {
        let (config, dir) = config(pairs);
        let bridge = Arc::new(Bridge::new(&config));
        let sim = bridge.devices()[0].simulator().unwrap().clone();
        prepare(&sim);
        let rx = bridge.bus().live();
        let shutdown = CancellationToken::new();
        server::poller::spawn(&bridge, &shutdown);
        Self { bridge, sim, rx, shutdown, _dir: dir }
    }

    async fn next(&mut self) -> Arc<PduSnapshot> {
        next(&mut self.rx).await
    }
}

impl Drop for Polled {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_poll_does_not_stretch_the_period() {
    let mut p = Polled::start(&[], |sim| {
        sim.set_faults(Faults { delay: Some(Duration::from_millis(300)), ..Default::default() })
    });
    let start = tokio::time::Instant::now();
    let mut at = Vec::new();
    for _ in 0..10 {
        p.next().await;
        at.push(start.elapsed());
    }
    // Polls start at 0, 1, 2 … s; each answer arrives 0.3 s later (the first
    // also waits for the identity). A stretched period would drift by 0.3 s
    // per poll.
    assert_eq!(at[0], Duration::from_millis(600));
    for (i, t) in at.iter().enumerate().skip(1) {
        assert_eq!(*t, Duration::from_secs(i as u64) + Duration::from_millis(300), "poll {i}");
    }
}

const FAST_TIMEOUT: [(&str, &str); 2] = [("BRIDGE_SNMP_TIMEOUT", "0.5"), ("BRIDGE_SNMP_RETRIES", "0")];

#[tokio::test(start_paused = true)]
async fn unreachable_pdu_goes_offline_within_three_polls_and_recovers_on_the_next_answer() {
    let mut p = Polled::start(&FAST_TIMEOUT, |_| {});
    let first = p.next().await;
    assert_eq!(first.connection, Connection::Online);
    p.sim.set_faults(Faults { drop_replies: true, ..Default::default() });
    let miss1 = p.next().await;
    let miss2 = p.next().await;
    let miss3 = p.next().await;
    assert!(
        matches!(miss1.connection, Connection::Stale { since_ms, .. } if since_ms == first.ts_ms),
        "{:?}",
        miss1.connection
    );
    assert!(matches!(miss2.connection, Connection::Stale { .. }), "{:?}", miss2.connection);
    match &miss3.connection {
        Connection::Unreachable { reason, .. } => assert!(reason.contains("0.5 s"), "{reason}"),
        other => panic!("after three missed polls: {other:?}"),
    }
    assert_eq!(miss3.ts_ms, first.ts_ms, "the values keep the time they were read");

    p.sim.set_faults(Faults::default());
    let back = p.next().await;
    assert_eq!(back.connection, Connection::Online);
    assert!(back.ts_ms >= first.ts_ms);
}

#[tokio::test(start_paused = true)]
async fn published_snapshots_carry_the_metering_floor_and_the_users_outlet_names() {
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("names.json");
    std::fs::write(&names, r#"{"3": "Backup NAS"}"#).unwrap();
    // Outlet 1 on with nothing plugged in: meter noise only.
    let mut p = Polled::start(&[("BRIDGE_OUTLET_NAMES_FILE", names.to_str().unwrap())], |sim| {
        sim.model().set_outlet_load(1, 0.0, tokio::time::Instant::now())
    });
    let s = p.next().await;
    assert_eq!(s.outlet(3).unwrap().name, "Backup NAS");
    assert_eq!(s.outlet(2).unwrap().name, "Switch-24p", "names without an override come from the PDU");
    let idle = s.outlet(1).unwrap();
    assert_eq!((idle.state, idle.current, idle.power), (OutletState::On, Some(0.0), Some(0.0)));
    let off = s.outlet(10).unwrap();
    assert_eq!((off.state, off.current, off.power), (OutletState::Off, Some(0.0), Some(0.0)));
    assert!(off.energy_kwh.unwrap() > 0.0, "energy is never floored");
}

#[tokio::test(start_paused = true)]
async fn a_source_failure_shows_as_a_transfer_in_the_next_snapshot() {
    let mut p = Polled::start(&[], |_| {});
    assert_eq!(p.next().await.ats.as_ref().unwrap().selected, Some(Source::A));
    p.sim.model().set_source_failed(Source::A, true, tokio::time::Instant::now());
    let s = p.next().await;
    let ats = s.ats.as_ref().unwrap();
    assert_eq!((ats.selected, ats.redundancy), (Some(Source::B), Some(Redundancy::Lost)));
    assert_eq!(s.input.voltage, ats.source(Source::B).unwrap().voltage);
}

#[tokio::test(start_paused = true)]
async fn attempts_back_off_up_to_a_minute_while_the_pdu_is_unreachable() {
    let mut p = Polled::start(&FAST_TIMEOUT, |_| {});
    p.next().await;
    p.sim.set_faults(Faults { drop_replies: true, ..Default::default() });

    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs(240);
    let mut attempts = Vec::new();
    while let Ok(Ok(_)) = tokio::time::timeout_at(end, p.rx.recv()).await {
        attempts.push(start.elapsed());
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // At 1 Hz without backoff this would be ~160 attempts.
    assert!((8..=14).contains(&attempts.len()), "{} attempts: {attempts:?}", attempts.len());
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "gaps never shrink: {gaps:?}");
    let longest = *gaps.iter().max().unwrap();
    assert!(longest >= Duration::from_secs(60) && longest <= Duration::from_secs(62), "{gaps:?}");

    p.sim.set_faults(Faults::default());
    let back =
        tokio::time::timeout(Duration::from_secs(62), p.next()).await.expect("recovers after one backoff period");
    assert_eq!(back.connection, Connection::Online);
    assert_eq!(p.bridge.snapshots()[0].connection, Connection::Online);
}
