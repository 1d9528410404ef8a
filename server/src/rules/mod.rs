//! Automation rules (issue 6, in progress): the rule state machine
//! ([`engine`]) and local time in the configured time zone.
//!
//! Owns: evaluation semantics. Not yet here: the per-device runner that
//! executes decisions through the service path, persistence of rule state,
//! the rules file watcher, the HTTP API, events and the editor.

pub mod engine;

use engine::LocalTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The wall-clock time rules see at `at`, in `zone`: DST transitions are
/// the zone's (a spring-forward day has no 02:30; a fall-back day has 01:30
/// twice).
pub fn local_time(at: Timestamp, zone: &TimeZone) -> LocalTime {
    let local = zone.to_datetime(at);
    LocalTime {
        weekday: local.weekday().to_monday_zero_offset() as u8,
        minute: local.hour() as u16 * 60 + local.minute() as u16,
    }
}

/// A time zone by IANA name (`Europe/Berlin`), from the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn spring_forward_skips_an_hour_of_wall_clock() {
        let berlin = zone("Europe/Berlin").unwrap();
        // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        assert_eq!(local_time(utc("2026-03-29T00:59:00Z"), &berlin), LocalTime { weekday: 6, minute: 60 + 59 });
        assert_eq!(local_time(utc("2026-03-29T01:00:00Z"), &berlin), LocalTime { weekday: 6, minute: 3 * 60 });
    }

    #[test]
    fn fall_back_repeats_an_hour_of_wall_clock() {
        let new_york = zone("America/New_York").unwrap();
        // 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:30 happens twice.
        let first = local_time(utc("2026-11-01T05:30:00Z"), &new_york);
        let second = local_time(utc("2026-11-01T06:30:00Z"), &new_york);
        assert_eq!(first, LocalTime { weekday: 6, minute: 90 });
        assert_eq!(second, first);
    }

    #[test]
    fn weekdays_count_from_monday() {
        let utc_zone = zone("UTC").unwrap();
        assert_eq!(local_time(utc("2026-11-23T12:00:00Z"), &utc_zone).weekday, 0, "a Monday");
        assert_eq!(local_time(utc("2026-11-29T12:00:00Z"), &utc_zone).weekday, 6, "a Sunday");
        assert!(zone("Mars/Olympus").is_err());
    }
}
