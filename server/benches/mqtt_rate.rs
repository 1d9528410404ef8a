//! MQTT messages per second per PDU at 1 Hz in the default publish mode
//! (status every poll, per-metric topics on change, everything every 60 s),
//! over one simulated hour of a PDU44001 with drifting voltages and loads.
//! Discovery (63 messages per connect or HA birth) is not included.
//!
//!     cargo bench -p server --bench mqtt_rate

use app::model::DeviceId;
use server::mqtt::topics::{Publisher, Topics};
use server::pdu::sim::SimModel;
use std::time::{Duration, Instant as Wall};
use tokio::time::Instant;

fn main() {
    const SECONDS: u64 = 3600;
    let start = Instant::now();
    let mut sim = SimModel::new(1, start);
    let id = DeviceId::parse("pdu44001").unwrap();
    let mut publisher = Publisher::new(Topics::new("pdu", "pdu44001"), Duration::from_secs(60));
    let (mut messages, mut bytes, mut status) = (0usize, 0usize, 0usize);
    let wall = Wall::now();
    for second in 0..SECONDS {
        let now = start + Duration::from_secs(second);
        let mut snapshot = sim.snapshot(&id, now);
        snapshot.ts_ms = second * 1000;
        for m in publisher.messages(&snapshot, now) {
            messages += 1;
            bytes += m.topic.len() + m.payload.len();
            status += usize::from(m.topic.ends_with("/status"));
        }
    }
    let per_second = messages as f64 / SECONDS as f64;
    println!("one simulated hour at 1 Hz, refresh 60 s:");
    println!("| messages/s | of which status/s | per-metric/s | payload+topic bytes/s | simulate + scale + publish, per poll |");
    println!("|---|---|---|---|---|");
    println!(
        "| {per_second:.1} | {:.1} | {:.1} | {:.0} | {:.1} µs |",
        status as f64 / SECONDS as f64,
        (messages - status) as f64 / SECONDS as f64,
        bytes as f64 / SECONDS as f64,
        wall.elapsed().as_secs_f64() * 1e6 / SECONDS as f64,
    );
}
