//! Configuration in two stages: [`RawSettings`] (every setting as text,
//! layered defaults ← env file ← environment ← command line) is validated
//! once into a typed [`Config`]. A bad setting stops start-up with a message
//! naming the setting, the value and what is allowed.
//!
//! Owns: setting names, defaults and limits. Library code never reads the
//! environment itself; `main` hands the environment in. The variable names of
//! the widely used Python bridge keep their meaning, so its `.env` files work
//! unchanged (`--env-file .env`). Secrets (SNMP communities) are wrapped in
//! [`Secret`], whose `Debug` and `Display` never show the value.

use crate::pdu::correct::{MeteringFloor, NamesError, OutletNames};
use app::model::DeviceId;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never reach a log line, a response or MQTT.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Settings as written by the user, by name; later layers win.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    values: BTreeMap<String, String>,
}

impl RawSettings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a layer; its values replace earlier ones.
    pub fn layer(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        self.values.extend(pairs);
        self
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.values.insert(key.to_owned(), value.to_owned());
        self
    }

    fn get(&self, key: &str) -> Option<&str> {
        // An empty assignment (`PDU_HOST=`) means "not set", as in the
        // Python bridge's dotenv handling.
        self.values.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// Parse a `.env` file: `KEY=value` lines, `#` comments, optional `export `,
/// optional single or double quotes around the value.
pub fn parse_env_file(path: &str, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::EnvFile {
                path: path.to_owned(),
                line: number + 1,
                message: "expected KEY=value".into(),
            });
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError::EnvFile {
                path: path.to_owned(),
                line: number + 1,
                message: format!("{key:?} is not a variable name"),
            });
        }
        let value = value.trim();
        let unquoted = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(open, close)| value.strip_prefix(*open).and_then(|v| v.strip_suffix(*close)))
            .unwrap_or(value);
        pairs.push((key.to_owned(), unquoted.to_owned()));
    }
    Ok(pairs)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {allowed}")]
    Invalid { name: &'static str, value: String, allowed: String },
    #[error("{path}, line {line}: {message}")]
    EnvFile { path: String, line: usize, message: String },
    #[error("{0}")]
    OutletNames(#[from] NamesError),
    #[error("{path}: {message}")]
    PdusFile { path: String, message: String },
    /// A notification setting (`BRIDGE_NOTIFY_*`, `BRIDGE_SMTP_*`), named in the text.
    #[error("{0}")]
    Notify(String),
}

/// Where one PDU's readings come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceKind {
    /// The simulated PDU44001, in-process.
    /// `probe`: with an environment probe plugged in.
    Simulated { seed: u64, probe: bool },
    /// A real PDU over SNMP v2c.
    Snmp { host: String, port: u16, community_read: Secret, community_write: Secret },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceConfig {
    pub id: DeviceId,
    pub label: Option<String>,
    pub kind: DeviceKind,
    pub poll_interval: Duration,
    pub snmp_timeout: Duration,
    pub snmp_retries: u32,
    /// Varbinds per GET to start with (the client halves it on failures).
    pub max_varbinds: usize,
    pub floor: MeteringFloor,
    pub outlet_names: OutletNames,
    /// Where the outlet names live: written on a rename, read again when it
    /// changes.
    pub names_file: PathBuf,
    /// `rules.json` of this PDU.
    pub rules_file: PathBuf,
    /// Outlets rules never switch off (the router, the bridge's own host).
    pub protected: Vec<u32>,
    /// A/B pairing: the rack this PDU feeds and which feed it is.
    pub rack: Option<String>,
    pub feed: Option<app::fleet::Feed>,
    /// The serial this PDU had when it was added: a different PDU at its
    /// address is refused, never merged into its history.
    pub expected_serial: Option<String>,
}

impl DeviceConfig {
    pub fn is_simulated(&self) -> bool {
        matches!(self.kind, DeviceKind::Simulated { .. })
    }

    /// How long one poll may take before it counts as missed: every try of
    /// the request, as SNMP would make them.
    pub fn poll_deadline(&self) -> Duration {
        self.snmp_timeout * (self.snmp_retries + 1)
    }
}

/// Where MQTT messages go.
#[derive(Clone, Debug, PartialEq)]
pub enum MqttMode {
    /// `MQTT_BROKER=none`.
    Off,
    /// No `MQTT_BROKER`: a broker inside the bridge, listening on `bind`.
    Embedded { bind: SocketAddr, broker: BrokerSecurity },
    /// `MQTT_BROKER=host`.
    External { host: String, port: u16, username: Option<String>, password: Option<Secret>, tls: Option<MqttTls> },
}

/// TLS to an external broker: the CA to trust, and an optional client
/// certificate with its key (PEM files).
#[derive(Clone, Debug, PartialEq)]
pub struct MqttTls {
    pub ca_file: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Who may use the embedded broker, and over what. On loopback only the
/// machine's own users reach it and anonymous clients are fine; beyond
/// loopback every client must sign in with one of these accounts.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BrokerSecurity {
    /// Password of the `viewer` account: subscribe only
    /// (`BRIDGE_MQTT_VIEWER_PASSWORD`; unset = no such account).
    pub viewer_password: Option<Secret>,
    /// Password of the `operator` account: may also command outlets
    /// (`BRIDGE_MQTT_OPERATOR_PASSWORD`; unset = no such account).
    pub operator_password: Option<Secret>,
    /// Certificate chain and key (PEM) to serve MQTT over TLS
    /// (`BRIDGE_MQTT_BROKER_CERT_FILE`, `BRIDGE_MQTT_BROKER_KEY_FILE`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Clients must sign in even on loopback (`BRIDGE_MQTT_REQUIRE_ACCOUNTS`):
    /// for a machine whose other users should not switch outlets, and for
    /// tests, which may not listen beyond loopback.
    pub require_accounts: bool,
}

impl BrokerSecurity {
    /// Whether clients must sign in: the broker listens beyond loopback,
    /// or the setting says so.
    pub fn accounts_required(&self, bind: &SocketAddr) -> bool {
        self.require_accounts || !bind.ip().is_loopback()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MqttConfig {
    pub mode: MqttMode,
    /// Topic base (`pdu`): `{base}/{device}/…`.
    pub base: String,
    /// Home Assistant discovery prefix; `None` turns discovery off.
    pub discovery_prefix: Option<String>,
    /// Every per-metric topic is republished at least this often.
    pub refresh: Duration,
    /// The dashboard's address, for Home Assistant's `configuration_url`.
    pub dashboard_url: String,
    /// This bridge's name on the broker (`BRIDGE_ID`; default host name and
    /// web port): its client id `pdu-bridge-{id}` and its last will on
    /// `{base}/bridge/{id}/status`, so bridges sharing a broker never meet.
    pub bridge_id: String,
}

/// Who may do what, and for how long a sign-in lasts.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    /// Users, sessions, tokens and the audit log (`BRIDGE_AUTH_DB`); kept
    /// apart from history so a replaced history store loses no accounts.
    pub db: PathBuf,
    /// The first admin's password when no user exists yet
    /// (`BRIDGE_ADMIN_PASSWORD`); unset = a random one, saved to
    /// `<data dir>/initial-admin-password`, readable by the owner only.
    pub admin_password: Option<Secret>,
    /// Anyone may look without signing in (`BRIDGE_ANONYMOUS_READ`), for
    /// wall displays; never switch.
    pub anonymous_read: bool,
    /// A session unused this long ends (`BRIDGE_SESSION_IDLE_HOURS`).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not
    /// (`BRIDGE_SESSION_MAX_DAYS`).
    pub session_max: Duration,
    /// Other sites whose pages may call the API with a token
    /// (`BRIDGE_CORS_ORIGINS`); empty = CORS closed.
    pub cors_origins: Vec<String>,
}

/// HTTPS for the dashboard and API: certificate chain and key (PEM),
/// reloaded when the files change.
#[derive(Clone, Debug, PartialEq)]
pub struct WebTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The validated runtime configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The PDUs polled at start (from `pdus.json` when it exists, else the
    /// single-PDU settings).
    pub devices: Vec<DeviceConfig>,
    /// `pdus.json` and what new PDUs start from.
    pub fleet: FleetConfig,
    pub mqtt: MqttConfig,
    /// No PDU configured: the bridge runs on the simulated PDU and says so.
    pub demo: bool,
    pub web_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log_level: tracing::Level,
    /// Time zone rules are evaluated in (IANA name); `None` = the system's.
    pub time_zone: Option<String>,
    /// The history database (`BRIDGE_HISTORY_DB`).
    pub history_db: PathBuf,
    /// Raw samples older than this are deleted (rollups are kept).
    pub retention_days: u32,
    /// Events older than this are deleted (`BRIDGE_EVENTS_RETENTION_DAYS`, at least 90).
    pub events_retention_days: u32,
    /// Price of a kWh for reports (`BRIDGE_PRICE_PER_KWH`), and its currency.
    pub price_per_kwh: Option<f64>,
    pub currency: String,
    /// Simulated PDUs with an empty history get this many days of simulated
    /// history at start (`BRIDGE_DEMO_HISTORY_DAYS`, demo only; 0 = none).
    pub demo_history_days: u32,
    /// Serve the site from this folder instead of the copy built into the
    /// binary (for front-end work).
    pub site_root: Option<PathBuf>,
    /// Host names the dashboard answers to besides `localhost`, this
    /// machine's name and IP literals (`BRIDGE_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    pub auth: AuthConfig,
    /// `BRIDGE_TLS_CERT` and `BRIDGE_TLS_KEY`; `None` = plain HTTP.
    pub tls: Option<WebTls>,
    /// Where alarm notifications go (`BRIDGE_NOTIFY_WEBHOOK_*`,
    /// `BRIDGE_SMTP_*`, `BRIDGE_NOTIFY_EMAIL_*`); none by default.
    pub notify: crate::notifications::NotifyConfig,
}

/// Several PDUs: `pdus.json` (`BRIDGE_PDUS_FILE`), compatible with the
/// Python bridge's file.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    pub file: PathBuf,
    /// The file's entries, enabled or not; `None` while it does not exist
    /// (the single-PDU settings apply).
    pub entries: Option<Vec<app::fleet::PduEntry>>,
    /// The PDUs polled at start.
    pub devices: Vec<DeviceConfig>,
    pub defaults: DeviceDefaults,
    /// The single-PDU setup's outlet names file (carried into a new fleet).
    pub single_names: PathBuf,
}

/// What a PDU of `pdus.json` takes from the environment unless its entry
/// says otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceDefaults {
    pub poll_interval: Duration,
    pub snmp_timeout: Duration,
    pub snmp_retries: u32,
    pub max_varbinds: usize,
    pub floor: MeteringFloor,
    pub data_dir: PathBuf,
}

/// A `pdus.json` entry that cannot be used, naming the device and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("PDU {device_id:?}: {field}: {message}")]
pub struct EntryProblem {
    pub device_id: String,
    pub field: &'static str,
    pub message: String,
}

impl DeviceDefaults {
    /// The run-time settings of one `pdus.json` entry; its rules live in
    /// `rules-{id}.json` and its outlet names in `outlet_names-{id}.json`
    /// in the data directory.
    pub fn device(&self, entry: &app::fleet::PduEntry) -> Result<DeviceConfig, EntryProblem> {
        let problem =
            |field: &'static str, message: String| EntryProblem { device_id: entry.device_id.clone(), field, message };
        let id = entry.validate().map_err(|e| problem(e.field, e.message))?;
        let kind = if entry.simulated {
            // Unless set, a seed from the id: each simulated PDU differs, and stays the same across restarts.
            let from_id = || id.as_str().bytes().fold(1u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            DeviceKind::Simulated { seed: entry.seed.unwrap_or_else(from_id), probe: entry.probe }
        } else {
            DeviceKind::Snmp {
                host: entry.host.trim().to_owned(),
                port: entry.snmp_port,
                community_read: Secret(entry.community_read.clone().unwrap_or_else(|| "public".into())),
                community_write: Secret(entry.community_write.clone().unwrap_or_else(|| "private".into())),
            }
        };
        let names_file = self.data_dir.join(format!("outlet_names-{id}.json"));
        let outlet_names = OutletNames::load(&names_file).map_err(|e| problem("outlet names", e.to_string()))?;
        let secs = |value: Option<f64>, default: Duration| value.map(Duration::from_secs_f64).unwrap_or(default);
        Ok(DeviceConfig {
            label: entry.label.clone(),
            kind,
            poll_interval: secs(entry.poll_interval, self.poll_interval),
            snmp_timeout: secs(entry.timeout, self.snmp_timeout),
            snmp_retries: entry.retries.unwrap_or(self.snmp_retries),
            max_varbinds: entry.max_varbinds.unwrap_or(self.max_varbinds),
            floor: MeteringFloor {
                power_w: entry.metering_floor_w.unwrap_or(self.floor.power_w),
                current_a: entry.metering_floor_a.unwrap_or(self.floor.current_a),
            },
            outlet_names,
            names_file,
            rules_file: self.data_dir.join(format!("rules-{id}.json")),
            protected: entry.protected_outlets.clone(),
            rack: entry.rack.clone(),
            feed: entry.feed,
            expected_serial: entry.serial.clone(),
            id,
        })
    }
}

/// `pdus.json` as the Python bridge writes it: `{"pdus": [...]}`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PdusFile {
    pub pdus: Vec<app::fleet::PduEntry>,
}

/// The entries of `path`, `None` when there is no such file. Two entries
/// with one device id are refused.
pub fn load_pdus_file(path: &std::path::Path) -> Result<Option<Vec<app::fleet::PduEntry>>, ConfigError> {
    let problem = |message: String| ConfigError::PdusFile { path: path.display().to_string(), message };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(problem(format!("cannot read it: {e}"))),
    };
    let file: PdusFile =
        serde_json::from_str(&text).map_err(|e| problem(format!("not a PDU list ({{\"pdus\": [...]}}): {e}")))?;
    let mut seen = std::collections::HashSet::new();
    for entry in &file.pdus {
        if let Err(e) = entry.validate() {
            return Err(problem(format!("PDU {:?}: {}: {}", entry.device_id, e.field, e.message)));
        }
        if !seen.insert(entry.device_id.as_str()) {
            return Err(problem(format!("device id {:?} is listed twice", entry.device_id)));
        }
    }
    Ok(Some(file.pdus))
}

/// Events are kept at least this long (and by default exactly this long).
pub const MIN_EVENTS_RETENTION_DAYS: u32 = 90;

fn invalid(name: &'static str, value: &str, allowed: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, value: value.to_owned(), allowed: allowed.into() }
}

fn number<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    raw: &RawSettings,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let Some(text) = raw.get(name) else { return Ok(default) };
    match text.parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(invalid(name, text, format!("a number from {min} to {max}"))),
    }
}

fn seconds(raw: &RawSettings, name: &'static str, default: f64, min: f64, max: f64) -> Result<Duration, ConfigError> {
    let v: f64 = number(raw, name, default, min, max)?;
    if !v.is_finite() {
        return Err(invalid(name, raw.get(name).unwrap_or_default(), format!("seconds from {min} to {max}")));
    }
    Ok(Duration::from_secs_f64(v))
}

fn boolean(raw: &RawSettings, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    let Some(text) = raw.get(name) else { return Ok(default) };
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(name, text, "true or false")),
    }
}

fn protected_outlets(raw: &RawSettings) -> Result<Vec<u32>, ConfigError> {
    let Some(text) = raw.get("BRIDGE_PROTECTED_OUTLETS") else { return Ok(Vec::new()) };
    text.split(',')
        .map(|n| n.trim().parse::<u32>().ok().filter(|n| *n > 0))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| invalid("BRIDGE_PROTECTED_OUTLETS", text, "outlet numbers separated by commas, e.g. 1,2"))
}

fn log_level(raw: &RawSettings) -> Result<tracing::Level, ConfigError> {
    let Some(text) = raw.get("BRIDGE_LOG_LEVEL") else { return Ok(tracing::Level::INFO) };
    // The Python bridge's names (WARNING, CRITICAL) are accepted too.
    match text.to_ascii_lowercase().as_str() {
        "trace" => Ok(tracing::Level::TRACE),
        "debug" => Ok(tracing::Level::DEBUG),
        "info" => Ok(tracing::Level::INFO),
        "warn" | "warning" => Ok(tracing::Level::WARN),
        "error" | "critical" => Ok(tracing::Level::ERROR),
        _ => Err(invalid("BRIDGE_LOG_LEVEL", text, "error, warn, info, debug or trace")),
    }
}

/// A topic level prefix: no wildcards, no empty levels, no leading or
/// trailing `/`.
fn topic_prefix(raw: &RawSettings, name: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = raw.get(name).unwrap_or(default);
    let ok = !value.is_empty() && !value.contains(['+', '#', ' ']) && value.split('/').all(|level| !level.is_empty());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(name, value, "topic levels without '+', '#', spaces or empty levels, e.g. \"pdu\""))
    }
}

fn existing_file(raw: &RawSettings, name: &'static str) -> Result<Option<PathBuf>, ConfigError> {
    match raw.get(name) {
        None => Ok(None),
        Some(path) if PathBuf::from(path).is_file() => Ok(Some(PathBuf::from(path))),
        Some(path) => Err(invalid(name, path, "an existing PEM file")),
    }
}

/// A password setting: at least 8 characters, no control characters.
fn password(raw: &RawSettings, name: &'static str) -> Result<Option<Secret>, ConfigError> {
    match raw.get(name) {
        None => Ok(None),
        Some(p) if p.chars().count() >= 8 && !p.chars().any(char::is_control) => Ok(Some(Secret(p.to_owned()))),
        // The value itself is a secret: never echo it.
        Some(_) => Err(invalid(name, "***", "at least 8 characters, no control characters")),
    }
}

/// Two files that only make sense together (a certificate and its key).
fn file_pair(
    raw: &RawSettings,
    first: &'static str,
    second: &'static str,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (existing_file(raw, first)?, existing_file(raw, second)?) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        (Some(a), None) => Err(invalid(first, &a.display().to_string(), format!("set together with {second}"))),
        (None, Some(b)) => Err(invalid(second, &b.display().to_string(), format!("set together with {first}"))),
    }
}

fn auth_config(raw: &RawSettings, data_dir: &std::path::Path) -> Result<AuthConfig, ConfigError> {
    let hours: f64 = number(raw, "BRIDGE_SESSION_IDLE_HOURS", 24.0, 0.05, 24.0 * 90.0)?;
    let days: f64 = number(raw, "BRIDGE_SESSION_MAX_DAYS", 30.0, 0.01, 365.0)?;
    let cors_origins = match raw.get("BRIDGE_CORS_ORIGINS") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let scheme = o.starts_with("https://") || o.starts_with("http://");
                let rest = o.split_once("://").map(|(_, r)| r).unwrap_or("");
                if scheme && !rest.is_empty() && !rest.contains(['/', ' ', '*']) {
                    Ok(o.to_owned())
                } else {
                    Err(invalid(
                        "BRIDGE_CORS_ORIGINS",
                        list,
                        "origins separated by commas, such as https://grafana.example.net (no paths, no *)",
                    ))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(AuthConfig {
        db: raw.get("BRIDGE_AUTH_DB").map(PathBuf::from).unwrap_or_else(|| data_dir.join("auth.db")),
        admin_password: password(raw, "BRIDGE_ADMIN_PASSWORD")?,
        anonymous_read: boolean(raw, "BRIDGE_ANONYMOUS_READ", false)?,
        session_idle: Duration::from_secs_f64(hours * 3600.0),
        session_max: Duration::from_secs_f64(days * 86400.0),
        cors_origins,
    })
}

fn mqtt_tls(raw: &RawSettings) -> Result<Option<MqttTls>, ConfigError> {
    let ca = existing_file(raw, "BRIDGE_MQTT_TLS_CA_FILE")?;
    let cert = existing_file(raw, "BRIDGE_MQTT_TLS_CERT_FILE")?;
    let key = existing_file(raw, "BRIDGE_MQTT_TLS_KEY_FILE")?;
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(cert), None) => {
            return Err(invalid(
                "BRIDGE_MQTT_TLS_CERT_FILE",
                &cert.display().to_string(),
                "set together with BRIDGE_MQTT_TLS_KEY_FILE",
            ))
        }
        (None, Some(key)) => {
            return Err(invalid(
                "BRIDGE_MQTT_TLS_KEY_FILE",
                &key.display().to_string(),
                "set together with BRIDGE_MQTT_TLS_CERT_FILE",
            ))
        }
    };
    match (ca, client) {
        (Some(ca_file), client) => Ok(Some(MqttTls { ca_file, client })),
        (None, None) => Ok(None),
        (None, Some((cert, _))) => Err(invalid(
            "BRIDGE_MQTT_TLS_CERT_FILE",
            &cert.display().to_string(),
            "a client certificate needs BRIDGE_MQTT_TLS_CA_FILE (TLS to the broker)",
        )),
    }
}

/// The host's name and the web port, in device-id letters: two bridges on
/// one machine listen on different ports.
fn default_bridge_id(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(48)
        .collect();
    let host = if host.is_empty() { "host".to_owned() } else { host };
    match port {
        // A port chosen at start (tests): the process tells bridges apart.
        0 => format!("{host}-p{}", std::process::id()),
        port => format!("{host}-{port}"),
    }
}

fn mqtt_config(raw: &RawSettings, web_addr: SocketAddr) -> Result<MqttConfig, ConfigError> {
    let port: u16 = number(raw, "MQTT_PORT", 1883, 1, u16::MAX)?;
    let mode = match raw.get("MQTT_BROKER") {
        Some(none) if none.eq_ignore_ascii_case("none") => MqttMode::Off,
        Some(host) => MqttMode::External {
            host: host.to_owned(),
            port,
            username: raw.get("MQTT_USERNAME").map(str::to_owned),
            password: raw.get("MQTT_PASSWORD").map(|p| Secret(p.to_owned())),
            tls: mqtt_tls(raw)?,
        },
        None => {
            let text = raw.get("BRIDGE_MQTT_BIND").unwrap_or("127.0.0.1");
            let ip: IpAddr = text
                .parse()
                .map_err(|_| invalid("BRIDGE_MQTT_BIND", text, "an IP address such as 127.0.0.1 or 0.0.0.0"))?;
            let broker = BrokerSecurity {
                viewer_password: password(raw, "BRIDGE_MQTT_VIEWER_PASSWORD")?,
                operator_password: password(raw, "BRIDGE_MQTT_OPERATOR_PASSWORD")?,
                tls: file_pair(raw, "BRIDGE_MQTT_BROKER_CERT_FILE", "BRIDGE_MQTT_BROKER_KEY_FILE")?,
                require_accounts: boolean(raw, "BRIDGE_MQTT_REQUIRE_ACCOUNTS", false)?,
            };
            MqttMode::Embedded { bind: SocketAddr::new(ip, port), broker }
        }
    };
    let base = topic_prefix(raw, "BRIDGE_MQTT_BASE", "pdu")?;
    let discovery_prefix = if boolean(raw, "BRIDGE_HA_DISCOVERY", true)? {
        let prefix = topic_prefix(raw, "BRIDGE_HA_DISCOVERY_PREFIX", "homeassistant")?;
        if prefix == base {
            return Err(invalid(
                "BRIDGE_HA_DISCOVERY_PREFIX",
                &prefix,
                "a prefix other than the topic base (BRIDGE_MQTT_BASE)",
            ));
        }
        Some(prefix)
    } else {
        None
    };
    let host = if web_addr.ip().is_unspecified() { "localhost".to_owned() } else { web_addr.ip().to_string() };
    let bridge_id = match raw.get("BRIDGE_ID") {
        Some(id) => DeviceId::parse(id).map_err(|why| invalid("BRIDGE_ID", id, why))?.to_string(),
        None => default_bridge_id(web_addr.port()),
    };
    Ok(MqttConfig {
        bridge_id,
        mode,
        base,
        discovery_prefix,
        refresh: seconds(raw, "BRIDGE_MQTT_REFRESH", 60.0, 1.0, 3600.0)?,
        dashboard_url: raw
            .get("BRIDGE_PUBLIC_URL")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http://{host}:{}/", web_addr.port())),
    })
}

impl Config {
    /// The zone local times are in (rules, days, reports): `BRIDGE_TIMEZONE`
    /// or the system's.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        self.time_zone
            .as_deref()
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
            .unwrap_or_else(jiff::tz::TimeZone::system)
    }

    pub fn validate(raw: &RawSettings) -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(raw.get("BRIDGE_DATA_DIR").unwrap_or("./data"));

        let id_text = raw.get("PDU_DEVICE_ID").unwrap_or("pdu44001");
        let id = DeviceId::parse(id_text).map_err(|why| invalid("PDU_DEVICE_ID", id_text, why))?;
        let mock = boolean(raw, "BRIDGE_MOCK_MODE", false)?;
        let host = raw.get("PDU_HOST");
        let port: u16 = number(raw, "PDU_SNMP_PORT", 161, 1, u16::MAX)?;
        let demo = host.is_none();
        let kind = match host {
            Some(host) if !mock => DeviceKind::Snmp {
                host: host.to_owned(),
                port,
                community_read: Secret(raw.get("PDU_COMMUNITY_READ").unwrap_or("public").to_owned()),
                community_write: Secret(raw.get("PDU_COMMUNITY_WRITE").unwrap_or("private").to_owned()),
            },
            _ => DeviceKind::Simulated {
                seed: number(raw, "BRIDGE_SIM_SEED", 1, 0, u64::MAX)?,
                probe: boolean(raw, "BRIDGE_SIM_PROBE", false)?,
            },
        };

        let floor = MeteringFloor {
            power_w: number(raw, "BRIDGE_METER_FLOOR_W", 1.0, 0.0, 100.0)?,
            current_a: number(raw, "BRIDGE_METER_FLOOR_A", 0.2, 0.0, 5.0)?,
        };
        let single_names = raw
            .get("BRIDGE_OUTLET_NAMES_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("outlet_names.json"));
        let outlet_names = match raw.get("BRIDGE_OUTLET_NAMES_FILE") {
            // Named explicitly: it must exist.
            Some(path) => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(invalid(
                        "BRIDGE_OUTLET_NAMES_FILE",
                        &path.display().to_string(),
                        "an existing JSON file",
                    ));
                }
                OutletNames::load(&path)?
            }
            None => OutletNames::load(&data_dir.join("outlet_names.json"))?,
        };
        let device = DeviceConfig {
            id,
            label: raw.get("PDU_LABEL").map(str::to_owned),
            kind,
            poll_interval: seconds(raw, "BRIDGE_POLL_INTERVAL", 1.0, 0.1, 300.0)?,
            snmp_timeout: seconds(raw, "BRIDGE_SNMP_TIMEOUT", 2.0, 0.1, 60.0)?,
            snmp_retries: number(raw, "BRIDGE_SNMP_RETRIES", 1, 0, 10)?,
            // Some CyberPower firmware fails a GET with 13 or more varbinds.
            max_varbinds: number(raw, "BRIDGE_SNMP_MAX_VARBINDS", 10, 1, 64)?,
            floor,
            outlet_names,
            names_file: single_names.clone(),
            rules_file: raw.get("BRIDGE_RULES_FILE").map(PathBuf::from).unwrap_or_else(|| data_dir.join("rules.json")),
            protected: protected_outlets(raw)?,
            rack: None,
            feed: None,
            expected_serial: None,
        };
        let defaults = DeviceDefaults {
            poll_interval: device.poll_interval,
            snmp_timeout: device.snmp_timeout,
            snmp_retries: device.snmp_retries,
            max_varbinds: device.max_varbinds,
            floor: device.floor,
            data_dir: data_dir.clone(),
        };
        let pdus_file = raw.get("BRIDGE_PDUS_FILE").map(PathBuf::from).unwrap_or_else(|| data_dir.join("pdus.json"));
        let fleet = match load_pdus_file(&pdus_file)? {
            Some(entries) => {
                let devices = entries
                    .iter()
                    .filter(|e| e.enabled)
                    .map(|e| {
                        defaults.device(e).map_err(|e| ConfigError::PdusFile {
                            path: pdus_file.display().to_string(),
                            message: e.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                FleetConfig { file: pdus_file, entries: Some(entries), devices, defaults, single_names }
            }
            None => FleetConfig { file: pdus_file, entries: None, devices: vec![device], defaults, single_names },
        };

        let bind_text = raw.get("BRIDGE_WEB_BIND").unwrap_or("127.0.0.1");
        let bind: IpAddr = bind_text
            .parse()
            .map_err(|_| invalid("BRIDGE_WEB_BIND", bind_text, "an IP address such as 127.0.0.1 or 0.0.0.0"))?;
        let web_port: u16 = number(raw, "BRIDGE_WEB_PORT", 8080, 0, u16::MAX)?;

        let web_addr = SocketAddr::new(bind, web_port);
        let mqtt = mqtt_config(raw, web_addr)?;

        let site_root = match raw.get("BRIDGE_SITE_ROOT") {
            Some(dir) if !PathBuf::from(dir).is_dir() => {
                return Err(invalid("BRIDGE_SITE_ROOT", dir, "an existing folder holding pkg/"))
            }
            other => other.map(PathBuf::from),
        };

        let time_zone = match raw.get("BRIDGE_TIMEZONE") {
            Some(name) => {
                jiff::tz::TimeZone::get(name)
                    .map_err(|_| invalid("BRIDGE_TIMEZONE", name, "an IANA time zone such as Europe/Berlin"))?;
                Some(name.to_owned())
            }
            None => None,
        };
        let history_db = raw.get("BRIDGE_HISTORY_DB").map(PathBuf::from).unwrap_or_else(|| data_dir.join("history.db"));
        let retention_days = number(raw, "HISTORY_RETENTION_DAYS", 60, 1, 3650)?;
        let events_retention_days =
            number(raw, "BRIDGE_EVENTS_RETENTION_DAYS", MIN_EVENTS_RETENTION_DAYS, MIN_EVENTS_RETENTION_DAYS, 3650)?;
        let price_per_kwh = match raw.get("BRIDGE_PRICE_PER_KWH") {
            Some(_) => Some(number(raw, "BRIDGE_PRICE_PER_KWH", 0.0, 0.0, 1_000.0)?),
            None => None,
        };
        let currency = raw.get("BRIDGE_CURRENCY").unwrap_or_default().trim().to_owned();
        if currency.chars().count() > 8 || currency.chars().any(char::is_control) {
            return Err(invalid("BRIDGE_CURRENCY", &currency, "a short currency sign or code such as EUR or $"));
        }
        let demo_history_days = number(raw, "BRIDGE_DEMO_HISTORY_DAYS", 0, 0, 60)?;
        let allowed_hosts = match raw.get("BRIDGE_ALLOWED_HOSTS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .map(|n| {
                    let fine = n.len() <= 253 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                    if fine {
                        Ok(n)
                    } else {
                        Err(invalid(
                            "BRIDGE_ALLOWED_HOSTS",
                            list,
                            "host names separated by commas, such as pdu.example.net",
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let auth = auth_config(raw, &data_dir)?;
        let tls = file_pair(raw, "BRIDGE_TLS_CERT", "BRIDGE_TLS_KEY")?.map(|(cert, key)| WebTls { cert, key });
        let notify = crate::notifications::NotifyConfig::from_vars(|name| raw.get(name).map(str::to_owned))
            .map_err(ConfigError::Notify)?;
        Ok(Config {
            auth,
            tls,
            notify,
            devices: fleet.devices.clone(),
            demo: demo && fleet.entries.is_none(),
            fleet,
            mqtt,
            web_addr,
            data_dir,
            log_level: log_level(raw)?,
            time_zone,
            history_db,
            retention_days,
            events_retention_days,
            price_per_kwh,
            currency,
            demo_history_days,
            site_root,
            allowed_hosts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = RawSettings::new().set("BRIDGE_DATA_DIR", dir.path().to_str().unwrap());
        for (k, v) in pairs {
            raw = raw.set(k, v);
        }
        Config::validate(&raw)
    }

    #[test]
    fn defaults_give_a_demo_on_the_simulated_pdu() {
        let config = validate(&[]).unwrap();
        assert!(config.demo);
        let device = &config.devices[0];
        assert_eq!(device.id.as_str(), "pdu44001");
        assert!(device.is_simulated());
        assert_eq!(device.poll_interval, Duration::from_secs(1));
        assert_eq!(device.poll_deadline(), Duration::from_secs(4));
        assert_eq!(device.floor, MeteringFloor { power_w: 1.0, current_a: 0.2 });
        assert_eq!(config.web_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.log_level, tracing::Level::INFO);
    }

    #[test]
    fn bad_values_name_the_setting_the_value_and_what_is_allowed() {
        let cases = [
            ("BRIDGE_POLL_INTERVAL", "0.05", "0.1 to 300"),
            ("BRIDGE_POLL_INTERVAL", "fast", "0.1 to 300"),
            ("BRIDGE_WEB_PORT", "70000", "0 to 65535"),
            ("PDU_DEVICE_ID", "Rack/1", "allowed are"),
            ("BRIDGE_MOCK_MODE", "maybe", "true or false"),
            ("BRIDGE_LOG_LEVEL", "loud", "error, warn"),
            ("BRIDGE_WEB_BIND", "localhost:1", "IP address"),
            ("BRIDGE_SNMP_RETRIES", "-1", "0 to 10"),
            ("BRIDGE_TIMEZONE", "Mars/Olympus", "IANA time zone"),
            ("BRIDGE_PRICE_PER_KWH", "-0.3", "a number from 0 to 1000"),
            ("BRIDGE_PRICE_PER_KWH", "NaN", "a number from 0 to 1000"),
            ("BRIDGE_DEMO_HISTORY_DAYS", "90", "a number from 0 to 60"),
            ("BRIDGE_PROTECTED_OUTLETS", "1,x", "outlet numbers"),
        ];
        for (name, value, allowed) in cases {
            let message = validate(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name) && message.contains(value) && message.contains(allowed), "{message}");
        }
    }

    #[test]
    fn mqtt_defaults_to_the_embedded_broker_and_can_be_external_or_off() {
        let config = validate(&[]).unwrap();
        assert_eq!(
            config.mqtt.mode,
            MqttMode::Embedded { bind: "127.0.0.1:1883".parse().unwrap(), broker: BrokerSecurity::default() }
        );
        assert_eq!(
            (config.mqtt.base.as_str(), config.mqtt.discovery_prefix.as_deref()),
            ("pdu", Some("homeassistant"))
        );
        assert_eq!(config.mqtt.refresh, Duration::from_secs(60));

        let config =
            validate(&[("MQTT_BROKER", "broker.lan"), ("MQTT_USERNAME", "u"), ("MQTT_PASSWORD", "pw-s3cret")]).unwrap();
        match &config.mqtt.mode {
            MqttMode::External { host, port, username, password, tls: None } => {
                assert_eq!((host.as_str(), *port, username.as_deref()), ("broker.lan", 1883, Some("u")));
                assert_eq!(password.as_ref().map(Secret::expose), Some("pw-s3cret"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{config:?}").contains("pw-s3cret"));
        assert_eq!(validate(&[("MQTT_BROKER", "none")]).unwrap().mqtt.mode, MqttMode::Off);
        assert_eq!(validate(&[("BRIDGE_HA_DISCOVERY", "false")]).unwrap().mqtt.discovery_prefix, None);
    }

    #[test]
    fn mqtt_tls_files_must_exist_and_come_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pem");
        std::fs::write(&path, "-----").unwrap();
        let pem = path.to_str().unwrap();
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("MQTT_BROKER", "broker.lan")];
            pairs.extend_from_slice(extra);
            validate(&pairs)
        };
        let config = with(&[("BRIDGE_MQTT_TLS_CA_FILE", pem)]).unwrap();
        assert!(matches!(config.mqtt.mode, MqttMode::External { tls: Some(MqttTls { client: None, .. }), .. }));
        let message = with(&[("BRIDGE_MQTT_TLS_CA_FILE", "/nonexistent.pem")]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_MQTT_TLS_CA_FILE") && message.contains("existing PEM file"), "{message}");
        let message =
            with(&[("BRIDGE_MQTT_TLS_CA_FILE", pem), ("BRIDGE_MQTT_TLS_CERT_FILE", pem)]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_MQTT_TLS_KEY_FILE"), "{message}");
        let message =
            with(&[("BRIDGE_MQTT_TLS_CERT_FILE", pem), ("BRIDGE_MQTT_TLS_KEY_FILE", pem)]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_MQTT_TLS_CA_FILE"), "{message}");
    }

    #[test]
    fn broker_accounts_are_required_beyond_loopback_and_their_passwords_stay_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "-----").unwrap();
        std::fs::write(&key, "-----").unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let config = validate(&[
            ("BRIDGE_MQTT_BIND", "0.0.0.0"),
            ("BRIDGE_MQTT_VIEWER_PASSWORD", "look-s3cret"),
            ("BRIDGE_MQTT_OPERATOR_PASSWORD", "switch-s3cret"),
            ("BRIDGE_MQTT_BROKER_CERT_FILE", cert),
            ("BRIDGE_MQTT_BROKER_KEY_FILE", key),
        ])
        .unwrap();
        let MqttMode::Embedded { bind, broker } = &config.mqtt.mode else { panic!("{:?}", config.mqtt.mode) };
        assert_eq!(broker.viewer_password.as_ref().map(Secret::expose), Some("look-s3cret"));
        assert_eq!(broker.operator_password.as_ref().map(Secret::expose), Some("switch-s3cret"));
        assert_eq!(broker.tls, Some((cert.into(), key.into())));
        assert!(broker.accounts_required(bind), "0.0.0.0 is beyond loopback");
        assert!(!format!("{config:?}").contains("s3cret"), "passwords stay out of Debug output");

        let MqttMode::Embedded { bind, broker } = validate(&[]).unwrap().mqtt.mode else { panic!() };
        assert!(!broker.accounts_required(&bind), "loopback stays open, as before");
        let config = validate(&[("BRIDGE_MQTT_REQUIRE_ACCOUNTS", "true")]).unwrap();
        let MqttMode::Embedded { bind, broker } = config.mqtt.mode else { panic!() };
        assert!(broker.accounts_required(&bind), "forced on loopback");

        let message = validate(&[("BRIDGE_MQTT_VIEWER_PASSWORD", "short-1")]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_MQTT_VIEWER_PASSWORD") && message.contains("at least 8"), "{message}");
        assert!(!message.contains("short-1"), "a bad password is not echoed: {message}");
        let message = validate(&[("BRIDGE_MQTT_BROKER_CERT_FILE", cert)]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_MQTT_BROKER_KEY_FILE"), "{message}");
    }

    #[test]
    fn https_needs_both_the_certificate_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "-----").unwrap();
        std::fs::write(&key, "-----").unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        assert_eq!(validate(&[]).unwrap().tls, None);
        let config = validate(&[("BRIDGE_TLS_CERT", cert), ("BRIDGE_TLS_KEY", key)]).unwrap();
        assert_eq!(config.tls, Some(WebTls { cert: cert.into(), key: key.into() }));
        for alone in [("BRIDGE_TLS_CERT", cert), ("BRIDGE_TLS_KEY", key)] {
            let message = validate(&[alone]).unwrap_err().to_string();
            assert!(message.contains("BRIDGE_TLS_CERT") && message.contains("BRIDGE_TLS_KEY"), "{message}");
        }
        let message = validate(&[("BRIDGE_TLS_CERT", "/nonexistent.pem"), ("BRIDGE_TLS_KEY", key)]).unwrap_err();
        let message = message.to_string();
        assert!(message.contains("BRIDGE_TLS_CERT") && message.contains("existing PEM file"), "{message}");
    }

    #[test]
    fn topic_prefixes_are_validated() {
        for (name, value) in [
            ("BRIDGE_MQTT_BASE", "pdu/#"),
            ("BRIDGE_MQTT_BASE", "/pdu"),
            ("BRIDGE_MQTT_BASE", "a//b"),
            ("BRIDGE_HA_DISCOVERY_PREFIX", "pdu"),
        ] {
            let message = validate(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn empty_assignments_mean_unset() {
        assert!(validate(&[("PDU_HOST", ""), ("BRIDGE_POLL_INTERVAL", " ")]).unwrap().demo);
    }

    #[test]
    fn mock_mode_with_a_host_uses_the_simulator_and_is_not_a_demo() {
        let config = validate(&[("PDU_HOST", "127.0.0.1"), ("BRIDGE_MOCK_MODE", "true")]).unwrap();
        assert!(!config.demo);
        assert!(config.devices[0].is_simulated());
    }

    #[test]
    fn a_host_means_snmp_with_the_python_bridges_variables() {
        let config = validate(&[
            ("PDU_HOST", "10.0.0.5"),
            ("PDU_SNMP_PORT", "1161"),
            ("PDU_COMMUNITY_READ", "s3cret"),
            ("BRIDGE_SNMP_MAX_VARBINDS", "4"),
        ])
        .unwrap();
        assert!(!config.demo);
        let device = &config.devices[0];
        assert_eq!(device.max_varbinds, 4);
        match &device.kind {
            DeviceKind::Snmp { host, port, community_read, community_write } => {
                assert_eq!((host.as_str(), *port), ("10.0.0.5", 1161));
                assert_eq!((community_read.expose(), community_write.expose()), ("s3cret", "private"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{config:?}").contains("s3cret"), "secrets stay out of Debug output");
        let message = validate(&[("BRIDGE_SNMP_MAX_VARBINDS", "0")]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_SNMP_MAX_VARBINDS") && message.contains("1 to 64"), "{message}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let kind = DeviceKind::Snmp {
            host: "h".into(),
            port: 161,
            community_read: Secret("s3cret-read".into()),
            community_write: Secret("s3cret-write".into()),
        };
        let shown = format!("{kind:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn an_explicit_outlet_names_file_must_exist_and_be_valid() {
        let message = validate(&[("BRIDGE_OUTLET_NAMES_FILE", "/nonexistent/names.json")]).unwrap_err().to_string();
        assert!(message.contains("BRIDGE_OUTLET_NAMES_FILE"), "{message}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("names.json");
        std::fs::write(&path, r#"{"1": "Core router"}"#).unwrap();
        let config = validate(&[("BRIDGE_OUTLET_NAMES_FILE", path.to_str().unwrap())]).unwrap();
        let mut outlets = vec![app::model::Outlet {
            number: 1,
            name: "Router".into(),
            state: app::model::OutletState::On,
            pending: false,
            bank: None,
            current: None,
            power: None,
            peak_power: None,
            peak_power_at: None,
            energy_since: None,
            energy_kwh: None,
            on_delay_s: None,
            off_delay_s: None,
            reboot_s: None,
        }];
        config.devices[0].outlet_names.apply(&mut outlets);
        assert_eq!(outlets[0].name, "Core router");

        std::fs::write(&path, "{not json").unwrap();
        let message = validate(&[("BRIDGE_OUTLET_NAMES_FILE", path.to_str().unwrap())]).unwrap_err().to_string();
        assert!(message.contains("names.json") && message.contains("not a JSON object"), "{message}");
    }

    #[test]
    fn env_files_in_the_python_bridges_style_parse() {
        let text =
            "# comment\nPDU_HOST=10.0.0.5\nexport BRIDGE_POLL_INTERVAL=\"2.5\"\nPDU_COMMUNITY_READ='pub lic'\n\n";
        let pairs = parse_env_file(".env", text).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("PDU_HOST".into(), "10.0.0.5".into()),
                ("BRIDGE_POLL_INTERVAL".into(), "2.5".into()),
                ("PDU_COMMUNITY_READ".into(), "pub lic".into()),
            ]
        );
        let err = parse_env_file(".env", "GOOD=1\njust words\n").unwrap_err().to_string();
        assert!(err.contains(".env, line 2"), "{err}");
    }

    #[test]
    fn later_layers_win() {
        let raw = RawSettings::new()
            .layer([("BRIDGE_WEB_PORT".to_owned(), "1".to_owned())])
            .layer([("BRIDGE_WEB_PORT".to_owned(), "2".to_owned())]);
        assert_eq!(raw.get("BRIDGE_WEB_PORT"), Some("2"));
    }
}
