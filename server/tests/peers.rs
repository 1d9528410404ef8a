//! Interoperability with third-party SNMP software: the bridge against
//! snmpsim serving the simulated PDU44001 of `shared/peers` (started by
//! `scripts/test.sh` through `shared/peers/start-peers.sh`, udp 127.0.0.1:11161,
//! communities public / private / sim). Expected values come from the peer's
//! data file, scaled by the MIB. Runs only when `scripts/test.sh` started the
//! peers (`PDU_BRIDGE_PEERS=1`); a clone without `../shared` skips it.

use crate::util::{call, Started};
use axum::http::StatusCode;
use serde_json::Value;
use server::snmp::client::SnmpClient;
use server::snmp::codec::{parse_oid, VarValue};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

const PORT: &str = "11161";

/// Whether `scripts/test.sh` started the shared peers (`PDU_BRIDGE_PEERS=1`);
/// if not, says that the suite is skipped.
pub(crate) fn peers_started() -> bool {
    if std::env::var("PDU_BRIDGE_PEERS").is_ok_and(|v| v == "1") {
        return true;
    }
    // Straight to stderr, past the test harness's capture, so the run shows it.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: the snmpsim peer suite (PDU_BRIDGE_PEERS unset: no ../shared/peers)");
    false
}

/// The peer's data file: OID → default value (`v=`), by parameter when named.
struct DataFile {
    values: HashMap<String, String>,
}

impl DataFile {
    fn load() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/pdu44001.snmprec");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut values = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.splitn(3, '|');
            let (Some(oid), Some(_tag), Some(rest)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let fields: HashMap<&str, &str> = rest.split(',').filter_map(|kv| kv.split_once('=')).collect();
            if let Some(v) = fields.get("v") {
                values.insert(oid.to_owned(), (*v).to_owned());
            }
        }
        Self { values }
    }

    fn get(&self, oid: &str) -> &str {
        self.values.get(oid).unwrap_or_else(|| panic!("{oid} has no value in the data file"))
    }

    fn int(&self, oid: &str) -> i64 {
        self.get(oid).parse().unwrap()
    }
}

const E: &str = "1.3.6.1.4.1.3808.1.1.3";
const E2: &str = "1.3.6.1.4.1.3808.1.1.6";

fn sim_client() -> SnmpClient {
    SnmpClient::new(format!("127.0.0.1:{PORT}"), "sim", "sim", Duration::from_secs(2), 1, 10)
}

/// Back to the data file's defaults, with meters and uptime frozen.
async fn reset_peer() {
    let sim = sim_client();
    sim.set(&parse_oid("1.3.6.1.4.1.99999.3808.1.0").unwrap(), VarValue::Integer(1))
        .await
        .expect("snmpsim runs on 11161");
    sim.set(&parse_oid("1.3.6.1.4.1.99999.3808.2.0").unwrap(), VarValue::Integer(1)).await.unwrap();
}

async fn bridge(extra: &[(&str, &str)]) -> Started {
    let mut pairs = vec![("PDU_HOST", "127.0.0.1"), ("PDU_SNMP_PORT", PORT), ("BRIDGE_POLL_INTERVAL", "0.5")];
    pairs.extend_from_slice(extra);
    Started::new(&pairs).await
}

fn close(actual: &Value, expected: f64, what: &str) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!((actual - expected).abs() < 1e-6, "{what}: {actual} != {expected}");
}

// One test drives the shared peer step by step: the peer's state is global.
#[tokio::test]
async fn the_bridge_matches_snmpsim_switches_with_private_fails_cleanly_with_public_and_sees_sim_changes() {
    if !peers_started() {
        return;
    }
    reset_peer().await;
    let data = DataFile::load();
    let bridge = bridge(&[]).await;
    let router = bridge.router();
    let (code, s) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::OK, "{s}");

    assert_eq!(s["identity"]["serial"], data.get(&format!("{E}.1.6.0")));
    assert_eq!(s["identity"]["firmware"], data.get(&format!("{E}.1.3.0")));
    assert_eq!(s["identity"]["model"], data.get(&format!("{E}.1.5.0")));
    assert_eq!(s["identity"]["name"], data.get(&format!("{E}.1.1.0")));
    assert_eq!(s["identity"]["location"], data.get("1.3.6.1.2.1.1.6.0"));
    assert_eq!(s["identity"]["rating_amps"].as_i64(), Some(data.int(&format!("{E}.1.7.0"))));

    let volts_a = data.int(&format!("{E2}.9.4.1.5.1")) as f64 / 10.0;
    close(&s["ats"]["sources"][0]["voltage"], volts_a, "source A voltage");
    close(&s["ats"]["sources"][1]["voltage"], data.int(&format!("{E2}.9.4.1.6.1")) as f64 / 10.0, "source B voltage");
    assert_eq!((s["ats"]["selected"].as_str(), s["ats"]["preferred"].as_str()), (Some("A"), Some("A")));
    close(&s["input"]["voltage"], volts_a, "input voltage = the selected source");

    let mut bank_power: HashMap<i64, f64> = HashMap::new();
    for o in s["outlets"].as_array().unwrap() {
        let n = o["number"].as_i64().unwrap();
        let col = |c: u32| format!("{E}.3.5.1.1.{c}.{n}");
        let on = data.int(&col(4)) == 1;
        assert_eq!(o["name"], data.get(&col(2)), "outlet {n}");
        assert_eq!(o["state"], if on { "on" } else { "off" }, "outlet {n}");
        assert_eq!(o["bank"].as_i64(), Some(data.int(&col(6))), "outlet {n}: the bank column is a bank, not watts");
        let (amps, watts) = if on { (data.int(&col(7)) as f64 / 10.0, data.int(&col(8)) as f64) } else { (0.0, 0.0) };
        close(&o["current"], amps, &format!("outlet {n} current"));
        close(&o["power"], watts, &format!("outlet {n} power"));
        close(&o["energy_kwh"], data.int(&col(13)) as f64 / 10.0, &format!("outlet {n} energy"));
        *bank_power.entry(data.int(&col(6))).or_default() += watts;
    }
    for b in s["banks"].as_array().unwrap() {
        let number = b["number"].as_i64().unwrap();
        close(&b["power"], bank_power[&number], &format!("bank {number} power"));
        close(&b["max_load_amps"], data.int(&format!("{E}.2.1.6.1.3.{number}")) as f64, "bank limit");
    }

    // An outlet SET with the write community works …
    let (code, r) = call(&router, "POST", "/api/outlets/10/command", Some(r#"{"action":"on"}"#)).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "on");

    // … with the read-only community it fails cleanly and switches nothing.
    let readonly = bridge_readonly().await;
    let (code, e) = call(&readonly.router(), "POST", "/api/outlets/9/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{e}");
    assert!(e["error"].as_str().unwrap().contains("noAccess"), "{e}");
    let (_, s) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(s["outlets"][8]["state"], "on", "outlet 9 untouched");

    // A source voltage changed through the sim community shows in the next poll.
    sim_client().set(&parse_oid(&format!("{E2}.9.4.1.5.1")).unwrap(), VarValue::Integer(1050)).await.unwrap();
    bridge
        .wait_for(|b| {
            b.snapshots()[0].ats.as_ref().and_then(|a| a.source(app::model::Source::A)).and_then(|r| r.voltage)
                == Some(105.0)
        })
        .await;
    reset_peer().await;
}

async fn bridge_readonly() -> Started {
    bridge(&[("PDU_COMMUNITY_WRITE", "public")]).await
}
