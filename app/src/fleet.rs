//! The fleet as the API and the dashboard manage it: one PDU's settings as
//! `pdus.json` and `POST /api/pdus` write them (the Python bridge's fields
//! first, so its file loads unchanged), the same without secrets for
//! answers, and what discovery finds.
//!
//! Owns: the shapes and their edge validation. Does not own: starting or
//! stopping pollers (`server::fleet`) or scanning (`server::discover`).

use crate::model::DeviceId;
use serde::{Deserialize, Serialize};

fn default_port() -> u16 {
    161
}

fn yes() -> bool {
    true
}

/// Which feed of a rack a PDU is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feed {
    A,
    B,
}

/// One PDU of `pdus.json` (and the body of `POST /api/pdus`,
/// `PUT /api/pdus/{device_id}`). Fields the Python bridge does not know are
/// optional, and fields this bridge does not know are ignored, so the
/// Python bridge's file loads unchanged.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PduEntry {
    pub device_id: String,
    /// Host name or address; empty for a simulated PDU.
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_port")]
    pub snmp_port: u16,
    /// Secret: written to the file (mode 0600), never to an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_read: Option<String>,
    /// Secret: written to the file (mode 0600), never to an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_write: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// This project's own: an in-process simulated PDU44001 (demo, tests).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
    /// The simulated PDU's seed (default: from the device id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The simulated PDU has an environment probe plugged in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
    /// Seconds between polls (0.1–300; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<f64>,
    /// Seconds one SNMP request may take (0.1–60; default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Retries of a lost request (0–10; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Varbinds per GET at most (1–64; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_varbinds: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metering_floor_w: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metering_floor_a: Option<f64>,
    /// Outlets only an admin may switch off, and only by saying so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_outlets: Vec<u32>,
    /// The PDU's serial, learned the first time it answers: the same PDU
    /// at a new address keeps its id; a different one is flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// A/B pairing: the rack this PDU feeds, and which feed it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<Feed>,
}

/// Never the communities: a `Debug` of the settings (in a log line, a
/// panic) must not carry a secret.
impl std::fmt::Debug for PduEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| if s.is_some() { "Some(\"***\")" } else { "None" };
        f.debug_struct("PduEntry")
            .field("device_id", &self.device_id)
            .field("host", &self.host)
            .field("snmp_port", &self.snmp_port)
            .field("community_read", &format_args!("{}", secret(&self.community_read)))
            .field("community_write", &format_args!("{}", secret(&self.community_write)))
            .field("label", &self.label)
            .field("enabled", &self.enabled)
            .field("simulated", &self.simulated)
            .field("seed", &self.seed)
            .field("probe", &self.probe)
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_varbinds", &self.max_varbinds)
            .field("metering_floor_w", &self.metering_floor_w)
            .field("metering_floor_a", &self.metering_floor_a)
            .field("protected_outlets", &self.protected_outlets)
            .field("serial", &self.serial)
            .field("rack", &self.rack)
            .field("feed", &self.feed)
            .finish()
    }
}

/// A settings problem, naming the field.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryError {
    pub field: &'static str,
    pub message: String,
}

impl PduEntry {
    /// Every field's name: an API body naming another is refused (a typo
    /// such as `comunity_write` must not fall back to the default quietly).
    pub const FIELDS: &'static [&'static str] = &[
        "device_id",
        "host",
        "snmp_port",
        "community_read",
        "community_write",
        "label",
        "enabled",
        "simulated",
        "seed",
        "probe",
        "poll_interval",
        "timeout",
        "retries",
        "max_varbinds",
        "metering_floor_w",
        "metering_floor_a",
        "protected_outlets",
        "serial",
        "rack",
        "feed",
    ];

    /// A simulated PDU (the demo's, carried into a new `pdus.json`).
    pub fn simulated(device_id: &str) -> Self {
        Self {
            device_id: device_id.to_owned(),
            host: String::new(),
            snmp_port: 161,
            community_read: None,
            community_write: None,
            label: None,
            enabled: true,
            simulated: true,
            seed: None,
            probe: false,
            poll_interval: None,
            timeout: None,
            retries: None,
            max_varbinds: None,
            metering_floor_w: None,
            metering_floor_a: None,
            protected_outlets: Vec::new(),
            serial: None,
            rack: None,
            feed: None,
        }
    }

    /// The same without the communities, for answers and pages.
    pub fn redacted(&self) -> Self {
        Self { community_read: None, community_write: None, ..self.clone() }
    }

    /// Check every field against its range; the first problem names its field.
    pub fn validate(&self) -> Result<DeviceId, EntryError> {
        let bad = |field: &'static str, message: String| Err(EntryError { field, message });
        let id = DeviceId::parse(&self.device_id).map_err(|message| EntryError { field: "device_id", message })?;
        if id.as_str() == "bridge" {
            return bad("device_id", "\"bridge\" is reserved for the bridge's own MQTT topics".into());
        }
        let host = self.host.trim();
        if !self.simulated {
            let fine = !host.is_empty()
                && host.len() <= 253
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
            if !fine {
                return bad("host", format!("{:?} is not a host name or IP address", self.host));
            }
        }
        if self.snmp_port == 0 {
            return bad("snmp_port", "the SNMP port must be 1 to 65535".into());
        }
        for (field, value) in [("community_read", &self.community_read), ("community_write", &self.community_write)] {
            if let Some(v) = value {
                if v.is_empty() || v.len() > 64 || v.chars().any(|c| c.is_control()) {
                    return bad(field, "a community is 1 to 64 characters without control characters".into());
                }
            }
        }
        if let Some(label) = &self.label {
            if label.chars().count() > 64 || label.chars().any(char::is_control) {
                return bad("label", "a label is at most 64 characters without control characters".into());
            }
        }
        let in_range = |field: &'static str, value: Option<f64>, low: f64, high: f64| match value {
            Some(v) if !(low..=high).contains(&v) || !v.is_finite() => {
                Err(EntryError { field, message: format!("{v} is out of range {low} to {high}") })
            }
            _ => Ok(()),
        };
        in_range("poll_interval", self.poll_interval, 0.1, 300.0)?;
        in_range("timeout", self.timeout, 0.1, 60.0)?;
        in_range("retries", self.retries.map(f64::from), 0.0, 10.0)?;
        in_range("max_varbinds", self.max_varbinds.map(|n| n as f64), 1.0, 64.0)?;
        in_range("metering_floor_w", self.metering_floor_w, 0.0, 100.0)?;
        in_range("metering_floor_a", self.metering_floor_a, 0.0, 5.0)?;
        if let Some(n) = self.protected_outlets.iter().find(|n| !(1..=64).contains(*n)) {
            return bad("protected_outlets", format!("outlet {n} is not 1 to 64"));
        }
        if let Some(rack) = &self.rack {
            if rack.is_empty() || rack.chars().count() > 64 || rack.chars().any(char::is_control) {
                return bad("rack", "a rack name is 1 to 64 characters without control characters".into());
            }
        }
        if self.feed.is_some() && self.rack.is_none() {
            return bad("feed", "a feed belongs to a rack: set rack too".into());
        }
        Ok(id)
    }

    /// `host:port` as SNMP reaches it, `None` for a simulated PDU.
    pub fn address(&self) -> Option<String> {
        if self.simulated {
            return None;
        }
        let host = self.host.trim();
        Some(if host.contains(':') {
            format!("[{host}]:{}", self.snmp_port)
        } else {
            format!("{host}:{}", self.snmp_port)
        })
    }
}

/// A PDU as `GET /api/pdus` shows it: its settings without secrets, and
/// how it is doing.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PduView {
    #[serde(flatten)]
    pub settings: PduEntry,
    /// `online`, `stale`, `unreachable`, `no data` or `disabled`.
    pub state: String,
    /// Why the last poll failed, if it did.
    #[serde(default)]
    pub last_error: Option<String>,
    /// A PDU with another serial than the one recorded answers at this
    /// address: it is not merged, and this says so.
    #[serde(default)]
    pub identity_mismatch: Option<String>,
    /// That other PDU's serial: `PUT` it as `serial` to accept it.
    #[serde(default)]
    pub answering_serial: Option<String>,
}

/// `POST /api/pdus/discover`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// IPv4 network, at most a /22 (`10.0.20.0/24`), or one address.
    pub cidr: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Read community; `public` when unset. Never echoed.
    #[serde(default)]
    pub community: Option<String>,
}

impl std::fmt::Debug for DiscoverRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoverRequest")
            .field("cidr", &self.cidr)
            .field("port", &self.port)
            .field("community", &format_args!("{}", if self.community.is_some() { "Some(\"***\")" } else { "None" }))
            .finish()
    }
}

/// A CyberPower PDU found by discovery.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    pub host: String,
    pub port: u16,
    pub model: String,
    pub serial: String,
    /// The PDU's own name (`ePDU2DeviceStatusName`-style identity).
    pub name: String,
    #[serde(default)]
    pub firmware: String,
    /// The device id this bridge already watches it as (by serial, else by
    /// address), if any.
    #[serde(default)]
    pub known_as: Option<String>,
}

/// What a discovery scan did.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoverResult {
    pub scanned: u32,
    pub found: Vec<Discovered>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_bridges_file_loads() {
        let text = r#"{"pdus": [
          {"device_id": "rack1-pdu", "host": "10.0.20.177", "snmp_port": 161,
           "community_read": "public", "community_write": "private",
           "label": "Main rack", "enabled": true},
          {"device_id": "rack2-pdu", "host": "10.0.20.178", "label": "Second rack"}]}"#;
        #[derive(Deserialize)]
        struct File {
            pdus: Vec<PduEntry>,
        }
        let file: File = serde_json::from_str(text).unwrap();
        assert_eq!(file.pdus.len(), 2);
        assert_eq!(file.pdus[1].snmp_port, 161);
        assert!(file.pdus[1].enabled);
        assert!(file.pdus.iter().all(|p| p.validate().is_ok()));
        assert_eq!(file.pdus[0].redacted().community_write, None);
        let all = serde_json::to_value(PduEntry {
            community_read: Some("r".into()),
            community_write: Some("w".into()),
            label: Some("l".into()),
            simulated: true,
            seed: Some(1),
            probe: true,
            poll_interval: Some(1.0),
            timeout: Some(1.0),
            retries: Some(1),
            max_varbinds: Some(1),
            metering_floor_w: Some(1.0),
            metering_floor_a: Some(0.1),
            protected_outlets: vec![1],
            serial: Some("s".into()),
            rack: Some("r".into()),
            feed: Some(Feed::A),
            ..PduEntry::simulated("a")
        })
        .unwrap();
        let mut names: Vec<&str> = all.as_object().unwrap().keys().map(String::as_str).collect();
        let mut listed = PduEntry::FIELDS.to_vec();
        names.sort();
        listed.sort();
        assert_eq!(names, listed, "FIELDS names every field");
        let shown = format!("{:?}", file.pdus[0]);
        assert!(!shown.contains("private") && shown.contains("***"), "{shown}");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut e = PduEntry::simulated("a");
        e.simulated = false;
        assert_eq!(e.validate().unwrap_err().field, "host");
        e.host = "10.0.0.1".into();
        e.poll_interval = Some(0.0);
        assert_eq!(e.validate().unwrap_err().field, "poll_interval");
        e.poll_interval = None;
        e.feed = Some(Feed::A);
        assert_eq!(e.validate().unwrap_err().field, "feed");
        e.feed = None;
        e.device_id = "Bad Id".into();
        assert_eq!(e.validate().unwrap_err().field, "device_id");
    }
}
