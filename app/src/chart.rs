//! Drawing one history chart with plotters into an SVG string: average
//! lines, a translucent min/max band, gaps left as gaps. Pure (no DOM), so
//! it is tested natively and runs the same in the browser.
//!
//! Returns where the plot area landed, so the page can turn a pointer
//! position back into a time for the hover read-out.

use crate::history::{History, Point};
use plotters::prelude::*;

/// A line on a chart: which metric, its label and colour, whether the
/// min/max band is drawn around it, and whether it is dashed (so two lines
/// that overlap, such as sources A and B, stay apart without colour).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub metric: String,
    pub label: String,
    pub color: (u8, u8, u8),
    pub band: bool,
    pub dash: bool,
}

/// How a chart's y axis is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YScale {
    /// Power and current: from zero, so noise is not zoomed into a drama.
    FromZero,
    /// Mains voltage: a fixed band around the nominal voltage (120 V or
    /// 230 V, guessed from the data), widened only by real excursions.
    Mains,
    /// Temperature and humidity: around the data, at least this many units
    /// tall, so a steady room reads steady.
    Around(u16),
}

/// A drawn chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    pub svg: String,
    pub width: u32,
    pub height: u32,
    /// The plot area in SVG pixels: left, top, right, bottom.
    pub plot: (i32, i32, i32, i32),
    /// The time span on the x axis (unix seconds).
    pub x_range: (i64, i64),
    /// Line segments drawn (one per stretch of data between gaps).
    pub segments: usize,
}

impl Drawn {
    /// The time under a horizontal SVG pixel position, if it is over the plot.
    pub fn time_at(&self, x: f64) -> Option<i64> {
        let (left, _, right, _) = self.plot;
        if x < f64::from(left) || x > f64::from(right) || right <= left {
            return None;
        }
        let frac = (x - f64::from(left)) / f64::from(right - left);
        Some(self.x_range.0 + (frac * (self.x_range.1 - self.x_range.0) as f64).round() as i64)
    }

    /// The horizontal SVG pixel position of a time.
    pub fn x_of(&self, ts: i64) -> f64 {
        let (left, _, right, _) = self.plot;
        let span = (self.x_range.1 - self.x_range.0).max(1) as f64;
        f64::from(left) + (ts - self.x_range.0) as f64 / span * f64::from(right - left)
    }
}

/// Two buckets further apart than this are two stretches with a gap
/// between them (a 1 Hz poll may skip a second now and then).
pub fn gap_after(bucket_s: i64) -> i64 {
    (2 * bucket_s).max(5)
}

/// Split points where buckets are missing.
pub fn segments(points: &[Point], bucket_s: i64) -> Vec<&[Point]> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..=points.len() {
        if i == points.len() || points[i].0 - points[i - 1].0 > gap_after(bucket_s) {
            if begin < i {
                out.push(&points[begin..i]);
            }
            begin = i;
        }
    }
    out
}

/// The point of a series nearest to `ts`, if one lies within a gap's width.
pub fn nearest(points: &[Point], ts: i64, bucket_s: i64) -> Option<&Point> {
    let i = points.partition_point(|p| p.0 < ts);
    let candidates = [i.checked_sub(1), Some(i)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|i| points.get(i))
        .min_by_key(|p| (p.0 - ts).abs())
        .filter(|p| (p.0 - ts).abs() <= gap_after(bucket_s))
}

/// Tick steps a time axis may use, in seconds.
const STEPS: [i64; 16] = [
    60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 14_400, 21_600, 43_200, 86_400, 172_800, 345_600, 604_800,
    1_209_600,
];

/// Ticks on round local times (whole hours, midnights …): at most `max`
/// of them in `[start, end]`, for a zone `offset` seconds ahead of UTC.
pub fn time_ticks(start: i64, end: i64, offset: i64, max: i64) -> Vec<i64> {
    let span = (end - start).max(1);
    let step = STEPS.into_iter().find(|s| span / s <= max).unwrap_or(span);
    let first = (start + offset + step - 1).div_euclid(step) * step - offset;
    (0..).map(|i| first + i * step).take_while(|t| *t <= end).collect()
}

/// A y range covering every drawn value, with a little room, never empty.
fn y_range(history: &History, lines: &[Line], scale: YScale) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum, mut n) = (0.0, 0usize);
    for line in lines {
        for p in history.series(&line.metric).map(|s| s.points.as_slice()).unwrap_or_default() {
            let (a, b) = if line.band { (p.2, p.3) } else { (p.1, p.1) };
            lo = lo.min(a);
            hi = hi.max(b);
            sum += p.1;
            n += 1;
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return match scale {
            YScale::FromZero => (0.0, 1.0),
            YScale::Mains => (90.0, 140.0),
            YScale::Around(tall) => (0.0, f64::from(tall)),
        };
    }
    match scale {
        YScale::FromZero => {
            let lo = lo.min(0.0);
            let top = hi.max(lo + 1.0);
            (lo, top + (top - lo) * 0.08)
        }
        YScale::Mains => {
            let mean = sum / n.max(1) as f64;
            let nominal = if mean < 170.0 { 120.0 } else { 230.0 };
            let (band_lo, band_hi) = (nominal * 0.8, nominal * 1.15);
            let lo = lo.min(band_lo);
            let hi = hi.max(band_hi);
            let pad = (hi - lo) * 0.04;
            ((lo - pad).max(0.0), hi + pad)
        }
        YScale::Around(tall) => {
            let middle = (lo + hi) / 2.0;
            let half = ((hi - lo) / 2.0).max(f64::from(tall) / 2.0) * 1.08;
            (middle - half, middle + half)
        }
    }
}

/// How the time axis reads: ticks at round times in the viewer's zone.
pub struct TimeAxis<'a> {
    /// The viewer's zone, seconds ahead of UTC.
    pub offset: i64,
    /// Formats a tick (unix seconds).
    pub label: &'a dyn Fn(i64) -> String,
}

/// Axis labels: never smaller than this, as the SVG is drawn at the size it
/// is shown (the page redraws it when its width changes).
pub const LABEL_PX: u32 = 12;

/// Draw `lines` of `history` at `width`×`height`; `unit` labels the y axis.
pub fn draw(
    history: &History,
    lines: &[Line],
    unit: &str,
    scale: YScale,
    (width, height): (u32, u32),
    time: &TimeAxis,
) -> Result<Drawn, String> {
    let mut svg = String::new();
    let x_range = (history.start, history.end);
    let (y0, y1) = y_range(history, lines, scale);
    let max_ticks = i64::from(width / 80).clamp(3, 8);
    let mut drawn_segments = 0;
    let plot = {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        // The page's stylesheet colours the labels (`.plot-svg text`).
        let axis = RGBColor(96, 104, 116);
        // plotters writes `font-size` as the size given / 1.24.
        let text = ("sans-serif", f64::from(LABEL_PX) * 1.24).into_font().color(&axis);
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            // Room for the last time label, which is centred on its tick.
            .margin_right(LABEL_PX * 3)
            .x_label_area_size(LABEL_PX * 2)
            .y_label_area_size(LABEL_PX * 5)
            .build_cartesian_2d(
                (x_range.0..x_range.1).with_key_points(time_ticks(x_range.0, x_range.1, time.offset, max_ticks)),
                y0..y1,
            )
            .map_err(|e| e.to_string())?;
        let decimals = if y1 - y0 < 10.0 { 1 } else { 0 };
        let y_label = |y: &f64| format!("{y:.decimals$} {unit}");
        let x_label = |x: &i64| (time.label)(*x);
        chart
            .configure_mesh()
            .x_labels(max_ticks as usize)
            .y_labels(5)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(text)
            .axis_style(axis)
            .bold_line_style(axis.mix(0.25))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|e| e.to_string())?;
        for line in lines {
            let Some(series) = history.series(&line.metric) else { continue };
            let color = RGBColor(line.color.0, line.color.1, line.color.2);
            for seg in segments(&series.points, history.bucket_s) {
                drawn_segments += 1;
                if line.band {
                    let band: Vec<(i64, f64)> =
                        seg.iter().map(|p| (p.0, p.3)).chain(seg.iter().rev().map(|p| (p.0, p.2))).collect();
                    chart.draw_series([Polygon::new(band, color.mix(0.18).filled())]).map_err(|e| e.to_string())?;
                }
                if let [only] = seg {
                    chart.draw_series([Circle::new((only.0, only.1), 2, color.filled())]).map_err(|e| e.to_string())?;
                } else {
                    chart
                        .draw_series(LineSeries::new(seg.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        root.present().map_err(|e| e.to_string())?;
        (xs.start, ys.start, xs.end, ys.end)
    };
    // plotters has no dashed polyline of its own (its dashed series draws a
    // shape per dash); a dash pattern on the line's own polylines is one
    // attribute. Its colour identifies its polylines.
    for line in lines.iter().filter(|l| l.dash) {
        let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", line.color.0, line.color.1, line.color.2);
        svg = svg
            .lines()
            .map(|l| {
                if l.starts_with("<polyline") && l.contains(&stroke) {
                    l.replacen("<polyline", "<polyline stroke-dasharray=\"8 5\"", 1)
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    Ok(Drawn { svg, width, height, plot, x_range, segments: drawn_segments })
}

/// Colours that stay apart on light and dark backgrounds.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (37, 99, 235),
    (234, 88, 12),
    (22, 163, 74),
    (219, 39, 119),
    (124, 58, 237),
    (8, 145, 178),
    (202, 138, 4),
    (220, 38, 38),
    (71, 85, 105),
    (101, 163, 13),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Series;

    fn history(points: Vec<Point>) -> History {
        History {
            device_id: "t".into(),
            start: 0,
            end: 600,
            bucket_s: 10,
            series: vec![Series { metric: "total.power".into(), unit: "W".into(), points }],
        }
    }

    const AXIS: TimeAxis = TimeAxis { offset: 0, label: &|t| t.to_string() };

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        // A day, viewed at UTC+1: every four hours on the local hour.
        let start = 1_795_777_000; // 2026-11-27 10:56:40 UTC
        let ticks = time_ticks(start, start + 86_400, 3_600, 6);
        assert_eq!(ticks.len(), 6);
        assert!(ticks.iter().all(|t| (t + 3_600) % (4 * 3_600) == 0), "{ticks:?}");
        // A week: local midnights; an hour: every ten… fifteen minutes.
        let week = time_ticks(start, start + 7 * 86_400, -5 * 3_600, 7);
        assert!(week.iter().all(|t| (t - 5 * 3_600) % 86_400 == 0) && week.len() == 7, "{week:?}");
        let hour = time_ticks(start, start + 3_600, 0, 6);
        assert!(hour.windows(2).all(|w| w[1] - w[0] == 600) && hour.len() == 6, "{hour:?}");
    }

    fn line(band: bool) -> Vec<Line> {
        vec![Line { metric: "total.power".into(), label: "Total".into(), color: PALETTE[0], band, dash: false }]
    }

    #[test]
    fn a_gap_in_the_data_is_a_gap_in_the_line() {
        let mut points: Vec<Point> = (0..20).map(|i| Point(i * 10, 100.0, 90.0, 110.0)).collect();
        points.extend((40..60).map(|i| Point(i * 10, 200.0, 190.0, 210.0)));
        let h = history(points);
        assert_eq!(segments(&h.series[0].points, 10).len(), 2);
        let drawn = draw(&h, &line(true), "W", YScale::FromZero, (600, 200), &AXIS).unwrap();
        assert_eq!(drawn.segments, 2);
        let lines = drawn.svg.lines().filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""));
        assert_eq!(lines.count(), 2, "two average lines, no bridge over the gap:\n{}", drawn.svg);
        assert_eq!(drawn.svg.matches("<polygon").count(), 2, "two min/max bands");
        // Hovering in the gap finds nothing; on data, the bucket there.
        let x_gap = drawn.x_of(300);
        assert_eq!(drawn.time_at(x_gap).and_then(|t| nearest(&h.series[0].points, t, 10)), None);
        let x_data = drawn.x_of(450);
        let p = nearest(&h.series[0].points, drawn.time_at(x_data).unwrap(), 10).unwrap();
        assert_eq!((p.0, p.1), (450, 200.0));
    }

    #[test]
    fn an_empty_history_still_draws_axes() {
        let drawn = draw(&history(Vec::new()), &line(false), "W", YScale::FromZero, (600, 200), &AXIS).unwrap();
        assert_eq!(drawn.segments, 0);
        assert!(drawn.svg.starts_with("<svg"), "{}", &drawn.svg[..60]);
        assert!(drawn.plot.0 > 0 && drawn.plot.2 > drawn.plot.0 && drawn.plot.3 > drawn.plot.1);
        assert_eq!(drawn.time_at(0.0), None);
    }

    #[test]
    fn the_band_widens_the_y_axis_to_the_extremes() {
        // A 20-second brownout to 180 V inside a 230 V average bucket must be on the chart.
        let mut h = history(vec![Point(0, 230.0, 150.0, 232.0), Point(10, 230.0, 229.0, 231.0)]);
        h.series[0].metric = "source.a.voltage".into();
        let volts = vec![Line { metric: "source.a.voltage".into(), band: true, ..line(true)[0].clone() }];
        let (lo, hi) = y_range(&h, &volts, YScale::Mains);
        assert!(lo < 150.0 && hi > 232.0, "{lo}..{hi}");
    }

    #[test]
    fn power_starts_at_zero_and_voltage_keeps_a_fixed_band() {
        // 190–230 W of noise is not zoomed: the axis starts at 0 W.
        let h = history((0..10).map(|i| Point(i * 10, 200.0 + f64::from(i as u8 % 3) * 10.0, 190.0, 230.0)).collect());
        let (lo, hi) = y_range(&h, &line(true), YScale::FromZero);
        assert_eq!(lo, 0.0);
        assert!(hi > 230.0 && hi < 260.0, "{hi}");
        // 119–121 V reads as a flat line in a 96–138 V band.
        let mut h = history(vec![Point(0, 120.0, 119.0, 121.0)]);
        h.series[0].metric = "source.a.voltage".into();
        let volts = vec![Line { metric: "source.a.voltage".into(), ..line(true)[0].clone() }];
        let (lo, hi) = y_range(&h, &volts, YScale::Mains);
        assert!(lo <= 96.0 && (138.0..145.0).contains(&hi), "{lo}..{hi}");
    }

    #[test]
    fn a_steady_room_reads_steady_and_a_hot_spell_fits() {
        // 22.4–22.6 °C is drawn in a band at least 4 °C tall, not zoomed.
        let mut h = history(vec![Point(0, 22.5, 22.4, 22.6)]);
        h.series[0].metric = "environment.temperature".into();
        let temp = vec![Line { metric: "environment.temperature".into(), band: true, ..line(true)[0].clone() }];
        let (lo, hi) = y_range(&h, &temp, YScale::Around(4));
        assert!(lo < 20.6 && hi > 24.4 && hi - lo < 5.0, "{lo}..{hi}");
        // A spell from 22 °C to 41 °C is all on the chart.
        h.series[0].points.push(Point(10, 30.0, 22.0, 41.0));
        let (lo, hi) = y_range(&h, &temp, YScale::Around(4));
        assert!(lo < 22.0 && hi > 41.0, "{lo}..{hi}");
    }

    #[test]
    fn labels_are_at_least_eleven_pixels() {
        let drawn =
            draw(&history(vec![Point(0, 1.0, 1.0, 1.0)]), &line(false), "W", YScale::FromZero, (330, 200), &AXIS)
                .unwrap();
        let sizes: Vec<f64> =
            drawn.svg.split("font-size=\"").skip(1).filter_map(|rest| rest.split('"').next()?.parse().ok()).collect();
        assert!(!sizes.is_empty() && sizes.iter().all(|s| *s >= 11.0), "{sizes:?}");
    }

    #[test]
    fn sixty_days_get_several_ticks_and_dashed_lines_are_dashed() {
        let start = 1_795_777_000;
        assert!(time_ticks(start, start + 60 * 86_400, 0, 7).len() >= 4);
        let h = history((0..20).map(|i| Point(i * 10, 100.0, 90.0, 110.0)).collect());
        let dashed = vec![Line { dash: true, ..line(false)[0].clone() }];
        let drawn = draw(&h, &dashed, "W", YScale::FromZero, (600, 200), &AXIS).unwrap();
        assert!(drawn.svg.contains("stroke-dasharray"), "{}", drawn.svg);
    }
}
