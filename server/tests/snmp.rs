//! SNMP over real UDP sockets on 127.0.0.1: the client against the simulator
//! agent, the bridge polling the agent like hardware, agent limits, and stock
//! net-snmp tools against the agent.

use crate::util::{call, Started};
use app::model::{Connection, OutletState, Source};
use axum::http::StatusCode;
use server::pdu::sim::{Faults, SimulatedPdu};
use server::snmp::agent::{self, Communities};
use server::snmp::client::{SnmpClient, SnmpError};
use server::snmp::codec::{parse_oid, status, VarValue};
use server::snmp::mib;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct Agent {
    pub addr: SocketAddr,
    pub sim: SimulatedPdu,
    stop: CancellationToken,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn agent(faults: Faults) -> Agent {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let sim = SimulatedPdu::new(21, Duration::from_secs(2));
    sim.set_faults(faults);
    let stop = CancellationToken::new();
    let communities = Communities { read: "public".into(), write: "private".into() };
    tokio::spawn(agent::serve(socket, sim.clone(), communities, stop.clone()));
    Agent { addr, sim, stop }
}

fn client(agent: &Agent, read: &str, write: &str, max_varbinds: usize) -> SnmpClient {
    SnmpClient::new(agent.addr.to_string(), read, write, Duration::from_millis(300), 0, max_varbinds)
}

fn sim_outlet(agent: &Agent, n: u32) -> (OutletState, bool) {
    agent.sim.model().outlet_state(n, Instant::now()).unwrap()
}

#[tokio::test]
async fn the_client_reads_values_and_exceptions_from_the_agent() {
    let agent = agent(Faults::default()).await;
    let c = client(&agent, "public", "private", 10);
    let serial = agent.sim.model().identity().serial.unwrap();
    let missing_object = parse_oid("1.3.6.1.4.1.3808.1.1.3.99.1.0").unwrap();
    let missing_instance = mib::outlet_status(4, 11);
    let answers = c
        .get(&[mib::ident_serial(), mib::ident_num_outlets(), missing_object.clone(), missing_instance.clone()])
        .await
        .unwrap();
    assert_eq!(answers[&mib::ident_serial()], VarValue::OctetString(serial.into_bytes()));
    assert_eq!(answers[&mib::ident_num_outlets()], VarValue::Integer(10));
    assert_eq!(answers[&missing_object], VarValue::NoSuchObject);
    assert_eq!(answers[&missing_instance], VarValue::NoSuchInstance);

    let names = c.walk(&mib::oid(&mib::EPDU, &[3, 5, 1, 1, 2])).await.unwrap();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0].1, VarValue::OctetString(b"Router".to_vec()));
}

#[tokio::test]
async fn sets_need_the_write_community_and_valid_values() {
    let agent = agent(Faults::default()).await;
    let writer = client(&agent, "public", "private", 10);
    writer.set(&mib::outlet_control_command(3), VarValue::Integer(2)).await.unwrap();
    assert_eq!(sim_outlet(&agent, 3), (OutletState::Off, false));

    let refused = |status: u32| move |r: Result<(), SnmpError>| matches!(r, Err(SnmpError::Status { status: s, .. }) if s == status);
    let read_only = client(&agent, "public", "public", 10);
    assert!(refused(status::NO_ACCESS)(read_only.set(&mib::outlet_control_command(4), VarValue::Integer(2)).await));
    assert_eq!(sim_outlet(&agent, 4).0, OutletState::On, "a refused SET switches nothing");
    let out_of_range = writer.set(&mib::outlet_control_command(4), VarValue::Integer(9)).await;
    assert!(refused(status::WRONG_VALUE)(out_of_range));
    let wrong_type = writer.set(&mib::outlet_control_command(4), VarValue::OctetString(b"off".to_vec())).await;
    assert!(refused(status::WRONG_TYPE)(wrong_type));
    let read_only_object = writer.set(&mib::ident_serial(), VarValue::OctetString(b"X".to_vec())).await;
    assert!(refused(status::NOT_WRITABLE)(read_only_object));
    assert_eq!(sim_outlet(&agent, 4).0, OutletState::On);

    writer.set(&mib::outlet_config(2, 5), VarValue::OctetString(b"Backup".to_vec())).await.unwrap();
    assert_eq!(agent.sim.model().read(Instant::now()).outlets[4].name.as_deref(), Some("Backup"));
}

#[tokio::test]
async fn an_unknown_community_gets_no_answer() {
    let agent = agent(Faults::default()).await;
    let stranger = client(&agent, "guess", "guess", 10);
    assert_eq!(stranger.get(&[mib::sys_uptime()]).await, Err(SnmpError::Timeout(Duration::from_millis(300))));
}

pub async fn snmp_bridge(agent: &Agent, extra: &[(&str, &str)]) -> Started {
    let port = agent.addr.port().to_string();
    let mut pairs = vec![
        ("PDU_HOST", "127.0.0.1"),
        ("PDU_SNMP_PORT", port.as_str()),
        ("BRIDGE_POLL_INTERVAL", "0.2"),
        ("BRIDGE_SNMP_TIMEOUT", "0.3"),
        ("BRIDGE_SNMP_RETRIES", "0"),
    ];
    pairs.extend_from_slice(extra);
    Started::new(&pairs).await
}

#[tokio::test]
async fn the_bridge_polls_the_agent_like_hardware_and_switches_through_it() {
    let agent = agent(Faults::default()).await;
    let bridge = snmp_bridge(&agent, &[]).await;
    let router = bridge.router();
    let (code, s) = call(&router, "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["simulated"], false, "polled over SNMP, not in-process");
    let identity = agent.sim.model().identity();
    assert_eq!(s["identity"]["serial"].as_str(), identity.serial.as_deref());
    assert_eq!(s["identity"]["firmware"].as_str(), identity.firmware.as_deref());
    let raw = agent.sim.model().read(Instant::now());
    let outlets = s["outlets"].as_array().unwrap();
    assert_eq!(outlets.len(), raw.outlets.len());
    for (api, device) in outlets.iter().zip(&raw.outlets) {
        assert_eq!(api["name"].as_str(), device.name.as_deref());
        assert_eq!(api["state"], if device.state == Some(1) { "on" } else { "off" });
        assert_eq!(api["bank"].as_i64(), device.bank);
    }
    assert_eq!(s["banks"].as_array().unwrap().len(), 2);
    assert_eq!(s["banks"][0]["max_load_amps"], 12.0);
    assert_eq!(s["ats"]["selected"], "A");

    let (code, r) = call(&router, "POST", "/api/outlets/6/command", Some(r#"{"action":"off"}"#)).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "off");
    assert_eq!(sim_outlet(&agent, 6).0, OutletState::Off);

    agent.sim.model().set_source_failed(Source::A, true, Instant::now());
    bridge.wait_for(|b| b.snapshots()[0].ats.as_ref().and_then(|a| a.selected) == Some(Source::B)).await;
}

#[tokio::test]
async fn an_agent_that_times_out_above_n_varbinds_is_still_polled_completely() {
    for limit in [1usize, 3] {
        let agent = agent(Faults { max_varbinds: Some(limit), ..Faults::default() }).await;
        let bridge = snmp_bridge(&agent, &[("BRIDGE_SNMP_TIMEOUT", "0.1")]).await;
        let s = bridge.bridge.snapshots()[0].clone();
        assert_eq!(s.connection, Connection::Online);
        assert_eq!(s.outlets.len(), 10, "limit {limit}");
        assert!(s.outlets.iter().all(|o| o.power.is_some() && o.energy_kwh.is_some()), "limit {limit}");
        assert!(s.input.voltage.is_some() && s.ats.is_some(), "limit {limit}");
        match &bridge.bridge.devices()[0].source {
            server::device::PduSource::Snmp(snmp) => assert!(snmp.client().max_varbinds() <= limit, "limit {limit}"),
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn a_dead_agent_is_unreachable_within_three_polls_and_recovers_by_itself() {
    let agent = agent(Faults::default()).await;
    let bridge = snmp_bridge(&agent, &[]).await;
    let mut rx = bridge.bridge.bus().live();
    agent.sim.set_faults(Faults { drop_replies: true, ..Faults::default() });
    let mut misses = 0;
    loop {
        let s = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        if s.connection == Connection::Online {
            continue; // a poll that was already under way
        }
        misses += 1;
        if let Connection::Unreachable { .. } = s.connection {
            break;
        }
    }
    assert!(misses <= 3, "unreachable after {misses} missed polls");
    agent.sim.set_faults(Faults::default());
    bridge.wait_for(|b| b.snapshots()[0].connection.is_online()).await;
}

/// Run a net-snmp command against the agent: (success, stdout + stderr).
fn net_snmp(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .env("MIBS", "")
        .env("SNMP_PERSISTENT_DIR", std::env::temp_dir().join("pdu-bridge-netsnmp"))
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed (apt-get install snmp): {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_net_snmp_tools_work_against_the_agent() {
    let agent = agent(Faults::default()).await;
    let target = agent.addr.to_string();
    let common = |community: &'static str| vec!["-v2c", "-c", community, "-On", "-t", "2", "-r", "1"];
    let e = "1.3.6.1.4.1.3808.1.1.3";

    let mut args = common("public");
    let serial = format!("{e}.1.6.0");
    let missing = format!("{e}.99.0");
    args.extend([target.as_str(), "1.3.6.1.2.1.1.3.0", serial.as_str(), missing.as_str()]);
    let (ok, text) = net_snmp("snmpget", &args);
    assert!(ok, "{text}");
    assert!(text.contains("Timeticks:"), "{text}");
    assert!(text.contains("STRING: \"SIM000000021\""), "{text}");
    assert!(text.contains("No Such Object"), "{text}");

    let mut args = common("public");
    let names = format!("{e}.3.5.1.1.2");
    args.extend([target.as_str(), names.as_str()]);
    let (ok, text) = net_snmp("snmpwalk", &args);
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), 10, "{text}");
    assert!(text.contains("STRING: \"Router\"") && text.contains("STRING: \"Spare\""), "{text}");

    let mut args = common("public");
    let table = format!("{e}.3.5.1.1");
    args.extend([target.as_str(), table.as_str()]);
    let (ok, text) = net_snmp("snmpbulkwalk", &args);
    assert!(ok, "{text}");
    assert!(text.lines().count() >= 10 * 8, "{text}");
    assert!(text.contains(&format!(".{e}.3.5.1.1.8.4 = Gauge32:")), "{text}");

    let command = format!("{e}.3.3.1.1.4.2");
    let mut args = common("private");
    args.extend([target.as_str(), command.as_str(), "i", "2"]);
    let (ok, text) = net_snmp("snmpset", &args);
    assert!(ok, "{text}");
    assert_eq!(sim_outlet(&agent, 2).0, OutletState::Off);

    let mut args = common("public");
    args.extend([target.as_str(), command.as_str(), "i", "1"]);
    let (ok, text) = net_snmp("snmpset", &args);
    assert!(!ok && text.contains("noAccess"), "{text}");
    let mut args = common("private");
    args.extend([target.as_str(), command.as_str(), "i", "42"]);
    let (ok, text) = net_snmp("snmpset", &args);
    assert!(!ok && text.contains("wrongValue"), "{text}");
    assert_eq!(sim_outlet(&agent, 2).0, OutletState::Off, "refused SETs switch nothing");
}

#[tokio::test]
async fn a_pdu_whose_uptime_goes_backwards_is_seen_to_reboot_and_rediscovered() {
    let agent = agent(Faults::default()).await;
    let bridge = snmp_bridge(&agent, &[]).await;
    let snmp = match &bridge.bridge.devices()[0].source {
        server::device::PduSource::Snmp(snmp) => snmp.clone(),
        _ => unreachable!(),
    };
    assert_eq!(snmp.reboots(), 0);
    agent.sim.model().restart(Instant::now());
    bridge.wait_for(|_| snmp.reboots() == 1).await;
    // Still polled completely afterwards.
    bridge.wait_for(|b| b.snapshots()[0].uptime_s.is_some_and(|u| u < 60)).await;
    assert_eq!(bridge.bridge.snapshots()[0].outlets.len(), 10);
}

#[tokio::test]
async fn the_status_carries_each_outlets_delays_as_read_from_the_pdu() {
    let agent = agent(Faults::default()).await;
    // Set on the PDU before the bridge first reads its identity.
    let modem = server::pdu::OutletConfig { on_delay: 20, off_delay: 15, reboot_duration: 10 };
    agent.sim.model().set_outlet_timings(7, &modem).unwrap();
    let bridge = snmp_bridge(&agent, &[]).await;
    let (code, s) = call(&bridge.router(), "GET", "/api/status", None).await;
    assert_eq!(code, StatusCode::OK, "{s}");
    let configs = agent.sim.model().outlet_configs();
    let outlets = s["outlets"].as_array().unwrap();
    assert_eq!(outlets.len(), configs.len());
    for (api, device) in outlets.iter().zip(&configs) {
        let delays = (api["on_delay_s"].as_i64(), api["off_delay_s"].as_i64(), api["reboot_s"].as_i64());
        assert_eq!(delays, (Some(device.on_delay), Some(device.off_delay), Some(device.reboot_duration)), "{api}");
    }
    assert_eq!((outlets[6]["off_delay_s"].as_i64(), outlets[6]["reboot_s"].as_i64()), (Some(15), Some(10)));
    assert_eq!(outlets[0]["reboot_s"].as_i64(), Some(5), "the simulated PDU44001's default");
}
