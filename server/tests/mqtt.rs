//! MQTT against the embedded broker and against Mosquitto (our own, started by
//! `scripts/test.sh` from `scripts/mosquitto/test-brokers.conf`: anonymous on
//! 12883, password on 12884, or the ports in `PDU_BRIDGE_TEST_MQTT_PORT` /
//! `PDU_BRIDGE_TEST_MQTT_AUTH_PORT`), with a real MQTT client. Each test uses
//! its own topic base so bridges running in parallel never meet.

use crate::util::{http, serve, Served};
use app::model::OutletState;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The test Mosquitto's anonymous listener.
pub fn mosquitto_port() -> u16 {
    env_port("PDU_BRIDGE_TEST_MQTT_PORT", 12883)
}

/// The test Mosquitto's password listener (user `pdu-bridge`, password `peer-secret`).
fn mosquitto_auth_port() -> u16 {
    env_port("PDU_BRIDGE_TEST_MQTT_AUTH_PORT", 12884)
}

fn env_port(name: &str, default: u16) -> u16 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a port")),
        Err(_) => default,
    }
}

/// A test subscriber: every message as (topic, payload, retain flag), kept.
pub struct Sub {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<(String, String, bool)>,
    seen: Vec<(String, String, bool)>,
}

impl Sub {
    pub async fn connect(port: u16, id: &str, filters: &[&str]) -> Sub {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 256);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        if tx.send((p.topic.clone(), payload, p.retain)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Sub { client, rx, seen: Vec::new() }
    }

    /// Where the history ends now: `wait_after` looks only past it.
    pub fn mark(&self) -> usize {
        self.seen.len()
    }

    /// The first message on `topic` whose payload satisfies `ok`.
    pub async fn wait(&mut self, topic: &str, ok: impl Fn(&str, bool) -> bool, secs: u64) -> String {
        self.wait_after(0, topic, ok, secs).await
    }

    pub async fn wait_after(&mut self, mark: usize, topic: &str, ok: impl Fn(&str, bool) -> bool, secs: u64) -> String {
        let found = |seen: &[(String, String, bool)]| {
            seen.iter().skip(mark).find(|(t, p, r)| t == topic && ok(p, *r)).map(|(_, p, _)| p.clone())
        };
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(payload) = found(&self.seen) {
                return payload;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(message)) => self.seen.push(message),
                _ => panic!("nothing acceptable on {topic} within {secs} s"),
            }
        }
    }

    /// The topic of the first message satisfying `ok(topic, payload)`.
    pub async fn wait_topic(&mut self, ok: impl Fn(&str, &str) -> bool, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((t, _, _)) = self.seen.iter().find(|(t, p, _)| ok(t, p)) {
                return t.clone();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(message)) => self.seen.push(message),
                _ => panic!("no acceptable message within {secs} s"),
            }
        }
    }

    /// The first message (topic, payload) that arrives within `wait`, if any.
    pub async fn any_within(&mut self, wait: Duration) -> Option<(String, String)> {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some((t, p, r))) => {
                self.seen.push((t.clone(), p.clone(), r));
                Some((t, p))
            }
            _ => None,
        }
    }

    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client.publish(topic, QoS::AtLeastOnce, retain, payload).await.unwrap();
    }
}

fn any(_: &str, _: bool) -> bool {
    true
}

pub async fn wait_healthy(served: &Served) {
    // The PDU's readings flow: MQTT itself may be down on purpose here, and
    // then `/api/health` as a whole is rightly not ok.
    for _ in 0..100 {
        let (_, body) = http(served.addr, "GET", "/api/health", None).await;
        let health: Value = serde_json::from_str(&body).unwrap_or_default();
        if health["devices"][0]["state"] == "online" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bridge never polled its PDU");
}

fn sim_state(served: &Served, n: u32) -> OutletState {
    served.bridge.devices()[0].simulator().unwrap().model().outlet_state(n, Instant::now()).unwrap().0
}

async fn retained_state_arrives(port: u16, base: &str, served: &Served) {
    wait_healthy(served).await;
    let mut sub = Sub::connect(port, &format!("test-{base}"), &[&format!("{base}/#")]).await;
    let t = |rest: &str| format!("{base}/pdu44001/{rest}");
    assert_eq!(sub.wait(&t("bridge/status"), |p, _| p == "online", 10).await, "online");
    assert_eq!(sub.wait(&t("availability"), any, 10).await, "online");
    assert_eq!(sub.wait(&t("outlet/4/name"), any, 10).await, "Server-1");
    assert_eq!(sub.wait(&t("outlet/10/state"), any, 10).await, "off");
    assert_eq!(sub.wait(&t("automation/status"), any, 10).await, "[]", "ready for the rules engine");
    let volts: f64 = sub.wait(&t("source/a/voltage"), any, 10).await.parse().unwrap();
    assert!((100.0..140.0).contains(&volts), "{volts}");
    let device: Value = serde_json::from_str(&sub.wait(&t("device"), any, 10).await).unwrap();
    assert_eq!((device["model"].as_str(), device["outlet_count"].as_u64()), (Some("PDU44001"), Some(10)));
    let status: Value = serde_json::from_str(&sub.wait(&t("status"), any, 10).await).unwrap();
    assert_eq!(status["device_id"], "pdu44001");
    assert!(status["ts"].as_f64().unwrap() > 1.7e9);
}

#[tokio::test]
async fn retained_state_arrives_from_the_embedded_broker() {
    let port = free_port();
    let served = serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-embedded")]).await;
    retained_state_arrives(port, "t-embedded", &served).await;
}

#[tokio::test]
async fn retained_state_arrives_through_mosquitto() {
    let port = mosquitto_port();
    let served =
        serve(&[("MQTT_BROKER", "127.0.0.1"), ("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-mosquitto")])
            .await;
    retained_state_arrives(port, "t-mosquitto", &served).await;
}

#[tokio::test]
async fn commands_switch_outlets_answer_and_bad_ones_switch_nothing() {
    let port = mosquitto_port();
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port.to_string()),
        ("BRIDGE_MQTT_BASE", "t-command"),
        ("BRIDGE_HA_DISCOVERY", "false"),
    ])
    .await;
    wait_healthy(&served).await;
    let mut sub =
        Sub::connect(port, "test-t-command", &["t-command/+/bridge/status", "t-command/+/outlet/+/command/response"])
            .await;
    sub.wait("t-command/pdu44001/bridge/status", |p, _| p == "online", 10).await;

    sub.publish("t-command/pdu44001/outlet/3/command", " Off\n", false).await;
    let r: Value =
        serde_json::from_str(&sub.wait("t-command/pdu44001/outlet/3/command/response", any, 10).await).unwrap();
    assert_eq!(
        (r["success"].as_bool(), r["command"].as_str(), r["outlet"].as_u64()),
        (Some(true), Some("off"), Some(3)),
        "{r}"
    );
    assert_eq!((r["state"].as_str(), r["error"].is_null()), (Some("off"), true), "{r}");
    assert!(r["ts"].as_f64().unwrap() > 1.7e9);
    assert_eq!(sim_state(&served, 3), OutletState::Off);

    // A device id this bridge does not own is another bridge's to answer
    // (`fleet::two_bridges_on_one_broker_answer_only_for_their_own_pdus`).
    for (topic, words) in [
        ("t-command/pdu44001/outlet/99/command", "no outlet 99"),
        ("t-command/pdu44001/outlet/x/command", "unknown outlet"),
        ("t-command/pdu44001/outlet/2/command", "unknown action"),
    ] {
        let payload = if words == "unknown action" { "explode" } else { "off" };
        sub.publish(topic, payload, false).await;
        let r: Value = serde_json::from_str(&sub.wait(&format!("{topic}/response"), any, 10).await).unwrap();
        assert_eq!(r["success"], false, "{topic}: {r}");
        assert!(r["error"].as_str().unwrap().contains(words), "{topic}: {r}");
        assert!(r["state"].is_null());
    }
    assert_eq!(sim_state(&served, 2), OutletState::On, "nothing else switched");
}

#[tokio::test]
async fn a_retained_off_on_a_command_topic_switches_nothing_at_start_up() {
    let port = mosquitto_port();
    let sub = Sub::connect(port, "test-t-retained", &[]).await;
    sub.publish("t-retained/pdu44001/outlet/2/command", "off", true).await;
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port.to_string()),
        ("BRIDGE_MQTT_BASE", "t-retained"),
        ("BRIDGE_HA_DISCOVERY", "false"),
    ])
    .await;
    wait_healthy(&served).await;
    let mut watch = Sub::connect(port, "test-t-retained-watch", &["t-retained/pdu44001/bridge/status"]).await;
    watch.wait("t-retained/pdu44001/bridge/status", |p, _| p == "online", 10).await;
    // The retained command was delivered on subscribe; give it time to (not) act.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim_state(&served, 2), OutletState::On);
    sub.publish("t-retained/pdu44001/outlet/2/command", "", true).await;
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_and_the_bridge_keeps_running() {
    let port = mosquitto_auth_port();
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port.to_string()),
        ("MQTT_USERNAME", "pdu-bridge"),
        ("MQTT_PASSWORD", "not-the-password"),
        ("BRIDGE_MQTT_BASE", "t-password"),
    ])
    .await;
    wait_healthy(&served).await;
    let mut page = String::new();
    for _ in 0..100 {
        page = http(served.addr, "GET", "/", None).await.1;
        if page.contains("refused the connection") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        page.contains("MQTT disconnected") && page.contains("check MQTT_USERNAME and MQTT_PASSWORD"),
        "the dashboard says why"
    );
    assert!(!page.contains("not-the-password"), "secrets never reach the page");
    let (code, _) = http(served.addr, "GET", "/api/status", None).await;
    assert_eq!(code, 200, "polling carries on");

    // And the right password connects.
    let ok = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port.to_string()),
        ("MQTT_USERNAME", "pdu-bridge"),
        ("MQTT_PASSWORD", "peer-secret"),
        ("BRIDGE_MQTT_BASE", "t-password-ok"),
        ("PDU_DEVICE_ID", "pw-ok"),
    ])
    .await;
    wait_healthy(&ok).await;
    let mut options = MqttOptions::new("test-t-password", "127.0.0.1", port);
    options.set_credentials("pdu-bridge", "peer-secret");
    let (client, mut events) = AsyncClient::new(options, 16);
    client.subscribe("t-password-ok/pw-ok/bridge/status", QoS::AtLeastOnce).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await.expect("online within 10 s") {
            Ok(Event::Incoming(Packet::Publish(p))) if p.payload.as_ref() == b"online" => break,
            _ => {}
        }
    }
}

#[tokio::test]
async fn discovery_is_published_and_republished_when_home_assistant_comes_online() {
    let port = free_port();
    let served = serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-ha")]).await;
    wait_healthy(&served).await;
    let mut sub = Sub::connect(port, "test-t-ha", &["homeassistant/#"]).await;
    let node = "pdu_sim000000001";
    let switch: Value =
        serde_json::from_str(&sub.wait(&format!("homeassistant/switch/{node}/outlet_3/config"), any, 10).await)
            .unwrap();
    assert_eq!(switch["command_topic"], "t-ha/pdu44001/outlet/3/command");
    assert_eq!(switch["availability_mode"], "all");
    let energy: Value =
        serde_json::from_str(&sub.wait(&format!("homeassistant/sensor/{node}/outlet_4_energy/config"), any, 10).await)
            .unwrap();
    assert_eq!(energy["state_class"], "total_increasing");

    // Home Assistant's birth message: everything again, live (not from the
    // broker's retained store).
    let mark = sub.mark();
    sub.publish("homeassistant/status", "online", false).await;
    sub.wait_after(mark, &format!("homeassistant/switch/{node}/outlet_1/config"), |_, retained| !retained, 10).await;

    // A stale config topic for this PDU (an outlet it no longer has) is cleared.
    let stale = format!("homeassistant/switch/{node}/outlet_42/config");
    let mark = sub.mark();
    sub.publish(&stale, "{\"name\":\"old\"}", true).await;
    sub.wait_after(mark, &stale, |p, _| p.is_empty(), 10).await;
}

/// Our own Mosquitto on a free loopback port, for stopping and restarting.
pub struct OwnBroker {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl OwnBroker {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { port: free_port(), child: None, dir }
    }

    pub fn start(&mut self) {
        self.start_with("")
    }

    /// Start with extra configuration lines (TLS).
    fn start_with(&mut self, extra: &str) {
        let conf = self.dir.path().join("mosquitto.conf");
        // `user root`: stay root so the test's private files stay readable.
        let text =
            format!("listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n{extra}", self.port);
        std::fs::write(&conf, text).unwrap();
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto installed");
        let child = Command::new(bin).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn state_appears_when_the_broker_comes_up_late_and_again_after_it_restarts() {
    let mut broker = OwnBroker::new();
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &broker.port.to_string()),
        ("BRIDGE_HA_DISCOVERY", "false"),
    ])
    .await;
    wait_healthy(&served).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.start();
    let mut sub = Sub::connect(broker.port, "test-late", &["pdu/pdu44001/outlet/4/name"]).await;
    assert_eq!(sub.wait("pdu/pdu44001/outlet/4/name", any, 20).await, "Server-1");

    // A restarted broker without persistence knows nothing: what arrives was republished.
    broker.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.start();
    let mut again =
        Sub::connect(broker.port, "test-late-2", &["pdu/pdu44001/outlet/4/name", "pdu/pdu44001/bridge/status"]).await;
    assert_eq!(again.wait("pdu/pdu44001/bridge/status", |p, _| p == "online", 20).await, "online");
    assert_eq!(again.wait("pdu/pdu44001/outlet/4/name", any, 20).await, "Server-1");
}

/// A child process that is killed when dropped; if the test failed, its
/// log (written to `log`) is printed, so a failure in CI says why.
struct KilledOnDrop(Child, std::path::PathBuf);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            eprintln!("---- the bridge's log ({}) ----\n{log}", self.1.display());
        }
    }
}

#[tokio::test]
async fn a_killed_bridge_goes_offline_by_its_last_will_and_a_stopped_one_says_so() {
    let port = mosquitto_port();
    for signal in ["-KILL", "-TERM"] {
        let (base, id) = if signal == "-KILL" { ("t-lwt-kill", "lwt-kill") } else { ("t-lwt-term", "lwt-term") };
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join("bridge.log");
        // Killed however the test ends: a bridge left behind on the shared
        // broker would take over the next run's connections.
        let mut child = KilledOnDrop(
            Command::new(env!("CARGO_BIN_EXE_pdu-bridge"))
                .env_clear()
                .env("BRIDGE_WEB_PORT", "0")
                .env("BRIDGE_DATA_DIR", data.path())
                .env("MQTT_BROKER", "127.0.0.1")
                .env("MQTT_PORT", port.to_string())
                .env("BRIDGE_MQTT_BASE", base)
                .env("BRIDGE_ID", id)
                .env("BRIDGE_HA_DISCOVERY", "false")
                .env("BRIDGE_LOG_LEVEL", "debug")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
            log,
        );
        // The connection's last will is the bridge's own topic; the PDU's
        // `bridge/status` says `offline` too when the bridge stops cleanly.
        let will = format!("{base}/bridge/{id}/status");
        let topic = format!("{base}/pdu44001/bridge/status");
        let mut sub = Sub::connect(port, &format!("test-{base}"), &[&topic, &will]).await;
        // Generous waits: on a busy CI machine a bridge's start and stop
        // share two cores with the rest of the suite.
        sub.wait(&topic, |p, _| p == "online", 30).await;
        sub.wait(&will, |p, _| p == "online", 30).await;
        let status = Command::new("kill").args([signal, &child.0.id().to_string()]).status().unwrap();
        assert!(status.success());
        sub.wait(&will, |p, _| p == "offline", 30).await;
        if signal == "-TERM" {
            sub.wait(&topic, |p, _| p == "offline", 30).await;
        }
        let _ = child.0.wait();
    }
}

/// Regression: the first PDU's connection once held two overlapping command
/// filters, so the broker delivered every command twice and it was carried
/// out twice (a reboot, twice).
#[tokio::test]
async fn a_command_is_carried_out_once() {
    let port = free_port();
    let served =
        serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-once"), ("BRIDGE_HA_DISCOVERY", "false")])
            .await;
    wait_healthy(&served).await;
    let mut sub = Sub::connect(
        port,
        "test-t-once",
        &["t-once/pdu44001/bridge/status", "t-once/pdu44001/outlet/5/command/response"],
    )
    .await;
    sub.wait("t-once/pdu44001/bridge/status", |p, _| p == "online", 10).await;
    let mark = sub.mark();
    sub.publish("t-once/pdu44001/outlet/5/command", "reboot", false).await;
    sub.wait_after(mark, "t-once/pdu44001/outlet/5/command/response", any, 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(message) = sub.rx.try_recv() {
        sub.seen.push(message);
    }
    let responses = sub.seen[mark..].iter().filter(|(t, _, _)| t.ends_with("/command/response")).count();
    assert_eq!(responses, 1);
}

/// A throwaway CA with a server certificate for 127.0.0.1 and a client
/// certificate, made with openssl.
fn certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl installed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=pdu-bridge test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    for (name, usage, san) in [("server", "serverAuth", "subjectAltName=IP:127.0.0.1\n"), ("client", "clientAuth", "")]
    {
        let ext = format!(
            "{san}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, crt, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
        run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={name}"), "-keyout", &key, "-out", &csr]);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &ext,
        ]);
    }
}

#[tokio::test]
async fn tls_with_a_client_certificate_connects_and_without_one_is_refused_clearly() {
    let mut broker = OwnBroker::new();
    let dir = broker.dir.path().to_owned();
    certificates(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    broker.start_with(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        file("ca.crt"),
        file("server.crt"),
        file("server.key")
    ));
    let port = broker.port.to_string();
    let (ca, cert, key) = (file("ca.crt"), file("client.crt"), file("client.key"));
    let served = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &port),
        ("BRIDGE_MQTT_TLS_CA_FILE", &ca),
        ("BRIDGE_MQTT_TLS_CERT_FILE", &cert),
        ("BRIDGE_MQTT_TLS_KEY_FILE", &key),
        ("BRIDGE_HA_DISCOVERY", "false"),
    ])
    .await;
    wait_healthy(&served).await;
    let sub = tokio::task::spawn_blocking(move || {
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port, "--cafile", &ca, "--cert", &cert, "--key", &key])
            .args(["-t", "pdu/pdu44001/outlet/4/name", "-C", "1", "-W", "15"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&sub.stdout).trim(), "Server-1", "{}", String::from_utf8_lossy(&sub.stderr));

    let no_cert = serve(&[
        ("MQTT_BROKER", "127.0.0.1"),
        ("MQTT_PORT", &broker.port.to_string()),
        ("BRIDGE_MQTT_TLS_CA_FILE", &file("ca.crt")),
        ("PDU_DEVICE_ID", "no-cert"),
    ])
    .await;
    wait_healthy(&no_cert).await;
    let mut page = String::new();
    for _ in 0..100 {
        page = http(no_cert.addr, "GET", "/", None).await.1;
        if page.contains("MQTT disconnected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("MQTT disconnected") && page.contains("(TLS)"), "the dashboard says so");
}

#[tokio::test]
async fn rule_events_and_status_go_out_on_the_automation_topics() {
    let port = free_port();
    let served =
        serve(&[("MQTT_PORT", &port.to_string()), ("BRIDGE_MQTT_BASE", "t-auto"), ("BRIDGE_HA_DISCOVERY", "false")])
            .await;
    wait_healthy(&served).await;
    let mut sub = Sub::connect(port, "test-t-auto", &["t-auto/pdu44001/automation/#"]).await;
    sub.wait("t-auto/pdu44001/automation/status", |p, _| p == "[]", 10).await;
    let rule = r#"{"name":"night","condition":"time_between","threshold":"22:00-06:00","outlet":[7],"action":"off"}"#;
    let (code, body) = http(served.addr, "POST", "/api/rules", Some(rule)).await;
    assert_eq!(code, 201, "{body}");
    let event: Value = serde_json::from_str(&sub.wait("t-auto/pdu44001/automation/event", any, 10).await).unwrap();
    assert_eq!((event["rule"].as_str(), event["type"].as_str()), (Some("night"), Some("created")), "{event}");
    assert!(event["ts"].as_f64().unwrap() > 1.7e9);
    let status = sub.wait("t-auto/pdu44001/automation/status", |p, _| p.contains("night"), 10).await;
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status[0]["name"], "night");
    assert!(status[0]["state"].is_string());
}
