//! Cadence, connection state and corrections, under paused Tokio time.

use crate::util::config;
use app::model::{Connection, OutletState, PduSnapshot, Redundancy, Source};
use server::bridge::Bridge;
use server::history::Writer;
use server::pdu::sim::{Faults, SimulatedPdu};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
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

/// A tiny deterministic generator (xorshift64) for jitter in tests.
pub struct Jitter(pub u64);

impl Jitter {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Regression (issue 17): a sample was keyed by the second its poll finished,
/// so with finish times jittering, two polls shared a second and another
/// second stayed empty (26 polls covered 21 s). Now each snapshot carries its
/// scheduled tick and history keys the sample by that.
#[tokio::test(start_paused = true)]
async fn ticks_under_load_every_poll_is_one_sample_in_its_own_second() {
    const POLLS: usize = 120;
    let mut p = Polled::start(&[], |_| {});
    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15);
    let (mut answered, mut late) = (Vec::new(), 0);
    while answered.len() < POLLS {
        // The coming poll takes 0.1–1.1 s: finish times jitter by a second
        // and some polls overrun their period.
        let took = Duration::from_millis(100 + jitter.below(1_001));
        p.sim.set_faults(Faults { delay: Some(took), ..Default::default() });
        let s = p.next().await;
        match s.connection {
            Connection::Online => answered.push(s),
            _ => late += 1, // a period ended before its poll did: stale until it answers
        }
    }
    drop(p);
    let ticks: Vec<u64> = answered.iter().map(|s| s.tick_ms.expect("the poller stamps the tick")).collect();
    let gaps: Vec<u64> = ticks.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g == 1_000), "one poll per tick, none skipped: {gaps:?}");
    assert!(late > 0, "some polls overran their period");

    // Each is its own row in history.
    tokio::time::resume(); // SQLite's worker thread and sqlx's timeouts run on real time
    let (store, _dir) = crate::util::store().await;
    let mut writer = Writer::new(store.clone());
    for s in &answered {
        writer.take(s).await.unwrap();
    }
    writer.flush().await.unwrap();
    let device = store.device("pdu44001").await.unwrap();
    let first = (ticks[0] / 1_000) as i64;
    let rows = store.raw(device, first - 5, first + POLLS as i64 + 5).await.unwrap();
    let seconds: Vec<i64> = rows.iter().map(|(ts, _)| *ts).collect();
    assert_eq!(seconds, (first..first + POLLS as i64).collect::<Vec<_>>(), "{POLLS} polls, {POLLS} seconds");
}

/// Regression (issue 17): a PDU that stopped answering looked online for
/// 16 s and became unreachable at 24 s (a poll's budget was 8 request
/// deadlines), and after an outage the bridge took up to 60 s to poll again.
/// With the default timing (1 s polls, 2 s timeout, 1 retry): stale when the
/// first tick's period ends unanswered, unreachable within three periods and
/// one timeout, back within 5 s of the PDU answering, whatever the phase.
#[tokio::test(start_paused = true)]
async fn stale_at_the_first_missed_poll_unreachable_within_three_polls_and_back_within_five_seconds() {
    let period = Duration::from_secs(1);
    let timeout = Duration::from_secs(2);
    let mut p = Polled::start(&[], |_| {});
    let first = p.next().await;
    assert_eq!(first.connection, Connection::Online);
    for (outage, phase) in [(100_000, 0), (30_000, 700), (61_000, 1_300), (10_000, 3_900), (7_000, 2_100)] {
        tokio::time::sleep(Duration::from_millis(phase % 1_000)).await;
        let last = p.bridge.snapshots()[0].clone();
        p.sim.set_faults(Faults { drop_replies: true, ..Default::default() });
        let failed = Instant::now();

        let stale = p.next().await;
        match &stale.connection {
            Connection::Stale { since_ms, .. } => assert_eq!(*since_ms, last.ts_ms),
            other => panic!("the first missed poll: {other:?}"),
        }
        assert!(
            failed.elapsed() <= 2 * period,
            "stale when the first missed tick's period ends: {:?}",
            failed.elapsed()
        );
        assert!(matches!(p.next().await.connection, Connection::Stale { .. }));
        let dead = p.next().await;
        assert!(matches!(dead.connection, Connection::Unreachable { .. }), "{:?}", dead.connection);
        assert!(failed.elapsed() <= 3 * period + timeout, "unreachable after {:?}", failed.elapsed());
        assert_eq!(dead.ts_ms, last.ts_ms, "the values keep the time they were read");

        tokio::time::sleep(Duration::from_millis(outage)).await;
        while p.rx.try_recv().is_ok() {}
        p.sim.set_faults(Faults::default());
        let answering = Instant::now();
        let back = p.next().await;
        assert_eq!(back.connection, Connection::Online);
        assert!(answering.elapsed() <= Duration::from_secs(5), "back after {:?}", answering.elapsed());
    }
}
