//! What the bridge counts about its own work, for `/metrics`: small
//! lock-free counters that the busy paths bump and nobody waits on.
//!
//! Owns: [`PollStats`] (each PDU's poll durations as a histogram, and its
//! failed polls). Does not own: rendering (`web::metrics`) or any per-series
//! bookkeeping across restarts of a counter. The one thing to know: these
//! only ever go up; a `Device` that is replaced (an edited PDU) starts new
//! ones, and `/metrics` keeps its exposed counters monotonic across that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the poll duration histogram's buckets: a
/// healthy SNMP poll takes milliseconds; a lossy link's resends reach
/// seconds; a poll is bounded by eight request deadlines (tens of seconds).
pub const POLL_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A histogram with the fixed buckets [`POLL_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when read).
    buckets: [AtomicU64; POLL_BUCKETS.len()],
    /// Every observation, those above the last bound included.
    count: AtomicU64,
    /// The sum of the observations, in microseconds.
    sum_us: AtomicU64,
}

/// A histogram as read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramFigures {
    /// (upper bound in seconds, observations at or below it), bounds ascending.
    pub cumulative: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = POLL_BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn figures(&self) -> HistogramFigures {
        let mut running = 0;
        let cumulative = POLL_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        // Read last, so `+Inf` (the count) is never below a bucket.
        let count = self.count.load(Ordering::Relaxed).max(running);
        HistogramFigures { cumulative, count, sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6 }
    }
}

/// One PDU's polls, bumped by its poller once per poll.
#[derive(Debug, Default)]
pub struct PollStats {
    /// How long each poll took, answered or not.
    pub duration: Histogram,
    /// Polls that ended without a snapshot (a missed or failed poll).
    failed: AtomicU64,
}

impl PollStats {
    pub fn record(&self, took: Duration, answered: bool) {
        self.duration.observe(took);
        if !answered {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_its_bucket_and_every_one_above() {
        let h = Histogram::default();
        for ms in [3, 8, 40, 40, 700, 45_000] {
            h.observe(Duration::from_millis(ms));
        }
        let f = h.figures();
        let at = |bound: f64| f.cumulative.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!((at(0.005), at(0.01), at(0.05), at(1.0), at(30.0)), (1, 2, 4, 5, 5));
        assert_eq!(f.count, 6, "45 s is above every bound but counted");
        assert!((f.sum_seconds - 45.791).abs() < 1e-9, "{}", f.sum_seconds);
    }
}
