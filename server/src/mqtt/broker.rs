//! The embedded MQTT broker (rumqttd): with no `MQTT_BROKER` configured the
//! bridge brings its own, so `mosquitto_sub -t 'pdu/#'`, Home Assistant or
//! Node-RED work on a fresh install with nothing else to run. Retained
//! messages and last wills are supported; it runs on its own threads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Start the broker on `bind`. A port that is taken is a clear error here,
/// not a panic in the broker's thread.
pub fn start(bind: SocketAddr) -> Result<(), String> {
    std::net::TcpListener::bind(bind).map_err(|e| format!("the embedded MQTT broker cannot listen on {bind}: {e}"))?;
    let server = rumqttd::ServerSettings {
        name: "mqtt".into(),
        listen: bind,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 200,
            auth: None,
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
    let probe = if bind.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], bind.port())) } else { bind };
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&probe, Duration::from_millis(50)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the embedded MQTT broker did not come up on {bind}"))
}
