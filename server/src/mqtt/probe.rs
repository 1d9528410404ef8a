//! One connection attempt to an external broker with the bridge's own
//! credentials and TLS settings, for `pdu-bridge check`.

use super::{refused_reason, tls_configuration};
use crate::config::{MqttConfig, MqttMode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Transport};
use std::time::Duration;

/// Connect, wait for the broker's answer (at most `limit`), disconnect.
pub async fn probe(config: &MqttConfig, limit: Duration) -> Result<(), String> {
    let MqttMode::External { host, port, username, password, tls } = &config.mode else {
        return Err("no external broker is configured".into());
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = MqttOptions::new(format!("pdu-bridge-check-{}", std::process::id()), host.clone(), *port);
    options.set_keep_alive(Duration::from_secs(5));
    if let Some(user) = username {
        options.set_credentials(user.clone(), password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default());
    }
    if let Some(tls) = tls {
        options.set_transport(Transport::tls_with_config(tls_configuration(tls)?));
    }
    let (client, mut events) = AsyncClient::new(options, 10);
    let answer = tokio::time::timeout(limit, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(refused_reason(&e)),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs())));
    let _ = client.try_disconnect();
    answer
}
