//! Energy: how many watt-hours each part of a PDU used, in 15-minute slots
//! kept as long as the store (slots of 15 minutes add up to local days in
//! every time zone, including the half- and quarter-hour ones).
//!
//! Energy comes from the PDU's own cumulative counters (bank and outlet, in
//! 0.1 kWh), as the difference between consecutive samples. A counter that
//! goes backwards (PDU reset, device replaced) never gives negative energy:
//! that interval falls back to integrating power over the real elapsed
//! time, as does any interval where a counter is missing. The whole PDU's
//! energy is the sum of its banks' and is credited to the source the ATS had
//! selected. An interval longer than a gap (the bridge or the PDU was away)
//! spreads a counter's difference evenly over the time it covers; power is
//! not integrated across such a gap, since nobody saw it.

use super::sample::{Sample, Shape};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Slot length in seconds.
pub const SLOT: i64 = 900;

/// Power is integrated over at most this many seconds between samples.
pub const MAX_INTEGRATE: i64 = 300;

/// Energy of one slot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Watt-hours by channel: `pdu`, `source.a`, `source.b`, `bank.N`, `outlet.N`.
    pub wh: BTreeMap<String, f64>,
    /// Highest total power seen in the slot (W).
    #[serde(default)]
    pub peak_w: Option<f64>,
    /// Sum and count of total-power readings, for the average.
    #[serde(default)]
    pub power_sum: f64,
    #[serde(default)]
    pub power_n: u32,
}

impl Slot {
    pub fn add(&mut self, other: &Slot) {
        for (k, v) in &other.wh {
            *self.wh.entry(k.clone()).or_default() += v;
        }
        self.peak_w = match (self.peak_w, other.peak_w) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.power_sum += other.power_sum;
        self.power_n += other.power_n;
    }

    pub fn get(&self, channel: &str) -> f64 {
        self.wh.get(channel).copied().unwrap_or(0.0)
    }
}

fn value(s: &Sample, metric: &str) -> Option<i64> {
    s.values[s.shape.index(metric)?]
}

/// Watt-hours of one counter (`bank.1` or `outlet.3`) over an interval, or
/// of its power when the counter cannot be trusted.
fn channel_wh(prev: &Sample, cur: &Sample, channel: &str, dt: i64) -> Option<f64> {
    let energy = format!("{channel}.energy");
    if let (Some(a), Some(b)) = (value(prev, &energy), value(cur, &energy)) {
        if b >= a {
            return Some((b - a) as f64 * 100.0); // 0.1 kWh units → Wh
        }
    }
    integrate(prev, cur, &format!("{channel}.power"), dt)
}

/// Trapezoid over the real elapsed time, for intervals short enough to trust.
fn integrate(prev: &Sample, cur: &Sample, power: &str, dt: i64) -> Option<f64> {
    if dt > MAX_INTEGRATE {
        return None;
    }
    match (value(prev, power), value(cur, power)) {
        (Some(a), Some(b)) => Some((a + b) as f64 / 2.0 * dt as f64 / 3_600.0),
        (Some(v), None) | (None, Some(v)) => Some(v as f64 * dt as f64 / 3_600.0),
        (None, None) => None,
    }
}

/// The energy used between two consecutive samples (`prev` at `t0`, `cur`
/// at `t1 > t0`), by channel; empty if the PDU's banks or outlets changed
/// in between (a probe coming or going changes no channel).
pub fn interval(t0: i64, prev: &Sample, t1: i64, cur: &Sample) -> BTreeMap<String, f64> {
    let mut wh = BTreeMap::new();
    let dt = t1 - t0;
    if dt <= 0 || !prev.shape.same_channels(cur.shape) {
        return wh;
    }
    let Shape { banks, outlets, .. } = cur.shape;
    let mut pdu = None::<f64>;
    for b in 1..=banks {
        if let Some(e) = channel_wh(prev, cur, &format!("bank.{b}"), dt) {
            wh.insert(format!("bank.{b}"), e);
            pdu = Some(pdu.unwrap_or(0.0) + e);
        }
    }
    for o in 1..=outlets {
        if let Some(e) = channel_wh(prev, cur, &format!("outlet.{o}"), dt) {
            wh.insert(format!("outlet.{o}"), e);
        }
    }
    if let Some(e) = pdu.or_else(|| integrate(prev, cur, "total.power", dt)) {
        wh.insert("pdu".into(), e);
        match value(cur, "ats.selected").or_else(|| value(prev, "ats.selected")) {
            Some(1) => drop(wh.insert("source.a".into(), e)),
            Some(2) => drop(wh.insert("source.b".into(), e)),
            _ => {}
        }
    }
    wh
}

/// Spread an interval's energy over the slots `[t0, t1)` overlaps,
/// proportionally to the overlap.
pub fn spread(t0: i64, t1: i64, wh: &BTreeMap<String, f64>) -> Vec<(i64, Slot)> {
    let span = (t1 - t0) as f64;
    let mut out = Vec::new();
    let mut slot = t0 - t0.rem_euclid(SLOT);
    while slot < t1 {
        let overlap = (t1.min(slot + SLOT) - t0.max(slot)) as f64;
        if overlap > 0.0 {
            let share = overlap / span;
            let wh = wh.iter().map(|(k, v)| (k.clone(), v * share)).collect();
            out.push((slot, Slot { wh, ..Slot::default() }));
        }
        slot += SLOT;
    }
    out
}

/// The power reading a sample adds to its slot (peak and average).
pub fn power_reading(ts: i64, s: &Sample) -> Option<(i64, Slot)> {
    let w = value(s, "total.power")? as f64;
    Some((ts - ts.rem_euclid(SLOT), Slot { peak_w: Some(w), power_sum: w, power_n: 1, ..Slot::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::sim::SimModel;
    use app::model::DeviceId;

    fn sample() -> Sample {
        let now = tokio::time::Instant::now();
        Sample::from_snapshot(&SimModel::new(3, now).snapshot(&DeviceId::parse("t").unwrap(), now))
    }

    fn set(s: &mut Sample, metric: &str, v: Option<i64>) {
        let i = s.shape.index(metric).unwrap();
        s.values[i] = v;
    }

    #[test]
    fn counters_give_energy_and_a_reset_never_goes_negative() {
        let mut a = sample();
        let mut b = a.clone();
        set(&mut a, "bank.1.energy", Some(1_000)); // 100.0 kWh
        set(&mut b, "bank.1.energy", Some(1_003)); // +0.3 kWh
        set(&mut a, "ats.selected", Some(2));
        set(&mut b, "ats.selected", Some(2));
        let wh = interval(0, &a, 60, &b);
        assert_eq!(wh["bank.1"], 300.0);
        assert_eq!(wh["source.b"], wh["pdu"]);
        assert!(!wh.contains_key("source.a"));
        // A probe plugged in between changes no channel: still counted.
        let mut probed = b.clone();
        probed.shape.probe = true;
        probed.values.extend([Some(225), Some(40)]);
        assert_eq!(interval(0, &a, 60, &probed)["bank.1"], 300.0);
        // Another outlet count is another PDU's counters: nothing counted.
        let mut other = b.clone();
        other.shape.outlets -= 1;
        assert!(interval(0, &a, 60, &other).is_empty());

        // The PDU was reset: its counter restarts near zero. The interval is
        // integrated from power over the real 60 s instead.
        set(&mut b, "bank.1.energy", Some(2));
        set(&mut a, "bank.1.power", Some(600));
        set(&mut b, "bank.1.power", Some(1_200));
        let wh = interval(0, &a, 60, &b);
        assert_eq!(wh["bank.1"], 900.0 * 60.0 / 3_600.0);
        assert!(wh.values().all(|v| *v >= 0.0));
    }

    #[test]
    fn a_missing_counter_integrates_power_over_real_elapsed_time() {
        let mut a = sample();
        let mut b = a.clone();
        set(&mut a, "outlet.2.energy", None);
        set(&mut b, "outlet.2.energy", None);
        set(&mut a, "outlet.2.power", Some(360));
        set(&mut b, "outlet.2.power", Some(360));
        // Three seconds between samples (a slow poll) count as three, not one.
        assert_eq!(interval(10, &a, 13, &b)["outlet.2"], 0.3);
        // Across a long gap nobody saw the power: nothing is invented.
        assert!(!interval(0, &a, MAX_INTEGRATE + 1, &b).contains_key("outlet.2"));
    }

    #[test]
    fn a_long_interval_is_spread_over_the_slots_it_covers() {
        let wh: BTreeMap<String, f64> = [("pdu".to_owned(), 3_000.0)].into();
        let parts = spread(SLOT - 300, 3 * SLOT + 600, &wh);
        let starts: Vec<i64> = parts.iter().map(|p| p.0).collect();
        assert_eq!(starts, [0, SLOT, 2 * SLOT, 3 * SLOT]);
        let total: f64 = parts.iter().map(|p| p.1.get("pdu")).sum();
        assert!((total - 3_000.0).abs() < 1e-9);
        assert!((parts[1].1.get("pdu") - 3_000.0 * 900.0 / 2_700.0).abs() < 1e-9);
    }
}
