//! The history store at 60 days: fill it with 1 Hz samples of simulated
//! PDU44001s through the real writer (batches of 10, rollups as it goes),
//! then measure the store's size, the insert cost per sample, and p50/p95 of
//! every chart range.
//!
//!     cargo bench -p server --bench history_60d -- [days] [pdus]    (default 60 1)

use app::model::DeviceId;
use server::history::query::{named_range, query};
use server::history::reports::{self, Period, Settings};
use server::history::sample::Sample;
use server::history::store::Store;
use server::history::Writer;
use server::pdu::sim::SimModel;
use std::sync::Arc;
use std::time::{Duration, Instant as Wall};
use tokio::time::Instant;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let days: i64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let pdus: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let store = Arc::new(Store::open(&path).await.unwrap());
    let mut writer = Writer::new(store.clone());

    let seconds = days * 86_400;
    let end = 1_790_000_000 - 1_790_000_000 % 86_400;
    let start = end - seconds;
    let sim_start = Instant::now();
    let mut sims: Vec<SimModel> = (0..pdus).map(|i| SimModel::new(i as u64 + 1, sim_start)).collect();
    let ids: Vec<DeviceId> = (0..pdus).map(|i| DeviceId::parse(&format!("pdu{i}")).unwrap()).collect();
    let mut shape = None;
    let wall = Wall::now();
    for t in 0..seconds {
        for (sim, id) in sims.iter_mut().zip(&ids) {
            let sample = Sample::from_snapshot(&sim.snapshot(id, sim_start + Duration::from_secs(t as u64)));
            shape = Some(sample.shape);
            writer.add(id.as_str(), start + t, &sample).await.unwrap();
        }
        if t % 86_400 == 0 && t > 0 {
            eprintln!("  day {} of {days} filled", t / 86_400);
        }
    }
    writer.flush().await.unwrap();
    let fill = wall.elapsed();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let samples = seconds as f64 * pdus as f64;
    let pdu_days = days as f64 * pdus as f64;

    println!(
        "{days} days x {pdus} PDU44001 at 1 Hz ({} samples), written in batches of 10 with rollups as it goes",
        samples as u64
    );
    println!();
    println!("| store size | per PDU-day | insert cost per sample (incl. rollups and energy) |");
    println!("|---|---|---|");
    println!(
        "| {:.1} MiB | {:.2} MB | {:.1} µs |",
        size as f64 / 1048576.0,
        size as f64 / pdu_days / 1e6,
        fill.as_secs_f64() * 1e6 / samples
    );
    println!();
    println!("Chart queries for pdu0 (all banks' power, current and voltage + totals), 30 runs each, ending at the newest sample:");
    println!();
    println!("| range | bucket | points per series | p50 | p95 |");
    println!("|---|---|---|---|---|");
    let shape = shape.unwrap();
    let metrics: Vec<String> = (1..=shape.banks)
        .flat_map(|b| ["power", "current", "voltage"].map(|m| format!("bank.{b}.{m}")))
        .chain(["total.power".to_owned(), "total.current".to_owned()])
        .collect();
    for name in ["1h", "6h", "24h", "7d", "30d", "60d"] {
        let span = named_range(name).unwrap().min(seconds);
        let (p50, p95, h) = time30(|| query(&store, "pdu0", shape, &metrics, end - span, end)).await;
        let h = h.unwrap();
        let (points, bucket) = (h.series[0].points.len(), h.bucket_s);
        println!("| {name} | {bucket} s | {points} | {p50:.1} ms | {p95:.1} ms |");
    }

    // Energy: every local day of the whole store, a weekly and a monthly
    // report (each also reads the period before), from the 15-minute slots.
    let settings = Settings {
        zone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
        price_per_kwh: Some(0.3),
        currency: "EUR".into(),
    };
    let device = store.device("pdu0").await.unwrap();
    let last = reports::local_date(&settings.zone, end - 1);
    let first = reports::local_date(&settings.zone, start);
    let week = Period::containing(last, true).previous();
    let month = Period::containing(last, false).previous();
    println!();
    println!("Energy for pdu0, 30 runs each:");
    println!();
    println!("| query | p50 | p95 |");
    println!("|---|---|---|");
    let (p50, p95, _) = time30(|| reports::days(&store, device, &settings, first, last)).await;
    println!("| kWh of each of the {days} days | {p50:.1} ms | {p95:.1} ms |");
    for (label, period) in [("weekly report", week), ("monthly report", month)] {
        let (p50, p95, _) =
            time30(|| reports::build(&store, device, "pdu0", &settings, period, Default::default())).await;
        println!("| {label} ({}) | {p50:.1} ms | {p95:.1} ms |", period.id());
    }
}

/// p50 and p95 in ms of 30 runs of `f`, and the last run's result.
async fn time30<T, F: std::future::Future<Output = T>>(mut f: impl FnMut() -> F) -> (f64, f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..30 {
        let t = Wall::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95), last.expect("30 runs"))
}
