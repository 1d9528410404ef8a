//! Wall-clock time in unix units, in one place. Everything that stamps a
//! reading, an event or an API answer asks here; cadence and delays use
//! `tokio::time::Instant` instead, so tests can pause them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Now, in unix seconds (the `ts` of API answers, events and MQTT payloads).
pub fn unix_secs() -> f64 {
    unix_ms() as f64 / 1000.0
}
