//! The embedded MQTT broker (rumqttd): with no `MQTT_BROKER` configured the
//! bridge brings its own, so `mosquitto_sub -t 'pdu/#'`, Home Assistant or
//! Node-RED work on a fresh install with nothing else to run. Retained
//! messages and last wills are supported; it runs on its own threads.
//!
//! Owns: rumqttd and its settings. It listens on loopback only, on a port of
//! its own, and lets in exactly one account: the bridge's, with a password
//! made at every start and kept in memory. Clients never reach it directly:
//! they come through [`super::front`], which signs them in and keeps the
//! read-only account from publishing (rumqttd has no per-topic rights).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The largest packet the broker (and its front door) takes.
pub const MAX_PACKET: usize = 256 * 1024;

/// The broker's only account, the bridge's own.
#[derive(Clone)]
pub struct Internal {
    /// Where the broker listens: `127.0.0.1`, a port picked at start.
    pub addr: SocketAddr,
    pub username: String,
    /// Random, new at every start, never written anywhere.
    pub password: String,
}

impl std::fmt::Debug for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Internal").field("addr", &self.addr).field("username", &self.username).finish_non_exhaustive()
    }
}

/// Start the broker on a free loopback port with a new random password.
pub fn start() -> Result<Internal, String> {
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("the embedded MQTT broker cannot find a free loopback port: {e}"))?
        .port();
    let internal = Internal {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        username: "pdu-bridge".to_owned(),
        password: crate::auth::secret::random_hex(24),
    };
    let server = rumqttd::ServerSettings {
        name: "mqtt".into(),
        listen: internal.addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PACKET,
            max_inflight_count: 200,
            auth: Some(HashMap::from([(internal.username.clone(), internal.password.clone())])),
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1024,
            max_outgoing_packet_count: 1024,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("mqtt".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = rumqttd::Broker::new(config).start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .map_err(|e| format!("cannot start the embedded MQTT broker: {e}"))?;
    // Let the listener come up before the bridge's own clients connect.
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&internal.addr, Duration::from_millis(50)).is_ok() {
            return Ok(internal);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the embedded MQTT broker did not come up on {}", internal.addr))
}
