//! Range queries: the range chooses the bucket and the table it is read
//! from (`shared/spec/history.md`), every bucket carries average, minimum
//! and maximum, and a bucket without data is simply absent — a gap.

use super::sample::Shape;
use super::store::{aggregate, Store, StoreError, Table};
use serde::Serialize;

/// Where a bucket size is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    Raw,
    Rollup(Table),
}

/// The bucket (seconds) and its source for a span, per the contract:
/// ≤ 1 h raw 1 s, ≤ 6 h 10 s, ≤ 24 h 1 min, ≤ 7 d 5 min, ≤ 30 d 15 min, else 30 min.
fn bucket_for(span: i64) -> (i64, From) {
    match span {
        s if s <= 3_600 => (1, From::Raw),
        s if s <= 6 * 3_600 => (10, From::Raw),
        s if s <= 86_400 => (60, From::Rollup(Table::Minute)),
        s if s <= 7 * 86_400 => (300, From::Rollup(Table::Minute)),
        s if s <= 30 * 86_400 => (900, From::Rollup(Table::Quarter)),
        _ => (1_800, From::Rollup(Table::Quarter)),
    }
}

/// `1h 6h 24h 7d 30d 60d` → seconds.
pub fn named_range(name: &str) -> Option<i64> {
    Some(match name {
        "1h" => 3_600,
        "6h" => 6 * 3_600,
        "24h" => 86_400,
        "7d" => 7 * 86_400,
        "30d" => 30 * 86_400,
        "60d" => 60 * 86_400,
        _ => return None,
    })
}

/// `[ts, avg, min, max]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point(pub i64, pub f64, pub f64, pub f64);

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    pub metric: String,
    pub unit: &'static str,
    pub points: Vec<Point>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct History {
    pub device_id: String,
    pub start: i64,
    pub end: i64,
    pub bucket_s: i64,
    pub series: Vec<Series>,
}

fn unit(metric: &str) -> &'static str {
    match metric.rsplit('.').next().unwrap_or_default() {
        "voltage" => "V",
        "current" => "A",
        "power" => "W",
        "apparent_power" => "VA",
        "frequency" => "Hz",
        "energy" => "kWh",
        _ => "",
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
    let (bucket, from) = bucket_for(end - start);
    let device = store.device(device_id).await?;
    // Rows covering whole buckets.
    let (first, last) = (start - start.rem_euclid(bucket), end);
    let mut buckets: Vec<(i64, super::store::Rollup)> = Vec::new();
    match from {
        From::Raw => {
            let rows = store.raw(device, first, last).await?;
            for chunk in rows.chunk_by(|a, b| a.0 / bucket == b.0 / bucket) {
                let parts: Vec<_> = chunk.iter().map(|(_, s)| (1, s, s, s)).collect();
                if let Some(r) = aggregate(&parts) {
                    buckets.push((chunk[0].0 - chunk[0].0.rem_euclid(bucket), r));
                }
            }
        }
        From::Rollup(table) => {
            let rows = store.rollups(table, device, first, last).await?;
            for chunk in rows.chunk_by(|a, b| a.0 / bucket == b.0 / bucket) {
                let parts: Vec<_> = chunk.iter().map(|(_, r)| (r.count, &r.avg, &r.min, &r.max)).collect();
                if let Some(r) = aggregate(&parts) {
                    buckets.push((chunk[0].0 - chunk[0].0.rem_euclid(bucket), r));
                }
            }
        }
    }
    let series = metrics
        .iter()
        .filter_map(|metric| {
            let index = shape.index(metric)?;
            let scale = shape.scale(index);
            let points = buckets
                .iter()
                .filter(|(_, r)| r.avg.shape == shape)
                .filter_map(|(ts, r)| {
                    let (avg, min, max) = (r.avg.values[index]?, r.min.values[index]?, r.max.values[index]?);
                    Some(Point(*ts, avg as f64 / scale, min as f64 / scale, max as f64 / scale))
                })
                .collect();
            Some(Series { metric: metric.clone(), unit: unit(metric), points })
        })
        .collect();
    Ok(History { device_id: device_id.to_owned(), start, end, bucket_s: bucket, series })
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
