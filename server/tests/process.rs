//! The `pdu-bridge` binary as a user runs it: start-up errors and signals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pdu-bridge"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let out = bridge().env("BRIDGE_POLL_INTERVAL", "0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BRIDGE_POLL_INTERVAL") && err.contains("0.1 to 300"), "{err}");

    let out = bridge().args(["--set", "PDU_DEVICE_ID=Rack 1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PDU_DEVICE_ID"));
}

/// Regression: the handler was registered after the bridge announced its
/// address, so a SIGTERM right after start-up killed it without a clean stop.
#[test]
fn sigterm_right_after_start_up_still_shuts_down_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut child = bridge()
        .env("BRIDGE_WEB_PORT", "0")
        .env("BRIDGE_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("dashboard on http://127.0.0.1:"));
    assert!(started, "the bridge did not report its address");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn the_simulate_subcommand_serves_several_pdus_over_snmp() {
    let port = {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut child = bridge()
        .args(["simulate", "--port", &port.to_string(), "--count", "2", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.by_ref().map_while(Result::ok).filter(|l| l.contains("simulated PDU44001 #")).take(2).count();
    assert_eq!(started, 2);
    for (i, serial) in [(0, "SIM000000007"), (1, "SIM000000008")] {
        let target = format!("127.0.0.1:{}", port + i);
        let out = Command::new("snmpget")
            .args(["-v2c", "-c", "public", "-On", "-t", "2", "-r", "1", &target, "1.3.6.1.4.1.3808.1.1.3.1.6.0"])
            .env("MIBS", "")
            .output()
            .expect("snmpget (apt-get install snmp)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("STRING: \"{serial}\"")), "{target}: {text}");
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    let out = bridge().args(["simulate", "--count", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));

    // Its own help, not the bridge's.
    let help = bridge().args(["simulate", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success() && text.contains("--read-community") && !text.contains("--env-file"), "{text}");
}
