//! `pdu-bridge check`: before (or beside) a running bridge, try what it
//! needs — the settings, the data folder, the history store, every PDU over
//! its real transport, the MQTT broker — and say in words what is wrong.
//!
//! Owns: nothing at run time; it changes nothing (the store is opened read
//! only, nothing is written but a probe file that is removed again).

use crate::config::{Config, MqttMode};
use crate::device::PduSource;
use crate::history::store::{Store, SCHEMA_VERSION};
use std::time::Duration;

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `ok`, `FAIL`, or `note` (worth knowing, not a failure).
    pub verdict: &'static str,
    pub text: String,
}

fn ok(text: impl Into<String>) -> Finding {
    Finding { verdict: "ok", text: text.into() }
}

fn fail(text: impl Into<String>) -> Finding {
    Finding { verdict: "FAIL", text: text.into() }
}

fn note(text: impl Into<String>) -> Finding {
    Finding { verdict: "note", text: text.into() }
}

/// Every check, in order.
pub async fn run(config: &Config) -> Vec<Finding> {
    let mut out =
        vec![ok(format!("settings are valid: {} PDU(s), data in {}", config.devices.len(), config.data_dir.display()))];
    out.push(data_folder(config));
    out.push(history(config).await);
    for device in &config.devices {
        out.push(pdu(device).await);
    }
    out.push(mqtt(config).await);
    if std::net::TcpListener::bind(config.web_addr).is_err() {
        out.push(note(format!(
            "the dashboard's address {} is in use (is the bridge running already? BRIDGE_WEB_BIND, BRIDGE_WEB_PORT)",
            config.web_addr
        )));
    }
    out
}

fn data_folder(config: &Config) -> Finding {
    let dir = &config.data_dir;
    let probe = dir.join(format!(".check-{}", std::process::id()));
    let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&probe, b"probe"));
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => ok(format!("the data folder {} is writable", dir.display())),
        Err(e) => fail(format!("the data folder {} is not writable: {e} (BRIDGE_DATA_DIR)", dir.display())),
    }
}

async fn history(config: &Config) -> Finding {
    let path = &config.history_db;
    if !path.exists() {
        return ok(format!("history store {}: none yet, made at first start", path.display()));
    }
    match Store::inspect(path).await {
        Ok((version, Ok(()))) if version <= SCHEMA_VERSION => {
            let upgrade = if version < SCHEMA_VERSION { ", upgraded at start" } else { "" };
            ok(format!("history store {}: sound (schema {version}{upgrade})", path.display()))
        }
        Ok((version, Ok(()))) => fail(format!(
            "history store {}: schema {version} is newer than this version knows ({SCHEMA_VERSION}); run the newer version or restore a backup",
            path.display()
        )),
        Ok((_, Err(why))) => fail(format!(
            "history store {}: damaged ({why}); at start it is moved aside and a new one begun",
            path.display()
        )),
        Err(e) => fail(format!("history store {}: {e}", path.display())),
    }
}

async fn pdu(device: &crate::config::DeviceConfig) -> Finding {
    let id = &device.id;
    let source = PduSource::for_config(device);
    let where_ = match &device.kind {
        crate::config::DeviceKind::Simulated { .. } => "the simulated PDU (demo)".to_owned(),
        crate::config::DeviceKind::Snmp { host, port, .. } => format!("{host}:{port}"),
    };
    let limit = device.poll_deadline() * 4;
    match tokio::time::timeout(limit, source.identity()).await {
        Ok(Ok(identity)) => {
            let text = |v: Option<String>| v.unwrap_or_else(|| "?".into());
            ok(format!(
                "PDU {id} at {where_} answers: {} (serial {}, firmware {})",
                text(identity.model),
                text(identity.serial),
                text(identity.firmware)
            ))
        }
        Ok(Err(e)) => fail(format!(
            "PDU {id} at {where_}: {e} (check PDU_HOST, PDU_SNMP_PORT, PDU_COMMUNITY_READ, and that SNMP v2c is on)"
        )),
        Err(_) => fail(format!(
            "PDU {id} at {where_} did not answer within {:.0} s (check PDU_HOST, PDU_SNMP_PORT, the community, a firewall)",
            limit.as_secs_f64()
        )),
    }
}

async fn mqtt(config: &Config) -> Finding {
    match &config.mqtt.mode {
        MqttMode::Off => ok("MQTT is off (MQTT_BROKER=none)"),
        MqttMode::Embedded { bind } => match std::net::TcpListener::bind(bind) {
            Ok(_) => ok(format!("the embedded MQTT broker can listen on {bind}")),
            Err(e) => note(format!(
                "the embedded MQTT broker's address {bind} is in use ({e}): is the bridge running already? (MQTT_PORT, BRIDGE_MQTT_BIND)"
            )),
        },
        MqttMode::External { host, port, .. } => match crate::mqtt::probe(&config.mqtt, Duration::from_secs(5)).await {
            Ok(()) => ok(format!("the MQTT broker {host}:{port} accepts the bridge")),
            Err(why) if why.starts_with("I/O") => {
                fail(format!("the MQTT broker {host}:{port}: {why} (is it running? check MQTT_BROKER and MQTT_PORT)"))
            }
            Err(why) => fail(format!("the MQTT broker {host}:{port}: {why}")),
        },
    }
}
