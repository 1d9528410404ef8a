//! Range queries: the range chooses the bucket and the table it is read
//! from (`shared/spec/history.md`), every bucket carries average, minimum
//! and maximum, and a bucket without data is simply absent — a gap.
//!
//! The work of one query is bounded whatever it asks: `start`/`end` lie in
//! 1970 … 2100 and at most 400 days apart, a series has at most
//! [`MAX_POINTS_PER_SERIES`] points and an answer at most [`MAX_POINTS`]
//! (a coarser bucket is chosen instead), and rows are read
//! [`ROWS_PER_READ`] at a time.

use super::sample::{scale_of, Shape, PROBE};
use super::store::{Store, StoreError, Table};
use super::HistoryError;
use crate::clock::unix_secs;
use crate::device::Device;
use app::history::HistoryKind;
pub use app::history::{range_seconds as named_range, History, Point, Series};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The latest unix second a window may end at: 2100-01-01T00:00:00Z.
pub const LATEST: i64 = 4_102_444_800;
/// The longest window, in seconds.
pub const MAX_SPAN: i64 = 400 * 86_400;
/// Points per series at most: a chart is a few thousand pixels wide.
pub const MAX_POINTS_PER_SERIES: i64 = 4_000;
/// Points per answer at most, all series together (about 6 MB of JSON).
pub const MAX_POINTS: i64 = 100_000;
/// Rows held in memory at once while a range is read (a raw 1 h is 3600).
const ROWS_PER_READ: i64 = 2_000;

/// The buckets a query may use, finest first, each with the level it is
/// read from (`None` = raw samples). Up to 30 min each is exactly the size
/// of its level; coarser ones add up 30-minute rollups.
const BUCKETS: [(i64, Option<Table>); 13] = [
    (1, None),
    (10, Some(Table::TenSeconds)),
    (60, Some(Table::Minute)),
    (300, Some(Table::FiveMinutes)),
    (900, Some(Table::Quarter)),
    (1_800, Some(Table::HalfHour)),
    (3_600, Some(Table::HalfHour)),
    (3 * 3_600, Some(Table::HalfHour)),
    (6 * 3_600, Some(Table::HalfHour)),
    (12 * 3_600, Some(Table::HalfHour)),
    (86_400, Some(Table::HalfHour)),
    (2 * 86_400, Some(Table::HalfHour)),
    (7 * 86_400, Some(Table::HalfHour)),
];

/// The bucket (seconds) for a span of `series` series, per the contract,
/// and the level it is read from (`None` = raw samples): ≤ 1 h raw 1 s,
/// ≤ 6 h 10 s, ≤ 24 h 1 min, ≤ 7 d 5 min, ≤ 30 d 15 min, else 30 min —
/// or coarser when that would exceed [`MAX_POINTS_PER_SERIES`] or
/// [`MAX_POINTS`] (a span over 83 days, or very many series).
fn bucket_for(span: i64, series: usize) -> (i64, Option<Table>) {
    let contract = match span {
        s if s <= 3_600 => 1,
        s if s <= 6 * 3_600 => 10,
        s if s <= 86_400 => 60,
        s if s <= 7 * 86_400 => 300,
        s if s <= 30 * 86_400 => 900,
        _ => 1_800,
    };
    let per_series = MAX_POINTS_PER_SERIES.min(MAX_POINTS / (series.max(1) as i64));
    let span = span.clamp(0, MAX_SPAN);
    // A window not aligned to buckets touches one more than span / bucket.
    let points = |bucket: i64| (span + bucket - 1) / bucket + 1;
    let coarsest = BUCKETS[BUCKETS.len() - 1];
    BUCKETS.into_iter().filter(|(b, _)| *b >= contract).find(|(b, _)| points(*b) <= per_series).unwrap_or(coarsest)
}

fn unit(metric: &str) -> String {
    match metric.rsplit('.').next().unwrap_or_default() {
        "voltage" => "V",
        "current" => "A",
        "power" => "W",
        "apparent_power" => "VA",
        "frequency" => "Hz",
        "energy" => "kWh",
        "temperature" => "°C",
        "humidity" => "%",
        _ => "",
    }
    .to_owned()
}

/// Running average, minimum and maximum of the requested metrics in one
/// bucket: only those metrics are touched, and nothing is allocated per row.
struct Acc {
    ts: i64,
    sum: Vec<f64>,
    weight: Vec<f64>,
    min: Vec<i64>,
    max: Vec<i64>,
}

impl Acc {
    fn new(k: usize) -> Self {
        Self { ts: i64::MIN, sum: vec![0.0; k], weight: vec![0.0; k], min: vec![i64::MAX; k], max: vec![i64::MIN; k] }
    }

    fn add(&mut self, j: usize, avg: Option<i64>, min: Option<i64>, max: Option<i64>, weight: f64) {
        if let (Some(a), Some(lo), Some(hi)) = (avg, min, max) {
            self.sum[j] += a as f64 * weight;
            self.weight[j] += weight;
            self.min[j] = self.min[j].min(lo);
            self.max[j] = self.max[j].max(hi);
        }
    }

    /// Move the finished bucket into the series and start `ts`.
    fn roll(&mut self, ts: i64, series: &mut [Series], scales: &[f64]) {
        if self.ts != i64::MIN {
            for (j, s) in series.iter_mut().enumerate() {
                if self.weight[j] > 0.0 {
                    let scale = scales[j];
                    let avg = (self.sum[j] / self.weight[j]).round() / scale;
                    s.points.push(Point(self.ts, avg, self.min[j] as f64 / scale, self.max[j] as f64 / scale));
                }
            }
        }
        self.ts = ts;
        self.sum.iter_mut().for_each(|v| *v = 0.0);
        self.weight.iter_mut().for_each(|v| *v = 0.0);
        self.min.iter_mut().for_each(|v| *v = i64::MAX);
        self.max.iter_mut().for_each(|v| *v = i64::MIN);
    }
}

/// The series of `metrics` (names as in [`Shape::index`]) over `[start, end)`.
/// `shape` is the PDU's shape now: a metric it does not have is left out,
/// except the probe's, whose history stays when the probe is gone. Each
/// row is read by its own shape, so a probe coming or going hides nothing.
pub async fn query(
    store: &Store,
    device_id: &str,
    shape: Shape,
    metrics: &[String],
    start: i64,
    end: i64,
) -> Result<History, StoreError> {
    let wanted: Vec<&String> =
        metrics.iter().filter(|m| shape.index(m).is_some() || PROBE.contains(&m.as_str())).collect();
    let (bucket, level) = bucket_for(end.saturating_sub(start), wanted.len());
    let device = store.device(device_id).await?;
    let scales: Vec<f64> = wanted.iter().map(|m| scale_of(m)).collect();
    let mut series: Vec<Series> =
        wanted.iter().map(|m| Series { metric: (*m).clone(), unit: unit(m), points: Vec::new() }).collect();
    let mut acc = Acc::new(wanted.len());
    // Where each wanted metric sits in rows of the shape last seen.
    let mut places: Option<(Shape, Vec<Option<usize>>)> = None;
    // Rows covering whole buckets, a bounded number at a time.
    let step = ROWS_PER_READ * level.map_or(1, Table::seconds);
    let mut from = start - start.rem_euclid(bucket);
    while from < end {
        let to = from.saturating_add(step).min(end);
        let rows = store.level(level, device, from, to).await?;
        for (ts, weight, avg, min, max) in rows.parts() {
            let row_shape = avg.shape;
            if places.as_ref().is_none_or(|(s, _)| *s != row_shape) {
                places = Some((row_shape, wanted.iter().map(|m| row_shape.index(m)).collect()));
            }
            let Some((_, at)) = &places else { continue };
            // A bucket's three parts are aggregated together: one shape.
            if min.shape != row_shape || max.shape != row_shape {
                continue;
            }
            let b = ts - ts.rem_euclid(bucket);
            if b != acc.ts {
                acc.roll(b, &mut series, &scales);
            }
            for (j, i) in at.iter().enumerate() {
                if let Some(i) = *i {
                    acc.add(j, avg.values[i], min.values[i], max.values[i], f64::from(weight));
                }
            }
        }
        from = to;
    }
    acc.roll(i64::MIN, &mut series, &scales);
    Ok(History { device_id: device_id.to_owned(), start, end, bucket_s: bucket, series })
}

/// What a query covers: a named range ending now, or explicit unix seconds.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Window {
    pub range: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl Window {
    /// `[start, end)`; a named range ends just after `now`.
    pub fn resolve(&self, now: i64) -> Result<(i64, i64), HistoryError> {
        let bad = |field, message: &str| HistoryError::BadInput { field, message: message.to_owned() };
        let within = |field, t: i64| match t {
            0..=LATEST => Ok(t),
            _ => Err(bad(field, &format!("unix seconds from 0 to {LATEST} (the year 2100)"))),
        };
        match (self.start, self.end, self.range.as_deref()) {
            (Some(start), Some(end), _) => {
                let (start, end) = (within("start", start)?, within("end", end)?);
                // Both lie in 0..=LATEST, so the difference cannot overflow.
                if start < end && end - start <= MAX_SPAN {
                    Ok((start, end))
                } else {
                    Err(bad("start", "start must be before end, at most 400 days apart"))
                }
            }
            (None, None, range) => {
                let span = named_range(range.unwrap_or(app::history::DEFAULT_RANGE))
                    .ok_or_else(|| bad("range", "one of 1h, 6h, 24h, 7d, 30d, 60d"))?;
                Ok((now + 1 - span, now + 1))
            }
            _ => Err(bad("start", "give both start and end (unix seconds), or a range")),
        }
    }
}

/// The metrics a kind of history shows (`outlet` narrows outlets to one).
pub fn metrics(kind: HistoryKind, shape: Shape, outlet: Option<u32>) -> Result<Vec<String>, HistoryError> {
    Ok(match kind {
        HistoryKind::Banks | HistoryKind::Sources | HistoryKind::Environment if outlet.is_some() => {
            let message = format!("outlet= narrows outlet history only; /api/history/{} has no outlets", kind.as_str());
            return Err(HistoryError::BadInput { field: "outlet", message });
        }
        HistoryKind::Banks => ["total.power".to_owned(), "total.current".to_owned()]
            .into_iter()
            .chain((1..=shape.banks).flat_map(|b| ["power", "current", "voltage"].map(|m| format!("bank.{b}.{m}"))))
            .collect(),
        HistoryKind::Outlets => {
            let outlets: Vec<u32> = match outlet {
                Some(n) if n >= 1 && n <= u32::from(shape.outlets) => vec![n],
                Some(n) => return Err(HistoryError::NoSuchOutlet(n)),
                None => (1..=u32::from(shape.outlets)).collect(),
            };
            outlets.into_iter().flat_map(|n| ["power", "current"].map(|m| format!("outlet.{n}.{m}"))).collect()
        }
        HistoryKind::Sources => {
            ["source.a.voltage", "source.b.voltage", "input.voltage", "source.a.frequency", "source.b.frequency"]
                .map(str::to_owned)
                .to_vec()
        }
        HistoryKind::Environment => PROBE.map(str::to_owned).to_vec(),
    })
}

/// One kind of history of one PDU, as the API and the dashboard ask for it.
pub async fn fetch(
    store: &Store,
    device: &Device,
    kind: HistoryKind,
    window: &Window,
    outlet: Option<u32>,
) -> Result<History, HistoryError> {
    let (start, end) = window.resolve(unix_secs() as i64)?;
    // The PDU as it is now, or, before it has answered since the bridge
    // started, as it was in its last stored sample: its history is there.
    let shape = match device.latest() {
        Some(snapshot) => Shape::of(&snapshot),
        None => {
            let key = store.device(device.id().as_str()).await?;
            match store.latest(key).await? {
                Some((_, sample)) => sample.shape,
                // Never answered and nothing stored: no data, not an error.
                None => {
                    let bucket_s = bucket_for(end - start, 0).0;
                    let id = device.id().to_string();
                    return Ok(History { device_id: id, start, end, bucket_s, series: Vec::new() });
                }
            }
        }
    };
    let metrics = metrics(kind, shape, outlet)?;
    Ok(query(store, device.id().as_str(), shape, &metrics, start, end).await?)
}

/// The same data as CSV, the rows the dashboard's own CSV has: one per
/// bucket and metric, in time order (`time,metric,unit,avg,min,max`), each
/// time in ISO 8601 with its offset in `zone`. No unix-seconds column: the
/// offset makes the time exact for any script (`datetime.fromisoformat`,
/// `date -d`), and the JSON of the same query has unix seconds. Written in
/// pieces of about 64 KiB, so an answer is sent as it is written and never
/// held twice; its size is bounded by the query's [`MAX_POINTS`].
pub fn csv(history: History, zone: TimeZone) -> impl Iterator<Item = String> {
    use std::fmt::Write;
    const PIECE: usize = 64 * 1024;
    let mut series: Vec<_> =
        history.series.into_iter().map(|s| (s.metric, s.unit, s.points.into_iter().peekable())).collect();
    let mut header = Some(String::from("time,metric,unit,avg,min,max\n"));
    std::iter::from_fn(move || {
        let mut piece = header.take().unwrap_or_default();
        while piece.len() < PIECE {
            // Each series is in time order: the earliest head is the next bucket.
            let Some(ts) = series.iter_mut().filter_map(|(_, _, points)| Some(points.peek()?.0)).min() else { break };
            let time = iso(ts, &zone);
            for (metric, unit, points) in &mut series {
                if let Some(Point(_, avg, min, max)) = points.next_if(|p| p.0 == ts) {
                    let _ = writeln!(piece, "{time},{metric},{unit},{avg:.3},{min:.3},{max:.3}");
                }
            }
        }
        (!piece.is_empty()).then_some(piece)
    })
}

/// `2026-12-02T03:15:00+01:00`: a unix second in `zone`, with its offset.
fn iso(ts: i64, zone: &TimeZone) -> String {
    match Timestamp::from_second(ts) {
        Ok(t) => t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => ts.to_string(),
    }
}

/// The name a CSV download is saved as: device, series, the outlet when
/// there is one, and the named range (`pdu44001-outlets-4-24h.csv`) or the
/// window's local start and end in `zone` (`pdu44001-banks-2026-11-01_2026-11-08.csv`;
/// with the time, `2026-11-01T0815`, when a bound is not at midnight).
/// Only `a-z`, `0-9`, `_`, `-` and `.`: device ids and range names are
/// checked before this, so the name needs no quoting in a header.
pub fn file_name(
    history: &History,
    kind: HistoryKind,
    outlet: Option<u32>,
    window: &Window,
    zone: &TimeZone,
) -> String {
    let span = match (window.start, window.end) {
        (Some(_), Some(_)) => format!("{}_{}", file_time(history.start, zone), file_time(history.end, zone)),
        _ => window.range.as_deref().unwrap_or(app::history::DEFAULT_RANGE).to_owned(),
    };
    let outlet = outlet.map(|n| format!("-{n}")).unwrap_or_default();
    format!("{}-{}{outlet}-{span}.csv", history.device_id, kind.as_str())
}

/// A moment in a file name: its local date, and the time (no colons, which
/// some file systems refuse) when it is not midnight.
fn file_time(ts: i64, zone: &TimeZone) -> String {
    let Ok(t) = Timestamp::from_second(ts) else { return ts.to_string() };
    let local = t.to_zoned_datetime(zone.clone());
    if local.time() == jiff::civil::Time::midnight() {
        local.strftime("%Y-%m-%d").to_string()
    } else {
        local.strftime("%Y-%m-%dT%H%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_chooses_the_bucket_and_its_table() {
        let cases = [("1h", 1), ("6h", 10), ("24h", 60), ("7d", 300), ("30d", 900), ("60d", 1800)];
        for (name, bucket) in cases {
            let span = named_range(name).unwrap();
            assert_eq!(bucket_for(span, 20).0, bucket, "{name}");
            assert!(span / bucket <= 3_600, "{name}: at most 3600 points");
        }
        assert_eq!(named_range("2h"), None);
    }

    #[test]
    fn long_spans_and_many_series_get_coarser_buckets_never_more_points() {
        for span in [1, 3_599, 3_600, 3_601, 86_400, 60 * 86_400, 83 * 86_400, 84 * 86_400, MAX_SPAN, i64::MAX] {
            for series in [0, 1, 20, 25, 100, 510] {
                let (bucket, level) = bucket_for(span, series);
                let points = (span.clamp(0, MAX_SPAN) + bucket - 1) / bucket + 1;
                assert!(points <= MAX_POINTS_PER_SERIES, "{span} s: {points} points a series");
                assert!(points * series as i64 <= MAX_POINTS, "{span} s x {series}: {points} points a series");
                assert_eq!(bucket % level.map_or(1, Table::seconds), 0, "whole rows of the level");
            }
        }
        assert_eq!(bucket_for(MAX_SPAN, 20), (3 * 3_600, Some(Table::HalfHour)));
    }

    #[test]
    fn windows_outside_1970_to_2100_name_their_field() {
        let window = |start, end| Window { range: None, start: Some(start), end: Some(end) };
        let field = |w: Window| match w.resolve(1_800_000_000) {
            Err(HistoryError::BadInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(window(i64::MIN, i64::MAX)), "start");
        assert_eq!(field(window(-1, 10)), "start");
        assert_eq!(field(window(0, LATEST + 1)), "end");
        assert_eq!(field(window(0, MAX_SPAN + 1)), "start", "more than 400 days");
        assert_eq!(window(LATEST - MAX_SPAN, LATEST).resolve(0).unwrap(), (LATEST - MAX_SPAN, LATEST));
    }

    #[test]
    fn csv_comes_in_pieces_in_time_order_with_local_iso_times() {
        let points = (0..5_000).map(|t| Point(t, 1.5, 1.0, 2.0)).collect();
        let series = vec![
            Series { metric: "total.power".into(), unit: "W".into(), points },
            Series { metric: "total.current".into(), unit: "A".into(), points: vec![] },
            Series { metric: "bank.1.power".into(), unit: "W".into(), points: vec![Point(7, 3.0, 2.0, 4.0)] },
        ];
        let history = History { device_id: "p".into(), start: 0, end: 5_000, bucket_s: 1, series };
        let pieces: Vec<String> = csv(history, TimeZone::UTC).collect();
        assert!(pieces.len() > 1 && pieces.iter().all(|p| p.len() < 65 * 1024));
        let text = pieces.concat();
        assert_eq!(text.lines().count(), 5_002);
        let head = "time,metric,unit,avg,min,max\n1970-01-01T00:00:00+00:00,total.power,W,1.500,1.000,2.000\n";
        assert!(text.starts_with(head), "{}", &text[..120]);
        // Both series of second 7, in the order of the series.
        assert!(text.contains(
            "1970-01-01T00:00:07+00:00,total.power,W,1.500,1.000,2.000\n\
             1970-01-01T00:00:07+00:00,bank.1.power,W,3.000,2.000,4.000\n\
             1970-01-01T00:00:08+00:00,total.power,W,"
        ));
        assert!(text.ends_with("1970-01-01T01:23:19+00:00,total.power,W,1.500,1.000,2.000\n"));
    }

    #[test]
    fn csv_times_carry_the_offset_of_the_zone_in_winter_and_summer() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap().as_second();
        let points =
            vec![Point(at("2026-12-02T02:15:00Z"), 1.0, 1.0, 1.0), Point(at("2026-07-01T12:00:00Z"), 2.0, 2.0, 2.0)];
        let series = vec![Series { metric: "source.a.voltage".into(), unit: "V".into(), points }];
        let history = History { device_id: "p".into(), start: 0, end: LATEST, bucket_s: 1, series };
        let text: String = csv(history, berlin).collect();
        let times: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(times, ["2026-12-02T03:15:00+01:00", "2026-07-01T14:00:00+02:00"]);
    }

    #[test]
    fn csv_file_names_say_device_series_outlet_and_range_or_local_window() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap().as_second();
        let history = |start, end| History { device_id: "pdu44001".into(), start, end, bucket_s: 60, series: vec![] };
        let named = |range: Option<&str>| Window { range: range.map(str::to_owned), start: None, end: None };
        let h = history(0, 86_400);
        assert_eq!(
            file_name(&h, HistoryKind::Outlets, Some(4), &named(Some("24h")), &berlin),
            "pdu44001-outlets-4-24h.csv"
        );
        assert_eq!(file_name(&h, HistoryKind::Sources, None, &named(None), &berlin), "pdu44001-sources-24h.csv");
        let (start, end) = (at("2026-10-31T23:00:00Z"), at("2026-11-07T23:00:00Z"));
        let custom = Window { range: None, start: Some(start), end: Some(end) };
        let name = file_name(&history(start, end), HistoryKind::Banks, None, &custom, &berlin);
        assert_eq!(name, "pdu44001-banks-2026-11-01_2026-11-08.csv", "local midnights are dates");
        let (start, end) = (at("2026-11-01T07:15:00Z"), at("2026-11-01T09:00:30Z"));
        let custom = Window { range: None, start: Some(start), end: Some(end) };
        let name = file_name(&history(start, end), HistoryKind::Banks, None, &custom, &berlin);
        assert_eq!(name, "pdu44001-banks-2026-11-01T0815_2026-11-01T1000.csv");
    }
}
