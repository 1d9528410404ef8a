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
}
