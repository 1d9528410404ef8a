//! How numbers become text on the dashboard. Pure functions, identical on the
//! server and in the browser, so hydrated text matches the server's.

/// `Some(119.84), 1, "V"` → `"119.8 V"`; absent → an em dash.
pub fn reading(value: Option<f64>, decimals: usize, unit: &str) -> String {
    match value {
        Some(v) if v.is_finite() => {
            if unit.is_empty() {
                format!("{v:.decimals$}")
            } else {
                format!("{v:.decimals$} {unit}")
            }
        }
        _ => "—".to_owned(),
    }
}

/// `93784` → `"1 d 2 h 3 min"`.
pub fn duration(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h) {
        (0, 0) if m == 0 => format!("{seconds} s"),
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h {m} min"),
    }
}

/// A data age: `"0.4 s"`, `"12 s"`, `"3 min"`.
pub fn age(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{:.1} s", seconds.max(0.0))
    } else {
        duration(seconds as u64)
    }
}

/// Share of a limit as a whole percentage, clamped to 0–100 for drawing.
pub fn percent(value: Option<f64>, limit: Option<f64>) -> Option<f64> {
    match (value, limit) {
        (Some(v), Some(l)) if l > 0.0 => Some((v / l * 100.0).clamp(0.0, 100.0)),
        _ => None,
    }
}

/// A moment's calendar fields `(year, month, day, hour, minute, second)`:
/// in the browser, its local time; elsewhere (tests, the server) UTC.
pub fn civil(ts: i64) -> (i64, u32, u32, u32, u32, u32) {
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64 * 1000.0));
        (i64::from(d.get_full_year()), d.get_month() + 1, d.get_date(), d.get_hours(), d.get_minutes(), d.get_seconds())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // Days to civil date (Howard Hinnant's algorithm).
        let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day, (secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32)
    }
}

/// How far the viewer's zone is ahead of UTC at `ts`, in seconds (the
/// browser's zone; 0 elsewhere).
pub fn utc_offset(ts: i64) -> i64 {
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64 * 1000.0));
        -(d.get_timezone_offset() * 60.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ts;
        0
    }
}

/// An x-axis tick for a chart spanning `span` seconds: `14:05` within a
/// day, else `11-27` at midnight and `11-27 14:00` otherwise.
pub fn tick(ts: i64, span: i64) -> String {
    let (_, mo, d, h, mi, _) = civil(ts);
    match span {
        s if s <= 86_400 => format!("{h:02}:{mi:02}"),
        _ if h == 0 && mi == 0 => format!("{mo:02}-{d:02}"),
        _ => format!("{mo:02}-{d:02} {h:02}:{mi:02}"),
    }
}

/// A full timestamp: `2026-11-27 14:05:09`.
pub fn stamp(ts: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ts);
    format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// The viewer's zone at `ts` as an offset: `UTC`, `UTC+01:00`, `UTC-05:30`
/// (the server, which does not know the viewer's zone, says `UTC`).
pub fn zone(ts: i64) -> String {
    let offset = utc_offset(ts);
    if offset == 0 {
        return "UTC".to_owned();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)
}

/// ISO 8601 with the viewer's offset: `2026-11-28T13:05:09+01:00`.
pub fn iso(ts: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ts);
    let offset = utc_offset(ts);
    let zone = if offset == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", offset.abs() / 3600, offset.abs() / 60 % 60)
    };
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
}

/// When something happened, for a reader at `now_ms`: `14:05:09` on the
/// same local day, else `2026-11-27 14:05`.
pub fn clock(ts_ms: u64, now_ms: u64) -> String {
    let (ts, now) = ((ts_ms / 1000) as i64, (now_ms / 1000) as i64);
    let (y, mo, d, h, mi, s) = civil(ts);
    let (ny, nmo, nd, ..) = civil(now);
    if (y, mo, d) == (ny, nmo, nd) {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_readings_show_a_dash_not_zero() {
        assert_eq!(reading(None, 1, "V"), "—");
        assert_eq!(reading(Some(119.84), 1, "V"), "119.8 V");
        assert_eq!(reading(Some(0.5), 2, ""), "0.50");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(180), "3 min");
        assert_eq!(duration(93_784), "1 d 2 h 3 min");
        assert_eq!(age(0.44), "0.4 s");
    }

    #[test]
    fn timestamps_and_ticks() {
        assert_eq!(stamp(0), "1970-01-01 00:00:00");
        assert_eq!(stamp(1_795_867_509), "2026-11-28 12:05:09");
        assert_eq!(stamp(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(tick(1_795_867_509, 3_600), "12:05");
        assert_eq!(tick(1_795_867_509, 86_400 * 2), "11-28 12:05");
        assert_eq!(tick(1_795_867_509, 86_400 * 30), "11-28 12:05");
        assert_eq!(tick(1_795_824_000, 86_400 * 7), "11-28");
    }

    #[test]
    fn absolute_times_name_their_zone() {
        assert_eq!(iso(1_795_867_509), "2026-11-28T12:05:09Z");
        assert_eq!(zone(1_795_867_509), "UTC");
        let now = 1_795_867_509_000;
        assert_eq!(clock(now - 60_000, now), "12:04:09");
        assert_eq!(clock(now - 86_400_000, now), "2026-11-27 12:05");
    }
}
