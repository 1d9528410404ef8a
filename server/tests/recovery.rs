//! Coming back after a fault (issue 17, items 3 and 4): samples wait while
//! the history store refuses writes and go in when it accepts them again;
//! the MQTT link is back within seconds of the broker.

use crate::mqtt::{OwnBroker, Sub};
use crate::util::{serve, store};
use server::history::sample::Sample;
use server::history::{Writer, BUFFER_SECONDS};
use server::pdu::sim::SimModel;
use std::time::Duration;
use tokio::time::Instant;

/// The store refuses every new sample the way a full disk does. A trigger
/// in the schema applies to every pooled connection, so the real store and
/// the real writer are under test, with no seam of our own.
async fn refuse_writes(store: &server::history::store::Store, refuse: bool) {
    let sql = if refuse {
        "CREATE TRIGGER disk_full BEFORE INSERT ON samples BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    } else {
        "DROP TRIGGER disk_full"
    };
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

/// Regression (issue 17): the writer took its batch out before writing it,
/// so every batch the store refused (disk full) was lost.
#[tokio::test]
async fn samples_wait_in_memory_while_the_store_refuses_writes_and_go_in_when_it_accepts_again() {
    let (store, _dir) = store().await;
    let mut writer = Writer::new(store.clone());
    let start = tokio::time::Instant::now();
    let mut sim = SimModel::new(7, start);
    let id = app::model::DeviceId::parse("pdu44001").unwrap();
    let base = 1_800_000_000;
    let mut sample = |t: i64| Sample::from_snapshot(&sim.snapshot(&id, start + Duration::from_secs(t as u64)));

    for t in 0..20 {
        writer.add("pdu44001", base + t, &sample(t)).await.unwrap();
    }
    refuse_writes(&store, true).await;
    // Five minutes of a full disk: every try fails, nothing is lost.
    for t in 20..320 {
        let _ = writer.add("pdu44001", base + t, &sample(t)).await;
        if t % 10 == 0 {
            assert!(writer.flush().await.is_err(), "the store refuses");
        }
    }
    assert!(writer.buffered() >= 300, "{} samples wait", writer.buffered());
    refuse_writes(&store, false).await;
    writer.flush().await.unwrap();
    assert_eq!(writer.buffered(), 0);
    let device = store.device("pdu44001").await.unwrap();
    let rows = store.raw(device, base, base + 320).await.unwrap();
    assert_eq!(rows.len(), 320, "every second is stored");
    assert_eq!(writer.dropped(), 0);

    // The buffer is bounded: past it, the oldest are dropped and counted.
    refuse_writes(&store, true).await;
    let more = BUFFER_SECONDS as i64 + 60;
    for t in 320..320 + more {
        let _ = writer.add("pdu44001", base + t, &sample(t)).await;
    }
    assert_eq!(writer.buffered(), BUFFER_SECONDS);
    assert_eq!(writer.dropped(), 60);
    refuse_writes(&store, false).await;
    writer.flush().await.unwrap();
    let rows = store.raw(device, base, base + 320 + more).await.unwrap();
    assert_eq!(rows.len(), 320 + BUFFER_SECONDS, "the newest {BUFFER_SECONDS} s were kept");
    assert_eq!(rows.last().unwrap().0, base + 320 + more - 1);
}

/// Regression (issue 17): after the broker came back the bridge took 7.7 s
/// to reconnect (its backoff grew 1 → 30 s); attempts are now at most 5 s
/// apart, so after an outage of any length it is back within 5 s.
#[tokio::test]
async fn the_broker_back_within_five_seconds_after_a_long_outage() {
    let mut broker = OwnBroker::new();
    let port = broker.port.to_string();
    let _served = serve(&[("MQTT_BROKER", "127.0.0.1"), ("MQTT_PORT", &port), ("BRIDGE_HA_DISCOVERY", "false")]).await;
    // 20 s of failed attempts: the old backoff would now wait 16 s.
    tokio::time::sleep(Duration::from_secs(20)).await;
    broker.start();
    let up = Instant::now();
    let mut sub = Sub::connect(broker.port, "test-back", &["pdu/pdu44001/bridge/status"]).await;
    sub.wait("pdu/pdu44001/bridge/status", |p, _| p == "online", 10).await;
    let back = up.elapsed();
    println!("MQTT back {back:?} after the broker");
    assert!(back <= Duration::from_secs(5) + Duration::from_millis(500), "back after {back:?}");
}
