//! Range queries: the range chooses the bucket and the table it is read
//! from (`shared/spec/history.md`), every bucket carries average, minimum
//! and maximum, and a bucket without data is simply absent — a gap.

use super::sample::Shape;
use super::store::{Store, StoreError, Table};
use super::HistoryError;
use crate::clock::unix_secs;
use crate::device::Device;
use app::history::HistoryKind;
pub use app::history::{range_seconds as named_range, History, Point, Series};

/// The bucket (seconds) for a span, per the contract, and the level it is
/// read from (`None` = raw samples): ≤ 1 h raw 1 s, ≤ 6 h 10 s, ≤ 24 h
/// 1 min, ≤ 7 d 5 min, ≤ 30 d 15 min, else 30 min — each from the rollup
/// level of exactly that size.
fn bucket_for(span: i64) -> (i64, Option<Table>) {
    let table = match span {
        s if s <= 3_600 => return (1, None),
        s if s <= 6 * 3_600 => Table::TenSeconds,
        s if s <= 86_400 => Table::Minute,
        s if s <= 7 * 86_400 => Table::FiveMinutes,
        s if s <= 30 * 86_400 => Table::Quarter,
        _ => Table::HalfHour,
    };
    (table.seconds(), Some(table))
}

fn unit(metric: &str) -> String {
    match metric.rsplit('.').next().unwrap_or_default() {
        "voltage" => "V",
        "current" => "A",
        "power" => "W",
        "apparent_power" => "VA",
        "frequency" => "Hz",
        "energy" => "kWh",
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
pub async fn query(
    store: &Store,
    device_id: &str,
    shape: Shape,
    metrics: &[String],
    start: i64,
    end: i64,
) -> Result<History, StoreError> {
    let (bucket, level) = bucket_for(end - start);
    let device = store.device(device_id).await?;
    let wanted: Vec<(String, usize)> = metrics.iter().filter_map(|m| Some((m.clone(), shape.index(m)?))).collect();
    let scales: Vec<f64> = wanted.iter().map(|(_, i)| shape.scale(*i)).collect();
    let mut series: Vec<Series> =
        wanted.iter().map(|(m, _)| Series { metric: m.clone(), unit: unit(m), points: Vec::new() }).collect();
    let mut acc = Acc::new(wanted.len());
    // Rows covering whole buckets; rows of another shape (the PDU changed) are left out.
    let rows = store.level(level, device, start - start.rem_euclid(bucket), end).await?;
    for (ts, weight, avg, min, max) in rows.parts().into_iter().filter(|p| p.2.shape == shape) {
        let b = ts - ts.rem_euclid(bucket);
        if b != acc.ts {
            acc.roll(b, &mut series, &scales);
        }
        for (j, (_, i)) in wanted.iter().enumerate() {
            acc.add(j, avg.values[*i], min.values[*i], max.values[*i], f64::from(weight));
        }
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
        match (self.start, self.end, self.range.as_deref()) {
            (Some(start), Some(end), _) if start < end && end - start <= 400 * 86_400 => Ok((start, end)),
            (Some(_), Some(_), _) => Err(bad("start", "start must be before end, at most 400 days apart")),
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
    let snapshot = device.latest().ok_or_else(|| HistoryError::NoReading(device.id().to_string()))?;
    let shape = Shape::of(&snapshot);
    let (start, end) = window.resolve(unix_secs() as i64)?;
    let metrics = metrics(kind, shape, outlet)?;
    Ok(query(store, device.id().as_str(), shape, &metrics, start, end).await?)
}

/// The same data as CSV: `ts,metric,avg,min,max`.
pub fn csv(history: &History) -> String {
    let mut out = String::from("ts,metric,avg,min,max\n");
    for s in &history.series {
        for Point(ts, avg, min, max) in &s.points {
            out.push_str(&format!("{ts},{},{avg},{min},{max}\n", s.metric));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_chooses_the_bucket_and_its_table() {
        let cases = [("1h", 1), ("6h", 10), ("24h", 60), ("7d", 300), ("30d", 900), ("60d", 1800)];
        for (name, bucket) in cases {
            let span = named_range(name).unwrap();
            assert_eq!(bucket_for(span).0, bucket, "{name}");
            assert!(span / bucket <= 3_600, "{name}: at most 3600 points");
        }
        assert_eq!(named_range("2h"), None);
    }
}
