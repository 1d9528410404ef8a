//! MQTT: the embedded broker and its front door, and the bridge's one client
//! connection that publishes every PDU's topic tree of
//! `shared/spec/mqtt.md`, Home Assistant discovery, and takes outlet
//! commands for the PDUs this bridge owns.
//!
//! Owns: the MQTT link and what goes over it. One connection per bridge,
//! whatever the number of PDUs: its last will is the bridge's
//! (`{base}/bridge/{bridge_id}/status`, which Home Assistant's availability
//! follows); each PDU's `{base}/{d}/bridge/status` says `online` while the
//! bridge runs and `offline` when it stops cleanly. A command for a device
//! id this bridge does not own is left to the bridge that owns it. PDUs
//! added at run time are greeted; removed ones leave no retained topic or
//! Home Assistant entity behind. Commands go through
//! [`Bridge::outlet_command`], the one command path.
//! The link reconnects forever, at most 5 s apart, also when the broker is
//! down at start-up, and republishes availability, discovery and all state on
//! every connect; polling, history and the dashboard never wait for it.
//! Retained messages on command topics are ignored: a stale retained `off`
//! must never power-cycle a server at every restart. Alarms go out on each
//! PDU's `alarms`, `alarms/active` and `alarm` topics ([`alarms`]), the
//! bridge's own alarms on every PDU's. With the embedded broker, clients
//! come in through `front` (accounts, TLS, read-only enforcement); the
//! bridge's own connections go straight to the broker.

pub mod alarms;
pub mod broker;
pub mod discovery;
pub mod front;
mod probe;
pub mod topics;

pub use probe::probe;

use crate::bridge::{Bridge, Requester};
use crate::clock::unix_secs;
use crate::config::{MqttConfig, MqttMode, MqttTls};
use crate::device::Device;
use crate::rules::Automation;
use alarms::AlarmTopics;
use app::model::{DeviceId, MqttState, MqttStatus, OutletAction};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Packet, Publish, QoS,
    TlsConfiguration, Transport,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use topics::{Outgoing, Publisher, Topics};

/// Reconnect attempts are at most this far apart, so the link is back
/// within seconds of the broker.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);
/// Messages queued towards the broker. A full publish of a PDU44001 with
/// discovery is about 150, and one connection carries every PDU: 800 PDUs
/// republishing all their topics in the same second are 64,000 messages.
/// The queue takes memory only for what waits in it.
const QUEUE: usize = 256 * 1024;

/// The wait before reconnect attempt `attempt + 1`: 0.5 s doubling up to
/// [`MAX_RECONNECT_WAIT`], of which a random part (`jitter`, 0–1) is taken
/// off so bridges that lost the same broker do not return in step.
pub fn reconnect_wait(attempt: u32, jitter: f64) -> Duration {
    let full = (Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(8))).min(MAX_RECONNECT_WAIT);
    full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in 0–1 that differs every call (std's hasher keys are random).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Start MQTT as configured. Returns the link status for the dashboard.
pub fn start(
    config: &MqttConfig,
    bridge: &Arc<Bridge>,
    automation: &Arc<Automation>,
    access: &Arc<crate::auth::Auth>,
    shutdown: &CancellationToken,
) -> (watch::Receiver<MqttStatus>, Vec<JoinHandle<()>>) {
    // rustls needs a process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tasks = Vec::new();
    let mut attribution = None;
    let (host, port, username, password, broker, tls) = match &config.mode {
        MqttMode::Off => return (watch::channel(MqttStatus::default()).1, Vec::new()),
        MqttMode::Embedded { bind, broker: security } => {
            let broker = format!("{bind} (embedded{})", if security.tls.is_some() { ", TLS" } else { "" });
            let embedded = match embedded(config, *bind, security, access, shutdown) {
                Ok(embedded) => embedded,
                Err(e) => {
                    tracing::error!("{e}; MQTT is off, everything else runs");
                    let status = MqttStatus { state: MqttState::Disconnected, broker, error: Some(e) };
                    return (watch::channel(status).1, Vec::new());
                }
            };
            tasks.push(embedded.task);
            attribution = Some(embedded.attribution);
            let internal = embedded.internal;
            let (host, port) = (internal.addr.ip().to_string(), internal.addr.port());
            (host, port, Some(internal.username), Some(internal.password), broker, None)
        }
        MqttMode::External { host, port, username, password, tls } => {
            let broker = format!("{host}:{port}{}", if tls.is_some() { " (TLS)" } else { "" });
            let tls = match tls.as_ref().map(tls_configuration).transpose() {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::error!("{e}; MQTT is off, everything else runs");
                    let status = MqttStatus { state: MqttState::Disconnected, broker, error: Some(e) };
                    return (watch::channel(status).1, Vec::new());
                }
            };
            (host.clone(), *port, username.clone(), password.as_ref().map(|p| p.expose().to_owned()), broker, tls)
        }
    };
    let (status_tx, status_rx) =
        watch::channel(MqttStatus { state: MqttState::Connecting, broker: broker.clone(), error: None });
    let status_tx = Arc::new(status_tx);
    let link = Link {
        automation: automation.clone(),
        bridge: bridge.clone(),
        config: config.clone(),
        will: topics::bridge_will(&config.base, &config.bridge_id),
        status: status_tx.clone(),
        broker: broker.clone(),
        attribution: attribution.clone(),
    };
    let mut options = MqttOptions::new(format!("pdu-bridge-{}", config.bridge_id), host.clone(), port);
    options.set_keep_alive(Duration::from_secs(15));
    options.set_clean_session(true);
    options.set_max_packet_size(1 << 20, 1 << 20);
    options.set_last_will(LastWill::new(link.will.clone(), "offline", QoS::AtLeastOnce, true));
    if let Some(user) = &username {
        options.set_credentials(user.clone(), password.clone().unwrap_or_default());
    }
    if let Some(tls) = &tls {
        options.set_transport(Transport::tls_with_config(tls.clone()));
    }
    tasks.push(tokio::spawn(link.run(options, shutdown.clone())));
    (status_rx, tasks)
}

/// The embedded broker, running behind its front door.
struct Embedded {
    /// The broker and the bridge's own account on it.
    internal: broker::Internal,
    attribution: Arc<front::Attribution>,
    /// The front door's accept loop.
    task: JoinHandle<()>,
}

/// Start the broker on loopback and its front door on `bind`.
fn embedded(
    config: &MqttConfig,
    bind: std::net::SocketAddr,
    security: &crate::config::BrokerSecurity,
    access: &Arc<crate::auth::Auth>,
    shutdown: &CancellationToken,
) -> Result<Embedded, String> {
    let tls = match &security.tls {
        Some((cert, key)) => Some(front::tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(bind)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| format!("the embedded MQTT broker cannot listen on {bind}: {e}"))?;
    let internal = broker::start()?;
    let accounts = front::Accounts::new(security, &bind);
    let names = accounts.configured();
    if accounts.required() && names.is_empty() {
        tracing::error!(
            "the embedded MQTT broker on {bind} requires accounts but none is set \
             (BRIDGE_MQTT_VIEWER_PASSWORD, BRIDGE_MQTT_OPERATOR_PASSWORD): every client will be refused"
        );
    }
    let signing_in = match (accounts.required(), names.is_empty()) {
        (true, _) => format!("accounts required: {}", names.join(", ")),
        (false, true) => "anonymous clients allowed".to_owned(),
        (false, false) => format!("anonymous clients allowed, accounts: {}", names.join(", ")),
    };
    let transport = if tls.is_some() { "TLS" } else { "plain TCP" };
    tracing::info!("embedded MQTT broker on {bind} ({transport}; {signing_in})");
    let attribution = Arc::new(front::Attribution::default());
    let door = front::Door {
        accounts,
        broker: internal.clone(),
        base: config.base.clone(),
        attribution: attribution.clone(),
        audit: access.clone(),
        throttle: Default::default(),
    };
    let task = tokio::spawn(front::serve(listener, tls, Arc::new(door), shutdown.clone()));
    Ok(Embedded { internal, attribution, task })
}

/// Read the PEM files named by the configuration.
pub(crate) fn tls_configuration(tls: &MqttTls) -> Result<TlsConfiguration, String> {
    let read = |path: &std::path::Path| std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let ca = read(&tls.ca_file)?;
    let client_auth = match &tls.client {
        Some((cert, key)) => Some((read(cert)?, read(key)?)),
        None => None,
    };
    Ok(TlsConfiguration::Simple { ca, alpn: None, client_auth })
}

/// The bridge's one connection: every PDU's topics, commands for the PDUs
/// this bridge owns, and the bridge's last will.
struct Link {
    /// Rules and events: `automation/status` and `automation/event`.
    automation: Arc<Automation>,
    bridge: Arc<Bridge>,
    config: MqttConfig,
    /// `{base}/bridge/{bridge_id}/status`, the connection's last will.
    will: String,
    status: Arc<watch::Sender<MqttStatus>>,
    broker: String,
    /// Who sent a command through the embedded broker's front door (`None`
    /// with an external broker, which does not say).
    attribution: Option<Arc<front::Attribution>>,
}

/// What the connection keeps for one PDU.
struct Watched {
    device: Arc<Device>,
    topics: Topics,
    publisher: Publisher,
    /// Discovery config topics published in this connection.
    announced: HashSet<String>,
    /// The Home Assistant node id the discovery topics use (from the serial).
    node: Option<String>,
    /// The names the announced entities carry ([`discovery::names_of`]).
    announced_names: String,
    /// Its alarm topics, and the list they last carried.
    alarms: AlarmTopics,
}

pub(crate) fn refused_reason(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the connection: bad user name or password (check MQTT_USERNAME and MQTT_PASSWORD)"
                .into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "the broker refused the connection: not authorized (check MQTT_USERNAME and MQTT_PASSWORD)".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection: {code:?}"),
        other => other.to_string(),
    }
}

/// Messages dropped because the queue towards the broker was full, and when
/// that was last said (unix ms): said at most every 10 s, with the count.
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static DROP_SAID_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Messages queued towards the broker, and outlet commands taken, since the
/// process started (for `/metrics`; process-wide, like [`DROPPED`]).
static QUEUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COMMANDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What the MQTT link has carried since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Messages queued towards the broker.
    pub published: u64,
    /// Messages dropped because that queue was full.
    pub dropped: u64,
    /// Outlet commands received for this bridge's PDUs.
    pub commands: u64,
}

pub fn message_counts() -> MessageCounts {
    use std::sync::atomic::Ordering::Relaxed;
    MessageCounts { published: QUEUED.load(Relaxed), dropped: DROPPED.load(Relaxed), commands: COMMANDS.load(Relaxed) }
}

fn send(client: &AsyncClient, m: Outgoing) {
    use std::sync::atomic::Ordering::Relaxed;
    let qos = if m.at_least_once { QoS::AtLeastOnce } else { QoS::AtMostOnce };
    if client.try_publish(m.topic, qos, m.retain, m.payload).is_ok() {
        QUEUED.fetch_add(1, Relaxed);
    } else {
        let dropped = DROPPED.fetch_add(1, Relaxed) + 1;
        let now = crate::clock::unix_ms();
        let said = DROP_SAID_MS.load(Relaxed);
        if now.saturating_sub(said) >= 10_000 && DROP_SAID_MS.compare_exchange(said, now, Relaxed, Relaxed).is_ok() {
            tracing::warn!(dropped_since_start = dropped, "MQTT queue towards the broker full: messages were dropped");
        }
    }
}

impl Link {
    fn set_status(&self, state: MqttState, error: Option<String>) {
        self.status.send_replace(MqttStatus { state, broker: self.broker.clone(), error });
    }

    fn watch(&self, device: Arc<Device>) -> Watched {
        let topics = Topics::in_bridge(&self.config.base, device.id().as_str(), &self.config.bridge_id);
        let publisher = Publisher::new(topics.clone(), self.config.refresh);
        let alarms = AlarmTopics::new(device.id().clone(), topics.clone());
        Watched {
            device,
            topics,
            publisher,
            announced: HashSet::new(),
            node: None,
            announced_names: String::new(),
            alarms,
        }
    }

    async fn run(self, options: MqttOptions, shutdown: CancellationToken) {
        let (client, mut events) = AsyncClient::new(options, QUEUE);
        let mut snapshots = self.bridge.bus().live();
        let mut rule_events = self.bridge.events().subscribe();
        let mut changes = self.bridge.changes();
        let mut alarm_lists = self.bridge.alarms().changes();
        let mut alarm_transitions = self.bridge.alarms().subscribe();
        let mut watched: HashMap<DeviceId, Watched> =
            self.bridge.devices().into_iter().map(|d| (d.id().clone(), self.watch(d))).collect();
        // Removed while the link was down: cleared at the next connect.
        let mut to_clear: Vec<Watched> = Vec::new();
        // Home Assistant nodes of removed PDUs whose retained discovery
        // (from an earlier run) is cleared as it comes back.
        let mut gone_nodes: HashSet<String> = HashSet::new();
        let mut connected = false;
        let mut attempts: u32 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        attempts = 0;
                        self.set_status(MqttState::Connected, None);
                        tracing::info!(bridge = %self.config.bridge_id, broker = %self.broker, "MQTT connected");
                        self.subscribe(&client);
                        send(&client, Outgoing { topic: self.will.clone(), payload: "online".into(), retain: true, at_least_once: true });
                        for w in watched.values_mut() {
                            self.greet(&client, w);
                        }
                        for w in to_clear.drain(..) {
                            self.clear(&client, w, &mut gone_nodes);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        self.incoming(&client, p, &mut watched, &gone_nodes);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let reason = refused_reason(&e);
                        let backoff = reconnect_wait(attempts, jitter());
                        attempts = attempts.saturating_add(1);
                        if connected {
                            tracing::warn!(error = %reason, "MQTT connection lost; reconnecting");
                        } else {
                            tracing::warn!(error = %reason, retry_in = ?backoff, "cannot connect to the MQTT broker");
                        }
                        connected = false;
                        self.set_status(MqttState::Disconnected, Some(reason));
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                    }
                },
                changed = changes.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let gone = self.follow_changes(&client, &mut watched, connected);
                    for w in gone {
                        if connected {
                            self.clear(&client, w, &mut gone_nodes);
                        } else {
                            to_clear.push(w);
                        }
                    }
                    // Back under its id before the link was: nothing of it to clear.
                    to_clear.retain(|w| !watched.contains_key(w.device.id()));
                    for w in watched.values() {
                        if let Some(node) = &w.node {
                            gone_nodes.remove(node);
                        }
                    }
                }
                changed = alarm_lists.changed() => {
                    if changed.is_err() || !connected {
                        continue;
                    }
                    let list = self.bridge.alarms().list();
                    for w in watched.values_mut() {
                        w.alarms.messages(&list).into_iter().for_each(|m| send(&client, m));
                    }
                }
                transition = alarm_transitions.recv() => {
                    let t = match transition {
                        Ok(t) => t,
                        Err(broadcast::error::RecvError::Lagged(skipped)) => {
                            tracing::warn!(skipped, "MQTT fell behind the alarm changes: some `alarm` messages were not sent (the `alarms` lists are right)");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => continue,
                    };
                    if connected {
                        watched.values().filter_map(|w| w.alarms.transition(&t)).for_each(|m| send(&client, m));
                    }
                }
                event = rule_events.recv() => {
                    let Ok(event) = event else { continue };
                    let Some(w) = watched.get(&event.device_id) else { continue };
                    if connected {
                        let message = w.topics.automation_event(event.rule.as_deref().unwrap_or(""), &event.kind, &event.details, event.ts);
                        send(&client, message);
                        send(&client, self.automation_status(w));
                    }
                }
                snapshot = snapshots.recv() => {
                    let Ok(s) = snapshot else { continue };
                    let Some(w) = watched.get_mut(&s.device_id) else { continue };
                    if !connected {
                        continue;
                    }
                    if w.announced.is_empty() || w.announced_names != discovery::names_of(&s) {
                        self.announce(&client, w);
                    }
                    w.publisher.messages(&s, Instant::now()).into_iter().for_each(|m| send(&client, m));
                }
            }
        }
        if !connected {
            tracing::debug!("MQTT not connected at shutdown: the broker's last will says offline");
            return;
        }
        // A clean stop says so at once rather than through the last will.
        for w in watched.values() {
            let _ = client.try_publish(w.topics.bridge_status(), QoS::AtLeastOnce, true, "offline");
        }
        let _ = client.try_publish(self.will.clone(), QoS::AtLeastOnce, true, "offline");
        let _ = client.try_disconnect();
        let flush = async {
            loop {
                match events.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(2), flush).await {
            Ok(Ok(())) => tracing::debug!(pdus = watched.len(), "MQTT: said offline and disconnected"),
            Ok(Err(e)) => tracing::warn!(error = %e, "MQTT: the connection failed while saying offline"),
            Err(_) => tracing::warn!("MQTT: saying offline took over 2 s; the broker's last will says it instead"),
        }
    }

    /// A (re)connect, or a PDU added: its bridge status, rules, alarms,
    /// discovery and every topic again.
    fn greet(&self, client: &AsyncClient, w: &mut Watched) {
        send(
            client,
            Outgoing { topic: w.topics.bridge_status(), payload: "online".into(), retain: true, at_least_once: true },
        );
        send(client, self.automation_status(w));
        w.alarms.republish_all();
        w.alarms.messages(&self.bridge.alarms().list()).into_iter().for_each(|m| send(client, m));
        w.publisher.republish_all();
        self.announce(client, w);
        if let Some(s) = w.device.latest() {
            w.publisher.messages(&s, Instant::now()).into_iter().for_each(|m| send(client, m));
        }
    }

    /// PDUs were added, changed or removed: greet the new ones, announce a
    /// changed one again; the removed ones are returned for [`Link::clear`].
    fn follow_changes(
        &self,
        client: &AsyncClient,
        watched: &mut HashMap<DeviceId, Watched>,
        connected: bool,
    ) -> Vec<Watched> {
        let now: HashMap<DeviceId, Arc<Device>> =
            self.bridge.devices().into_iter().map(|d| (d.id().clone(), d)).collect();
        let gone: Vec<DeviceId> = watched.keys().filter(|id| !now.contains_key(*id)).cloned().collect();
        let gone: Vec<Watched> = gone.iter().filter_map(|id| watched.remove(id)).collect();
        for (id, device) in now {
            match watched.get_mut(&id) {
                // Edited in place: a new `Device` under the same id, whose
                // label or serial may differ; its entities are announced anew.
                Some(w) if !Arc::ptr_eq(&w.device, &device) => {
                    w.device = device;
                    if connected {
                        for topic in std::mem::take(&mut w.announced) {
                            send(client, Outgoing { topic, payload: String::new(), retain: true, at_least_once: true });
                        }
                        self.greet(client, w);
                    } else {
                        w.announced.clear();
                    }
                }
                Some(_) => {}
                None => {
                    let mut w = self.watch(device);
                    if connected {
                        self.greet(client, &mut w);
                    }
                    watched.insert(id, w);
                }
            }
        }
        gone
    }

    /// A removed PDU: every retained topic it published and its Home
    /// Assistant entities are cleared (its history stays in the store).
    /// Discovery it left on the broker in an earlier run is cleared as it
    /// comes back (by its serial's node).
    fn clear(&self, client: &AsyncClient, w: Watched, gone_nodes: &mut HashSet<String>) {
        tracing::info!(device = %w.device.id(), "PDU removed: clearing its MQTT topics and Home Assistant entities");
        w.publisher.clearing().into_iter().for_each(|m| send(client, m));
        w.alarms.clearing().into_iter().for_each(|m| send(client, m));
        for topic in w.announced {
            send(client, Outgoing { topic, payload: String::new(), retain: true, at_least_once: true });
        }
        let node = w.node.clone().or_else(|| w.device.expected_serial().and_then(|s| discovery::node_of_serial(&s)));
        if let (Some(prefix), Some(node)) = (&self.config.discovery_prefix, node) {
            let _ = client.try_subscribe(format!("{prefix}/+/{node}/+/config"), QoS::AtLeastOnce);
            gone_nodes.insert(node);
        }
    }

    fn automation_status(&self, w: &Watched) -> Outgoing {
        let rules = self.automation.engine(w.device.id()).map(|e| e.list()).unwrap_or_default();
        w.topics.automation_status(&serde_json::to_value(rules).unwrap_or_default())
    }

    fn subscribe(&self, client: &AsyncClient) {
        // Exactly one filter matches a command topic: overlapping filters
        // would deliver (and carry out) a command twice.
        let mut filters = vec![format!("{}/+/outlet/+/command", self.config.base)];
        if let Some(prefix) = &self.config.discovery_prefix {
            filters.push(format!("{prefix}/status"));
        }
        for filter in filters {
            if let Err(e) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                tracing::warn!(error = %e, "MQTT subscribe could not be queued");
            }
        }
    }

    fn announce(&self, client: &AsyncClient, w: &mut Watched) {
        let Some(prefix) = &self.config.discovery_prefix else { return };
        let Some(s) = w.device.latest() else { return };
        if let Some(node) = discovery::node_id(&s) {
            // Our retained discovery topics come back to us: the ones this
            // PDU no longer has are cleared (see `incoming`).
            let _ = client.try_subscribe(format!("{prefix}/+/{node}/+/config"), QoS::AtLeastOnce);
            w.node = Some(node);
        }
        let messages = discovery::messages(prefix, &w.topics, &s, &self.config.dashboard_url);
        w.announced_names = discovery::names_of(&s);
        w.announced = messages.iter().map(|m| m.topic.clone()).collect();
        messages.into_iter().for_each(|m| send(client, m));
    }

    fn incoming(
        &self,
        client: &AsyncClient,
        p: Publish,
        watched: &mut HashMap<DeviceId, Watched>,
        gone_nodes: &HashSet<String>,
    ) {
        let topic = p.topic.clone();
        if let Some(prefix) = &self.config.discovery_prefix {
            if topic == format!("{prefix}/status") {
                if p.payload.as_ref() == b"online" {
                    tracing::info!("Home Assistant is online: republishing discovery and state");
                    let alarms = self.bridge.alarms().list();
                    for w in watched.values_mut() {
                        self.announce(client, w);
                        w.alarms.republish_all();
                        w.alarms.messages(&alarms).into_iter().for_each(|m| send(client, m));
                        w.publisher.republish_all();
                        if let Some(s) = w.device.latest() {
                            w.publisher.messages(&s, Instant::now()).into_iter().for_each(|m| send(client, m));
                        }
                    }
                }
                return;
            }
            if topic.starts_with(&format!("{prefix}/")) && topic.ends_with("/config") {
                // `{prefix}/{component}/{node}/{key}/config` of one of our PDUs.
                let node = topic.split('/').rev().nth(2).unwrap_or_default();
                let owner = watched.values().find(|w| w.node.as_deref() == Some(node));
                let stale = match owner {
                    Some(w) => !w.announced.contains(&topic) && !w.announced.is_empty(),
                    None => gone_nodes.contains(node),
                };
                if stale && !p.payload.is_empty() {
                    tracing::info!(%topic, "clearing stale Home Assistant discovery");
                    send(client, Outgoing { topic, payload: String::new(), retain: true, at_least_once: true });
                }
                return;
            }
        }
        self.command(client, p);
    }

    /// `{base}/{d}/outlet/{n}/command` for a PDU this bridge owns: validate,
    /// switch through the service path, answer on `…/command/response`.
    /// Commands for other device ids are left alone: another bridge on the
    /// same broker owns them and answers them.
    fn command(&self, client: &AsyncClient, p: Publish) {
        let Some((device_id, outlet)) = topics::command_target(&self.config.base, &p.topic) else { return };
        let Ok(device) = self.bridge.device(Some(device_id)) else {
            tracing::debug!(topic = %p.topic, "a command for a PDU another bridge owns (or none): not ours to answer");
            return;
        };
        if p.retain {
            tracing::warn!(topic = %p.topic, "ignored a retained command: commands must be sent live");
            return;
        }
        COMMANDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response_topic = format!("{}/response", p.topic);
        let requester = match self.attribution.as_ref().and_then(|a| a.take(&p.topic, &p.payload)) {
            Some(sender) => Requester { from: Some(sender.from.to_string()), ..Requester::mqtt(Some(sender.account)) },
            None => Requester::mqtt(None),
        };
        let payload = String::from_utf8_lossy(&p.payload).trim().to_owned();
        let (bridge, client, outlet) = (self.bridge.clone(), client.clone(), outlet.to_owned());
        tokio::spawn(async move {
            let outcome = match (outlet.parse::<u32>(), payload.parse::<OutletAction>()) {
                (Err(_), _) => Err(format!("unknown outlet {outlet:?}")),
                (_, Err(why)) => Err(why),
                (Ok(n), Ok(action)) => {
                    bridge.outlet_command(&device, n, action, requester).await.map_err(|e| e.to_string())
                }
            };
            let body = match &outcome {
                Ok(r) => json!({"success": true, "command": r.command, "outlet": r.outlet, "state": r.state,
                                "pending": r.pending, "error": null, "ts": r.ts}),
                Err(e) => {
                    json!({"success": false, "command": payload.to_ascii_lowercase(), "outlet": outlet.parse::<u32>().ok(),
                                 "state": null, "error": e, "ts": unix_secs()})
                }
            };
            if let Err(e) = client.publish(response_topic, QoS::AtLeastOnce, false, body.to_string()).await {
                tracing::warn!(error = %e, "cannot queue an MQTT command response");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_attempts_are_at_most_five_seconds_apart_with_jitter() {
        let waits: Vec<Duration> = (0..20).map(|n| reconnect_wait(n, 0.0)).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), MAX_RECONNECT_WAIT);
        assert_eq!(reconnect_wait(20, 1.0), MAX_RECONNECT_WAIT / 2, "jitter takes up to half off");
        let drawn: Vec<f64> = (0..50).map(|_| jitter()).collect();
        assert!(drawn.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(drawn.windows(2).any(|w| w[0] != w[1]), "jitter varies");
    }
}
