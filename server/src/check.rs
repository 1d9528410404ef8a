//! `pdu-bridge check`: before (or beside) a running bridge, try what it
//! needs — the settings, the data folder, the history store, the access store, every PDU over
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
    out.push(access(config).await);
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

/// The access store: who can sign in (never a secret).
async fn access(config: &Config) -> Finding {
    let path = &config.auth.db;
    if !path.exists() {
        let first = if config.auth.admin_password.is_some() {
            "with BRIDGE_ADMIN_PASSWORD"
        } else {
            "with a random password saved in the data folder"
        };
        return ok(format!("access store {}: none yet; the first start makes user admin {first}", path.display()));
    }
    match crate::auth::store::AuthStore::census(path).await {
        Ok((users, admins, tokens)) => {
            let finding =
                format!("access store {}: {users} user(s), {admins} admin(s), {tokens} API token(s)", path.display());
            if admins == 0 {
                fail(format!("{finding}: nobody can manage users (pdu-bridge user add NAME --role admin)"))
            } else {
                ok(finding)
            }
        }
        Err(e) => fail(format!("access store {}: {e} (BRIDGE_AUTH_DB)", path.display())),
    }
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
        MqttMode::Embedded { bind, broker } => {
            if let Some((cert, key)) = &broker.tls {
                if let Err(why) = crate::mqtt::front::tls_acceptor(cert, key) {
                    return fail(format!("the embedded MQTT broker cannot serve TLS: {why}"));
                }
            }
            let accounts = crate::mqtt::front::Accounts::new(broker, bind);
            let names = accounts.configured();
            if accounts.required() && names.is_empty() {
                return fail(format!(
                    "the embedded MQTT broker on {bind} requires accounts but none is set: every client would be \
                     refused (set BRIDGE_MQTT_VIEWER_PASSWORD and/or BRIDGE_MQTT_OPERATOR_PASSWORD, or keep \
                     BRIDGE_MQTT_BIND on loopback)"
                ));
            }
            let how = match (broker.tls.is_some(), accounts.required()) {
                (true, true) => format!(" over TLS, accounts: {}", names.join(", ")),
                (true, false) => " over TLS".to_owned(),
                (false, true) => format!(", accounts: {}", names.join(", ")),
                (false, false) => String::new(),
            };
            match std::net::TcpListener::bind(bind) {
                Ok(_) if broker.tls.is_none() && !bind.ip().is_loopback() => note(format!(
                    "the embedded MQTT broker can listen on {bind}{how}, but without TLS its passwords cross the \
                     network in clear (BRIDGE_MQTT_BROKER_CERT_FILE, BRIDGE_MQTT_BROKER_KEY_FILE)"
                )),
                Ok(_) => ok(format!("the embedded MQTT broker can listen on {bind}{how}")),
                Err(e) => note(format!(
                    "the embedded MQTT broker's address {bind} is in use ({e}): is the bridge running already? (MQTT_PORT, BRIDGE_MQTT_BIND)"
                )),
            }
        }
        MqttMode::External { host, port, .. } => match crate::mqtt::probe(&config.mqtt, Duration::from_secs(5)).await {
            Ok(()) => ok(format!("the MQTT broker {host}:{port} accepts the bridge")),
            Err(why) if why.starts_with("I/O") => {
                fail(format!("the MQTT broker {host}:{port}: {why} (is it running? check MQTT_BROKER and MQTT_PORT)"))
            }
            Err(why) => fail(format!("the MQTT broker {host}:{port}: {why}")),
        },
    }
}
