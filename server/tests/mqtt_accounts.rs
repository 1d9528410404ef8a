//! The embedded broker's accounts and TLS, with real rumqttc clients on
//! 127.0.0.1. Tests may not listen beyond loopback, so they make accounts
//! required there with `BRIDGE_MQTT_REQUIRE_ACCOUNTS` — the same switch a
//! bind beyond loopback turns on.

use crate::mqtt::free_port;
use crate::util::config;
use app::access::{AuditEntry, AuditQuery};
use app::model::{MqttState, OutletState};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use server::auth::Auth;
use server::bridge::Bridge;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const VIEWER_PASSWORD: &str = "look-only-s3cret";
const OPERATOR_PASSWORD: &str = "switch-it-s3cret";

/// A bridge on the simulated PDU with the embedded broker on `port`,
/// accounts required, and the audit log to read.
struct Broker {
    bridge: Arc<Bridge>,
    running: server::Running,
    audit: Auth,
    port: u16,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Broker {
    async fn start(base: &str, extra: &[(&str, &str)]) -> Broker {
        let port = free_port();
        let port_text = port.to_string();
        let mut pairs = vec![
            ("MQTT_PORT", port_text.as_str()),
            ("BRIDGE_MQTT_BASE", base),
            ("BRIDGE_HA_DISCOVERY", "false"),
            ("BRIDGE_MQTT_REQUIRE_ACCOUNTS", "true"),
            ("BRIDGE_MQTT_VIEWER_PASSWORD", VIEWER_PASSWORD),
            ("BRIDGE_MQTT_OPERATOR_PASSWORD", OPERATOR_PASSWORD),
        ];
        pairs.extend_from_slice(extra);
        let (config, dir) = config(&pairs);
        let bridge = Arc::new(Bridge::new(&config));
        let shutdown = CancellationToken::new();
        let running = server::start(&config, bridge.clone(), &shutdown).await.expect("the bridge starts");
        let audit = Auth::open(&config.auth, &config.data_dir).await.expect("the access store opens");
        let broker = Broker { bridge, running, audit, port, shutdown, _dir: dir };
        for _ in 0..200 {
            if !broker.bridge.snapshots().is_empty() && broker.mqtt_state() == MqttState::Connected {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the bridge never polled its PDU or never reached its own broker");
    }

    fn mqtt_state(&self) -> MqttState {
        self.running.services.mqtt.borrow().state
    }

    fn outlet(&self, n: u32) -> OutletState {
        self.bridge.devices()[0].simulator().unwrap().model().outlet_state(n, Instant::now()).unwrap().0
    }

    async fn entries(&self, action: &str) -> Vec<AuditEntry> {
        let query = AuditQuery { action: Some(action.to_owned()), ..Default::default() };
        self.audit.audit(&query).await.unwrap().entries
    }

    /// The first audit line of `action` that satisfies `ok`, waiting up to 10 s.
    async fn audited(&self, action: &str, ok: impl Fn(&AuditEntry) -> bool) -> AuditEntry {
        for _ in 0..200 {
            if let Some(e) = self.entries(action).await.into_iter().find(&ok) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no matching {action} line in the audit log: {:#?}", self.entries(action).await);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A signed-in client: what it receives, and whether the broker let it go.
struct Client {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<(String, String)>,
    /// Every message received so far: retained messages arrive in no
    /// particular order, so a wait must not throw away what it skips.
    seen: Vec<(String, String)>,
    /// One `()` per SUBACK.
    subscribed: mpsc::UnboundedReceiver<()>,
    closed: mpsc::UnboundedReceiver<String>,
}

/// Connect as `login` (over TLS trusting `ca` if given) and wait for the
/// broker's answer: a client, or the error that ended the attempt.
async fn connect(
    port: u16,
    id: &str,
    login: Option<(&str, &str)>,
    ca: Option<&[u8]>,
) -> Result<Client, ConnectionError> {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    if let Some((name, password)) = login {
        options.set_credentials(name, password);
    }
    if let Some(ca) = ca {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: ca.to_vec(),
            alpn: None,
            client_auth: None,
        }));
    }
    connect_with(options).await
}

async fn connect_with(mut options: MqttOptions) -> Result<Client, ConnectionError> {
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 64);
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("the broker answers within 10 s");
    answer?;
    let (messages_tx, messages) = mpsc::unbounded_channel();
    let (closed_tx, closed) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = messages_tx.send((p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned()));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = subscribed_tx.send(());
                }
                Ok(_) => {}
                Err(e) => {
                    // Report the end once, and stop: no reconnecting.
                    let _ = closed_tx.send(e.to_string());
                    return;
                }
            }
        }
    });
    Ok(Client { client, messages, seen: Vec::new(), subscribed, closed })
}

impl Client {
    /// Subscribe and wait for the broker to confirm: what is published
    /// after this returns arrives.
    async fn subscribe(&mut self, filter: &str) {
        self.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let confirmed = tokio::time::timeout(Duration::from_secs(10), self.subscribed.recv()).await;
        assert!(matches!(confirmed, Ok(Some(()))), "no SUBACK for {filter} within 10 s");
    }

    /// The first message on `topic` whose payload satisfies `ok`, within 10 s.
    async fn wait(&mut self, topic: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some((_, payload)) = self.seen.iter().find(|(t, p)| t == topic && ok(p)) {
                return payload.clone();
            }
            match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(Some(message)) => self.seen.push(message),
                _ => panic!("nothing acceptable on {topic} within 10 s"),
            }
        }
    }
}

fn refused(result: Result<Client, ConnectionError>) -> ConnectReturnCode {
    match result {
        Err(ConnectionError::ConnectionRefused(code)) => code,
        Err(other) => panic!("expected a CONNACK refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the client was let in"),
    }
}

#[tokio::test]
async fn anonymous_clients_and_wrong_passwords_are_refused_when_accounts_are_required() {
    let broker = Broker::start("t-acct-refuse", &[]).await;
    let port = broker.port;
    assert_eq!(refused(connect(port, "acct-anon", None, None).await), ConnectReturnCode::NotAuthorized);
    let wrong = connect(port, "acct-wrong", Some(("operator", VIEWER_PASSWORD)), None).await;
    assert_eq!(refused(wrong), ConnectReturnCode::BadUserNamePassword);
    let nobody = connect(port, "acct-nobody", Some(("admin", OPERATOR_PASSWORD)), None).await;
    assert_eq!(refused(nobody), ConnectReturnCode::BadUserNamePassword);

    let anonymous = broker.audited("mqtt_login", |e| e.actor == "mqtt anonymous").await;
    assert_eq!((anonymous.result.as_str(), anonymous.from.as_deref()), ("refused", Some("127.0.0.1")));
    let operator = broker.audited("mqtt_login", |e| e.actor == "mqtt operator").await;
    assert_eq!((operator.result.as_str(), operator.detail.as_str()), ("refused", "wrong user name or password"));
    broker.audited("mqtt_login", |e| e.actor == "mqtt admin").await;

    // Both accounts still sign in, and the bridge's own link is unharmed.
    assert!(connect(port, "acct-viewer", Some(("viewer", VIEWER_PASSWORD)), None).await.is_ok());
    assert!(connect(port, "acct-operator", Some(("operator", OPERATOR_PASSWORD)), None).await.is_ok());
    assert_eq!(broker.mqtt_state(), MqttState::Connected);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_that_account_out_for_a_while() {
    let broker = Broker::start("t-acct-throttle", &[]).await;
    for n in 0..5 {
        let wrong = connect(broker.port, &format!("acct-guess-{n}"), Some(("operator", "guess-guess")), None).await;
        assert_eq!(refused(wrong), ConnectReturnCode::BadUserNamePassword);
    }
    let right = connect(broker.port, "acct-op", Some(("operator", OPERATOR_PASSWORD)), None).await;
    assert_eq!(refused(right), ConnectReturnCode::NotAuthorized, "locked, even with the right password");
    broker.audited("mqtt_login", |e| e.actor == "mqtt operator" && e.detail.starts_with("too many")).await;
    let viewer = connect(broker.port, "acct-viewer", Some(("viewer", VIEWER_PASSWORD)), None).await;
    assert!(viewer.is_ok(), "the other account is not locked");
}

#[tokio::test]
async fn the_read_only_account_receives_state_but_cannot_command() {
    let broker = Broker::start("t-acct-viewer", &[]).await;
    let topic = |rest: &str| format!("t-acct-viewer/pdu44001/{rest}");
    let mut viewer = connect(broker.port, "acct-viewer", Some(("viewer", VIEWER_PASSWORD)), None).await.unwrap();
    viewer.subscribe("t-acct-viewer/#").await;
    assert_eq!(viewer.wait(&topic("outlet/3/state"), |_| true).await, "on");
    assert_eq!(viewer.wait(&topic("bridge/status"), |p| p == "online").await, "online");

    viewer.client.publish(topic("outlet/3/command"), QoS::AtLeastOnce, false, "off").await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), viewer.closed.recv()).await;
    assert!(matches!(closed, Ok(Some(_))), "the broker lets go of a viewer that publishes");
    let line = broker.audited("mqtt_command", |e| e.actor == "mqtt viewer").await;
    assert_eq!((line.result.as_str(), line.target.as_str()), ("refused", topic("outlet/3/command").as_str()));
    assert_eq!(line.from.as_deref(), Some("127.0.0.1"));

    // An operator's command right after it goes through: had the viewer's
    // been passed on, it would have been carried out before this one.
    let mut operator = connect(broker.port, "acct-op", Some(("operator", OPERATOR_PASSWORD)), None).await.unwrap();
    operator.subscribe(&topic("outlet/+/command/response")).await;
    operator.client.publish(topic("outlet/5/command"), QoS::AtLeastOnce, false, "off").await.unwrap();
    operator.wait(&topic("outlet/5/command/response"), |p| p.contains("\"success\":true")).await;
    assert_eq!(broker.outlet(5), OutletState::Off);
    assert_eq!(broker.outlet(3), OutletState::On, "the viewer switched nothing");
    assert!(
        broker.entries("outlet_command").await.iter().all(|e| e.target != "pdu44001 outlet 3"),
        "no outlet command for outlet 3 was even tried"
    );
    // Publishing anything at all is refused, and a last will is a publish too.
    let mut viewer = connect(broker.port, "acct-viewer-2", Some(("viewer", VIEWER_PASSWORD)), None).await.unwrap();
    viewer.client.publish("t-acct-viewer/elsewhere", QoS::AtMostOnce, true, "x").await.unwrap();
    assert!(matches!(tokio::time::timeout(Duration::from_secs(10), viewer.closed.recv()).await, Ok(Some(_))));
    broker.audited("mqtt_publish", |e| e.actor == "mqtt viewer" && e.result == "refused").await;
    let mut options = MqttOptions::new("acct-viewer-will", "127.0.0.1", broker.port);
    options.set_credentials("viewer", VIEWER_PASSWORD);
    options.set_last_will(rumqttc::LastWill::new(topic("outlet/3/command"), "off", QoS::AtLeastOnce, false));
    assert_eq!(refused(connect_with(options).await), ConnectReturnCode::NotAuthorized);
    broker.audited("mqtt_login", |e| e.actor == "mqtt viewer" && e.detail.contains("last will")).await;
    assert_eq!(broker.outlet(3), OutletState::On);
}

#[tokio::test]
async fn an_operators_command_switches_and_the_audit_log_names_the_operator() {
    let broker = Broker::start("t-acct-operator", &[]).await;
    let topic = |rest: &str| format!("t-acct-operator/pdu44001/{rest}");
    let mut operator = connect(broker.port, "acct-op", Some(("operator", OPERATOR_PASSWORD)), None).await.unwrap();
    operator.subscribe(&topic("outlet/+/command/response")).await;
    operator.client.publish(topic("outlet/3/command"), QoS::AtLeastOnce, false, "off").await.unwrap();
    let response = operator.wait(&topic("outlet/3/command/response"), |_| true).await;
    assert!(response.contains("\"success\":true") && response.contains("\"state\":\"off\""), "{response}");
    assert_eq!(broker.outlet(3), OutletState::Off);

    let command = broker.audited("outlet_command", |e| e.target == "pdu44001 outlet 3").await;
    assert_eq!(
        (command.actor.as_str(), command.from.as_deref(), command.result.as_str()),
        ("mqtt operator", Some("127.0.0.1"), "ok")
    );
    let publish = broker.audited("mqtt_command", |e| e.actor == "mqtt operator").await;
    assert_eq!((publish.target.as_str(), publish.result.as_str()), (topic("outlet/3/command").as_str(), "ok"));
}

#[tokio::test]
async fn on_loopback_anonymous_clients_still_command_as_before() {
    let port = free_port().to_string();
    let (config, _dir) =
        config(&[("MQTT_PORT", &port), ("BRIDGE_MQTT_BASE", "t-acct-open"), ("BRIDGE_HA_DISCOVERY", "false")]);
    let bridge = Arc::new(Bridge::new(&config));
    let shutdown = CancellationToken::new();
    let _running = server::start(&config, bridge.clone(), &shutdown).await.unwrap();
    let port: u16 = port.parse().unwrap();
    let mut anonymous = loop {
        // The first snapshot, then the link: until then a command has nothing to act on.
        if let (false, Ok(client)) = (bridge.snapshots().is_empty(), connect(port, "acct-open", None, None).await) {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    anonymous.subscribe("t-acct-open/pdu44001/#").await;
    anonymous.wait("t-acct-open/pdu44001/bridge/status", |p| p == "online").await;
    anonymous.client.publish("t-acct-open/pdu44001/outlet/2/command", QoS::AtLeastOnce, false, "off").await.unwrap();
    let response = anonymous.wait("t-acct-open/pdu44001/outlet/2/command/response", |_| true).await;
    assert!(response.contains("\"success\":true"), "{response}");
    shutdown.cancel();
}

/// The real binary, stopped when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The refusal paths log and audit who tried; what they tried with must stay out.
#[tokio::test]
async fn no_password_reaches_a_log_line_the_stores_or_an_mqtt_message() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = data.path().join("bridge.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut bridge = Process(
        std::process::Command::new(env!("CARGO_BIN_EXE_pdu-bridge"))
            .env_clear()
            .env("BRIDGE_DATA_DIR", data.path())
            .env("BRIDGE_WEB_PORT", "0")
            .env("MQTT_PORT", port.to_string())
            .env("BRIDGE_MQTT_BASE", "t-acct-secret")
            .env("BRIDGE_HA_DISCOVERY", "false")
            .env("BRIDGE_MQTT_REQUIRE_ACCOUNTS", "true")
            .env("BRIDGE_MQTT_VIEWER_PASSWORD", VIEWER_PASSWORD)
            .env("BRIDGE_MQTT_OPERATOR_PASSWORD", OPERATOR_PASSWORD)
            .env("BRIDGE_LOG_LEVEL", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = "t-acct-secret/pdu44001";
    let mut operator = None;
    for _ in 0..100 {
        if let Ok(client) = connect(port, "acct-op", Some(("operator", OPERATOR_PASSWORD)), None).await {
            operator = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut operator = operator.expect("the bridge's broker comes up");
    operator.subscribe("#").await;
    operator.wait(&format!("{base}/bridge/status"), |p| p == "online").await;
    let wrong = connect(port, "acct-wrong", Some(("viewer", OPERATOR_PASSWORD)), None).await;
    assert_eq!(refused(wrong), ConnectReturnCode::BadUserNamePassword);
    let wrong = connect(port, "acct-wrong-2", Some(("operator", VIEWER_PASSWORD)), None).await;
    assert_eq!(refused(wrong), ConnectReturnCode::BadUserNamePassword);
    let mut viewer = connect(port, "acct-viewer", Some(("viewer", VIEWER_PASSWORD)), None).await.unwrap();
    viewer.client.publish(format!("{base}/outlet/1/command"), QoS::AtLeastOnce, false, "off").await.unwrap();
    assert!(matches!(tokio::time::timeout(Duration::from_secs(10), viewer.closed.recv()).await, Ok(Some(_))));
    operator.client.publish(format!("{base}/outlet/6/command"), QoS::AtLeastOnce, false, "off").await.unwrap();
    operator.wait(&format!("{base}/outlet/6/command/response"), |p| p.contains("\"success\":true")).await;

    std::process::Command::new("kill").args(["-TERM", &bridge.0.id().to_string()]).status().unwrap();
    for _ in 0..100 {
        if bridge.0.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    for words in ["MQTT sign-in refused", "the read-only MQTT account published", "outlet command carried out"] {
        assert!(log.contains(words), "the log saw the run ({words}): {log}");
    }
    let mut places = vec![("the log".to_owned(), log)];
    for entry in std::fs::read_dir(data.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("auth.db") || name.starts_with("history.db") {
            places.push((name, String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned()));
        }
    }
    while let Ok(message) = operator.messages.try_recv() {
        operator.seen.push(message);
    }
    places.extend(operator.seen.iter().map(|(topic, payload)| (format!("MQTT {topic}"), payload.clone())));
    assert!(places.iter().any(|(_, text)| text.contains("mqtt viewer")), "the audit log is among the stores");
    for (place, text) in &places {
        for secret in [VIEWER_PASSWORD, OPERATOR_PASSWORD] {
            assert!(!text.contains(secret), "a password appears in {place}");
        }
    }
}

#[tokio::test]
async fn tls_serves_signed_in_clients_and_a_plain_client_gets_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::util::self_signed(dir.path(), "mqtt");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let broker =
        Broker::start("t-acct-tls", &[("BRIDGE_MQTT_BROKER_CERT_FILE", &cert), ("BRIDGE_MQTT_BROKER_KEY_FILE", &key)])
            .await;
    assert!(broker.running.services.mqtt.borrow().broker.contains("TLS"), "the dashboard says so");
    let ca = std::fs::read(&cert).unwrap();
    let mut viewer =
        connect(broker.port, "acct-tls-viewer", Some(("viewer", VIEWER_PASSWORD)), Some(&ca)).await.unwrap();
    viewer.subscribe("t-acct-tls/pdu44001/outlet/4/name").await;
    assert_eq!(viewer.wait("t-acct-tls/pdu44001/outlet/4/name", |_| true).await, "Server-1");
    let anonymous = connect(broker.port, "acct-tls-anon", None, Some(&ca)).await;
    assert_eq!(refused(anonymous), ConnectReturnCode::NotAuthorized, "TLS does not replace signing in");

    let plain = connect(broker.port, "acct-plain", Some(("viewer", VIEWER_PASSWORD)), None).await;
    assert!(
        matches!(plain, Err(ref e) if !matches!(e, ConnectionError::ConnectionRefused(_))),
        "a plain client gets no MQTT answer from the TLS port"
    );
}
