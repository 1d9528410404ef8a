//! History as it crosses the wire: downsampled series for the charts, and
//! the energy summaries and reports. The server computes them; the API and
//! the dashboard read the same types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The named ranges a chart offers, shortest first.
pub const RANGES: [&str; 6] = ["1h", "6h", "24h", "7d", "30d", "60d"];

/// The range the dashboard opens with.
pub const DEFAULT_RANGE: &str = "24h";

/// `1h 6h 24h 7d 30d 60d` → seconds.
pub fn range_seconds(name: &str) -> Option<i64> {
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

/// The named range in a query string such as `range=7d&x=1`, if valid.
pub fn range_from_query(query: &str) -> Option<&'static str> {
    let value = query.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("range="))?;
    RANGES.into_iter().find(|r| *r == value)
}

/// What a history query covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryKind {
    /// Total and per-bank power, current and voltage.
    Banks,
    /// Per-outlet power and current.
    Outlets,
    /// Source A/B and input voltage and frequency (never a sum of banks).
    Sources,
    /// The environment probe's temperature (°C) and humidity (%).
    Environment,
}

impl HistoryKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "banks" => Self::Banks,
            "outlets" => Self::Outlets,
            "sources" => Self::Sources,
            "environment" => Self::Environment,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Banks => "banks",
            Self::Outlets => "outlets",
            Self::Sources => "sources",
            Self::Environment => "environment",
        }
    }
}

/// `[ts, avg, min, max]`: one bucket (ts = its start, unix seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point(pub i64, pub f64, pub f64, pub f64);

/// A tuple of four on the wire (utoipa's derive would describe an array of
/// objects).
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for Point {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, SchemaType, Type};
        let number = |t: Type, description: &str| {
            ObjectBuilder::new().schema_type(SchemaType::new(t)).description(Some(description)).build()
        };
        ArrayBuilder::new()
            .description(Some(
                "`[ts, avg, min, max]`: the bucket's start (unix seconds), then its average, minimum and maximum",
            ))
            .prefix_items([
                number(Type::Integer, "the bucket's start, unix seconds"),
                number(Type::Number, "average"),
                number(Type::Number, "minimum"),
                number(Type::Number, "maximum"),
            ])
            .items(ArrayItems::False)
            .min_items(Some(4))
            .max_items(Some(4))
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for Point {}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// `total.power`, `bank.1.current`, `outlet.7.power`, `source.a.voltage` …
    pub metric: String,
    pub unit: String,
    /// Buckets with data, in time order; a missing bucket is a gap.
    pub points: Vec<Point>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub device_id: String,
    pub start: i64,
    pub end: i64,
    pub bucket_s: i64,
    pub series: Vec<Series>,
}

impl History {
    pub fn series(&self, metric: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.metric == metric)
    }

    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }
}

/// Energy and power over a period.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyTotals {
    /// The whole PDU.
    pub kwh: f64,
    /// By the source the ATS had selected: `a`, `b`.
    pub sources: BTreeMap<String, f64>,
    /// By bank number.
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, f64>))]
    pub banks: BTreeMap<u32, f64>,
    /// By outlet number.
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, f64>))]
    pub outlets: BTreeMap<u32, f64>,
    /// Highest total power seen (W).
    pub peak_w: Option<f64>,
    /// Average of the total-power readings (W).
    pub avg_w: Option<f64>,
    /// Cost of `kwh` when a price is configured.
    pub cost: Option<f64>,
}

/// One local calendar day.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyDay {
    /// `2026-11-23`.
    pub date: String,
    pub totals: EnergyTotals,
}

/// A completed week (Monday–Sunday) or month, in local time.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `week-2026-11-16` (its Monday) or `month-2026-11`.
    pub id: String,
    pub device_id: String,
    /// `week` or `month`.
    pub kind: String,
    pub title: String,
    pub time_zone: String,
    /// First day and last day (inclusive), local dates.
    pub first_day: String,
    pub last_day: String,
    /// The period as unix seconds `[start, end)`.
    pub start: i64,
    pub end: i64,
    /// When it was made (unix seconds).
    pub created: i64,
    pub totals: EnergyTotals,
    pub days: Vec<EnergyDay>,
    /// Outlet names when the report was made.
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, String>))]
    pub outlet_names: BTreeMap<u32, String>,
    /// The period before, for comparison.
    pub previous_kwh: Option<f64>,
    /// Change against the period before, in percent.
    pub change_percent: Option<f64>,
    pub price_per_kwh: Option<f64>,
    pub currency: String,
}

/// A report in a list.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub start: i64,
    pub end: i64,
}

/// What the dashboard's energy panel shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    pub device_id: String,
    pub time_zone: String,
    pub today: EnergyTotals,
    pub week: EnergyTotals,
    pub month: EnergyTotals,
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, String>))]
    pub outlet_names: BTreeMap<u32, String>,
    pub currency: String,
    pub reports: Vec<ReportSummary>,
}
