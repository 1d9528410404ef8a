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

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `pdu-bridge check` against a good setup (the simulator agent over real
/// SNMP), a dead PDU, a dead broker and bad settings.
#[test]
fn check_says_what_is_wrong_with_a_dead_pdu_or_broker_and_passes_a_good_setup() {
    let data = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut agent = bridge()
        .args(["simulate", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let check = |pdu_port: u16, mqtt: &[(&str, String)]| {
        let mut cmd = bridge();
        cmd.arg("check")
            .env("BRIDGE_DATA_DIR", data.path())
            .env("PDU_HOST", "127.0.0.1")
            .env("PDU_SNMP_PORT", pdu_port.to_string())
            .env("BRIDGE_SNMP_TIMEOUT", "0.5")
            .env("BRIDGE_WEB_PORT", free_tcp_port().to_string());
        for (k, v) in mqtt {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let off = [("MQTT_BROKER", "none".to_owned())];
    let (code, text) = check(port, &off);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ok    PDU pdu44001 at 127.0.0.1:") && text.contains("PDU44001"), "{text}");
    assert!(text.contains("ok    access store") && text.contains("none yet"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("check: ") && text.contains(", 0 failed"), "{text}");

    let (code, text) = check(free_udp_port(), &off);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  PDU pdu44001") && text.contains("PDU_HOST"), "{text}");

    let dead = [("MQTT_BROKER", "127.0.0.1".to_owned()), ("MQTT_PORT", free_tcp_port().to_string())];
    let (code, text) = check(port, &dead);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  the MQTT broker 127.0.0.1:") && text.contains("MQTT_PORT"), "{text}");
    assert!(text.contains("ok    PDU pdu44001"), "the PDU is still fine: {text}");

    let out = bridge().args(["check", "--set", "BRIDGE_POLL_INTERVAL=fast"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BRIDGE_POLL_INTERVAL"));
    let _ = agent.kill();
    let _ = agent.wait();
}

/// Readiness, the watchdog and the stop, as systemd's Type=notify sees them.
#[cfg(unix)]
#[test]
fn systemd_hears_ready_watchdog_pings_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut child = bridge()
        .env("BRIDGE_WEB_PORT", "0")
        .env("MQTT_BROKER", "none")
        .env("BRIDGE_DATA_DIR", dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    while heard.iter().filter(|m: &&String| m.as_str() == "WATCHDOG=1").count() < 3 {
        let n = socket.recv(&mut buf).expect("a message from the bridge");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(heard.iter().position(|m| m == "READY=1"), Some(0), "ready first: {heard:?}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    loop {
        let n = socket.recv(&mut buf).expect("STOPPING=1 before the exit");
        if &buf[..n] == b"STOPPING=1" {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
}

/// A backup taken while the bridge writes is a sound store holding the same
/// samples the live store had, and a bridge started on it serves them.
#[test]
fn a_backup_of_a_running_bridge_restores_to_an_identical_store() {
    let live = tempfile::tempdir().unwrap();
    let web = free_tcp_port();
    let mut child = bridge()
        .env("BRIDGE_WEB_PORT", web.to_string())
        .env("MQTT_BROKER", "none")
        .env("BRIDGE_POLL_INTERVAL", "0.2")
        .env("BRIDGE_DATA_DIR", live.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it write a few batches (10 samples each), then back up while it runs.
    std::thread::sleep(Duration::from_secs(6));
    let file = live.path().join("backup.db");
    let out = bridge().args(["backup", file.to_str().unwrap()]).env("BRIDGE_DATA_DIR", live.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("written to"));
    let again = bridge().args(["backup", file.to_str().unwrap()]).env("BRIDGE_DATA_DIR", live.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "never over an existing file");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use server::history::store::Store;
        let samples = |store: &Store| {
            let pool = store.pool().clone();
            async move {
                sqlx::query_as::<_, (i64, i64, Vec<u8>)>("SELECT device, ts, data FROM samples ORDER BY device, ts")
                    .fetch_all(&pool)
                    .await
                    .unwrap()
            }
        };
        let backup = Store::open(&file).await.unwrap();
        assert_eq!(backup.quick_check().await, Ok(()));
        let copied = samples(&backup).await;
        assert!(copied.len() >= 5, "{} samples", copied.len());
        let source = Store::open(&live.path().join("history.db")).await.unwrap();
        let all = samples(&source).await;
        // Every sample of the backup is in the live store, byte for byte, and
        // the live store has nothing older that the backup lacks. (The newest
        // second may still have been rewritten after the backup.)
        let last = copied.last().unwrap().1;
        let before = |rows: &[(i64, i64, Vec<u8>)]| rows.iter().filter(|r| r.1 < last).cloned().collect::<Vec<_>>();
        assert_eq!(before(&all), before(&copied));
        assert!(before(&copied).len() >= 4);
    });

    // Restore: the backup as the store of a new data folder.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&file, restored.path().join("history.db")).unwrap();
    let web = free_tcp_port();
    let mut child = bridge()
        .env("BRIDGE_WEB_PORT", web.to_string())
        .env("MQTT_BROKER", "none")
        .env("BRIDGE_DATA_DIR", restored.path())
        // Reading is all this needs: no account.
        .env("BRIDGE_ANONYMOUS_READ", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{web}/api/history/banks?range=1h");
    let mut points = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        let out = Command::new("curl").args(["-s", &url]).output().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        points = body["series"][0]["points"].as_array().map(Vec::len).unwrap_or(0);
        if points >= 5 {
            break;
        }
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let _ = child.wait();
    assert!(points >= 5, "the restored history is served: {points} points");
}
