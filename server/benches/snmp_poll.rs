//! SNMP requests per poll and poll latency against the simulator agent on
//! loopback, at the default varbind limit and at the worst agent's (1).
//!
//!     cargo bench -p server --bench snmp_poll
//!
//! Results go into BENCHMARKS.md.

use server::pdu::sim::SimulatedPdu;
use server::snmp::agent::{self, Communities};
use server::snmp::client::SnmpClient;
use server::snmp::SnmpPdu;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const POLLS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let stop = CancellationToken::new();
    let sim = SimulatedPdu::new(1, Duration::from_secs(2));
    let communities = Communities { read: "public".into(), write: "private".into() };
    tokio::spawn(agent::serve(socket, sim, communities, stop.clone()));

    println!("{POLLS} polls of a simulated PDU44001 (10 outlets, 3 load rows, ATS) over loopback UDP");
    println!("| varbinds per request | requests per poll | p50 | p95 | max |");
    println!("|---|---|---|---|---|");
    for max_varbinds in [10, 1] {
        let pdu = SnmpPdu::new(SnmpClient::new(
            addr.to_string(),
            "public",
            "private",
            Duration::from_secs(2),
            1,
            max_varbinds,
        ));
        pdu.identity().await.expect("discovery"); // discovery and identity, not measured
        let before = pdu.client().requests();
        let mut latencies = Vec::with_capacity(POLLS);
        for _ in 0..POLLS {
            let start = Instant::now();
            pdu.poll().await.expect("poll");
            latencies.push(start.elapsed());
        }
        let requests = (pdu.client().requests() - before) as f64 / POLLS as f64;
        latencies.sort();
        println!(
            "| {max_varbinds} | {requests:.1} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.95).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    stop.cancel();
}
